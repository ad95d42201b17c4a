"""The cost of mapping solves one at a time on CPU (``map_unbatched``) instead of ``jax.vmap``.

jaxl2 maps its per-λ / per-target / per-class LAPACK solves with ``lax.map`` on CPU, because
jaxlib 0.10's batched LAPACK calls can deadlock XLA:CPU's thread pool (see ``map_unbatched`` in
``jaxl2/_linear/ridge_data.py``). This measures what the loop costs against the batched call
(the peer) on the same per-item functions:

* ridge's Cholesky solve of ``(XᵀX + λI) w = Xᵀy`` with its condition estimate, over K = 50 λ,
  p = 200 (``ridge(X, y, lams, solver="cholesky")``'s kernel);
* tikhonov's stacked least-squares solve over t = 100 targets, p = 50.

The vmapped peer runs in a subprocess with a time limit: it may hang (that is the bug).
"""

from __future__ import annotations

import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np

from benchmarks._harness import Row, Section, timeit

_PEER_TIMEOUT = 300


def _cases(quick: bool):
    from jaxl2._linear import ridge as _ridge

    p, k = (20, 5) if quick else (200, 50)
    rng = np.random.default_rng(0)
    A = rng.standard_normal((2 * p, p)).astype(np.float32)
    G = jnp.asarray(A.T @ A)
    rhs = jnp.asarray(rng.standard_normal((p, k)).astype(np.float32))
    lams = jnp.asarray(np.logspace(-2, 2, k).astype(np.float32))
    eye = jnp.eye(p, dtype=jnp.float32)

    def chol(lam_k, b):
        M = G + lam_k * eye
        factor = jnp.linalg.cholesky(M)
        return jsl.cho_solve((factor, True), b), _ridge._rcond(M, factor)

    q, t = (10, 6) if quick else (50, 100)
    S = jnp.asarray(rng.standard_normal((q, q)).astype(np.float32))
    Uy = jnp.asarray(rng.standard_normal((q, t)).astype(np.float32))
    lam_t = jnp.full((t,), 0.5, jnp.float32)
    gamma = jnp.eye(q, dtype=jnp.float32)

    def lstsq(lam_k, uy):
        M = jnp.concatenate([S, jnp.sqrt(lam_k) * gamma], axis=0)
        return jnp.linalg.lstsq(M, jnp.concatenate([uy, jnp.zeros((q,), uy.dtype)]))[0]

    return {
        f"ridge Cholesky, K={k} λ, p={p}": (chol, lams, rhs.T),
        f"tikhonov lstsq, t={t} targets, p={q}": (lstsq, lam_t, Uy.T),
    }


def _time(case: str, batched: bool, quick: bool) -> float:
    from jaxl2._linear import ridge_data as rd

    fn, *xs = _cases(quick)[case]
    mapped = jax.jit(lambda *a: jax.vmap(fn)(*a) if batched else rd.map_unbatched(fn, *a))
    return timeit(lambda: mapped(*xs), repeat=3 if quick else 7)


def _peer(case: str, quick: bool) -> float:
    """The vmapped time, measured in a subprocess (inf if it hung past the limit)."""
    code = (
        "import sys; from benchmarks.bench_lapack_map import _time; "
        f"print(_time({case!r}, True, {quick!r}))"
    )
    try:
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=_PEER_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        return float("inf")
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return float(out.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> list[Section]:
    rows = []
    for case in _cases(quick):
        start = time.perf_counter()
        ours = _time(case, False, quick)
        peer = _peer(case, quick)
        note = f"(vmap hung: killed after {_PEER_TIMEOUT} s)" if peer == float("inf") else ""
        rows.append(Row(case, ours, peer, "jax.vmap (batched LAPACK)", note=note))
        print(f"{case}: {time.perf_counter() - start:.1f} s", flush=True)
    return [
        Section(
            "lapack_map",
            "Solves one at a time on CPU (lax.map) against one batched LAPACK call (vmap)",
            intro=__doc__.split("\n\n", 1)[1],
            rows=rows,
        )
    ]
