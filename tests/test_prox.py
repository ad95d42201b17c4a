"""jaxl2.prox operators and the jaxl2.proximal optax transform."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy.optimize import minimize_scalar
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Lasso

import jaxl2
from jaxl2 import convert

X_VALUES = np.array([-2.0, -0.3, 0.0, 0.1, 0.45, 1.5])


def _scalar_argmin(penalty, x, step):
    """argmin_u penalty(u) + (u - x)^2 / (2 step), by a scalar minimizer (the reference)."""
    res = minimize_scalar(
        lambda u: penalty(u) + (u - x) ** 2 / (2 * step),
        bounds=(-5, 5),
        method="bounded",
        options={"xatol": 1e-12},
    )
    return res.x


@pytest.mark.parametrize("step", [1.0, 0.3])
def test_prox_operators_are_the_argmin(x64, step):
    lam, rho, c = 0.7, 0.4, 0.2
    cases = {
        "l1": (lambda x: jaxl2.prox.l1(x, lam, step), lambda u: lam * abs(u)),
        "l2": (lambda x: jaxl2.prox.l2(x, lam, step), lambda u: lam * u**2),
        "enet": (
            lambda x: jaxl2.prox.elastic_net(x, lam, rho, step),
            lambda u: lam * (rho * abs(u) + (1 - rho) * u**2),
        ),
        "l1-center": (
            lambda x: jaxl2.prox.l1(x, lam, step, center=jnp.full_like(x, c)),
            lambda u: lam * abs(u - c),
        ),
    }
    for name, (ours, penalty) in cases.items():
        got = np.asarray(ours(jnp.asarray(X_VALUES)))
        want = [_scalar_argmin(penalty, x, step) for x in X_VALUES]
        np.testing.assert_allclose(got, want, atol=1e-7, err_msg=name)


def test_l1_prox_gives_exact_zeros_and_center():
    x = jnp.array([-0.3, 0.2, 0.5, 2.0])
    np.testing.assert_array_equal(jaxl2.prox.l1(x, 0.5), [0.0, 0.0, 0.0, 1.5])
    c = jnp.array([1.0, 1.0, 1.0, 1.0])
    shrunk = jaxl2.prox.l1(x, 0.5, center=c)
    np.testing.assert_allclose(shrunk, [0.2, 0.7, 1.0, 1.5], rtol=1e-6)
    assert float(shrunk[2]) == 1.0  # exactly the center
    np.testing.assert_allclose(jaxl2.prox.l2(x, 0.5, 2.0, center=c), c + (x - c) / 3.0)


def test_prox_masks_and_dtypes():
    params = {"dense": {"kernel": jnp.full((2, 2), 0.3, jnp.bfloat16), "bias": jnp.ones(2)}}
    out = jaxl2.prox.l1(params, 0.5, mask="weights")
    assert out["dense"]["kernel"].dtype == jnp.bfloat16
    np.testing.assert_array_equal(out["dense"]["kernel"].astype(jnp.float32), 0.0)
    np.testing.assert_array_equal(out["dense"]["bias"], 1.0)  # not a weight: unchanged
    flags = {"dense": {"kernel": False, "bias": True}}
    out = jaxl2.prox.l2(params, 0.5, mask=flags)
    np.testing.assert_array_equal(out["dense"]["kernel"], params["dense"]["kernel"])
    np.testing.assert_allclose(out["dense"]["bias"], 0.5)
    elementwise = {"dense": {"kernel": jnp.array([[True, False], [False, True]]), "bias": False}}
    out = jaxl2.prox.l1(params, 0.5, mask=elementwise)
    kept = float(jnp.bfloat16(0.3))
    np.testing.assert_array_equal(
        out["dense"]["kernel"].astype(jnp.float32), [[0.0, kept], [kept, 0.0]]
    )


def test_prox_bad_arguments():
    with pytest.raises(ValueError, match="lam must be non-negative"):
        jaxl2.prox.l1(jnp.ones(2), -1.0)
    with pytest.raises(ValueError, match="step must be non-negative"):
        jaxl2.prox.l2(jnp.ones(2), 1.0, -0.1)
    with pytest.raises(ValueError, match=r"l1_ratio must lie in \[0.0, 1.0\]"):
        jaxl2.prox.elastic_net(jnp.ones(2), 1.0, 1.5)
    with pytest.raises(ValueError, match="center must have the same tree structure"):
        jaxl2.prox.l1({"a": jnp.ones(2)}, 1.0, center={"b": jnp.ones(2)})


def test_proximal_sgd_is_ista_and_solves_the_lasso(x64):
    """chain(sgd(1/L), proximal("l1", lam, 1/L)) is ISTA; its limit is scikit-learn's Lasso."""
    X, y = load_diabetes(return_X_y=True)
    X, y = X[:, :6] - X[:, :6].mean(0), y - y.mean()
    n = len(y)
    alpha = 0.05
    lam, _ = convert.sklearn_enet_to_lam(alpha, 1.0, n)
    lr = 1.0 / (2 * np.linalg.eigvalsh(X.T @ X).max())  # 1 / Lipschitz constant of the gradient
    tx = optax.chain(optax.sgd(lr), jaxl2.proximal("l1", lam, lr))
    loss = lambda w: jnp.sum((y - X @ w) ** 2)  # noqa: E731

    @jax.jit
    def run(w):
        def step(carry, _):
            w, state = carry
            updates, state = tx.update(jax.grad(loss)(w), state, w)
            return (optax.apply_updates(w, updates), state), None

        return jax.lax.scan(step, (w, tx.init(w)), length=30_000)[0][0]

    w = run(jnp.zeros(X.shape[1]))
    sk = Lasso(alpha=alpha, fit_intercept=False, tol=1e-14, max_iter=100_000).fit(X, y)
    assert np.any(sk.coef_ == 0)
    np.testing.assert_array_equal(np.asarray(w) == 0, sk.coef_ == 0)  # the same exact zeros
    np.testing.assert_allclose(w, sk.coef_, rtol=1e-6, atol=1e-6)


