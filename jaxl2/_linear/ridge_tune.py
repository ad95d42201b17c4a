"""Continuous choice of the ridge strength by gradient steps on log lam."""

from __future__ import annotations

import functools
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp

from .. import _checks as ck
from .._checks import check_choice
from .._typing import ArrayLike
from . import ridge_chunks as ch
from . import ridge_data as rd
from . import ridge_path as rp

CRITERIA = ("loo", "gcv", "val")
# Default grid: the mean eigenvalue of the Gram matrix times 10^-6 ... 10^4.
_GRID_DECADES = (-6.0, 4.0)
_GRID_SIZE = 41
# When the best grid point is at an end of the grid, the search may go this many decades past it.
_EDGE_DECADES = 3.0


class TuneResult(NamedTuple):
    """Result of :func:`tune_ridge` (per-target ``lam``, ``value`` and ``(t, p)`` coef for 2-D y).

    Attributes:
        lam: the tuned strength (per target).
        coef: ridge coefficients at ``lam``.
        intercept: intercept at ``lam``.
        value: the criterion at ``lam`` (LOO MSE, GCV or validation MSE).
        grid_lams: ``(K,)`` the seeding grid, ascending.
        grid_values: ``(K,)`` or ``(K, t)``: the criterion on the grid.
    """

    lam: jax.Array
    coef: jax.Array
    intercept: jax.Array
    value: jax.Array
    grid_lams: jax.Array
    grid_values: jax.Array


def _criterion_fn(
    criterion: str,
    dec: rp.Decomposition,
    data: Any,
    Xs: jax.Array,
    fit_intercept: bool,
    X_val: jax.Array | None,
    Y_val: jax.Array | None,
    row_mask: jax.Array | None,
):
    """Returns (values(lam_t) -> (t,), coefs(lam_t) -> ((t, p), (t,)))."""

    def coefs(lam_t: jax.Array) -> tuple[jax.Array, jax.Array]:
        filt = rp.filters(dec, lam_t)
        inv_c = filt.inv * dec.C
        W = (dec.V @ inv_c if dec.V is not None else ch.tdot(Xs, dec.U @ inv_c)).T
        return rd.finish(W, data.x_mean, data.y_mean, fit_intercept)

    def values(lam_t: jax.Array) -> jax.Array:
        if criterion == "val":
            W, b = coefs(lam_t)
            # criterion "val" requires X_val and y_val (checked on entry).
            pred = X_val @ W.T + b[None, :]  # pyright: ignore[reportOptionalOperand]
            return jnp.mean(jnp.square(Y_val - pred), axis=0)  # pyright: ignore[reportOptionalOperand]
        filt = rp.filters(dec, lam_t)
        num, resid = rp.loo_numerators(dec, data.Ys, dec.C, filt)
        if criterion == "loo":
            den = rp.loo_denominators(dec, filt, data.leverage)
            return jnp.mean(jnp.square(rp.loo_errors(num, den, row_mask)), axis=0)
        return rp.gcv_values(dec, filt, resid, fit_intercept)

    return values, coefs


def _newton_log_lam(
    values, theta0: jax.Array, lo: jax.Array, hi: jax.Array, radius0: jax.Array, steps: int
) -> jax.Array:
    """Safeguarded Newton steps on θ = log lam, per target (the criterion is separable).

    Gradient and curvature come from autodiff. A step is −g/h when the curvature is positive,
    else a move of the trust radius downhill; it is clipped to the radius and to [lo, hi] and
    kept only if the criterion decreases (else the radius halves), so the value never rises.
    """

    def total(theta: jax.Array) -> jax.Array:
        return jnp.sum(values(jnp.exp(theta)))

    grad = jax.grad(total)

    def body(_: int, state: tuple) -> tuple:
        theta, f, radius = state
        g, h = jax.jvp(grad, (theta,), (jnp.ones_like(theta),))
        newton = -g / jnp.where(h > 0, h, 1)
        step = jnp.where(h > 0, newton, -jnp.sign(g) * radius)
        step = jnp.clip(step, -radius, radius)
        cand = jnp.clip(theta + step, lo, hi)
        f_cand = values(jnp.exp(cand))
        ok = f_cand <= f
        theta = jnp.where(ok, cand, theta)
        f = jnp.where(ok, f_cand, f)
        radius = jnp.where(ok, radius, radius / 2)
        return theta, f, radius

    f0 = values(jnp.exp(theta0))
    theta, _, _ = jax.lax.fori_loop(0, steps, body, (theta0, f0, radius0))
    return theta


