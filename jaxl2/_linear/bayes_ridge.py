"""Bayesian (evidence-maximizing) ridge regression: scikit-learn's ``BayesianRidge``, jitted."""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks as ck
from .._checks import check_nonnegative
from .._typing import ArrayLike
from . import ridge_chunks as ch
from . import ridge_data as rd


class BayesianRidgeResult(NamedTuple):
    """Result of :func:`bayesian_ridge` (leading ``(t,)`` axis on every field for 2-D ``y``).

    Attributes:
        coef: ``(p,)`` posterior mean of the weights.
        intercept: ``()`` intercept (0 without one).
        alpha: ``()`` noise precision α.
        lambda_: ``()`` weight precision λ.
        sigma: ``(p, p)`` posterior covariance ``(λ·I + α·XᵀSX)⁻¹`` (on centred data).
        scores: ``(max_iter + 1,)`` log evidence (log marginal likelihood, including the Gamma
            hyperpriors) before each update and, at index ``n_iter``, at the final (α, λ) (as
            scikit-learn computes it there: with the new SSE and the previous weights); NaN after
            that. scikit-learn's ``scores_`` is ``scores[:n_iter + 1]``.
        n_iter: ``()`` number of updates made (scikit-learn's ``n_iter_``).
    """

    coef: jax.Array
    intercept: jax.Array
    alpha: jax.Array
    lambda_: jax.Array
    sigma: jax.Array
    scores: jax.Array
    n_iter: jax.Array

    @property
    def ridge_lam(self) -> jax.Array:
        """The equivalent ridge strength λ/α: ``ridge(X, y, λ/α)`` gives the same ``coef``."""
        return self.lambda_ / self.alpha


class _Hyper(NamedTuple):
    alpha_1: jax.Array
    alpha_2: jax.Array
    lambda_1: jax.Array
    lambda_2: jax.Array


