"""Banded (group) ridge: one strength per feature group, fixed or tuned per target.

The objective is ``Σᵢ sᵢ (yᵢ − xᵢᵀw − b)² + Σ_g λ_g ‖w_g‖²``, i.e. Tikhonov with the diagonal
``ΓᵀΓ = diag(λ_{g(j)})``. With the substitution ``w_j = √γ_g v_j`` and ``λ_g = α/γ_g`` it is
plain ridge with strength α on the design whose group g is scaled by ``√γ_g``: the random search
over group weights γ on the simplex (himalaya's method) is then one :func:`jaxl2.ridge_path`
per candidate γ.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np

from .. import _checks as ck
from .._checks import check_choice
from .._typing import ArrayLike, Devices
from . import ridge_data as rd
from . import ridge_many as rm
from . import ridge_shard as rs
from .lapack_threads import single_threaded_blas
from .ridge import RidgeResult, svd_cutoff


def check_groups(groups: Any, p: int, name: str = "groups") -> tuple[np.ndarray, int]:
    """(labels (p,) in 0..G-1, G) from labels or from a partition into index lists.

    ``groups`` is either a 1-D integer array of length p (the group of each feature, labels
    0..G-1, each used) or a sequence of G index sequences that together cover every feature
    exactly once.
    """
    if not ck.is_concrete(groups):  # a traced array would fail deep in numpy
        raise TypeError(
            f"{name} must be concrete (numpy or Python), not traced inside jit/vmap: the groups "
            "fix the shapes of the problem. Close over them instead of passing them as arguments."
        )
    if isinstance(groups, (jax.Array, np.ndarray)) or (
        isinstance(groups, Sequence)
        and len(groups) > 0
        and all(isinstance(g, (int, np.integer)) and not isinstance(g, bool) for g in groups)
    ):
        labels = np.asarray(groups)
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(
                f"{name} as an array must be 1-D integer labels (one group per feature), got "
                f"shape {labels.shape} and dtype {labels.dtype}."
            )
        if labels.shape[0] != p:
            raise ValueError(
                f"{name} must give a group to each of the {p} features of X, got {labels.shape[0]} "
                "labels (groups not covering every feature)."
            )
        n_groups = int(labels.max()) + 1 if p else 0
        used = np.unique(labels)
        if labels.min() < 0 or used.size != n_groups:
            missing = sorted(set(range(n_groups)) - set(used.tolist()))
            raise ValueError(
                f"{name} labels must be 0..G-1 with every label used, got labels {used.tolist()}"
                + (f" (missing {missing})." if missing else ".")
            )
        return labels.astype(np.int64), n_groups
    if not isinstance(groups, Sequence) or isinstance(groups, str) or len(groups) == 0:
        raise ValueError(
            f"{name} must be 1-D integer labels of length {p} or a non-empty sequence of index "
            f"lists, got {groups!r}."
        )
    labels = np.full(p, -1)
    for g, idx in enumerate(groups):
        idx = np.arange(p)[idx] if isinstance(idx, slice) else np.asarray(idx)
        if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
            raise ValueError(f"{name}[{g}] must be a 1-D list of feature indices, got {idx!r}.")
        if idx.size == 0:
            raise ValueError(f"{name}[{g}] is empty: every group needs at least one feature.")
        if idx.min() < -p or idx.max() >= p:
            raise ValueError(f"{name}[{g}] has an index outside 0..{p - 1}: {idx.tolist()}.")
        idx = idx % p
        clash = idx[labels[idx] >= 0]
        if clash.size or np.unique(idx).size != idx.size:
            j = int(clash[0]) if clash.size else int(idx[np.argmax(np.bincount(idx) > 1)])
            other = labels[j] if labels[j] >= 0 else g
            raise ValueError(
                f"{name} overlap: feature {j} is in {name}[{other}] and {name}[{g}]; each "
                "feature must belong to exactly one group."
            )
        labels[idx] = g
    missing = np.flatnonzero(labels < 0)
    if missing.size:
        raise ValueError(
            f"{name} do not cover every feature: feature(s) {missing[:10].tolist()} of the {p} "
            "columns of X are in no group."
        )
    return labels, len(groups)


def check_group_lams(lams: Any, n_groups: int, t: int, dtype: Any, name: str = "lams") -> Any:
    """(G,) or (t, G) strengths ≥ 0 (finite)."""
    arr = jnp.asarray(lams)
    if arr.ndim not in (1, 2) or arr.shape[-1] != n_groups or (arr.ndim == 2 and arr.shape[0] != t):
        raise ValueError(
            f"{name} must have one strength per group, shape ({n_groups},), or per target and "
            f"group, shape ({t}, {n_groups}); got shape {arr.shape}."
        )
    ck.check_real(lams, name)
    arr = ck.check_nonnegative(arr, name, allow_inf=False)
    return jnp.asarray(arr).astype(dtype)


@functools.partial(jax.jit, static_argnames=("fit_intercept", "dual"))
def _banded_core(
    X: jax.Array,
    Y: jax.Array,
    sw: jax.Array | None,
    d: jax.Array,
    *,
    fit_intercept: bool,
    dual: bool,
) -> tuple[jax.Array, jax.Array]:
    """Coefficients (t, p) and intercepts for per-feature strengths d, (p,) or (t, p)."""
    data = rd.prepare(X, Y, sw, fit_intercept)
    Xs, Ys = data.Xs, data.Ys
    n, p = Xs.shape
    if dual:
        eye = jnp.eye(n, dtype=X.dtype)

        # One definition per branch (dual or primal form).
        def solve(dk: jax.Array, ys: jax.Array) -> jax.Array:  # pyright: ignore[reportRedeclaration]
            Xd = Xs / dk[None, :]
            K = Xd @ Xs.T + eye
            alpha = jsl.cho_solve(jsl.cho_factor(K, lower=True), ys)
            return jnp.tensordot(alpha, Xd, axes=(0, 0))  # (t, p) or (p,)

        W = solve(d, Ys) if d.ndim == 1 else rd.map_unbatched(solve, d, Ys.T)
    else:
        G = Xs.T @ Xs
        B = Xs.T @ Ys

        def solve(dk: jax.Array, b: jax.Array) -> jax.Array:
            return rd.cho_factor_solve(G + jnp.diag(dk), b)[1]  # gradient-safe

        W = solve(d, B).T if d.ndim == 1 else rd.map_unbatched(solve, d, B.T)
        # A group with λ_g = 0 (or tiny) over collinear features makes XᵀX + diag(d) singular:
        # its Cholesky gives NaN. Then, as tikhonov's fallback, the minimum-norm least squares
        # in the right singular basis of Xs (w = V c): [S; diag(√d) V] c ≈ [Uᵀy; 0].
        W = rd.fallback(jnp.all(jnp.isfinite(W)), W, lambda: _banded_lstsq(Xs, Ys, d))
    return rd.finish(W, data.x_mean, data.y_mean, fit_intercept)


def _banded_lstsq(Xs: jax.Array, Ys: jax.Array, d: jax.Array) -> jax.Array:
    """(t, p) banded ridge coefficients (n ≥ p) by the SVD of Xs, singular values below
    :func:`svd_cutoff` set to 0, for strengths d (p,) or (t, p) that may be 0."""
    n, p = Xs.shape
    U, sv, Vt = jnp.linalg.svd(Xs, full_matrices=False)
    sv = jnp.where(sv > svd_cutoff(sv, n, p), sv, 0)
    Uy = U.T @ Ys  # (p, t)

    def one(dk: jax.Array, uy: jax.Array) -> jax.Array:
        A = jnp.concatenate([jnp.diag(sv), jnp.sqrt(dk)[:, None] * Vt.T], axis=0)
        rhs = jnp.concatenate([uy, jnp.zeros((p,), uy.dtype)])
        return Vt.T @ jnp.linalg.lstsq(A, rhs)[0]

    d_t = jnp.broadcast_to(d, (Ys.shape[1], p))
    return rd.map_unbatched(one, d_t, Uy.T)  # one target at a time on CPU


def _shared_banded(shared: tuple, Y: jax.Array, *, fit_intercept: bool, dual: bool) -> tuple:
    """The sharded step of :func:`banded_ridge` with strengths ``d`` (p,) shared."""
    X, sw, d = shared
    return _banded_core(X, Y, sw, d, fit_intercept=fit_intercept, dual=dual)


def _shared_banded_per_target(
    shared: tuple, Yl: jax.Array, *, fit_intercept: bool, dual: bool
) -> tuple:
    """The sharded step of :func:`banded_ridge`: ``Yl`` stacks y (n, b) over the batch's
    strengths (G, b)."""
    X, sw, labels = shared
    n = X.shape[0]
    d = Yl[n:].T[:, labels]
    return _banded_core(X, Yl[:n], sw, d, fit_intercept=fit_intercept, dual=dual)


def _shared_gradient(shared: tuple, Yt: jax.Array, **static: Any) -> tuple:
    """The sharded step of the hypergradient: ``Yt`` stacks y (n, b) over log λ (G, b)."""
    X, sw, labels, bounds = shared
    n = X.shape[0]
    return _gradient_batch(X, Yt[:n], sw, labels, Yt[n:].T, bounds, **static)


def banded_ridge(
    X: ArrayLike,
    y: ArrayLike,
    groups: ArrayLike | Sequence[Sequence[int] | slice],
    lams: ArrayLike,
    *,
    fit_intercept: bool = True,
    sample_weight: ArrayLike | None = None,
    devices: Devices = None,
) -> RidgeResult:
    r"""Banded ridge: a strength per feature group, ``Σᵢ sᵢ(yᵢ − xᵢᵀw − b)² + Σ_g λ_g ‖w_g‖²``.

    The intercept is unpenalized. This is :func:`jaxl2.tikhonov` with the diagonal penalty
    ``Γ = diag(√λ_{g(j)})`` (and lam = 1), and himalaya's banded ridge with group scalings
    ``exp(δ_g) = 1/λ_g``. Solved by Cholesky of ``XᵀX + diag(λ_{g(j)})`` when n ≥ p, and of
    the dual ``X diag(1/λ) Xᵀ + I`` (then ``w = diag(1/λ) Xᵀα``) when n < p.

    Args:
        X: ``(n, p)`` design matrix (its dtype is kept).
        y: ``(n,)`` or ``(n, t)`` targets.
        groups: the group of each feature: 1-D integer labels of length p (values 0..G-1), or a
            sequence of G index lists (or slices) that cover every feature exactly once.
        lams: ``(G,)`` strengths ``λ_g ≥ 0`` shared by the targets, or ``(t, G)`` per target.
            When n < p every strength must be > 0.
        fit_intercept: fit an unpenalized intercept.
        sample_weight: ``None``, a scalar or ``(n,)`` non-negative weights.
        devices: shard the targets over devices (an int, a list of devices or a
            ``jax.sharding.Mesh``), as :func:`jaxl2.ridge_path` does: X is replicated, y, the
            per-target strengths and the outputs are sharded along targets (T padded to a
            multiple of the device count and trimmed after); a y already sharded along its
            targets is used where it lies.

    Returns:
        :class:`RidgeResult` ``(coef, intercept)`` with :func:`jaxl2.ridge`'s shapes.

    Raises:
        ValueError: groups that overlap or leave a feature out; ``lams`` of the wrong length,
            negative or not finite; plus the errors of :func:`jaxl2.ridge`.

    Examples:
        >>> import jax.numpy as jnp
        >>> import jaxl2
        >>> X = jnp.array([[1.0, 0.0, 2.0], [0.0, 1.0, 1.0], [1.0, 1.0, 0.0], [2.0, 0.0, 1.0]])
        >>> y = jnp.array([1.0, 2.0, 0.0, 3.0])
        >>> res = jaxl2.banded_ridge(X, y, [[0, 1], [2]], jnp.array([0.1, 10.0]))
        >>> print(res.coef.round(3).tolist())
        [0.088, -0.815, 0.015]

    References:
        Nunez-Elizalde, Huth & Gallant (2019), *Voxelwise encoding models with non-spherical
        multivariate normal priors*, NeuroImage; Dupré la Tour et al. (2022), *Feature-space
        selection with banded ridge regression*, NeuroImage (himalaya).
    """
    X, Y, sw, y_was_1d, out_dtype, traced = ck.check_xy(X, y, sample_weight)
    n, p = X.shape
    labels, n_groups = check_groups(groups, p)
    lam = check_group_lams(lams, n_groups, Y.shape[1], X.dtype)
    dual = n < p
    if dual and ck.is_concrete(lam) and bool(jnp.any(lam == 0)):
        raise ValueError(
            f"lams must be > 0 when n_samples < n_features ({n} < {p}): an unpenalized group "
            f"has no unique solution there; got lams = {np.asarray(lam).tolist()}."
        )
    mesh = rs.resolve(devices, Y)
    if mesh is None:
        d = lam[..., jnp.asarray(labels)]
        # one BLAS thread for the per-target LAPACK calls on CPU (see lapack_threads)
        with single_threaded_blas(X, Y, sw, d):
            W, b = jax.block_until_ready(
                _banded_core(X, Y, sw, d, fit_intercept=fit_intercept, dual=dual)
            )
    elif lam.ndim == 1:  # strengths shared by the targets: replicated with X
        W, b = rs.run(
            _shared_banded,
            {"fit_intercept": fit_intercept, "dual": dual},
            (X, sw, lam[jnp.asarray(labels)]),
            Y,
            mesh,
            None,
            lambda local: local,
            (0, 0),
        )
    else:  # per-target strengths travel with their targets, stacked under y
        W, b = rs.run(
            _shared_banded_per_target,
            {"fit_intercept": fit_intercept, "dual": dual},
            (X, sw, jnp.asarray(labels)),
            jnp.concatenate([Y, lam.T], axis=0),
            mesh,
            None,
            lambda local: local,
            (0, 0),
        )
    W, b = rd.guard_finite((W, b), traced or not ck.is_concrete(lam), "banded_ridge")
    if y_was_1d:
        W, b = W[0], b[0]
    return RidgeResult(W.astype(out_dtype), b.astype(out_dtype))


class BandedTuneResult(NamedTuple):
    """Result of :func:`tune_banded_ridge`.

    Attributes:
        lams: ``(t, G)`` (``(G,)`` for 1-D y): each target's tuned group strengths.
        coef: ``(t, p)`` or ``(p,)`` coefficients at those strengths.
        intercept: ``(t,)`` or ``()``.
        value: ``(t,)`` or ``()``: the criterion (LOO MSE or GCV) at the tuned strengths.
    """

    lams: jax.Array
    coef: jax.Array
    intercept: jax.Array
    value: jax.Array


def dirichlet_weights(n_iter: int, n_groups: int, concentration: Any, seed: int) -> np.ndarray:
    """Candidate group weights: equal weights first, then Dirichlet samples cycling through the
    concentrations (himalaya's ``generate_dirichlet_samples``)."""
    rng = np.random.default_rng(seed)
    try:
        conc = np.atleast_1d(np.asarray(concentration, np.float64))
    except (TypeError, ValueError):
        conc = np.array([np.nan])
    if conc.ndim != 1 or conc.size == 0 or not np.all(np.isfinite(conc) & (conc > 0)):
        raise ValueError(
            "concentration must be a positive finite float or a non-empty sequence of them, "
            f"got {concentration!r}."
        )
    out = [np.full(n_groups, 1.0 / n_groups)]
    for i in range(n_iter - 1):
        out.append(rng.dirichlet([conc[i % conc.size]] * n_groups))
    return np.stack(out)


def log_uniform_weights(n_iter: int, n_groups: int, seed: int, span: float = 3.0) -> np.ndarray:
    """Candidate group weights for the start of the hypergradient descent: equal weights first,
    then weights log-uniform over ``span`` decades (``log₁₀ γ_g ∈ [−span, 0]``, then normalized
    to the simplex), from a Halton sequence with a random shift (``seed``), so that few candidates
    cover the ratios between groups evenly.

    Dirichlet samples (:func:`dirichlet_weights`) put most candidates either near a corner of the
    simplex (concentration 0.1: every group but one off) or near its centre (1.0: ratios rarely
    past 10); the ratios in between, where a weak but useful group sits, are left to chance.
    """
    rng = np.random.default_rng(seed)
    primes = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71]
    shift = rng.uniform(size=n_groups)
    pts = np.empty((max(n_iter - 1, 0), n_groups))
    for g in range(n_groups):
        if g < len(primes):  # radical inverse of 1, 2, ... in base primes[g]
            base, col = primes[g], np.zeros(pts.shape[0])
            idx, scale = np.arange(1, pts.shape[0] + 1), 1.0
            while np.any(idx > 0):
                scale /= base
                col += scale * (idx % base)
                idx //= base
        else:  # beyond 20 groups: plain uniform samples
            col = rng.uniform(size=pts.shape[0])
        pts[:, g] = (col + shift[g]) % 1.0
    gammas = 10.0 ** (-span * pts)
    out = np.concatenate([np.full((1, n_groups), 1.0), gammas])
    return out / out.sum(axis=1, keepdims=True)


