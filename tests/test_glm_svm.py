"""linear_svm against scikit-learn's LinearSVC and the squared hinge's optimality conditions."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.svm import LinearSVC

import jaxl2
from jaxl2 import convert


def _standardized(loader):
    X, y = loader(return_X_y=True)
    return (X - X.mean(0)) / X.std(0), y


CANCER = _standardized(load_breast_cancer)
WINE = _standardized(load_wine)


def linear_svc(X, y, lam, sample_weight=None):
    svc = LinearSVC(C=convert.lam_to_c(lam), fit_intercept=False, dual=False, tol=1e-12)
    svc.set_params(max_iter=100_000).fit(X, y, sample_weight=sample_weight)
    return svc.coef_[0] if svc.coef_.shape[0] == 1 else svc.coef_


@pytest.mark.parametrize("lam", [0.05, 1.0, 50.0])
def test_binary_matches_linear_svc(x64, lam):
    X, y = CANCER
    res = jaxl2.linear_svm(X, y, lam, tol=1e-12)
    assert bool(res.converged) and res.coef.shape == (30,)
    np.testing.assert_allclose(res.coef, linear_svc(X, y, lam), atol=1e-6, rtol=1e-5)
    assert float(res.intercept) == 0.0


def test_one_vs_rest_and_sample_weights_match_linear_svc(x64):
    X, y = WINE
    sw = np.random.default_rng(0).uniform(0.2, 2.0, len(y))
    res = jaxl2.linear_svm(X, y, 0.3, sample_weight=sw, tol=1e-12)
    assert res.coef.shape == (3, 13) and res.converged.shape == (3,)
    np.testing.assert_allclose(res.coef, linear_svc(X, y, 0.3, sw), atol=1e-6, rtol=1e-5)


def test_unpenalized_intercept_is_stationary(x64):
    """With an intercept the objective is differentiable: its gradient vanishes (numpy)."""
    X, y = CANCER
    lam = 0.5
    res = jaxl2.linear_svm(X, y, lam, fit_intercept=True, tol=1e-12)
    w, b = np.asarray(res.coef), float(res.intercept)
    t = 2.0 * y - 1.0
    slack = np.maximum(1.0 - t * (X @ w + b), 0.0)
    np.testing.assert_allclose(-2 * X.T @ (t * slack) + 2 * lam * w, 0.0, atol=1e-9)
    np.testing.assert_allclose(-2 * np.sum(t * slack), 0.0, atol=1e-9)
    # As LinearSVC's intercept_scaling grows its penalized intercept tends to this one.
    svc = LinearSVC(C=convert.lam_to_c(lam), dual=False, intercept_scaling=1e3, tol=1e-12)
    svc.set_params(max_iter=100_000).fit(X, y)
    np.testing.assert_allclose(svc.intercept_[0], b, rtol=1e-3)


def test_vmap_over_lam_and_float32():
    X, y = CANCER
    X32 = X.astype(np.float32)
    coefs = jax.vmap(lambda lam: jaxl2.linear_svm(X32, y, lam).coef)(jnp.array([0.1, 1.0]))
    assert coefs.shape == (2, 30) and coefs.dtype == jnp.float32
    t = 2.0 * y - 1.0

    def objective(w, lam):  # sum_i max(0, 1 - t_i x_i^T w)^2 + lam ||w||^2, in float64
        return np.sum(np.maximum(1.0 - t * (X @ w), 0.0) ** 2) + lam * w @ w

    for k, lam in enumerate([0.1, 1.0]):
        ref = linear_svc(X, y, lam)
        w = np.asarray(coefs[k], np.float64)
        # float32 and its default tol certify the objective; at the weak lam = 0.1 the
        # coefficients themselves are only good to ~1e-3 of their scale.
        assert objective(w, lam) - objective(ref, lam) <= 1e-5 * objective(ref, lam)
        # float32 results depend on BLAS and thread count: compared relative to the norm.
        assert np.linalg.norm(w - ref) <= 3e-3 * np.linalg.norm(ref)
    ref = linear_svc(X, y, 1.0)
    assert np.linalg.norm(np.asarray(coefs[1], np.float64) - ref) <= 1e-4 * np.linalg.norm(ref)


def test_bad_input():
    X, y = CANCER
    with pytest.raises(ValueError, match="loss must be one of 'squared_hinge'"):
        jaxl2.linear_svm(X, y, 1.0, loss="hinge")
    with pytest.raises(TypeError, match="class labels as integers"):
        jaxl2.linear_svm(X, y.astype(float), 1.0)
    with pytest.raises(ValueError, match="single class"):
        jaxl2.linear_svm(X, np.ones(len(y), int), 1.0)
    with pytest.raises(ValueError, match="lam must be non-negative"):
        jaxl2.linear_svm(X, y, -0.1)
    Xbad = X.copy()
    Xbad[0, 0] = np.nan
    with pytest.raises(ValueError, match="X must be finite"):
        jaxl2.linear_svm(Xbad, y, 1.0)
    with pytest.warns(jaxl2.ConvergenceWarning, match="linear_svm did not converge"):
        res = jaxl2.linear_svm(X, y, 1e-4, max_iter=1)
    assert not bool(res.converged)