@functools.partial(jax.jit, static_argnames=("criterion", "fit_intercept", "steps"))
def _tune_core(
    X: jax.Array,
    Y: jax.Array,
    sw: jax.Array | None,
    grid: jax.Array | None,
    X_val: jax.Array | None,
    Y_val: jax.Array | None,
    *,
    criterion: str,
    fit_intercept: bool,
    steps: int,
) -> TuneResult:
    data = rd.prepare(X, Y, sw, fit_intercept)
    sqrt_w = rp.intercept_column(X, sw) if fit_intercept else None
    dec = rp.decompose(data.Xs, data.Ys, sqrt_w)
    if grid is None:
        scale = jnp.maximum(jnp.mean(dec.e), jnp.finfo(X.dtype).tiny)
        grid = scale * jnp.logspace(*_GRID_DECADES, _GRID_SIZE, dtype=X.dtype)
    grid = jnp.sort(grid)
    row_mask = None if sw is None else sw > 0
    values, coefs = _criterion_fn(
        criterion, dec, data, data.Xs, fit_intercept, X_val, Y_val, row_mask
    )
    t = Y.shape[1]
    grid_values = jax.vmap(lambda lam: values(jnp.full((t,), lam)))(grid)  # (K, t)
    safe = jnp.where(jnp.isnan(grid_values), jnp.inf, grid_values)
    k = jnp.argmin(safe, axis=0)
    log_grid = jnp.log(jnp.maximum(grid, jnp.finfo(X.dtype).tiny))
    K = grid.shape[0]
    edge = _EDGE_DECADES * jnp.log(jnp.asarray(10.0, X.dtype))
    lo = jnp.where(k > 0, log_grid[jnp.maximum(k - 1, 0)], log_grid[0] - edge)
    hi = jnp.where(k < K - 1, log_grid[jnp.minimum(k + 1, K - 1)], log_grid[-1] + edge)
    radius = jnp.maximum((hi - lo) / 2, 1e-3)
    theta = _newton_log_lam(values, log_grid[k], lo, hi, radius, steps)
    lam = jnp.exp(theta)
    W, b = coefs(lam)
    return TuneResult(lam, W, b, values(lam), grid, grid_values)