def _random_search(
    X, Y, sw, labels, n_groups, alphas, gammas, fit_intercept, criterion, batch, progress, mesh
):
    t = Y.shape[1]
    best_val = jnp.full((t,), jnp.inf, X.dtype)
    best_lams = jnp.ones((t, n_groups), X.dtype)
    W = jnp.zeros((t, X.shape[1]), X.dtype)
    b = jnp.zeros((t,), X.dtype)
    if mesh is not None and t % mesh.size == 0:  # the running best lives with its targets
        best_val, b = jax.device_put((best_val, b), mesh.sharding(0, 1))
        best_lams, W = jax.device_put((best_lams, W), mesh.sharding(0, 2))
    lab = jnp.asarray(labels)
    for gamma in gammas:
        gamma = jnp.asarray(gamma, X.dtype)
        root = jnp.sqrt(gamma)[lab]
        Xg = X * root[None, :]
        W_g, b_g, loo, gcv, best = rm.best_path(
            Xg,
            Y,
            sw,
            alphas,
            fit_intercept=fit_intercept,
            standardize=False,
            select=criterion,
            targets_batch=batch,
            progress=progress,
            mesh=mesh,
        )
        crit = loo if criterion == "loo" else gcv
        val = jnp.take_along_axis(crit, best[None, :], axis=0)[0]
        val = jnp.where(jnp.isnan(val), jnp.inf, val)
        better = val < best_val
        best_val = jnp.where(better, val, best_val)
        lam_g = alphas[best][:, None] / jnp.maximum(gamma, jnp.finfo(X.dtype).tiny)[None, :]
        best_lams = jnp.where(better[:, None], lam_g, best_lams)
        W = jnp.where(better[:, None], W_g * root[None, :], W)
        b = jnp.where(better, b_g, b)
    return best_lams, W, b, best_val