@pytest.mark.standard_promotion
def test_proximal_adam_gives_true_zeros_in_a_network():
    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    X = jax.random.normal(k1, (128, 8))
    y = jnp.tanh(X[:, 0] - 2 * X[:, 1])
    params = {
        "hidden": {"kernel": 0.5 * jax.random.normal(k2, (8, 16)), "bias": jnp.zeros(16)},
        "out": {"kernel": 0.5 * jax.random.normal(k3, (16,)), "bias": jnp.zeros(())},
    }

    def loss(p):
        h = jnp.tanh(X @ p["hidden"]["kernel"] + p["hidden"]["bias"][None, :])
        return jnp.mean((h @ p["out"]["kernel"] + p["out"]["bias"] - y) ** 2)

    def train(tx, lossfn):
        def step(carry, _):
            p, state = carry
            updates, state = tx.update(jax.grad(lossfn)(p), state, p)
            return (optax.apply_updates(p, updates), state), None

        return jax.lax.scan(step, (params, tx.init(params)), length=300)[0][0]

    for opt, lr, lam in [(optax.sgd, 0.1, 1e-2), (optax.adam, 1e-2, 0.1)]:
        prox_p = train(
            optax.chain(opt(lr), jaxl2.proximal(jaxl2.l1, lam, lr, mask="weights")), loss
        )
        subgrad_p = train(opt(lr), lambda p: loss(p) + jaxl2.l1(p, lam, mask="weights"))  # noqa: B023
        assert int(jnp.sum(prox_p["hidden"]["kernel"] == 0.0)) > 20  # exact zeros
        assert int(jnp.sum(subgrad_p["hidden"]["kernel"] == 0.0)) == 0  # a subgradient: none
        assert int(jnp.sum(prox_p["hidden"]["bias"] == 0.0)) < 16  # biases are not masked in
        assert float(loss(prox_p)) < 0.01 * float(loss(params))


@pytest.mark.standard_promotion
def test_proximal_under_jit_schedules_and_inject_hyperparams():
    params = {"w": jnp.array([1.0, -0.05, 0.5])}
    grads = {"w": jnp.array([0.5, 0.0, -0.5])}
    schedule = optax.linear_schedule(0.1, 0.0, 10)
    tx = optax.chain(
        optax.sgd(schedule), jaxl2.proximal("elastic_net", 1.0, schedule, l1_ratio=0.5)
    )
    updates, _ = jax.jit(tx.update)(grads, tx.init(params), params)
    moved = params["w"] - 0.1 * grads["w"]
    expected = np.sign(moved) * np.maximum(np.abs(moved) - 0.05, 0) / (1 + 0.1)
    np.testing.assert_allclose(optax.apply_updates(params, updates)["w"], expected, rtol=1e-6)

    injected = optax.inject_hyperparams(jaxl2.proximal, static_args=("penalty",))(
        penalty="l1", lam=1.0, learning_rate=0.1
    )
    state = injected.init(params)
    updates, _ = injected.update(grads, state, params)
    # w + u = [1.5, -0.05, 0.0]; shrunk by 0.1 to [1.4, 0, 0]; updates are that minus w.
    np.testing.assert_allclose(updates["w"], [0.4, 0.05, -0.5], rtol=1e-6)
    state.hyperparams["lam"] = jnp.asarray(0.0)  # lam changed without recompiling
    updates, _ = injected.update(grads, state, params)
    np.testing.assert_allclose(updates["w"], grads["w"])  # the identity prox


def test_proximal_l2_equals_a_multiplicative_shrink():
    params = {"w": jnp.array([1.0, -2.0])}
    tx = optax.chain(optax.sgd(0.1), jaxl2.proximal(jaxl2.l2, 0.5, 0.1))
    updates, _ = tx.update({"w": jnp.zeros(2)}, tx.init(params), params)
    np.testing.assert_allclose(optax.apply_updates(params, updates)["w"], params["w"] / 1.1)


def test_proximal_bad_arguments():
    with pytest.raises(ValueError, match="penalty must be one of"):
        jaxl2.proximal("l3", 1.0, 0.1)
    with pytest.raises(ValueError, match="penalty must be one of"):
        jaxl2.proximal(jnp.abs, 1.0, 0.1)
    with pytest.raises(ValueError, match="l1_ratio is required"):
        jaxl2.proximal("elastic_net", 1.0, 0.1)
    with pytest.raises(ValueError, match=r"l1_ratio must lie in \[0.0, 1.0\]"):
        jaxl2.proximal("elastic_net", 1.0, 0.1, l1_ratio=-0.5)
    with pytest.raises(ValueError, match="l1_ratio is only used"):
        jaxl2.proximal("l1", 1.0, 0.1, l1_ratio=0.5)
    with pytest.raises(ValueError, match="lam must be non-negative"):
        jaxl2.proximal("l1", -1.0, 0.1)
    tx = jaxl2.proximal("l1", 1.0, 0.1)
    params = {"w": jnp.ones(2)}
    with pytest.raises(ValueError, match="needs the current parameters"):
        tx.update(params, tx.init(params))
    with pytest.raises(TypeError, match="floating-point leaves"):
        tx.update({"w": jnp.ones(2, int)}, tx.init(params), {"w": jnp.ones(2, int)})
