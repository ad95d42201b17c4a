"""Weight decay as optax transforms: coupled (L2 in the gradient) and decoupled (AdamW-style).

In an optax chain the order is the meaning: decay added *before* the preconditioner is coupled
L2 (the preconditioner rescales it); decay subtracted *after* the inner optimizer is decoupled
weight decay. Each docstring says which, and whether the decay is multiplied by the learning rate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import masks as _masks
from ._checks import (
    at_least_float32,
    broadcast_prefix,
    check_choice,
    check_floating,
    check_nonnegative,
    check_same_structure,
    check_transformation,
    is_concrete,
)

MODES = ("lr", "schedule", "constant")

_NO_PARAMS = (
    "params: weight decay needs the current parameters; call update(updates, state, params)."
)


class WeightDecayState(NamedTuple):
    """State of :func:`weight_decay`: the step count (for scheduled rates)."""

    count: jax.Array


class DecoupledState(NamedTuple):
    """State of :func:`decoupled`: the step count and the inner optimizer's state."""

    count: jax.Array
    inner_state: optax.OptState


def _is_schedule(x: Any) -> bool:
    return callable(x) and jax.tree.leaves(x) == [x]


def _rate_evaluator(rate: Any, name: str) -> Callable[[jax.Array], Any]:
    """Validates ``rate`` now where it is concrete; returns ``count -> rate value (tree)``."""
    if rate is None:
        raise ValueError(
            f"{name} must be a non-negative number, array, schedule or pytree; got None."
        )
    if _is_schedule(rate):
        return lambda count: check_nonnegative(rate(count), f"{name} (the value of the schedule)")
    if jax.tree_util.treedef_is_leaf(jax.tree.structure(rate)):
        if is_concrete(rate):
            check_nonnegative(rate, name)
            return lambda count: rate
        return lambda count: check_nonnegative(rate, name)
    for path, leaf in jax.tree_util.tree_flatten_with_path(rate)[0]:
        if not _is_schedule(leaf) and is_concrete(leaf):
            check_nonnegative(leaf, f"{name}{jax.tree_util.keystr(path)}")

    def per_leaf(count: jax.Array) -> Any:
        return jax.tree.map(
            lambda r: check_nonnegative(r(count) if _is_schedule(r) else r, name), rate
        )

    return per_leaf


def _is_static_zero(rate: Any) -> bool:
    return isinstance(rate, (int, float)) and not isinstance(rate, bool) and rate == 0


def _broadcast_rates(rates: Any, params: Any, name: str) -> list[Any]:
    """One rate per leaf of ``params`` (a scalar is shared; a pytree may be a prefix)."""
    if jax.tree_util.treedef_is_leaf(jax.tree.structure(rates)):
        return [rates] * len(jax.tree.leaves(params))
    return jax.tree.leaves(broadcast_prefix(rates, params, name))


def _center_leaves(center: Any, params: Any) -> list[Any]:
    if center is None:
        return [None] * len(jax.tree.leaves(params))
    # Under optax.partition/masked the params hold MaskedNode where another transform owns the
    # leaf; drop the matching centre leaves so a full-size centre still fits.
    if jax.tree.structure(center) != jax.tree.structure(params):
        is_masked = lambda x: isinstance(x, optax.MaskedNode)  # noqa: E731
        try:
            center = jax.tree.map(
                lambda p, c: p if is_masked(p) else c, params, center, is_leaf=is_masked
            )
        except ValueError:
            pass  # check_same_structure below names both structures.
    check_same_structure(center, params, "center", "params")
    return jax.tree.leaves(center)


