"""Diagnostics: weight norms and the rotational-equilibrium predictions of Kosson et al. 2024."""

from __future__ import annotations

import math
import warnings
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from . import masks as _masks
from ._checks import (
    at_least_float32,
    check_choice,
    check_floating,
    check_in_range,
    check_int,
    check_nonnegative,
    widest_float,
)
from ._typing import MaskLike, Params


class WeightNorms(NamedTuple):
    """Result of :func:`weight_norms`.

    Attributes:
        per_leaf: a pytree like the params holding each leaf's L2 norm ``‖w‖₂`` (all leaves).
        total: ``√(Σ ‖w‖²)`` over the masked leaves (the entries an element-wise mask selects).
    """

    per_leaf: Any
    total: jax.Array


def _sqrt0(s: jax.Array) -> jax.Array:
    # √ has an infinite derivative at 0; the double `where` keeps gradients finite there.
    # A NaN sum of squares (diverged weights) stays NaN, so a diverged run never shows norm 0.
    safe = jnp.where(s > 0, s, jnp.ones_like(s))
    return jnp.where(s > 0, jnp.sqrt(safe), jnp.where(jnp.isnan(s), s, jnp.zeros_like(s)))


def weight_norms(params: Params, mask: MaskLike = None) -> WeightNorms:
    """L2 norms of every leaf and the total norm of the masked leaves.

    ``per_leaf[k] = ‖w_k‖₂``; ``total = √(Σ_{k masked} ‖w_k‖²)``. Squares are summed in at least
    float32. Works under ``jit`` and ``vmap`` (e.g. over the members of a sweep).

    Args:
        params: a pytree of floating-point arrays.
        mask: which leaves count toward ``total`` (see :mod:`jaxl2.masks`); None counts all.

    Returns:
        A :class:`WeightNorms` ``(per_leaf, total)``.

    Raises:
        ValueError: ``mask`` does not match ``params``.
        TypeError: a leaf is not floating point.

    Examples:
        >>> import jax.numpy as jnp, jaxl2
        >>> params = {"kernel": jnp.array([[3.0, 4.0]]), "bias": jnp.array([12.0])}
        >>> norms = jaxl2.weight_norms(params, mask="weights")
        >>> norms.per_leaf["bias"], norms.total
        (Array(12., dtype=float32), Array(5., dtype=float32))
    """
    check_floating(params, "params")
    flags = jax.tree.leaves(_masks.resolve(mask, params))
    leaves, treedef = jax.tree.flatten(params)
    squares, total = [], jnp.zeros((), jnp.float32)
    for w, m in zip(leaves, flags, strict=True):
        d = jnp.asarray(w).astype(at_least_float32(jnp.result_type(w)))
        sq = d * d
        squares.append(jnp.sum(sq))
        if m is False:
            continue
        part = jnp.sum(sq) if m is True else jnp.sum(jnp.where(m, sq, jnp.zeros((), sq.dtype)))
        dt = widest_float([total.dtype, part.dtype])
        total = total.astype(dt) + part.astype(dt)
    per_leaf = jax.tree.unflatten(treedef, [_sqrt0(s) for s in squares])
    return WeightNorms(per_leaf=per_leaf, total=_sqrt0(total))


class Equilibrium(NamedTuple):
    """Result of :func:`equilibrium` (all for a scale-invariant weight vector).

    Attributes:
        angular_update: the expected angle (radians) between ``w_t`` and ``w_{t+1}``.
        norm: the expected equilibrium norm ``‖w‖`` (None when it cannot be predicted from the
            arguments given).
        steps: about how many steps it takes to reach equilibrium, ``1 / (2 · lr · rate)``
            (for coupled SGD with momentum ``m``: ``(1 − m) / (2 · lr · rate)``).
    """

    angular_update: float
    norm: float | None
    steps: float


