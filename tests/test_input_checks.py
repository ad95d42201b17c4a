"""Bad input found by a new-user review: each gives a clear error naming the argument and value."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxl2


@pytest.fixture
def regression():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 5))
    return X, X @ np.arange(5.0) + rng.normal(size=50)


def test_weight_norms_of_nan_weights_are_nan_not_zero():
    norms = jaxl2.weight_norms({"a": jnp.array([jnp.nan, 1.0]), "b": jnp.ones(2)})
    assert np.isnan(norms.per_leaf["a"]) and np.isnan(norms.total)
    assert float(norms.per_leaf["b"]) == pytest.approx(np.sqrt(2.0))
    assert float(jaxl2.weight_norms(jnp.zeros(3)).total) == 0.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"solver": "cg", "max_iter": 0}, "max_iter must be a positive integer or None, got 0"),
        ({"solver": "cg", "max_iter": -3}, "max_iter must be a positive integer or None, got -3"),
        ({"solver": "cg", "tol": -1.0}, "tol must be a non-negative number, got -1.0"),
        ({"solver": "cholesky", "tol": 1e-3}, "apply to solver='cg' only"),
    ],
)
def test_ridge_checks_cg_settings(regression, kwargs, message):
    X, y = regression
    with pytest.raises(ValueError, match=message):
        jaxl2.ridge(X, y, 1.0, **kwargs)


def test_ridge_cg_with_settings_matches_the_closed_form(regression):
    X, y = regression
    ref = jaxl2.ridge(X, y, 1.0, solver="svd")
    got = jaxl2.ridge(X, y, 1.0, solver="cg", tol=1e-10, max_iter=200)
    np.testing.assert_allclose(got.coef, ref.coef, rtol=1e-3, atol=1e-4)


@pytest.mark.standard_promotion
def test_schedule_mode_with_a_traced_zero_learning_rate_raises():
    w, g = jnp.array([2.0]), jnp.array([0.0])

    def first_update(lr):
        tx = jaxl2.adamw(lr, weight_decay=0.1, mode="schedule")
        return tx.update(g, tx.init(w), w)[0]

    with pytest.raises(Exception, match="divides by the initial learning rate"):
        jax.block_until_ready(jax.vmap(first_update)(jnp.array([0.0, 0.2])))
    # Positive rates: decay (lr_t / lr_0) · rate · w = 0.1 · 2 on the first step, plus Adam's 0.
    out = jax.vmap(first_update)(jnp.array([0.1, 0.2]))
    np.testing.assert_allclose(out, [[-0.2], [-0.2]], rtol=1e-6)


@pytest.mark.parametrize("path", [jaxl2.elastic_net_path, jaxl2.lasso_path])
def test_enet_grid_eps_must_be_positive(regression, path):
    X, y = regression
    kwargs = {"l1_ratio": 0.5} if path is jaxl2.elastic_net_path else {}
    with pytest.raises(ValueError, match=r"eps must lie in \(0, 1\].*got 0.0"):
        path(X, y, n_lams=3, eps=0.0, **kwargs)


@pytest.mark.parametrize("penalty", [jaxl2.l2, jaxl2.l1])
def test_penalties_need_a_scalar_lam(penalty):
    with pytest.raises(ValueError, match=r"lam must be a scalar, got shape \(2,\)"):
        penalty({"w": jnp.ones(3)}, jnp.array([1.0, 2.0]))
    # vmap over lam is the way to several strengths: Σ w² = 3 for each.
    np.testing.assert_allclose(
        jax.vmap(lambda lam: jaxl2.l2({"w": jnp.ones(3)}, lam))(jnp.array([1.0, 2.0])), [3.0, 6.0]
    )


def test_prox_checks_lam_shape_and_param_dtype():
    with pytest.raises(ValueError, match=r"lam must be a scalar, got shape \(2,\)"):
        jaxl2.prox.l1({"w": jnp.array([3.0, -3.0, 0.0])}, jnp.array([1.0, 2.0]))
    with pytest.raises(TypeError, match="params must have floating-point leaves"):
        jaxl2.prox.l1({"w": jnp.array([3, -3, 0])}, 1.0)
    with pytest.raises(TypeError, match="params must have floating-point leaves"):
        jaxl2.prox.l2({"w": jnp.ones(3, jnp.int32)}, 0.1)


def test_inner_optimizer_must_be_a_gradient_transformation():
    with pytest.raises(TypeError, match=r"inner must be an optax.GradientTransformation.*'adam'"):
        jaxl2.coupled("adam", 0.1)
    with pytest.raises(TypeError, match=r"got 0.1 \(float\)"):
        jaxl2.decoupled(0.1, 0.1, learning_rate=0.1)
    X, y = jnp.array([[1.0], [2.0]]), jnp.array([1.0, 2.0])
    with pytest.raises(TypeError, match=r"optimizer\(h\) must return an optax"):
        jaxl2.train_sweep(
            lambda key: jnp.zeros(1),
            lambda w, batch: jnp.sum((batch[0] @ w - batch[1]) ** 2),
            (X, y),
            hparams=jnp.array([0.1]),
            optimizer=lambda h: 0.1,
            steps=5,
        )


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: jaxl2.adamw(1e-3, b1=2.0), r"b1 must lie in \[0, 1\), got 2.0"),
        (lambda: jaxl2.adamw(1e-3, b2=-1.0), r"b2 must lie in \[0, 1\), got -1.0"),
        (lambda: jaxl2.adam_l2(1e-3, b1=1.0), r"b1 must lie in \[0, 1\), got 1.0"),
        (lambda: jaxl2.adamw(1e-3, eps=-1.0), "eps must be non-negative and not NaN, got -1.0"),
        (lambda: jaxl2.sgdw(0.1, momentum=-0.5), r"momentum must lie in \[0, 1\), got -0.5"),
        (lambda: jaxl2.sgdw(0.1, momentum=2.0), r"momentum must lie in \[0, 1\), got 2.0"),
    ],
)
def test_optimizer_hyperparameters_are_checked(build, message):
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.standard_promotion
def test_valid_optimizer_hyperparameters_still_match_optax():
    params = {"w": jnp.array([1.0, -2.0])}
    grads = {"w": jnp.array([0.3, 0.1])}
    ours = jaxl2.adamw(1e-2, weight_decay=0.1, b1=0.8, b2=0.99, eps=1e-6)
    ref = optax.adamw(1e-2, b1=0.8, b2=0.99, eps=1e-6, weight_decay=0.1)
    u1, _ = ours.update(grads, ours.init(params), params)
    u2, _ = ref.update(grads, ref.init(params), params)
    np.testing.assert_allclose(u1["w"], u2["w"], rtol=1e-6)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: jaxl2.elastic_net(jnp.ones(2), 1.0, None), ValueError, "l1_ratio must be"),
        (lambda: jaxl2.elastic_net(jnp.ones(2), 1.0, "a"), TypeError, "l1_ratio must be"),
        (lambda: jaxl2.ridge(np.ones((5, 2)), np.ones(5), "1"), TypeError, "lam must be a real"),
        (lambda: jaxl2.ridge_path(np.ones((5, 2)), np.ones(5), "1"), TypeError, "lams must be"),
        (lambda: jaxl2.masks.by_path(include=3), TypeError, "include must be a str"),
        (lambda: jaxl2.grid(opt=["adam", "sgd"]), TypeError, "grid axis 'opt' must hold numbers"),
        (lambda: jaxl2.equilibrium(0.1, 0.1, dim=-5), ValueError, "dim must be a positive int"),
        (lambda: jaxl2.equilibrium(0.1, 0.1, dim=0), ValueError, "dim must be a positive int"),
        (
            lambda: jaxl2.equilibrium(0.1, 0.1, optimizer="sgd", grad_norm=-1.0),
            ValueError,
            "grad_norm must be non-negative",
        ),
    ],
)
def test_errors_name_the_argument(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_equilibrium_warns_outside_the_small_step_regime():
    with pytest.warns(RuntimeWarning, match="assumes small steps"):
        jaxl2.equilibrium(10.0, 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        jaxl2.equilibrium(1e-3, 0.1)


def test_cross_validate_needs_a_scalar_score(regression):
    X, y = (jnp.asarray(a, jnp.float32) for a in regression)

    def fit(h, X, y):
        return jnp.linalg.solve(X.T @ X + h * jnp.eye(5), X.T @ y)

    with pytest.raises(ValueError, match=r"score_fn must return a scalar.*shape \(10,\)"):
        jaxl2.cross_validate(fit, lambda w, X, y: X @ w - y, X, y, jnp.array([0.1, 1.0]))


def test_c_inf_is_no_penalty():
    assert jaxl2.convert.c_to_lam(np.inf) == 0.0
    assert jaxl2.convert.c_to_lam(0.25) == pytest.approx(1.0 / (2 * 0.25))
    with pytest.raises(ValueError, match="C must be > 0"):
        jaxl2.convert.c_to_lam(0.0)
    with pytest.raises(ValueError, match="C must be non-negative and not NaN, got nan"):
        jaxl2.convert.c_to_lam(np.nan)


def test_ridge_path_and_tune_ridge_checks(regression):
    X, y = regression
    with pytest.raises(ValueError, match="ridge_path needs at least 2 samples"):
        jaxl2.ridge_path(X[:1], y[:1], jnp.array([1.0]))
    with pytest.raises(ValueError, match="steps must be a non-negative integer, got -1"):
        jaxl2.tune_ridge(X, y, steps=-1)


@pytest.mark.parametrize("solver", ["logistic", "ridge"])
def test_sparse_x_with_nan_raises_under_jit(solver):
    # check_design's finite check of a BCOO's data was dead code under jit (its result was
    # dropped): NaN in X.data gave NaN coefficients (logistic) or, silently, zeros (ridge).
    from jax.experimental import sparse

    rng = np.random.default_rng(0)
    Xd = (rng.normal(size=(20, 4)) * (rng.random((20, 4)) < 0.5)).astype(np.float32)
    y = np.arange(20) % 2
    X = sparse.BCOO.fromdense(jnp.asarray(Xd))
    if solver == "logistic":
        fit = jax.jit(
            lambda X: jaxl2.logistic_regression(X, y, 0.5, n_classes=2, solver="fista").coef
        )
    else:
        fit = jax.jit(lambda X: jaxl2.ridge(X, y.astype(np.float32), 0.5).coef)
    dense = jnp.asarray(Xd)
    ref = (
        jaxl2.logistic_regression(dense, y, 0.5).coef
        if solver == "logistic"
        else jaxl2.ridge(dense, y.astype(np.float32), 0.5).coef
    )
    ok = fit(X)  # finite data: the check costs nothing and the fit is unchanged
    # (FISTA stops at a gradient of 1e-4: the two solvers agree to ~1e-3 of the norm.)
    np.testing.assert_allclose(ok, ref, atol=1e-2 * float(jnp.linalg.norm(ref)))
    bad = sparse.BCOO((X.data.at[0].set(jnp.nan), X.indices), shape=X.shape)
    with pytest.raises(Exception, match=r"X\.data must be finite \(a traced value held NaN"):
        jax.block_until_ready(fit(bad))
