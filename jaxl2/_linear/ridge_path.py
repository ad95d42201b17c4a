"""Whole ridge paths from one eigendecomposition, with exact leave-one-out and GCV.

For n ≥ p the decomposition is ``XsᵀXs = V diag(e) Vᵀ`` and ``U = Xs V`` (unnormalized: its
columns have squared norms e). Then for every strength lam the hat matrix is
``U diag(1/(e + lam)) Uᵀ``, so with ``C = Uᵀ ys``:

- fitted values ``ŷ(lam) = U (C / (e + lam))``: one (n × p)·(p × K) matmul for all K strengths;
- leverages ``hᵢᵢ(lam) = Σⱼ Uᵢⱼ² / (eⱼ + lam)``: one (n × p)·(p × K) matmul of U∘U;
- coefficients ``w(lam) = V (C / (e + lam))``.

For n < p the dual ``XsXsᵀ = U diag(e) Uᵀ`` is used with hat filter ``e/(e + lam)`` and
``w = Xsᵀ U (C / (e + lam))``. No work of size n·p is repeated per strength: the per-strength
cost is the two n·m·K products (m = min(n, p)), against the n·p² of a refit.

For n ≥ p the path makes two passes over row chunks of X (:mod:`jaxl2._ridge_chunks`): the
first accumulates XsᵀXs and Xsᵀys, the second forms U chunk by chunk and sums the LOO and
residual terms, so neither Xs nor U (each n × p) is ever held in memory. :func:`decompose`
(used by :func:`jaxl2.tune_ridge`, which evaluates the criterion many times) keeps U instead.
"""

from __future__ import annotations

import functools
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp

from .. import _checks as ck
from .._checks import check_choice
from .._typing import ArrayLike, Devices
from . import ridge_chunks as ch
from . import ridge_data as rd
from .lapack_threads import single_threaded_blas
from .ridge import eigh_cutoff, svd_cutoff, trusted_rcond
from .ridge_chunks import gram_cols, gram_rows

# Largest number of (sample, strength, target) residual entries materialized at once; more
# targets than fit are processed in chunks (lax.map), so memory stays near 2**25 entries.
_CHUNK_ENTRIES = 2**25


class RidgePathResult(NamedTuple):
    """Result of :func:`ridge_path`: K strengths, each with coefficients and CV criteria.

    Attributes:
        lams: ``(K,)`` the strengths.
        coef: ``(K, p)`` for 1-D ``y``, ``(K, t, p)`` for ``(n, t)`` targets.
        intercept: ``(K,)`` or ``(K, t)``.
        loo_mse: ``(K,)`` or ``(K, t)``: exact leave-one-out mean squared error
            ``(1/n) Σᵢ sᵢ eᵢ²``, with ``eᵢ`` the residual of a refit without sample i
            (scikit-learn ``RidgeCV``'s ``-best_score_``).
        gcv: ``(K,)`` or ``(K, t)``: generalized cross-validation
            ``(1/n)‖√s∘(y − ŷ)‖² / (1 − tr(A)/n)²`` (A the hat matrix, intercept included).
        best_index: ``()`` or ``(t,)``: index of the smallest ``loo_mse`` (per target).
        best_lam: ``()`` or ``(t,)``: ``lams[best_index]``.
    """

    lams: jax.Array
    coef: jax.Array
    intercept: jax.Array
    loo_mse: jax.Array | None
    gcv: jax.Array
    best_index: jax.Array
    best_lam: jax.Array


class Decomposition(NamedTuple):
    """One decomposition of the centred, scaled problem; serves every strength."""

    U: jax.Array  # (n, m) basis of the fitted values
    Z: jax.Array  # (n, m) leverage weights (U∘U, or its intercept-corrected dual form)
    e: jax.Array  # (m,) eigenvalues of the Gram matrix, clipped at 0
    C: jax.Array  # (m, t) Uᵀ ys
    V: jax.Array | None  # (p, m) eigenvectors of XᵀX (primal); None for the dual
    cutoff: jax.Array  # eigenvalues at or below this count as 0 when lam = 0


