"""jaxl2.sklearn.LogisticRegression: scikit-learn's estimator checks and parity with sklearn."""

import subprocess
import sys

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from jaxl2.sklearn import LogisticRegression


@parametrize_with_checks([LogisticRegression()])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("loader", [load_breast_cancer, load_iris], ids=["binary", "iris"])
def test_same_model_as_sklearn(loader):
    X, y = loader(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    labels = np.array(["setosa", "versicolor", "virginica", "x"])[y]  # any labels work
    ours = LogisticRegression(C=0.3, tol=1e-10).fit(X, labels)
    ref = SkLogisticRegression(C=0.3, solver="newton-cholesky", tol=1e-12).fit(X, labels)
    np.testing.assert_array_equal(ours.classes_, ref.classes_)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-7, rtol=1e-6)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, atol=1e-7, rtol=1e-6)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-8)
    np.testing.assert_allclose(ours.predict_log_proba(X), ref.predict_log_proba(X), atol=1e-7)
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))
    assert ours.coef_.dtype == np.float64


def test_float32_sample_weight_and_pipeline_use():
    X, y = load_iris(return_X_y=True)
    sw = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    ours = LogisticRegression(C=2.0, tol=1e-6).fit(X.astype(np.float32), y, sample_weight=sw)
    ref = SkLogisticRegression(C=2.0, tol=1e-10, max_iter=1000).fit(X, y, sample_weight=sw)
    assert ours.coef_.dtype == np.float32
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-3, rtol=1e-3)
    scores = cross_val_score(LogisticRegression(), X, y, cv=3)
    assert scores.mean() > 0.9


def test_errors_and_convergence_warning():
    X, y = load_breast_cancer(return_X_y=True)
    with pytest.raises(ValueError, match="C must be a positive number"):
        LogisticRegression(C=0.0).fit(X, y)
    with pytest.raises(ValueError, match="max_iter must be a positive integer"):
        LogisticRegression(max_iter=0).fit(X, y)
    with pytest.raises(ValueError, match="at least 2 classes"):
        LogisticRegression().fit(X, np.zeros(len(y)))
    with pytest.raises(ValueError, match="Unknown label type"):
        LogisticRegression().fit(X, y + 0.5)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        LogisticRegression(C=1e4, max_iter=1).fit(X, y)


def test_import_jaxl2_does_not_import_sklearn():
    code = "import sys, jaxl2; print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
