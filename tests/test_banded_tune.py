"""tune_banded_ridge(method="gradient"): the issue-15 deadlock, and the closed-form hypergradient.

References: the exact LOO criterion and coefficients written out in numpy (float64), central
finite differences, the random search over the same grid, and himalaya's ``BandedRidgeCV``.
"""

import importlib.util
import json
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxl2
from tests._subprocess import run_or_fail


def _private(name):
    """A private module, before or after the move into jaxl2/_linear/ (of the jaxl2 imported)."""
    moved = (Path(jaxl2.__file__).parent / "_linear").is_dir()
    return importlib.import_module(f"jaxl2._linear.{name}" if moved else f"jaxl2._{name}")


br = _private("banded_ridge")
rd = _private("ridge_data")

HIMALAYA = importlib.util.find_spec("himalaya") is not None

# The size that hung (issue 15): X 1000 × 300 float32, 3 groups of 100, 8 targets.
N, PER, T = 1000, 100, 8
ALPHAS = np.logspace(-2, 4, 10)
_CHILD = f"""
import json, os, sys
if hasattr(os, "sched_setaffinity"):  # a 2-thread XLA:CPU pool, as on the machine that hung
    cpus = sorted(os.sched_getaffinity(0))[:2]
    os.sched_setaffinity(0, cpus)
import numpy as np
import jaxl2
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_banded_tune import _problem, ALPHAS
X, Y, groups = _problem()
out = {{}}
for method in ("gradient", "random"):
    res = jaxl2.tune_banded_ridge(
        X, Y, groups, method=method, alphas=ALPHAS.astype(np.float32), n_iter=3, steps=10
    )
    out[method] = {{k: np.asarray(v, np.float64).tolist() for k, v in res._asdict().items()}}
print("RESULT" + json.dumps(out))
"""


def _problem():
    rng = np.random.default_rng(15)
    p = 3 * PER
    X = rng.standard_normal((N, p)).astype(np.float32)
    scales = np.repeat(np.array([1.0, 0.3, 0.0]), PER)
    W = rng.standard_normal((p, 20)) * scales[:, None] / np.sqrt(PER)
    Y = (X @ W + rng.standard_normal((N, 20))).astype(np.float32)[:, :T]
    groups = [list(range(g * PER, (g + 1) * PER)) for g in range(3)]
    return X, Y, groups


def _np_loo(X, y, d):
    """Exact LOO MSE and coefficients of ridge with penalty diag(d) and an intercept (numpy)."""
    Xc, yc = X - X.mean(0), y - y.mean()
    A = Xc.T @ Xc + np.diag(d)
    w = np.linalg.solve(A, Xc.T @ yc)
    h = np.einsum("ij,ji->i", Xc, np.linalg.solve(A, Xc.T)) + 1 / len(y)
    return np.mean(((yc - Xc @ w) / (1 - h)) ** 2), w, y.mean() - X.mean(0) @ w


@pytest.fixture(scope="module")
def hung_size():
    """tune_banded_ridge (gradient and random) at the size that hung, in a child process."""
    # About 15 s on a quiet 2-core machine, 70 s on a 2-core machine at load 15: room for both.
    proc = run_or_fail(_CHILD, timeout=240, what="tune_banded_ridge(method='gradient')")
    out = json.loads(proc.stdout.split("RESULT", 1)[1])
    grad, rand = ({k: np.asarray(v) for k, v in out[m].items()} for m in ("gradient", "random"))
    X, Y, _ = _problem()
    return grad, rand, X.astype(np.float64), Y.astype(np.float64)


