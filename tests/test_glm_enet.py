"""elastic_net_path and lasso_path against scikit-learn (through jaxl2.convert) and ridge."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import ElasticNet, Lasso, enet_path

import jaxl2
from jaxl2 import convert

X_DIAB, Y_DIAB = load_diabetes(return_X_y=True)
X_DIAB = X_DIAB * 10  # unit-ish columns: coefficients of order 10-100
N = len(Y_DIAB)


def sk_path(X, y, l1_ratio_sk, alphas):
    Xc, yc = X - X.mean(0), y - y.mean()
    _, coefs, _ = enet_path(
        Xc, yc, l1_ratio=l1_ratio_sk, alphas=alphas, tol=1e-13, max_iter=200_000
    )
    return coefs.T


def np_gap(X, y, w, lam, rho, sample_weight=None):
    """Duality gap of F(w) = sum_i s_i r_i^2 + lam (rho ||w||_1 + (1 - rho) ||w||^2), in numpy.

    Twice the gap of the half objective 1/2 ||r||^2 + a ||w||_1 + b/2 ||w||^2 (a = lam rho / 2,
    b = lam (1 - rho)) on the weighted, centred data, at the better of two dual points: the
    residual rescaled into the dual feasible set (scikit-learn's cd_fast) and the residual itself
    through the penalty's conjugate (b > 0 only); as benchmarks/bench_glm.py:_enet_gap."""
    s = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight)
    root = np.sqrt(s)
    Xc = (X - s @ X / s.sum()) * root[:, None]
    yc = (y - s @ y / s.sum()) * root
    a, b = lam * rho / 2, lam * (1 - rho)
    r = yc - Xc @ w
    q = Xc.T @ r
    dual = np.abs(q - b * w).max()
    kappa = min(1.0, a / dual) if dual > 0 else 1.0
    gap = 0.5 * (1 + kappa**2) * (r @ r + b * w @ w) + a * np.abs(w).sum() - kappa * (yc @ r)
    if b > 0:
        xw = Xc @ w
        conj = np.sum(np.maximum(np.abs(q) - a, 0) ** 2) / (2 * b)
        gap_conj = 0.5 * r @ r + a * np.abs(w).sum() + 0.5 * b * w @ w - 0.5 * yc @ yc
        gap = min(gap, gap_conj + 0.5 * xw @ xw + conj)
    return 2 * max(gap, 0.0), yc @ yc


@pytest.mark.parametrize("l1_ratio_sk", [1.0, 0.5, 0.1])
@pytest.mark.parametrize("precompute", [True, False])
def test_path_matches_sklearn_enet_path(x64, l1_ratio_sk, precompute):
    alphas = np.geomspace(5.0, 0.005, 12)
    lams, rho = convert.sklearn_enet_to_lam(alphas, l1_ratio_sk, N)
    ours = jaxl2.elastic_net_path(
        X_DIAB, Y_DIAB, lams, rho, precompute=precompute, tol=1e-13, max_iter=100_000
    )
    ref = sk_path(X_DIAB, Y_DIAB, l1_ratio_sk, alphas)
    assert bool(ours.converged.all())
    np.testing.assert_allclose(ours.coef, ref, atol=1e-5 * np.abs(ref).max())
    # The L1 path's exact zeros are where scikit-learn has them.
    np.testing.assert_array_equal(np.asarray(ours.coef) == 0, ref == 0)
    assert np.any(ref == 0)


def test_elastic_net_and_lasso_with_intercept_and_weights(x64):
    sw = np.random.default_rng(0).uniform(0.5, 2.0, N)
    for l1_ratio_sk, alpha in [(0.3, 0.02), (1.0, 0.05)]:
        lam, rho = convert.sklearn_enet_to_lam(alpha, l1_ratio_sk, sw.sum())
        ours = jaxl2.elastic_net_path(
            X_DIAB, Y_DIAB, [lam], rho, sample_weight=sw, tol=1e-13, max_iter=100_000
        )
        model = ElasticNet if l1_ratio_sk < 1 else Lasso
        kw = {"l1_ratio": l1_ratio_sk} if l1_ratio_sk < 1 else {}
        sk = model(alpha=alpha, tol=1e-13, max_iter=200_000, **kw).fit(X_DIAB, Y_DIAB, sw)
        np.testing.assert_allclose(ours.coef[0], sk.coef_, atol=1e-5 * np.abs(sk.coef_).max())
        np.testing.assert_allclose(ours.intercept[0], sk.intercept_, rtol=1e-7)
    # lasso_path is l1_ratio = 1; scikit-learn's Lasso(alpha) is lam = 2 n alpha.
    lasso = jaxl2.lasso_path(X_DIAB, Y_DIAB, [2 * N * 0.05], tol=1e-13, max_iter=100_000)
    sk = Lasso(alpha=0.05, tol=1e-13, max_iter=200_000).fit(X_DIAB, Y_DIAB)
    np.testing.assert_allclose(lasso.coef[0], sk.coef_, atol=1e-5 * np.abs(sk.coef_).max())


