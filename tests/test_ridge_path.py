"""jaxl2.ridge_path and jaxl2.tune_ridge: paths, exact LOO, GCV, standardization, gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import minimize_scalar
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge, RidgeCV

import jaxl2
from tests._tolerance import assert_close_to_norm

LAMS = np.logspace(-3, 2, 6)


def _data(n, p, t=None, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) + 2.0
    shape = (n,) if t is None else (n, t)
    y = rng.standard_normal(shape) + 3.0
    return X, y, rng


def _brute_loo(X, y, lam, sw, fit_intercept):
    """(1/n) Σ sᵢ eᵢ² with eᵢ the residual of a scikit-learn refit without sample i."""
    n = X.shape[0]
    sw = np.ones(n) if sw is None else sw
    total = 0.0
    for i in range(n):
        keep = np.arange(n) != i
        model = Ridge(alpha=lam, fit_intercept=fit_intercept, solver="svd")
        model.fit(X[keep], y[keep], sample_weight=sw[keep])
        total += sw[i] * (y[i] - model.predict(X[i : i + 1])[0]) ** 2
    return total / n


def _explicit_gcv(X, y, lam, sw, fit_intercept):
    """GCV from the explicit hat matrix of the √s-scaled problem with an unpenalized intercept."""
    n, p = X.shape
    sw = np.ones(n) if sw is None else sw
    root = np.sqrt(sw)
    A = root[:, None] * X
    penalty = lam * np.eye(p)
    if fit_intercept:
        A = np.hstack([A, root[:, None]])
        penalty = np.pad(penalty, ((0, 1), (0, 1)))
    hat = A @ np.linalg.solve(A.T @ A + penalty, A.T)
    resid = root * y - hat @ (root * y)
    return np.mean(resid**2) / (1 - np.trace(hat) / n) ** 2


@pytest.mark.parametrize("shape", [(25, 5), (10, 16)], ids=["n>p", "n<p"])
@pytest.mark.parametrize("fit_intercept,weighted", [(True, True), (True, False), (False, True)])
def test_path_coef_loo_gcv_match_refits(x64, shape, fit_intercept, weighted):
    X, y, rng = _data(*shape)
    sw = rng.uniform(0.2, 3.0, shape[0]) if weighted else None
    if weighted:
        sw[2] = 0.0  # a zero weight: the sample is dropped
    path = jaxl2.ridge_path(X, y, LAMS, fit_intercept=fit_intercept, sample_weight=sw)
    assert path.coef.shape == (6, shape[1]) and path.loo_mse.shape == (6,)
    for k, lam in enumerate(LAMS):
        model = Ridge(alpha=lam, fit_intercept=fit_intercept, solver="svd")
        model.fit(X, y, sample_weight=sw)
        np.testing.assert_allclose(path.coef[k], model.coef_, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(path.intercept[k], model.intercept_, rtol=1e-8, atol=1e-10)
        brute = _brute_loo(X, y, lam, sw, fit_intercept)
        np.testing.assert_allclose(path.loo_mse[k], brute, rtol=1e-8)
        gcv = _explicit_gcv(X, y, lam, sw, fit_intercept)
        np.testing.assert_allclose(path.gcv[k], gcv, rtol=1e-8)
    assert int(path.best_index) == int(np.argmin(path.loo_mse))
    assert float(path.best_lam) == pytest.approx(LAMS[int(path.best_index)])


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_best_lam_matches_ridgecv_on_diabetes(x64, weighted, fit_intercept):
    X, y = load_diabetes(return_X_y=True)
    sw = np.random.default_rng(0).uniform(0.5, 2.0, len(y)) if weighted else None
    alphas = np.logspace(-4, 2, 25)
    reference = RidgeCV(alphas=alphas, fit_intercept=fit_intercept).fit(X, y, sample_weight=sw)
    path = jaxl2.ridge_path(X, y, alphas, fit_intercept=fit_intercept, sample_weight=sw)
    assert float(path.best_lam) == reference.alpha_
    np.testing.assert_allclose(path.loo_mse[path.best_index], -reference.best_score_, rtol=1e-9)
    np.testing.assert_allclose(path.coef[path.best_index], reference.coef_, rtol=1e-8)
    np.testing.assert_allclose(path.intercept[path.best_index], reference.intercept_, rtol=1e-8)


@pytest.mark.parametrize("shape", [(40, 6), (12, 30)], ids=["n>p", "n<p"])
def test_multi_target_per_target_curves_match_ridgecv(x64, shape):
    X, Y, rng = _data(*shape, t=3, seed=1)
    Y[:, 1] += 5 * X[:, 0]  # targets that want different strengths
    sw = rng.uniform(0.5, 2.0, shape[0])
    alphas = np.logspace(-3, 3, 13)
    reference = RidgeCV(alphas=alphas, alpha_per_target=True).fit(X, Y, sample_weight=sw)
    path = jaxl2.ridge_path(X, Y, alphas, sample_weight=sw)
    assert path.coef.shape == (13, 3, shape[1]) and path.loo_mse.shape == (13, 3)
    assert path.best_index.shape == (3,)
    np.testing.assert_array_equal(path.best_lam, reference.alpha_)
    best_loo = path.loo_mse[path.best_index, np.arange(3)]
    np.testing.assert_allclose(best_loo, -reference.best_score_, rtol=1e-9)
    for j in range(3):
        k = int(path.best_index[j])
        model = Ridge(alpha=alphas[k]).fit(X, Y[:, j], sample_weight=sw)
        np.testing.assert_allclose(path.coef[k, j], model.coef_, rtol=1e-8, atol=1e-10)


def test_float32_path_matches_sklearn():
    X, y = load_diabetes(return_X_y=True)
    alphas = np.logspace(-3, 1, 9)
    reference = RidgeCV(alphas=alphas).fit(X, y)
    path = jaxl2.ridge_path(X.astype(np.float32), y.astype(np.float32), alphas.astype(np.float32))
    assert path.coef.dtype == jnp.float32 and path.loo_mse.dtype == jnp.float32
    k = int(path.best_index)
    assert alphas[k] == reference.alpha_
    np.testing.assert_allclose(path.loo_mse[k], -reference.best_score_, rtol=1e-4)
    assert_close_to_norm(path.coef[k], reference.coef_, 1e-4)


def test_standardize_is_glmnet_style(x64):
    X, y, rng = _data(30, 4, seed=2)
    X = X * np.array([1.0, 10.0, 0.1, 3.0])
    sw = rng.uniform(0.5, 2.0, 30)
    path = jaxl2.ridge_path(X, y, LAMS, sample_weight=sw, standardize=True)
    mean = np.average(X, axis=0, weights=sw)
    sd = np.sqrt(np.average((X - mean) ** 2, axis=0, weights=sw))
    for k, lam in enumerate(LAMS):
        model = Ridge(alpha=lam).fit(X / sd, y, sample_weight=sw)
        np.testing.assert_allclose(path.coef[k], model.coef_ / sd, rtol=1e-8)
        np.testing.assert_allclose(path.intercept[k], model.intercept_, rtol=1e-8)
    # without an intercept the scale is the weighted root mean square
    path = jaxl2.ridge_path(X, y, LAMS, fit_intercept=False, standardize=True)
    rms = np.sqrt(np.mean(X**2, axis=0))
    model = Ridge(alpha=LAMS[2], fit_intercept=False).fit(X / rms, y)
    np.testing.assert_allclose(path.coef[2], model.coef_ / rms, rtol=1e-8)


def test_lam_zero_in_path(x64):
    X, y, _ = _data(20, 5, seed=3)
    path = jaxl2.ridge_path(X, y, np.array([0.0, 1.0]), fit_intercept=False)
    np.testing.assert_allclose(path.coef[0], np.linalg.lstsq(X, y, rcond=None)[0], rtol=1e-8)
    # n < p: lam = 0 interpolates; its LOO error is that of minimum-norm interpolation
    X, y, _ = _data(6, 10, seed=4)
    path = jaxl2.ridge_path(X, y, np.array([0.0, 1.0]))
    Xc, yc = X - X.mean(0), y - y.mean()
    np.testing.assert_allclose(path.coef[0], np.linalg.lstsq(Xc, yc, rcond=None)[0], rtol=1e-8)
    errors = []
    for i in range(6):
        keep = np.arange(6) != i
        xm, ym = X[keep].mean(0), y[keep].mean()
        w = np.linalg.lstsq(X[keep] - xm, y[keep] - ym, rcond=None)[0]
        errors.append(y[i] - ym - (X[i] - xm) @ w)
    np.testing.assert_allclose(path.loo_mse[0], np.mean(np.square(errors)), rtol=1e-7)
    assert np.isnan(path.gcv[0])  # 0/0: GCV is undefined for an interpolating fit


@pytest.mark.parametrize("shape", [(30, 5), (10, 16)], ids=["n>p", "n<p"])
def test_gradients_of_loo_and_gcv_match_finite_differences(x64, shape):
    X, y, rng = _data(*shape, seed=5)
    sw = rng.uniform(0.5, 2.0, shape[0])

    def crit(log_lam, field):
        path = jaxl2.ridge_path(X, y, jnp.exp(log_lam)[None], sample_weight=sw)
        return getattr(path, field)[0]

    h = 1e-5
    for field in ("loo_mse", "gcv"):
        for log_lam in (np.log(0.3), np.log(30.0)):
            ref = {
                "loo_mse": lambda t: _brute_loo(X, y, np.exp(t), sw, True),
                "gcv": lambda t: _explicit_gcv(X, y, np.exp(t), sw, True),
            }[field]
            fd = (ref(log_lam + h) - ref(log_lam - h)) / (2 * h)
            grad = jax.grad(crit)(jnp.asarray(log_lam), field)
            np.testing.assert_allclose(grad, fd, rtol=1e-5)


@pytest.fixture
def tiny_chunks(monkeypatch):
    """Chunks of a few rows/columns, so that loops, full chunks and remainders all run."""
    from jaxl2._linear import ridge_chunks as _ridge_chunks

    monkeypatch.setattr(_ridge_chunks, "CHUNK_ENTRIES", 60)
    monkeypatch.setattr(_ridge_chunks, "MIN_CHUNK", 4)
    jax.clear_caches()
    yield
    jax.clear_caches()


@pytest.mark.parametrize("shape", [(43, 5), (9, 31)], ids=["n>p", "n<p"])
def test_chunked_products_match_sklearn(x64, tiny_chunks, shape):
    X, Y, rng = _data(*shape, t=2, seed=8)
    sw = rng.uniform(0.2, 2.0, shape[0])
    for standardize in (False, True):
        path = jaxl2.ridge_path(X, Y, LAMS, sample_weight=sw, standardize=standardize)
        sd = np.sqrt(np.average((X - np.average(X, 0, sw)) ** 2, axis=0, weights=sw))
        scale = sd if standardize else np.ones(shape[1])
        for k in (0, 3):
            model = Ridge(alpha=LAMS[k]).fit(X / scale, Y, sample_weight=sw)
            np.testing.assert_allclose(path.coef[k], model.coef_ / scale, rtol=1e-8, atol=1e-10)
            if not standardize:
                brute = _brute_loo(X, Y[:, 1], LAMS[k], sw, True)
                np.testing.assert_allclose(path.loo_mse[k, 1], brute, rtol=1e-8)
    for solver in ("cholesky", "eigh"):
        res = jaxl2.ridge(X, Y, 0.7, sample_weight=sw, solver=solver)
        model = Ridge(alpha=0.7).fit(X, Y, sample_weight=sw)
        np.testing.assert_allclose(res.coef, model.coef_, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(res.intercept, model.intercept_, rtol=1e-8)


def test_vmap_and_jit_over_data_sets(x64):
    rng = np.random.default_rng(6)
    Xs, ys = rng.standard_normal((4, 20, 3)), rng.standard_normal((4, 20))
    batched = jax.jit(jax.vmap(lambda X, y: jaxl2.ridge_path(X, y, jnp.asarray(LAMS))))(Xs, ys)
    assert batched.loo_mse.shape == (4, 6) and batched.best_lam.shape == (4,)
    for b in range(4):
        reference = RidgeCV(alphas=LAMS).fit(Xs[b], ys[b])
        assert float(batched.best_lam[b]) == reference.alpha_
        best_loo = batched.loo_mse[b, batched.best_index[b]]
        np.testing.assert_allclose(best_loo, -reference.best_score_, rtol=1e-9)


def test_path_bad_input():
    X, y, _ = _data(10, 3)
    with pytest.raises(ValueError, match=r"lams must be non-negative.* at index 2"):
        jaxl2.ridge_path(X, y, np.array([1.0, 2.0, -3.0]))
    with pytest.raises(ValueError, match=r"lams must be non-negative.* at index 0"):
        jaxl2.ridge_path(X, y, np.array([np.nan, 2.0]))
    with pytest.raises(ValueError, match="lams must be non-negative"):
        jaxl2.ridge_path(X, y, np.array([1.0, np.inf]))
    with pytest.raises(ValueError, match="lams must be a non-empty 1-D array"):
        jaxl2.ridge_path(X, y, np.ones((2, 2)))
    with pytest.raises(ValueError, match="X and y must have the same number of samples"):
        jaxl2.ridge_path(X, y[:5], LAMS)
    with pytest.raises(ValueError, match=r"sample_weight must be a scalar or have shape"):
        jaxl2.ridge_path(X, y, LAMS, sample_weight=np.ones((10, 1)))
    with pytest.raises(ValueError, match="sample_weight must be non-negative"):
        jaxl2.ridge_path(X, y, LAMS, sample_weight=-np.ones(10))
    bad = y.copy()
    bad[0] = np.nan
    with pytest.raises(ValueError, match=r"y must be finite, but y\[0\]"):
        jaxl2.ridge_path(X, bad, LAMS)


# ---------------------------------------------------------------- tune_ridge


def _loo_np(lam, X, y):
    Xc, yc, n = X - X.mean(0), y - y.mean(), len(y)
    hat = Xc @ np.linalg.solve(Xc.T @ Xc + lam * np.eye(X.shape[1]), Xc.T)
    return np.mean(((yc - hat @ yc) / (1 - np.diag(hat) - 1 / n)) ** 2)


def _gcv_np(lam, X, y):
    return _explicit_gcv(X, y, lam, None, True)


def _minimize(fn, lo, hi):
    res = minimize_scalar(
        lambda t: fn(np.exp(t)),
        bounds=(np.log(lo), np.log(hi)),
        method="bounded",
        options={"xatol": 1e-10},
    )
    return np.exp(res.x), res.fun


@pytest.mark.parametrize("criterion", ["loo", "gcv"])
def test_tune_ridge_finds_the_continuous_minimum(x64, criterion):
    X, y = load_diabetes(return_X_y=True)
    res = jaxl2.tune_ridge(X, y, criterion=criterion)
    ref = {"loo": _loo_np, "gcv": _gcv_np}[criterion]
    lam, value = _minimize(lambda lam: ref(lam, X, y), 1e-4, 1.0)
    np.testing.assert_allclose(res.lam, lam, rtol=1e-4)
    np.testing.assert_allclose(res.value, value, rtol=1e-9)
    assert float(res.value) <= float(np.min(res.grid_values))
    model = Ridge(alpha=float(res.lam)).fit(X, y)
    np.testing.assert_allclose(res.coef, model.coef_, rtol=1e-8)


def test_tune_ridge_validation_and_multi_target(x64):
    X, y = load_diabetes(return_X_y=True)
    perm = np.random.default_rng(0).permutation(len(y))  # a split with interior optima
    X, Y = X[perm], np.stack([y, np.sqrt(y)], 1)[perm]
    res = jaxl2.tune_ridge(X[:300], Y[:300], X_val=X[300:], y_val=Y[300:], criterion="val")
    assert res.lam.shape == (2,) and res.coef.shape == (2, 10)
    for j in range(2):

        def val(lam, j=j):
            model = Ridge(alpha=lam).fit(X[:300], Y[:300, j])
            return np.mean((Y[300:, j] - model.predict(X[300:])) ** 2)

        lam, value = _minimize(val, 1e-3, 10.0)
        np.testing.assert_allclose(res.lam[j], lam, rtol=1e-4)
        np.testing.assert_allclose(res.value[j], value, rtol=1e-9)


def test_tune_ridge_bad_input():
    X, y, _ = _data(20, 3)
    with pytest.raises(ValueError, match="criterion must be one of"):
        jaxl2.tune_ridge(X, y, criterion="aic")
    with pytest.raises(ValueError, match='criterion="val" needs both X_val and y_val'):
        jaxl2.tune_ridge(X, y, criterion="val")
    with pytest.raises(ValueError, match="X_val must have the 3 features of X"):
        jaxl2.tune_ridge(X, y, X_val=X[:, :2], y_val=y, criterion="val")
    with pytest.raises(ValueError, match="X_val and y_val must have the same number of samples"):
        jaxl2.tune_ridge(X, y, X_val=X, y_val=y[:3], criterion="val")
    with pytest.raises(ValueError, match="X_val and y_val are only used with"):
        jaxl2.tune_ridge(X, y, X_val=X, y_val=y)
    with pytest.raises(ValueError, match=r"lams must be non-negative.* at index 1"):
        jaxl2.tune_ridge(X, y, lams=np.array([1.0, -1.0]))
