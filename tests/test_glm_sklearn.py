"""jaxl2.sklearn.LogisticRegression: scikit-learn's estimator checks and parity with sklearn."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
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
    # float32 depends on BLAS and thread count: compared relative to the norm.
    assert np.linalg.norm(ours.coef_ - ref.coef_) <= 1e-3 * np.linalg.norm(ref.coef_)
    scores = cross_val_score(LogisticRegression(), X, y, cv=3)
    assert scores.mean() > 0.9


def test_errors_and_convergence_warning():
    X, y = load_breast_cancer(return_X_y=True)
    # scikit-learn's own parameter validation (InvalidParameterError is a ValueError).
    with pytest.raises(ValueError, match="The 'C' parameter of LogisticRegression must be"):
        LogisticRegression(C=0.0).fit(X, y)
    with pytest.raises(ValueError, match="The 'max_iter' parameter of LogisticRegression"):
        LogisticRegression(max_iter=-1).fit(X, y)
    with pytest.raises(ValueError, match="The 'solver' parameter .*'newton-cholesky'"):
        LogisticRegression(solver="cholesky").fit(X, y)
    with pytest.raises(ValueError, match="Solver lbfgs supports only 'l2' or None penalties"):
        LogisticRegression(solver="lbfgs", l1_ratio=1.0).fit(X, y)
    with pytest.raises(ValueError, match="'liblinear' solver does not support multiclass"):
        LogisticRegression(solver="liblinear").fit(*load_iris(return_X_y=True))
    with pytest.raises(ValueError, match="at least 2 classes"):
        LogisticRegression().fit(X, np.zeros(len(y)))
    with pytest.raises(ValueError, match="Unknown label type"):
        LogisticRegression().fit(X, y + 0.5)
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        LogisticRegression(C=1e4, max_iter=1, solver="lbfgs").fit(X, y)


def test_import_jaxl2_does_not_import_sklearn():
    code = "import sys, jaxl2; print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.fixture(scope="module")
def scaled_cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return (X - X.mean(0)) / X.std(0), y


@pytest.mark.parametrize(
    "params",
    [
        {"class_weight": "balanced"},
        {"class_weight": {0: 3.0, 1: 0.5}},
        {"solver": "liblinear", "intercept_scaling": 2.0, "tol": 1e-12, "max_iter": 10_000},
        {"C": 0.05, "l1_ratio": 1.0, "solver": "liblinear", "tol": 1e-12, "max_iter": 10_000},
    ],
    ids=["balanced", "dict", "liblinear", "liblinear-l1"],
)
def test_constructor_arguments_match_sklearn(scaled_cancer, params):
    X, y = scaled_cancer
    ours = LogisticRegression(**{"tol": 1e-10, **params}).fit(X, y)
    ref = SkLogisticRegression(**{"solver": "newton-cholesky", "tol": 1e-12, **params}).fit(X, y)
    scale = np.abs(ref.coef_).max()
    # liblinear stops on its own criterion, short of tol: compared to 1e-4 of the scale.
    atol = (1e-4 if params.get("solver") == "liblinear" else 1e-7) * scale
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=atol)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, atol=atol)
    if params.get("l1_ratio"):
        np.testing.assert_array_equal(ours.coef_ == 0, ref.coef_ == 0)


def test_elastic_net_sparse_input_warm_start_and_zero_iterations(scaled_cancer):
    X, y = scaled_cancer
    X, y = np.where(np.abs(X) > 1.0, X, 0.0)[:200, :10], y[:200]
    Xs = sp.csr_matrix(X)
    # Sparse X with an L1 part runs proximal Newton as dense X does (the Hessian from
    # products): the fits agree as scikit-learn's test_logreg_l1 requires (rtol 1e-7).
    dense = LogisticRegression(C=0.01, l1_ratio=0.9, tol=1e-10, max_iter=10_000).fit(X, y)
    sparse = LogisticRegression(C=0.01, l1_ratio=0.9, tol=1e-10, max_iter=10_000).fit(Xs, y)
    assert (dense.coef_ == 0).any()
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=1e-7)
    np.testing.assert_allclose(sparse.intercept_, dense.intercept_, rtol=1e-7)
    l2 = LogisticRegression(C=0.3, tol=1e-10).fit(X, y)
    l2_sparse = LogisticRegression(C=0.3, tol=1e-10).fit(sp.csc_matrix(X), y)
    np.testing.assert_allclose(l2_sparse.coef_, l2.coef_, atol=1e-7 * np.abs(l2.coef_).max())
    np.testing.assert_allclose(l2.decision_function(Xs), l2.decision_function(X))
    # warm start from the solution: nothing to do; max_iter=0 without it: zeros, as sklearn.
    l2.set_params(warm_start=True, max_iter=0).fit(X, y)
    np.testing.assert_allclose(l2.coef_, l2_sparse.coef_, atol=1e-7 * np.abs(l2.coef_).max())
    with pytest.warns(ConvergenceWarning):
        zero = LogisticRegression(max_iter=0).fit(X, y)
    assert not zero.coef_.any() and zero.n_iter_[0] == 0
    np.testing.assert_allclose(zero.predict_proba(X), 0.5)
    assert sp.issparse(dense.sparsify().coef_)
    np.testing.assert_allclose(dense.densify().coef_, sparse.coef_, atol=1e-4)


UPSTREAM_FAST = ["test_check_solver_option", "test_write_parameters", "test_sparsify"]
UPSTREAM_SLOW = [  # more of scikit-learn's own test_logistic.py (the whole file: benchmarks/)
    "test_predict_2_classes",
    "test_logistic_regression_class_weights",
    "test_zero_max_iter",
    "test_penalty_none",
    "test_elastic_net_l1_l2_equivalence",
    "test_warm_start_converge_LR",
]


@pytest.mark.parametrize(
    "name", UPSTREAM_FAST + [pytest.param(n, marks=pytest.mark.slow) for n in UPSTREAM_SLOW]
)
def test_sklearn_upstream_tests_pass(name, tmp_path, monkeypatch):
    """scikit-learn 1.9's own tests, with its LogisticRegression swapped for jaxl2's."""
    import importlib.util
    import pathlib

    import sklearn

    source = pathlib.Path(sklearn.__file__).parent / "linear_model/tests/test_logistic.py"
    text = source.read_text().replace(
        "from sklearn.linear_model import LogisticRegression, LogisticRegressionCV,",
        "from jaxl2.sklearn import LogisticRegression\nfrom sklearn.linear_model import "
        "LogisticRegressionCV,",
    )
    text = text.replace("@pytest.mark.thread_unsafe\n", "")  # a marker of sklearn's conftest
    assert "from jaxl2.sklearn import LogisticRegression" in text
    path = tmp_path / "upstream_logistic.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("upstream_logistic", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    test = getattr(module, name)
    marks = [m for m in getattr(test, "pytestmark", []) if m.name == "parametrize"]
    cases = [{}]
    for mark in marks:  # every combination of the parametrize marks
        names = [n.strip() for n in mark.args[0].split(",")]
        values = [v if len(names) > 1 else (v,) for v in mark.args[1]]
        cases = [{**c, **dict(zip(names, v, strict=True))} for c in cases for v in values]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", "Inconsistent values: penalty=", UserWarning)
        for case in cases:
            if "global_random_seed" in test.__code__.co_varnames:
                case = {"global_random_seed": 42, **case}
            test(**case)
