"""Many targets: ridge_path(keep="best"), banded ridge, kernel ridge and their estimators.

References: brute-force leave-one-out refits, jaxl2.tikhonov, himalaya, scikit-learn.
"""

import importlib.util

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.kernel_ridge import KernelRidge
from sklearn.metrics import r2_score
from sklearn.utils.estimator_checks import parametrize_with_checks

import jaxl2
from jaxl2.sklearn import BandedRidgeCV, KernelRidgeCV, RidgeCV

HIMALAYA = importlib.util.find_spec("himalaya") is not None


def _expected_failures(estimator):
    # Leave-one-out with a weight of 2 leaves that row out once; two copies of the row are left
    # out one at a time (the other copy stays in), so the tuned strengths differ by design.
    if isinstance(estimator, BandedRidgeCV):
        return {"check_sample_weight_equivalence_on_dense_data": "LOO: weights ≠ repeated rows"}
    return {}


# Every fit of a new shape compiles anew: ~170 checks cost minutes, so they run with JAXL2_SLOW=1.
@pytest.mark.slow
@parametrize_with_checks(
    [BandedRidgeCV(method="random", n_iter=2), BandedRidgeCV(steps=2), KernelRidgeCV()],
    expected_failed_checks=_expected_failures,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _data(n=30, p=6, t=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) + 2.0
    Y = X @ rng.standard_normal((p, t)) + rng.standard_normal((n, t)) * np.arange(1, t + 1)
    return X, Y, rng


def _np_ridge(X, Y, lam, s):
    """Weighted ridge with an unpenalized intercept, in numpy (the reference)."""
    xm, ym = s @ X / s.sum(), s @ Y / s.sum()
    Xc, Yc = X - xm, Y - ym
    W = np.linalg.solve(
        Xc.T @ (s[:, None] * Xc) + lam * np.eye(X.shape[1]), Xc.T @ (s[:, None] * Yc)
    )
    return W.T, ym - xm @ W


@pytest.mark.parametrize("shape, weighted", [((24, 5), True), ((9, 14), False), ((9, 14), True)])
def test_keep_best_loo_equals_brute_force_refits(x64, shape, weighted):
    X, Y, rng = _data(*shape, t=3)
    n = X.shape[0]
    sw = rng.uniform(0.5, 2.0, n) if weighted else None
    lams = np.logspace(-2, 2, 5)
    path = jaxl2.ridge_path(X, Y, lams, keep="best", targets_batch=2, sample_weight=sw)
    assert path.coef.shape == (3, X.shape[1]) and path.loo_mse.shape == (5, 3)
    s = np.ones(n) if sw is None else sw
    brute = np.zeros((5, 3))
    for k, lam in enumerate(lams):
        for i in range(n):
            keep = np.arange(n) != i
            W, b = _np_ridge(X[keep], Y[keep], lam, s[keep])
            brute[k] += s[i] * (Y[i] - X[i] @ W.T - b) ** 2 / n
    np.testing.assert_allclose(path.loo_mse, brute, rtol=1e-8)
    best = brute.argmin(0)
    np.testing.assert_array_equal(path.best_index, best)
    for j in range(3):
        W, b = _np_ridge(X, Y[:, j : j + 1], lams[best[j]], s)
        np.testing.assert_allclose(path.coef[j], W[0], rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(path.intercept[j], b[0], rtol=1e-8, atol=1e-12)


def test_keep_best_gcv_matches_keep_all_and_float32(x64):
    X, Y, _ = _data(40, 6, 5)
    lams = np.logspace(-2, 3, 7)
    full = jaxl2.ridge_path(X, Y, lams)
    g = jaxl2.ridge_path(X, Y, lams, keep="best", select="gcv")
    assert g.loo_mse is None
    np.testing.assert_allclose(g.gcv, full.gcv, rtol=1e-9)
    np.testing.assert_array_equal(g.best_index, np.nanargmin(np.asarray(full.gcv), 0))
    X32, Y32 = X.astype(np.float32), Y.astype(np.float32)
    b32 = jaxl2.ridge_path(X32, Y32, lams.astype(np.float32), keep="best")
    assert b32.coef.dtype == jnp.float32
    b64 = jaxl2.ridge_path(X, Y, lams, keep="best")
    np.testing.assert_allclose(b32.loo_mse, b64.loo_mse, rtol=1e-4)


def test_keep_best_is_jittable_vmappable_and_differentiable(x64):
    X, Y, _ = _data(20, 4, 2)
    lams = jnp.logspace(-1, 1, 3)

    def best_loo(X, Y, lams):
        path = jaxl2.ridge_path(X, Y, lams, keep="best")
        return jnp.sum(path.loo_mse), path.coef

    eager = best_loo(X, Y, lams)
    jitted = jax.jit(best_loo)(X, Y, lams)
    np.testing.assert_allclose(jitted[1], eager[1], rtol=1e-10)
    stacked = jax.vmap(best_loo, in_axes=(None, 2, None))(X, np.stack([Y, 2 * Y], 2), lams)
    np.testing.assert_allclose(stacked[1][0], eager[1], rtol=1e-10)
    grad = jax.grad(lambda lm: best_loo(X, Y, lm)[0])(lams)
    fd = [
        (best_loo(X, Y, lams.at[k].add(1e-6))[0] - best_loo(X, Y, lams.at[k].add(-1e-6))[0]) / 2e-6
        for k in range(3)
    ]
    np.testing.assert_allclose(grad, fd, rtol=1e-5)


def test_ridgecv_alpha_per_target_matches_sklearn(x64):
    from sklearn.linear_model import RidgeCV as SkRidgeCV

    X, Y, _ = _data(30, 5, 6)
    alphas = np.logspace(-2, 3, 8)
    ours = RidgeCV(alphas=alphas, alpha_per_target=True).fit(X, Y)
    ref = SkRidgeCV(alphas=alphas, alpha_per_target=True).fit(X, Y)
    np.testing.assert_allclose(ours.alpha_, ref.alpha_)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-8)


def test_progress_and_constant_target_warning(x64, capsys):
    X, Y, _ = _data(15, 3, 3)
    Y[:, 1] = 4.0
    with pytest.warns(UserWarning, match=r"target\(s\) 1 of y are constant"):
        path = jaxl2.ridge_path(X, Y, [0.1, 1.0], keep="best", targets_batch=1)
    assert np.all(np.isfinite(path.coef)) and np.allclose(path.coef[1], 0)
    np.testing.assert_allclose(path.intercept[1], 4.0)


def test_many_targets_bad_input():
    X, Y, _ = _data(10, 3, 2)
    with pytest.raises(ValueError, match="targets_batch must be a positive int"):
        jaxl2.ridge_path(X, Y, [1.0], keep="best", targets_batch=0)
    with pytest.raises(ValueError, match="keep must be one of"):
        jaxl2.ridge_path(X, Y, [1.0], keep="some")
    with pytest.raises(ValueError, match="select must be one of"):
        jaxl2.ridge_path(X, Y, [1.0], keep="best", select="aic")
    with pytest.raises(ValueError, match="apply to keep='best' only"):
        jaxl2.ridge_path(X, Y, [1.0], targets_batch=4)
    with pytest.raises(ValueError, match="at least one target"):
        jaxl2.ridge_path(X, Y[:, :0], [1.0], keep="best")
    Yn = Y.copy()
    Yn[3, 1] = np.nan
    with pytest.raises(ValueError, match="y"):
        jaxl2.ridge_path(X, Yn, [1.0], keep="best")


GROUPS = [[0, 1, 2], [3, 4, 5, 6], [7, 8]]
LABELS = np.repeat([0, 1, 2], [3, 4, 2])


@pytest.mark.parametrize("shape", [(30, 9), (7, 9)])
def test_banded_ridge_equals_tikhonov(x64, shape):
    X, Y, rng = _data(*shape, t=3)
    sw = rng.uniform(0.5, 2.0, shape[0])
    lams = np.array([0.1, 2.0, 30.0])
    res = jaxl2.banded_ridge(X, Y, GROUPS, lams, sample_weight=sw)
    ref = jaxl2.tikhonov(X, Y, 1.0, np.diag(np.sqrt(lams[LABELS])), sample_weight=sw)
    np.testing.assert_allclose(res.coef, ref.coef, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(res.intercept, ref.intercept, rtol=1e-9, atol=1e-12)
    per = rng.uniform(0.1, 5.0, (3, 3))
    res = jaxl2.banded_ridge(X, Y, LABELS, per)
    for k in range(3):
        ref = jaxl2.tikhonov(X, Y[:, k], 1.0, np.diag(np.sqrt(per[k][LABELS])))
        np.testing.assert_allclose(res.coef[k], ref.coef, rtol=1e-9, atol=1e-12)


def test_banded_ridge_unpenalized_collinear_group_equals_min_norm(x64):
    # λ_g = 0 on a group with two equal columns: XᵀX + diag(d) is singular and its Cholesky
    # gave NaN silently (tikhonov fell back to its SVD solve); now the minimum-norm solution
    X, Y, rng = _data(30, 9, t=3)
    X[:, 1] = X[:, 0]
    lams = np.array([0.0, 2.0, 30.0])
    sw = rng.uniform(0.5, 2.0, 30)
    res = jaxl2.banded_ridge(X, Y, GROUPS, lams, sample_weight=sw)
    s = np.sqrt(sw)[:, None]
    Xc = (X - np.average(X, axis=0, weights=sw)) * s
    Yc = (Y - np.average(Y, axis=0, weights=sw)) * s
    ref = np.linalg.pinv(Xc.T @ Xc + np.diag(lams[LABELS])) @ Xc.T @ Yc  # the min-norm solve
    np.testing.assert_allclose(res.coef, ref.T, rtol=1e-8, atol=1e-10)
    tik = jaxl2.tikhonov(X, Y, 1.0, np.diag(np.sqrt(lams[LABELS])), sample_weight=sw)
    np.testing.assert_allclose(res.intercept, tik.intercept, rtol=1e-8, atol=1e-10)
    # per-target strengths, and a vmapped batch in which only one member is singular
    per = np.stack([lams, [1.0, 2.0, 3.0], [0.0, 0.0, 1.0]])
    res = jaxl2.banded_ridge(X, Y, LABELS, per)
    for k in range(3):
        ref = jaxl2.tikhonov(X, Y[:, k], 1.0, np.diag(np.sqrt(per[k][LABELS])))
        np.testing.assert_allclose(res.coef[k], ref.coef, rtol=1e-8, atol=1e-10)
    Xb = np.stack([X, _data(30, 9, t=3)[0]])
    out = jax.vmap(lambda X: jaxl2.banded_ridge(X, Y, GROUPS, lams).coef)(Xb)
    for i in range(2):
        np.testing.assert_allclose(out[i], jaxl2.banded_ridge(Xb[i], Y, GROUPS, lams).coef)
    assert np.all(np.isfinite(out))
    # the gradient in the other strengths through the fallback (was 0·NaN = NaN)

    def f(t):
        return jaxl2.banded_ridge(X, Y[:, 0], GROUPS, jnp.exp(t) * lams).coef.sum()

    t0, h = jnp.array([0.0, 0.1, -0.2]), 1e-5
    fd = [(f(t0 + h * e) - f(t0 - h * e)) / (2 * h) for e in np.eye(3)]
    np.testing.assert_allclose(jax.grad(f)(t0)[1:], fd[1:], rtol=1e-6)


@pytest.mark.skipif(not HIMALAYA, reason="himalaya not installed")
def test_banded_ridge_equals_himalaya_at_fixed_strengths(x64):
    from himalaya.backend import set_backend
    from himalaya.ridge import solve_group_ridge_random_search

    set_backend("numpy", on_error="raise")
    X, Y, _ = _data(40, 9, 3)
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    gamma = np.array([[0.2, 0.5, 0.3]])
    alpha = 3.0
    out = solve_group_ridge_random_search(
        [Xc[:, g] for g in GROUPS],
        Yc,
        n_iter=gamma,
        alphas=np.array([alpha]),
        return_weights=True,
        progress_bar=False,
        cv=2,
    )
    W_him = np.asarray(out[1])  # (p, t), on the original features
    np.testing.assert_allclose(np.asarray(out[0]), np.log(gamma / alpha).T.repeat(3, 1))
    ours = jaxl2.banded_ridge(Xc, Yc, GROUPS, alpha / gamma[0], fit_intercept=False)
    np.testing.assert_allclose(ours.coef, W_him.T, rtol=1e-6, atol=1e-10)


def _np_loo_banded(X, y, lams, s):
    """Weighted LOO MSE of banded ridge with an intercept, by n refits in numpy (the reference)."""
    d = np.asarray(lams)[LABELS]
    errs = []
    for i in range(len(y)):
        m = np.arange(len(y)) != i
        sm = s[m]
        xm, ym = sm @ X[m] / sm.sum(), sm @ y[m] / sm.sum()
        Xc = X[m] - xm
        w = np.linalg.solve(Xc.T @ (sm[:, None] * Xc) + np.diag(d), Xc.T @ (sm * (y[m] - ym)))
        errs.append(s[i] * (y[i] - ym - (X[i] - xm) @ w) ** 2)
    return np.mean(errs)


def test_tune_banded_ridge_loo_is_exact_and_gradient_improves(x64):
    X, Y, rng = _data(25, 9, 2)
    sw = rng.uniform(0.5, 2.0, 25)
    alphas = np.logspace(-3, 3, 7)
    kw = dict(n_iter=3, sample_weight=sw, alphas=alphas)
    rand = jaxl2.tune_banded_ridge(X, Y, GROUPS, method="random", **kw)
    grad = jaxl2.tune_banded_ridge(X, Y, GROUPS, steps=8, **kw)
    # the random search is the best of its (γ, α) grid; the descent starts from the best point
    # of its own candidates (log-uniform weights) and only keeps steps that lower the LOO
    br = importlib.import_module("jaxl2._linear.banded_ridge")
    for res, gammas in (
        (rand, br.dirichlet_weights(3, 3, (0.1, 1.0), 0)),
        (grad, br.log_uniform_weights(3, 3, 0)),
    ):
        for k in range(2):
            best = min(_np_loo_banded(X, Y[:, k], a / g, sw) for g in gammas for a in alphas)
            assert float(res.value[k]) <= best * (1 + 1e-9)
    assert np.mean(np.asarray(grad.value)) < np.mean(np.asarray(rand.value))
    for k in range(2):
        errs = []
        for i in range(25):
            m = np.arange(25) != i
            f = jaxl2.banded_ridge(X[m], Y[m, k], GROUPS, grad.lams[k], sample_weight=sw[m])
            errs.append(sw[i] * (Y[i, k] - X[i] @ f.coef - f.intercept) ** 2)
        np.testing.assert_allclose(np.mean(errs), grad.value[k], rtol=1e-8)
        fit = jaxl2.banded_ridge(X, Y[:, k], GROUPS, grad.lams[k], sample_weight=sw)
        np.testing.assert_allclose(grad.coef[k], fit.coef, rtol=1e-8, atol=1e-12)


def test_tune_banded_ridge_finds_an_irrelevant_group():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((120, 9)).astype(np.float32)
    w = np.r_[rng.standard_normal(3), rng.standard_normal(4) * 0.1, np.zeros(2)]
    y = (X @ w + 0.3 * rng.standard_normal(120)).astype(np.float32)
    res = jaxl2.tune_banded_ridge(X, y, GROUPS, criterion="gcv")
    assert res.lams.dtype == jnp.float32
    assert res.lams[2] > 10 * res.lams[0]


@pytest.mark.skipif(not HIMALAYA, reason="himalaya not installed")
def test_r2_score_split_equals_himalaya():
    from himalaya.backend import set_backend
    from himalaya.scoring import r2_score_split

    set_backend("numpy", on_error="raise")
    X, Y, _ = _data(30, 9, 3)
    Yc = Y - Y.mean(0)
    fit = jaxl2.banded_ridge(X, Yc, GROUPS, np.array([1.0, 5.0, 50.0]), fit_intercept=False)
    parts = np.asarray(jaxl2.banded_predict_split(X, fit.coef, GROUPS))
    np.testing.assert_allclose(parts.sum(0), X @ np.asarray(fit.coef).T, rtol=1e-5)
    for corr in (True, False):
        ours = jaxl2.r2_score_split(Yc, parts, include_correlation=corr)
        ref = r2_score_split(Yc, parts, include_correlation=corr)
        np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6)


def test_r2_score_split_zero_target_and_bad_input():
    y = np.array([[1.0, 0.0], [-1.0, 0.0], [2.0, 0.0], [-2.0, 0.0]])
    parts = np.stack([0.5 * y + 0.1, 0.3 * y])
    # an all-zero (constant, centred) target: 0 with a warning, as r2_score(force_finite=True)
    with pytest.warns(UserWarning, match=r"target\(s\) 1 of y_true are all zero"):
        got = np.asarray(jaxl2.r2_score_split(y, parts))
    np.testing.assert_allclose(got[:, 1], 0.0)
    ref = jaxl2.r2_score_split(y[:, 0], parts[:, :, 0])  # the other target is untouched
    np.testing.assert_allclose(got[:, 0], ref, rtol=1e-6)
    assert r2_score(y[:, 1], parts[:, :, 1].sum(0)) == 0.0  # scikit-learn's convention
    np.testing.assert_allclose(jax.jit(jaxl2.r2_score_split)(y, parts)[:, 1], 0.0)  # no warning
    y_nan = y.copy()
    y_nan[2, 0] = np.nan
    with pytest.raises(ValueError, match=r"y_true must be finite, but y_true\[2, 0\] = nan"):
        jaxl2.r2_score_split(y_nan, parts)
    with pytest.raises(ValueError, match=r"y_pred_split must be finite"):
        jaxl2.r2_score_split(y, parts + np.inf)
    with pytest.raises(ValueError, match=r"needs at least one sample, target and group"):
        jaxl2.r2_score_split(y[:, :0], parts[:, :, :0])


def test_banded_bad_input():
    X, Y, _ = _data(10, 4, 2)
    with pytest.raises(ValueError, match=r"groups do not cover every feature: feature\(s\) \[3\]"):
        jaxl2.banded_ridge(X, Y, [[0, 1], [2]], [1.0, 1.0])
    with pytest.raises(
        ValueError, match="groups overlap: feature 1 is in groups\\[0\\] and groups\\[1\\]"
    ):
        jaxl2.banded_ridge(X, Y, [[0, 1], [1, 2, 3]], [1.0, 1.0])
    with pytest.raises(ValueError, match="groups must give a group to each of the 4 features"):
        jaxl2.banded_ridge(X, Y, np.array([0, 0, 1]), [1.0, 1.0])
    with pytest.raises(ValueError, match=r"lams must have one strength per group, shape \(2,\)"):
        jaxl2.banded_ridge(X, Y, [[0, 1], [2, 3]], [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="lams"):
        jaxl2.banded_ridge(X, Y, [[0, 1], [2, 3]], [1.0, -1.0])
    with pytest.raises(ValueError, match="method must be one of"):
        jaxl2.tune_banded_ridge(X, Y, [[0, 1], [2, 3]], method="grid")
    with pytest.raises(TypeError, match="groups must be concrete"):  # was: numpy's tracer error
        jax.jit(lambda g: jaxl2.banded_ridge(X, Y, g, [1.0, 1.0]).coef)(np.array([0, 0, 1, 1]))
    # these were numpy's "alpha < 0" from rng.dirichlet, and a search over log(0) = -inf
    with pytest.raises(ValueError, match=r"concentration must be a positive finite .*got -1.0"):
        jaxl2.tune_banded_ridge(X, Y, [[0, 1], [2, 3]], method="random", concentration=-1.0)
    with pytest.raises(ValueError, match=r"alphas must be > 0, got \[0.0, 1.0\]"):
        jaxl2.tune_banded_ridge(X, Y, [[0, 1], [2, 3]], alphas=[0.0, 1.0])


def test_kernel_ridge_path_equals_sklearn_and_brute_force(x64):
    X, Y, _ = _data(20, 3, 2)
    X = X - 2.0
    lams = np.logspace(-3, 1, 5)
    for kernel, kw in [
        ("linear", {}),
        ("poly", dict(gamma=0.3, degree=2)),
        ("rbf", dict(gamma=0.4)),
    ]:
        path = jaxl2.kernel_ridge_path(X, Y, lams, kernel=kernel, **kw)
        for k in range(2):
            lam = float(path.best_lam[k])
            ref = KernelRidge(alpha=lam, kernel=kernel, **kw).fit(X, Y[:, k])
            np.testing.assert_allclose(path.dual_coef[:, k], ref.dual_coef_, rtol=1e-8, atol=1e-10)
        j = int(path.best_index[0])
        errs = [
            (
                Y[i, 0]
                - KernelRidge(alpha=lams[j], kernel=kernel, **kw)
                .fit(np.delete(X, i, 0), np.delete(Y[:, 0], i))
                .predict(X[i : i + 1])[0]
            )
            ** 2
            for i in range(20)
        ]
        np.testing.assert_allclose(path.loo_mse[j, 0], np.mean(errs), rtol=1e-8)


def test_kernel_ridge_linear_dual_equals_primal(x64):
    X, Y, _ = _data(8, 12, 2)
    lams = np.logspace(-2, 2, 5)
    dual = jaxl2.kernel_ridge_path(X, Y, lams, kernel="linear")
    tall = jaxl2.kernel_ridge_path(X.T[:, :5], X.T[:, 5:7], lams, kernel="linear")  # n > p
    ref = jaxl2.ridge_path(X, Y, lams, fit_intercept=False, keep="best")
    np.testing.assert_allclose(dual.coef, ref.coef, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(dual.loo_mse, ref.loo_mse, rtol=1e-8)
    ref_t = KernelRidge(alpha=float(tall.best_lam[0]), kernel="linear").fit(X.T[:, :5], X.T[:, 5])
    np.testing.assert_allclose(tall.dual_coef[:, 0], ref_t.dual_coef_, rtol=1e-8, atol=1e-10)


def test_kernel_bad_input():
    X, Y, _ = _data(10, 3, 2)
    with pytest.raises(ValueError, match="gamma .* must be a positive finite float, got -1.0"):
        jaxl2.kernel_ridge_path(X, Y, [1.0], gamma=-1.0)
    with pytest.raises(ValueError, match="lams must be > 0"):
        jaxl2.kernel_ridge_path(X, Y, [0.0, 1.0])
    # a concrete 0-d array is a float; a traced gamma is refused by name (was: "got VmapTracer")
    np.testing.assert_allclose(
        jaxl2.kernel_matrix(X, gamma=jnp.asarray(0.5)), jaxl2.kernel_matrix(X, gamma=0.5)
    )
    with pytest.raises(TypeError, match="gamma is a static kernel parameter"):
        jax.vmap(lambda g: jaxl2.kernel_ridge_path(X, Y, [1.0], gamma=g).loo_mse)(jnp.ones(2))
    with pytest.raises(ValueError, match="kernel must be one of"):
        jaxl2.kernel_matrix(X, kernel="laplace")
    with pytest.raises(ValueError, match="gamma"):
        KernelRidgeCV(gamma=-0.5).fit(X, Y)
    # The estimator names its own arguments (these said "lams" and "select"):
    with pytest.raises(ValueError, match=r"alphas must be > 0 for kernel ridge, got \[0.0, 1.0\]"):
        KernelRidgeCV(alphas=[0.0, 1.0]).fit(X, Y)
    with pytest.raises(ValueError, match=r"alphas must be non-negative and finite, got -1.0"):
        KernelRidgeCV(alphas=[-1.0, 1.0]).fit(X, Y)
    with pytest.raises(ValueError, match=r"criterion must be one of 'loo', 'gcv'; got 'cv'"):
        KernelRidgeCV(criterion="cv").fit(X, Y)


def test_kernel_ridge_cv_warns_once_of_a_constant_target(x64):
    X, Y, _ = _data(25, 3, 2)
    Y[:, 1] = 3.0
    with pytest.warns(UserWarning, match=r"target\(s\) 1 of y are constant") as record:
        KernelRidgeCV(alphas=[0.1, 1.0], gamma=0.2).fit(X, Y)  # one alpha for all: a refit
    assert len(record) == 1, [str(w.message) for w in record]


def test_kernel_ridge_cv_matches_sklearn(x64):
    X, Y, _ = _data(25, 3, 3)
    alphas = [1e-2, 1e-1, 1.0, 10.0]
    model = KernelRidgeCV(alphas=alphas, kernel="rbf", gamma=0.2, alpha_per_target=True).fit(X, Y)
    for k in range(3):
        ref = KernelRidge(alpha=float(model.alpha_[k]), kernel="rbf", gamma=0.2).fit(X, Y[:, k])
        np.testing.assert_allclose(model.predict(X)[:, k], ref.predict(X), rtol=1e-8)
    shared = KernelRidgeCV(alphas=alphas, kernel="rbf", gamma=0.2).fit(X, Y)
    assert np.ndim(shared.alpha_) == 0


def test_banded_ridge_cv_estimator_fits_and_predicts(x64):
    X, Y, _ = _data(30, 9, 2)
    model = BandedRidgeCV(groups=GROUPS, n_iter=2, steps=2).fit(X, Y)
    direct = jaxl2.banded_ridge(X, Y, GROUPS, model.lams_)
    np.testing.assert_allclose(model.predict(X), direct.predict(X), rtol=1e-8)
    assert model.lams_.shape == (2, 3) and model.best_score_.shape == (2,)
    # tune_banded_ridge's concentration, targets_batch and progress pass through
    kw = dict(method="random", n_iter=3, concentration=0.5)
    model = BandedRidgeCV(groups=GROUPS, targets_batch=1, progress=False, **kw).fit(X, Y)
    direct = jaxl2.tune_banded_ridge(X, Y, GROUPS, targets_batch=1, **kw)
    np.testing.assert_allclose(model.lams_, direct.lams, rtol=1e-12)
    with pytest.raises(ValueError, match="concentration must be a positive finite float"):
        BandedRidgeCV(groups=GROUPS, method="random", concentration=-1.0).fit(X, Y)


def test_banded_and_kernel_vmap_jit_grad(x64):
    rng = np.random.default_rng(0)
    Xs, Ys = rng.standard_normal((3, 20, 5)), rng.standard_normal((3, 20, 2))
    lams = jnp.array([1.0, 2.0])

    def banded(X, Y, lm):
        return jaxl2.banded_ridge(X, Y, [0, 0, 1, 1, 1], lm).coef

    stacked = jax.vmap(banded, in_axes=(0, 0, None))(Xs, Ys, lams)
    np.testing.assert_allclose(stacked[1], banded(Xs[1], Ys[1], lams), rtol=1e-10)
    loss = lambda lm: jnp.sum(banded(Xs[0], Ys[0], lm) ** 2)
    fd = [(loss(lams.at[i].add(1e-6)) - loss(lams.at[i].add(-1e-6))) / 2e-6 for i in range(2)]
    np.testing.assert_allclose(jax.grad(loss)(lams), fd, rtol=1e-6)

    def kernel(X, Y):
        return jaxl2.kernel_ridge_path(X, Y, jnp.array([0.1, 1.0]), gamma=0.5).dual_coef

    np.testing.assert_allclose(jax.vmap(kernel)(Xs, Ys)[2], kernel(Xs[2], Ys[2]), rtol=1e-10)
    np.testing.assert_allclose(jax.jit(kernel)(Xs[0], Ys[0]), kernel(Xs[0], Ys[0]), rtol=1e-10)


def test_target_batches_are_balanced(x64):
    # 10000 targets in batches of at most 2796: four batches of 2500, no padded tail, and the
    # same fits as one batch.
    from jaxl2._linear import ridge_many as rm

    assert rm.default_batch(3000, 10_000) == 2500
    assert rm.check_batch(2796, 3000, 10_000) == 2500
    assert rm.check_batch(4, 30, 7) == 4 and rm.check_batch(3, 30, 7) == 3
    assert rm.check_batch(None, 30, 7) == 7 and rm.check_batch(100, 30, 7) == 7
    X, Y, _ = _data(t=7)
    lams = jnp.logspace(-2, 2, 5)
    one = jaxl2.ridge_path(X, Y, lams, keep="best")
    split = jaxl2.ridge_path(X, Y, lams, keep="best", targets_batch=5)  # two batches of 4
    np.testing.assert_allclose(split.coef, one.coef, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(split.loo_mse, one.loo_mse, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "fit",
    [
        lambda X, Y: jaxl2.ridge_path(X, Y, [0.1, 10.0], keep="best", select="gcv").best_lam,
        lambda X, Y: jaxl2.ridge_path(X, Y, [0.1, 10.0]).best_index,
        lambda X, Y: jaxl2.kernel_ridge_path(X, Y, [0.1, 10.0], gamma=0.1).best_lam,
        lambda X, Y: jaxl2.tune_banded_ridge(X, Y, [[0, 1], [2]], steps=1).lams,
    ],
    ids=["ridge_path_best_lam", "ridge_path_best_index", "kernel_best_lam", "tune_banded_lams"],
)
def test_traced_nan_raises_when_only_the_selection_is_used(fit):
    # The run-time check sat on the coefficients only, so jit dropped it when the caller used
    # just the selected strength: a NaN target silently got a lam.
    X, Y, _ = _data(12, 3, 2)
    X, Y = X.astype(np.float32), np.array(Y, np.float32)
    assert np.all(np.isfinite(np.asarray(jax.jit(fit)(X, Y))))
    Y[4, 1] = np.nan
    with pytest.raises(Exception, match="produced a non-finite result"):
        jax.block_until_ready(jax.jit(fit)(X, Y))