def _add_decay(
    updates: Any, params: Any, *, rates: Any, mask: Any, center: Any, coef: Any, name: str
) -> Any:
    """``u + coef · rate · (w − c)`` on the leaves selected by ``mask``; other leaves unchanged."""
    if params is None:
        raise ValueError(_NO_PARAMS)
    check_floating(params, "params")
    u_leaves, treedef = jax.tree.flatten(updates)
    w_leaves = jax.tree.leaves(params)
    if len(u_leaves) != len(w_leaves):
        check_same_structure(updates, params, "updates", "params")
    flags = jax.tree.leaves(_masks.resolve(mask, params))
    rate_leaves = _broadcast_rates(rates, params, name)
    c_leaves = _center_leaves(center, params)
    out = []
    for u, w, r, m, c in zip(u_leaves, w_leaves, rate_leaves, flags, c_leaves, strict=True):
        if m is False or _is_static_zero(r):
            out.append(u)
            continue
        # The factor is formed in at least float32 so that lr · rate keeps its digits for bf16.
        dt = at_least_float32(jnp.result_type(w))
        factor = jnp.asarray(coef).astype(dt) * jnp.asarray(r).astype(dt)
        d = jnp.asarray(w).astype(dt)
        if c is not None:
            d = d - jnp.asarray(c).astype(dt)
        step = factor * d
        if m is not True:
            step = jnp.where(m, step, jnp.zeros((), dt))
        out.append(u + step.astype(jnp.result_type(u)))
    return jax.tree.unflatten(treedef, out)


def _check_mask_arg(mask: Any) -> None:
    if isinstance(mask, str):
        _masks.resolve(mask, {})  # raises for unknown strings at construction time


def weight_decay(
    rate: Any, *, mask: Any = None, center: Any = None
) -> optax.GradientTransformationExtraArgs:
    """Adds ``rate · (w − c)`` to the updates: the gradient of ``l2(params, rate / 2)``.

    Update rule: ``u ← u + rate_t · (w − c)`` on the masked leaves. Placed *before* an optimizer
    in a chain it is coupled L2 (see :func:`coupled`); placed after the optimizer's learning-rate
    scaling it is decoupled decay that is NOT multiplied by the learning rate. With
    ``center=None`` it equals ``optax.add_decayed_weights(rate, mask)``.

    Args:
        rate: a non-negative float, a scalar array (traced values are fine, so the transform can
            be built inside ``jit``/``vmap``), an optax schedule ``count -> rate``, or a pytree of
            per-leaf rates (floats, arrays or schedules) with the structure of the params or a
            prefix of it. A rate of 0 leaves the updates unchanged.
        mask: which leaves decay: None (all), ``"weights"``, a callable, or a bool pytree (see
            :mod:`jaxl2.masks`).
        center: a params-shaped pytree to decay toward (L2-SP); None decays toward zero.

    Returns:
        An ``optax.GradientTransformationExtraArgs`` whose state is :class:`WeightDecayState`.

    Raises:
        ValueError: a negative or NaN rate (a schedule's negative value raises at run time);
            ``mask``, ``center`` or a per-leaf ``rate`` tree that does not match the params;
            ``update`` called without ``params``.
        TypeError: integer params.

    Examples:
        >>> import jax.numpy as jnp, jaxl2
        >>> tx = jaxl2.weight_decay(0.1)
        >>> params = {"w": jnp.array([1.0, 2.0])}
        >>> updates, state = tx.update({"w": jnp.zeros(2)}, tx.init(params), params)
        >>> updates["w"]
        Array([0.1, 0.2], dtype=float32)

    References:
        optax ``add_decayed_weights``; Li et al. 2018 (L2-SP) for ``center``.
    """
    rate_at = _rate_evaluator(rate, "rate")
    _check_mask_arg(mask)

    def init_fn(params: Any) -> WeightDecayState:
        check_floating(params, "params")
        _masks.resolve(mask, params)  # a mask that does not fit the params raises at init
        return WeightDecayState(count=jnp.zeros([], jnp.int32))

    def update_fn(updates: Any, state: WeightDecayState, params: Any = None, **extra_args: Any):
        del extra_args
        updates = _add_decay(
            updates,
            params,
            rates=rate_at(state.count),
            mask=mask,
            center=center,
            coef=1.0,
            name="rate",
        )
        return updates, WeightDecayState(count=optax.safe_increment(state.count))

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def coupled(
    inner: optax.GradientTransformation, rate: Any, *, mask: Any = None, center: Any = None
) -> optax.GradientTransformationExtraArgs:
    """Classic (coupled) L2: adds ``rate · (w − c)`` to the gradient before ``inner`` sees it.

    Update rule: ``u = inner(g + rate · (w − c))``, i.e. ``optax.chain(weight_decay(rate), inner)``.
    The inner optimizer's preconditioner (Adam's ``1/√v̂``) rescales the decay too, and the
    learning rate multiplies it. ``coupled(optax.sgd(lr), rate)`` is SGD on
    ``loss + l2(params, rate / 2)``.

    Args:
        inner: any optax optimizer.
        rate: as in :func:`weight_decay` (float, array, schedule or per-leaf pytree).
        mask: which leaves decay (see :mod:`jaxl2.masks`).
        center: a params-shaped pytree to decay toward (L2-SP); None decays toward zero.

    Returns:
        An ``optax.GradientTransformationExtraArgs`` (an ``optax.chain``).

    Raises:
        ValueError: as :func:`weight_decay`.

    Examples:
        >>> import jax.numpy as jnp, optax, jaxl2
        >>> tx = jaxl2.coupled(optax.sgd(0.1), 0.5)
        >>> params = jnp.array([1.0, -2.0])
        >>> updates, _ = tx.update(jnp.zeros(2), tx.init(params), params)
        >>> updates  # −lr · rate · w
        Array([-0.05,  0.1 ], dtype=float32)

    References:
        Equals ``torch.optim.SGD(lr, momentum, weight_decay=rate)`` for ``inner = optax.sgd(lr,
        momentum)`` and ``torch.optim.Adam(lr, weight_decay=rate)`` for ``inner = optax.adam(lr)``.
    """
    check_transformation(inner, "inner must be", "optax.adam(1e-3)")
    return optax.chain(weight_decay(rate, mask=mask, center=center), inner)