def test_l1_ratio_zero_is_exactly_ridge(x64):
    Xc, yc = X_DIAB - X_DIAB.mean(0), Y_DIAB - Y_DIAB.mean()
    lams = np.array([0.1, 10.0, 1000.0])
    ours = jaxl2.elastic_net_path(X_DIAB, Y_DIAB, lams, 0.0, tol=1e-14, max_iter=100_000)

    def objective(w, lam):
        return np.sum((yc - Xc @ w) ** 2) + lam * w @ w

    for k, lam in enumerate(lams):
        ridge = np.linalg.solve(Xc.T @ Xc + lam * np.eye(10), Xc.T @ yc)  # ||r||^2 + lam ||w||^2
        np.testing.assert_allclose(ours.coef[k], ridge, rtol=1e-5)
        np.testing.assert_allclose(ours.intercept[k], Y_DIAB.mean() - X_DIAB.mean(0) @ ridge)
        # The duality gap certifies the objective: F(w) - F(w*) <= gap.
        excess = objective(np.asarray(ours.coef[k]), lam) - objective(ridge, lam)
        assert -1e-9 * yc @ yc <= excess <= float(ours.dual_gap[k]) + 1e-9 * yc @ yc


def test_default_grid_gap_and_order(x64):
    path = jaxl2.elastic_net_path(X_DIAB, Y_DIAB, l1_ratio=0.5, n_lams=20)
    assert path.coef.shape == (20, 10) and bool(path.converged.all())
    assert np.all(np.asarray(path.coef[0]) == 0) and np.any(np.asarray(path.coef[1]) != 0)
    Xc, yc = X_DIAB - X_DIAB.mean(0), Y_DIAB - Y_DIAB.mean()
    np.testing.assert_allclose(path.lams[0], 2 * np.abs(Xc.T @ yc).max() / 0.5)
    np.testing.assert_allclose(path.lams[-1] / path.lams[0], 1e-3)
    # The reported gap is F(w) - D(theta) at the better dual point, recomputed in numpy.
    yy = yc @ yc
    for k in (1, 5, 10, 19):
        ref, _ = np_gap(X_DIAB, Y_DIAB, np.asarray(path.coef[k]), float(path.lams[k]), 0.5)
        np.testing.assert_allclose(float(path.dual_gap[k]), ref, rtol=1e-8, atol=1e-13 * yy)
        assert float(path.dual_gap[k]) <= 1e-12 * yy
    # Results come back in the caller's order.
    shuffled = np.asarray(path.lams)[[3, 0, 7]]
    again = jaxl2.elastic_net_path(X_DIAB, Y_DIAB, shuffled, 0.5)
    np.testing.assert_allclose(again.coef, np.asarray(path.coef)[[3, 0, 7]], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("precompute", [True, False])
@pytest.mark.parametrize("l1_ratio", [1.0, 0.5, 0.0])
def test_reported_gap_at_loose_tol_equals_numpy_gap(x64, precompute, l1_ratio):
    # At tol = 1e-4 the gaps are far from 0, so the comparison checks the reported value itself.
    tol = 1e-4
    lams = np.geomspace(2000.0, 2.0, 8)
    sw = np.random.default_rng(1).uniform(0.5, 2.0, N)
    for weights in (None, sw):
        path = jaxl2.elastic_net_path(
            X_DIAB, Y_DIAB, lams, l1_ratio, sample_weight=weights, tol=tol, precompute=precompute
        )
        assert bool(path.converged.all())
        gaps = np.asarray(path.dual_gap)
        for k, lam in enumerate(lams):
            w = np.asarray(path.coef[k])
            ref, yy = np_gap(X_DIAB, Y_DIAB, w, lam, l1_ratio, weights)
            np.testing.assert_allclose(gaps[k], ref, rtol=1e-8, atol=1e-13 * yy)
        assert gaps.max() <= tol * yy
        assert gaps.max() >= 1e-3 * tol * yy  # not ~0: the stop came from the gap
        if weights is None:
            unweighted = path
    # The gap certifies the objective against scikit-learn's (tight) solution: 0 <= excess <= gap.
    Xc, yc = X_DIAB - X_DIAB.mean(0), Y_DIAB - Y_DIAB.mean()
    yy = yc @ yc
    if l1_ratio > 0:
        alphas, l1_ratio_sk = convert.lam_to_sklearn_enet(lams, l1_ratio, N)
        ref_coef = sk_path(X_DIAB, Y_DIAB, l1_ratio_sk, alphas)
    else:
        ref_coef = [np.linalg.solve(Xc.T @ Xc + lam * np.eye(10), Xc.T @ yc) for lam in lams]

    def objective(w, lam):
        return np.sum((yc - Xc @ w) ** 2) + lam * (
            l1_ratio * np.abs(w).sum() + (1 - l1_ratio) * w @ w
        )

    for k, lam in enumerate(lams):
        excess = objective(np.asarray(unweighted.coef[k]), lam) - objective(ref_coef[k], lam)
        assert -1e-9 * yy <= excess <= float(unweighted.dual_gap[k]) + 1e-9 * yy


def test_jit_and_float32():
    X32, y32 = X_DIAB.astype(np.float32), Y_DIAB.astype(np.float32)
    fit = jax.jit(lambda lams: jaxl2.elastic_net_path(X32, y32, lams, 0.5).coef)
    lams = np.array([300.0, 100.0])  # well conditioned: float32 precision shows
    coef = fit(jnp.asarray(lams, jnp.float32))
    assert coef.dtype == jnp.float32
    alphas, l1_ratio_sk = convert.lam_to_sklearn_enet(lams, 0.5, N)
    np.testing.assert_allclose(l1_ratio_sk, 1 / 3)
    ref = sk_path(X_DIAB, Y_DIAB, l1_ratio_sk, alphas)
    # float32 and tol=1e-5 certify the objective to 1e-5 ||y||^2, not the coefficients to 1e-5.
    Xc, yc = X_DIAB - X_DIAB.mean(0), Y_DIAB - Y_DIAB.mean()
    for k, lam in enumerate(lams):
        w = np.asarray(coef[k], np.float64)
        F = np.sum((yc - Xc @ w) ** 2) + lam * (0.5 * np.abs(w).sum() + 0.5 * w @ w)
        F_ref = np.sum((yc - Xc @ ref[k]) ** 2) + lam * (
            0.5 * np.abs(ref[k]).sum() + 0.5 * ref[k] @ ref[k]
        )
        assert F - F_ref <= 1e-5 * yc @ yc
    for k in range(len(lams)):  # relative to the norm: float32 depends on BLAS and threads
        assert np.linalg.norm(np.asarray(coef[k], np.float64) - ref[k]) <= 3e-2 * np.linalg.norm(
            ref[k]
        )


def test_bad_input():
    with pytest.raises(ValueError, match=r"l1_ratio must lie in \[0.0, 1.0\]"):
        jaxl2.elastic_net_path(X_DIAB, Y_DIAB, [1.0], 1.5)
    with pytest.raises(ValueError, match=r"l1_ratio must lie in \[0.0, 1.0\]"):
        jaxl2.elastic_net_path(X_DIAB, Y_DIAB, [1.0], -0.1)
    with pytest.raises(ValueError, match="lams must be non-negative"):
        jaxl2.lasso_path(X_DIAB, Y_DIAB, [1.0, -1.0])
    with pytest.raises(ValueError, match="lams=None needs l1_ratio > 0"):
        jaxl2.elastic_net_path(X_DIAB, Y_DIAB, None, 0.0)
    Xbad, ybad = X_DIAB.copy(), Y_DIAB.copy()
    Xbad[1, 2], ybad[5] = np.inf, np.nan
    with pytest.raises(ValueError, match=r"X must be finite, but X\[1, 2\]"):
        jaxl2.lasso_path(Xbad, Y_DIAB)
    with pytest.raises(ValueError, match=r"y must be finite, but y\[5\]"):
        jaxl2.lasso_path(X_DIAB, ybad)
    with pytest.raises(ValueError, match="X and y must have the same number of samples"):
        jaxl2.lasso_path(X_DIAB, Y_DIAB[:-1])
    with pytest.raises(ValueError, match="precompute must be"):
        jaxl2.lasso_path(X_DIAB, Y_DIAB, precompute="yes")
    with pytest.warns(jaxl2.ConvergenceWarning, match="elastic_net_path did not converge"):
        path = jaxl2.lasso_path(X_DIAB, Y_DIAB, [1.0], max_iter=1)
    assert not bool(path.converged[0])


def test_float64_numpy_input_without_x64_uses_float32_tolerances():
    # Without jax_enable_x64 a numpy float64 X is computed in float32: the default tolerance
    # must be float32's, or no penalty would ever converge.
    path = jaxl2.lasso_path(X_DIAB, Y_DIAB, n_lams=20)
    assert path.coef.dtype == jnp.float32
    assert bool(path.converged.all())