def _fit_one(
    X: jax.Array,
    y: jax.Array,
    sw: jax.Array | None,
    alpha_init: jax.Array | None,
    lambda_init: jax.Array | None,
    hyper: _Hyper,
    tol: jax.Array,
    *,
    fit_intercept: bool,
    max_iter: int,
) -> BayesianRidgeResult:
    n, p = X.shape
    dtype = X.dtype
    data = rd.prepare(X, y[:, None], sw, fit_intercept)
    Xs, ys = data.Xs, data.Ys[:, 0]
    if sw is None:
        sw_sum = jnp.asarray(n, dtype)
        y_var = jnp.var(y)
    else:
        sw_sum = jnp.sum(sw)
        y_var = jnp.sum(sw * jnp.square(y - (sw @ y) / sw_sum)) / sw_sum
    # scikit-learn adds float64's eps whatever the dtype (it only matters for constant y).
    alpha0 = 1 / (y_var + np.finfo(np.float64).eps) if alpha_init is None else alpha_init
    lambda0 = jnp.ones((), dtype) if lambda_init is None else lambda_init
    U, s, Vt = jnp.linalg.svd(Xs, full_matrices=False)
    # Singular values below eps·max(n, p)·s_max are numerically null (collinear or
    # rank-deficient X): exactly 0, so their rounding-noise uᵀy cannot be amplified by a small
    # lam/alpha into wrong coefficients.
    s = jnp.where(s > rd.eps_of(s.dtype) * max(Xs.shape) * jnp.max(s), s, 0)
    e = s * s
    uty = ch.tdot(U, ys)
    log_2pi = math.log(2 * math.pi)

    def coef_sse(alpha: jax.Array, lam: jax.Array) -> tuple[jax.Array, jax.Array]:
        denom = e + lam / alpha
        w = Vt.T @ jnp.where(s > 0, s * uty / jnp.where(s > 0, denom, 1), 0)
        return w, jnp.sum(jnp.square(ys - Xs @ w))

    def score(alpha: jax.Array, lam: jax.Array, w: jax.Array, sse: jax.Array) -> jax.Array:
        # log det of the posterior covariance; its p - min(n, p) flat directions have λ only.
        logdet = -jnp.sum(jnp.log(lam + alpha * e)) - (p - e.shape[0]) * jnp.log(lam)
        out = hyper.lambda_1 * jnp.log(lam) - hyper.lambda_2 * lam
        out = out + hyper.alpha_1 * jnp.log(alpha) - hyper.alpha_2 * alpha
        return out + 0.5 * (
            p * jnp.log(lam)
            + sw_sum * jnp.log(alpha)
            - alpha * sse
            - lam * jnp.sum(jnp.square(w))
            + logdet
            - sw_sum * log_2pi
        )

    def cond(state: tuple) -> jax.Array:
        it, _, _, _, converged, _ = state
        return (it < max_iter) & ~converged

    def body(state: tuple) -> tuple:
        it, alpha, lam, w_old, _, scores = state
        w, sse = coef_sse(alpha, lam)
        scores = scores.at[it].set(score(alpha, lam, w, sse))
        gamma = jnp.sum(alpha * e / (lam + alpha * e))
        lam_new = (gamma + 2 * hyper.lambda_1) / (jnp.sum(jnp.square(w)) + 2 * hyper.lambda_2)
        alpha_new = (sw_sum - gamma + 2 * hyper.alpha_1) / (sse + 2 * hyper.alpha_2)
        converged = (it != 0) & (jnp.sum(jnp.abs(w_old - w)) < tol)
        return it + 1, alpha_new, lam_new, w, converged, scores

    scores0 = jnp.full((max_iter + 1,), jnp.nan, dtype)
    state = (
        jnp.asarray(0),
        jnp.asarray(alpha0, dtype),
        jnp.asarray(lambda0, dtype),
        jnp.zeros((p,), dtype),
        jnp.asarray(False),
        scores0,
    )
    n_iter, alpha, lam, w_last, _, scores = jax.lax.while_loop(cond, body, state)
    w, sse = coef_sse(alpha, lam)
    # scikit-learn scores the final (α, λ) with the new SSE but the last iteration's weights.
    scores = scores.at[n_iter].set(score(alpha, lam, w_last, sse))
    sigma = (Vt.T / (alpha * e + lam)[None, :]) @ Vt
    if n < p:
        # Directions outside X's row space keep the prior covariance 1/λ.
        sigma = sigma + (jnp.eye(p, dtype=dtype) - Vt.T @ Vt) / lam
    (w_out,), (b_out,) = rd.finish(w[None, :], data.x_mean, data.y_mean, fit_intercept)
    return BayesianRidgeResult(w_out, b_out, alpha, lam, sigma, scores, n_iter)


@functools.partial(jax.jit, static_argnames=("fit_intercept", "max_iter"))
def _bayes_core(
    X: jax.Array,
    Y: jax.Array,
    sw: jax.Array | None,
    alpha_init: jax.Array | None,
    lambda_init: jax.Array | None,
    hyper: _Hyper,
    tol: jax.Array,
    *,
    fit_intercept: bool,
    max_iter: int,
) -> BayesianRidgeResult:
    def one(y: jax.Array) -> BayesianRidgeResult:
        return _fit_one(
            X,
            y,
            sw,
            alpha_init,
            lambda_init,
            hyper,
            tol,
            fit_intercept=fit_intercept,
            max_iter=max_iter,
        )

    return jax.vmap(one, in_axes=1)(Y)


