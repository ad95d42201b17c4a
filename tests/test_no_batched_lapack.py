"""No public solver runs a *batched* LAPACK call on CPU.

jaxlib 0.10.x splits a batched LAPACK custom call (``potrf``, ``trsm``, ``syevd``, ``getrf``,
``geqrf``, ``gesdd``: what ``jax.vmap`` of a per-item solve lowers to) onto XLA:CPU's intra-op
pool and blocks the calling worker; with as many of them in flight as the pool has threads, the
process deadlocks (see ``map_unbatched`` in ``jaxl2/_linear/ridge_data.py``). Every solver maps its
internal solves over λ, targets or classes with ``map_unbatched`` (``lax.map`` on CPU), so the
deadlock's precondition never appears. These tests call each public entry point at a tiny size
with the arguments that batch internally, capture every StableHLO module JAX lowers meanwhile
(``jax_dump_ir_to``) and look at each LAPACK custom call's operands.
"""

import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxl2
import jaxl2.sklearn as jsk
from jaxl2._linear import ridge as _ridge
from tests._subprocess import run_or_fail

_CALL = re.compile(r"custom_call @(\w+)\((.*)")
_TENSOR = re.compile(r"tensor<((?:\d+x)*)[a-z]+\d*>")


def lapack_calls(text):
    """(target, operand shapes, batch size) for every LAPACK custom call in MLIR ``text``.

    The batch size is the product of the leading dimensions of the first operand beyond its last
    two (a matrix operand of rank 2 has batch size 1); ``num_batch_dims`` is checked as well.
    """
    calls = []
    for line in text.splitlines():
        m = _CALL.search(line)
        if m is None or "lapack" not in m.group(1):
            continue
        signature = line.rsplit(" : ", 1)[-1].split("->")[0]  # "(tensor<3x6x6xf32>, ...) "
        shapes = [tuple(int(d) for d in s.split("x") if d) for s in _TENSOR.findall(signature)]
        dims = re.search(r'num_batch_dims = "(\d+)"', line)
        n_batch = int(dims.group(1)) if dims else max(len(shapes[0]) - 2, 0)
        batch = int(np.prod(shapes[0][:n_batch])) if shapes else 1
        calls.append((m.group(1), shapes, batch))
    return calls


def lowered_lapack_calls(fn, tmp_path):
    """Runs ``fn()`` and returns the LAPACK calls of every program JAX lowered meanwhile."""
    jax.clear_caches()  # a cached executable would be reused without being lowered again
    old = jax.config.read("jax_dump_ir_to")
    jax.config.update("jax_dump_ir_to", str(tmp_path))
    try:
        fn()
    finally:
        jax.config.update("jax_dump_ir_to", old)
    return [c for f in sorted(Path(tmp_path).rglob("*.mlir")) for c in lapack_calls(f.read_text())]


def batched(calls):
    return [c for c in calls if c[2] > 1]


rng = np.random.default_rng(0)
N, P = 24, 5
X = rng.standard_normal((N, P)).astype(np.float32)
Y = rng.standard_normal((N, 3)).astype(np.float32)
y1 = Y[:, 0].copy()
X_WIDE = rng.standard_normal((8, 12)).astype(np.float32)
Y_WIDE = rng.standard_normal((8, 3)).astype(np.float32)
Y_CLASS = np.arange(N) % 3
LAMS = [0.1, 1.0, 10.0]
GROUPS = np.array([0, 0, 1, 1, 1])

ENTRY_POINTS = {
    "ridge": lambda: jaxl2.ridge(X, Y, LAMS),
    "ridge_cholesky": lambda: jaxl2.ridge(X, Y, LAMS, solver="cholesky"),
    "ridge_svd": lambda: jaxl2.ridge(X, Y, LAMS, solver="svd"),
    "ridge_weighted": lambda: jaxl2.ridge(X, Y, LAMS, sample_weight=np.ones(N, np.float32)),
    "ridge_wide": lambda: jaxl2.ridge(X_WIDE, Y_WIDE, LAMS),
    "tikhonov": lambda: jaxl2.tikhonov(X, Y, LAMS, np.eye(P, dtype=np.float32)),
    "tikhonov_lstsq": lambda: jaxl2.tikhonov(
        X, Y, LAMS, np.eye(P, dtype=np.float32), solver="lstsq"
    ),
    "ridge_path": lambda: jaxl2.ridge_path(X, Y, LAMS),
    "bayesian_ridge": lambda: jaxl2.bayesian_ridge(X, Y),
    "tune_ridge": lambda: jaxl2.tune_ridge(X, Y, steps=2),
    "banded_ridge": lambda: jaxl2.banded_ridge(X, Y, GROUPS, [1.0, 2.0]),
    "kernel_ridge_path": lambda: jaxl2.kernel_ridge_path(X, Y, LAMS),
    "logistic_multinomial": lambda: jaxl2.logistic_regression(X, Y_CLASS, 1.0),
    "logistic_newton_exact": lambda: jaxl2.logistic_regression(
        X, Y_CLASS, 1.0, solver="newton_exact"
    ),
    "logistic_path": lambda: jaxl2.logistic_path(X, Y_CLASS, LAMS),
    "linear_svm_classes": lambda: jaxl2.linear_svm(X, Y_CLASS, 1.0),
    "elastic_net_path": lambda: jaxl2.elastic_net_path(X, y1, LAMS),
    "sklearn_Ridge_alphas": lambda: jsk.Ridge(alpha=np.array(LAMS)).fit(X, Y),
    "sklearn_RidgeCV_per_target": lambda: jsk.RidgeCV(alphas=LAMS, alpha_per_target=True).fit(X, Y),
    "sklearn_KernelRidgeCV": lambda: jsk.KernelRidgeCV(alphas=LAMS).fit(X, Y),
    "sklearn_LogisticRegression": lambda: jsk.LogisticRegression().fit(X, Y_CLASS),
}
# tune_banded_ridge and BandedRidgeCV: tests/test_banded_tune.py checks their programs.