def _check_unit(value: Any, name: str) -> None:
    """A concrete ``b1``/``b2``/``momentum`` must lie in [0, 1); traced values pass to optax."""
    if value is None or not is_concrete(value):
        return
    v = float(np.asarray(value))
    if not 0.0 <= v < 1.0:
        raise ValueError(f"{name} must lie in [0, 1), got {value!r}.")


def _learning_rate_at(
    learning_rate: Any, name: str = "learning_rate"
) -> Callable[[jax.Array], Any]:
    if _is_schedule(learning_rate):
        return lambda count: check_nonnegative(
            learning_rate(count), f"{name} (the value of the schedule)"
        )
    if is_concrete(learning_rate):
        check_nonnegative(learning_rate, name)
        return lambda count: learning_rate
    return lambda count: check_nonnegative(learning_rate, name)


def _schedule_base(learning_rate: Any, base_learning_rate: Any) -> Any:
    if base_learning_rate is not None:
        base = base_learning_rate
        name = "base_learning_rate"
    else:
        base = learning_rate(0) if _is_schedule(learning_rate) else learning_rate
        name = "learning_rate"
    if is_concrete(base):
        check_nonnegative(base, name)
        if float(np.asarray(base)) == 0.0:
            raise ValueError(
                f"mode='schedule' divides by the initial learning rate, but {name} at step 0 is "
                "0 (a warm-up schedule?). Pass base_learning_rate=<the peak learning rate>."
            )
        return base
    base = jnp.asarray(base)
    return eqx.error_if(
        base,
        ~(base > 0),
        f"mode='schedule' divides by the initial learning rate, but a traced {name} at step 0 "
        "was 0, negative or NaN. Pass base_learning_rate=<the peak learning rate>.",
    )