def test_gradient_tuning_at_the_size_that_hung_finishes_and_is_right(hung_size):
    grad, rand, X64, Y64 = hung_size
    labels = np.repeat(np.arange(3), PER)
    # the descent starts from the search's best point and only accepts steps that lower the LOO
    assert np.all(grad["value"] <= rand["value"] * (1 + 1e-5))
    assert np.mean(grad["value"]) < np.mean(rand["value"])
    for k in range(T):
        loo, w, b = _np_loo(X64, Y64[:, k], grad["lams"][k][labels])
        np.testing.assert_allclose(grad["value"][k], loo, rtol=1e-4)
        assert np.linalg.norm(grad["coef"][k] - w) <= 1e-4 * np.linalg.norm(w)
        np.testing.assert_allclose(grad["intercept"][k], b, atol=1e-4 * np.linalg.norm(w))
    # equal group weights: plain ridge over the grid, its exact LOO from one SVD
    U, S, _ = np.linalg.svd(X64 - X64.mean(0), full_matrices=False)
    Yc = Y64 - Y64.mean(0)
    grid = []
    for a in ALPHAS:
        f = S**2 / (S**2 + a)
        h = (U**2) @ f + 1 / N
        grid.append(np.mean(((Yc - U @ (f[:, None] * (U.T @ Yc))) / (1 - h)[:, None]) ** 2, 0))
    assert np.all(grad["value"] <= np.min(grid, axis=0) * (1 + 1e-5))


@pytest.mark.slow
@pytest.mark.skipif(not HIMALAYA, reason="himalaya not installed")
def test_gradient_tuning_beats_himalayas_choice_on_the_exact_loo(hung_size):
    from himalaya.backend import set_backend
    from himalaya.ridge import BandedRidgeCV

    grad, _, X64, Y64 = hung_size
    labels = np.repeat(np.arange(3), PER)
    set_backend("numpy", on_error="raise")
    him = BandedRidgeCV(
        groups=labels.tolist(),
        solver_params=dict(n_iter=3, alphas=ALPHAS, progress_bar=False),
        fit_intercept=True,
        random_state=0,
    ).fit(X64, Y64)
    lams_him = np.exp(-np.asarray(him.deltas_)).T  # (t, G): λ_g = exp(−δ_g)
    loo_him = [_np_loo(X64, Y64[:, k], lams_him[k][labels])[0] for k in range(T)]
    assert np.all(grad["value"] <= np.asarray(loo_him) * (1 + 1e-5))


@pytest.mark.parametrize("dual", [False, True])
@pytest.mark.parametrize("criterion", ["loo", "gcv"])
@pytest.mark.parametrize("weighted", [False, True])
def test_hypergradient_equals_finite_differences(x64, dual, criterion, weighted):
    rng = np.random.default_rng(3)
    n, p = (8, 9) if dual else (30, 9)
    X = jnp.asarray(rng.standard_normal((n, p)) + 1.0)
    y = jnp.asarray(rng.standard_normal((n, 1)))
    sw = jnp.asarray(rng.uniform(0.5, 2.0, n)) if weighted else None
    labels = jnp.asarray(np.repeat(np.arange(3), 3))
    data = rd.prepare(X, y, sw, True)
    G = data.Xs.T @ data.Xs
    mask = None if sw is None else sw > 0
    vg = jax.jit(
        br._value_and_grad(data.Xs, G, data.leverage, mask, labels, 3, criterion, True, dual)
    )
    theta = jnp.asarray(rng.standard_normal(3))
    f, g = vg(theta, data.Ys[:, 0])
    h = 1e-6
    fd = [
        (vg(theta.at[i].add(h), data.Ys[:, 0])[0] - vg(theta.at[i].add(-h), data.Ys[:, 0])[0])
        / (2 * h)
        for i in range(3)
    ]
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-9 * float(jnp.max(jnp.abs(g))))
    # the value is the criterion itself: LOO from brute-force refits / GCV from the hat matrix
    lam = np.exp(np.asarray(theta))[np.asarray(labels)]
    Xn, yn = np.asarray(X), np.asarray(y[:, 0])
    s = np.ones(n) if sw is None else np.asarray(sw)
    if criterion == "loo":  # brute-force refits without row i, in numpy
        errs = []
        for i in range(n):
            m = np.arange(n) != i
            sm = s[m]
            xm, ym = sm @ Xn[m] / sm.sum(), sm @ yn[m] / sm.sum()
            Xc, yc = np.sqrt(sm)[:, None] * (Xn[m] - xm), np.sqrt(sm) * (yn[m] - ym)
            w = np.linalg.solve(Xc.T @ Xc + np.diag(lam), Xc.T @ yc)
            errs.append(s[i] * (yn[i] - ym - (Xn[i] - xm) @ w) ** 2)
        np.testing.assert_allclose(f, np.mean(errs), rtol=1e-8)
    else:
        xm, ym = s @ Xn / s.sum(), s @ yn / s.sum()
        Xs, ys = np.sqrt(s)[:, None] * (Xn - xm), np.sqrt(s) * (yn - ym)
        H = Xs @ np.linalg.solve(Xs.T @ Xs + np.diag(lam), Xs.T)
        dof = n - np.trace(H) - 1
        np.testing.assert_allclose(f, (np.sum((ys - H @ ys) ** 2) / n) / (dof / n) ** 2, rtol=1e-8)


