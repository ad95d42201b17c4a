"""``jaxl2.proximal``: the proximal step of a penalty as an optax transform (proximal SGD/Adam)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import optax

from . import _penalties, prox
from ._checks import check_floating, check_in_range, check_nonnegative, is_concrete
from ._typing import MaskLike, Params

_NO_PARAMS = (
    "params: the proximal step needs the current parameters; call update(updates, state, params)."
)
_PENALTIES = ("l1", "l2", "elastic_net")


class ProximalState(NamedTuple):
    """State of :func:`proximal`: the step count (for scheduled ``lam`` or learning rate)."""

    count: jax.Array


def _penalty_name(penalty: Any) -> str:
    known = {_penalties.l1: "l1", _penalties.l2: "l2", _penalties.elastic_net: "elastic_net"}
    if isinstance(penalty, str):
        if penalty not in _PENALTIES:
            raise ValueError(
                f"penalty must be one of {_PENALTIES} or jaxl2.l1 / jaxl2.l2 / "
                f"jaxl2.elastic_net; got {penalty!r}."
            )
        return penalty
    for fn, name in known.items():
        if penalty is fn:
            return name
    raise ValueError(
        f"penalty must be one of {_PENALTIES} or jaxl2.l1 / jaxl2.l2 / jaxl2.elastic_net (a "
        f"penalty with a known proximal operator); got {penalty!r}."
    )


def _evaluator(value: Any, name: str) -> Callable[[jax.Array], Any]:
    """``count -> value``: a schedule is called, a number or array is checked and kept."""
    if callable(value):
        return lambda count: check_nonnegative(value(count), f"{name} (the schedule's value)")
    if value is None:
        raise ValueError(f"{name} must be a non-negative number, array or schedule; got None.")
    if is_concrete(value):
        check_nonnegative(value, name)
        return lambda count: value
    return lambda count: check_nonnegative(value, name)


def proximal(
    penalty: Literal["l1", "l2", "elastic_net"] | Callable[..., jax.Array],
    lam: optax.ScalarOrSchedule,
    learning_rate: optax.ScalarOrSchedule,
    *,
    l1_ratio: float | None = None,
    mask: MaskLike = None,
    center: Params | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""The proximal step of a penalty, as an optax transform to put LAST in a chain.

    Given the updates ``u`` of the optimizer before it (already scaled by the learning rate,
    e.g. ``optax.sgd(lr)`` or ``optax.adam(lr)``), returns updates that move the parameters to

    .. math:: w_{t+1} = \mathrm{prox}_{\eta_t h}(w_t + u_t)
              = \arg\min_v \; h(v) + \frac{1}{2 \eta_t}\|v - (w_t + u_t)\|^2

    where ``h = lam * penalty`` (``jaxl2.l1``, ``jaxl2.l2`` or ``jaxl2.elastic_net`` in the
    jaxl2 convention, measured from ``center``) and ``eta_t`` is ``learning_rate`` at step t.
    ``chain(sgd(lr), proximal("l1", lam, lr))`` is proximal gradient descent (ISTA) on
    ``loss + lam * ||w||_1``; with ``adam(lr)`` it is the usual proximal Adam (the prox uses the
    scalar step ``lr``, not Adam's per-coordinate one, so ``lam`` acts in Adam's normalized
    units: zeros need ``lam`` comparable to Adam's step over ``lr``). Unlike a gradient step on
    the L1 penalty, it gives exact zeros: after ``optax.apply_updates`` a coefficient whose value
    ``|w + u|`` fell below ``eta * lam`` is exactly 0.0. Keep it last: a transform after it would
    rescale the updates and lose the zeros. Under ``optax.inject_hyperparams``, ``lam`` and
    ``learning_rate`` become injectable; pass the penalty as a string (or list ``"penalty"`` in
    ``static_args``: a penalty function would be taken for a schedule, optax #1373).

    Args:
        penalty: ``"l1"``, ``"l2"``, ``"elastic_net"`` or the function ``jaxl2.l1``,
            ``jaxl2.l2``, ``jaxl2.elastic_net``.
        lam: penalty strength ``>= 0``: a number, an array (traced, so it can be vmapped) or an
            optax schedule of the step count.
        learning_rate: the step size ``eta`` of the optimizer before it (number, array or
            schedule); use the same value or schedule you gave that optimizer.
        l1_ratio: ``rho`` in ``[0, 1]``, required for ``"elastic_net"``.
        mask: which leaves to penalize: None (all), ``"weights"``, a callable or a bool pytree
            (see ``jaxl2.masks``); the others get the updates unchanged.
        center: a params-shaped pytree to shrink toward instead of zero (L2-SP).

    Returns:
        An ``optax.GradientTransformationExtraArgs`` whose state is :class:`ProximalState`.

    Raises:
        ValueError: an unknown penalty, a missing or out-of-range ``l1_ratio``, a negative
            ``lam`` or learning rate, ``update`` called without ``params``, a ``mask`` or
            ``center`` not matching the parameters.
        TypeError: non-floating-point parameters.

    Examples:
        >>> import jax, jax.numpy as jnp, optax, jaxl2
        >>> params = {"w": jnp.array([1.0, -0.05, 0.5])}
        >>> tx = optax.chain(optax.sgd(0.1), jaxl2.proximal("l1", lam=1.0, learning_rate=0.1))
        >>> state = tx.init(params)
        >>> grads = {"w": jnp.array([0.5, 0.0, -0.5])}
        >>> updates, state = tx.update(grads, state, params)
        >>> optax.apply_updates(params, updates)
        {'w': Array([0.85, 0.  , 0.45], dtype=float32)}

    References:
        Parikh & Boyd, "Proximal Algorithms" (2014); Beck & Teboulle, "A Fast Iterative
        Shrinkage-Thresholding Algorithm" (ISTA/FISTA), SIAM J. Imaging Sci. 2 (2009); Yun,
        Lozano & Yang, "Adaptive Proximal Gradient Methods for Structured Neural Networks",
        NeurIPS 2021.
    """
    name = _penalty_name(penalty)
    if name == "elastic_net":
        if l1_ratio is None:
            raise ValueError("l1_ratio is required for the elastic_net penalty (rho in [0, 1]).")
        check_in_range(l1_ratio, "l1_ratio", 0.0, 1.0)
    elif l1_ratio is not None:
        raise ValueError(f"l1_ratio is only used with the elastic_net penalty, not {name!r}.")
    lam_at = _evaluator(lam, "lam")
    lr_at = _evaluator(learning_rate, "learning_rate")

    def init_fn(params):
        del params
        return ProximalState(count=jnp.zeros([], jnp.int32))

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        if params is None:
            raise ValueError(_NO_PARAMS)
        check_floating(params, "params")
        lam_t, step = lam_at(state.count), lr_at(state.count)
        moved = jax.tree.map(lambda w, u: w + u.astype(w.dtype), params, updates)
        if name == "l1":
            target = prox.l1(moved, lam_t, step, mask=mask, center=center)
        elif name == "l2":
            target = prox.l2(moved, lam_t, step, mask=mask, center=center)
        else:
            # l1_ratio was checked to be a number for "elastic_net" above.
            target = prox.elastic_net(moved, lam_t, l1_ratio, step, mask=mask, center=center)  # pyright: ignore[reportArgumentType]
        # w + (target - w) == target exactly when target == 0, so the zeros survive.
        new_updates = jax.tree.map(lambda t, w: (t - w).astype(w.dtype), target, params)
        # optax.safe_increment is annotated to return ArrayLike; it returns an Array.
        return new_updates, ProximalState(count=optax.safe_increment(state.count))  # pyright: ignore[reportArgumentType]

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
