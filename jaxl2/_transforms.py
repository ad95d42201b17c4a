"""Weight decay as optax transforms: coupled (L2 in the gradient) and decoupled (AdamW-style).

In an optax chain the order is the meaning: decay added *before* the preconditioner is coupled
L2 (the preconditioner rescales it); decay subtracted *after* the inner optimizer is decoupled
weight decay. Each docstring says which, and whether the decay is multiplied by the learning rate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ._typing import ArrayLike, DTypeLike, MaskLike, Params, ScalarOrSchedule

try:  # optax.adamw's middle state for a scheduled rate (not exported by optax 0.2.8)
    # The fallback class below has the same fields.
    from optax.transforms._adding import WeightDecaySchedule  # pyright: ignore[reportAssignmentType]
except ImportError:  # pragma: no cover

    class WeightDecaySchedule(NamedTuple):  # pyright: ignore[reportAssignmentType]  # fallback
        count: jax.Array


from . import masks as _masks
from ._checks import (
    at_least_float32,
    broadcast_prefix,
    check_choice,
    check_nonnegative,
    check_rate,
    check_same_structure,
    check_scalar,
    check_transformation,
    first_leaf_not,
    is_concrete,
    is_schedule,
)
from ._checks import error_if as _error_if

MODES = ("lr", "schedule", "constant", "corrected")

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


# A schedule that ends at 0 can give -1.5e-9 under jit (optax.linear_schedule(0.1, 0.0, 10)
# fuses to a multiply-add): only a value below this is an error.
_SCHEDULE_ROUNDOFF = 1e-6


def _check_schedule_value(value: Any, name: str) -> Any:
    """A schedule's value checked at run time: NaN or below ``-_SCHEDULE_ROUNDOFF`` raises."""
    what = f"{name} (the value of the schedule)"
    if is_concrete(value):
        v = np.asarray(value)
        if np.any(np.isnan(v) | (v < -_SCHEDULE_ROUNDOFF)):
            return check_nonnegative(value, what)
        return value
    arr = jnp.asarray(value)
    return _error_if(
        arr,
        jnp.isnan(arr) | (arr < -_SCHEDULE_ROUNDOFF),
        f"{what} must be non-negative and not NaN (a traced value was negative or NaN).",
    )