def _value_and_grad(Xs, G, leverage, row_mask, labels, n_groups, criterion, fit_intercept, dual):
    """(f, ∂f/∂θ) for one target: the exact LOO MSE or GCV at λ_g = exp(θ_g), in closed form.

    Primal (n ≥ p), ``A = XsᵀXs + D``, ``B = Xs A⁻¹``, ``w = A⁻¹Xsᵀy``, ``r = y − Xs w``:
    ``∂r/∂d_j = B_{:j} w_j``, ``∂h_ii/∂d_j = −B_ij²`` (``h_ii = Σ_j B_ij Xs_ij``),
    ``∂tr H/∂d_j = −(A⁻¹GA⁻¹)_jj``. Dual (n < p), ``M = (Xs D⁻¹Xsᵀ + I)⁻¹ = I − H``,
    ``V = M Xs``: ``∂M/∂d_j = V_{:j}V_{:j}ᵀ/d_j²``. Then ``∂f/∂θ_g = Σ_{j∈g} d_j ∂f/∂d_j``.
    One Cholesky, one inverse and one (n × p)·(p × p) product per call: no autodiff through the
    factorization (which would add several more triangular solves of size p × n).
    """
    n, p = Xs.shape
    dtype = Xs.dtype
    fi = 1.0 if fit_intercept else 0.0

    def crit(r, den, rss_grad, den_grad, dof, dof_grad):
        # f and ∂f/∂d from the residuals and the LOO denominators (LOO) or dof (GCV)
        if criterion == "loo":
            e = r / den
            if row_mask is not None:
                e = jnp.where(row_mask, e, 0)
            c = 2 * e / (n * den)
            return jnp.mean(jnp.square(e)), rss_grad(c) - den_grad(c * e)
        rss = jnp.sum(jnp.square(r))
        return n * rss / jnp.square(dof), n * (
            rss_grad(2 * r) / jnp.square(dof) - 2 * rss * dof_grad / dof**3
        )

    def vg(theta: jax.Array, ys: jax.Array) -> tuple[jax.Array, jax.Array]:
        d = jnp.exp(theta)[labels]
        if dual:
            eye = jnp.eye(n, dtype=dtype)
            K = (Xs / d[None, :]) @ Xs.T + eye
            M = jsl.cho_solve(jsl.cho_factor(K, lower=True), eye)
            M = (M + M.T) / 2
            r = M @ ys
            V = M @ Xs  # (n, p)
            Vy = Xs.T @ r  # Vᵀy (M symmetric)
            inv_d2 = 1 / jnp.square(d)
            V2 = jnp.square(V)
            dof = jnp.trace(M) - fi
            f, grad_d = crit(
                r,
                jnp.diagonal(M) - leverage,
                lambda c: (V.T @ c) * Vy * inv_d2,  # cᵀ ∂r/∂d_j
                lambda c: (V2.T @ c) * inv_d2,  # cᵀ ∂den/∂d_j
                dof,
                jnp.sum(V2, axis=0) * inv_d2 if criterion == "gcv" else None,
            )
        else:
            eye = jnp.eye(p, dtype=dtype)
            Ainv = jsl.cho_solve(jsl.cho_factor(G + jnp.diag(d), lower=True), eye)
            Ainv = (Ainv + Ainv.T) / 2
            w = Ainv @ (Xs.T @ ys)
            r = ys - Xs @ w
            if criterion == "loo":
                B = Xs @ Ainv  # (n, p)
                B2 = jnp.square(B)
                f, grad_d = crit(
                    r,
                    1 - jnp.sum(B * Xs, axis=1) - leverage,
                    lambda c: (B.T @ c) * w,
                    lambda c: B2.T @ c,  # ∂den_i/∂d_j = −∂h_ii/∂d_j = B_ij²
                    None,
                    None,
                )
            else:
                AG = Ainv @ G
                f, grad_d = crit(
                    r,
                    None,
                    lambda c: (Ainv @ (Xs.T @ c)) * w,
                    None,
                    n - jnp.trace(AG) - fi,
                    jnp.sum(AG * Ainv, axis=1),  # (A⁻¹GA⁻¹)_jj = ∂dof/∂d_j
                )
        grad = jax.ops.segment_sum(grad_d * d, labels, num_segments=n_groups)
        return f, grad

    return vg


