"""jaxl2.ridge and jaxl2.tikhonov against scikit-learn, numpy closed forms, finite differences."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.linear_model import Ridge

import jaxl2
from tests._tolerance import assert_close_to_norm

SOLVERS = ["auto", "cholesky", "svd", "eigh", "cg"]
LAMS_SMALL = np.array([0.1, 1.0])
CI = os.environ.get("CI", "").lower() == "true" and os.environ.get("JAXL2_SLOW") != "1"
# (shape, fit_intercept, weighted): all 8 combinations, or under CI 4 that cover every pair.
COMBOS = [
    (shape, fit, weighted)
    for shape in [(40, 6), (12, 30)]
    for fit in (True, False)
    for weighted in (False, True)
    if not CI or (shape[0] > shape[1]) == (fit == weighted)
]


def _data(n, p, t=None, seed=0, offset=3.0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) + offset
    shape = (n,) if t is None else (n, t)
    y = rng.standard_normal(shape) + X[:, :1].reshape((n,) + (1,) * (len(shape) - 1))
    return X, y, rng


def _sklearn(X, y, lam, fit_intercept=True, sample_weight=None):
    model = Ridge(alpha=lam, fit_intercept=fit_intercept, solver="svd")
    model.fit(X, y, sample_weight=sample_weight)
    return model.coef_, np.asarray(model.intercept_)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("shape,fit_intercept,weighted", COMBOS)
def test_matches_sklearn_float64(x64, solver, shape, fit_intercept, weighted):
    X, Y, rng = _data(*shape, t=3)
    sw = rng.uniform(0.1, 3.0, shape[0]) if weighted else None
    lam = np.array([0.3, 2.0, 11.0])  # per target
    res = jaxl2.ridge(X, Y, lam, fit_intercept=fit_intercept, sample_weight=sw, solver=solver)
    coef, intercept = _sklearn(X, Y, lam, fit_intercept, sw)
    assert res.coef.dtype == jnp.float64 and res.coef.shape == (3, shape[1])
    np.testing.assert_allclose(res.coef, coef, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(res.intercept, intercept, rtol=1e-8, atol=1e-9)
    # one target, scalar strength: scikit-learn's 1-D shapes
    one = jaxl2.ridge(X, Y[:, 1], 2.0, fit_intercept=fit_intercept, sample_weight=sw, solver=solver)
    coef1, intercept1 = _sklearn(X, Y[:, 1], 2.0, fit_intercept, sw)
    assert one.coef.shape == (shape[1],) and one.intercept.shape == ()
    np.testing.assert_allclose(one.coef, coef1, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(one.intercept, intercept1, rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("solver", SOLVERS)
def test_matches_sklearn_float32(solver):
    X, y, rng = _data(60, 8, seed=1, offset=0.0)
    res = jaxl2.ridge(X.astype(np.float32), y.astype(np.float32), 1.5, solver=solver)
    coef, intercept = _sklearn(X, y, 1.5)
    assert res.coef.dtype == jnp.float32 and res.intercept.dtype == jnp.float32
    assert_close_to_norm(np.r_[res.coef, res.intercept], np.r_[coef, intercept], 1e-4)


def test_multi_target_shapes_and_column_target(x64):
    X, Y, _ = _data(20, 4, t=1)
    res = jaxl2.ridge(X, Y, 1.0)
    coef, intercept = _sklearn(X, Y, 1.0)
    # scikit-learn ravels coef_ for a one-column y; jaxl2 keeps (t, p) for every 2-D y.
    assert res.coef.shape == (1, 4) and res.intercept.shape == (1,)
    np.testing.assert_allclose(res.coef, coef.reshape(1, 4), rtol=1e-10)
    np.testing.assert_allclose(res.intercept, intercept, rtol=1e-10)
    np.testing.assert_allclose(res.predict(X)[:, 0], Ridge(1.0).fit(X, Y).predict(X), rtol=1e-10)
    res = jaxl2.ridge(X, Y[:, 0], np.array([1.0]))  # a length-1 lam with 1-D y
    np.testing.assert_allclose(res.coef, coef, rtol=1e-10)


@pytest.mark.parametrize("solver", SOLVERS)
def test_integer_weights_repeat_rows_and_zero_weights_drop_rows(x64, solver):
    X, y, rng = _data(25, 5, seed=2)
    sw = rng.integers(0, 4, 25)
    sw[:3] = [0, 2, 3]
    weighted = jaxl2.ridge(X, y, 0.7, sample_weight=sw.astype(float), solver=solver)
    repeated = jaxl2.ridge(np.repeat(X, sw, axis=0), np.repeat(y, sw), 0.7, solver=solver)
    np.testing.assert_allclose(weighted.coef, repeated.coef, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(weighted.intercept, repeated.intercept, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("solver", ["auto", "svd", "eigh", "cg"])
@pytest.mark.parametrize("shape", [(30, 6), (8, 20)], ids=["n>p", "n<p"])
def test_lam_zero_is_min_norm_lstsq_also_rank_deficient(x64, solver, shape):
    X, y, rng = _data(*shape, seed=3, offset=0.0)
    X[:, -1] = X[:, 0] - 2 * X[:, 1]  # rank deficient
    expected = np.linalg.lstsq(X, y, rcond=None)[0]
    res = jaxl2.ridge(X, y, 0.0, fit_intercept=False, solver=solver)
    assert np.all(np.isfinite(res.coef))
    tol = 1e-6 if solver in ("eigh", "cg") else 1e-9  # the Gram's eigenvalues square the error
    np.testing.assert_allclose(res.coef, expected, rtol=tol, atol=tol)


def test_lam_zero_with_intercept_is_lstsq_on_centred_data(x64):
    X, y, _ = _data(30, 5, seed=4)
    Xc, yc = X - X.mean(0), y - y.mean()
    expected = np.linalg.lstsq(Xc, yc, rcond=None)[0]
    res = jaxl2.ridge(X, y, 0.0)
    np.testing.assert_allclose(res.coef, expected, rtol=1e-9)
    np.testing.assert_allclose(res.intercept, y.mean() - X.mean(0) @ expected, rtol=1e-9)


@pytest.mark.parametrize("solver", SOLVERS)
def test_lam_to_infinity_gives_zero_coef_and_weighted_mean(x64, solver):
    X, y, rng = _data(30, 4, seed=5)
    sw = rng.uniform(0.5, 2.0, 30)
    res = jaxl2.ridge(X, y, 1e15, sample_weight=sw, solver=solver)
    np.testing.assert_allclose(res.coef, 0.0, atol=1e-10)
    np.testing.assert_allclose(res.intercept, np.average(y, weights=sw), rtol=1e-9)


@pytest.mark.parametrize("solver", ["auto", "cholesky", "svd", "eigh", "cg"])
def test_gradient_in_log_lam_matches_finite_differences(x64, solver):
    X, y, _ = _data(40, 6, seed=6)
    X_val, y_val, _ = _data(15, 6, seed=7)

    def val_loss(log_lam):
        res = jaxl2.ridge(X, y, jnp.exp(log_lam), solver=solver)
        return jnp.mean(jnp.square(y_val - res.predict(X_val)))

    def ref_loss(log_lam):  # scikit-learn refit, for the finite difference
        coef, b = _sklearn(X, y, np.exp(log_lam))
        return np.mean(np.square(y_val - X_val @ coef - b))

    h = 1e-5
    for log_lam in (np.log(0.5), np.log(20.0)):
        fd = (ref_loss(log_lam + h) - ref_loss(log_lam - h)) / (2 * h)
        grad = jax.grad(val_loss)(jnp.asarray(log_lam))
        np.testing.assert_allclose(grad, fd, rtol=1e-6)


def test_vmap_over_data_sets_matches_loop(x64):
    rng = np.random.default_rng(8)
    Xs = rng.standard_normal((7, 30, 4))
    ys = rng.standard_normal((7, 30))
    batched = jax.jit(jax.vmap(lambda X, y: jaxl2.ridge(X, y, 0.5)))(Xs, ys)
    for k in range(7):
        coef, b = _sklearn(Xs[k], ys[k], 0.5)
        np.testing.assert_allclose(batched.coef[k], coef, rtol=1e-9)
        np.testing.assert_allclose(batched.intercept[k], b, rtol=1e-9)
    # vmapped over strengths: one Gram, many solves
    lams = jnp.array([0.1, 1.0, 10.0])
    over_lam = jax.vmap(lambda lam: jaxl2.ridge(Xs[0], ys[0], lam).coef)(lams)
    for k, lam in enumerate([0.1, 1.0, 10.0]):
        np.testing.assert_allclose(over_lam[k], _sklearn(Xs[0], ys[0], lam)[0], rtol=1e-9)


def test_jit_does_not_recompile_when_lam_changes(x64):
    X, y, _ = _data(20, 3, seed=9)
    fn = jax.jit(lambda lam: jaxl2.ridge(X, y, lam).coef)
    fn(1.0)
    before = fn._cache_size()
    fn(2.0)
    fn(3.5)
    assert fn._cache_size() == before


def test_dtypes_preserved():
    X, y, _ = _data(20, 3, seed=10, offset=0.0)
    for dtype in (jnp.float32, jnp.bfloat16):
        res = jaxl2.ridge(jnp.asarray(X, dtype), jnp.asarray(y, dtype), 1.0)
        assert res.coef.dtype == dtype and res.intercept.dtype == dtype
    res = jaxl2.ridge(np.arange(12).reshape(6, 2), np.arange(6.0), 1.0)  # integer X
    assert res.coef.dtype == jnp.float32


@pytest.mark.parametrize("solver", ["auto", "cholesky"])
def test_auto_solver_choices(solver):
    from jaxl2._linear.ridge import resolve_solver

    one = jnp.asarray(1.0)
    assert resolve_solver("auto", 10, 3, jnp.float32, one) == "cholesky"
    assert resolve_solver("auto", 10, 3, jnp.float32, jnp.asarray(0.0)) == "svd"
    assert resolve_solver("auto", 10, 3, jnp.float32, jnp.arange(1.0, 11.0)) == "eigh"
    assert resolve_solver("auto", 10, 3, jnp.float32, jnp.ones(10)) == "cholesky"
    assert resolve_solver("auto", 20000, 20000, jnp.float32, one) == "cholesky"
    assert resolve_solver("auto", 30000, 30000, jnp.float32, one) == "cg"
    assert resolve_solver("auto", 20000, 20000, jnp.float64, one) == "cg"
    assert resolve_solver(solver, 5, 5, jnp.float32, jnp.asarray(0.0)) == (
        "svd" if solver == "auto" else solver
    )


@settings(max_examples=25, deadline=None)
@given(
    X=hnp.arrays(np.float64, (12, 4), elements=st.floats(-10, 10)),
    y=hnp.arrays(np.float64, (12,), elements=st.floats(-10, 10)),
    sw=hnp.arrays(np.float64, (12,), elements=st.floats(0.01, 5)),
    lam=st.floats(1e-3, 1e3),
)
def test_normal_equations_hold(X, y, sw, lam):
    with jax.enable_x64(True):
        res = jaxl2.ridge(X, y, lam, sample_weight=sw)
        xm, ym = np.average(X, axis=0, weights=sw), np.average(y, weights=sw)
        Xc, yc = X - xm, y - ym
        w = np.asarray(res.coef)
        lhs = Xc.T @ (sw * (Xc @ w)) + lam * w
        rhs = Xc.T @ (sw * yc)
        scale = np.abs(Xc.T * sw) @ np.abs(Xc) @ np.abs(w) + lam * np.abs(w) + np.abs(rhs) + 1
        assert np.all(np.abs(lhs - rhs) <= 1e-9 * scale)
        np.testing.assert_allclose(res.intercept, ym - xm @ w, rtol=1e-9, atol=1e-9 * (1 + abs(ym)))


# ---------------------------------------------------------------- tikhonov


def test_tikhonov_identity_is_ridge(x64):
    X, y, rng = _data(30, 5, seed=11)
    sw = rng.uniform(0.5, 2.0, 30)
    tk = jaxl2.tikhonov(X, y, 2.5, np.eye(5), sample_weight=sw)
    coef, b = _sklearn(X, y, 2.5, sample_weight=sw)
    np.testing.assert_allclose(tk.coef, coef, rtol=1e-9)
    np.testing.assert_allclose(tk.intercept, b, rtol=1e-9)


@pytest.mark.parametrize("solver", ["auto", "cholesky", "lstsq"])
def test_tikhonov_difference_operator_closed_form(x64, solver):
    X, Y, _ = _data(25, 8, t=2, seed=12)
    D = np.diff(np.eye(8), axis=0)
    lam = np.array([0.5, 30.0])
    res = jaxl2.tikhonov(X, Y, lam, D, solver=solver)
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    for k in range(2):
        w = np.linalg.solve(Xc.T @ Xc + lam[k] * D.T @ D, Xc.T @ Yc[:, k])
        np.testing.assert_allclose(res.coef[k], w, rtol=1e-8)
        np.testing.assert_allclose(res.intercept[k], Y[:, k].mean() - X.mean(0) @ w, rtol=1e-8)


def test_tikhonov_lam_zero_is_lstsq(x64):
    X, y, _ = _data(6, 9, seed=13, offset=0.0)
    res = jaxl2.tikhonov(X, y, 0.0, np.diff(np.eye(9), axis=0), fit_intercept=False)
    np.testing.assert_allclose(res.coef, np.linalg.lstsq(X, y, rcond=None)[0], rtol=1e-8)


# ---------------------------------------------------------------- bad input


def test_bad_shapes_name_the_argument():
    X, y, _ = _data(10, 3)
    with pytest.raises(ValueError, match="X must be a 2-D array"):
        jaxl2.ridge(X[:, 0], y, 1.0)
    with pytest.raises(ValueError, match="X and y must have the same number of samples"):
        jaxl2.ridge(X, y[:-1], 1.0)
    with pytest.raises(ValueError, match="y must be 1-D"):
        jaxl2.ridge(X, y[:, None, None], 1.0)
    with pytest.raises(ValueError, match=r"sample_weight must be a scalar or have shape \(n_"):
        jaxl2.ridge(X, y, 1.0, sample_weight=np.ones(9))
    with pytest.raises(ValueError, match="lam has shape"):
        jaxl2.ridge(X, np.stack([y, y], 1), np.ones(3))
    with pytest.raises(ValueError, match="lam must be a scalar or a 1-D array"):
        jaxl2.ridge(X, y, np.ones((1, 1)))
    with pytest.raises(ValueError, match="gamma must be a 2-D array with one column per feature"):
        jaxl2.tikhonov(X, y, 1.0, np.eye(4))
    with pytest.raises(ValueError, match="gamma must be a 2-D array"):
        jaxl2.tikhonov(X, y, 1.0, np.ones(3))
    with pytest.raises(ValueError, match="solver must be one of"):
        jaxl2.ridge(X, y, 1.0, solver="qr")


def test_bad_values_name_the_argument_and_index():
    X, y, _ = _data(10, 3)
    Y = np.stack([y, y, y], 1)
    with pytest.raises(ValueError, match=r"lam must be non-negative.*-1\.0.* at index 2"):
        jaxl2.ridge(X, Y, np.array([1.0, 2.0, -1.0]))
    with pytest.raises(ValueError, match=r"lam must be non-negative and not NaN.* at index 1"):
        jaxl2.ridge(X, Y, np.array([1.0, np.nan, 1.0]))
    with pytest.raises(ValueError, match="lam must be non-negative"):
        jaxl2.tikhonov(X, y, -1.0, np.eye(3))
    bad = X.copy()
    bad[4, 1] = np.nan
    with pytest.raises(ValueError, match=r"X must be finite, but X\[4, 1\]"):
        jaxl2.ridge(bad, y, 1.0)
    bad[4, 1] = np.inf
    with pytest.raises(ValueError, match=r"X must be finite"):
        jaxl2.ridge(bad, y, 1.0)
    bad_y = y.copy()
    bad_y[7] = np.inf
    with pytest.raises(ValueError, match=r"y must be finite, but y\[7\]"):
        jaxl2.ridge(X, bad_y, 1.0)
    sw = np.ones(10)
    sw[3] = -0.5
    with pytest.raises(ValueError, match="sample_weight must be non-negative.* at index 3"):
        jaxl2.ridge(X, y, 1.0, sample_weight=sw)
    with pytest.raises(ValueError, match="sample_weight must have at least one positive"):
        jaxl2.ridge(X, y, 1.0, sample_weight=np.zeros(10))
    gamma = np.eye(3)
    gamma[0, 0] = np.nan
    with pytest.raises(ValueError, match="gamma must be finite"):
        jaxl2.tikhonov(X, y, 1.0, gamma)


def test_traced_negative_lam_raises_at_run_time():
    X, y, _ = _data(10, 3)
    fn = jax.jit(lambda lam: jaxl2.ridge(X, y, lam).coef)
    with pytest.raises(Exception, match="lam must be non-negative"):
        jax.block_until_ready(fn(-1.0))


def test_traced_nan_data_raises_at_run_time():
    X, y, _ = _data(10, 3)
    X[2, 1] = np.nan
    with pytest.raises(Exception, match="ridge produced a non-finite result.*X or y held NaN"):
        jax.block_until_ready(jax.jit(lambda X: jaxl2.ridge(X, y, 1.0).coef)(X))
    with pytest.raises(Exception, match="ridge_path produced a non-finite result"):
        jax.block_until_ready(jax.jit(lambda X: jaxl2.ridge_path(X, y, LAMS_SMALL).coef)(X))
    # an integer or a single output alone carries the check too
    for field in ("best_index", "best_lam"):
        fn = jax.jit(lambda X, f=field: getattr(jaxl2.ridge_path(X, y, LAMS_SMALL), f))
        with pytest.raises(Exception, match="ridge_path produced a non-finite result"):
            jax.block_until_ready(fn(X))


def test_rank_deficient_lam_zero_does_not_crash():
    X = np.ones((5, 3))
    res = jaxl2.ridge(X, np.arange(5.0), 0.0)
    assert np.all(np.isfinite(res.coef)) and np.allclose(res.coef, 0.0)