def test_map_unbatched_equals_vmap():
    A = jnp.eye(4)[None] * jnp.arange(1.0, 4.0)[:, None, None] + 0.1
    b = jnp.ones((3, 4))
    solve = lambda a, v: jax.scipy.linalg.cho_solve(jax.scipy.linalg.cho_factor(a), v)
    np.testing.assert_allclose(
        jax.jit(lambda a, v: rd.map_unbatched(solve, a, v))(A, b), jax.vmap(solve)(A, b), rtol=1e-6
    )


def _lapack_batch_dims(fn, platform, *args, **kwargs):
    """The num_batch_dims of every LAPACK/cuSOLVER call in fn's program lowered for platform."""
    from jax import export

    text = export.export(fn, platforms=[platform])(*args, **kwargs).mlir_module()
    calls = re.findall(r"custom_call @(\w+)\(.*?num_batch_dims = \"(\d+)\"", text)
    return {(name, int(dims)) for name, dims in calls}


@pytest.mark.parametrize("dual", [False, True])
def test_cpu_program_has_no_batched_lapack_call_and_gpu_keeps_vmap(dual):
    # the deadlock needs batched LAPACK calls on CPU (num_batch_dims > 0): the tuner has none
    n, p, t = (12, 9, 3) if dual else (40, 9, 3)
    rng = np.random.default_rng(0)
    X = jnp.asarray(rng.standard_normal((n, p)), jnp.float32)
    Y = jnp.asarray(rng.standard_normal((n, t)), jnp.float32)
    labels = jnp.asarray(np.repeat(np.arange(3), 3))
    kw = dict(criterion="loo", fit_intercept=True, dual=dual, steps=2, n_groups=3)
    args = (X, Y, None, labels, jnp.zeros((t, 3), jnp.float32))
    cpu = _lapack_batch_dims(br._gradient_batch, "cpu", *args, **kw)
    assert cpu and all(name.startswith("lapack_") and dims == 0 for name, dims in cpu)
    cuda = _lapack_batch_dims(br._gradient_batch, "cuda", *args, **kw)
    assert any(dims == 1 for _, dims in cuda)  # on GPU the targets stay one batched call
    fixed = _lapack_batch_dims(
        jax.jit(lambda X, Y, d: br._banded_core(X, Y, None, d, fit_intercept=True, dual=dual)),
        "cpu",
        X,
        Y,
        jnp.ones((t, p), jnp.float32),
    )
    assert fixed and all(dims == 0 for _, dims in fixed)


