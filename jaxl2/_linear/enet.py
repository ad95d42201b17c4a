"""Elastic net and lasso paths by coordinate descent with warm starts and a duality-gap stop.

Objective (jaxl2's lam convention, intercept unpenalized, X and y centred with the
sample-weighted means when ``fit_intercept``)::

    F(w) = sum_i s_i (y_i - x_i^T w - b)^2 + lam * (rho * ||w||_1 + (1 - rho) * ||w||^2)

so ``rho = 0`` is ridge and ``rho = 1`` the lasso. Internally the solver works with the half
objective ``F / 2 = 1/2 ||r||^2 + a ||w||_1 + (b / 2) ||w||^2``, ``a = lam rho / 2``,
``b = lam (1 - rho)``, the form of scikit-learn's ``cd_fast`` and of the duality gap below.

Coordinate descent keeps either ``q = X^T r`` through the Gram matrix ``G = X^T X`` (covariance
updates, O(p) per coordinate: for n >= p) or the residual ``r`` (O(n) per coordinate: for
p > n). Each lam starts from the previous solutions extrapolated in log(lam) and is solved on
a working set (the current non-zeros plus the sequential strong rule's candidates); after each
sweep a vectorized KKT check adds any violator and the duality gap decides when to stop (it is
recomputed exactly before stopping). Every 5 sweeps an Anderson extrapolation of the iterates
is tried and kept if it lowers the objective (Bertrand & Massias 2021): on correlated designs
it cut the sweeps about tenfold.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .. import _checks as ck
from .._checks import check_in_range, is_concrete
from .._typing import ArrayLike
from . import glm as _glm


class ElasticNetPathResult(NamedTuple):
    """An elastic net (or lasso) path; every field has a leading axis of length ``len(lams)``.

    Attributes:
        lams: the penalties, in the order given (or the automatic grid, strongest first).
        coef: ``(K, p)`` coefficients, with exact zeros.
        intercept: ``(K,)`` intercepts (zero without one).
        dual_gap: ``(K,)`` duality gap of ``F`` at the returned coefficients.
        n_iter: ``(K,)`` coordinate-descent sweeps (over the working set) per penalty.
        converged: ``(K,)`` whether ``dual_gap <= tol * sum_i s_i (y_i - ybar)^2``.
    """

    lams: jax.Array
    coef: jax.Array
    intercept: jax.Array
    dual_gap: jax.Array
    n_iter: jax.Array
    converged: jax.Array


class _Data(NamedTuple):
    """The centred, weighted problem in one of two forms (``gram`` is static)."""

    # Each form's fields are None in the other form and read only under the matching ``gram``,
    # which a type checker cannot follow: they are typed Any.
    gram: bool
    G: Any  # (p, p) Gram matrix (gram form)
    c: Any  # (p,) X^T y (gram form)
    XT: Any  # (p, n) sqrt(s)-scaled centred X, transposed (residual form)
    A: Any  # (n, p) the same, untransposed: X^T r as r @ A is fast on XLA:CPU
    ys: Any  # (n,) sqrt(s)-scaled centred y (residual form)
    diag: jax.Array  # (p,) squared column norms
    yy: jax.Array  # ||y||^2 (weighted, centred)


def _soft(x, t):
    return jnp.sign(x) * jnp.maximum(jnp.abs(x) - t, 0.0)


def _corr(data: _Data, v, j):
    return v[j] if data.gram else jnp.dot(data.XT[j], v)


def _update(data: _Data, v, j, delta):
    return v - delta * (data.G[j] if data.gram else data.XT[j])


def _full_corr(data: _Data, w, v):
    """Exact ``q = X^T r`` (recomputed, so no drift from the incremental updates)."""
    if data.gram:
        return data.c - data.G @ w
    return v @ data.A


def _gap(data: _Data, w, v, q, a, b):
    """Duality gap of ``F / 2`` at ``w``: the best of two dual points.

    ``r`` rescaled into the dual feasible set (scikit-learn's ``cd_fast``; exact for the lasso)
    and ``r`` itself through the conjugate of the penalty (exact for ridge, needs ``b > 0``).
    """
    wq, l1, w2 = jnp.dot(w, q), jnp.sum(jnp.abs(w)), jnp.dot(w, w)
    if data.gram:
        yr = data.yy - jnp.dot(w, data.c)  # y^T r
        r2 = yr - wq  # ||r||^2 = yy - w^T c - w^T q
    else:
        r2 = jnp.dot(v, v)
        yr = jnp.dot(data.ys, v)
    xw2 = jnp.maximum(data.yy - 2.0 * yr + r2, 0.0)  # ||X w||^2 = ||y - r||^2
    dual_norm = jnp.max(jnp.abs(q - b * w))
    kappa = jnp.where(dual_norm > a, a / jnp.where(dual_norm > 0, dual_norm, 1.0), 1.0)
    gap_scaled = 0.5 * (1.0 + kappa**2) * (r2 + b * w2) + a * l1 - kappa * yr
    conj = jnp.sum(jnp.square(jnp.maximum(jnp.abs(q) - a, 0.0))) / jnp.where(b > 0, 2.0 * b, 1.0)
    gap_conj = 0.5 * r2 + a * l1 + 0.5 * b * w2 - 0.5 * data.yy + 0.5 * xw2 + conj
    gap_conj = jnp.where(b > 0, gap_conj, jnp.inf)
    return jnp.maximum(jnp.minimum(gap_scaled, gap_conj), 0.0)


def _sweep(data: _Data, w, v, idx, n_work, a, b):
    """One coordinate-descent pass over ``idx[:n_work]``; returns w, v and the largest decrease."""

    def body(k, carry):
        w, v, largest = carry
        j = idx[k]
        wj, djj = w[j], data.diag[j]
        new = _soft(_corr(data, v, j) + djj * wj, a) / (djj + b)
        delta = new - wj
        v = _update(data, v, j, delta)
        largest = jnp.maximum(largest, (djj + b) * delta * delta)
        return w.at[j].set(new), v, largest

    return lax.fori_loop(0, n_work, body, (w, v, jnp.zeros((), w.dtype)))


# Anderson extrapolation every this many sweeps (Bertrand & Massias 2021 use 5).
_ANDERSON = 5


def _half_objective(data: _Data, w, v, a, b):
    if data.gram:
        r2 = data.yy - jnp.dot(w, data.c) - jnp.dot(w, data.c - data.G @ w)
    else:
        r2 = jnp.dot(v, v)
    return 0.5 * r2 + a * jnp.sum(jnp.abs(w)) + 0.5 * b * jnp.dot(w, w)


def _state_at(data: _Data, w):
    """The coordinate-descent state (q in the Gram form, r in the residual form) at ``w``."""
    return data.c - data.G @ w if data.gram else data.ys - data.A @ w


def _anderson(data: _Data, w, v, hist, k, a, b):
    """Anderson extrapolation of the last sweeps' iterates, kept only if it lowers F.

    Once the signs of the solution settle, a coordinate-descent sweep is a fixed linear map,
    and the best affine combination of its last iterates (weights c with sum 1 minimizing
    ||sum_i c_i (w_{i+1} - w_i)||) jumps much closer to the fixed point: many fewer sweeps on
    correlated designs. ``hist`` holds the last ``_ANDERSON + 1`` iterates (a ring buffer).
    """
    m = _ANDERSON + 1
    ordered = hist[(k + 1 + jnp.arange(m)) % m]  # oldest first
    U = ordered[1:] - ordered[:-1]
    gram = U @ U.T
    reg = 1e-10 * jnp.trace(gram) + jnp.finfo(w.dtype).tiny
    z = jnp.linalg.solve(gram + reg * jnp.eye(m - 1, dtype=w.dtype), jnp.ones(m - 1, w.dtype))
    coef = z / jnp.where(jnp.sum(z) != 0, jnp.sum(z), 1.0)
    w_e = coef @ ordered[1:]
    v_e = _state_at(data, w_e)
    better = _half_objective(data, w_e, v_e, a, b) < _half_objective(data, w, v, a, b)
    better = better & jnp.all(jnp.isfinite(w_e))
    w, v = jnp.where(better, w_e, w), jnp.where(better, v_e, v)
    return w, v, jnp.broadcast_to(w, hist.shape)


def _solve_lam(
    data: _Data, w, v, q, lam, lam_prev, rho, tol_abs, max_iter
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array, jax.Array]:
    """Coordinate descent at one lam from a warm start; returns w, v, q, gap, sweeps.

    Each sweep runs over the working set only; after it, one product with the Gram matrix (or
    one pass over X) gives the exact ``q = X^T r``, the duality gap and the KKT violators
    outside the working set, which join it.
    """
    a, b = 0.5 * lam * rho, lam * (1.0 - rho)
    a_prev = 0.5 * lam_prev * rho
    # Sequential strong rule (Tibshirani et al. 2012): likely non-zeros at the new lam.
    work = (w != 0) | (jnp.abs(q) >= 2.0 * a - a_prev)
    m = _ANDERSON + 1

    def compact(work):
        return jnp.argsort(~work, stable=True).astype(jnp.int32), jnp.sum(work).astype(jnp.int32)

    def exact(args):
        w, v, _ = args
        q = _full_corr(data, w, v)
        return q, _gap(data, w, v, q, a, b)

    def cond(c):
        return (c[4] > tol_abs) & (c[5] < max_iter)

    def body(c):
        w, v, q, work, gap, sweeps, hist, idx, n_work = c
        w, v, _ = _sweep(data, w, v, idx, n_work, a, b)
        sweeps = sweeps + 1
        hist = hist.at[sweeps % m].set(w)
        w, v, hist = lax.cond(
            sweeps % _ANDERSON == 0,
            # args is the 3-tuple (w, v, hist).
            lambda args: _anderson(data, *args, sweeps, a, b),  # pyright: ignore[reportCallIssue]
            lambda args: args,
            (w, v, hist),
        )
        if data.gram:
            # q is maintained by the sweeps (covariance updates); it is recomputed exactly only
            # to confirm a stop, so a GEMV is not paid on every sweep.
            q = v
            gap = _gap(data, w, v, q, a, b)
            q, gap = lax.cond(gap <= tol_abs, exact, lambda args: (args[1], args[2]), (w, v, gap))
        else:
            q, gap = exact((w, v, gap))
        grown = work | (jnp.abs(q) > a)
        idx, n_work = lax.cond(jnp.any(grown != work), compact, lambda _: (idx, n_work), grown)
        return w, v, q, grown, gap, sweeps, hist, idx, n_work

    hist = jnp.broadcast_to(w, (m, w.shape[0]))
    idx, n_work = compact(work)
    init = (w, v, q, work, _gap(data, w, v, q, a, b), 0, hist, idx, n_work)
    w, v, q, _, gap, sweeps, _, _, _ = lax.while_loop(cond, body, init)
    # lax.while_loop's stub returns the init's types: the 0 counter comes back as an Array.
    return w, v, q, gap, sweeps  # pyright: ignore[reportReturnType]


def _centred(X, y, s, fit_intercept: bool):
    total = jnp.sum(s)
    x_mean = (s @ X) / total if fit_intercept else jnp.zeros(X.shape[1], X.dtype)
    y_mean = jnp.dot(s, y) / total if fit_intercept else jnp.zeros((), X.dtype)
    return X - x_mean[None, :], y - y_mean, x_mean, y_mean


@functools.partial(jax.jit, static_argnames=("fit_intercept", "gram", "n_lams"))
def _path(X, y, s, lams, rho, tol, max_iter, eps, *, fit_intercept: bool, gram: bool, n_lams):
    dtype = X.dtype
    y, s, rho, tol, eps = (jnp.asarray(a).astype(dtype) for a in (y, s, rho, tol, eps))
    Xc, yc, x_mean, y_mean = _centred(X, y, s, fit_intercept)
    yy = jnp.dot(s, yc * yc)
    root = jnp.sqrt(s)
    c = (yc * s) @ Xc  # X^T y as a row-vector product: fast (a transposed GEMV is not)
    if gram:
        # Materialized A^T: fused into each block product, the centring made XLA's GEMMs several
        # times slower; and rows of A^T (contiguous) make faster products than columns of A.
        AT = lax.optimization_barrier((Xc * root[:, None]).T)
        G = _glm.symmetric_gram(AT)
        data = _Data(True, G, c, None, None, None, jnp.diag(G), yy)
        v0 = c  # q at w = 0
    else:
        A = lax.optimization_barrier(Xc * root[:, None])
        AT = lax.optimization_barrier(A.T)  # rows: the coordinates' columns, contiguous
        ys = yc * root
        data = _Data(False, None, None, AT, A, ys, jnp.sum(A * A, axis=0), yy)
        v0 = ys  # r at w = 0
    if lams is None:  # the grid from lam_max, where every coefficient is zero
        top = 2.0 * jnp.max(jnp.abs(c)) / rho
        lams = top * jnp.logspace(0.0, jnp.log10(eps), n_lams, dtype=dtype)
    lams = jnp.asarray(lams).astype(dtype)
    order = jnp.argsort(-lams)  # strong to weak: each solution warm-starts the next
    tol_abs = 0.5 * tol * jnp.where(yy > 0, yy, 1.0)  # the half objective's gap
    w0 = jnp.zeros(X.shape[1], dtype)
    q0 = _full_corr(data, w0, v0)

    def per_lam(carry, lam):
        w, v, q, lam_prev, w_prev, lam_prev2 = carry
        # Warm start extrapolated linearly in log(lam) from the last two solutions, kept where
        # it does not change a sign (the path is smooth between changes of the active set).
        step = jnp.log(lam / lam_prev) / jnp.where(
            lam_prev2 != lam_prev, jnp.log(lam_prev / lam_prev2), 1.0
        )
        guess = w + step * (w - w_prev)
        guess = jnp.where(jnp.sign(guess) == jnp.sign(w), guess, w)
        start_v = _state_at(data, guess)
        start_q = start_v if data.gram else _full_corr(data, guess, start_v)
        w_new, v, q, gap, sweeps = _solve_lam(
            data, guess, start_v, start_q, lam, lam_prev, rho, tol_abs, max_iter
        )
        return (w_new, v, q, lam, w, lam_prev), (w_new, 2.0 * gap, sweeps, gap <= tol_abs)

    sorted_lams = lams[order]
    init = (w0, v0, q0, sorted_lams[0], w0, sorted_lams[0])
    _, out = lax.scan(per_lam, init, sorted_lams)
    back = jnp.argsort(order)
    coef, gaps, sweeps, ok = (a[back] for a in out)
    intercept = y_mean - coef @ x_mean
    return lams, coef, intercept, gaps, sweeps, ok


def elastic_net_path(
    X: ArrayLike,
    y: ArrayLike,
    lams: ArrayLike | None = None,
    l1_ratio: float = 0.5,
    *,
    fit_intercept: bool = True,
    sample_weight: ArrayLike | None = None,
    n_lams: int = 100,
    eps: float = 1e-3,
    precompute: bool | str = "auto",
    max_iter: int = 1000,
    tol: float | jax.Array | None = None,
) -> ElasticNetPathResult:
    r"""Elastic net path by warm-started coordinate descent, stopped on the duality gap.

    For each ``lam`` (from strongest to weakest) minimizes

    .. math:: F(w, b) = \sum_i s_i (y_i - x_i^\top w - b)^2
              + \mathrm{lam} \cdot \big(\rho \|w\|_1 + (1 - \rho) \|w\|^2\big)

    with ``rho = l1_ratio``; the intercept is not penalized. ``rho = 0`` is exactly
    :func:`jaxl2.ridge`'s objective, ``rho = 1`` the lasso. Coefficients that the L1 term
    zeroes out are exactly zero. scikit-learn's ``ElasticNet(alpha, l1_ratio=rho_s)`` is the
    same problem at ``lam = n * alpha * (1 + rho_s)``, ``rho = 2 rho_s / (1 + rho_s)`` (see
    ``jaxl2.convert.sklearn_enet_to_lam``).

    Stops at each penalty when the duality gap of ``F`` is at most
    ``tol * sum_i s_i (y_i - ybar)^2``. With ``precompute="auto"`` the Gram matrix ``X^T X`` is
    formed when ``n >= p`` (covariance updates, O(p) per coordinate step), else coordinate
    descent updates the residual (O(n) per step).

    Args:
        X: ``(n, p)`` floating-point features.
        y: ``(n,)`` targets.
        lams: ``(K,)`` penalties ``>= 0`` in any order; None builds ``n_lams`` log-spaced values
            from ``lam_max`` (all coefficients zero) down to ``eps * lam_max`` (needs
            ``l1_ratio > 0``).
        l1_ratio: ``rho`` in ``[0, 1]``.
        fit_intercept: centre X and y with the sample-weighted means and return intercepts.
        sample_weight: ``(n,)`` non-negative weights ``s``.
        n_lams: grid size when ``lams`` is None.
        eps: ratio of the smallest to the largest penalty of the automatic grid.
        precompute: ``"auto"``, True (Gram matrix) or False (residual updates).
        max_iter: coordinate-descent sweeps allowed per penalty.
        tol: relative duality-gap tolerance (default ``1e-12`` in float64, ``1e-5`` in float32).

    Returns:
        An :class:`ElasticNetPathResult` ``(lams, coef, intercept, dual_gap, n_iter,
        converged)``.

    Raises:
        TypeError: ``X`` is not floating point.
        ValueError: NaN/Inf in ``X`` or ``y``, a negative penalty, ``l1_ratio`` outside
            ``[0, 1]``, ``lams=None`` with ``l1_ratio = 0``, shapes that do not match.

    Warns:
        ConvergenceWarning: (eager calls only) some penalty did not reach ``tol``.

    Examples:
        >>> import jax.numpy as jnp, numpy as np, jaxl2
        >>> X = jnp.array([[1.0, 0.0, 2.0], [0.0, 1.0, 1.0], [1.0, 1.0, 0.0], [2.0, 0.0, 1.0],
        ...                [0.0, 2.0, 0.0], [1.0, 2.0, 2.0]])
        >>> y = jnp.array([3.0, 1.0, 1.5, 4.0, 0.0, 2.5])
        >>> path = jaxl2.elastic_net_path(X, y, jnp.array([4.0, 1.0, 0.1]), l1_ratio=0.8)
        >>> np.asarray(path.coef).round(2)
        array([[ 0.72, -0.24,  0.3 ],
               [ 1.14, -0.31,  0.51],
               [ 1.32, -0.31,  0.58]], dtype=float32)

    References:
        Friedman, Hastie & Tibshirani, "Regularization Paths for Generalized Linear Models via
        Coordinate Descent", J. Stat. Softw. 33 (2010); Tibshirani et al., "Strong rules for
        discarding predictors in lasso-type problems", JRSS B 74 (2012); Bertrand & Massias,
        "Anderson acceleration of coordinate descent", AISTATS 2021; scikit-learn ``enet_path``.
    """
    X = ck.check_design(X, floating=True, host=True, finite=True)
    n, p = X.shape
    y = ck.check_target(y, X.shape)
    s = ck.check_sample_weight(sample_weight, n, ones_dtype=X.dtype)
    check_in_range(l1_ratio, "l1_ratio", 0.0, 1.0)
    max_iter = ck.check_int(max_iter, "max_iter")
    if precompute == "auto":
        precompute = n >= p
    if precompute not in (True, False):
        raise ValueError(f"precompute must be 'auto', True or False; got {precompute!r}.")
    if lams is None:
        if is_concrete(l1_ratio) and float(l1_ratio) == 0.0:
            raise ValueError(
                "lams=None needs l1_ratio > 0: with a pure L2 penalty no finite lam zeroes every "
                "coefficient. Pass lams explicitly (or use jaxl2.ridge_path)."
            )
        n_lams = ck.check_int(n_lams, "n_lams")
        check_in_range(eps, "eps", 0.0, 1.0)
        if is_concrete(eps) and not float(np.asarray(eps)) > 0:
            raise ValueError(f"eps must lie in (0, 1] (the grid ends at eps·lam_max), got {eps!r}.")
    else:
        lams = ck.check_lams(lams)
    if tol is None:
        tol = 1e-12 if _glm.is_double(X.dtype) else 1e-5
    tol = ck.check_tol(tol)
    lams, coef, intercept, gaps, sweeps, ok = _path(
        X,
        y,
        s,
        lams,
        l1_ratio,
        tol,
        max_iter,
        eps,
        fit_intercept=bool(fit_intercept),
        gram=bool(precompute),
        n_lams=n_lams if lams is None else None,
    )
    _glm.warn_if_not_converged(ok, "elastic_net_path", max_iter)
    # lams is an array on both branches above.
    return ElasticNetPathResult(lams, coef, intercept, gaps, sweeps, ok)  # pyright: ignore[reportArgumentType]


def lasso_path(
    X: ArrayLike,
    y: ArrayLike,
    lams: ArrayLike | None = None,
    *,
    fit_intercept: bool = True,
    sample_weight: ArrayLike | None = None,
    n_lams: int = 100,
    eps: float = 1e-3,
    precompute: bool | str = "auto",
    max_iter: int = 1000,
    tol: float | jax.Array | None = None,
) -> ElasticNetPathResult:
    r"""Lasso path: :func:`elastic_net_path` with ``l1_ratio = 1``.

    Minimizes, for each ``lam``,

    .. math:: F(w, b) = \sum_i s_i (y_i - x_i^\top w - b)^2 + \mathrm{lam} \cdot \|w\|_1

    which is scikit-learn's ``Lasso(alpha)`` at ``lam = 2 n alpha``.

    Args:
        X: ``(n, p)`` floating-point features.
        y: ``(n,)`` targets.
        lams: penalties, or None for the automatic grid of :func:`elastic_net_path`.
        fit_intercept: centre X and y and return intercepts.
        sample_weight: ``(n,)`` non-negative weights.
        n_lams: grid size when ``lams`` is None.
        eps: smallest over largest penalty of the automatic grid.
        precompute: ``"auto"``, True (Gram matrix) or False.
        max_iter: coordinate-descent sweeps allowed per penalty.
        tol: relative duality-gap tolerance.

    Returns:
        An :class:`ElasticNetPathResult`.

    Raises:
        TypeError: ``X`` is not floating point.
        ValueError: NaN/Inf, a negative penalty, mismatched shapes.

    Examples:
        >>> import jax.numpy as jnp, numpy as np, jaxl2
        >>> X = jnp.array([[1.0, 0.0, 2.0], [0.0, 1.0, 1.0], [1.0, 1.0, 0.0], [2.0, 0.0, 1.0],
        ...                [0.0, 2.0, 0.0], [1.0, 2.0, 2.0]])
        >>> y = jnp.array([3.0, 1.0, 1.5, 4.0, 0.0, 2.5])
        >>> path = jaxl2.lasso_path(X, y, n_lams=4)
        >>> np.asarray(path.lams).round(2), (path.coef != 0).sum(axis=1)
        (array([10.  ,  1.  ,  0.1 ,  0.01], dtype=float32), Array([0, 3, 3, 3], dtype=int32))

    References:
        Tibshirani, "Regression Shrinkage and Selection via the Lasso", JRSS B 58 (1996);
        Friedman, Hastie & Tibshirani, "Regularization Paths for Generalized Linear Models via
        Coordinate Descent", J. Stat. Softw. 33 (2010); scikit-learn ``lasso_path``.
    """
    return elastic_net_path(
        X,
        y,
        lams,
        1.0,
        fit_intercept=fit_intercept,
        sample_weight=sample_weight,
        n_lams=n_lams,
        eps=eps,
        precompute=precompute,
        max_iter=max_iter,
        tol=tol,
    )