def decoupled(
    inner: optax.GradientTransformation,
    rate: Any,
    *,
    learning_rate: Any = None,
    mode: str = "lr",
    mask: Any = None,
    center: Any = None,
    base_learning_rate: Any = None,
) -> optax.GradientTransformationExtraArgs:
    """Decoupled weight decay for any optax optimizer: decay applied after ``inner``'s step.

    Update rule, with ``lr_t = learning_rate(t)`` (or the constant ``learning_rate``):

    - ``mode="lr"``:       ``u ← inner(g) − lr_t · rate_t · (w − c)`` (``torch.optim.AdamW``,
      ``optax.adamw``; the decay IS multiplied by the learning rate);
    - ``mode="schedule"``: ``u ← inner(g) − (lr_t / lr_0) · rate_t · (w − c)`` (Loshchilov & Hutter
      2019, Algorithm 2, with the schedule multiplier ``η_t = lr_t / lr_0``; the decay follows the
      schedule's shape but not the base learning rate);
    - ``mode="constant"``: ``u ← inner(g) − rate_t · (w − c)`` (independent of the learning rate).

    Args:
        inner: any optax optimizer (adam, lion, sgd, adafactor, ...), including its learning-rate
            scaling.
        rate: as in :func:`weight_decay` (float, array, schedule or per-leaf pytree).
        learning_rate: the float or schedule that ``inner`` uses; required for modes ``"lr"`` and
            ``"schedule"``.
        mode: ``"lr"``, ``"schedule"`` or ``"constant"``.
        mask: which leaves decay (see :mod:`jaxl2.masks`).
        center: a params-shaped pytree to decay toward (L2-SP); None decays toward zero.
        base_learning_rate: ``lr_0`` for ``mode="schedule"``; defaults to ``learning_rate`` at
            step 0. Pass it for warm-up schedules that start at 0, and under
            ``optax.inject_hyperparams``, which hands the factory the current ``lr_t`` only.

    Returns:
        An ``optax.GradientTransformationExtraArgs`` whose state is :class:`DecoupledState`.

    Raises:
        ValueError: an unknown ``mode``; ``learning_rate`` missing for modes ``"lr"`` and
            ``"schedule"``; negative or NaN rates or learning rates; trees that do not match.

    Examples:
        >>> import jax.numpy as jnp, optax, jaxl2
        >>> tx = jaxl2.decoupled(optax.sgd(0.1), 0.5, learning_rate=0.1)
        >>> params = jnp.array([1.0, -2.0])
        >>> updates, _ = tx.update(jnp.zeros(2), tx.init(params), params)
        >>> updates  # −lr · rate · w
        Array([-0.05,  0.1 ], dtype=float32)

    References:
        Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019 (Algorithms 1
        and 2). Wortsman et al., "Small-scale proxies for large-scale Transformer training
        instabilities", 2023 (independent decay).
    """
    check_choice(mode, "mode", MODES)
    if mode != "constant" and learning_rate is None:
        raise ValueError(
            f"learning_rate is required for mode={mode!r}: pass the float or schedule that the "
            "inner optimizer uses (or use mode='constant', whose decay ignores the learning rate)."
        )
    check_transformation(inner, "inner must be", "optax.adam(1e-3)")
    rate_at = _rate_evaluator(rate, "rate")
    _check_mask_arg(mask)
    inner = optax.with_extra_args_support(inner)
    if mode == "lr":
        lr_at = _learning_rate_at(learning_rate)
        coef_at = lambda count: -lr_at(count)  # noqa: E731
    elif mode == "schedule":
        lr_at = _learning_rate_at(learning_rate)
        base = _schedule_base(learning_rate, base_learning_rate)
        coef_at = lambda count: -lr_at(count) / base  # noqa: E731
    else:
        coef_at = lambda count: -1.0  # noqa: E731

    def init_fn(params: Any) -> DecoupledState:
        check_floating(params, "params")
        _masks.resolve(mask, params)  # a mask that does not fit the params raises at init
        return DecoupledState(count=jnp.zeros([], jnp.int32), inner_state=inner.init(params))

    def update_fn(updates: Any, state: DecoupledState, params: Any = None, **extra_args: Any):
        if params is None:
            raise ValueError(_NO_PARAMS)
        new_updates, inner_state = inner.update(updates, state.inner_state, params, **extra_args)
        new_updates = _add_decay(
            new_updates,
            params,
            rates=rate_at(state.count),
            mask=mask,
            center=center,
            coef=coef_at(state.count),
            name="rate",
        )
        return new_updates, DecoupledState(
            count=optax.safe_increment(state.count), inner_state=inner_state
        )

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def adamw(
    learning_rate: Any,
    weight_decay: Any = 1e-4,
    *,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    eps_root: Any = 0.0,
    mu_dtype: Any = None,
    nesterov: bool = False,
    mode: str = "lr",
    mask: Any = None,
    center: Any = None,
    base_learning_rate: Any = None,
) -> optax.GradientTransformationExtraArgs:
    """Adam with decoupled weight decay: ``decoupled(optax.adam(lr, ...), weight_decay)``.

    Update rule (``mode="lr"``, the default):
    ``u = −lr_t · (m̂ / (√v̂ + eps) + weight_decay · (w − c))``, the same as ``optax.adamw`` and
    ``torch.optim.AdamW(lr, weight_decay=weight_decay)``. Modes ``"schedule"`` and ``"constant"``
    are as in :func:`decoupled`.

    Args:
        learning_rate: a float or an optax schedule.
        weight_decay: the decay rate (float, array, schedule or per-leaf pytree). optax's default
            1e-4 (PyTorch's AdamW default is 1e-2).
        b1, b2, eps, eps_root, mu_dtype, nesterov: as in ``optax.adam``.
        mode: ``"lr"``, ``"schedule"`` or ``"constant"`` (see :func:`decoupled`).
        mask: which leaves decay; ``"weights"`` skips biases and normalization parameters.
        center: a params-shaped pytree to decay toward (L2-SP); None decays toward zero.
        base_learning_rate: ``lr_0`` for ``mode="schedule"`` (see :func:`decoupled`).

    Returns:
        An ``optax.GradientTransformationExtraArgs``.

    Examples:
        >>> import jax.numpy as jnp, jaxl2
        >>> tx = jaxl2.adamw(0.1, weight_decay=0.5, mask="weights")
        >>> params = {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)}
        >>> grads = {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)}
        >>> updates, _ = tx.update(grads, tx.init(params), params)
        >>> updates["kernel"][0, 0], updates["bias"][0]  # −0.1 · (1 + 0.5 · 1), −0.1 · 1
        (Array(-0.15, dtype=float32), Array(-0.1, dtype=float32))

    References:
        Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019.
    """
    _check_unit(b1, "b1")
    _check_unit(b2, "b2")
    check_nonnegative(eps, "eps")
    check_nonnegative(eps_root, "eps_root")
    inner = optax.adam(
        learning_rate,
        b1=b1,
        b2=b2,
        eps=eps,
        eps_root=eps_root,
        mu_dtype=mu_dtype,
        nesterov=nesterov,
    )
    return decoupled(
        inner,
        weight_decay,
        learning_rate=learning_rate,
        mode=mode,
        mask=mask,
        center=center,
        base_learning_rate=base_learning_rate,
    )


