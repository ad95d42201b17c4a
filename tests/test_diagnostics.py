"""Weight norms against numpy; Kosson et al.'s equilibrium predictions against a simulation."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxl2


def test_weight_norms_match_numpy():
    rng = np.random.default_rng(0)
    params = {
        "kernel": rng.normal(size=(4, 3)).astype(np.float32),
        "bias": rng.normal(size=3).astype(np.float32),
    }
    norms = jaxl2.weight_norms(jax.tree.map(jnp.asarray, params))
    np.testing.assert_allclose(
        norms.per_leaf["kernel"], np.linalg.norm(params["kernel"]), rtol=1e-6
    )
    np.testing.assert_allclose(norms.per_leaf["bias"], np.linalg.norm(params["bias"]), rtol=1e-6)
    total = np.sqrt(np.sum(params["kernel"] ** 2) + np.sum(params["bias"] ** 2))
    np.testing.assert_allclose(norms.total, total, rtol=1e-6)
    masked = jaxl2.weight_norms(jax.tree.map(jnp.asarray, params), mask="weights")
    np.testing.assert_allclose(masked.total, np.linalg.norm(params["kernel"]), rtol=1e-6)
    elementwise = jaxl2.weight_norms(
        jax.tree.map(jnp.asarray, params),
        mask={"kernel": jnp.arange(12).reshape(4, 3) < 3, "bias": False},
    )
    np.testing.assert_allclose(elementwise.total, np.linalg.norm(params["kernel"][0]), rtol=1e-6)


def test_weight_norms_vmap_bf16_and_zero_gradient():
    stacked = {"w": jnp.stack([jnp.ones((2, 2)), 2 * jnp.ones((2, 2))])}
    out = jax.vmap(jaxl2.weight_norms)(stacked)
    np.testing.assert_allclose(out.total, [2.0, 4.0])
    bf = jaxl2.weight_norms({"w": jnp.ones((3, 3), jnp.bfloat16)})
    np.testing.assert_allclose(float(bf.total), 3.0)
    g = jax.grad(lambda p: jaxl2.weight_norms(p).total)({"w": jnp.zeros(3)})
    np.testing.assert_array_equal(np.asarray(g["w"]), 0.0)
    # away from zero the gradient of the norm is w / ||w||
    w = np.array([3.0, -4.0, 12.0], np.float32)
    g = jax.grad(lambda p: jaxl2.weight_norms(p).total)({"w": jnp.asarray(w)})
    np.testing.assert_allclose(np.asarray(g["w"]), w / np.linalg.norm(w), rtol=1e-6)


def _simulate(tx, dim, steps, seed=0):
    """A scale-invariant weight vector under random gradients orthogonal to it (norm ∝ 1/‖w‖)."""
    w0 = jax.random.normal(jax.random.key(seed), (dim,))

    def body(carry, key):
        w, state = carry
        g = jax.random.normal(key, (dim,))
        g = g - (g @ w) / (w @ w) * w
        g = g / jnp.linalg.norm(w)
        u, state = tx.update(g, state, w)
        w_new = w + u
        cos = (w @ w_new) / (jnp.linalg.norm(w) * jnp.linalg.norm(w_new))
        return (w_new, state), (jnp.arccos(jnp.clip(cos, -1.0, 1.0)), jnp.linalg.norm(w_new))

    keys = jax.random.split(jax.random.key(seed + 1), steps)
    _, (angles, norms) = jax.jit(lambda: jax.lax.scan(body, (w0, tx.init(w0)), keys))()
    tail = steps // 3
    return float(jnp.mean(angles[-tail:])), float(jnp.mean(norms[-tail:]))


@pytest.mark.standard_promotion
def test_adamw_equilibrium_against_simulation():
    lr, rate, dim = 1e-2, 0.05, 512
    pred = jaxl2.equilibrium(lr, rate, optimizer="adamw", b1=0.9, dim=dim)
    angle, norm = _simulate(jaxl2.adamw(lr, weight_decay=rate), dim, steps=int(6 * pred.steps))
    # Measured here: angle 0.95× and norm 1.13× the prediction (the same for b1 = 0 and 0.5):
    # the formulas are first-order approximations (the paper's "≈").
    assert angle == pytest.approx(pred.angular_update, rel=0.1)
    assert norm == pytest.approx(pred.norm, rel=0.2)


def test_sgd_momentum_equilibrium_against_simulation():
    lr, rate, m, dim = 0.1, 5e-4, 0.9, 512
    pred = jaxl2.equilibrium(lr, rate, optimizer="sgd", momentum=m, grad_norm=np.sqrt(dim - 1))
    tx = jaxl2.coupled(optax.sgd(lr, momentum=m), rate)  # torch.optim.SGD(weight_decay=rate)
    angle, norm = _simulate(tx, dim, steps=int(6 * pred.steps))
    assert angle == pytest.approx(pred.angular_update, rel=0.1)
    assert norm == pytest.approx(pred.norm, rel=0.1)


def test_equilibrium_bad_input():
    with pytest.raises(ValueError, match="optimizer must be one of 'adamw', 'sgd'; got 'lion'"):
        jaxl2.equilibrium(1e-3, 0.1, optimizer="lion")
    with pytest.raises(ValueError, match="weight_decay must be non-negative"):
        jaxl2.equilibrium(1e-3, -0.1)
    with pytest.raises(ValueError, match="needs learning_rate > 0 and weight_decay > 0"):
        jaxl2.equilibrium(1e-3, 0.0)
    with pytest.raises(ValueError, match=r"b1 must lie in \[0.0, "):
        jaxl2.equilibrium(1e-3, 0.1, b1=1.0)
    assert jaxl2.equilibrium(1e-3, 0.1).norm is None