def decompose(Xs: jax.Array, Ys: jax.Array, sqrt_weight: jax.Array | None) -> Decomposition:
    """Eigendecomposition of the smaller Gram matrix.

    ``sqrt_weight`` is the intercept column sqrt(s) (None without an intercept). In the dual U
    is square and orthogonal, so ``(1 − hᵢᵢ − sᵢ/Σs)/lam = Σⱼ Zᵢⱼ/(eⱼ + lam)`` with
    ``Z = U∘(U − q (Uᵀq)ᵀ)`` and ``q = sqrt(s)/‖sqrt(s)‖``: the intercept direction, an exact null
    vector of XsXsᵀ, cancels against its own numerical eigenvector instead of against s/Σs, and
    no ``1 − h`` is formed, so small strengths keep full precision (scikit-learn's RidgeCV uses
    the same form in its Gram mode).
    """
    n, p = Xs.shape
    if n >= p:
        e, V = jnp.linalg.eigh(gram_cols(Xs))
        U = Xs @ V
        Z = U * U
    else:
        e, U = jnp.linalg.eigh(gram_rows(Xs))
        V = None
        Z = U * U
        if sqrt_weight is not None:
            q = sqrt_weight / jnp.linalg.norm(sqrt_weight)
            Z = U * (U - q[:, None] * (q @ U)[None, :])
    e = jnp.maximum(e, 0)
    return Decomposition(U, Z, e, ch.tdot(U, Ys), V, eigh_cutoff(e, n, p))


class Filters(NamedTuple):
    """Per-strength filter factors."""

    inv: jax.Array  # (m, K): 1/(e + lam), 0 for lam = 0 below the cutoff (pseudo-inverse)
    lam: jax.Array  # (1, K): the strengths
    null: jax.Array  # (m, 1): 1 for directions at or below the cutoff, else 0


def filters(dec: Decomposition, lams: jax.Array) -> Filters:
    """Filter factors for strengths ``lams`` of shape (K,)."""
    return filters_from(dec.e, dec.cutoff, lams)


def filters_from(e: jax.Array, cutoff: jax.Array, lams: jax.Array) -> Filters:
    """Filter factors for eigenvalues ``e`` (m,) and strengths ``lams`` (K,)."""
    e = e[:, None]
    lam = lams[None, :]
    keep = (e > cutoff) | (lam > 0)
    inv = jnp.where(keep, 1 / jnp.where(keep, e + lam, jnp.ones_like(e + lam)), 0)
    return Filters(inv, lam, (e <= cutoff).astype(e.dtype))


def gcv_from_rss(
    rss: jax.Array, n: int, e: jax.Array, filt: Filters, fit_intercept: bool
) -> jax.Array:
    """GCV ``(rss/n) / (1 − tr(A)/n)²`` for residual sums of squares ``rss`` (K, t).

    ``n − tr(A)`` is summed from ``1 − eⱼ/(eⱼ + lam) = lam/(eⱼ + lam)`` rather than formed as a
    difference, so it keeps its precision when the fit nearly interpolates. It is NaN where
    ``tr(A) = n`` (an interpolating fit at lam = 0).
    """
    # lam/(e + lam) per direction; a direction with a zero filter (the lam = 0 pseudo-inverse,
    # or dropped below the SVD cutoff) is not fitted at all: 1 when below the cutoff.
    comp = jnp.where(filt.inv == 0, filt.null, filt.lam * filt.inv)
    dof = (n - e.shape[0]) + jnp.sum(comp, axis=0) - (1.0 if fit_intercept else 0.0)
    dof = dof[:, None]
    safe = jnp.where(dof > 0, dof, 1)
    return jnp.where(dof > 0, (rss / n) / jnp.square(safe / n), jnp.nan)