@pytest.mark.parametrize("weighted", [False, True])
def test_newton_model_of_the_loo_is_exact_but_for_the_averaged_leverage_curvature(x64, weighted):
    # f, ∇f and w exact; the Hessian equals the forward-mode Jacobian of the closed-form gradient
    # up to its one averaged term (exact when the weights uᵢ = eᵢ²/denᵢ are all equal)
    rng = np.random.default_rng(5)
    n, p = 40, 9
    X = jnp.asarray(rng.standard_normal((n, p)) + 1.0)
    y = jnp.asarray(rng.standard_normal((n, 1)))
    sw = jnp.asarray(np.r_[0.0, rng.uniform(0.5, 2.0, n - 1)]) if weighted else None
    labels = jnp.asarray(np.repeat(np.arange(3), 3))
    data = rd.prepare(X, y, sw, True)
    G = data.Xs.T @ data.Xs
    mask = None if sw is None else sw > 0
    vg = br._value_and_grad(data.Xs, G, data.leverage, mask, labels, 3, "loo", True, False)
    value, derivs, _ = br._loo_newton_model(data.Xs, G, data.leverage, mask, labels, 3)
    theta, ys = jnp.asarray(rng.standard_normal(3)), data.Ys[:, 0]
    f, w, aux = value(theta, ys)
    g, H = derivs(aux)
    f0, g0 = vg(theta, ys)
    np.testing.assert_allclose(f, f0, rtol=1e-12)
    np.testing.assert_allclose(g, g0, rtol=1e-10, atol=1e-14)
    d = np.exp(np.asarray(theta))[np.asarray(labels)]
    Xs, yn = np.asarray(data.Xs), np.asarray(ys)
    np.testing.assert_allclose(w, np.linalg.solve(Xs.T @ Xs + np.diag(d), Xs.T @ yn), rtol=1e-10)
    H_exact = np.asarray(jax.jacfwd(lambda t: vg(t, ys)[1])(theta))
    np.testing.assert_allclose(H, H.T, rtol=1e-12, atol=1e-16)
    assert np.linalg.norm(H - H_exact) <= 0.3 * np.linalg.norm(H_exact)
    # the averaged term, written out: (4/n) Σᵢ (ū − uᵢ) (B D_k A⁻¹ D_g Bᵀ)ᵢᵢ
    Ainv = np.linalg.inv(Xs.T @ Xs + np.diag(d))
    B = Xs @ Ainv
    r = yn - Xs @ (Ainv @ Xs.T @ yn)
    den = 1 - np.sum(B * Xs, 1) - np.asarray(data.leverage)
    e = r / den if sw is None else np.where(np.asarray(mask), r / den, 0)
    u = e * r / den**2
    onehot = np.asarray(labels)[:, None] == np.arange(3)[None]
    gap = np.zeros((3, 3))
    for k in range(3):
        for gg in range(3):
            Dk, Dg = np.diag(d * onehot[:, k]), np.diag(d * onehot[:, gg])
            T = np.einsum("ij,ij->i", B @ Dk @ Ainv @ Dg, B)
            gap[gg, k] = 4 / n * np.sum((u.mean() - u) * T)
    np.testing.assert_allclose(H - H_exact, gap, rtol=1e-8, atol=1e-12 * np.abs(H_exact).max())


def test_newton_tuning_matches_a_dense_grid_optimum(x64):
    # two groups: the tuned LOO is the minimum of the exact LOO over a fine grid of (λ₁, λ₂)
    rng = np.random.default_rng(7)
    n = 80
    X = rng.standard_normal((n, 6))
    y = X @ np.r_[1.0, -0.5, 0.8, 0.1, 0.0, -0.1] + 0.5 * rng.standard_normal(n)
    groups = [[0, 1, 2], [3, 4, 5]]
    res = jaxl2.tune_banded_ridge(X, y, groups, steps=30, tol=0.0)
    grid = np.logspace(-3, 4, 29)
    best = min(_np_loo(X, y, np.repeat([a, b], 3))[0] for a in grid for b in grid)
    assert float(res.value) <= best * (1 + 1e-6)
    np.testing.assert_allclose(res.value, _np_loo(X, y, np.repeat(np.asarray(res.lams), 3))[0])


