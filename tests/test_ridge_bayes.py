"""jaxl2.bayesian_ridge against scikit-learn's BayesianRidge, step for step."""

import jax
import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import BayesianRidge

import jaxl2
from tests._tolerance import assert_close_to_norm


def _cases():
    X, y = load_diabetes(return_X_y=True)
    rng = np.random.default_rng(0)
    wide = rng.standard_normal((20, 50))
    y_wide = wide[:, :3].sum(1) + rng.standard_normal(20)
    return {
        "diabetes": (X, y, None, True, {}),
        "diabetes-weighted": (X, y, rng.uniform(0.2, 2.0, len(y)), True, {}),
        "diabetes-no-intercept": (X, y, None, False, {}),
        "hyperpriors": (
            X,
            y,
            None,
            True,
            dict(alpha_1=2.0, alpha_2=0.5, lambda_1=3.0, lambda_2=1e-3, tol=1e-6, max_iter=50),
        ),
        "n<p": (wide, y_wide, None, True, {}),
        "n<p-weighted": (wide, y_wide, rng.uniform(0.5, 2.0, 20), True, {}),
    }


@pytest.mark.parametrize("case", list(_cases()))
def test_matches_sklearn_bayesian_ridge(x64, case):
    X, y, sw, fit_intercept, kwargs = _cases()[case]
    ref = BayesianRidge(compute_score=True, fit_intercept=fit_intercept, **kwargs)
    ref.fit(X, y, sample_weight=sw)
    res = jaxl2.bayesian_ridge(X, y, fit_intercept=fit_intercept, sample_weight=sw, **kwargs)
    assert int(res.n_iter) == ref.n_iter_
    np.testing.assert_allclose(res.coef, ref.coef_, rtol=1e-8, atol=1e-10 * np.abs(ref.coef_).max())
    np.testing.assert_allclose(res.intercept, ref.intercept_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(res.alpha, ref.alpha_, rtol=1e-8)
    np.testing.assert_allclose(res.lambda_, ref.lambda_, rtol=1e-8)
    np.testing.assert_allclose(
        res.sigma, ref.sigma_, rtol=1e-8, atol=1e-12 * np.abs(ref.sigma_).max()
    )
    k = int(res.n_iter)
    np.testing.assert_allclose(res.scores[: k + 1], ref.scores_, rtol=1e-10)
    assert np.all(np.isnan(res.scores[k + 1 :]))
    # the posterior mean is ridge with lam = λ/α
    ridge = jaxl2.ridge(X, y, res.ridge_lam, fit_intercept=fit_intercept, sample_weight=sw)
    np.testing.assert_allclose(
        ridge.coef, res.coef, rtol=1e-8, atol=1e-10 * np.abs(ref.coef_).max()
    )


def test_float32_matches_sklearn():
    X, y = load_diabetes(return_X_y=True)
    ref = BayesianRidge().fit(X, y)
    res = jaxl2.bayesian_ridge(X.astype(np.float32), y.astype(np.float32))
    assert res.coef.dtype == np.float32
    assert_close_to_norm(res.coef, ref.coef_, 1e-4)
    np.testing.assert_allclose(res.alpha, ref.alpha_, rtol=1e-4)
    np.testing.assert_allclose(res.lambda_, ref.lambda_, rtol=1e-4)


def test_several_targets_are_independent_fits(x64):
    X, y = load_diabetes(return_X_y=True)
    Y = np.stack([y, np.sqrt(y)], 1)
    res = jaxl2.bayesian_ridge(X, Y)
    assert res.coef.shape == (2, 10) and res.sigma.shape == (2, 10, 10)
    for j in range(2):
        ref = BayesianRidge().fit(X, Y[:, j])
        np.testing.assert_allclose(res.coef[j], ref.coef_, rtol=1e-8)
        np.testing.assert_allclose(res.lambda_[j], ref.lambda_, rtol=1e-8)
        assert int(res.n_iter[j]) == ref.n_iter_


def test_jit_and_vmap(x64):
    rng = np.random.default_rng(1)
    Xs, ys = rng.standard_normal((3, 30, 4)), rng.standard_normal((3, 30))
    res = jax.jit(jax.vmap(lambda X, y: jaxl2.bayesian_ridge(X, y)))(Xs, ys)
    for b in range(3):
        ref = BayesianRidge().fit(Xs[b], ys[b])
        np.testing.assert_allclose(res.coef[b], ref.coef_, rtol=1e-8, atol=1e-12)


def test_bad_input():
    X, y = load_diabetes(return_X_y=True)
    with pytest.raises(ValueError, match="max_iter must be a positive integer"):
        jaxl2.bayesian_ridge(X, y, max_iter=0)
    with pytest.raises(ValueError, match="alpha_1 must be non-negative"):
        jaxl2.bayesian_ridge(X, y, alpha_1=-1.0)
    with pytest.raises(ValueError, match="lambda_init must be non-negative"):
        jaxl2.bayesian_ridge(X, y, lambda_init=float("nan"))
    with pytest.raises(ValueError, match="X and y must have the same number of samples"):
        jaxl2.bayesian_ridge(X, y[:10])
    with pytest.raises(ValueError, match="sample_weight must be non-negative"):
        jaxl2.bayesian_ridge(X, y, sample_weight=-np.ones(len(y)))
