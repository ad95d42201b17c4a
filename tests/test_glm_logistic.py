"""logistic_regression and logistic_path against scikit-learn, glmnet's objective, closed forms."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import expit, logsumexp
from sklearn.datasets import load_breast_cancer, load_iris, load_wine
from sklearn.linear_model import LogisticRegression

import jaxl2
from jaxl2 import convert
from jaxl2._linear import glm as _glm


def _standardized(loader):
    X, y = loader(return_X_y=True)
    return (X - X.mean(0)) / X.std(0), y


CANCER = _standardized(load_breast_cancer)  # 569 x 30, two classes
IRIS = _standardized(load_iris)  # 150 x 4, three classes
WINE = _standardized(load_wine)  # 178 x 13, three classes


def assert_close_in_norm(actual, desired, rtol):
    """float32 results depend on BLAS and thread count: compare relative to the vector's norm."""
    actual, desired = np.asarray(actual, np.float64), np.asarray(desired, np.float64)
    assert np.linalg.norm(actual - desired) <= rtol * np.linalg.norm(desired)


def objective(X, y, coef, intercept, lam, sw=None):
    """Our objective, written out in numpy: sum_i s_i logloss_i + lam ||W||^2 (W as sklearn's)."""
    sw = np.ones(len(y)) if sw is None else sw
    z = X @ coef.T + intercept
    if z.ndim == 1:
        loss = np.logaddexp(0.0, z) - y * z
    else:
        loss = logsumexp(z, axis=1) - z[np.arange(len(y)), y]
    return float(np.sum(sw * loss) + lam * np.sum(coef**2))