def _rate_evaluator(rate: Any, name: str) -> Callable[[jax.Array | None], Any]:
    """Validates ``rate`` now where it is concrete; returns ``count -> rate value (tree)``."""
    if rate is None:
        raise ValueError(
            f"{name} must be a non-negative number, array, schedule or pytree; got None."
        )
    if is_schedule(rate):
        return lambda count: _check_schedule_value(rate(count), name)
    if jax.tree_util.treedef_is_leaf(jax.tree.structure(rate)):
        if is_concrete(rate):
            check_nonnegative(rate, name)
            check_rate(rate, name)
            return lambda count: rate
        check_rate(rate, name)
        return lambda count: check_nonnegative(rate, name)
    for path, leaf in jax.tree_util.tree_flatten_with_path(rate)[0]:
        if not is_schedule(leaf) and is_concrete(leaf):
            check_nonnegative(leaf, f"{name}{jax.tree_util.keystr(path)}")
    check_rate(rate, name)

    def per_leaf(count: jax.Array | None) -> Any:
        return jax.tree.map(
            lambda r: (
                _check_schedule_value(r(count), name)
                if is_schedule(r)
                else check_nonnegative(r, name)
            ),
            rate,
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


def _has_schedule(rate: Any) -> bool:
    return any(is_schedule(leaf) for leaf in jax.tree.leaves(rate, is_leaf=is_schedule))


def _check_decayed_leaves(params: Any, flags: list[Any]) -> None:
    """TypeError for a leaf that decays but is not floating point (real or complex)."""
    bad = first_leaf_not(jnp.inexact, params, flags)
    if bad is not None:
        raise TypeError(
            f"params must have floating-point leaves (real or complex) where weight decay "
            f"applies, but leaf {bad[0]} has dtype {bad[1]}. Leave it out with mask= (e.g. "
            "mask='weights'), or cast it: jax.tree.map(lambda x: x.astype(jnp.float32), "
            "params)."
        )


def _keep_cautious(direction: Any, w: Any, sign: int) -> jax.Array:
    """``sign · Re(direction · conj(w)) ≥ 0``: where the step and the parameter agree in sign."""
    with jax.numpy_dtype_promotion("standard"):  # Adam's first moment may be wider than w
        prod = direction * jnp.conj(w) if jnp.iscomplexobj(w) else direction * w
        prod = jnp.real(prod)
        zero = jnp.zeros((), prod.dtype)
        return prod >= zero if sign > 0 else prod <= zero


def _add_decay(
    updates: Any,
    params: Any,
    *,
    rates: Any,
    mask: Any,
    center: Any,
    coef: Any,
    name: str,
    cautious: bool = False,
    cautious_sign: int = 1,
    directions: Any = None,
    optax_arithmetic: bool = False,
) -> Any:
    """``u + coef · rate · (w − c)`` on the leaves selected by ``mask``; other leaves unchanged.

    ``coef=None`` with ``optax_arithmetic=True`` is ``optax.add_decayed_weights``'s ``g + s * p``
    op for op (so an alias built on it is bit-for-bit optax's). With ``cautious`` the decay is
    kept only where ``cautious_sign · Re(d · conj(w)) ≥ 0``, ``d`` the leaf of ``directions``
    (default: the updates themselves).
    """
    if params is None:
        raise ValueError(_NO_PARAMS)
    is_none = lambda x: x is None  # noqa: E731
    u_leaves, treedef = jax.tree.flatten(updates, is_leaf=is_none)
    w_leaves = jax.tree.leaves(params)
    if len(u_leaves) != len(w_leaves):
        check_same_structure(updates, params, "updates", "params")
    flags = jax.tree.leaves(_masks.resolve(mask, params))
    _check_decayed_leaves(params, flags)
    rate_leaves = _broadcast_rates(rates, params, name)
    c_leaves = _center_leaves(center, params)
    d_leaves = u_leaves if directions is None else jax.tree.leaves(directions, is_leaf=is_none)
    out = []
    for u, w, r, m, c, d in zip(
        u_leaves, w_leaves, rate_leaves, flags, c_leaves, d_leaves, strict=True
    ):
        if u is None or m is False or _is_static_zero(r):
            out.append(u)
            continue
        if optax_arithmetic:
            # optax's promotion (a weak Python rate takes the parameter's dtype; a float32 rate
            # times bfloat16 parameters gives float32 updates, as in optax.adamw).
            with jax.numpy_dtype_promotion("standard"):
                s = r if coef is None else r * coef
                step = s * (w if c is None else w - c)
                if cautious:
                    step = jnp.where(_keep_cautious(d, w, cautious_sign), step, 0)
                if m is not True:
                    step = jnp.where(m, step, 0)
                out.append(u + step)
            continue
        # The factor is formed in at least float32 so that lr · rate keeps its digits for bf16.
        dt = at_least_float32(jnp.result_type(w))
        real_dt = jnp.finfo(dt).dtype
        factor = (jnp.asarray(coef).astype(real_dt) * jnp.asarray(r).astype(real_dt)).astype(dt)
        x = jnp.asarray(w).astype(dt)
        if c is not None:
            x = x - jnp.asarray(c).astype(dt)
        step = factor * x
        if cautious:
            step = jnp.where(_keep_cautious(d, w, cautious_sign), step, jnp.zeros((), dt))
        if m is not True:
            step = jnp.where(m, step, jnp.zeros((), dt))
        out.append(u + step.astype(jnp.result_type(u)))
    return jax.tree.unflatten(treedef, out)


def _check_mask_arg(mask: Any) -> None:
    if isinstance(mask, str):
        _masks.resolve(mask, {})  # raises for unknown strings at construction time


def weight_decay(
    rate: ScalarOrSchedule, mask: MaskLike = None, *, center: Params | None = None
) -> optax.GradientTransformationExtraArgs:
    """Adds ``rate · (w − c)`` to the updates: the gradient of ``l2(params, rate / 2)``.

    Update rule: ``u ← u + rate_t · (w − c)`` on the masked leaves. Placed *before* an optimizer
    in a chain it is coupled L2 (see :func:`coupled`); placed after the optimizer's learning-rate
    scaling it is decoupled decay that is NOT multiplied by the learning rate. With
    ``center=None`` it is ``optax.add_decayed_weights(rate, mask)`` op for op (same arguments in
    the same order, the same numbers; ``None`` updates or ``None`` leaves pass through).

    Args:
        rate: a non-negative float, a scalar array (traced values are fine, so the transform can
            be built inside ``jit``/``vmap``), an optax schedule ``count -> rate``, or a pytree of
            per-leaf rates (floats, arrays or schedules) with the structure of the params or a
            prefix of it. A rate of 0 leaves the updates unchanged.
        mask: which leaves decay: None (all), ``"weights"``, a callable, or a bool pytree (see
            :mod:`jaxl2.masks`). Leaves left out may be integers.
        center: a params-shaped pytree to decay toward (L2-SP); None decays toward zero.

    Returns:
        An ``optax.GradientTransformationExtraArgs`` whose state is :class:`WeightDecayState`.

    Raises:
        ValueError: a negative or NaN rate (a schedule's negative value raises at run time);
            ``mask``, ``center`` or a per-leaf ``rate`` tree that does not match the params;
            ``update`` called without ``params``.
        TypeError: integer params where the decay applies.

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
    scheduled = _has_schedule(rate)
    _check_mask_arg(mask)

    def init_fn(params: Any) -> WeightDecayState:
        check_rate(rate, "rate", params)
        _check_decayed_leaves(params, jax.tree.leaves(_masks.resolve(mask, params)))
        return WeightDecayState(count=jnp.zeros([], jnp.int32))

    def update_fn(updates: Any, state: Any, params: Any = None, **extra_args: Any):
        del extra_args
        if params is None:
            raise ValueError(_NO_PARAMS)
        # optax's own tests hand a constant-rate transform any state (even 0): read it only
        # when the rate is scheduled.
        count = state.count if scheduled else None
        if isinstance(state, WeightDecayState):
            # optax.safe_increment is annotated to return ArrayLike; it returns an Array.
            state = WeightDecayState(count=optax.safe_increment(state.count))  # pyright: ignore[reportArgumentType]
        if updates is None:
            return None, state
        updates = _add_decay(
            updates,
            params,
            rates=rate_at(count),
            mask=mask,
            center=center,
            coef=None,
            name="rate",
            optax_arithmetic=True,
        )
        return updates, state

    # optax types `update` as TransformUpdateFn over OptState; ours takes its own state type.
    return optax.GradientTransformationExtraArgs(init_fn, update_fn)  # pyright: ignore[reportArgumentType]


def coupled(
    inner: optax.GradientTransformation,
    rate: ScalarOrSchedule,
    *,
    mask: MaskLike = None,
    center: Params | None = None,
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
    if value is None:
        return
    check_scalar(value, name)
    if not is_concrete(value):
        return
    v = float(np.asarray(value))
    if not 0.0 <= v < 1.0:
        raise ValueError(f"{name} must lie in [0, 1), got {value!r}.")


def _learning_rate_at(
    learning_rate: Any, name: str = "learning_rate"
) -> Callable[[jax.Array], Any]:
    check_rate(learning_rate, name, per_leaf=False)
    if is_schedule(learning_rate):
        return lambda count: _check_schedule_value(learning_rate(count), name)
    if is_concrete(learning_rate):
        check_nonnegative(learning_rate, name)
        return lambda count: learning_rate
    return lambda count: check_nonnegative(learning_rate, name)


def _positive(value: Any, name: str, why: str) -> Any:
    """``value`` checked > 0 (now when concrete, at run time when traced); ``why`` explains."""
    if is_concrete(value):
        check_nonnegative(value, name)
        if np.any(np.asarray(value) == 0):
            raise ValueError(f"{name} must be > 0, got {value!r}: {why}")
        return value
    value = jnp.asarray(value)
    return _error_if(value, ~(value > 0), f"a traced {name} was 0, negative or NaN: {why}")


def _schedule_base(learning_rate: Any, base_learning_rate: Any, purpose: str) -> Any:
    """``lr_0``: ``base_learning_rate``, else the learning rate (a schedule's value at step 0)."""
    if base_learning_rate is not None:
        base = base_learning_rate
        name = "base_learning_rate"
    else:
        base = learning_rate(0) if is_schedule(learning_rate) else learning_rate
        name = "learning_rate"
    if is_concrete(base):
        check_nonnegative(base, name)
        if float(np.asarray(base)) == 0.0:
            raise ValueError(
                f"{purpose} divides by the initial learning rate, but {name} at step 0 is "
                "0 (a warm-up schedule?). Pass base_learning_rate=<the peak learning rate>."
            )
        return base
    base = jnp.asarray(base)
    return _error_if(
        base,
        ~(base > 0),
        f"{purpose} divides by the initial learning rate, but a traced {name} at step 0 "
        "was 0, negative or NaN. Pass base_learning_rate=<the peak learning rate>.",
    )


def _max_learning_rate(learning_rate: Any, max_learning_rate: Any) -> Any:
    """γ_max of ``mode="corrected"``: given, or a non-warming-up schedule's value at step 0."""
    why = "mode='corrected' divides the decay by the peak learning rate."
    if max_learning_rate is not None:
        return _positive(max_learning_rate, "max_learning_rate", why)
    if not is_schedule(learning_rate):
        raise ValueError(
            "mode='corrected' scales the decay by lr_t² / max_learning_rate and needs a "
            f"learning-rate schedule, but learning_rate is the constant {learning_rate!r} (with "
            "which it is mode='lr'). Pass a schedule, e.g. learning_rate=optax."
            "cosine_decay_schedule(1e-3, 10_000), or max_learning_rate=<the peak> (as under "
            "optax.inject_hyperparams, which hands the factory the current value)."
        )
    lr0, lr1 = learning_rate(0), learning_rate(1)
    if is_concrete((lr0, lr1)):
        v0, v1 = float(np.asarray(lr0)), float(np.asarray(lr1))
        if not v0 > 0 or v1 > v0:
            raise ValueError(
                "mode='corrected' takes max_learning_rate from the schedule's value at step 0, "
                f"but the schedule warms up (learning_rate(0) = {v0:.4g}, learning_rate(1) = "
                f"{v1:.4g}). Pass max_learning_rate=<the peak learning rate>."
            )
        return lr0
    lr0 = jnp.asarray(lr0)
    return _error_if(
        lr0,
        ~(lr0 > 0) | (jnp.asarray(lr1) > lr0),
        "mode='corrected': a traced schedule warms up or starts at 0. Pass "
        "max_learning_rate=<the peak learning rate>.",
    )


def _reference_lr(mode: str, learning_rate: Any, base: Any, peak: Any) -> Any:
    """The learning rate at which ``timescale`` is defined: the decay per step is then 1/τ."""
    if mode == "lr":
        return _schedule_base(learning_rate, base, "timescale= with mode='lr'")
    if mode == "corrected":
        return peak
    return 1.0


def _rate_from_timescale(
    timescale: Any, rate: Any, default: Any, rate_name: str, reference: Any
) -> Any:
    """λ = 1 / (τ · η_ref): the rate whose decay per step at the reference lr is 1/τ."""
    # optax.inject_hyperparams passes the default weight_decay too, as a float32 array (traced
    # inside jit): a traced value cannot be told from the default, and timescale then wins.
    is_leaf = jax.tree_util.treedef_is_leaf(jax.tree.structure(rate)) and not is_schedule(rate)
    is_default = rate is default or (
        default is not None
        and is_leaf
        and np.ndim(rate) == 0
        and (not is_concrete(rate) or np.float32(np.asarray(rate)) == np.float32(default))
    )
    if not is_default:
        raise ValueError(
            f"pass either {rate_name} or timescale, not both (got {rate_name}={rate!r} and "
            f"timescale={timescale!r}); timescale=τ sets {rate_name} = 1 / (τ · lr)."
        )
    if is_schedule(timescale) or not jax.tree_util.treedef_is_leaf(jax.tree.structure(timescale)):
        raise TypeError(
            f"timescale must be a positive number or scalar array (steps), got {timescale!r}."
        )
    check_scalar(timescale, "timescale")
    tau = _positive(timescale, "timescale", "the decay per step is 1/timescale.")
    if isinstance(reference, (int, float)) and isinstance(tau, (int, float)):
        return 1.0 / (tau * reference)
    with jax.numpy_dtype_promotion("standard"):
        return 1.0 / (jnp.asarray(tau) * reference)


def _mode_coefficient(mode: str, learning_rate: Any, base: Any, peak: Any) -> Callable[[Any], Any]:
    """``lr_t -> c_t``, the factor on ``rate · (w − c)`` beyond the learning rate itself.

    The decay subtracted per step is ``lr_t · c_t · rate · (w − c)``: c = 1 (``"lr"``),
    1/lr_0 (``"schedule"``), lr_t/γ_max (``"corrected"``); ``"constant"`` is handled apart.
    """
    if mode == "lr":
        return lambda lr_t: None
    if mode == "schedule":
        lr0 = _schedule_base(learning_rate, base, "mode='schedule'")
        return lambda lr_t: 1.0 / jnp.asarray(lr0)
    if mode == "corrected":
        return lambda lr_t: jnp.asarray(lr_t) / jnp.asarray(peak)
    raise AssertionError(mode)  # pragma: no cover


def _validate_mode(mode: str, learning_rate: Any) -> None:
    check_choice(mode, "mode", MODES)
    if mode != "constant" and learning_rate is None:
        raise ValueError(
            f"learning_rate is required for mode={mode!r}: pass the float or schedule that the "
            "inner optimizer uses (or use mode='constant', whose decay ignores the learning rate)."
        )


def _check_cautious(cautious: Any) -> None:
    if not isinstance(cautious, (bool, np.bool_)):
        raise TypeError(f"cautious must be True or False, got {cautious!r}.")


def decoupled(
    inner: optax.GradientTransformation,
    rate: ScalarOrSchedule | None = None,
    *,
    learning_rate: ScalarOrSchedule | None = None,
    mode: Literal["lr", "schedule", "constant", "corrected"] = "lr",
    mask: MaskLike = None,
    center: Params | None = None,
    base_learning_rate: ScalarOrSchedule | None = None,
    max_learning_rate: ScalarOrSchedule | None = None,
    cautious: bool = False,
    timescale: ScalarOrSchedule | None = None,
) -> optax.GradientTransformationExtraArgs:
    """Decoupled weight decay for any optax optimizer: decay applied after ``inner``'s step.

    Update rule, with ``lr_t = learning_rate(t)`` (or the constant ``learning_rate``):

    - ``mode="lr"``:       ``u ← inner(g) − lr_t · rate_t · (w − c)`` (``torch.optim.AdamW``,
      ``optax.adamw``; the decay IS multiplied by the learning rate);
    - ``mode="schedule"``: ``u ← inner(g) − (lr_t / lr_0) · rate_t · (w − c)`` (Loshchilov & Hutter
      2019, Algorithm 2, with the schedule multiplier ``η_t = lr_t / lr_0``; the decay follows the
      schedule's shape but not the base learning rate);
    - ``mode="constant"``: ``u ← inner(g) − rate_t · (w − c)`` (independent of the learning rate);
    - ``mode="corrected"``: ``u ← inner(g) − (lr_t² / γ_max) · rate_t · (w − c)`` (AdamC,
      Defazio et al. 2025: on layers followed by a normalization the decay ∝ lr_t² keeps the
      weight norms steady as the schedule anneals; ``mask`` chooses the layers). ``γ_max`` is
      ``max_learning_rate``, by default the schedule's value at step 0 (as pytorch-optimizer's
      ``AdamC`` takes its initial lr); a warm-up schedule needs it passed. (``AdamC`` gives the
      layers it does not mark ``normalized`` the plain ``lr_t · λ`` decay: mirror that with
      ``optax.partition`` over a ``mode="corrected"`` and a ``mode="lr"`` optimizer.)

    With ``cautious=True`` (cautious weight decay, Chen et al. 2025) the decay applies only where
    the optimizer's step and the parameter agree in sign: writing ``inner(g) = −lr_t · u_t``,
    ``x ← x − lr_t · (u_t + rate_t · 1[u_t ⊙ x ≥ 0] ⊙ x)`` (mode ``"lr"``; the other modes change
    the coefficient alike). For complex parameters the test is ``Re(u_t · conj(x)) ≥ 0``.

    ``timescale=τ`` sets the rate from the EMA timescale of Wang & Aitchison 2024 instead:
    ``rate = 1 / (τ · lr_0)`` in mode ``"lr"`` (``lr_0`` as for ``"schedule"``), ``1 / τ`` in
    modes ``"schedule"`` and ``"constant"``, ``1 / (τ · γ_max)`` in mode ``"corrected"``; so at
    the base learning rate each step removes ``1/τ`` of ``w − c`` and the weights average the
    last ~τ updates.

    Args:
        inner: any optax optimizer (adam, lion, sgd, adafactor, ...), including its learning-rate
            scaling.
        rate: as in :func:`weight_decay` (float, array, schedule or per-leaf pytree). Required
            unless ``timescale`` is given.
        learning_rate: the float or schedule that ``inner`` uses; required for every mode but
            ``"constant"``.
        mode: ``"lr"``, ``"schedule"``, ``"constant"`` or ``"corrected"``.
        mask: which leaves decay (see :mod:`jaxl2.masks`).
        center: a params-shaped pytree to decay toward (L2-SP); None decays toward zero.
        base_learning_rate: ``lr_0`` for ``mode="schedule"`` and ``timescale``; defaults to
            ``learning_rate`` at step 0. Pass it for warm-up schedules that start at 0, and under
            ``optax.inject_hyperparams``, which hands the factory the current ``lr_t`` only.
        max_learning_rate: ``γ_max`` for ``mode="corrected"`` (see above).
        cautious: decay only where the update and the parameter agree in sign.
        timescale: the EMA timescale ``τ`` in steps (a positive float or scalar array), in place
            of ``rate``.

    Returns:
        An ``optax.GradientTransformationExtraArgs`` whose state is :class:`DecoupledState`.

    Raises:
        ValueError: an unknown ``mode``; ``learning_rate`` missing; ``mode="corrected"`` without
            a schedule or ``max_learning_rate``, or with a warm-up schedule and no
            ``max_learning_rate``; both or neither of ``rate`` and ``timescale``; negative or NaN
            rates or learning rates; trees that do not match.

    Examples:
        >>> import jax.numpy as jnp, optax, jaxl2
        >>> tx = jaxl2.decoupled(optax.sgd(0.1), 0.5, learning_rate=0.1)
        >>> params = jnp.array([1.0, -2.0])
        >>> updates, _ = tx.update(jnp.zeros(2), tx.init(params), params)
        >>> updates  # −lr · rate · w
        Array([-0.05,  0.1 ], dtype=float32)
        >>> tx = jaxl2.decoupled(optax.sgd(0.1), 0.5, learning_rate=0.1, cautious=True)
        >>> updates, _ = tx.update(jnp.array([1.0, 1.0]), tx.init(params), params)
        >>> updates  # −lr · g, and −lr · rate · w only where g · w ≥ 0
        Array([-0.15, -0.1 ], dtype=float32)

    References:
        Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019 (Algorithms 1
        and 2). Wortsman et al., "Small-scale proxies for large-scale Transformer training
        instabilities", 2023 (independent decay). Defazio et al., "Why Gradients Rapidly
        Increase Near the End of Training", arXiv 2506.02285 (corrected decay, AdamC). Chen et
        al., "Cautious Weight Decay", arXiv 2510.12402. Wang & Aitchison, "How to set AdamW's
        weight decay as you scale model and dataset size", arXiv 2405.13698 (timescale).
    """
    _validate_mode(mode, learning_rate)
    _check_cautious(cautious)
    check_transformation(inner, "inner must be", "optax.adam(1e-3)")
    peak = _max_learning_rate(learning_rate, max_learning_rate) if mode == "corrected" else None
    if timescale is not None:
        reference = _reference_lr(mode, learning_rate, base_learning_rate, peak)
        rate = _rate_from_timescale(timescale, rate, None, "rate", reference)
    rate_at = _rate_evaluator(rate, "rate")
    _check_mask_arg(mask)
    inner = optax.with_extra_args_support(inner)
    if mode == "constant":
        coef_at = lambda count: -1.0  # noqa: E731
    else:
        lr_at = _learning_rate_at(learning_rate)
        factor_of = _mode_coefficient(mode, learning_rate, base_learning_rate, peak)

        def coef_at(count: jax.Array) -> Any:
            lr_t = lr_at(count)
            factor = factor_of(lr_t)
            if factor is None:
                return -lr_t
            with jax.numpy_dtype_promotion("standard"):
                return -lr_t * factor

    def init_fn(params: Any) -> DecoupledState:
        check_rate(rate, "rate", params)
        _check_decayed_leaves(params, jax.tree.leaves(_masks.resolve(mask, params)))
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
            cautious=cautious,
            cautious_sign=-1,  # inner's output is −lr_t · u_t
        )
        return new_updates, DecoupledState(
            # optax.safe_increment is annotated to return ArrayLike; it returns an Array.
            count=optax.safe_increment(state.count),  # pyright: ignore[reportArgumentType]
            inner_state=inner_state,
        )

    # optax types `update` as TransformUpdateFn over OptState; ours takes its own state type.
    return optax.GradientTransformationExtraArgs(init_fn, update_fn)  # pyright: ignore[reportArgumentType]


def _decay_state(scheduled: bool, masked: bool) -> Any:
    """The middle state of ``optax.adamw``'s chain: add_decayed_weights', masked or not."""
    state = WeightDecaySchedule(count=jnp.zeros([], jnp.int32)) if scheduled else optax.EmptyState()
    return optax.MaskedState(inner_state=state) if masked else state


_SMALL_LEAF = 1 << 16  # entries; smaller leaves may be reduced together (_stable_factor)


def _stable_factor(adam_state: Any, b2: Any, eps: Any, eps_root: Any) -> jax.Array:
    """``1 / (√(v̄_t + eps_root) + eps)``, v̄_t the mean of the bias-corrected ``v̂`` over all
    parameters (AdamS; pytorch-optimizer's ``AdamS`` adds eps to the square root the same way)."""
    leaves = [x for x in jax.tree.leaves(adam_state.nu) if jnp.issubdtype(x.dtype, jnp.inexact)]
    dt = at_least_float32(jnp.result_type(*leaves)) if leaves else jnp.dtype(jnp.float32)
    # One sum per large leaf; the small leaves (biases, norm scales: under 2^16 entries and at
    # most 1/16 of the largest leaf) concatenated into one vector and summed once: reduced one
    # by one, each cost two fused ops (a 10-layer model's 20 small leaves: 40 ops for 0.2% of
    # the entries). The copy is a few kilobytes.
    limit = min(_SMALL_LEAF, max((x.size for x in leaves), default=0) // 16 + 1)
    small = [x.astype(dt).ravel() for x in leaves if x.size < limit]
    partial = [jnp.sum(x.astype(dt)) for x in leaves if x.size >= limit]
    if small:
        # the barrier keeps XLA from splitting the sum of a concatenation back into one sum
        # per piece (its algebraic simplifier rewrites reduce(concatenate) that way)
        partial.append(jnp.sum(jax.lax.optimization_barrier(jnp.concatenate(small))))
    total = jnp.sum(jnp.stack(partial)) if partial else jnp.zeros((), dt)
    n = sum(x.size for x in leaves)
    with jax.numpy_dtype_promotion("standard"):
        count = adam_state.count.astype(dt)
        v_bar = total / n / (1 - jnp.asarray(b2).astype(dt) ** count)
        return (1 / (jnp.sqrt(v_bar + eps_root) + eps)).astype(dt)


def _decoupled_chain(
    first: optax.GradientTransformation,
    learning_rate: Any,
    weight_decay: Any,
    *,
    mode: str,
    mask: Any,
    center: Any,
    cautious: bool,
    base_learning_rate: Any,
    max_learning_rate: Any,
    timescale: Any,
    stable: Callable[[Any], Any] | None = None,
    direction: Callable[[Any, Any], Any] | None = None,
) -> optax.GradientTransformationExtraArgs:
    """``chain(first, decay, scale_by_learning_rate(learning_rate))``: optax.adamw's shape.

    The state is optax's three-element tuple ``(first's state, EmptyState or
    WeightDecaySchedule (MaskedState(...) with a mask), EmptyState or ScaleByScheduleState)``,
    and mode ``"lr"`` does optax's arithmetic op for op, so an optax checkpoint restores into it
    and the updates are bit-for-bit optax's. The other modes scale the middle term by
    ``c_t`` (see :func:`_mode_coefficient`); ``"constant"`` adds its decay after the learning
    rate; ``stable(first_state)`` multiplies in AdamS's ``1/√v̄``. ``direction(first_state,
    grads)`` is a tree with the sign of ``first``'s output, for the cautious test.
    """
    _validate_mode(mode, learning_rate)
    _check_cautious(cautious)
    peak = _max_learning_rate(learning_rate, max_learning_rate) if mode == "corrected" else None
    if timescale is not None:
        reference = _reference_lr(mode, learning_rate, base_learning_rate, peak)
        weight_decay = _rate_from_timescale(
            timescale, weight_decay, 1e-4, "weight_decay", reference
        )
    rate_at = _rate_evaluator(weight_decay, "weight_decay")
    scheduled_rate = _has_schedule(weight_decay)
    lr_schedule = is_schedule(learning_rate)
    if not lr_schedule:
        _learning_rate_at(learning_rate)  # validates a concrete learning rate now
    _check_mask_arg(mask)
    factor_of = (
        None
        if mode == "constant"
        else _mode_coefficient(mode, learning_rate, base_learning_rate, peak)
    )
    first = optax.with_extra_args_support(first)
    last = optax.scale_by_learning_rate(learning_rate)

    def init_fn(params: Any) -> tuple[Any, Any, Any]:
        check_rate(weight_decay, "weight_decay", params)
        _check_decayed_leaves(params, jax.tree.leaves(_masks.resolve(mask, params)))
        return (
            first.init(params),
            _decay_state(scheduled_rate, mask is not None),
            last.init(params),
        )

    def update_fn(updates: Any, state: Any, params: Any = None, **extra_args: Any):
        if updates is None:
            raise ValueError(
                "updates is None: this optimizer needs the gradients, update(grads, state, params)."
            )
        if params is None:
            raise ValueError(_NO_PARAMS)
        first_state, decay_state, last_state = state
        inner = decay_state.inner_state if mask is not None else decay_state
        rates = rate_at(inner.count if scheduled_rate else None)
        if scheduled_rate:
            # optax.safe_increment is annotated to return ArrayLike; it returns an Array.
            inner = WeightDecaySchedule(count=optax.safe_increment(inner.count))  # pyright: ignore[reportArgumentType]
            decay_state = optax.MaskedState(inner_state=inner) if mask is not None else inner
        u, first_state = first.update(updates, first_state, params, **extra_args)
        if mode == "constant":
            factor = None
        else:
            lr_t = learning_rate(last_state.count) if lr_schedule else learning_rate
            # factor_of is None only in mode "constant", the branch above.
            factor = factor_of(lr_t)  # pyright: ignore[reportOptionalCall]
        if stable is not None:
            s = stable(first_state)
            with jax.numpy_dtype_promotion("standard"):
                factor = s if factor is None else factor * s
        decay = dict(rates=rates, mask=mask, center=center, name="weight_decay", cautious=cautious)
        signs = u if direction is None or not cautious else direction(first_state, updates)
        if mode == "constant":
            u, last_state = last.update(u, last_state, params)
            coef = -1.0 if factor is None else -factor
            u = _add_decay(u, params, coef=coef, directions=signs, **decay)
        else:
            u = _add_decay(u, params, coef=factor, optax_arithmetic=True, directions=signs, **decay)
            u, last_state = last.update(u, last_state, params)
        return u, (first_state, decay_state, last_state)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def _check_adam_args(b1: Any, b2: Any, eps: Any, eps_root: Any) -> None:
    _check_unit(b1, "b1")
    _check_unit(b2, "b2")
    check_nonnegative(eps, "eps")
    check_nonnegative(eps_root, "eps_root")


def _adam(learning_rate, b1, b2, eps, eps_root, mu_dtype, nesterov) -> Any:  # noqa: ANN001
    """``optax.adam`` with optax.adamw's parameters (adam_l2's, adamcpr's and adamwn's Adam)."""
    return optax.adam(
        learning_rate, b1=b1, b2=b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype,
        nesterov=nesterov,
    )  # fmt: skip


def _adam_signs(b1: Any, nesterov: bool) -> Callable[[Any, Any], Any]:
    """A tree with the sign of Adam's step ``m̂ / (√v̂ + ε)``: its numerator ``m̂``.

    The cautious test ``u ⊙ x ≥ 0`` could read Adam's step itself, but that step then has two
    users and XLA (on CPU) writes it to memory instead of fusing it: a 10M-parameter step ran
    1.9× optax.adamw's. The numerator is recomputed from the stored moment as optax computes it
    (``scale_by_adam``), and dividing by the positive ``√v̂ + ε`` does not change a sign.
    """

    def signs(state: Any, grads: Any) -> Any:
        if not nesterov:
            return state.mu
        with jax.numpy_dtype_promotion("standard"):
            return jax.tree.map(
                lambda m, g: b1 * m + (1 - b1) * g,
                optax.tree.bias_correction(state.mu, b1, optax.safe_increment(state.count)),
                optax.tree.bias_correction(grads, b1, state.count),
            )

    return signs


def _adam_decoupled(
    learning_rate: Any, weight_decay: Any, adam: tuple, decay: dict, **extra: Any
) -> optax.GradientTransformationExtraArgs:
    """:func:`_decoupled_chain` over optax's ``scale_by_adam``: the body of adamw and adams.

    ``adam`` is ``(b1, b2, eps, eps_root, mu_dtype, nesterov)``, ``decay`` and ``extra`` the
    keywords of :func:`_decoupled_chain`.
    """
    b1, b2, eps, eps_root, mu_dtype, nesterov = adam
    _check_adam_args(b1, b2, eps, eps_root)
    first = optax.scale_by_adam(
        b1=b1, b2=b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype, nesterov=nesterov
    )
    direction = _adam_signs(b1, nesterov)
    return _decoupled_chain(
        first, learning_rate, weight_decay, **decay, direction=direction, **extra
    )


def adamw(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: DTypeLike | None = None,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: MaskLike = None,
    *,
    nesterov: bool = False,
    mode: Literal["lr", "schedule", "constant", "corrected"] = "lr",
    center: Params | None = None,
    cautious: bool = False,
    base_learning_rate: ScalarOrSchedule | None = None,
    max_learning_rate: ScalarOrSchedule | None = None,
    timescale: ScalarOrSchedule | None = None,
) -> optax.GradientTransformationExtraArgs:
    """Adam with decoupled weight decay: ``optax.adamw``'s call, state and numbers, and more.

    Update rule (``mode="lr"``, the default):
    ``u = −lr_t · (m̂ / (√v̂ + eps) + weight_decay · (w − c))``, the same as ``optax.adamw`` and
    ``torch.optim.AdamW(lr, weight_decay=weight_decay)``. Modes ``"schedule"``, ``"constant"``
    and ``"corrected"`` (AdamC), ``cautious`` and ``timescale`` are as in :func:`decoupled`.

    A drop-in for ``optax.adamw``: the same parameters in the same order (``jaxl2.adamw(lr,
    0.9)`` sets ``b1``, as in optax), built the same way,
    ``chain(scale_by_adam, decay, scale_by_learning_rate)``, so the state is optax's
    three-element tuple (an ``optax.adamw`` checkpoint restores into it) and, without the
    jaxl2 keywords, the updates are optax's bit for bit.

    Args:
        learning_rate: a float or an optax schedule.
        b1, b2, eps, eps_root, mu_dtype: as in ``optax.adamw``.
        weight_decay: the decay rate (float, array, schedule or per-leaf pytree). optax's default
            1e-4 (PyTorch's AdamW default is 1e-2).
        mask: which leaves decay: None (all), ``"weights"`` (skips biases and normalization
            parameters), a callable or a bool pytree (see :mod:`jaxl2.masks`).
        nesterov: Nesterov momentum, as in ``optax.adamw`` (``optax.nadamw``).
        mode: ``"lr"``, ``"schedule"``, ``"constant"`` or ``"corrected"`` (see :func:`decoupled`).
        center: a params-shaped pytree to decay toward (L2-SP); None decays toward zero.
        cautious: decay only where the Adam step and the parameter agree in sign (Chen et al.).
        base_learning_rate: ``lr_0`` for ``mode="schedule"`` and ``timescale``.
        max_learning_rate: ``γ_max`` for ``mode="corrected"``.
        timescale: the EMA timescale ``τ`` in steps (a positive float or scalar array), in place
            of ``weight_decay`` (leave that at its default): see :func:`decoupled`.

    Returns:
        An ``optax.GradientTransformationExtraArgs`` with ``optax.adamw``'s state tree.

    Raises:
        ValueError: as :func:`decoupled`; ``b1``/``b2`` outside [0, 1); negative ``eps``.

    Examples:
        >>> import jax.numpy as jnp, jaxl2
        >>> tx = jaxl2.adamw(0.1, weight_decay=0.5, mask="weights")
        >>> params = {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)}
        >>> grads = {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)}
        >>> updates, _ = tx.update(grads, tx.init(params), params)
        >>> updates["kernel"][0, 0], updates["bias"][0]  # −0.1 · (1 + 0.5 · 1), −0.1 · 1
        (Array(-0.15, dtype=float32), Array(-0.1, dtype=float32))
        >>> [type(s).__name__ for s in tx.init(params)]  # optax.adamw(..., mask=...)'s state
        ['ScaleByAdamState', 'MaskedState', 'EmptyState']

    References:
        Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019; optax
        ``adamw``. For the modes and keywords, see :func:`decoupled`.
    """
    adam = (b1, b2, eps, eps_root, mu_dtype, nesterov)
    decay = dict(mode=mode, mask=mask, center=center, cautious=cautious, timescale=timescale)
    limits = dict(base_learning_rate=base_learning_rate, max_learning_rate=max_learning_rate)
    return _adam_decoupled(learning_rate, weight_decay, adam, {**decay, **limits})


def adams(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: DTypeLike | None = None,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: MaskLike = None,
    *,
    nesterov: bool = False,
    mode: Literal["lr", "schedule", "constant", "corrected"] = "lr",
    center: Params | None = None,
    cautious: bool = False,
    base_learning_rate: ScalarOrSchedule | None = None,
    max_learning_rate: ScalarOrSchedule | None = None,
) -> optax.GradientTransformationExtraArgs:
    """AdamS: Adam with stable weight decay, the decay divided by the root mean second moment.

    Update rule (``mode="lr"``), with ``v̄_t = mean(v̂_t)`` over every entry of every parameter
    (masked-out leaves included, as in the paper and pytorch-optimizer):
    ``u = −lr_t · (m̂ / (√v̂ + eps) + weight_decay · (w − c) / (√(v̄_t + eps_root) + eps))``.
    AdamW's decay ``lr · λ · w`` shrinks the weights by a fixed fraction while Adam's own step
    is ``lr · m̂/√v̂``; dividing the decay by ``√v̄`` puts both on the same scale, so the
    effective decay does not grow as the gradients (and ``v̂``) shrink. The other modes,
    ``cautious`` and ``center`` change the decay as in :func:`decoupled` (``"constant"`` is
    pytorch-optimizer's ``fixed_decay=True``). Parameters and state are ``optax.adamw``'s.

    Args:
        learning_rate: a float or an optax schedule.
        b1, b2, eps, eps_root, mu_dtype: as in ``optax.adamw``.
        weight_decay: the decay rate (float, array, schedule or per-leaf pytree); the paper's
            and pytorch-optimizer's default 1e-4.
        mask: which leaves decay (see :mod:`jaxl2.masks`).
        nesterov: Nesterov momentum, as in ``optax.adamw``.
        mode: ``"lr"``, ``"schedule"``, ``"constant"`` or ``"corrected"`` (see :func:`decoupled`).
        center: a params-shaped pytree to decay toward (L2-SP); None decays toward zero.
        cautious: decay only where the Adam step and the parameter agree in sign.
        base_learning_rate: ``lr_0`` for ``mode="schedule"``.
        max_learning_rate: ``γ_max`` for ``mode="corrected"``.

    Returns:
        An ``optax.GradientTransformationExtraArgs`` with ``optax.adamw``'s state tree.

    Raises:
        ValueError: as :func:`adamw`.

    Examples:
        >>> import jax.numpy as jnp, jaxl2
        >>> tx = jaxl2.adams(0.1, weight_decay=0.5, eps=0.0)
        >>> params = {"w": jnp.array([2.0]), "b": jnp.array([0.0])}
        >>> grads = {"w": jnp.array([3.0]), "b": jnp.array([1.0])}
        >>> updates, _ = tx.update(grads, tx.init(params), params)
        >>> round(float(updates["w"][0]), 5)  # v̄ = (9 + 1)/2 = 5: −0.1 · (1 + 0.5 · 2 / √5)
        -0.14472

    References:
        Xie, Sato & Sugiyama, "On the Overlooked Pitfalls of Weight Decay and How to Mitigate
        Them: A Gradient-Norm Perspective" (stable weight decay, AdamS), NeurIPS 2023,
        arXiv 2011.11152, Algorithm 2. pytorch-optimizer ``AdamS``.
    """
    adam = (b1, b2, eps, eps_root, mu_dtype, nesterov)
    decay = dict(mode=mode, mask=mask, center=center, cautious=cautious, timescale=None)
    limits = dict(base_learning_rate=base_learning_rate, max_learning_rate=max_learning_rate)
    stable = lambda state: _stable_factor(state, b2, eps, eps_root)  # noqa: E731
    return _adam_decoupled(learning_rate, weight_decay, adam, {**decay, **limits}, stable=stable)


def sgdw(
    learning_rate: ScalarOrSchedule,
    momentum: ArrayLike | None = None,
    nesterov: bool = False,
    accumulator_dtype: DTypeLike | None = None,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: MaskLike = None,
    *,
    mode: Literal["lr", "schedule", "constant", "corrected"] = "lr",
    center: Params | None = None,
    cautious: bool = False,
    base_learning_rate: ScalarOrSchedule | None = None,
    max_learning_rate: ScalarOrSchedule | None = None,
    timescale: ScalarOrSchedule | None = None,
) -> optax.GradientTransformationExtraArgs:
    """SGD (with optional momentum) and decoupled weight decay, in ``optax.sgd``'s call order.

    Update rule (``mode="lr"``): ``m ← momentum · m + g``; ``u = −lr_t · (m + weight_decay ·
    (w − c))``. With ``mode="schedule"`` the decay is ``η_t · weight_decay · (w − c)``,
    ``η_t = lr_t / lr_0`` (Loshchilov & Hutter 2019, Algorithm 1, SGDW); the other modes,
    ``cautious`` and ``timescale`` are as in :func:`decoupled`.

    The first four parameters are ``optax.sgd``'s, in its order (``jaxl2.sgdw(lr, 0.9)`` sets
    the momentum, as ``optax.sgd(lr, 0.9)`` does), then ``weight_decay`` and ``mask`` as in
    ``optax.adamw``. Built as ``chain(trace, decay, scale_by_learning_rate)``: the state is
    ``(TraceState or EmptyState, decay state, EmptyState or ScaleByScheduleState)``.

    Args:
        learning_rate: a float or an optax schedule.
        momentum, nesterov, accumulator_dtype: as in ``optax.sgd``.
        weight_decay: the decay rate (float, array, schedule or per-leaf pytree).
        mask: which leaves decay (see :mod:`jaxl2.masks`).
        mode: ``"lr"``, ``"schedule"``, ``"constant"`` or ``"corrected"`` (see :func:`decoupled`).
        center: a params-shaped pytree to decay toward (L2-SP); None decays toward zero.
        cautious: decay only where the step and the parameter agree in sign (Chen et al.).
        base_learning_rate: ``lr_0`` for ``mode="schedule"`` and ``timescale``.
        max_learning_rate: ``γ_max`` for ``mode="corrected"``.
        timescale: the EMA timescale ``τ`` in steps (a positive float or scalar array), in place
            of ``weight_decay`` (leave that at its default): see :func:`decoupled`.

    Returns:
        An ``optax.GradientTransformationExtraArgs``.

    Raises:
        ValueError: as :func:`decoupled`; ``momentum`` outside [0, 1).

    Examples:
        >>> import jax.numpy as jnp, jaxl2
        >>> tx = jaxl2.sgdw(0.1, weight_decay=0.5)
        >>> params = jnp.array([2.0])
        >>> updates, _ = tx.update(jnp.array([1.0]), tx.init(params), params)
        >>> updates  # −0.1 · (1 + 0.5 · 2)
        Array([-0.2], dtype=float32)
        >>> tx = jaxl2.sgdw(0.1, timescale=100.0)  # weight_decay = 1 / (100 · 0.1)
        >>> tx.update(jnp.array([0.0]), tx.init(params), params)[0]  # −w / τ
        Array([-0.02], dtype=float32)

    References:
        Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019, Algorithm 1.
    """
    _check_unit(momentum, "momentum")
    if momentum is None:
        first = optax.identity()
    else:
        first = optax.trace(decay=momentum, nesterov=nesterov, accumulator_dtype=accumulator_dtype)
    return _decoupled_chain(
        first,
        learning_rate,
        weight_decay,
        mode=mode,
        mask=mask,
        center=center,
        cautious=cautious,
        timescale=timescale,
        base_learning_rate=base_learning_rate,
        max_learning_rate=max_learning_rate,
    )


def adam_l2(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: DTypeLike | None = None,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: MaskLike = None,
    *,
    nesterov: bool = False,
    center: Params | None = None,
) -> optax.GradientTransformationExtraArgs:
    """Adam with classic (coupled) L2: ``coupled(optax.adam(lr, ...), weight_decay)``.

    Update rule: Adam on ``g + weight_decay · (w − c)``, i.e. the gradient of ``loss +
    l2(params, weight_decay / 2)``; the decay is rescaled by Adam's ``1/√v̂``. The same as
    ``torch.optim.Adam(lr, weight_decay=weight_decay)``. There is no ``mode``: a coupled penalty
    always goes through the learning rate and the preconditioner. The parameters are
    ``optax.adamw``'s, in its order, so switching between ``adamw`` and ``adam_l2`` changes
    only where the decay enters.

    Args:
        learning_rate: a float or an optax schedule.
        b1, b2, eps, eps_root, mu_dtype: as in ``optax.adam``.
        weight_decay: the L2 rate (float, array, schedule or per-leaf pytree).
        mask: which leaves decay (see :mod:`jaxl2.masks`).
        nesterov: as in ``optax.adam``.
        center: a params-shaped pytree to decay toward (L2-SP); None decays toward zero.

    Returns:
        An ``optax.GradientTransformationExtraArgs``.

    Raises:
        ValueError: as :func:`adamw`.

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
    _check_adam_args(b1, b2, eps, eps_root)
    check_rate(learning_rate, "learning_rate", per_leaf=False)
    check_rate(weight_decay, "weight_decay")
    inner = _adam(learning_rate, b1, b2, eps, eps_root, mu_dtype, nesterov)
    return coupled(inner, weight_decay, mask=mask, center=center)


__all__ = [
    "weight_decay",
    "coupled",
    "decoupled",
    "adamw",
    "adams",
    "sgdw",
    "adam_l2",
    "WeightDecayState",
    "DecoupledState",
]
