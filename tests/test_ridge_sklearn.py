"""jaxl2.sklearn.Ridge and RidgeCV: scikit-learn's estimator checks and its numbers."""

import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from sklearn import linear_model
from sklearn.datasets import load_diabetes
from sklearn.utils.estimator_checks import parametrize_with_checks

from jaxl2.sklearn import Ridge, RidgeCV
from tests._tolerance import assert_close_to_norm

SLOW = os.environ.get("JAXL2_SLOW") == "1"


def _expected_failures(estimator):
    # scikit-learn lists the same expected failure for its own Ridge (instance_generator.py).
    if isinstance(estimator, Ridge):
        return {"check_non_transformer_estimators_n_iter": "n_iter_ is None for direct solvers"}
    return {}


@parametrize_with_checks([Ridge(), RidgeCV()], expected_failed_checks=_expected_failures)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.slow
@parametrize_with_checks([Ridge(), RidgeCV()], expected_failed_checks=_expected_failures)
def test_sklearn_estimator_checks_x64(estimator, check):
    with jax.enable_x64(True):
        check(estimator)


def _problems():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 8)) * np.array([1, 10, 0.1, 1, 1, 100, 1, 1]) + 1e3
    X[:, 3] = X[:, 2] + 1e-3 * rng.standard_normal(50)  # nearly collinear
    y = X[:, :2] @ np.array([1.0, -2.0]) + rng.standard_normal(50)
    wide = rng.standard_normal((12, 30)) + 5.0
    return {
        "n>p": (X, y, None, 0.7),
        "n>p-weighted": (X, y, rng.uniform(0.1, 3.0, 50), 0.01),
        "n<p": (wide, wide[:, 0] + rng.standard_normal(12), None, 0.3),
        "multi-target": (X, np.stack([y, -y, y**2], 1), None, np.array([0.1, 1.0, 30.0])),
        "lam=0": (X, y, None, 0.0),
    }


@pytest.mark.parametrize("case", list(_problems()))
def test_ridge_float64_without_x64_is_float64_accurate(case):
    assert not jax.config.jax_enable_x64
    X, y, sw, alpha = _problems()[case]
    ours = Ridge(alpha=alpha).fit(X, y, sample_weight=sw)
    ref = linear_model.Ridge(alpha=alpha, solver="svd").fit(X, y, sample_weight=sw)
    assert ours.coef_.dtype == np.float64
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-9, atol=1e-12)
    # intercept = ȳ − x̄ᵀw: its error scales with |x̄|·|w| (x̄ reaches 1e5; κ(X) is ~1e8)
    scale = np.abs(X).mean(0) @ np.abs(ref.coef_).T
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-9, atol=1e-10 * scale.max())
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-9)
    assert not jax.config.jax_enable_x64  # the estimator never changes JAX's configuration


@pytest.mark.parametrize("case", ["n>p-weighted", "n<p", "multi-target"])
def test_ridge_float64_with_x64(x64, case):
    X, y, sw, alpha = _problems()[case]
    ours = Ridge(alpha=alpha).fit(X, y, sample_weight=sw)
    ref = linear_model.Ridge(alpha=alpha, solver="svd").fit(X, y, sample_weight=sw)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-9, atol=1e-12)
    scale = np.abs(X).mean(0) @ np.abs(ref.coef_).T
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-9, atol=1e-10 * scale.max())


def test_ridge_float32_stays_float32():
    X, y = load_diabetes(return_X_y=True)
    ours = Ridge(alpha=0.1).fit(X.astype(np.float32), y.astype(np.float32))
    ref = linear_model.Ridge(alpha=0.1).fit(X, y)
    assert ours.coef_.dtype == np.float32 and ours.predict(X.astype(np.float32)).dtype == np.float32
    assert_close_to_norm(ours.coef_, ref.coef_, 1e-4)


@pytest.mark.parametrize("x64_on", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_ridgecv_matches_sklearn(x64_on, weighted):
    X, y = load_diabetes(return_X_y=True)
    sw = np.random.default_rng(1).uniform(0.5, 2.0, len(y)) if weighted else None
    alphas = np.logspace(-4, 2, 25)
    ref = linear_model.RidgeCV(alphas=alphas).fit(X, y, sample_weight=sw)
    with jax.enable_x64(x64_on):
        ours = RidgeCV(alphas=alphas).fit(X, y, sample_weight=sw)
    assert ours.alpha_ == ref.alpha_
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-9)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-9)
    np.testing.assert_allclose(ours.best_score_, ref.best_score_, rtol=1e-9 if x64_on else 1e-5)


def test_ridgecv_alpha_per_target_and_multi_target(x64):
    X, y = load_diabetes(return_X_y=True)
    Y = np.stack([y, np.sqrt(y), X[:, 0] * 100 + y], 1)
    alphas = np.logspace(-4, 2, 13)
    for per_target in (False, True):
        ref = linear_model.RidgeCV(alphas=alphas, alpha_per_target=per_target).fit(X, Y)
        ours = RidgeCV(alphas=alphas, alpha_per_target=per_target).fit(X, Y)
        np.testing.assert_array_equal(ours.alpha_, ref.alpha_)
        np.testing.assert_allclose(ours.best_score_, ref.best_score_, rtol=1e-9)
        np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-9)


def test_ridgecv_with_cv_folds_is_grid_search():
    X, y = load_diabetes(return_X_y=True)
    alphas = [0.01, 0.1, 1.0]
    ref = linear_model.RidgeCV(alphas=alphas, cv=3).fit(X, y)
    ours = RidgeCV(alphas=alphas, cv=3).fit(X, y)
    assert ours.alpha_ == ref.alpha_
    np.testing.assert_allclose(ours.best_score_, ref.best_score_, rtol=1e-6)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-8)


def test_bad_parameters():
    # scikit-learn's validation (_parameter_constraints) and wording.
    X, y = load_diabetes(return_X_y=True)
    with pytest.raises(ValueError, match=r"The 'alpha' parameter of Ridge must be"):
        Ridge(alpha=-1.0).fit(X, y)
    with pytest.raises(ValueError, match=r"alphas\[1\] == -2.0, must be > 0.0"):
        RidgeCV(alphas=[1.0, -2.0]).fit(X, y)
    with pytest.raises(ValueError, match=r"alpha must be a non-negative float or an array"):
        Ridge(alpha=[1.0, 2.0]).fit(X, y)
    with pytest.raises(ValueError, match=r"The 'scoring' parameter of RidgeCV must be"):
        RidgeCV(scoring="not-a-scorer").fit(X, y)
    with pytest.raises(ValueError, match="alpha_per_target=True are incompatible"):
        RidgeCV(cv=3, alpha_per_target=True).fit(X, y)
    with pytest.raises(ValueError, match="store_cv_results=True are incompatible"):
        RidgeCV(cv=3, store_cv_results=True).fit(X, y)
    with pytest.raises(ValueError, match=r"The 'solver' parameter of Ridge must be a str among"):
        Ridge(solver="newton").fit(X, y)
    with pytest.raises(ValueError, match="'lbfgs' solver can be used only when positive=True"):
        Ridge(solver="lbfgs").fit(X, y)
    with pytest.raises(ValueError, match="solver='svd' does not support positive fitting"):
        Ridge(solver="svd", positive=True).fit(X, y)


def test_import_jaxl2_does_not_import_sklearn():
    code = "import sys, jaxl2; assert 'sklearn' not in sys.modules, 'sklearn was imported'"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)