# the solvers that vmapped LAPACK solves before (ridge/tikhonov over λ or targets, linear_svm over
# classes) and the ones with per-target or per-class loops run by default; the rest under JAXL2_SLOW=1
# (each case compiles its solver afresh: a few seconds apiece)
FAST = {
    "ridge",
    "ridge_wide",
    "tikhonov",
    "tikhonov_lstsq",
    "linear_svm_classes",
    "sklearn_RidgeCV_per_target",
    "bayesian_ridge",
    "logistic_multinomial",
}


@pytest.mark.parametrize(
    "name", [n if n in FAST else pytest.param(n, marks=pytest.mark.slow) for n in ENTRY_POINTS]
)
def test_public_solver_has_no_batched_lapack_call_on_cpu(name, tmp_path):
    if jax.default_backend() != "cpu":
        pytest.skip("the deadlock and its guard concern XLA:CPU only")
    calls = lowered_lapack_calls(ENTRY_POINTS[name], tmp_path)
    assert calls, f"{name} lowered no LAPACK call: the capture missed its programs"
    assert batched(calls) == [], f"{name} runs batched LAPACK calls on CPU: {batched(calls)}"


def test_helper_flags_a_vmapped_solve(tmp_path):
    # the detector itself: jax.vmap of a Cholesky solve is one batched potrf (and trsm) call
    A = jnp.eye(4, dtype=jnp.float32)[None] * jnp.arange(2.0, 5.0, dtype=jnp.float32)[:, None, None]
    b = jnp.ones((3, 4), jnp.float32)

    def solve(a, v):
        return jax.scipy.linalg.cho_solve((jnp.linalg.cholesky(a), True), v)

    calls = lowered_lapack_calls(lambda: jax.jit(jax.vmap(solve))(A, b), tmp_path / "vmap")
    assert any(name.startswith("lapack_") and "potrf" in name for name, _, _ in batched(calls))
    assert all(shapes[0][0] == 3 for _, shapes, _ in batched(calls))
    looped = lowered_lapack_calls(
        lambda: jax.jit(lambda a, v: jax.lax.map(lambda t: solve(*t), (a, v)))(A, b),
        tmp_path / "map",
    )
    assert looped and batched(looped) == []


def test_gpu_program_keeps_one_batched_cusolver_call():
    # the guard is CPU-only: lowered for CUDA, the λ solves stay one batched call
    from jax import export

    G = jnp.eye(P, dtype=jnp.float32)
    rhs = jnp.ones((P, 3), jnp.float32)
    lam = jnp.asarray(LAMS, jnp.float32)
    fn = jax.jit(_ridge._solve_cholesky)
    cuda = export.export(fn, platforms=["cuda"])(G, rhs, lam).mlir_module()
    dims = re.findall(r'custom_call @(\w+)\(.*?num_batch_dims = "(\d+)"', cuda)
    assert any(int(d) == 1 for _, d in dims), dims
    cpu = export.export(fn, platforms=["cpu"])(G, rhs, lam).mlir_module()
    assert all(
        int(d) == 0 for _, d in re.findall(r'custom_call @(\w+)\(.*?num_batch_dims = "(\d+)"', cpu)
    )


_VMAPPED_RIDGE = """
import jax, jax.numpy as jnp, numpy as np
import jaxl2
rng = np.random.default_rng(3)
Xs = jnp.asarray(rng.standard_normal((1000, 200, 20)), jnp.float32)
ys = jnp.asarray(rng.standard_normal((1000, 200)), jnp.float32)
ridge = jax.jit(jax.vmap(lambda X, y: jaxl2.ridge(X, y, 1.0)))
gamma = jnp.eye(20)  # a concrete array closed over by the jitted function
tik = jax.jit(jax.vmap(lambda X, y: jaxl2.tikhonov(X, y, 1.0, gamma)))
for _ in range(8):
    W = jax.block_until_ready(ridge(Xs, ys).coef)
    T = jax.block_until_ready(tik(Xs, ys).coef)
X0 = np.asarray(Xs[0], np.float64) - np.asarray(Xs[0], np.float64).mean(0)
y0 = np.asarray(ys[0], np.float64) - np.asarray(ys[0], np.float64).mean()
expected = np.linalg.solve(X0.T @ X0 + np.eye(20), X0.T @ y0)
assert np.allclose(W[0], expected, rtol=1e-3, atol=1e-4), (W[0], expected)
assert np.allclose(T[0], expected, rtol=1e-3, atol=1e-4), (T[0], expected)
print("no hang")
"""


def test_user_vmap_of_ridge_does_not_hang():
    """``jax.vmap(jaxl2.ridge)`` over 1000 problems makes every LAPACK call a batched one; the
    Cholesky path, its condition estimate and the SVD fallback (a batched ``lax.cond`` runs
    both branches) used to be in flight at once and hung a 2-core machine at 0 % CPU within a
    few calls (``ridge_data.after`` now orders them). A hang fails here on the timeout. The
    same for ``tikhonov``, whose check of a ``gamma`` closed over by the jitted function used
    to raise ``TracerBoolConversionError``."""
    proc = run_or_fail(_VMAPPED_RIDGE, timeout=240, what="jax.vmap(jaxl2.ridge)")
    assert "no hang" in proc.stdout
