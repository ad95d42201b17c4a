"""RidgeCV's leave-one-out mode on scipy.sparse input: scikit-learn's numbers, X never densified."""

import sys
import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import linear_model

from jaxl2.sklearn import RidgeCV

ALPHAS = np.logspace(-3, 2, 6)


def _sparse(n, p, density, seed, fmt="csr"):
    rng = np.random.default_rng(seed)
    nnz = max(1, int(n * p * density))
    rows, cols = rng.integers(0, n, nnz), rng.integers(0, p, nnz)
    X = sp.coo_matrix((rng.uniform(0.5, 3.0, nnz), (rows, cols)), shape=(n, p))
    X.sum_duplicates()
    return X.asformat(fmt)


def _compare(ours, ref, rtol=1e-8):
    np.testing.assert_allclose(np.asarray(ours.alpha_), np.asarray(ref.alpha_), rtol=0)
    np.testing.assert_allclose(ours.best_score_, ref.best_score_, rtol=rtol, atol=0)
    scale = max(1.0, float(np.max(np.abs(ref.coef_))))
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=0, atol=rtol * scale)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=0, atol=rtol * scale)
    if hasattr(ref, "cv_results_"):
        assert ours.cv_results_.shape == ref.cv_results_.shape
        ref_scale = np.max(np.abs(ref.cv_results_))
        np.testing.assert_allclose(ours.cv_results_, ref.cv_results_, rtol=0, atol=rtol * ref_scale)


@pytest.mark.parametrize("shape", [(40, 120), (120, 30)], ids=["gram", "covariance"])
@pytest.mark.parametrize(
    ("options", "weighted"),
    [
        ({}, False),
        ({}, True),
        ({"fit_intercept": False}, True),
        ({"alpha_per_target": True, "store_cv_results": True}, True),
        ({"scoring": "r2", "store_cv_results": True}, False),
        ({"scoring": "neg_mean_absolute_error", "alpha_per_target": True}, True),
    ],
    ids=["default", "weighted", "no-intercept", "per-target-cv-results", "scoring", "scoring-pt"],
)
def test_sparse_loo_matches_sklearn(x64, shape, options, weighted):
    n, p = shape
    X = _sparse(n, p, 0.15, seed=n + p)
    rng = np.random.default_rng(0)
    y = rng.standard_normal((n, 3)) + 5.0
    sw = rng.uniform(0.2, 3.0, n) if weighted else None
    # scikit-learn's RidgeCV fails on a 1-D y with both scoring and alpha_per_target.
    targets = (y,) if "scoring" in options and "alpha_per_target" in options else (y[:, 0], y)
    for target in targets:
        ref = linear_model.RidgeCV(alphas=ALPHAS, **options).fit(X, target, sample_weight=sw)
        ours = RidgeCV(alphas=ALPHAS, **options).fit(X, target, sample_weight=sw)
        _compare(ours, ref)


@pytest.mark.parametrize("fmt", ["csc", "coo"])
def test_sparse_loo_formats_and_zero_weights(x64, fmt):
    X = _sparse(60, 25, 0.3, seed=3, fmt=fmt)
    rng = np.random.default_rng(1)
    y = rng.standard_normal(60)
    sw = rng.uniform(0.5, 2.0, 60)
    sw[:5] = 0.0
    ref = linear_model.RidgeCV(alphas=ALPHAS, store_cv_results=True).fit(X, y, sample_weight=sw)
    ours = RidgeCV(alphas=ALPHAS, store_cv_results=True).fit(X, y, sample_weight=sw)
    _compare(ours, ref)


def test_sparse_loo_float64_without_x64_and_float32():
    """x64 off: alpha_ from float32 LOO errors, coefficients refined to float64 accuracy."""
    X = _sparse(80, 200, 0.1, seed=4)
    y = np.random.default_rng(2).standard_normal(80)
    ref = linear_model.RidgeCV(alphas=ALPHAS).fit(X, y)
    ours = RidgeCV(alphas=ALPHAS).fit(X, y)
    assert ours.alpha_ == ref.alpha_
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=0, atol=1e-10)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=0, atol=1e-10)
    assert abs(ours.best_score_ - ref.best_score_) <= 1e-5 * abs(ref.best_score_)
    ours32 = RidgeCV(alphas=ALPHAS).fit(X.astype(np.float32), y.astype(np.float32))
    assert ours32.coef_.dtype == np.float32
    np.testing.assert_allclose(ours32.coef_, ref.coef_, rtol=0, atol=1e-4 * np.abs(ref.coef_).max())


def _peak_rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024
    return None


@pytest.mark.parametrize("shape", [(300, 400_000), (150_000, 300)], ids=["gram", "covariance"])
def test_sparse_loo_never_densifies(x64, shape):
    """300 × 400,000 (dense: 0.9 GB in float64) and 150,000 × 300, at 0.05% density."""
    n, p = shape
    X = _sparse(n, p, 0.0005, seed=5)
    y = np.random.default_rng(3).standard_normal(n)
    dense_mb = n * p * 8 / 2**20
    RidgeCV(alphas=[1.0]).fit(X[:, :50] if n <= p else X[:50], y if n <= p else y[:50])
    reset = sys.platform.startswith("linux")
    if reset:
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # resets VmHWM, the peak resident set size
            before = _peak_rss_mb()
        except OSError:
            reset = False
    tracemalloc.start()
    try:
        model = RidgeCV(alphas=[0.1, 1.0, 10.0]).fit(X, y)
        traced_peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()
    assert model.coef_.shape == (p,)
    assert traced_peak_mb < dense_mb / 10, traced_peak_mb
    if reset:  # JAX's buffers are not traced by tracemalloc; the resident peak covers them
        assert _peak_rss_mb() - before < dense_mb / 4