def sgdw(
    learning_rate: Any,
    weight_decay: Any = 1e-4,
    *,
    momentum: Any = None,
    nesterov: bool = False,
    mode: str = "lr",
    mask: Any = None,
    center: Any = None,
    base_learning_rate: Any = None,
) -> optax.GradientTransformationExtraArgs:
    """SGD (with optional momentum) and decoupled weight decay.

    Update rule (``mode="lr"``): ``m ← momentum · m + g``; ``u = −lr_t · m − lr_t · weight_decay ·
    (w − c)``. With ``mode="schedule"`` the decay is ``η_t · weight_decay · (w − c)``,
    ``η_t = lr_t / lr_0`` (Loshchilov & Hutter 2019, Algorithm 1, SGDW).

    Args:
        learning_rate: a float or an optax schedule.
        weight_decay: the decay rate (float, array, schedule or per-leaf pytree).
        momentum, nesterov: as in ``optax.sgd``.
        mode: ``"lr"``, ``"schedule"`` or ``"constant"`` (see :func:`decoupled`).
        mask: which leaves decay (see :mod:`jaxl2.masks`).
        center: a params-shaped pytree to decay toward (L2-SP); None decays toward zero.
        base_learning_rate: ``lr_0`` for ``mode="schedule"`` (see :func:`decoupled`).

    Returns:
        An ``optax.GradientTransformationExtraArgs``.

    Examples:
        >>> import jax.numpy as jnp, jaxl2
        >>> tx = jaxl2.sgdw(0.1, weight_decay=0.5)
        >>> params = jnp.array([2.0])
        >>> updates, _ = tx.update(jnp.array([1.0]), tx.init(params), params)
        >>> updates  # −0.1 · 1 − 0.1 · 0.5 · 2
        Array([-0.2], dtype=float32)

    References:
        Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019, Algorithm 1.
    """
    _check_unit(momentum, "momentum")
    inner = optax.sgd(learning_rate, momentum=momentum, nesterov=nesterov)
    return decoupled(
        inner,
        weight_decay,
        learning_rate=learning_rate,
        mode=mode,
        mask=mask,
        center=center,
        base_learning_rate=base_learning_rate,
    )


