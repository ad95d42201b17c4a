"""The one input-check layer (jaxl2/_checks.py): one behaviour and one wording per mistake."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from sklearn.datasets import load_iris

import jaxl2

# ----------------------------------------------------------------------------- integers

RNG = np.random.default_rng(0)
X_REG = RNG.normal(size=(30, 4))
Y_REG = X_REG @ np.arange(4.0) + RNG.normal(size=30)


def _train(**kw):
    init = lambda h: jnp.zeros(4)  # noqa: E731
    loss = lambda w, batch: jnp.mean((batch[0] @ w - batch[1]) ** 2)  # noqa: E731
    data = (X_REG.astype(np.float32), Y_REG.astype(np.float32))
    args = dict(hparams=np.array([0.1], np.float32), optimizer=lambda h: optax.sgd(0.01), steps=2)
    return jaxl2.train_sweep(init, loss, data, **{**args, **kw})


# Each call gets an integer argument wrong twice: a float (TypeError) and a value too small
# (ValueError); the message is the same rule, naming the argument and the value.
INT_CASES = [
    ("max_iter", lambda v: jaxl2.ridge(X_REG, Y_REG, 1.0, solver="cg", max_iter=v), 1),
    ("max_iter", lambda v: jaxl2.bayesian_ridge(X_REG, Y_REG, max_iter=v), 1),
    ("steps", lambda v: jaxl2.tune_ridge(X_REG, Y_REG, steps=v), 0),
    ("steps", lambda v: _train(steps=v), 1),
    ("batch_size", lambda v: jaxl2.sweep(lambda h: h, jnp.arange(2.0), batch_size=v), 1),
    ("dim", lambda v: jaxl2.equilibrium(0.1, 0.1, dim=v), 1),
]


@pytest.mark.parametrize(("name", "call", "minimum"), INT_CASES)
def test_integer_arguments_follow_one_rule(name, call, minimum):
    with pytest.raises(TypeError, match=rf"{name} must be .*integer.*, got 2\.5\."):
        call(2.5)
    with pytest.raises(ValueError, match=rf"{name} must be .*integer.*, got {minimum - 1}\."):
        call(minimum - 1)
    with pytest.raises(TypeError, match=rf"{name} must be .*integer.*, got True\."):
        call(True)


def test_integer_rule_for_classifier_and_cv_arguments():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(TypeError, match=r"max_iter must be a non-negative integer, got 3\.0"):
        jaxl2.logistic_regression(X, y, 1.0, max_iter=3.0)
    with pytest.raises(TypeError, match=r"n_classes must be an integer >= 2 or None, got 3\.0"):
        jaxl2.logistic_regression(X, y, 1.0, n_classes=3.0)
    with pytest.raises(TypeError, match="folds must be an integer, got '5'"):
        jaxl2.cross_validate(lambda *a: 0.0, lambda *a: 0.0, X, y, np.ones(1), folds="5")


# ----------------------------------------------------------------------------- sample weights


def _iris():
    X, y = load_iris(return_X_y=True)
    return (X - X.mean(0)) / X.std(0), y


def test_scalar_sample_weight_is_every_sample_that_weight(x64):
    """scikit-learn accepts a scalar sample_weight; so does every jaxl2 solver now (the
    classifiers refused it): weight 2 on every sample is the (n,) array of twos."""
    X, y = _iris()
    fit = lambda sw: jaxl2.logistic_regression(X, y, 0.5, sample_weight=sw).coef  # noqa: E731
    np.testing.assert_allclose(fit(2.0), fit(np.full(len(y), 2.0)), rtol=1e-10, atol=1e-12)


@pytest.mark.slow
def test_scalar_sample_weight_in_the_other_solvers(x64):
    X, y = _iris()
    fits = [
        lambda sw: jaxl2.linear_svm(X, y, 0.5, sample_weight=sw).coef,
        lambda sw: jaxl2.elastic_net_path(X, X[:, 0] + y, [0.1, 1.0], 0.5, sample_weight=sw).coef,
        lambda sw: jaxl2.ridge(X, y.astype(float), 0.5, sample_weight=sw).coef,
    ]
    for fit in fits:
        np.testing.assert_allclose(fit(2.0), fit(np.full(len(y), 2.0)), rtol=1e-10, atol=1e-12)


def test_sample_weight_mistakes_have_one_wording():
    X, y = load_iris(return_X_y=True)
    for fit in (
        lambda sw: jaxl2.logistic_regression(X, y, 1.0, sample_weight=sw),
        lambda sw: jaxl2.ridge(X, y.astype(float), 1.0, sample_weight=sw),
        lambda sw: jaxl2.lasso_path(X, y.astype(float), [1.0], sample_weight=sw),
    ):
        with pytest.raises(ValueError, match=r"sample_weight must be a scalar or have shape "):
            fit(np.ones(3))
        with pytest.raises(ValueError, match="sample_weight must be non-negative and finite"):
            fit(-1.0)
        with pytest.raises(ValueError, match="at least one positive entry; all are zero"):
            fit(0.0)


def test_sample_count_mismatch_has_one_wording():
    X, y = load_iris(return_X_y=True)
    match = r"X and y must have the same number of samples, but X has shape \(150, 4\)"
    with pytest.raises(ValueError, match=match):
        jaxl2.logistic_regression(X, y[:-1], 1.0)
    with pytest.raises(ValueError, match=match):
        jaxl2.lasso_path(X, y[:-1].astype(float))
    with pytest.raises(ValueError, match=match):
        jaxl2.ridge(X, y[:-1].astype(float), 1.0)


def test_tol_has_its_own_check():
    X, y = load_iris(return_X_y=True)
    for bad, error in ((-1.0, ValueError), (float("nan"), ValueError), ("1e-3", TypeError)):
        with pytest.raises(error, match="tol must be a non-negative number"):
            jaxl2.logistic_regression(X, y, 1.0, tol=bad)
        with pytest.raises(error, match="tol must be a non-negative number"):
            jaxl2.ridge(X, y.astype(float), 1.0, solver="cg", tol=bad)
    with pytest.raises(TypeError, match="tol must be a non-negative number"):
        jaxl2.lasso_path(X, y.astype(float), tol=np.ones(2))


# ----------------------------------------------------------------------------- rates (item 7)

PARAMS = {"w": jnp.ones((3, 2)), "b": jnp.ones(2)}
TWO = jnp.array([0.1, 1.0])

# Each builds a transform from one "rate" argument; a (2,) array must fail at construction,
# naming the argument and saying how to sweep several values.
RATE_CASES = [
    ("rate", lambda r: jaxl2.weight_decay(r)),
    ("rate", lambda r: jaxl2.coupled(optax.sgd(0.1), r)),
    ("rate", lambda r: jaxl2.decoupled(optax.sgd(0.1), r, learning_rate=0.1)),
    ("learning_rate", lambda r: jaxl2.decoupled(optax.sgd(0.1), 0.1, learning_rate=r)),
    ("weight_decay", lambda r: jaxl2.adamw(1e-3, weight_decay=r)),
    ("learning_rate", lambda r: jaxl2.adamw(r)),
    ("weight_decay", lambda r: jaxl2.adams(1e-3, weight_decay=r)),
    ("weight_decay", lambda r: jaxl2.sgdw(1e-3, weight_decay=r)),
    ("learning_rate", lambda r: jaxl2.sgdw(r)),
    ("weight_decay", lambda r: jaxl2.adam_l2(1e-3, weight_decay=r)),
    ("learning_rate", lambda r: jaxl2.adam_l2(r)),
    ("rate", lambda r: jaxl2.weight_norm_control(r)),
    ("target_norm", lambda r: jaxl2.weight_norm_control(0.1, r)),
    ("rate", lambda r: jaxl2.spectral_decay(r)),
    ("learning_rate", lambda r: jaxl2.spectral_decay(0.1, learning_rate=r)),
    ("learning_rate", lambda r: jaxl2.cpr(learning_rate=r)),
    ("learning_rate", lambda r: jaxl2.adamcpr(r)),
    ("learning_rate", lambda r: jaxl2.adamwn(r)),
]


@pytest.mark.parametrize(("name", "build"), RATE_CASES)
def test_an_array_of_rates_is_refused_at_construction(name, build):
    match = rf"{name} must be a scalar or a schedule, got shape \(2,\).*jaxl2.sweep"
    with pytest.raises(ValueError, match=match):
        build(TWO)
    with pytest.raises(ValueError, match=rf"{name} must be a scalar.*jax.vmap"):
        build(np.array([0.1, 1.0]))
    build(jnp.array(0.1))  # shape () is a scalar


def test_a_list_of_rates_names_the_structure_and_the_sweep_at_init():
    tx = jaxl2.adamw(1e-3, weight_decay=[0.1, 1.0])
    with pytest.raises(ValueError, match=r"(?s)weight_decay does not match .*jaxl2.train_sweep"):
        tx.init(PARAMS)
    with pytest.raises(ValueError, match=r"(?s)rate does not match .*jax.vmap"):
        jaxl2.weight_decay([0.1, 1.0]).init(PARAMS)
    # b1 is adamw's second parameter: adamw(1e-3, [0.1, 1.0]) sets it, and is refused too.
    with pytest.raises(ValueError, match=r"b1 must be a scalar, got shape \(2,\)"):
        jaxl2.adamw(1e-3, [0.1, 1.0])
    # a per-leaf pytree that matches the params is still one rate per leaf
    tx = jaxl2.weight_decay({"w": 0.1, "b": 0.0})
    u, _ = tx.update(jax.tree.map(jnp.zeros_like, PARAMS), tx.init(PARAMS), PARAMS)
    np.testing.assert_allclose(u["w"], 0.1 * np.ones((3, 2)))
    np.testing.assert_allclose(u["b"], np.zeros(2))


@pytest.mark.standard_promotion  # optax.adam is not strict-clean
def test_several_rates_by_vmap_match_optax_one_at_a_time():
    grads = {"w": jnp.full((3, 2), 0.5), "b": jnp.array([1.0, -1.0])}

    def step(wd):
        tx = jaxl2.adamw(0.1, weight_decay=wd)
        return tx.update(grads, tx.init(PARAMS), PARAMS)[0]

    swept = jax.vmap(step)(TWO)
    for i, wd in enumerate([0.1, 1.0]):
        ref = optax.adamw(0.1, weight_decay=wd)
        with jax.numpy_dtype_promotion("standard"):  # optax's bias correction mixes dtypes
            expect = ref.update(grads, ref.init(PARAMS), PARAMS)[0]
        for k in PARAMS:
            np.testing.assert_allclose(swept[k][i], expect[k], rtol=1e-6, atol=1e-7)
    out = jaxl2.sweep(step, TWO)
    np.testing.assert_allclose(out["w"], swept["w"], rtol=1e-6, atol=1e-7)