def equilibrium(
    learning_rate: float,
    weight_decay: float,
    *,
    optimizer: str = "adamw",
    b1: float = 0.9,
    momentum: float = 0.0,
    dim: int | None = None,
    grad_norm: float | None = None,
) -> Equilibrium:
    """Rotational-equilibrium predictions of Kosson, Messmer & Jaggi (2024).

    For a weight vector whose loss is scale-invariant (followed by a normalization layer), weight
    decay and gradient noise balance, and each step rotates it by a predictable angle:

    - ``optimizer="adamw"`` (decoupled, lr-coupled decay, ``C = dim``):
      angle ``√(2 · lr · rate · (1 − β1) / (1 + β1))``, norm ``√(lr · C / (2 · rate))``;
    - ``optimizer="sgd"`` (SGD with momentum ``m`` and L2 in the gradient, i.e.
      ``torch.optim.SGD(weight_decay=rate)`` / :func:`jaxl2.coupled`): angle
      ``√(2 · lr · rate / (1 + m))``, norm ``(lr · G² / (2 · rate · (1 − m)))^(1/4)``, where ``G``
      (``grad_norm``) is the gradient norm at unit weight norm (the gradient of a scale-invariant
      loss scales as ``1 / ‖w‖``).

    Equilibrium is reached after about ``1 / (2 · lr · rate)`` steps.

    Args:
        learning_rate: the (constant) learning rate ``lr``.
        weight_decay: the decay rate in the optimizer's own convention (torch / optax).
        optimizer: ``"adamw"`` or ``"sgd"``.
        b1: Adam's first-moment decay (``"adamw"``).
        momentum: SGD momentum ``m`` (``"sgd"``).
        dim: the number of entries ``C`` of the weight vector (``"adamw"`` norm).
        grad_norm: ``G`` for the ``"sgd"`` norm.

    Returns:
        An :class:`Equilibrium` ``(angular_update, norm, steps)``.

    Raises:
        ValueError: a negative learning rate or decay, an unknown optimizer, ``b1`` or
            ``momentum`` outside ``[0, 1)``.

    Examples:
        >>> import jaxl2
        >>> eq = jaxl2.equilibrium(1e-3, 0.1, dim=512)
        >>> round(eq.angular_update, 5), round(eq.norm, 3), eq.steps
        (0.00324, 1.6, 5000.0)

    References:
        Kosson, Messmer & Jaggi, "Rotational Equilibrium: How Weight Decay Balances Learning
        Across Neural Networks", ICML 2024, Table 1.
    """
    check_choice(optimizer, "optimizer", ("adamw", "sgd"))
    check_nonnegative(learning_rate, "learning_rate")
    check_nonnegative(weight_decay, "weight_decay")
    lr, rate = float(learning_rate), float(weight_decay)
    if lr * rate <= 0:
        raise ValueError(
            f"equilibrium needs learning_rate > 0 and weight_decay > 0, got {lr} and {rate}: "
            "without decay the norm grows without bound."
        )
    dim = check_int(dim, "dim", allow_none=True, hint=" (the number of weights)")
    if grad_norm is not None:
        check_nonnegative(grad_norm, "grad_norm")
    if lr * rate > 0.5:
        warnings.warn(
            f"equilibrium assumes small steps (learning_rate · weight_decay ≪ 1), but it is "
            f"{lr * rate:g} here: the predictions are not meaningful.",
            RuntimeWarning,
            stacklevel=2,
        )
    if optimizer == "adamw":
        check_in_range(b1, "b1", 0.0, 1.0 - 1e-12)
        angle = math.sqrt(2 * lr * rate * (1 - b1) / (1 + b1))
        norm = None if dim is None else math.sqrt(lr * dim / (2 * rate))
        steps = 1 / (2 * lr * rate)
    else:
        check_in_range(momentum, "momentum", 0.0, 1.0 - 1e-12)
        angle = math.sqrt(2 * lr * rate / (1 + momentum))
        norm = (
            None if grad_norm is None else (lr * grad_norm**2 / (2 * rate * (1 - momentum))) ** 0.25
        )
        steps = (1 - momentum) / (2 * lr * rate)
    return Equilibrium(angular_update=angle, norm=norm, steps=steps)