def gcv_values(
    dec: Decomposition, filt: Filters, resid: jax.Array, fit_intercept: bool
) -> jax.Array:
    """GCV for residuals ``resid`` (n, K): (K,)."""
    rss = jnp.sum(jnp.square(resid), axis=0)[:, None]
    return gcv_from_rss(rss, dec.U.shape[0], dec.e, filt, fit_intercept)[:, 0]


def loo_denominators(dec: Decomposition, filt: Filters, leverage: jax.Array) -> jax.Array:
    """Denominators of the LOO residuals for each strength: (n, K).

    Primal: ``1 − hᵢᵢ − (intercept leverage)``. Dual: the same divided by lam, i.e.
    ``Σⱼ Zᵢⱼ/(eⱼ + lam)``; with the numerators of :func:`loo_numerators` also divided by lam the
    ratio is unchanged, it has no cancellation for small lam, and at lam = 0 it is the limit
    lam → 0⁺, the leave-one-out error of minimum-norm interpolation.
    """
    if dec.V is not None:
        return 1 - dec.Z @ filt.inv - leverage[:, None]
    return dec.Z @ filt.inv


def loo_numerators(
    dec: Decomposition, y: jax.Array, c: jax.Array, filt: Filters
) -> tuple[jax.Array, jax.Array]:
    """(LOO numerators, residuals ``y − ŷ``), each (n, K), for y (n, 1 or K), c = Uᵀy.

    Primal: both are ``y − U(c/(e + lam))``. Dual: the numerator is ``U(c/(e + lam))`` (the
    residual divided by lam) and the residual is ``lam·U(c/(e + lam))`` for lam > 0 and the
    null-space part of y for lam = 0.
    """
    if dec.V is not None:
        resid = y - dec.U @ (filt.inv * c)
        return resid, resid
    num = dec.U @ (filt.inv * c)
    at_zero = jnp.where(filt.lam == 0, dec.U @ (filt.null * c), 0)
    return num, filt.lam * num + at_zero


def loo_errors(num: jax.Array, den: jax.Array, row_mask: jax.Array | None) -> jax.Array:
    """Scaled LOO residuals ``√sᵢ·eᵢ``; rows with zero weight contribute exactly 0."""
    looe = num / den
    return looe if row_mask is None else jnp.where(row_mask[:, None], looe, 0)


