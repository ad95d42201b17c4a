"""Penalty functions on any pytree: ``lam · penalty(params - center)``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from . import masks as _masks
from ._checks import (
    at_least_float32,
    check_floating,
    check_in_range,
    check_nonnegative,
    check_same_structure,
    check_scalar,
    is_concrete,
    widest_float,
)
from ._typing import ArrayLike, MaskLike, Params

Penalty = Callable[..., jax.Array]


def _reduce(params: Any, mask: Any, center: Any, leaf_term: Callable[[jax.Array], jax.Array]):
    """Σ over decayed leaves of leaf_term(w − c), accumulated in ≥ float32; returns (sum, dtype)."""
    check_floating(params, "params")
    leaves = jax.tree.leaves(params)
    if not leaves:
        return jnp.zeros((), jnp.float32), jnp.float32
    if center is not None:
        check_same_structure(center, params, "center", "params")
        centers = jax.tree.leaves(center)
    else:
        centers = [None] * len(leaves)
    flags = jax.tree.leaves(_masks.resolve(mask, params))
    out_dtype = widest_float(jnp.result_type(w) for w in leaves)
    # Sums of bf16/f16 squares lose digits quickly: accumulate in at least float32.
    acc = at_least_float32(out_dtype)
    total = jnp.zeros((), acc)
    for w, m, c in zip(leaves, flags, centers, strict=True):
        if m is False:
            continue
        d = jnp.asarray(w).astype(at_least_float32(jnp.result_type(w)))
        if c is not None:
            d = d - jnp.asarray(c).astype(d.dtype)
        t = leaf_term(d)
        if m is not True:
            t = jnp.where(m, t, jnp.zeros((), t.dtype))
        total = total + jnp.sum(t).astype(acc)
    return total, out_dtype


def _scaled(lam: Any, total: jax.Array, out_dtype: Any) -> jax.Array:
    check_scalar(lam, "lam")
    lam = check_nonnegative(lam, "lam")
    return (jnp.asarray(lam).astype(total.dtype) * total).astype(out_dtype)


def _square(d: jax.Array) -> jax.Array:
    return d * d


def _abs(d: jax.Array) -> jax.Array:
    # d·sign(d) rather than |d|: its derivative is sign(d), which is 0 at 0 (the minimum-norm
    # subgradient), while jax.grad(jnp.abs)(0.) is 1.
    return d * jnp.sign(d)


def l2(
    params: Params, lam: ArrayLike, *, mask: MaskLike = None, center: Params | None = None
) -> jax.Array:
    """The L2 penalty ``lam · Σ (w − c)²`` over the (masked) leaves of a pytree.

    Its gradient is ``2 · lam · (w − c)``, so SGD on ``loss + l2(params, rate / 2)`` takes the same
    steps as ``jaxl2.coupled(optax.sgd(lr), rate)``. Sums are accumulated in at least float32
    and returned in the widest dtype of the leaves (bf16 leaves give a bf16 penalty).

    Args:
        params: any pytree of floating-point arrays.
        lam: the strength, ``>= 0``: a float or a scalar array (traceable, so it can be vmapped
            or differentiated).
        mask: which leaves are penalized: None (all), ``"weights"``, a callable, or a bool
            pytree (see :mod:`jaxl2.masks`).
        center: a pytree like ``params`` to shrink toward (L2-SP, Li et al. 2018); None is zero.

    Returns:
        A scalar array.

    Raises:
        ValueError: ``lam`` is negative or NaN; ``mask`` or ``center`` do not match ``params``.
        TypeError: a leaf of ``params`` is not floating point.

    Examples:
        >>> import jax, jax.numpy as jnp, jaxl2
        >>> params = {"w": jnp.array([1.0, -2.0]), "b": jnp.array([3.0])}
        >>> jaxl2.l2(params, 0.5)
        Array(7., dtype=float32)
        >>> jaxl2.l2(params, 0.5, mask={"w": True, "b": False})
        Array(2.5, dtype=float32)
        >>> jax.grad(jaxl2.l2)(params, 0.5)["w"]  # 2 · lam · w
        Array([ 1., -2.], dtype=float32)

    References:
        Keras ``regularizers.L2(l2=lam)`` has the same value. Li, Grandvalet & Davoine,
        "Explicit inductive bias for transfer learning with convolutional networks" (L2-SP), 2018.
    """
    total, dtype = _reduce(params, mask, center, _square)
    return _scaled(lam, total, dtype)


def l1(
    params: Params, lam: ArrayLike, *, mask: MaskLike = None, center: Params | None = None
) -> jax.Array:
    """The L1 penalty ``lam · Σ |w − c|`` over the (masked) leaves of a pytree.

    Its (sub)gradient is ``lam · sign(w − c)``, which is 0 where ``w == c``. Gradient descent on it
    does not give exact zeros; for that use the proximal step :func:`jaxl2.prox.l1`.

    Args:
        params: any pytree of floating-point arrays.
        lam: the strength, ``>= 0``.
        mask: which leaves are penalized (see :mod:`jaxl2.masks`).
        center: a pytree like ``params`` to shrink toward; None is zero.

    Returns:
        A scalar array.

    Raises:
        ValueError: ``lam`` is negative or NaN; ``mask`` or ``center`` do not match ``params``.
        TypeError: a leaf of ``params`` is not floating point.

    Examples:
        >>> import jax, jax.numpy as jnp, jaxl2
        >>> w = jnp.array([1.0, -2.0, 0.0])
        >>> jaxl2.l1(w, 0.5)
        Array(1.5, dtype=float32)
        >>> jax.grad(jaxl2.l1)(w, 0.5)
        Array([ 0.5, -0.5,  0. ], dtype=float32)

    References:
        Keras ``regularizers.L1(l1=lam)``; Tibshirani, "Regression shrinkage and selection via
        the lasso", 1996.
    """
    total, dtype = _reduce(params, mask, center, _abs)
    return _scaled(lam, total, dtype)


def elastic_net(
    params: Params,
    lam: ArrayLike,
    l1_ratio: ArrayLike,
    *,
    mask: MaskLike = None,
    center: Params | None = None,
) -> jax.Array:
    """The elastic-net penalty ``lam · (ρ Σ |w − c| + (1 − ρ) Σ (w − c)²)``, ``ρ = l1_ratio``.

    ``l1_ratio = 0`` is :func:`l2`, ``l1_ratio = 1`` is :func:`l1`.

    Args:
        params: any pytree of floating-point arrays.
        lam: the strength, ``>= 0``.
        l1_ratio: ``ρ`` in ``[0, 1]``.
        mask: which leaves are penalized (see :mod:`jaxl2.masks`).
        center: a pytree like ``params`` to shrink toward; None is zero.

    Returns:
        A scalar array.

    Raises:
        ValueError: ``lam`` is negative or NaN, ``l1_ratio`` is outside ``[0, 1]``, or ``mask``
            or ``center`` do not match ``params``.

    Examples:
        >>> import jax.numpy as jnp, jaxl2
        >>> w = jnp.array([1.0, -2.0])
        >>> jaxl2.elastic_net(w, 1.0, 0.5)  # 0.5 · 3 + 0.5 · 5
        Array(4., dtype=float32)

    References:
        Zou & Hastie, "Regularization and variable selection via the elastic net", 2005. Keras
        ``regularizers.L1L2(l1=lam·ρ, l2=lam·(1 − ρ))`` has the same value.
    """
    rho = check_in_range(l1_ratio, "l1_ratio", 0.0, 1.0)

    def term(d: jax.Array) -> jax.Array:
        r = jnp.asarray(rho).astype(d.dtype)
        return r * _abs(d) + (1 - r) * _square(d)

    total, dtype = _reduce(params, mask, center, term)
    return _scaled(lam, total, dtype)


_BY_NAME: dict[str, Penalty] = {"l2": l2, "l1": l1}


def penalized(
    loss_fn: Callable[..., Any],
    penalty: Penalty | str,
    lam: ArrayLike,
    *,
    mask: MaskLike = None,
    center: Params | None = None,
) -> Callable[..., Any]:
    """Wraps ``loss_fn(params, *args)`` into ``loss_fn(params, *args) + penalty(params, lam)``.

    The returned function has the same signature as ``loss_fn``; the penalty applies to its
    first argument. When ``loss_fn`` returns a tuple ``(loss, aux...)`` (for
    ``jax.value_and_grad(..., has_aux=True)``), the penalty is added to ``loss`` only.

    Args:
        loss_fn: the data term, ``params, *args, **kwargs -> loss``.
        penalty: :func:`l2`, :func:`l1`, a partial of :func:`elastic_net` (``functools.partial(
            jaxl2.elastic_net, l1_ratio=0.5)``), any function ``(params, lam, *, mask, center)``,
            or the strings ``"l2"`` and ``"l1"``.
        lam: the strength, ``>= 0``.
        mask: which leaves are penalized (see :mod:`jaxl2.masks`).
        center: a pytree like ``params`` to shrink toward; None is zero.

    Returns:
        The penalized loss function.

    Raises:
        ValueError: ``penalty`` is an unknown string, or ``lam`` is negative or NaN.

    Examples:
        >>> import jax.numpy as jnp, jaxl2
        >>> def mse(w, x, y):
        ...     return jnp.mean((x @ w - y) ** 2)
        >>> loss = jaxl2.penalized(mse, jaxl2.l2, 0.1)
        >>> w, x, y = jnp.array([1.0, 2.0]), jnp.eye(2), jnp.zeros(2)
        >>> loss(w, x, y)  # 2.5 + 0.1 · 5
        Array(3., dtype=float32)
    """
    if isinstance(penalty, str):
        if penalty not in _BY_NAME:
            raise ValueError(
                f"penalty must be a penalty function or one of {sorted(_BY_NAME)}; got {penalty!r}."
            )
        penalty = _BY_NAME[penalty]
    if is_concrete(lam):
        check_nonnegative(lam, "lam")  # fail at wrap time; traced values are checked per call.

    @functools.wraps(loss_fn)
    def penalized_loss(params: Any, *args: Any, **kwargs: Any) -> Any:
        out = loss_fn(params, *args, **kwargs)
        value = out[0] if isinstance(out, tuple) else out
        pen = penalty(params, lam, mask=mask, center=center).astype(jnp.result_type(value))
        return (value + pen, *out[1:]) if isinstance(out, tuple) else value + pen

    return penalized_loss