def _chol_inv(A: jax.Array) -> jax.Array:
    """``L⁻¹`` for the Cholesky factor ``A = LLᵀ`` of a symmetric positive definite matrix, by
    2 × 2 blocks (recursively, down to blocks under 128): ``L₁₁ = chol(A₁₁)``,
    ``L₂₁ = A₂₁L₁₁⁻ᵀ``, ``L₂₂ = chol(A₂₂ − L₂₁L₂₁ᵀ)`` and ``(L⁻¹)₂₁ = −L₂₂⁻¹L₂₁L₁₁⁻¹``. Only the
    small diagonal blocks go through LAPACK (Cholesky and triangular solve); the rest are XLA
    products, several times faster per flop on CPU than those LAPACK calls at this size (one
    BLAS thread): at p = 300, 0.94 ms against 1.63 ms for ``cholesky`` + ``solve_triangular``
    of the whole matrix (process CPU time, best of 6, busy 2-core Xeon). Blocking the tall
    product ``X L⁻ᵀ`` the same way was slower (2.0 against 1.5 ms): it stays one product."""
    m = A.shape[0]
    if m < 128:
        L = jnp.linalg.cholesky(A)
        return jsl.solve_triangular(L, jnp.eye(m, dtype=A.dtype), lower=True)
    h = m // 2
    inv11 = _chol_inv(A[:h, :h])
    L21 = A[h:, :h] @ inv11.T
    inv22 = _chol_inv(A[h:, h:] - L21 @ L21.T)
    inv21 = -inv22 @ (L21 @ inv11)
    top = jnp.concatenate([inv11, jnp.zeros((h, m - h), A.dtype)], axis=1)
    return jnp.concatenate([top, jnp.concatenate([inv21, inv22], axis=1)], axis=0)


def _loo_newton_model(Xs, G, leverage, row_mask, labels, n_groups):
    """(value, derivs, value_only) of the exact LOO MSE at λ_g = exp(θ_g), primal (n ≥ p).

    ``value(θ, y) -> (f, w, aux)`` and ``derivs(aux) -> (∂f/∂θ, ∇²f (approximate))``, split so
    that a rejected trial point of the Newton loop costs no derivatives; ``value_only(θ, y) ->
    (f, w)`` for the last trial point, from ``hᵢᵢ = ‖L⁻¹xᵢ‖²`` (no p³ product).

    With ``A = XsᵀXs + D``, ``B = Xs A⁻¹``, ``w = A⁻¹Xsᵀy``, ``r = y − Xs w``,
    ``den = 1 − diag(Xs A⁻¹Xsᵀ) − leverage``, ``e = r/den`` and ``D_g`` the part of ``D`` on
    group g: ``∂r/∂θ_g = B D_g w``, ``∂den/∂θ_g = diag(B D_g Bᵀ)``,
    ``∂²r/∂θ_g∂θ_k = δ_gk B D_g w − B D_k A⁻¹D_g w − B D_g A⁻¹D_k w`` and
    ``∂²den_i/∂θ_g∂θ_k = δ_gk ∂den_i/∂θ_g − 2 (B D_k A⁻¹ D_g Bᵀ)_ii``. The Hessian
    ``(2/n) Σᵢ (∇eᵢ∇eᵢᵀ + eᵢ∇²eᵢ)`` is exact except in the last term, whose weights
    ``uᵢ = eᵢ²/denᵢ`` are replaced by their mean (then ``Σᵢ (B D_k A⁻¹D_g Bᵀ)_ii`` needs
    ``BᵀB = A⁻¹ − A⁻¹DA⁻¹``, a p × p product, instead of a second n × p × p one): it only shapes
    the Newton step, which is accepted on the exact criterion. The value costs one Cholesky and
    triangular inverse (:func:`_chol_inv`), one p³ product (``A⁻¹ = L⁻ᵀL⁻¹``) and one n·p²
    product (``B``); ``value_only`` the same but the p³ product; the derivatives one more p³
    product and O(n·p·G²).
    """
    n, p = Xs.shape
    dtype = Xs.dtype
    onehot = jnp.asarray(labels[:, None] == jnp.arange(n_groups)[None, :], dtype)  # (p, G)
    eye_g = jnp.eye(n_groups, dtype=dtype)

    def factor(theta: jax.Array, ys: jax.Array) -> tuple:
        d = jnp.exp(theta)[labels]
        Linv = _chol_inv(G + jnp.diag(d))  # A⁻¹ = L⁻ᵀL⁻¹
        w = Linv.T @ (Linv @ (Xs.T @ ys))
        return d, Linv, w, ys - Xs @ w

    def loo(r: jax.Array, den: jax.Array) -> tuple:
        e = r / den
        if row_mask is not None:
            e = jnp.where(row_mask, e, 0)
        return jnp.mean(jnp.square(e)), e

    def value_only(theta: jax.Array, ys: jax.Array) -> tuple:
        """(f, w) without B: ``hᵢᵢ = ‖L⁻¹xᵢ‖²``, one n·p² product and no p³ one."""
        _, Linv, w, r = factor(theta, ys)
        C = Xs @ Linv.T  # (n, p)
        return loo(r, 1 - jnp.sum(jnp.square(C), axis=1) - leverage)[0], w

    def value(theta: jax.Array, ys: jax.Array) -> tuple:
        d, Linv, w, r = factor(theta, ys)
        Ainv = Linv.T @ Linv  # symmetric by construction
        B = Xs @ Ainv  # (n, p)
        den = 1 - jnp.sum(B * Xs, axis=1) - leverage
        f, e = loo(r, den)
        return f, w, (d, Ainv, w, r, B, den, e)

    def derivs(aux: tuple) -> tuple:
        d, Ainv, w, r, B, den, e = aux
        Dg = d[:, None] * onehot  # (p, G)
        R = B @ (Dg * w[:, None])  # (n, G): ∂r/∂θ
        N = jnp.square(B) @ Dg  # (n, G): ∂den/∂θ
        J = R / den[:, None] - (r / jnp.square(den))[:, None] * N  # ∂e/∂θ
        if row_mask is not None:
            J = jnp.where(row_mask[:, None], J, 0)
        g = 2 / n * (J.T @ e)
        P = Ainv @ (Dg * w[:, None])  # (p, G): A⁻¹D_g w
        Q = (Dg[:, :, None] * P[:, None, :]).reshape(p, n_groups * n_groups)
        BQ = (B @ Q).reshape(n, n_groups, n_groups)  # [i, k, g] = (B D_k A⁻¹ D_g w)_i
        r2 = eye_g[None] * R[:, :, None] - BQ - jnp.swapaxes(BQ, 1, 2)  # ∂²r/∂θ∂θ
        e_den = e / den
        cross = -((e_den / den)[:, None] * R).T @ N  # −Σ e (R_g N_k)/den²
        u = e_den * r / den  # eᵢrᵢ/denᵢ² (0 on rows of weight 0)
        BtB = Ainv - Ainv @ (d[:, None] * Ainv)  # A⁻¹GA⁻¹
        dad = d[:, None] * Ainv * d[None, :] * BtB
        hess = (
            J.T @ J
            + jnp.einsum("i,igk->gk", e_den, r2)
            + cross
            + cross.T
            - jnp.diag(u @ N)
            + 2 * ((u / den)[:, None] * N).T @ N
            + 2 * jnp.mean(u) * (onehot.T @ dad @ onehot)
        )
        return g, 2 / n * hess

    return value, derivs, value_only


