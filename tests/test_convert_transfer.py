"""λ-transfer helpers of jaxl2.convert against their papers' formulas."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxl2 import convert


def test_transfer_weight_decay_holds_the_epoch_timescale():
    lam, lr, b, n = 0.05, 3e-4, 128, 50_000
    tau = convert.ema_timescale(lr, lam, batch_size=b, n_train=n)
    for b2, n2, lr2 in [(256, 50_000, 3e-4), (128, 400_000, 1e-3), (64, 10_000, 1e-4)]:
        lam2 = convert.transfer_weight_decay(
            lam,
            lr,
            batch_size=b,
            n_train=n,
            new_batch_size=b2,
            new_n_train=n2,
            new_learning_rate=lr2,
        )
        np.testing.assert_allclose(
            convert.ema_timescale(lr2, lam2, batch_size=b2, n_train=n2), tau, rtol=1e-12
        )
        np.testing.assert_allclose(lam2, lam * (lr / lr2) * (b2 / b) * (n / n2), rtol=1e-12)


def test_budget_timescale_and_its_transfer():
    lam, lr, b = 0.1, 1e-3, 32
    tau = convert.ema_timescale_fraction(lr, lam, batch_size=b, n_samples=320_000)
    np.testing.assert_allclose(tau, b / (lr * lam * 320_000), rtol=1e-12)
    np.testing.assert_allclose(
        convert.ema_timescale_fraction(lr, lam, batch_size=b, steps=10_000), tau, rtol=1e-12
    )
    lam2 = convert.transfer_weight_decay_budget(
        lam,
        lr,
        batch_size=b,
        steps=10_000,
        new_batch_size=128,
        new_steps=5_000,
        new_learning_rate=2e-3,
    )
    np.testing.assert_allclose(
        convert.ema_timescale_fraction(2e-3, lam2, batch_size=128, steps=5_000), tau, rtol=1e-12
    )
    # λ_opt ∝ B at a fixed data size D (Bergsma et al.)
    np.testing.assert_allclose(
        convert.transfer_weight_decay_budget(
            lam, lr, batch_size=b, n_samples=10**6, new_batch_size=4 * b
        ),
        4 * lam,
        rtol=1e-12,
    )


def test_transfer_width_is_the_mup_rule():
    lr2, lam2 = convert.transfer_width(1e-2, 0.1, width=128, new_width=512)
    np.testing.assert_allclose([lr2, lam2], [1e-2 / 4, 0.1 * 2], rtol=1e-12)
    # the steady-state top singular value √(η/λ)·d^0.75 stays the same (Fan et al.)
    np.testing.assert_allclose(
        np.sqrt(lr2 / lam2) * 512**0.75, np.sqrt(1e-2 / 0.1) * 128**0.75, rtol=1e-12
    )


def test_transfer_helpers_work_under_jit_and_vmap():
    f = jax.jit(
        jax.vmap(
            lambda lam: convert.transfer_weight_decay(
                lam, 1e-3, batch_size=64, n_train=1000, new_n_train=4000
            )
        )
    )
    np.testing.assert_allclose(f(jnp.array([0.1, 0.4])), [0.025, 0.1], rtol=1e-6)
    g = jax.jit(lambda d: convert.transfer_width(1e-2, 0.1, width=64, new_width=d))
    np.testing.assert_allclose(g(jnp.asarray(256.0)), (2.5e-3, 0.2), rtol=1e-6)


def test_transfer_bad_input():
    with pytest.raises(ValueError, match="new_n_train must be > 0, got 0"):
        convert.transfer_weight_decay(0.1, 1e-3, batch_size=64, n_train=100, new_n_train=0)
    with pytest.raises(ValueError, match="weight_decay must be non-negative"):
        convert.transfer_weight_decay(-0.1, 1e-3, batch_size=64, n_train=100)
    with pytest.raises(ValueError, match="pass exactly one of n_samples and steps"):
        convert.ema_timescale_fraction(1e-3, 0.1, batch_size=64)
    with pytest.raises(ValueError, match="pass exactly one of new_n_samples and new_steps"):
        convert.transfer_weight_decay_budget(
            0.1, 1e-3, batch_size=8, steps=10, new_steps=5, new_n_samples=9
        )
    with pytest.raises(ValueError, match="new_width must be non-negative and finite, got -1"):
        convert.transfer_width(1e-3, 0.1, width=64, new_width=-1)