def criteria(
    dec: Decomposition,
    Ys: jax.Array,
    leverage: jax.Array,
    row_mask: jax.Array | None,
    filt: Filters,
    fit_intercept: bool,
) -> tuple[jax.Array, jax.Array]:
    """(loo_mse, gcv), each (K, t), for the strengths whose filters are ``filt``."""
    n, t = Ys.shape
    den = loo_denominators(dec, filt, leverage)

    def stats(args: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        y, c = args
        num, resid = loo_numerators(dec, y[:, None], c[:, None], filt)
        loo = jnp.mean(jnp.square(loo_errors(num, den, row_mask)), axis=0)
        return loo, gcv_values(dec, filt, resid, fit_intercept)

    batch = max(1, min(t, _CHUNK_ENTRIES // max(1, n * filt.inv.shape[1])))
    loo, gcv = jax.lax.map(stats, (Ys.T, dec.C.T), batch_size=batch)
    return loo.T, gcv.T


def coefficients(dec: Decomposition, Xs: jax.Array, inv: jax.Array) -> jax.Array:
    """Coefficients (K, t, p) in the scaled space for inverse filters ``inv`` (m, K)."""
    m, K = inv.shape
    t = dec.C.shape[1]
    M = (inv[:, :, None] * dec.C[:, None, :]).reshape(m, K * t)
    W = dec.V @ M if dec.V is not None else ch.tdot(Xs, dec.U @ M)
    return W.reshape(-1, K, t).transpose(1, 2, 0)


def intercept_column(X: jax.Array, sw: jax.Array | None) -> jax.Array:
    """The intercept's column in the sqrt(s)-scaled space: sqrt(s), or ones."""
    return jnp.ones((X.shape[0],), X.dtype) if sw is None else jnp.sqrt(sw)


def _gram_or_svd(
    gram: jax.Array, Xs_fn: Any, lams: jax.Array, n: int, p: int, skip: int
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """(e ascending, eigenvectors, cutoff, dropped) of the Gram matrix, or of the SVD of Xs.

    The eigendecomposition of the Gram matrix is exact enough while ``(e_min + lam_min) /
    (e_max + lam_min)`` (``e_min`` skipping the ``skip`` smallest values, i.e. the intercept's
    known null direction in the dual) is at least :func:`jaxl2._ridge.trusted_rcond`; below,
    (a tiny lam on collinear or rank-deficient data) ``lax.cond`` switches to the SVD of the
    centred, scaled data ``Xs_fn()``, whose squared singular values below the relative
    cutoff ``(eps·max(n, p)·s_max)²`` are set to exactly 0 and flagged in ``dropped``: those
    directions are numerically null and take no part in the coefficients at any lam.
    """
    e, vecs = jnp.linalg.eigh(gram)
    e = jnp.maximum(e, 0)
    lam_min = jnp.min(lams)
    rcond = (e[skip] + lam_min) / (e[-1] + lam_min)
    trusted = jnp.isfinite(rcond) & (rcond >= trusted_rcond(e.dtype))

    def by_gram() -> tuple[jax.Array, ...]:
        return e, vecs, eigh_cutoff(e, n, p), jnp.zeros(e.shape, bool)

    def by_svd() -> tuple[jax.Array, ...]:
        U, s, Vt = jnp.linalg.svd(Xs_fn(), full_matrices=False)
        cut = svd_cutoff(s, n, p)
        dropped = s <= cut
        e_svd = jnp.where(dropped, 0, s * s)
        basis = Vt.T if n >= p else U
        return e_svd[::-1], basis[:, ::-1], jnp.square(cut), dropped[::-1]

    return rd.fallback(trusted, by_gram(), by_svd)


class PrimalBasis(NamedTuple):
    """What pass 2 of the primal path needs from the eigendecomposition of XsᵀXs."""

    e: jax.Array  # (p,) eigenvalues, ascending
    V: jax.Array  # (p, p) eigenvectors, divided by the column scale when standardizing
    filt: Filters  # 1/(e + lam) per direction and strength
    M: jax.Array  # (p, K·t): filt.inv ∘ (Vᵀ XsᵀYs), so that the fitted values are U M


def primal_gram(
    X: jax.Array, Y: jax.Array, c: ch.Centring, total: jax.Array, standardize: bool
) -> tuple[jax.Array, jax.Array, jax.Array | None]:
    """Pass 1: ``(XsᵀXs, XsᵀYs, column scale)``, the Gram matrix through BLAS's ``syrk`` on CPU
    in float64 (:func:`ridge_chunks.gram_cols`), standardized when asked."""
    G, B = ch.primal_gram(X, Y, c)
    if not standardize:
        return G, B, None
    scale = jnp.sqrt(jnp.diagonal(G) / total)
    scale = jnp.where(scale > 0, scale, jnp.ones_like(scale))
    return G / (scale[:, None] * scale[None, :]), B / scale[:, None], scale


def primal_basis(
    X: jax.Array,
    c: ch.Centring,
    G: jax.Array,
    B: jax.Array,
    scale: jax.Array | None,
    lams: jax.Array,
) -> PrimalBasis:
    """The eigendecomposition XsᵀXs = V diag(e) Vᵀ (or the SVD fallback) and the filters."""
    n, p = X.shape
    t, K = B.shape[1], lams.shape[0]

    def scaled_design() -> jax.Array:
        return ch.scale_rows(c, X, c.x_mean, c.sqrt_w, scale)

    e, V, cutoff, dropped = _gram_or_svd(G, scaled_design, lams, n, p, skip=0)
    filt = filters_from(e, cutoff, lams)
    filt = filt._replace(inv=jnp.where(dropped[:, None], 0, filt.inv))
    C = V.T @ B  # = Uᵀ Ys
    if scale is not None:
        V = V / scale[:, None]  # Xs_std V = Xs (D⁻¹ V): pass 2 works on unscaled chunks
    M = (filt.inv[:, :, None] * C[:, None, :]).reshape(p, K * t)
    return PrimalBasis(e, V, filt, M)


def primal_criteria(
    X: jax.Array,
    Y: jax.Array,
    c: ch.Centring,
    row_mask: jax.Array | None,
    basis: PrimalBasis,
) -> tuple[jax.Array, jax.Array]:
    """Pass 2: (Σ scaled LOO residuals², residual sum of squares), each (K, t), forming
    U = Xs V chunk by chunk: per chunk ``X·V`` and the two (rows × p)·(p × K) products, the
    leverages ``(U∘U)·filt.inv`` and the fitted values ``U·M``."""
    n, p = X.shape
    t = Y.shape[1]
    V, filt, M = basis.V, basis.filt, basis.M
    K = filt.inv.shape[1]

    def body(acc: tuple, chunk: tuple) -> tuple:
        rows, targets, sqrt_w, leverage, mask = chunk
        Xs = ch.scale_rows(c, rows, c.x_mean, sqrt_w)
        Ys = ch.scale_rows(c, targets, c.y_mean, sqrt_w)
        U = Xs @ V
        den = 1 - (U * U) @ filt.inv - leverage[:, None]
        resid = Ys[:, None, :] - (U @ M).reshape(-1, K, t)
        looe = resid / den[:, :, None]
        if mask is not None:
            looe = jnp.where(mask[:, None, None], looe, 0)
        return acc[0] + jnp.sum(jnp.square(looe), axis=0), acc[1] + jnp.sum(jnp.square(resid), 0)

    zeros = jnp.zeros((K, t), X.dtype)
    arrays = (X, Y, c.sqrt_w, c.leverage, row_mask)
    return ch.reduce_rows(body, (zeros, zeros), arrays, ch.row_chunk(n, max(p, K * t)))


def _primal_path(
    X: jax.Array,
    Y: jax.Array,
    c: ch.Centring,
    row_mask: jax.Array | None,
    lams: jax.Array,
    total: jax.Array,
    standardize: bool,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(W (K, t, p), loo (K, t), gcv (K, t)) for n ≥ p, in two passes over row chunks of X.

    Pass 1 (:func:`primal_gram`) accumulates XsᵀXs and XsᵀYs; after the eigendecomposition
    XsᵀXs = V diag(e) Vᵀ (:func:`primal_basis`), pass 2 (:func:`primal_criteria`) forms U = Xs V
    chunk by chunk and sums the LOO and residual terms of every strength.
    """
    n, p = X.shape
    t, K = Y.shape[1], lams.shape[0]
    G, B, scale = primal_gram(X, Y, c, total, standardize)
    basis = primal_basis(X, c, G, B, scale, lams)
    loo_sum, rss = primal_criteria(X, Y, c, row_mask, basis)
    W = (basis.V @ basis.M).reshape(p, K, t).transpose(1, 2, 0)
    return W, loo_sum / n, gcv_from_rss(rss, n, basis.e, basis.filt, c.fit_intercept)


def _dual_path(
    X: jax.Array,
    Y: jax.Array,
    c: ch.Centring,
    row_mask: jax.Array | None,
    lams: jax.Array,
    total: jax.Array,
    standardize: bool,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(W (K, t, p), loo (K, t), gcv (K, t)) for n < p from the eigendecomposition of XsXsᵀ."""
    n, p = X.shape
    t, K = Y.shape[1], lams.shape[0]
    scale = None
    if standardize:
        scale = jnp.sqrt(ch.column_sum_squares(X, c) / total)
        scale = jnp.where(scale > 0, scale, jnp.ones_like(scale))
    gram = ch.dual_gram(X, c, scale)
    Ys = ch.targets(Y, c)

    def scaled_design() -> jax.Array:
        return ch.scale_rows(c, X, c.x_mean, c.sqrt_w, scale)

    skip = 1 if c.fit_intercept else 0  # the intercept's null direction of the centred XsXsᵀ
    e, U, cutoff, dropped = _gram_or_svd(gram, scaled_design, lams, n, p, skip=skip)
    Z = U * U
    if c.fit_intercept:
        root = jnp.ones((n,), X.dtype) if c.sqrt_w is None else c.sqrt_w
        q = root / jnp.linalg.norm(root)
        Z = U * (U - q[:, None] * (q @ U)[None, :])
    dec = Decomposition(U, Z, e, ch.tdot(U, Ys), None, cutoff)
    filt = filters(dec, lams)
    loo, gcv = criteria(dec, Ys, c.leverage, row_mask, filt, c.fit_intercept)
    # Numerically null directions (dropped) count in the LOO and GCV terms above, where their
    # residual is real, but not in the coefficients, where Xsᵀu is rounding noise.
    inv = jnp.where(dropped[:, None], 0, filt.inv)
    M = (inv[:, :, None] * dec.C[:, None, :]).reshape(n, K * t)
    W = ch.design_t_dot(X, c, U @ M, scale)
    if scale is not None:
        W = W / scale[:, None]
    return W.reshape(p, K, t).transpose(1, 2, 0), loo, gcv


@functools.partial(jax.jit, static_argnames=("fit_intercept", "standardize"))
def _path_core(
    X: jax.Array,
    Y: jax.Array,
    sw: jax.Array | None,
    lams: jax.Array,
    *,
    fit_intercept: bool,
    standardize: bool,
) -> tuple[jax.Array, ...]:
    n, p = X.shape
    c = ch.centring(X, Y, sw, fit_intercept)
    row_mask = None if sw is None else sw > 0
    total = jnp.asarray(n, X.dtype) if sw is None else jnp.sum(sw)
    path = _primal_path if n >= p else _dual_path
    W, loo, gcv = path(X, Y, c, row_mask, lams, total, standardize)
    W, b = rd.finish(W, c.x_mean, c.y_mean, fit_intercept)
    safe = jnp.where(jnp.isnan(loo), jnp.inf, loo)
    best = jnp.argmin(safe, axis=0)
    return W, b, loo, gcv, best, lams[best]


def ridge_path(
    X: ArrayLike,
    y: ArrayLike,
    lams: ArrayLike,
    *,
    fit_intercept: bool = True,
    sample_weight: ArrayLike | None = None,
    standardize: bool = False,
    keep: Literal["all", "best"] = "all",
    select: str = "loo",
    targets_batch: int | None = None,
    progress: bool = False,
    devices: Devices = None,
) -> RidgePathResult:
    r"""Ridge fits at K strengths from one eigendecomposition, with exact LOO and GCV errors.

    For each ``lam`` in ``lams`` minimizes ``Σᵢ sᵢ (yᵢ − xᵢᵀw − b)² + lam · ‖w‖²`` (intercept
    unpenalized; with ``standardize=True`` the penalty is ``lam · Σⱼ σⱼ² wⱼ²``, i.e. the fit runs
    on columns divided by their weighted standard deviation σⱼ and ``coef`` is returned on the
    original scale, glmnet's default). Every strength gives exactly :func:`ridge`'s answer.

    One eigendecomposition of the smaller Gram matrix (``XᵀX`` when n ≥ p, ``XXᵀ`` when n < p)
    serves all strengths; per strength the extra work is two (n × m)·(m × K) matrix products
    (m = min(n, p)), never a refit. The criteria:

    - ``loo_mse``: exact leave-one-out error ``(1/n) Σᵢ sᵢ ((yᵢ − ŷᵢ)/(1 − hᵢᵢ − sᵢ/Σs))²``
      (the ``sᵢ/Σs`` term is the intercept's leverage; it is absent without an intercept). It
      equals refitting n times without sample i, and scikit-learn's ``RidgeCV(alphas=lams)``
      (whose ``best_score_`` is ``−loo_mse[best_index]``).
    - ``gcv``: Golub–Heath–Wahba ``(1/n)‖√s∘(y − ŷ)‖² / (1 − tr(A)/n)²``, with
      ``tr(A) = Σⱼ eⱼ/(eⱼ + lam)`` plus 1 for the intercept.

    ``lam = 0`` is allowed (minimum-norm least squares). When n < p its LOO error is the limit
    lam → 0⁺ (the LOO error of minimum-norm interpolation); where a criterion is undefined
    (NaN, e.g. GCV of an interpolating fit) it never wins ``best_index``. Everything is
    differentiable in ``lams`` (``jax.grad`` of ``loo_mse`` or ``gcv`` is exact).

    Args:
        X: ``(n, p)`` design matrix (its dtype is kept).
        y: ``(n,)`` or ``(n, t)`` targets; with several targets every criterion and the best
            strength are per target.
        lams: ``(K,)`` strengths ``≥ 0`` (any order).
        fit_intercept: fit an unpenalized intercept.
        sample_weight: ``None``, a scalar or ``(n,)`` non-negative weights.
        standardize: penalize coefficients of standardized columns (glmnet's
            ``standardize=TRUE``); the scale is the weighted standard deviation with an intercept
            and the weighted root mean square without one.
        keep: ``"all"`` returns every strength's coefficients; ``"best"`` returns only each
            target's coefficients at its own best strength (``coef`` of shape ``(t, p)`` or
            ``(p,)``, ``intercept`` ``(t,)`` or ``()``), so memory is ``O(p·t + K·t)`` instead of
            ``O(K·p·t)``: the mode for many targets (one model per voxel). Targets are processed in
            batches of ``targets_batch``.
        select: ``keep="best"`` only: the criterion that picks each target's strength, ``"loo"``
            (exact leave-one-out) or ``"gcv"``. GCV needs no residual matrices (its residual sums
            come from the eigenbasis in ``O(m·t·K)``), so it is much faster; then ``loo_mse`` is
            None.
        targets_batch: ``keep="best"`` only: targets per batch (default: about 2**23 / n), so a
            problem with more targets than fit in memory runs in bounded memory.
        progress: ``keep="best"`` only: show a progress bar over target batches (tqdm when
            installed, else printed lines).
        devices: ``keep="best"`` only: shard the targets over devices, as :func:`jaxl2.sweep`
            takes them: an int (the first n of ``jax.devices()``), a list of devices or a
            ``jax.sharding.Mesh`` (targets split over all its axes). Y and the per-target
            outputs are placed as a ``NamedSharding`` along the target axis, X and its
            decomposition are replicated, and each device solves its own targets,
            ``⌈targets_batch / D⌉`` at a time (``targets_batch`` then counts targets over all
            D devices). T is padded with zero targets to a multiple of D and trimmed after:
            when D divides T, ``coef``, ``intercept``, ``loo_mse``, ``gcv`` and ``best_index``
            come back sharded along targets; otherwise JAX returns the trimmed arrays
            replicated. A ``y`` that arrives sharded along its target axis only (a
            ``NamedSharding`` with spec ``P(None, axes)``) is solved where it lies, on its own
            mesh, when ``devices`` is None.

    Returns:
        :class:`RidgePathResult` ``(lams, coef, intercept, loo_mse, gcv, best_index, best_lam)``
        (with ``keep="best"``, ``coef`` and ``intercept`` at each target's best strength).

    Raises:
        ValueError: shapes of ``X``, ``y``, ``sample_weight`` that disagree; ``lams`` negative,
            NaN or infinite (the index is named) or not 1-D; NaN or Inf in ``X`` or ``y``;
            negative sample weights; ``devices`` with ``keep="all"``, or asking for more
            devices than exist or naming one twice.
        TypeError: ``devices`` that is not an int, a list of devices or a Mesh.

    Examples:
        >>> import jax
        >>> import jax.numpy as jnp
        >>> import jaxl2
        >>> X = jax.random.normal(jax.random.PRNGKey(0), (50, 5))
        >>> y = X @ jnp.arange(1.0, 6.0) + jax.random.normal(jax.random.PRNGKey(1), (50,))
        >>> path = jaxl2.ridge_path(X, y, jnp.logspace(-2, 3, 11))
        >>> print(path.coef.shape, path.best_lam.round(3), path.loo_mse[path.best_index].round(3))
        (11, 5) 0.032 1.213
        >>> noisy = y + 4 * jax.random.normal(jax.random.PRNGKey(2), (50,))
        >>> Y = jnp.stack([y, noisy], axis=1)  # two targets, each with its own best lam
        >>> best = jaxl2.ridge_path(X, Y, jnp.logspace(-2, 3, 11), keep="best")
        >>> print(best.coef.shape, best.loo_mse.shape, best.best_lam.round(3))
        (2, 5) (11, 2) [0.032 1.   ]

    References:
        Golub, Heath & Wahba (1979), *Generalized cross-validation as a method for choosing a
        good ridge parameter*; Hastie, Tibshirani & Friedman, *The Elements of Statistical
        Learning*, eq. 7.52 (LOO shortcut); scikit-learn ``RidgeCV``; glmnet (Friedman, Hastie &
        Tibshirani 2010) for ``standardize``.
    """
    check_choice(keep, "keep", ("all", "best"))
    check_choice(select, "select", ("loo", "gcv"))
    X, Y, sw, y_was_1d, out_dtype, traced = ck.check_xy(X, y, sample_weight)
    if X.shape[0] < 2:
        raise ValueError(
            f"ridge_path needs at least 2 samples (leave-one-out leaves one out), got "
            f"n_samples = {X.shape[0]} (X of shape {X.shape})."
        )
    lams = ck.check_lams(lams, X.dtype)
    if keep == "best":
        from .ridge_many import ridge_path_best  # the many-targets mode lives there

        return ridge_path_best(
            X,
            Y,
            sw,
            lams,
            y_was_1d,
            out_dtype,
            traced,
            fit_intercept=fit_intercept,
            standardize=standardize,
            select=select,
            targets_batch=targets_batch,
            progress=progress,
            devices=devices,
        )
    if select != "loo" or targets_batch is not None or progress or devices is not None:
        raise ValueError(
            "select, targets_batch, progress and devices apply to keep='best' only; got "
            f"keep='all' with select={select!r}, targets_batch={targets_batch!r}, "
            f"progress={progress!r}, devices={devices!r}."
        )
    # jaxlib's eigh on CPU runs on SciPy's OpenBLAS, whose threads thrash against XLA's on few
    # cores (the path took 3.5 s instead of 0.45 s at 20000 × 500 on 2 cores): one thread for
    # it, while the routed float64 products keep theirs (blas.THREADS).
    with single_threaded_blas(X, Y, sw, lams):
        W, b, loo, gcv, best, best_lam = jax.block_until_ready(
            _path_core(X, Y, sw, lams, fit_intercept=fit_intercept, standardize=standardize)
        )
    W, b, best, best_lam = rd.guard_finite((W, b, best, best_lam), traced, "ridge_path")
    if y_was_1d:
        W, b, loo, gcv, best, best_lam = (
            W[:, 0],
            b[:, 0],
            loo[:, 0],
            gcv[:, 0],
            best[0],
            best_lam[0],
        )
    cast = lambda a: a.astype(out_dtype)
    return RidgePathResult(cast(lams), cast(W), cast(b), cast(loo), cast(gcv), best, cast(best_lam))
