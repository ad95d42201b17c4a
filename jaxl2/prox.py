"""Proximal operators of jaxl2's penalties, on any pytree.

For a penalty ``h`` (``jaxl2.l1``, ``jaxl2.l2``, ``jaxl2.elastic_net``) and a step ``t``, the
proximal operator is

    prox_{t h}(x) = argmin_u  h(u) + ||u - x||^2 / (2 t)

taken leaf by leaf and element by element (the penalties are separable). With ``center=c`` the
penalty is measured from ``c`` (L2-SP style) and so is the shrinkage. A proximal-gradient step
on ``loss + h`` is ``w <- prox_{lr h}(w - lr * grad)``; :func:`jaxl2.proximal` is that step as an
optax transform. The L1 prox sets small entries to exactly zero, which a (sub)gradient step on
``|w|`` never does.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from ._checks import (
    check_floating,
    check_in_range,
    check_nonnegative,
    check_same_structure,
    check_scalar,
)
from ._typing import ArrayLike, MaskLike, Params
from .masks import resolve

__all__ = ["l1", "l2", "elastic_net"]


def _soft(x: jax.Array, t: jax.Array) -> jax.Array:
    return jnp.sign(x) * jnp.maximum(jnp.abs(x) - t, jnp.zeros((), x.dtype))


def _apply(params: Any, leaf_prox, mask: Any, center: Any) -> Any:
    """``leaf_prox`` on ``x - c`` for every leaf the mask selects; other leaves unchanged."""
    flags = resolve(mask, params)
    if center is None:
        center = jax.tree.map(lambda _: None, params)
        centered = False
    else:
        check_same_structure(center, params, "center", "params")
        centered = True

    def leaf(x, m, c):
        if m is False:
            return x
        x = jnp.asarray(x)
        c = jnp.asarray(c, x.dtype) if centered else jnp.zeros((), x.dtype)
        out = c + leaf_prox(x - c)
        return out if m is True else jnp.where(m, out, x)

    if centered:
        return jax.tree.map(leaf, params, flags, center)
    return jax.tree.map(lambda x, m: leaf(x, m, None), params, flags)


def _check_lam_step(params: Any, lam: Any, step: Any) -> tuple[Any, Any]:
    """Checks the arguments every operator shares; returns the checked ``(lam, step)``."""
    check_floating(params, "params")
    check_scalar(lam, "lam")
    check_scalar(step, "step")
    return check_nonnegative(lam, "lam"), check_nonnegative(step, "step")


def _scalar(value: Any, like: jax.Array) -> jax.Array:
    return jnp.asarray(value).astype(like.dtype)


def l1(
    params: Params,
    lam: ArrayLike,
    step: ArrayLike = 1.0,
    *,
    mask: MaskLike = None,
    center: Params | None = None,
) -> Any:
    r"""Proximal operator of ``jaxl2.l1``: soft-thresholding by ``step * lam``.

    .. math:: \mathrm{prox}(x) = \arg\min_u \mathrm{lam} \sum |u - c|
              + \frac{1}{2\,\mathrm{step}} \|u - x\|^2
              = c + \mathrm{sign}(x - c) \max(|x - c| - \mathrm{step} \cdot \mathrm{lam}, 0)

    Args:
        params: a pytree of arrays.
        lam: L1 strength ``>= 0`` (scalar or an array broadcasting to each leaf).
        step: the step ``t`` (a learning rate) ``>= 0``.
        mask: which leaves to shrink (None: all; ``"weights"``, a callable or a bool pytree, as
            for the penalties); the others are returned unchanged.
        center: a params-shaped pytree ``c`` to shrink toward (default zero).

    Returns:
        A pytree like ``params`` (same dtypes), with exact zeros (or exact ``c``) where
        ``|x - c| <= step * lam``.

    Raises:
        ValueError: negative ``lam`` or ``step``; ``center`` or ``mask`` not matching ``params``.

    Examples:
        >>> import jax.numpy as jnp, jaxl2
        >>> jaxl2.prox.l1({"w": jnp.array([-2.0, 0.3, 1.5])}, lam=0.5)
        {'w': Array([-1.5,  0. ,  1. ], dtype=float32)}

    References:
        Parikh & Boyd, "Proximal Algorithms", Found. Trends Optim. 1 (2014), sec. 6.5.2.
    """
    lam, step = _check_lam_step(params, lam, step)
    return _apply(params, lambda d: _soft(d, _scalar(step, d) * _scalar(lam, d)), mask, center)


def l2(
    params: Params,
    lam: ArrayLike,
    step: ArrayLike = 1.0,
    *,
    mask: MaskLike = None,
    center: Params | None = None,
) -> Any:
    r"""Proximal operator of ``jaxl2.l2``: shrinkage by ``1 / (1 + 2 step lam)``.

    .. math:: \mathrm{prox}(x) = \arg\min_u \mathrm{lam} \sum (u - c)^2
              + \frac{1}{2\,\mathrm{step}} \|u - x\|^2
              = c + \frac{x - c}{1 + 2\,\mathrm{step} \cdot \mathrm{lam}}

    Args:
        params: a pytree of arrays.
        lam: L2 strength ``>= 0``.
        step: the step ``t`` ``>= 0``.
        mask: which leaves to shrink (see :func:`l1`).
        center: a params-shaped pytree to shrink toward (default zero).

    Returns:
        A pytree like ``params`` (same dtypes).

    Raises:
        ValueError: negative ``lam`` or ``step``; ``center`` or ``mask`` not matching ``params``.

    Examples:
        >>> import jax.numpy as jnp, jaxl2
        >>> jaxl2.prox.l2({"w": jnp.array([-2.0, 0.3, 1.5])}, lam=0.5)
        {'w': Array([-1.  ,  0.15,  0.75], dtype=float32)}

    References:
        Parikh & Boyd, "Proximal Algorithms", Foundations and Trends in Optimization 1(3),
        2014, section 6.5 (the elastic net and the squared ℓ2 norm).
    """
    lam, step = _check_lam_step(params, lam, step)
    return _apply(params, lambda d: d / (1 + 2 * _scalar(step, d) * _scalar(lam, d)), mask, center)


def elastic_net(
    params: Params,
    lam: ArrayLike,
    l1_ratio: ArrayLike,
    step: ArrayLike = 1.0,
    *,
    mask: MaskLike = None,
    center: Params | None = None,
) -> Any:
    r"""Proximal operator of ``jaxl2.elastic_net``: soft-threshold, then shrink.

    .. math:: \mathrm{prox}(x) = \arg\min_u \mathrm{lam}\big(\rho \sum |u - c|
              + (1 - \rho) \sum (u - c)^2\big) + \frac{1}{2\,\mathrm{step}} \|u - x\|^2
              = c + \frac{\mathrm{sign}(x - c)\max(|x - c| - \mathrm{step}\,\mathrm{lam}\,\rho, 0)}
              {1 + 2\,\mathrm{step}\,\mathrm{lam}\,(1 - \rho)}

    Args:
        params: a pytree of arrays.
        lam: overall strength ``>= 0``.
        l1_ratio: ``rho`` in ``[0, 1]`` (1: :func:`l1`, 0: :func:`l2`).
        step: the step ``t`` ``>= 0``.
        mask: which leaves to shrink (see :func:`l1`).
        center: a params-shaped pytree to shrink toward (default zero).

    Returns:
        A pytree like ``params`` (same dtypes), with exact zeros where
        ``|x - c| <= step * lam * rho``.

    Raises:
        ValueError: negative ``lam`` or ``step``, ``l1_ratio`` outside ``[0, 1]``, mismatched
            ``center`` or ``mask``.

    Examples:
        >>> import jax.numpy as jnp, jaxl2
        >>> jaxl2.prox.elastic_net({"w": jnp.array([-2.0, 0.3, 1.5])}, lam=0.5, l1_ratio=0.5)
        {'w': Array([-1.1666667 ,  0.03333334,  0.8333334 ], dtype=float32)}

    References:
        Parikh & Boyd, "Proximal Algorithms", Foundations and Trends in Optimization 1(3),
        2014, section 6.5 (the elastic net and the squared ℓ2 norm).
    """
    lam, step = _check_lam_step(params, lam, step)
    rho = check_in_range(l1_ratio, "l1_ratio", 0.0, 1.0)

    def leaf_prox(d):
        t, r = _scalar(step, d) * _scalar(lam, d), _scalar(rho, d)
        return _soft(d, t * r) / (1 + 2 * t * (1 - r))

    return _apply(params, leaf_prox, mask, center)
