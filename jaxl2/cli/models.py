"""The small models the command line trains: a one-hidden-layer MLP and a linear model.

Parameters are plain dicts (``{"hidden": {"kernel", "bias"}, "out": ...}``), so that
``jaxl2.masks.weights`` decays the kernels and leaves the biases alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax


class MLP:
    """``x → relu(x W₁ + b₁) W₂ + b₂``; He-scaled normal initialization, zero biases."""

    def __init__(self, d_in: int, hidden: int, d_out: int, classify: bool) -> None:
        self.sizes, self.classify = (d_in, hidden, d_out), classify

    def init(self, key: jax.Array) -> dict[str, Any]:
        (d, h, o), (k1, k2) = self.sizes, jax.random.split(key)
        return {
            "hidden": {
                "kernel": jax.random.normal(k1, (d, h)) * np.float32(np.sqrt(2 / d)),
                "bias": jnp.zeros(h),
            },
            "out": {
                "kernel": jax.random.normal(k2, (h, o)) * np.float32(np.sqrt(1 / h)),
                "bias": jnp.zeros(o),
            },
        }

    def predict(self, p: dict[str, Any], x: jax.Array) -> jax.Array:
        hidden = jax.nn.relu(x @ p["hidden"]["kernel"] + p["hidden"]["bias"][None, :])
        out = hidden @ p["out"]["kernel"] + p["out"]["bias"][None, :]
        return out if self.classify else out[:, 0]


class Linear:
    """``x → x W + b``; starts at zero."""

    def __init__(self, d_in: int, d_out: int, classify: bool) -> None:
        self.d_in, self.d_out, self.classify = d_in, d_out, classify

    def init(self, key: jax.Array) -> dict[str, Any]:
        del key
        return {
            "linear": {
                "kernel": jnp.zeros((self.d_in, self.d_out)),
                "bias": jnp.zeros((self.d_out,), jnp.float32),
            }
        }

    def predict(self, p: dict[str, Any], x: jax.Array) -> jax.Array:
        out = x @ p["linear"]["kernel"] + p["linear"]["bias"][None, :]
        return out if self.classify else out[:, 0]


# The largest lr·λ of the default decoupled-decay range. Each AdamW step multiplies the weights
# by 1 − lr·λ; on the bundled data sets (digits, diabetes, wine, breast cancer; MLP 128, lr 0.03,
# 500 steps) every member stayed finite up to lr·λ ≈ 0.95 and all diverged at lr·λ = 3, while
# accuracy/r2 fell off beyond lr·λ ≈ 0.3.
DECAY_LIMIT = 0.3


def decay_range(lr: float) -> tuple[float, float]:
    """Default log10 λ range of a decoupled-decay sweep: from 10⁻² up to lr·λ = DECAY_LIMIT
    (at most λ = 10²), four decades when the top is below 10²."""
    hi = min(2.0, math.log10(DECAY_LIMIT / lr))
    return min(-2.0, hi - 4.0), hi


Loss = Callable[[Any, Any], jax.Array]


def losses(model: MLP | Linear) -> tuple[Loss, dict[str, Loss]]:
    """The mean loss and the metrics: cross-entropy and accuracy, or squared error and r2."""
    if model.classify:

        def loss(p, batch):
            x, y = batch
            return optax.softmax_cross_entropy_with_integer_labels(model.predict(p, x), y).mean()

        def accuracy(p, batch):
            x, y = batch
            return jnp.mean(jnp.argmax(model.predict(p, x), -1) == y)

        return loss, {"accuracy": accuracy}

    def mse(p, batch):
        x, y = batch
        return jnp.mean((model.predict(p, x) - y) ** 2)

    def r2(p, batch):
        x, y = batch
        return 1 - jnp.sum((model.predict(p, x) - y) ** 2) / jnp.sum((y - jnp.mean(y)) ** 2)

    return mse, {"r2": r2}
