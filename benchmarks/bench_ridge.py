"""Ridge benchmarks: jaxl2's jitted closed forms against scikit-learn and numpy, same run.

1. ``ridge_path`` with exact leave-one-out, n = 20000, p = 500, K = 100 strengths, against
   ``sklearn.linear_model.RidgeCV(alphas=...)`` (target ≥ 50×) and against the *floor*: the numpy
   (OpenBLAS) time of the work no exact LOO path can avoid — ``XᵀX``, one ``X·V`` and one
   (n × p)·(p × K) product for the n·p·K leverages ``Σⱼ Uᵢⱼ² fⱼₖ`` (target: within 2×).
2. The dual, n = 2000, p = 20000, K = 100, against ``RidgeCV`` (target ≥ 20×); the floor here is
   numpy's ``XXᵀ`` plus its ``eigh``.
3. 1000 independent 200 × 20 ridge problems (with intercept), ``jax.vmap``-ed, against a Python
   loop of ``numpy.linalg.solve`` on the centred normal equations (target ≥ 20×).

Each in float64 (jax x64 on) and float32. jaxl2 is called as a user would, eagerly on arrays
already on the device (argument checks included); scikit-learn gets the same data as numpy.

Threads: jaxlib's CPU LAPACK kernels (eigh, Cholesky) run on scipy's OpenBLAS, whose threads
fight XLA's own thread pool on a 2-core machine: the same float64 2000 × 2000 ``eigh`` took
0.6 s or 15 s from one call to the next. While jaxl2 is timed, that OpenBLAS (the one under
``scipy.libs``) is limited to one thread with threadpoolctl (then the eigh takes a steady 1.0 s);
numpy's OpenBLAS, which the peers and the floor use, keeps its default. (``jaxl2.ridge_path``
itself now holds SciPy's OpenBLAS at one thread around its program, and its routed float64
products set their own thread count: see ``jaxl2/_linear/blas.py``.)

``JAXL2_BENCH_RIDGE=ridge_path`` (a comma-separated list of ``ridge_path``, ``ridge_dual``,
``ridge_vmap``) runs only those sections and rewrites only theirs in RESULTS.md; each
section's duration is printed. scikit-learn's RidgeCV (seconds per fit) runs once per case at
full size: that one fit is both its time and its α.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.linear_model import RidgeCV

import jaxl2
from benchmarks._harness import Row, Section, timeit

DTYPES = (np.float64, np.float32)


def _problem(n: int, p: int, dtype, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) + rng.uniform(-2, 2, p)
    w = rng.standard_normal(p) / np.sqrt(p)
    y = X @ w + rng.standard_normal(n)
    return X.astype(dtype), y.astype(dtype)


def _ridgecv(X, y, lams) -> tuple[float, float]:
    """(seconds, α) of scikit-learn's ``RidgeCV(alphas=lams)``: one timed fit (seconds each at
    full size; its first fit is as fast as the next, there is nothing to compile), whose α is the
    one compared."""
    start = time.perf_counter()
    alpha = float(RidgeCV(alphas=lams).fit(X, y).alpha_)
    return time.perf_counter() - start, alpha


@contextlib.contextmanager
def _jax_lapack_single_thread() -> Iterator[None]:
    """Limits the OpenBLAS that jaxlib's LAPACK kernels use (scipy's) to one thread."""
    from threadpoolctl import ThreadpoolController

    jax.block_until_ready(jnp.linalg.eigh(jnp.eye(2)))  # loads jaxlib's LAPACK (scipy's)
    controller = ThreadpoolController()
    scipy_blas = [
        info["filepath"] for info in controller.info() if "scipy.libs" in info["filepath"]
    ]
    if not scipy_blas:
        yield
        return
    with controller.select(filepath=scipy_blas).limit(limits=1):
        yield


def _time_path(X, y, lams, x64: bool, repeat: int) -> tuple[float, float]:
    """(median time of ``jaxl2.ridge_path`` on device arrays, its best lam)."""
    with jax.enable_x64(x64), _jax_lapack_single_thread():
        Xj, yj, lj = jnp.asarray(X), jnp.asarray(y), jnp.asarray(lams)
        seconds = timeit(lambda: jaxl2.ridge_path(Xj, yj, lj), repeat=repeat)
        return seconds, float(jaxl2.ridge_path(Xj, yj, lj).best_lam)


def _primal_floor(X, dtype, K: int, repeat: int) -> float:
    """numpy time of XᵀX, one X·V and one (n × p)·(p × K) product of U∘U."""
    p = X.shape[1]
    V = np.linalg.qr(np.random.default_rng(1).standard_normal((p, p)))[0].astype(dtype)
    F = np.random.default_rng(2).random((p, K)).astype(dtype)

    def floor():
        gram = X.T @ X
        U = X @ V
        return gram, (U * U) @ F

    return timeit(floor, repeat=repeat)


def _numpy_loo_path(X: np.ndarray, y: np.ndarray, lams: np.ndarray) -> tuple:
    """``ridge_path``'s algorithm written in numpy (intercept, one target): centre, ``XᵀX``, its
    eigendecomposition, ``U = Xc·V``, then the leverages ``(U∘U)·F`` and the fitted values
    ``U·(F∘c)`` of every strength and the exact LOO errors. The issue's floor leaves out the
    ``eigh``, the second (n × p)·(p × K) product and the elementwise LOO pass; this is what any
    implementation of the exact path pays on top of it."""
    n = X.shape[0]
    x_mean, y_mean = X.mean(0), y.mean()
    Xc, yc = X - x_mean, y - y_mean
    e, V = np.linalg.eigh(Xc.T @ Xc)
    inv = 1 / (e[:, None] + lams[None, :])  # (p, K)
    M = inv * (V.T @ (Xc.T @ yc))[:, None]  # (p, K)
    U = Xc @ V
    lev = (U * U) @ inv + 1 / n
    loo = np.mean(np.square((yc[:, None] - U @ M) / (1 - lev)), axis=0)
    W = (V @ M).T
    return W, y_mean - W @ x_mean, loo


def _path_section(quick: bool) -> Section:
    n, p, K = (2000, 50, 20) if quick else (20000, 500, 100)
    section = Section(
        "ridge_path",
        f"Ridge: whole λ path with exact leave-one-out (n = {n}, p = {p}, K = {K})",
        intro=(
            "`jaxl2.ridge_path(X, y, lams)` (one eigendecomposition of XᵀX, then two "
            "(n × p)·(p × K) products for all K leverages and residuals) against scikit-learn "
            "`RidgeCV(alphas=lams)` (exact LOO, a loop over α), and against the floor: numpy's "
            "time for `X.T @ X`, one `X @ V` and one (n × p)·(p × K) product, timed in the "
            "same run. The note says whether both picked the same α."
        ),
    )
    repeat = 3 if quick else 5
    for dtype in DTYPES:
        name = np.dtype(dtype).name
        X, y = _problem(n, p, dtype)
        lams = np.logspace(-2, 4, K).astype(dtype)
        ours, best = _time_path(X, y, lams, dtype == np.float64, repeat)
        peer, alpha = _ridgecv(X, y, lams)
        same = bool(np.isclose(best, alpha, rtol=1e-6))
        floor = _primal_floor(X, dtype, K, repeat)
        section.rows.append(
            Row(
                f"{name}, vs RidgeCV",
                ours,
                peer,
                "sklearn RidgeCV",
                "≥ 50×, same best α",
                same and ours * 50 <= peer,
                note=f"same best α: {same}",
            )
        )
        section.rows.append(
            Row(
                f"{name}, vs floor",
                ours,
                floor,
                "numpy XᵀX + X·V + U²·F",
                "≥ 0.5× (within 2× of floor)",
                ours <= 2 * floor,
            )
        )
    section.rows.extend(_blas_rows(quick))
    section.lines.extend(_stage_lines(n, p, K, repeat))
    return section


def _cpu_time(fn, repeat: int) -> tuple[float, float]:
    """(least process CPU time, median wall time) of ``fn()`` over ``repeat`` runs after a warm-up.

    Process time counts every thread of this process and none of another's, so on a shared
    machine it is the steadier figure of the work done; wall time shows the threads' overlap."""
    jax.block_until_ready(fn())
    cpu, wall = [], []
    for _ in range(repeat):
        start_cpu, start = time.process_time(), time.perf_counter()
        jax.block_until_ready(fn())
        cpu.append(time.process_time() - start_cpu)
        wall.append(time.perf_counter() - start)
    return min(cpu), sorted(wall)[len(wall) // 2]


def _stage_lines(n: int, p: int, K: int, repeat: int) -> list[str]:
    """float64 ``ridge_path`` stage by stage (each stage its own jitted function, fed the
    previous one's outputs), against numpy's pieces of the floor, as markdown lines."""
    from jaxl2._linear import ridge_chunks as ch
    from jaxl2._linear import ridge_data as rd
    from jaxl2._linear import ridge_path as rp

    X, y = _problem(n, p, np.float64)
    lams = np.logspace(-2, 4, K)
    rng = np.random.default_rng(1)
    V = np.linalg.qr(rng.standard_normal((p, p)))[0]
    F = rng.random((p, K))
    U = X @ V
    numpy = {
        "XᵀX": _cpu_time(lambda: X.T @ X, repeat),
        "X·V": _cpu_time(lambda: X @ V, repeat),
        "U²·F": _cpu_time(lambda: (U * U) @ F, repeat),
        "eigh(XᵀX)": _cpu_time(lambda G=X.T @ X: np.linalg.eigh(G), repeat),
    }
    with jax.enable_x64(True), _jax_lapack_single_thread():
        Xj, Y, lj = jnp.asarray(X), jnp.asarray(y)[:, None], jnp.asarray(lams)
        total = jnp.asarray(float(n))

        def centring(X, Y):
            c = ch.centring(X, Y, None, True)
            return c.x_mean, c.y_mean, c.leverage

        def rebuild(m):  # the Centring of an intercept fit, unweighted
            return ch.Centring(m[0], m[1], None, m[2], True)

        def pass1(X, Y, m):
            return rp.primal_gram(X, Y, rebuild(m), total, False)[:2]

        def basis(X, m, G, B, lams):
            return rp.primal_basis(X, rebuild(m), G, B, None, lams)

        def pass2(X, Y, m, b):
            return rp.primal_criteria(X, Y, rebuild(m), None, b)

        def coef(b, m):
            W = (b.V @ b.M).reshape(p, K, 1).transpose(1, 2, 0)
            return rd.finish(W, m[0], m[1], True)

        m = jax.jit(centring)(Xj, Y)
        G, B = jax.jit(pass1)(Xj, Y, m)
        b = jax.jit(basis)(Xj, m, G, B, lj)
        ours = {
            "centring (means)": _cpu_time(lambda: jax.jit(centring)(Xj, Y), repeat),
            "pass 1: XsᵀXs (syrk), XsᵀYs": _cpu_time(lambda: jax.jit(pass1)(Xj, Y, m), repeat),
            "eigh + filters": _cpu_time(lambda: jax.jit(basis)(Xj, m, G, B, lj), repeat),
            "pass 2: Xs·V, (U∘U)·F, U·M, LOO sums": _cpu_time(
                lambda: jax.jit(pass2)(Xj, Y, m, b), repeat
            ),
            "coefficients V·M": _cpu_time(lambda: jax.jit(coef)(b, m), repeat),
            "whole jitted path": _cpu_time(
                lambda: rp._path_core(Xj, Y, None, lj, fit_intercept=True, standardize=False),
                repeat,
            ),
        }

    def fmt(parts: dict) -> str:
        return "; ".join(
            f"{k} {cpu * 1e3:.1f} ms CPU ({wall * 1e3:.1f} ms wall)"
            for k, (cpu, wall) in parts.items()
        )

    floor_cpu = sum(numpy[k][0] for k in ("XᵀX", "X·V", "U²·F"))
    return [
        f"- float64 `ridge_path` stage by stage ({n} × {p}, K = {K}; least process CPU time of "
        f"{repeat} runs, all threads, and the median wall time; SciPy's OpenBLAS held at one "
        f"thread as above): {fmt(ours)}.",
        f"- numpy's pieces of the floor: {fmt(numpy)}; the floor's CPU time "
        f"{floor_cpu * 1e3:.1f} ms, the whole path's "
        f"{ours['whole jitted path'][0] / floor_cpu:.2f}× that.",
    ]


def _cold(fn) -> float:
    """Seconds of the first call after ``jax.clear_caches()``: trace, compile and run."""
    jax.clear_caches()
    start = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - start


def _routes(fn, repeat: int) -> dict[str, tuple[float, float, float]]:
    """(cold seconds, warm CPU seconds, warm wall seconds) of ``fn`` through the BLAS route with
    its products at OpenBLAS's default threads (``blas.THREADS = None``, what a user gets), the
    route with its products at one thread (``blas.THREADS = 1``) and XLA's products
    (``blas.ENABLED = False``). jaxlib's LAPACK calls are at one thread in all three (``ridge_path``
    holds that limit itself)."""
    from jaxl2._linear import blas

    out = {}
    for name, enabled, threads in (
        ("routed", True, None),
        ("routed 1 thread", True, 1),
        ("XLA", False, None),
    ):
        blas.ENABLED, blas.THREADS = enabled, threads
        try:
            with _jax_lapack_single_thread():
                out[name] = (_cold(fn), *_cpu_time(fn, repeat))
        finally:
            blas.ENABLED, blas.THREADS = True, None
    jax.clear_caches()
    return out


def _blas_rows(quick: bool) -> list[Row]:
    """float64 on CPU through BLAS (issue 15): ``XᵀX`` and the exact-LOO path, each through the
    FFI route (``jaxl2/_linear/blas.py``) against XLA's own products and the numpy floor."""
    from jaxl2._linear import blas

    repeat = 3
    gram_shape = (2000, 50) if quick else (20000, 500)
    paths = ((2000, 60), (3000, 80)) if quick else ((10000, 300), (20000, 500))
    K = 20 if quick else 100
    rows = []
    with jax.enable_x64(True):
        X, _ = _problem(*gram_shape, np.float64)
        Xj = jnp.asarray(X)
        t = _routes(lambda: blas.gram(Xj), repeat)
        floor = timeit(lambda: X.T @ X, repeat=repeat)
        rows.append(_blas_row(f"float64 XᵀX {gram_shape[0]}×{gram_shape[1]}", t, floor, "XᵀX"))
        for n, p in paths:
            X, y = _problem(n, p, np.float64)
            Xj, yj = jnp.asarray(X), jnp.asarray(y)
            lj = jnp.asarray(np.logspace(-2, 4, K))
            t = _routes(lambda Xj=Xj, yj=yj, lj=lj: jaxl2.ridge_path(Xj, yj, lj), repeat)
            floor = _primal_floor(X, np.float64, K, repeat)
            rows.append(
                _blas_row(f"float64 ridge_path exact LOO {n}×{p}", t, floor, "XᵀX + X·V + U²·F")
            )
            lams = np.asarray(lj)
            loo = _numpy_loo_path(X, y, lams)[2]
            same = np.allclose(loo, np.asarray(jaxl2.ridge_path(Xj, yj, lj).loo_mse), rtol=1e-8)
            numpy_path = timeit(lambda X=X, y=y, lams=lams: _numpy_loo_path(X, y, lams), repeat=5)
            rows.append(
                Row(
                    f"float64 ridge_path exact LOO {n}×{p} vs the same algorithm in numpy",
                    t["routed"][2],
                    numpy_path,
                    "numpy exact-LOO path",
                    note=f"numpy's path is {numpy_path / floor:.2f}× the floor above (it adds "
                    f"eigh, the fitted values U·M and the LOO pass); same loo_mse (1e-8): {same}",
                )
            )
    return rows


def _blas_row(case: str, t: dict, floor: float, what: str) -> Row:
    (cold, cpu, warm), (cold1, cpu1, warm1) = t["routed"], t["routed 1 thread"]
    xla_cold, xla_cpu, xla = t["XLA"]
    return Row(
        f"{case}, BLAS route vs numpy floor",
        warm,
        floor,
        f"numpy {what}",
        "within 1.5× of the floor",
        warm <= 1.5 * floor,
        note=(
            f"process CPU time {cpu:.4f} s; XLA's products: {xla:.4f} s ({xla / floor:.2f}× "
            f"floor, CPU {xla_cpu:.4f} s, cold {xla_cold:.2f} s); route cold {cold:.2f} s; "
            f"route with its products at 1 BLAS thread: {warm1:.4f} s (CPU {cpu1:.4f} s, cold "
            f"{cold1:.2f} s)"
        ),
    )


def _dual_section(quick: bool) -> Section:
    n, p, K = (200, 2000, 20) if quick else (2000, 20000, 100)
    section = Section(
        "ridge_dual",
        f"Ridge: λ path with exact LOO in the dual (n = {n}, p = {p}, K = {K})",
        intro=(
            "`jaxl2.ridge_path` with n < p (eigendecomposition of XXᵀ) against scikit-learn "
            "`RidgeCV(alphas=lams)`; the floor row is numpy's `X @ X.T` plus `numpy.linalg.eigh` "
            "of it, which any exact LOO path in the dual has to pay."
        ),
    )
    for dtype in DTYPES:
        name = np.dtype(dtype).name
        X, y = _problem(n, p, dtype)
        lams = np.logspace(-1, 5, K).astype(dtype)
        # seconds per run at full size: 2 timed runs of ours (after the compiling one), one of
        # numpy's floor (nothing to warm up)
        ours, best = _time_path(X, y, lams, dtype == np.float64, repeat=3 if quick else 2)
        peer, alpha = _ridgecv(X, y, lams)
        same = bool(np.isclose(best, alpha, rtol=1e-6))
        floor = timeit(lambda X=X: np.linalg.eigh(X @ X.T), repeat=3 if quick else 1, warmup=0)
        section.rows.append(
            Row(
                f"{name}, vs RidgeCV",
                ours,
                peer,
                "sklearn RidgeCV",
                "≥ 20×, same best α",
                same and ours * 20 <= peer,
                note=f"same best α: {same}",
            )
        )
        section.rows.append(Row(f"{name}, vs floor", ours, floor, "numpy XXᵀ + eigh"))
    return section


def _solve_loop(Xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """The peer: centre each problem, then numpy.linalg.solve on its normal equations."""
    B, _, p = Xs.shape
    eye = np.eye(p, dtype=Xs.dtype)
    out = np.empty((B, p), Xs.dtype)
    for b in range(B):
        Xc = Xs[b] - Xs[b].mean(0)
        yc = ys[b] - ys[b].mean()
        out[b] = np.linalg.solve(Xc.T @ Xc + eye, Xc.T @ yc)
    return out


def _time_vmap(Xs: np.ndarray, ys: np.ndarray, x64: bool) -> tuple[float, float]:
    """(median time of the vmapped solves, max |Δcoef| / max |coef| against the numpy loop)."""
    with jax.enable_x64(x64), _jax_lapack_single_thread():
        fn = jax.jit(jax.vmap(lambda X, y: jaxl2.ridge(X, y, 1.0)))
        Xj, yj = jnp.asarray(Xs), jnp.asarray(ys)
        seconds = timeit(lambda: fn(Xj, yj), repeat=7, min_time=0.05)
        coef, expected = np.asarray(fn(Xj, yj).coef), _solve_loop(Xs, ys)
        np.testing.assert_allclose(coef, expected, rtol=1e-3, atol=1e-4)
    return seconds, float(np.max(np.abs(coef - expected)) / np.max(np.abs(expected)))


def _vmap_section(quick: bool) -> Section:
    B, n, p = (50, 50, 5) if quick else (1000, 200, 20)
    section = Section(
        "ridge_vmap",
        f"Ridge: {B} independent {n} × {p} problems, vmapped",
        intro=(
            "`jax.jit(jax.vmap(lambda X, y: jaxl2.ridge(X, y, 1.0)))` (intercept included) "
            "against a Python loop that centres each problem and calls `numpy.linalg.solve` on "
            "its normal equations."
        ),
    )
    for dtype in DTYPES:
        rng = np.random.default_rng(3)
        Xs = rng.standard_normal((B, n, p)).astype(dtype)
        ys = rng.standard_normal((B, n)).astype(dtype)
        ours, diff = _time_vmap(Xs, ys, dtype == np.float64)
        peer = timeit(lambda Xs=Xs, ys=ys: _solve_loop(Xs, ys), repeat=5)
        section.rows.append(
            Row(
                np.dtype(dtype).name,
                ours,
                peer,
                "numpy.linalg.solve loop",
                "≥ 20×",
                ours * 20 <= peer,
                note=f"max |Δcoef| / max |coef| = {diff:.1e} (against the loop)",
            )
        )
    return section


SECTIONS = {"ridge_path": _path_section, "ridge_dual": _dual_section, "ridge_vmap": _vmap_section}


def run(quick: bool = False) -> list[Section]:
    chosen = [n.strip() for n in os.environ.get("JAXL2_BENCH_RIDGE", "").split(",") if n.strip()]
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown:
        raise ValueError(
            f"JAXL2_BENCH_RIDGE names unknown section(s) {unknown}; known: {sorted(SECTIONS)}"
        )
    out = []
    for name, section in SECTIONS.items():
        if chosen and name not in chosen:
            continue
        start = time.perf_counter()
        out.append(section(quick))
        print(f"{name}: {time.perf_counter() - start:.0f} s", flush=True)
    return out