def test_cpu_lapack_runs_with_one_blas_thread_and_the_limit_is_lifted_after():
    """On CPU the solvers hold BLAS (SciPy's OpenBLAS, behind jaxlib's LAPACK kernels) to one
    thread while their program runs, restore the previous counts, and do nothing while traced."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    lt = _private("lapack_threads")

    def blas_threads():
        return [
            i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"
        ]

    x = jnp.ones((3, 3))
    jax.block_until_ready(jnp.linalg.cholesky(x + 2 * jnp.eye(3)))  # loads jaxlib's LAPACK
    before = blas_threads()
    assert before, "no BLAS library loaded"
    with lt.single_threaded_blas(x, None):
        inside = blas_threads()
    assert inside == [1] * len(before)
    assert blas_threads() == before
    seen = []

    @jax.jit
    def traced(a):
        with lt.single_threaded_blas(a):
            seen.append(blas_threads())
        return a

    traced(x)
    assert seen == [before]
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((30, 6)), rng.standard_normal((30, 2))
    res = jaxl2.tune_banded_ridge(X, Y, [[0, 1, 2], [3, 4, 5]], steps=2, n_iter=2)
    assert np.all(np.isfinite(np.asarray(res.coef)))
    assert blas_threads() == before


@pytest.mark.parametrize("weighted", [False, True])
def test_value_only_and_blocked_factor_equal_the_numpy_loo(x64, weighted):
    # the last trial point's value (no p³ product) and the full value agree with numpy's exact
    # LOO and coefficients, at a p (150) where the Cholesky and inverse run by blocks
    rng = np.random.default_rng(3)
    n, p = 200, 150
    X = jnp.asarray(rng.standard_normal((n, p)))
    y = jnp.asarray(rng.standard_normal((n, 1)))
    sw = jnp.asarray(rng.uniform(0.5, 2.0, n)) if weighted else None
    labels = jnp.asarray(np.repeat(np.arange(3), 50))
    data = rd.prepare(X, y, sw, True)
    G = data.Xs.T @ data.Xs
    mask = None if sw is None else sw > 0
    value, _, value_only = br._loo_newton_model(data.Xs, G, data.leverage, mask, labels, 3)
    theta, ys = jnp.asarray([1.0, 3.0, 5.0]), data.Ys[:, 0]
    f, w, _ = value(theta, ys)
    f1, w1 = value_only(theta, ys)
    d = np.exp(np.asarray(theta))[np.asarray(labels)]
    Xs, yn = np.asarray(data.Xs), np.asarray(ys)
    A = Xs.T @ Xs + np.diag(d)
    w_np = np.linalg.solve(A, Xs.T @ yn)
    den = 1 - np.einsum("ij,ji->i", Xs, np.linalg.solve(A, Xs.T)) - np.asarray(data.leverage)
    e = (yn - Xs @ w_np) / den
    f_np = np.mean(e**2 if sw is None else np.where(np.asarray(mask), e, 0) ** 2)
    for fv, wv in ((f, w), (f1, w1)):
        np.testing.assert_allclose(fv, f_np, rtol=1e-10)
        np.testing.assert_allclose(wv, w_np, rtol=1e-9, atol=1e-12)
    Li = np.asarray(br._chol_inv(jnp.asarray(A)))
    np.testing.assert_allclose(Li, np.linalg.inv(np.linalg.cholesky(A)), rtol=1e-9, atol=1e-12)


def test_log_uniform_start_weights():
    gam = br.log_uniform_weights(20, 3, seed=4)
    assert gam.shape == (20, 3)
    np.testing.assert_allclose(gam.sum(1), 1.0)
    np.testing.assert_allclose(gam[0], 1 / 3)
    ratio = np.log10(gam.max(1) / gam.min(1))
    assert ratio.max() <= 3 + 1e-12 and ratio.max() > 2  # three decades, reached
    np.testing.assert_array_equal(gam, br.log_uniform_weights(20, 3, seed=4))
    assert not np.allclose(gam, br.log_uniform_weights(20, 3, seed=5))
    # more groups than primes listed: the rest are plain uniform draws, still on the simplex
    wide = br.log_uniform_weights(5, 25, seed=0)
    assert wide.shape == (5, 25) and np.allclose(wide.sum(1), 1.0)


def test_gradient_tuning_keeps_float32_with_x64_enabled(x64):
    # the Newton bounds were NumPy float64 scalars: with x64 on they promoted the float32 carry
    # of the descent's while_loop to float64 and tracing failed
    rng = np.random.default_rng(3)
    X = rng.standard_normal((30, 6))
    Y = X @ rng.standard_normal((6, 3)) + rng.standard_normal((30, 3))
    groups = [0, 0, 0, 1, 1, 1]
    kw = dict(criterion="gcv", n_iter=3, steps=3)
    res32 = jaxl2.tune_banded_ridge(
        jnp.asarray(X, jnp.float32), jnp.asarray(Y, jnp.float32), groups, **kw
    )
    res64 = jaxl2.tune_banded_ridge(X, Y, groups, **kw)
    assert res32.lams.dtype == res32.coef.dtype == res32.value.dtype == jnp.float32
    np.testing.assert_allclose(res32.value, res64.value, rtol=1e-3)