def _newton_model(Xs, G, leverage, row_mask, labels, n_groups, criterion, fit_intercept, dual):
    """(value, derivs, value_only) for one target (see :func:`_loo_newton_model`): the analytic
    Newton model of the primal LOO, else the closed-form gradient of :func:`_value_and_grad` and
    its exact Jacobian, by G forward-mode passes (unbatched: no batched LAPACK call), all
    computed by ``value`` (w is then None: the coefficients are solved for once at the end), and
    ``value_only`` the closed-form value and gradient."""
    if criterion == "loo" and not dual:
        return _loo_newton_model(Xs, G, leverage, row_mask, labels, n_groups)
    vg = _value_and_grad(
        Xs, G, leverage, row_mask, labels, n_groups, criterion, fit_intercept, dual
    )

    def value(theta: jax.Array, ys: jax.Array) -> tuple:
        (f, g), lin = jax.linearize(lambda th: vg(th, ys), theta)
        basis = jnp.eye(n_groups, dtype=theta.dtype)
        hess = jnp.stack([lin(basis[k])[1] for k in range(n_groups)], axis=1)
        return f, None, (g, (hess + hess.T) / 2)

    return value, lambda aux: aux, lambda theta, ys: (vg(theta, ys)[0], None)


@functools.partial(
    jax.jit, static_argnames=("criterion", "fit_intercept", "dual", "steps", "n_groups", "tol")
)
def _gradient_batch(
    X,
    Y,
    sw,
    labels,
    theta0,
    bounds=None,
    *,
    criterion,
    fit_intercept,
    dual,
    steps,
    n_groups,
    tol=1e-3,
):
    """Per-target trust-region Newton on θ = log λ (G,), from theta0 (b, G), inside bounds.

    Each step is the Newton step on ``|∇²f|`` (the Hessian with its eigenvalues made positive,
    so a saddle or a concave stretch is left downhill), each coordinate clipped to the trust
    radius r and θ to ``bounds = (lo, hi)``; it is kept only if the exact criterion falls (then
    r = max(r, 2·|step|∞), else r = |step|∞/4); the gradient and Hessian are computed at kept
    points only, and the last trial point costs the value only. A target stops after ``steps``
    trial points, once its radius or its last kept step is below 10⁻³ (λ within 0.1 %), once a
    kept step lowered f by less than ``tol·f``, or before trying a step whose predicted decrease
    ``−(∇fᵀs + ½ sᵀ|∇²f|s)`` is below ``tol·f`` (on issue 15's banded benchmark, T = 500: 2.2
    evaluations per target and held-out R² 0.4351 at tol = 10⁻³; 3.5 evaluations, with at most
    three trial points, and R² 0.4354 at 10⁻⁴).
    Returns (λ, coef, intercept, f, number of criterion evaluations) per target.
    """
    data = rd.prepare(X, Y, sw, fit_intercept)
    Xs, Ys = data.Xs, data.Ys
    dtype = Xs.dtype
    G = None if dual else Xs.T @ Xs
    row_mask = None if sw is None else sw > 0
    value, derivs, value_only = _newton_model(
        Xs, G, data.leverage, row_mask, labels, n_groups, criterion, fit_intercept, dual
    )
    lo, hi = (-jnp.inf, jnp.inf) if bounds is None else bounds
    rtol, tol = tol, 1e-3

    def newton_step(th, fv, g, hess, radius):
        """The clipped step on |∇²f| and its predicted decrease; go: worth trying."""
        ev, V = jnp.linalg.eigh(hess)
        a = jnp.abs(ev)
        a = jnp.maximum(a, 1e-6 * jnp.max(a) + jnp.finfo(dtype).tiny)
        step = jnp.clip(-V @ ((V.T @ g) / a), -radius, radius)
        step = jnp.clip(th + step, lo, hi) - th
        vs = V.T @ step
        pred = -(g @ step + 0.5 * vs @ (a * vs))
        return step, pred >= rtol * fv

    def one(theta: jax.Array, ys: jax.Array) -> tuple:
        theta = jnp.clip(theta, lo, hi)

        def cond(state: tuple) -> jax.Array:
            return (state[0] < steps - 1) & state[-1]

        def body(state: tuple) -> tuple:
            it, th, fv, g, hess, w, radius, step, _ = state
            size = jnp.max(jnp.abs(step))
            fc, wc, aux = value(th + step, ys)
            ok = fc < fv  # a NaN candidate (a failed factorization) is rejected
            g, hess = jax.lax.cond(ok, derivs, lambda _: (g, hess), aux)  # at kept points only
            w = w if w is None else jnp.where(ok, wc, w)
            th = jnp.where(ok, th + step, th)
            radius = jnp.where(ok, jnp.maximum(radius, 2 * size), size / 4)
            moved = jnp.where(ok, size, jnp.minimum(size / 4, radius))
            small = ok & (fv - fc < rtol * fc)  # a kept step that hardly lowered f
            fv = jnp.where(ok, fc, fv)
            step, go = newton_step(th, fv, g, hess, radius)
            return it + 1, th, fv, g, hess, w, radius, step, go & (moved >= tol) & ~small

        f0, w0, aux0 = value(theta, ys)
        g0, h0 = derivs(aux0)
        radius0 = jnp.asarray(2.0, dtype)
        step0, go0 = newton_step(theta, f0, g0, h0, radius0)
        init = (0, theta, f0, g0, h0, w0, radius0, step0, go0)
        # every trial point but the last one with its derivatives, the last one without
        it, th, fv, _, _, w, _, step, go = jax.lax.while_loop(cond, body, init)

        def last(_: None) -> tuple:
            fc, wc = value_only(th + step, ys)
            ok = fc < fv
            keep = lambda new, old: old if old is None else jnp.where(ok, new, old)
            return keep(th + step, th), keep(fc, fv), keep(wc, w), it + 2

        return jax.lax.cond(go, last, lambda _: (th, fv, w, it + 1), None)

    # one target at a time on CPU: see rd.map_unbatched (batched LAPACK calls deadlock jaxlib 0.10)
    theta, val, W, evals = rd.map_unbatched(one, theta0, Ys.T)
    if W is None:  # the coefficients at the tuned strengths
        d = jnp.exp(theta)[:, labels]

        def coef(dk: jax.Array, ys: jax.Array) -> jax.Array:
            if dual:
                Xd = Xs / dk[None, :]
                K = Xd @ Xs.T + jnp.eye(Xs.shape[0], dtype=dtype)
                return jsl.cho_solve(jsl.cho_factor(K, lower=True), ys) @ Xd
            # G is computed whenever the primal form is used.
            A = G + jnp.diag(dk)  # pyright: ignore[reportOptionalOperand]
            return jsl.cho_solve(jsl.cho_factor(A, lower=True), Xs.T @ ys)

        W = rd.map_unbatched(coef, d, Ys.T)
    W, b = rd.finish(W, data.x_mean, data.y_mean, fit_intercept)
    return jnp.exp(theta), W, b, val, evals