def tune_ridge(
    X: ArrayLike,
    y: ArrayLike,
    *,
    X_val: ArrayLike | None = None,
    y_val: ArrayLike | None = None,
    criterion: Literal["loo", "gcv", "val"] = "loo",
    lams: ArrayLike | None = None,
    fit_intercept: bool = True,
    sample_weight: ArrayLike | None = None,
    steps: int = 30,
) -> TuneResult:
    r"""Tunes the ridge strength continuously: gradient steps on log lam from the best grid point.

    The model is :func:`ridge`'s, ``Σᵢ sᵢ (yᵢ − xᵢᵀw − b)² + lam · ‖w‖²``. The criterion, a
    smooth function of lam computed from one eigendecomposition (see :func:`ridge_path`), is

    - ``"loo"``: the exact leave-one-out MSE ``(1/n) Σᵢ sᵢ ((yᵢ − ŷᵢ)/(1 − hᵢᵢ − sᵢ/Σs))²``;
    - ``"gcv"``: ``(1/n)‖√s∘(y − ŷ)‖² / (1 − tr(A)/n)²``;
    - ``"val"``: the mean squared error on ``(X_val, y_val)``.

    It is evaluated on a grid (``lams``, default the mean eigenvalue ē of the Gram matrix times
    ``logspace(-6, 4, 41)``), then refined from the best grid point by safeguarded Newton steps
    on ``log lam`` (gradient and curvature by ``jax`` autodiff, kept within the neighbouring grid
    points, and a step is only taken if it lowers the criterion). Each target is tuned
    separately.

    Args:
        X: ``(n, p)`` training design (its dtype is kept).
        y: ``(n,)`` or ``(n, t)`` training targets.
        X_val: ``(n_val, p)`` validation design, required for ``criterion="val"``.
        y_val: ``(n_val,)`` or ``(n_val, t)`` validation targets.
        criterion: ``"loo"``, ``"gcv"`` or ``"val"``.
        lams: the seeding grid (``(K,)``, > 0), or None for the default.
        fit_intercept: fit an unpenalized intercept.
        sample_weight: ``None``, a scalar or ``(n,)`` non-negative training weights.
        steps: number of Newton steps.

    Returns:
        :class:`TuneResult` ``(lam, coef, intercept, value, grid_lams, grid_values)``.

    Raises:
        ValueError: an unknown criterion; ``criterion="val"`` without ``X_val``/``y_val`` or with
            shapes that disagree; plus the errors of :func:`ridge_path`.

    Examples:
        >>> import jax
        >>> import jax.numpy as jnp
        >>> import jaxl2
        >>> X = jax.random.normal(jax.random.PRNGKey(0), (50, 5))
        >>> y = X @ jnp.arange(1.0, 6.0) + jax.random.normal(jax.random.PRNGKey(1), (50,))
        >>> res = jaxl2.tune_ridge(X, y, criterion="loo")
        >>> print(res.lam.round(3), res.value.round(3))
        0.052 1.213

    References:
        Golub, Heath & Wahba (1979); Bengio (2000), *Gradient-based optimization of
        hyperparameters*.
    """
    check_choice(criterion, "criterion", CRITERIA)
    steps = ck.check_int(steps, "steps", 0)
    X, Y, sw, y_was_1d, out_dtype, traced = ck.check_xy(X, y, sample_weight)
    X_v = Y_v = None
    if criterion == "val":
        if X_val is None or y_val is None:
            raise ValueError('criterion="val" needs both X_val and y_val.')
        val = ck.check_xy(X_val, y_val, None, x_name="X_val", y_name="y_val")
        X_v, Y_v, traced = val.X, val.Y, traced or val.traced
        if X_v.shape[1] != X.shape[1]:
            raise ValueError(
                f"X_val must have the {X.shape[1]} features of X, got shape {X_v.shape}."
            )
        if Y_v.shape[1] != Y.shape[1]:
            raise ValueError(
                f"y_val must have the {Y.shape[1]} target(s) of y, got shape {Y_v.shape}."
            )
        X_v, Y_v = X_v.astype(X.dtype), Y_v.astype(X.dtype)
    elif X_val is not None or y_val is not None:
        raise ValueError(f'X_val and y_val are only used with criterion="val", not {criterion!r}.')
    grid = None if lams is None else ck.check_lams(lams, X.dtype)
    res = _tune_core(
        X,
        Y,
        sw,
        grid,
        X_v,
        Y_v,
        criterion=criterion,
        fit_intercept=fit_intercept,
        steps=int(steps),
    )
    lam, W, b, value, grid_lams, grid_values = res
    W, b = rd.guard_finite((W, b), traced, "tune_ridge")
    if y_was_1d:
        lam, W, b, value, grid_values = lam[0], W[0], b[0], value[0], grid_values[:, 0]
    return TuneResult(*(a.astype(out_dtype) for a in (lam, W, b, value, grid_lams, grid_values)))