def bayesian_ridge(
    X: ArrayLike,
    y: ArrayLike,
    *,
    fit_intercept: bool = True,
    sample_weight: ArrayLike | None = None,
    max_iter: int = 300,
    tol: float = 1e-3,
    alpha_1: float = 1e-6,
    alpha_2: float = 1e-6,
    lambda_1: float = 1e-6,
    lambda_2: float = 1e-6,
    alpha_init: float | None = None,
    lambda_init: float | None = None,
) -> BayesianRidgeResult:
    r"""Bayesian ridge by evidence maximization (MacKay): scikit-learn's ``BayesianRidge``.

    Model: ``y = Xw + b + ε`` with noise ``εᵢ ~ N(0, 1/(α·sᵢ))`` and prior ``w ~ N(0, I/λ)``, plus
    Gamma hyperpriors ``α ~ Γ(alpha_1, alpha_2)``, ``λ ~ Γ(lambda_1, lambda_2)``. For fixed
    (α, λ) the posterior mean is ridge, minimizing ``Σᵢ sᵢ (yᵢ − xᵢᵀw − b)² + (λ/α)·‖w‖²``; so the
    equivalent ridge strength is ``lam = λ/α`` (:attr:`BayesianRidgeResult.ridge_lam`).

    Starting from ``α = 1/Var(y)`` and ``λ = 1``, each iteration computes ``w`` (by the SVD of
    the centred data, eⱼ the squared singular values), then ``γ = Σⱼ α·eⱼ/(λ + α·eⱼ)``,
    ``λ ← (γ + 2·lambda_1)/(‖w‖² + 2·lambda_2)`` and ``α ← (Σs − γ + 2·alpha_1)/(SSE + 2·alpha_2)``;
    it stops when ``Σ|Δw| < tol`` (from the second iteration on) or after ``max_iter`` updates,
    and recomputes ``w`` at the final (α, λ). These are scikit-learn 1.9's numbers, its stopping
    rule, its ``sigma_`` and its ``scores_`` (the log evidence), step for step.

    Args:
        X: ``(n, p)`` design matrix (its dtype is kept).
        y: ``(n,)`` targets, or ``(n, t)``: t independent fits, stacked on a leading axis.
        fit_intercept: fit an unpenalized intercept (data centred with weighted means).
        sample_weight: ``None``, a scalar or ``(n,)`` non-negative weights.
        max_iter: maximum number of updates.
        tol: stop when the sum of absolute coefficient changes falls below this.
        alpha_1, alpha_2: shape and rate of the Gamma prior on α.
        lambda_1, lambda_2: shape and rate of the Gamma prior on λ.
        alpha_init, lambda_init: starting values (default ``1/Var(y)`` and 1).

    Returns:
        :class:`BayesianRidgeResult` ``(coef, intercept, alpha, lambda_, sigma, scores,
        n_iter)``.

    Raises:
        ValueError: shapes that disagree, NaN/Inf in the data, negative weights or
            hyperparameters, ``max_iter < 1``.

    Examples:
        >>> import jax
        >>> import jax.numpy as jnp
        >>> import jaxl2
        >>> X = jax.random.normal(jax.random.PRNGKey(0), (50, 5))
        >>> y = X @ jnp.arange(1.0, 6.0) + jax.random.normal(jax.random.PRNGKey(1), (50,))
        >>> fit = jaxl2.bayesian_ridge(X, y)
        >>> print(int(fit.n_iter), round(float(fit.ridge_lam), 3))
        5 0.1

    References:
        MacKay (1992), *Bayesian interpolation*; Tipping (2001), *Sparse Bayesian learning and
        the relevance vector machine*; scikit-learn ``BayesianRidge``.
    """
    max_iter = ck.check_int(max_iter, "max_iter")
    X, Y, sw, y_was_1d, out_dtype, traced = ck.check_xy(X, y, sample_weight)
    dtype = X.dtype
    hyper = {
        k: v
        for k, v in dict(
            alpha_1=alpha_1, alpha_2=alpha_2, lambda_1=lambda_1, lambda_2=lambda_2
        ).items()
    }
    for name, value in hyper.items():
        check_nonnegative(value, name)
    hyper_arr = _Hyper(**{k: jnp.asarray(v, dtype) for k, v in hyper.items()})
    inits = []
    for name, value in (("alpha_init", alpha_init), ("lambda_init", lambda_init)):
        if value is not None:
            value = jnp.asarray(check_nonnegative(value, name)).astype(dtype)
        inits.append(value)
    tol_arr = jnp.asarray(check_nonnegative(tol, "tol")).astype(dtype)
    res = _bayes_core(
        X,
        Y,
        sw,
        inits[0],
        inits[1],
        hyper_arr,
        tol_arr,
        fit_intercept=fit_intercept,
        max_iter=int(max_iter),
    )
    res = res._replace(coef=rd.guard_finite(res.coef, traced, "bayesian_ridge"))
    if y_was_1d:
        res = jax.tree.map(lambda a: a[0], res)
    return BayesianRidgeResult(
        *(a.astype(out_dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a for a in res)
    )