def tune_banded_ridge(
    X: ArrayLike,
    y: ArrayLike,
    groups: ArrayLike | Sequence[Sequence[int] | slice],
    *,
    method: str = "gradient",
    criterion: str = "loo",
    alphas: ArrayLike | None = None,
    n_iter: int | None = None,
    concentration: float | Sequence[float] = (0.1, 1.0),
    steps: int = 5,
    tol: float = 1e-3,
    seed: int = 0,
    fit_intercept: bool = True,
    sample_weight: ArrayLike | None = None,
    targets_batch: int | None = None,
    progress: bool = False,
    devices: Devices = None,
) -> BandedTuneResult:
    r"""Tunes banded ridge's group strengths per target by exact leave-one-out or GCV.

    The model is :func:`banded_ridge`'s, ``Σᵢ sᵢ(yᵢ − xᵢᵀw − b)² + Σ_g λ_g ‖w_g‖²``; each
    target gets its own ``λ ∈ ℝ^G``, chosen to minimize the exact LOO MSE
    ``(1/n) Σᵢ sᵢ((yᵢ − ŷᵢ)/(1 − hᵢᵢ − sᵢ/Σs))²`` or GCV ``(1/n)‖√s∘(y − ŷ)‖²/(1 − tr(A)/n)²``.

    - ``method="random"`` (himalaya's ``BandedRidgeCV`` search, with exact LOO/GCV instead of
      K-fold): ``n_iter`` group weights γ on the simplex (equal weights first, then Dirichlet
      samples cycling through ``concentration``); for each, one :func:`jaxl2.ridge_path` over
      ``alphas`` on the design with group g scaled by ``√γ_g`` (so ``λ_g = α/γ_g``); each target
      keeps its best (γ, α).
    - ``method="gradient"``: starts from each target's best point of a search over ``n_iter``
      group weights (equal weights first, i.e. plain ridge over ``alphas``, then weights
      log-uniform over three decades from a shifted Halton sequence, see
      ``log_uniform_weights``: Dirichlet samples leave the ratios between a strong and a weak
      group to chance), its ``log λ`` clipped into the range of ``alphas`` (a group switched
      off by a weight γ_g ≈ 0 sits on a plateau of the criterion that no local step leaves),
      and takes up to ``steps`` trust-region Newton steps on ``log λ`` (kept within 10⁴ of the
      grid's ends). The hypergradient is exact and in closed form (with ``A = XᵀX + diag(λ)`` and
      ``B = X A⁻¹``, ``∂r/∂λ_j = B_{:j} w_j`` and ``∂hᵢᵢ/∂λ_j = −B_ij²``); so is the G × G
      Hessian for LOO when n ≥ p, but for one term of the leverages' curvature whose weights
      are replaced by their mean (see ``_loo_newton_model``); otherwise the Hessian is the
      exact forward-mode Jacobian of the gradient. Each step is ``−|H|⁻¹∇f`` (eigenvalues made
      positive), each coordinate clipped to the trust radius r, kept only if the exact
      criterion falls (then r = max(r, 2‖step‖∞), else r = ‖step‖∞/4); a target stops early
      once its steps are under 10⁻³, or once a step gains (or its quadratic model predicts)
      less than ``tol`` times the criterion. Each target keeps the better of that point and the
      search's best. Per target and evaluation it costs one Cholesky and triangular inverse of
      size min(n, p) and, for LOO, one product of size n × min(n, p) × p (``O(n·p²)`` when
      n ≥ p; GCV needs ``O(p³ + n·p)``); the gradient and Hessian are computed at kept points
      only, the last trial point needs the value only. Targets are vmapped on GPU/TPU and
      taken one at a time on CPU (each solve then threads through LAPACK; batched LAPACK calls
      can deadlock XLA:CPU's thread pool in jaxlib 0.10).

    Args:
        X: ``(n, p)`` design; y: ``(n,)`` or ``(n, t)`` targets.
        groups: as for :func:`banded_ridge`.
        method: ``"gradient"`` or ``"random"``.
        criterion: ``"loo"`` or ``"gcv"``.
        alphas: ``(K,)`` overall strengths α > 0 for the search (default: the mean eigenvalue of
            the Gram matrix of the centred X times ``logspace(-4, 4, 17)``).
        n_iter: number of group-weight candidates (default 20, for ``"random"`` and as the start
            of ``"gradient"``).
        concentration: Dirichlet concentration(s) (``"random"`` only).
        steps: most Newton steps per target (``"gradient"``).
        tol: a target's descent stops once a step lowers the criterion by less than ``tol``
            times its value, or its quadratic model predicts so (``"gradient"``; 0: only the
            step size and ``steps`` stop it).
        seed: seed of the candidates (Dirichlet samples or the Halton sequence's shift).
        fit_intercept: fit an unpenalized intercept.
        sample_weight: ``None``, a scalar or ``(n,)`` non-negative weights.
        targets_batch: targets per batch (bounded memory); with ``devices``, over all devices.
        progress: show progress over batches.
        devices: shard the targets over devices (an int, a list of devices or a
            ``jax.sharding.Mesh``), as :func:`jaxl2.ridge_path` does, for both methods: X is
            replicated, y and every per-target output are sharded along targets; a y already
            sharded along its targets is used where it lies.

    Returns:
        :class:`BandedTuneResult` ``(lams, coef, intercept, value)``.

    Raises:
        ValueError: an unknown method or criterion, bad groups, ``n_iter``/``steps`` not
            positive ints, ``alphas`` not > 0, ``concentration`` not positive and finite,
            plus the errors of :func:`banded_ridge`.

    Examples:
        >>> import jax
        >>> import jax.numpy as jnp
        >>> import jaxl2
        >>> X = jax.random.normal(jax.random.PRNGKey(0), (60, 6))
        >>> w = jnp.array([1.0, -1.0, 0.5, 0.0, 0.0, 0.0])
        >>> y = X @ w + 0.5 * jax.random.normal(jax.random.PRNGKey(1), (60,))
        >>> res = jaxl2.tune_banded_ridge(X, y, [[0, 1, 2], [3, 4, 5]])
        >>> print(bool(res.lams[1] > res.lams[0]), res.value.round(2))
        True 0.29

    References:
        Dupré la Tour et al. (2022), *Feature-space selection with banded ridge regression*,
        NeuroImage (random search; himalaya); Bengio (2000), *Gradient-based optimization of
        hyperparameters* (hypergradient); Conn, Gould & Toint (2000), *Trust-Region Methods*.
    """
    return _tune_banded(
        X,
        y,
        groups,
        method=method,
        criterion=criterion,
        alphas=alphas,
        n_iter=n_iter,
        concentration=concentration,
        steps=steps,
        tol=tol,
        seed=seed,
        fit_intercept=fit_intercept,
        sample_weight=sample_weight,
        targets_batch=targets_batch,
        progress=progress,
        devices=devices,
    )[0]