def sk_fit(X, y, lam, solver="newton-cholesky", **kw):
    m = LogisticRegression(C=1 / (2 * lam), solver=solver, tol=1e-12, max_iter=10_000, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lbfgs may stop on its ftol before tol=1e-12
        m.fit(X, y, sample_weight=kw.pop("sample_weight", None))
    coef = m.coef_[0] if m.coef_.shape[0] == 1 else m.coef_
    intercept = m.intercept_[0] if m.coef_.shape[0] == 1 else m.intercept_
    return coef, intercept


@pytest.mark.parametrize("data", [CANCER, IRIS, WINE], ids=["binary", "iris3", "wine3"])
@pytest.mark.parametrize("lam", [0.05, 1.0, 30.0])
def test_matches_sklearn(x64, data, lam):
    X, y = data
    res = jaxl2.logistic_regression(X, y, lam, tol=1e-11)
    coef, intercept = sk_fit(X, y, lam)
    assert bool(res.converged)
    np.testing.assert_allclose(res.coef, coef, atol=1e-6, rtol=1e-6)
    np.testing.assert_allclose(res.intercept, intercept, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("data", [CANCER, WINE], ids=["binary", "multinomial"])
def test_sample_weights_and_no_intercept_match_sklearn(x64, data):
    X, y = data
    sw = np.random.default_rng(0).uniform(0.1, 3.0, len(y))
    for fit_intercept in (True, False):
        res = jaxl2.logistic_regression(
            X, y, 0.7, sample_weight=sw, fit_intercept=fit_intercept, tol=1e-11
        )
        m = LogisticRegression(C=1 / 1.4, solver="newton-cholesky", tol=1e-12, max_iter=1000)
        m.set_params(fit_intercept=fit_intercept).fit(X, y, sample_weight=sw)
        coef = m.coef_[0] if m.coef_.shape[0] == 1 else m.coef_
        np.testing.assert_allclose(res.coef, coef, atol=1e-6, rtol=1e-6)
        if not fit_intercept:
            assert np.all(np.asarray(res.intercept) == 0.0)
        else:
            sk_b = m.intercept_[0] if m.coef_.shape[0] == 1 else m.intercept_
            np.testing.assert_allclose(res.intercept, sk_b, atol=1e-6, rtol=1e-6)


def test_integer_weights_equal_repeated_rows(x64):
    X, y = IRIS
    reps = np.random.default_rng(1).integers(1, 4, len(y))
    weighted = jaxl2.logistic_regression(X, y, 0.3, sample_weight=reps.astype(float), tol=1e-11)
    repeated = jaxl2.logistic_regression(np.repeat(X, reps, 0), np.repeat(y, reps), 0.3, tol=1e-11)
    np.testing.assert_allclose(weighted.coef, repeated.coef, atol=1e-9)


@pytest.mark.parametrize("data", [CANCER, IRIS], ids=["binary", "multinomial"])
@pytest.mark.parametrize("solver", ["lbfgs", "newton-cg", "newton-cholesky"])
def test_objective_never_above_sklearn(x64, data, solver):
    X, y = data
    for lam in (0.01, 0.5, 20.0):
        ours = jaxl2.logistic_regression(X, y, lam)
        coef, intercept = sk_fit(X, y, lam, solver=solver)
        f_ours = objective(X, y, np.asarray(ours.coef), np.asarray(ours.intercept), lam)
        f_sk = objective(X, y, coef, intercept, lam)
        assert f_ours <= f_sk + 1e-12 * abs(f_sk), (lam, f_ours - f_sk)


def test_both_solvers_agree_and_are_stationary(x64):
    X, y = WINE
    lam = 0.2
    newton = jaxl2.logistic_regression(X, y, lam, solver="newton", tol=1e-10)
    lbfgs = jaxl2.logistic_regression(X, y, lam, solver="lbfgs", tol=1e-10)
    np.testing.assert_allclose(newton.coef, lbfgs.coef, atol=1e-7)
    # Stationarity in numpy: X^T (softmax - Y) + 2 lam W = 0 and the intercept gradient is 0.
    W, b = np.asarray(newton.coef), np.asarray(newton.intercept)
    z = X @ W.T + b
    P = np.exp(z - logsumexp(z, axis=1, keepdims=True))
    R = P - np.eye(3)[y]
    np.testing.assert_allclose(R.T @ X + 2 * lam * W, 0.0, atol=1e-8 * len(y))
    np.testing.assert_allclose(R.sum(0), 0.0, atol=1e-8 * len(y))
    np.testing.assert_allclose(b.sum(), 0.0, atol=1e-10)  # the symmetric intercept


def test_glmnet_ridge_logistic_through_c_equals_one_over_lambda_n(x64):
    """glmnet (alpha=0): (1/N) sum loss + (lambda/2) ||beta||^2 on standardized x.

    glmnet itself cannot run here (no CRAN), so its objective is written out and checked:
    with ``standardize=TRUE`` glmnet fits the standardized features (population sd) and maps
    the coefficients back. The jaxl2 fit at ``lam = N lambda / 2`` must satisfy glmnet's
    stationarity conditions in the original scale and equal scikit-learn at
    ``C = 1 / (lambda N)``.
    """
    X, y = load_breast_cancer(return_X_y=True)
    n = len(y)
    mu, sd = X.mean(0), X.std(0)  # glmnet standardizes with the population sd
    Xs = (X - mu) / sd
    for lambda_glmnet in (0.001, 0.05):
        lam, _ = convert.glmnet_to_lam(lambda_glmnet, n, family="binomial")  # N lambda / 2
        res = jaxl2.logistic_regression(Xs, y, lam, tol=1e-12)
        beta = np.asarray(res.coef) / sd  # glmnet's returned coefficients
        beta0 = float(res.intercept) - mu @ beta
        # glmnet's objective in the original scale: the penalty is on sd * beta.
        r = expit(X @ beta + beta0) - y
        grad_beta = X.T @ r / n + lambda_glmnet * sd**2 * beta
        np.testing.assert_allclose(grad_beta, 0.0, atol=1e-10)
        np.testing.assert_allclose(r.mean(), 0.0, atol=1e-12)
        np.testing.assert_allclose(convert.lam_to_c(lam), 1 / (lambda_glmnet * n))
        sk = LogisticRegression(C=1 / (lambda_glmnet * n), solver="newton-cholesky", tol=1e-12)
        sk.fit(Xs, y)
        np.testing.assert_allclose(res.coef, sk.coef_[0], rtol=1e-6, atol=1e-8)


def test_vmap_over_lam_equals_separate_fits(x64):
    X, y = IRIS
    lams = jnp.array([0.1, 1.0, 10.0])
    batch = jax.vmap(lambda lam: jaxl2.logistic_regression(X, y, lam))(lams)
    assert batch.coef.shape == (3, 3, 4) and batch.converged.all()
    for k, lam in enumerate(lams):
        one = jaxl2.logistic_regression(X, y, lam)
        np.testing.assert_allclose(batch.coef[k], one.coef, atol=1e-9)


def test_jit_with_traced_labels_needs_n_classes(x64):
    X, y = IRIS
    fit = jax.jit(lambda X, y, lam: jaxl2.logistic_regression(X, y, lam, n_classes=3).coef)
    np.testing.assert_allclose(fit(X, y, 1.0), jaxl2.logistic_regression(X, y, 1.0).coef)
    with pytest.raises(ValueError, match="pass n_classes"):
        jax.jit(lambda X, y: jaxl2.logistic_regression(X, y, 1.0).coef)(X, y)


def test_float32_is_kept_and_close_to_sklearn():
    X, y = CANCER
    res = jaxl2.logistic_regression(X.astype(np.float32), y, 1.0)
    assert res.coef.dtype == jnp.float32 and res.intercept.dtype == jnp.float32
    coef, _ = sk_fit(X, y, 1.0)
    assert_close_in_norm(res.coef, coef, 1e-3)  # tol bounds the gradient, not the coef


def test_path_matches_separate_fits_in_given_order(x64):
    X, y = CANCER
    lams = np.array([0.1, 10.0, 1.0, 100.0])  # not sorted: results come back in this order
    path = jaxl2.logistic_path(X, y, lams, tol=1e-11)
    assert path.coef.shape == (4, 30) and path.intercept.shape == (4,)
    assert path.converged.shape == (4,) and bool(path.converged.all())
    np.testing.assert_array_equal(path.lams, lams)
    for k, lam in enumerate(lams):
        coef, intercept = sk_fit(X, y, lam)
        np.testing.assert_allclose(path.coef[k], coef, atol=1e-6, rtol=1e-6)
        np.testing.assert_allclose(path.intercept[k], intercept, atol=1e-6, rtol=1e-6)


def test_multinomial_path_and_lbfgs_path(x64):
    X, y = WINE
    lams = np.array([5.0, 0.5, 0.05])
    newton = jaxl2.logistic_path(X, y, lams, tol=1e-10)
    lbfgs = jaxl2.logistic_path(X, y, lams, solver="lbfgs", tol=1e-10)
    assert newton.coef.shape == (3, 3, 13)
    np.testing.assert_allclose(newton.coef, lbfgs.coef, atol=1e-6)
    for k, lam in enumerate(lams):
        coef, _ = sk_fit(X, y, lam)
        np.testing.assert_allclose(newton.coef[k], coef, atol=1e-6, rtol=1e-6)


def test_solver_is_chosen_by_the_number_of_coefficients():
    assert _glm.choose_solver("auto", _glm.NEWTON_MAX_PARAMS) == "newton"
    assert _glm.choose_solver("auto", _glm.NEWTON_MAX_PARAMS + 1) == "lbfgs"
    assert _glm.choose_solver("newton", 10**6) == "newton"


def test_warm_start_path_takes_fewer_iterations(x64):
    X, y = CANCER
    lams = np.array([0.1, 10.0, 1.0, 100.0])
    path = jaxl2.logistic_path(X, y, lams, tol=1e-11)
    cold = [int(jaxl2.logistic_regression(X, y, lam, tol=1e-11).n_iter) for lam in lams]
    assert int(path.n_iter.sum()) < sum(cold)


# ----------------------------------------------------------------------------------------------
# Bad input


def test_float_labels_are_rejected():
    X, y = IRIS
    with pytest.raises(TypeError, match="class labels as integers"):
        jaxl2.logistic_regression(X, y.astype(float), 1.0)
    with pytest.raises(TypeError, match="class labels as integers"):
        jaxl2.logistic_path(X, y + 0.5, [1.0])


def test_single_class_and_non_index_labels_are_rejected():
    X, _ = IRIS
    with pytest.raises(ValueError, match="single class"):
        jaxl2.logistic_regression(X, np.zeros(len(X), int), 1.0)
    with pytest.raises(ValueError, match=r"class indices 0..K-1.*\[0, 2\]"):
        jaxl2.logistic_regression(X, np.where(np.arange(len(X)) % 2, 2, 0), 1.0)
    with pytest.raises(ValueError, match="n_classes must be an integer >= 2"):
        jaxl2.logistic_regression(X, np.arange(len(X)) % 2, 1.0, n_classes=1)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_data_is_rejected(bad):
    X, y = IRIS
    X = X.copy()
    X[3, 1] = bad
    with pytest.raises(ValueError, match=r"X must be finite, but X\[3, 1\]"):
        jaxl2.logistic_regression(X, y, 1.0)


def test_negative_or_nan_lam_is_rejected():
    X, y = IRIS
    with pytest.raises(ValueError, match="lam must be non-negative"):
        jaxl2.logistic_regression(X, y, -1.0)
    with pytest.raises(ValueError, match="lams must be non-negative"):
        jaxl2.logistic_path(X, y, [1.0, np.nan])
    fit = jax.jit(lambda lam: jaxl2.logistic_regression(X, y, lam).coef)
    with pytest.raises(RuntimeError, match="lam must be non-negative"):
        fit(-0.5)


def test_bad_sample_weight_and_solver_are_rejected():
    X, y = IRIS
    with pytest.raises(ValueError, match="sample_weight must be non-negative"):
        jaxl2.logistic_regression(X, y, 1.0, sample_weight=-np.ones(len(y)))
    with pytest.raises(ValueError, match="at least one positive"):
        jaxl2.logistic_regression(X, y, 1.0, sample_weight=np.zeros(len(y)))
    with pytest.raises(ValueError, match="sample_weight must be a scalar or have shape"):
        jaxl2.logistic_regression(X, y, 1.0, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="solver must be one of"):
        jaxl2.logistic_regression(X, y, 1.0, solver="saga")
    with pytest.raises(TypeError, match="X must be a floating-point array"):
        jaxl2.logistic_regression(np.ones((4, 2), int), np.array([0, 1, 0, 1]), 1.0)


def test_non_convergence_is_flagged_and_warned(x64):
    X, y = CANCER
    with pytest.warns(jaxl2.ConvergenceWarning, match="did not converge"):
        res = jaxl2.logistic_regression(X, y, 1e-3, max_iter=1)
    assert not bool(res.converged)
    with pytest.warns(jaxl2.ConvergenceWarning, match="for [12] of 4 members"):
        path = jaxl2.logistic_path(X, y, [1e-3, 1e-4, 10.0, 100.0], max_iter=6)
    # Strong penalties converge in a few Newton steps, the weakest needs more than 6.
    assert not bool(path.converged[0]) and bool(path.converged[2]) and bool(path.converged[3])


def test_float64_numpy_input_without_x64_uses_float32_tolerances():
    X, y = CANCER  # numpy float64; computed in float32 without x64
    res = jaxl2.logistic_regression(X, y, 0.01)
    assert res.coef.dtype == jnp.float32 and bool(res.converged)


def _kkt_l1(X, y, coef, intercept, lam2, lam1):
    """Minimum-norm subgradient of sum logloss + lam2 ||w||^2 + lam1 ||w||_1, in numpy."""
    r = expit(X @ coef + intercept) - y
    g = X.T @ r + 2 * lam2 * coef
    sub = np.where(
        coef != 0, g + lam1 * np.sign(coef), np.sign(g) * np.maximum(np.abs(g) - lam1, 0)
    )
    return np.abs(sub).max(), abs(r.sum())


@pytest.mark.parametrize("solver", ["prox_newton", "fista"])
def test_l1_matches_sklearn_liblinear_with_exact_zeros(x64, solver):
    X, y = CANCER
    C = 0.5  # liblinear, no intercept: C sum logloss + ||w||_1 = lam ||w||_1 at lam = 1 / C
    ref = LogisticRegression(C=C, l1_ratio=1.0, solver="liblinear", fit_intercept=False)
    ref.set_params(tol=1e-12, max_iter=10_000).fit(X, y)
    res = jaxl2.logistic_regression(
        X, y, 1 / C, l1_ratio=1.0, fit_intercept=False, solver=solver, max_iter=20_000
    )
    coef = np.asarray(res.coef)
    assert bool(res.converged)
    np.testing.assert_array_equal(coef == 0, ref.coef_[0] == 0)  # the same exact zeros
    # liblinear stops short of tol=1e-12 (its own criterion); the KKT check below is exact.
    np.testing.assert_allclose(coef, ref.coef_[0], atol=1e-4 * np.abs(ref.coef_).max())
    grad, _ = _kkt_l1(X, y, coef, 0.0, 0.0, 1 / C)
    assert grad <= 1e-8 * len(y)


def test_elastic_net_multinomial_satisfies_kkt(x64):
    X, y = IRIS
    lam, rho = 2.0, 0.5
    res = jaxl2.logistic_regression(X, y, lam, l1_ratio=rho)
    W, b = np.asarray(res.coef), np.asarray(res.intercept)
    z = X @ W.T + b
    R = np.exp(z - logsumexp(z, axis=1, keepdims=True)) - np.eye(3)[y]
    g = R.T @ X + 2 * lam * (1 - rho) * W
    a = lam * rho
    sub = np.where(W != 0, g + a * np.sign(W), np.sign(g) * np.maximum(np.abs(g) - a, 0))
    assert np.abs(sub).max() <= 1e-8 * len(y) and (W == 0).any()
    np.testing.assert_allclose(b.sum(), 0.0, atol=1e-12)  # symmetric intercepts


def test_sparse_bcoo_input_matches_dense(x64):
    from jax.experimental import sparse as jsparse

    X, y = CANCER
    Xs = np.where(np.abs(X) > 0.8, X, 0.0)
    B = jsparse.BCOO.fromdense(Xs)
    dense = jaxl2.logistic_regression(Xs, y, 0.5)
    for solver in ["auto", "lbfgs"]:
        sparse = jaxl2.logistic_regression(B, y, 0.5, solver=solver)
        np.testing.assert_allclose(sparse.coef, dense.coef, atol=1e-6 * np.abs(dense.coef).max())
    # With an L1 part, sparse X runs proximal Newton too (its Hessian from products): the
    # same algorithm as dense X, so the two agree to roundoff, not to a first-order stop.
    l1 = jaxl2.logistic_regression(B, y, 0.5, l1_ratio=0.5, tol=1e-10)
    ref = jaxl2.logistic_regression(Xs, y, 0.5, l1_ratio=0.5, tol=1e-10)
    np.testing.assert_allclose(l1.coef, ref.coef, rtol=1e-7, atol=1e-12)
    np.testing.assert_array_equal(np.asarray(l1.coef) == 0, np.asarray(ref.coef) == 0)
    with pytest.raises(ValueError, match="solver='newton' forms a dense Hessian"):
        jaxl2.logistic_regression(B, y, 0.5, solver="newton")


@pytest.mark.parametrize("n_classes", [2, 3])
def test_sparse_hessian_from_products_matches_closed_form(x64, n_classes):
    from jax.experimental import sparse as jsparse

    from jaxl2._linear import glm as _glm

    rng = np.random.RandomState(0)
    X = np.where(rng.rand(40, 6) < 0.4, rng.randn(40, 6), 0.0)
    y, s = rng.randint(0, n_classes, 40), rng.rand(40) + 0.5
    loss = _glm.Binomial if n_classes == 2 else _glm.Multinomial
    Y = np.asarray(y, float)[:, None] if n_classes == 2 else np.eye(3)[y]
    m = Y.shape[1]
    theta = rng.randn(7, m)
    prob = _glm.Problem(jsparse.BCOO.fromdense(X), Y, s, loss, True, n_classes > 2)
    H = np.asarray(prob.hessian_at(prob.linear(theta)))
    # numpy: sum_i s_i (x_i x_i^T) kron (diag(p_i) - p_i p_i^T), with the intercept column.
    Xa = np.hstack([X, np.ones((40, 1))])
    z = Xa @ theta
    if m == 1:
        P = 1 / (1 + np.exp(-z))
        blocks = (P * (1 - P))[:, :, None]
    else:
        P = np.exp(z - logsumexp(z, axis=1, keepdims=True))
        blocks = np.stack([np.diag(p) - np.outer(p, p) for p in P])
    ref = np.einsum("i,ij,ik,iab->jakb", s, Xa, Xa, blocks).reshape(7 * m, 7 * m)
    np.testing.assert_allclose(H, ref, rtol=1e-12, atol=1e-12)


def test_warm_start_and_zero_iterations(x64):
    X, y = IRIS
    res = jaxl2.logistic_regression(X, y, 0.1)
    again = jaxl2.logistic_regression(
        X, y, 0.1, coef_init=res.coef, intercept_init=res.intercept, max_iter=0
    )
    assert int(again.n_iter) == 0 and bool(again.converged)
    np.testing.assert_array_equal(again.coef, res.coef)
    with pytest.warns(jaxl2.ConvergenceWarning):
        zero = jaxl2.logistic_regression(X, y, 0.1, max_iter=0)
    assert not np.asarray(zero.coef).any() and int(zero.n_iter) == 0
    with pytest.raises(ValueError, match=r"coef_init must have shape \(3, 4\)"):
        jaxl2.logistic_regression(X, y, 0.1, coef_init=np.zeros(4))
    with pytest.raises(ValueError, match="l1_ratio must lie in"):
        jaxl2.logistic_regression(X, y, 0.1, l1_ratio=1.5)
    with pytest.raises(ValueError, match="solver='lbfgs' handles only the L2 penalty"):
        jaxl2.logistic_regression(X, y, 0.1, l1_ratio=0.5, solver="lbfgs")


@pytest.mark.parametrize("solver", ["newton", "lbfgs", "prox_newton"])
def test_separable_data_no_nan(x64, solver):
    # Separable: with lam > 0 the minimizer exists and is found; with lam = 0 there is none
    # (|w| grows without bound), and the solvers stop finite where the gradient is below tol.
    rng = np.random.RandomState(0)
    X = rng.randn(60, 3)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    res = jaxl2.logistic_regression(X, y, 1e-3, solver=solver)
    coef, _ = sk_fit(X, y, 1e-3)
    assert bool(res.converged)
    # The curvature is nearly 2 lam here: a gradient at tol leaves ~1e-6 of the coefficients.
    assert np.linalg.norm(np.asarray(res.coef) - coef) <= 1e-5 * np.linalg.norm(coef)
    free = jaxl2.logistic_regression(X, y, 0.0, solver=solver)
    assert np.isfinite(np.asarray(free.coef)).all() and bool(free.converged)
    r = expit(X @ np.asarray(free.coef) + float(free.intercept)) - y
    assert np.abs(X.T @ r).max() <= 1e-8 * len(y)