def adam_l2(
    learning_rate: Any,
    weight_decay: Any = 1e-4,
    *,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    eps_root: Any = 0.0,
    mu_dtype: Any = None,
    nesterov: bool = False,
    mask: Any = None,
    center: Any = None,
) -> optax.GradientTransformationExtraArgs:
    """Adam with classic (coupled) L2: ``coupled(optax.adam(lr, ...), weight_decay)``.

    Update rule: Adam on ``g + weight_decay · (w − c)``, i.e. the gradient of ``loss +
    l2(params, weight_decay / 2)``; the decay is rescaled by Adam's ``1/√v̂``. The same as
    ``torch.optim.Adam(lr, weight_decay=weight_decay)``. There is no ``mode``: a coupled penalty
    always goes through the learning rate and the preconditioner.

    Args:
        learning_rate: a float or an optax schedule.
        weight_decay: the L2 rate (float, array, schedule or per-leaf pytree).
        b1, b2, eps, eps_root, mu_dtype, nesterov: as in ``optax.adam``.
        mask: which leaves decay (see :mod:`jaxl2.masks`).
        center: a params-shaped pytree to decay toward (L2-SP); None decays toward zero.

    Returns:
        An ``optax.GradientTransformationExtraArgs``.

    Examples:
        >>> import jax.numpy as jnp, jaxl2
        >>> tx = jaxl2.adam_l2(0.1, weight_decay=0.5)
        >>> params = jnp.array([2.0])
        >>> updates, _ = tx.update(jnp.array([0.0]), tx.init(params), params)
        >>> updates  # Adam's first step is −lr · sign(g + 0.5 · w)
        Array([-0.1], dtype=float32)

    References:
        ``torch.optim.Adam(weight_decay=...)``; Loshchilov & Hutter, "Decoupled Weight Decay
        Regularization", ICLR 2019 (Adam with L2, against which AdamW is contrasted).
    """
    _check_unit(b1, "b1")
    _check_unit(b2, "b2")
    check_nonnegative(eps, "eps")
    check_nonnegative(eps_root, "eps_root")
    inner = optax.adam(
        learning_rate,
        b1=b1,
        b2=b2,
        eps=eps,
        eps_root=eps_root,
        mu_dtype=mu_dtype,
        nesterov=nesterov,
    )
    return coupled(inner, weight_decay, mask=mask, center=center)


__all__ = [
    "weight_decay",
    "coupled",
    "decoupled",
    "adamw",
    "sgdw",
    "adam_l2",
    "WeightDecayState",
    "DecoupledState",
]