def _tune_banded(
    X: ArrayLike,
    y: ArrayLike,
    groups: ArrayLike | Sequence[Sequence[int] | slice],
    *,
    method: str,
    criterion: str,
    alphas: ArrayLike | None,
    n_iter: int | None,
    concentration: float | Sequence[float],
    steps: int,
    tol: float,
    seed: int,
    fit_intercept: bool,
    sample_weight: ArrayLike | None,
    targets_batch: int | None,
    progress: bool,
    devices: Devices,
) -> tuple[BandedTuneResult, jax.Array | None]:
    """:func:`tune_banded_ridge`, and the number of criterion evaluations of each target's Newton
    descent (None for the random search): the benchmark reports it."""
    check_choice(method, "method", ("gradient", "random"))
    check_choice(criterion, "criterion", ("loo", "gcv"))
    if n_iter is None:
        n_iter = 20
    n_iter, steps = ck.check_int(n_iter, "n_iter"), ck.check_int(steps, "steps")
    tol = float(ck.check_tol(tol))
    evals = None
    X, Y, sw, y_was_1d, out_dtype, traced = ck.check_xy(X, y, sample_weight)
    n, p = X.shape
    if n < 2:
        raise ValueError(f"tune_banded_ridge needs at least 2 samples, got n_samples = {n}.")
    labels, n_groups = check_groups(groups, p)
    rm.warn_constant(Y, sw, "tune_banded_ridge")
    if alphas is None:
        Xc = X - jnp.mean(X, axis=0)[None, :] if fit_intercept else X
        scale = jnp.maximum(jnp.sum(jnp.square(Xc)) / min(n, p), jnp.finfo(X.dtype).tiny)
        alphas = scale * jnp.logspace(-4, 4, 17, dtype=X.dtype)
    else:
        alphas = ck.check_lams(alphas, X.dtype, "alphas")
        if ck.is_concrete(alphas) and bool(jnp.any(alphas <= 0)):
            # λ_g = α/γ_g and the descent works on log λ: α = 0 has neither
            raise ValueError(f"alphas must be > 0, got {np.asarray(alphas).tolist()}.")
    t = Y.shape[1]
    mesh = rs.resolve(devices, Y)
    if mesh is None:
        batch = rm.check_batch(targets_batch, n, t)
    else:
        batch = ck.check_int(targets_batch, "targets_batch", allow_none=True)
    if method == "random":  # himalaya's candidates
        gammas = dirichlet_weights(int(n_iter), n_groups, concentration, seed)
    else:  # a start for the descent: candidates spread evenly over the log-ratios
        gammas = log_uniform_weights(int(n_iter), n_groups, seed)
    # one BLAS thread for the per-target LAPACK calls on CPU (see lapack_threads); a mesh of
    # accelerators runs without the limit
    with single_threaded_blas(X, Y, sw, mesh=mesh):
        lams, W, b, val = _random_search(
            X,
            Y,
            sw,
            labels,
            n_groups,
            alphas,
            gammas,
            fit_intercept,
            criterion,
            batch,
            progress,
            mesh,
        )
        if method == "gradient":
            # Newton from the search's best point, pulled inside the α grid (a group switched off
            # by a weight γ_g ≈ 0 sits on a plateau of the criterion, where no local step moves),
            # within 10⁴ of the grid's ends
            a_lo, a_hi = jnp.log(jnp.min(alphas)), jnp.log(jnp.max(alphas))
            # a Python float (weakly typed): a NumPy float64 would promote float32 bounds
            decades = 4 * math.log(10.0)
            bounds = (a_lo - decades, a_hi + decades)
            theta0 = jnp.clip(jnp.log(lams), a_lo, a_hi)
            static = {
                "criterion": criterion,
                "fit_intercept": fit_intercept,
                "dual": n < p,
                "steps": int(steps),
                "n_groups": n_groups,
                "tol": tol,
            }
            if mesh is not None:
                tuned = rs.run(
                    _shared_gradient,
                    static,
                    (X, sw, jnp.asarray(labels), bounds),
                    jnp.concatenate([Y, theta0.T], axis=0),
                    mesh,
                    batch,
                    lambda local: min(local, 64),
                    (0, 0, 0, 0, 0),
                )
            else:
                gbatch = max(1, min(t, 64)) if targets_batch is None or batch is None else batch
                outs = []
                for s in range(0, t, gbatch):
                    Yb, theta = Y[:, s : s + gbatch], theta0[s : s + gbatch]
                    pad = gbatch - Yb.shape[1]  # same shape for every batch: one compilation
                    if pad:
                        Yb = jnp.concatenate([Yb, jnp.zeros((n, pad), Yb.dtype)], axis=1)
                        theta = jnp.concatenate([theta, jnp.zeros((pad, n_groups), theta.dtype)])
                    out = _gradient_batch(X, Yb, sw, jnp.asarray(labels), theta, bounds, **static)
                    outs.append(tuple(a[: gbatch - pad] for a in out))
                tuned = tuple(jnp.concatenate(parts, axis=0) for parts in zip(*outs, strict=True))
            *tuned, evals = tuned
            # the search's best point where Newton (started inside the grid) ended above it
            better = tuned[3] <= val
            lams, W, b, val = (
                jnp.where(better.reshape(better.shape + (1,) * (new.ndim - 1)), new, old)
                for new, old in zip(tuned, (lams, W, b, val), strict=True)
            )
        lams, W, b, val, evals = jax.block_until_ready((lams, W, b, val, evals))
    # val too: the random search maps a NaN criterion to inf (so that no candidate is picked on
    # it), which leaves a target with NaN data at zero coefficients and an infinite value.
    lams, W, b, val = rd.guard_finite((lams, W, b, val), traced, "tune_banded_ridge")
    if y_was_1d:
        lams, W, b, val = lams[0], W[0], b[0], val[0]
    res = BandedTuneResult(*(a.astype(out_dtype) for a in (lams, W, b, val)))
    return res, evals


def r2_score_split(
    y_true: ArrayLike, y_pred_split: ArrayLike, *, include_correlation: bool = True
) -> jax.Array:
    r"""Variance explained split by feature group (himalaya's ``r2_score_split``).

    With the joint prediction ``ŷ = Σ_g ŷ_g`` (``ŷ_g = X_g w_g``, see :func:`banded_predict_split`)
    and zero-mean targets y, the share of group g is
    ``R²_g = Σᵢ (2 yᵢ ŷ_gᵢ − ŷ_gᵢ ŷᵢ) / Σᵢ yᵢ²`` (product measure); the shares sum to the joint
    ``R² = 1 − ‖y − ŷ‖²/‖y‖²``. With ``include_correlation=False`` the cross terms are dropped:
    ``Σᵢ (2 yᵢ ŷ_gᵢ − ŷ_gᵢ²)/Σᵢ yᵢ²``.

    A target whose ``Σᵢ yᵢ² = 0`` (constant before centring) has no R²: its shares are 0
    (scikit-learn's ``force_finite``), with a warning when the values are concrete.

    Args:
        y_true: ``(n,)`` or ``(n, t)`` targets, zero-mean over samples (centre them first).
        y_pred_split: ``(G, n)`` or ``(G, n, t)`` per-group predictions.
        include_correlation: include the correlation between the groups' predictions.

    Returns:
        ``(G,)`` or ``(G, t)`` split R².

    Raises:
        ValueError: shapes that disagree or are empty; NaN or Inf in concrete inputs.

    Examples:
        >>> import jax.numpy as jnp
        >>> import jaxl2
        >>> y = jnp.array([1.0, -1.0, 2.0, -2.0])
        >>> parts = jnp.stack([0.5 * y, 0.3 * y])
        >>> print(jaxl2.r2_score_split(y, parts).round(3))
        [0.6  0.36]

    References:
        himalaya ``himalaya.scoring.r2_score_split``; Dupré la Tour et al. (2022).
    """
    y = jnp.asarray(y_true)
    parts = jnp.asarray(y_pred_split)
    if y.ndim not in (1, 2) or parts.ndim != y.ndim + 1 or parts.shape[1:] != y.shape:
        raise ValueError(
            "y_pred_split must have shape (n_groups, *y_true.shape); "
            f"got y_true {y.shape} and y_pred_split {parts.shape}."
        )
    if 0 in y.shape or parts.shape[0] == 0:
        raise ValueError(
            "r2_score_split needs at least one sample, target and group; got y_true "
            f"{y.shape} and y_pred_split {parts.shape}."
        )
    dtype = ck.float_dtypes(parts, y)[0]
    y, parts = y.astype(dtype), parts.astype(dtype)
    if ck.is_concrete((y, parts)):  # traced values are the caller's (no check under jit)
        ck.check_finite(y, "y_true")
        ck.check_finite(parts, "y_pred_split")
    sst = jnp.sum(jnp.square(y), axis=0)
    flat = sst == 0  # a constant target, once centred: R² is undefined
    if ck.is_concrete(flat) and bool(jnp.any(flat)):
        idx = np.flatnonzero(np.atleast_1d(np.asarray(flat)))
        warnings.warn(
            f"r2_score_split: target(s) {', '.join(map(str, idx[:5]))}"
            f"{', …' if idx.size > 5 else ''} of y_true are all zero (constant before "
            "centring): R² is undefined there and their split R² is set to 0 (scikit-learn's "
            "r2_score(force_finite=True)).",
            UserWarning,
            stacklevel=2,
        )
    cross = parts * (jnp.sum(parts, axis=0)[None] if include_correlation else parts)
    num = jnp.sum(2 * y[None] * parts - cross, axis=1)
    return jnp.where(flat[None], 0, num / jnp.where(flat, 1, sst)[None])


def banded_predict_split(
    X: ArrayLike, coef: ArrayLike, groups: ArrayLike | Sequence[Sequence[int] | slice]
) -> jax.Array:
    r"""Per-group predictions ``ŷ_g = X_g w_g``: ``(G, n)`` or ``(G, n, t)`` (no intercept).

    Args:
        X: ``(n, p)`` design.
        coef: ``(p,)`` or ``(t, p)`` coefficients (e.g. :func:`banded_ridge`'s).
        groups: as for :func:`banded_ridge`.

    Returns:
        The predictions of each group's features alone; they sum to ``X @ coef.T``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import jaxl2
        >>> X = jnp.array([[1.0, 2.0], [3.0, 4.0]])
        >>> print(jaxl2.banded_predict_split(X, jnp.array([1.0, 1.0]), [0, 1]))
        [[1. 3.]
         [2. 4.]]
    """
    X = ck.check_design(X)
    W = jnp.asarray(coef)
    if W.shape[-1] != X.shape[1] or W.ndim not in (1, 2):
        raise ValueError(f"coef must be (p,) or (t, p) with p = {X.shape[1]}, got {W.shape}.")
    labels, n_groups = check_groups(groups, X.shape[1])
    onehot = jnp.asarray(labels[None, :] == np.arange(n_groups)[:, None], X.dtype)  # (G, p)
    W = W.astype(X.dtype)
    if W.ndim == 1:
        return (X[None] * (onehot * W[None])[:, None, :]).sum(-1)
    return jnp.einsum("np,gp,tp->gnt", X, onehot, W)
