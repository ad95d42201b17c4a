"""Closed-form ridge regression and Tikhonov regularization, jitted.

All solvers work on the centred, sqrt(s)-scaled problem of :mod:`jaxl2._ridge_data`; they differ
only in how they solve ``(XsᵀXs + lam·I) w = Xsᵀys``.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np

from .. import _checks as ck
from .._checks import check_choice, is_concrete
from .._typing import ArrayLike, Matrix
from . import ridge_chunks as ch
from . import ridge_data as rd
from . import ridge_iterative as _it

SOLVERS = ("auto", "cholesky", "svd", "eigh", "cg")
# Above this many bytes for the Gram matrix, "auto" goes matrix-free (conjugate gradients).
_GRAM_BYTES_LIMIT = 2 * 1024**3
# With more distinct per-target strengths than this, one eigendecomposition beats t Choleskys.
_PER_TARGET_EIGH = 8


class RidgeResult(NamedTuple):
    """Result of :func:`ridge` and :func:`tikhonov`.

    Attributes:
        coef: ``(p,)`` for a 1-D ``y``, ``(t, p)`` for ``y`` of shape ``(n, t)`` (scikit-learn's
            shapes).
        intercept: ``()`` or ``(t,)``; zero when ``fit_intercept=False``.
    """

    coef: jax.Array
    intercept: jax.Array

    def predict(self, X: Any) -> jax.Array:
        """``X @ coef.T + intercept``: shape ``(m,)`` or ``(m, t)``."""
        X = jnp.asarray(X).astype(self.coef.dtype)
        if self.coef.ndim == 1:
            return X @ self.coef + self.intercept
        return X @ self.coef.T + self.intercept[None, :]


def resolve_solver(solver: str, n: int, p: int, dtype: Any, lam: jax.Array) -> str:
    """The solver "auto" picks (see :func:`ridge`'s docstring); other names pass through."""
    check_choice(solver, "solver", SOLVERS)
    if solver != "auto":
        return solver
    concrete = is_concrete(lam)
    if concrete and bool(np.any(np.asarray(lam) == 0)):
        return "svd"
    m = min(n, p)
    if m * m * jnp.dtype(dtype).itemsize > _GRAM_BYTES_LIMIT:
        return "cg"
    if lam.ndim == 1 and lam.shape[0] > _PER_TARGET_EIGH:
        if not concrete or np.unique(np.asarray(lam)).size > _PER_TARGET_EIGH:
            return "eigh"
    return "cholesky"


def _lam_row(lam: jax.Array) -> jax.Array:
    """Broadcasts lam against (m, t) arrays: per-target lam becomes a row."""
    return lam[None, :] if lam.ndim == 1 else lam


# Up to this order the condition estimate inverts the Cholesky factor once (see _rcond).
_SMALL = 64


def _rcond(A: jax.Array, factor: jax.Array) -> jax.Array:
    """Reciprocal condition estimate of SPD ``A`` from its lower Cholesky ``factor``.

    ``1 / (‖A‖₁ · λ_max(A⁻¹))`` with λ_max(A⁻¹) from a few steps of inverse iteration (O(m²)
    each), never above the ratio ``min Lᵢᵢ² / max Lᵢᵢ²``; 0 when the factorization broke down
    (NaN or a non-positive pivot). A cheap version of LAPACK's ``xPOCON``, usable inside ``jit``.
    """
    m = A.shape[0]
    d = jnp.square(jnp.diagonal(factor))
    v = jax.random.normal(jax.random.PRNGKey(0), (m,), A.dtype) + 1
    if m <= _SMALL:
        # One triangular inverse, then fused multiply-reduce products: under a user's vmap over
        # many small problems, 18 batched triangular solves cost 3× the rest of the solve.
        L_inv = jsl.solve_triangular(factor, jnp.eye(m, dtype=A.dtype), lower=True)

        def inverse(v: jax.Array) -> jax.Array:  # A⁻¹v = L⁻ᵀ(L⁻¹v)
            return jnp.sum(L_inv * jnp.sum(L_inv * v[None, :], axis=1)[:, None], axis=0)
    else:
        inverse = lambda v: jsl.cho_solve((factor, True), v)

    def step(_: Any, v: jax.Array) -> jax.Array:
        v = inverse(v)
        return v / jnp.linalg.norm(v)

    v = jax.lax.fori_loop(0, 8, step, v / jnp.linalg.norm(v))
    inv_norm = jnp.linalg.norm(inverse(v))
    norm1 = jnp.max(jnp.sum(jnp.abs(A), axis=0))
    est = jnp.minimum(1 / (norm1 * inv_norm), jnp.min(d) / jnp.max(d))
    broke = ~jnp.all(jnp.isfinite(factor)) | ~jnp.all(d > 0) | ~jnp.isfinite(est)
    return jnp.where(broke, jnp.zeros_like(est), est)


def _solve_cholesky(G: jax.Array, rhs: jax.Array, lam: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(``(G + lam·I)⁻¹ rhs`` by Cholesky, the smallest reciprocal condition estimate)."""
    eye = jnp.eye(G.shape[0], dtype=G.dtype)

    def solve(lam_k: jax.Array, b: jax.Array) -> tuple[jax.Array, jax.Array]:
        A = G + lam_k * eye
        factor, sol = rd.cho_factor_solve(A, b)  # gradient-safe through the fallback
        # The condition estimate's triangular solves start after this one (see rd.after).
        return sol, _rcond(A, rd.after(factor, sol))

    if lam.ndim == 0:
        return solve(lam, rhs)
    # one λ at a time on CPU: see rd.map_unbatched (batched LAPACK calls deadlock jaxlib 0.10)
    sol, rcond = rd.map_unbatched(solve, lam, rhs.T)
    return sol.T, jnp.min(rcond)


def _pinv_filter(
    values: jax.Array, lam: jax.Array, cutoff: jax.Array, numerator: jax.Array
) -> jax.Array:
    """``numerator / (values + lam)``, with the lam = 0 pseudo-inverse rule below ``cutoff``.

    For lam > 0 the filter is exact for every value; for lam = 0 the directions with values at
    or below ``cutoff`` get 0 (minimum-norm least squares). The denominator is made safe so the
    gradient in lam stays finite.
    """
    keep = (values > cutoff) | (lam > 0)
    denom = jnp.where(keep, values + lam, jnp.ones_like(values))
    return jnp.where(keep, numerator / denom, jnp.zeros_like(values))


def svd_cutoff(s: jax.Array, n: int, p: int) -> jax.Array:
    """Singular values of X at or below this are zero (numpy.linalg.lstsq's default rcond)."""
    return rd.eps_of(s.dtype) * max(n, p) * jnp.max(s)


def _solve_svd(Xs: jax.Array, Ys: jax.Array, lam: jax.Array) -> jax.Array:
    """Ridge by the thin SVD of Xs, singular values below a relative cutoff treated as 0.

    A direction with ``s ≤ eps·max(n, p)·s_max`` is numerically in the null space of X: its
    computed ``uᵀy`` is rounding noise, which ``s/(s² + lam)`` would amplify for a tiny lam
    (scikit-learn's ``svd`` solver does); it gets 0 at every lam, so every lam down to 0 gives
    the exact ridge solution of the numerically rank-reduced X, and lam = 0 the minimum-norm
    least-squares solution.
    """
    n, p = Xs.shape
    U, s, Vt = jnp.linalg.svd(Xs, full_matrices=False)
    s_col = s[:, None]
    keep = s_col > svd_cutoff(s, n, p)
    lam_row = _lam_row(lam)
    denom = jnp.where(keep, s_col * s_col + lam_row, jnp.ones_like(s_col * lam_row))
    filt = jnp.where(keep, s_col / denom, jnp.zeros_like(denom))
    return (Vt.T @ (filt * ch.tdot(U, Ys))).T


def eigh_cutoff(e: jax.Array, n: int, p: int) -> jax.Array:
    """Eigenvalues of a Gram matrix at or below this are zero for the lam = 0 pseudo-inverse.

    Eigenvalues of XᵀX carry absolute errors of about eps·e_max, so the cut sits there (a
    singular value of X below about sqrt(eps·max(n, p))·s_max cannot be resolved from XᵀX).
    """
    return rd.eps_of(e.dtype) * max(n, p) * jnp.max(e)


def _solve_eigh(
    G: jax.Array, rhs: jax.Array, lam: jax.Array, n: int, p: int
) -> tuple[jax.Array, jax.Array]:
    """(``(G + lam·I)⁻¹ rhs`` from one eigendecomposition of G, its reciprocal condition).

    The condition is ``(e_min + lam_min)/(e_max + lam_min)`` over the eigenvalues ``e`` of G.
    """
    e, Q = jnp.linalg.eigh(G)
    e = jnp.maximum(e, 0)
    e_col = e[:, None]
    filt = _pinv_filter(e_col, _lam_row(lam), eigh_cutoff(e, n, p), jnp.ones_like(e_col))
    lam_min = jnp.min(lam)
    rcond = (e[0] + lam_min) / (e[-1] + lam_min)
    return Q @ (filt * ch.tdot(Q, rhs)), jnp.where(jnp.isfinite(rcond), rcond, 0)


def trusted_rcond(dtype: Any) -> float:
    """Below this reciprocal condition the Gram-matrix solvers fall back to the SVD.

    A solve through ``XᵀX + lam·I`` carries relative errors of about ``eps / rcond`` in the
    coefficients, and the intercept ``ȳ − x̄ᵀw`` can multiply them by ``‖x̄‖``; the cut
    ``eps^(1/3)`` (6e-6 in float64, 5e-3 in float32) keeps both well below ``sqrt(eps)``.
    """
    return float(rd.eps_of(dtype) ** (1 / 3))


def _solve_cg(
    X: jax.Array,
    Y: jax.Array,
    sw: jax.Array | None,
    x_mean: jax.Array,
    y_mean: jax.Array,
    lam: jax.Array,
    tol: float,
    max_iter: int | None,
) -> jax.Array:
    """Conjugate gradients on the normal equations; X is centred and weighted implicitly.

    Started from zero, the iterates stay in the row space of X, so lam = 0 gives the
    minimum-norm least-squares solution.
    """
    weights = jnp.ones((X.shape[0],), X.dtype) if sw is None else sw

    def design(v: jax.Array) -> jax.Array:  # Xc v, with Xc = X - 1 x̄ᵀ
        return X @ v - x_mean @ v

    def design_t(u: jax.Array) -> jax.Array:  # Xcᵀ u
        return ch.tdot(X, u) - x_mean * jnp.sum(u)

    def solve(lam_k: jax.Array, y: jax.Array, ym: jax.Array) -> jax.Array:
        b = design_t(weights * (y - ym))

        def normal(v: jax.Array) -> jax.Array:
            return design_t(weights * design(v)) + lam_k * v

        w, _ = jax.scipy.sparse.linalg.cg(normal, b, tol=tol, maxiter=max_iter)
        return w

    lam_t = jnp.broadcast_to(lam, (Y.shape[1],))
    return jax.vmap(solve, in_axes=(0, 1, 0))(lam_t, Y, y_mean)


@functools.partial(jax.jit, static_argnames=("fit_intercept", "solver", "max_iter"))
def _ridge_core(
    X: jax.Array,
    Y: jax.Array,
    sw: jax.Array | None,
    lam: jax.Array,
    *,
    fit_intercept: bool,
    solver: str,
    tol: float,
    max_iter: int | None,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(W, b, rcond): rcond is the Gram solvers' reciprocal condition estimate (1 otherwise).

    The Gram solvers (cholesky, eigh) check their factorization; below
    :func:`trusted_rcond` (an ill-conditioned or singular ``XᵀX + lam·I``, e.g. a tiny lam on
    collinear data, where Cholesky gives NaN or noise) ``lax.cond`` switches to the SVD solver
    with its relative rank cutoff, so the result is the exact ridge solution either way.
    """
    n, p = X.shape
    c = ch.centring(X, Y, sw, fit_intercept)
    one = jnp.ones((), X.dtype)
    if solver == "cg":
        W = _solve_cg(X, Y, sw, c.x_mean, c.y_mean, lam, tol, max_iter)
        return (*rd.finish(W, c.x_mean, c.y_mean, fit_intercept), one)

    def by_svd(*after: jax.Array) -> jax.Array:
        data = rd.prepare(rd.after(X, *after), Y, sw, fit_intercept)
        return _solve_svd(data.Xs, data.Ys, lam)

    if solver == "svd":
        return (*rd.finish(by_svd(), c.x_mean, c.y_mean, fit_intercept), one)
    # Gram form: XᵀX (primal, n ≥ p) or XXᵀ (dual, then w = Xsᵀα), never forming Xs.
    if n >= p:
        G, rhs = ch.primal_gram(X, Y, c)
    else:
        G, rhs = ch.dual_gram(X, c), ch.targets(Y, c)
    if solver == "cholesky":
        sol, rcond = _solve_cholesky(G, rhs, lam)
    else:
        sol, rcond = _solve_eigh(G, rhs, lam, n, p)
    W_fast = (sol if n >= p else ch.design_t_dot(X, c, sol)).T
    trusted = rcond >= trusted_rcond(X.dtype)
    # under a user's vmap, when some member falls back: the SVD after the Gram solve
    W = rd.fallback(trusted, W_fast, lambda: by_svd(W_fast, rcond))
    return (*rd.finish(W, c.x_mean, c.y_mean, fit_intercept), rcond)


def warn_ill_conditioned(rcond: Any, solver: str, dtype: Any) -> None:
    """scipy's ``LinAlgWarning`` where scikit-learn's Cholesky solve warns (rcond < eps).

    Called on the host after a solve whose Gram factorization reported ``rcond``; nothing
    happens for a traced value. The result itself is exact (the SVD fallback ran).
    """
    if not is_concrete(rcond):
        return
    value = float(rcond)
    if value < rd.eps_of(dtype):
        from scipy.linalg import LinAlgWarning

        warnings.warn(
            f"Ill-conditioned matrix (rcond={value:.6g}): result may not be accurate with "
            f"solver={solver!r}; jaxl2 solved by SVD with a relative rank cutoff instead.",
            LinAlgWarning,
            stacklevel=3,
        )


def _output(W: jax.Array, b: jax.Array, y_was_1d: bool, out_dtype: Any) -> RidgeResult:
    if y_was_1d:
        W, b = W[..., 0, :], b[..., 0]
    return RidgeResult(W.astype(out_dtype), b.astype(out_dtype))


def _ridge_bcoo(
    X: Any,
    y: Any,
    lam: Any,
    fit_intercept: bool,
    sample_weight: Any,
    solver: str,
    tol: float | None,
    max_iter: int | None,
) -> RidgeResult:
    """:func:`ridge` for a sparse ``BCOO`` X: matrix-free CG, centring applied implicitly."""
    if solver not in ("auto", "cg"):
        raise ValueError(
            f"a sparse (BCOO) X is solved matrix-free: solver must be 'auto' or 'cg', got "
            f"solver={solver!r}."
        )
    X, Y, sw, y_was_1d, dtype = _it.check_bcoo(X, y, sample_weight)
    lam = ck.check_lam_per_target(lam, Y.shape[1], y_was_1d, dtype)
    tol, max_iter = _cg_settings(tol, max_iter, dtype, X.shape[1])
    W, b, _, _ = _it.cg_normal(
        X, Y, sw, lam, jnp.asarray(tol, dtype), fit_intercept=fit_intercept, max_iter=max_iter
    )
    return _output(W, b, y_was_1d, dtype)


def _cg_settings(tol: Any, max_iter: Any, dtype: Any, p: int | None) -> tuple[float, int | None]:
    """CG's (tol, max_iter): checked, with the defaults for ``None`` (``max_iter`` stays ``None``
    when ``p`` is)."""
    if tol is None:
        tol = 1e-12 if jnp.dtype(dtype) == jnp.float64 else 1e-6
    if not ck.is_concrete(tol):
        raise TypeError(f"tol must be a concrete number (a static setting of CG), got {tol!r}.")
    max_iter = ck.check_int(max_iter, "max_iter", allow_none=True)
    if max_iter is None and p is not None:
        max_iter = 10 * p
    return float(ck.check_tol(tol)), max_iter


def ridge(
    X: Matrix,
    y: ArrayLike,
    lam: ArrayLike,
    *,
    fit_intercept: bool = True,
    sample_weight: ArrayLike | None = None,
    solver: str = "auto",
    tol: float | None = None,
    max_iter: int | None = None,
) -> RidgeResult:
    r"""Ridge regression in closed form: the same numbers as scikit-learn's ``Ridge(alpha=lam)``.

    Minimizes, for each target, ``Σᵢ sᵢ (yᵢ − xᵢᵀw − b)² + lam · ‖w‖²`` with the intercept ``b``
    unpenalized (``sᵢ`` = ``sample_weight``, default 1). With an intercept, ``X`` and ``y`` are
    centred with sample-weighted means, rows are scaled by ``√sᵢ``, the penalized least-squares
    problem is solved, and ``b = ȳ − x̄ᵀw``. ``lam = 0`` gives the minimum-norm least-squares
    solution (``numpy.linalg.lstsq``), also for rank-deficient ``X``.

    Solvers (all exact up to rounding, except ``"cg"`` which stops at ``tol``):

    - ``"cholesky"``: Cholesky of ``XᵀX + lam·I`` (primal, when n ≥ p) or of ``XXᵀ + lam·I``
      (dual, when n < p, then ``w = Xᵀα``). The fastest.
    - ``"svd"``: thin SVD of ``X``; filter factors ``s/(s² + lam)``, singular values at or below
      ``eps·max(n, p)·s_max`` treated as 0 at every lam (numerically null directions carry only
      rounding noise). The most accurate (works on ``X``, not on its squared condition number),
      and the lam = 0 reference.
    - ``"eigh"``: eigendecomposition of the smaller Gram matrix; one decomposition serves every
      per-target ``lam``.

    ``"cholesky"`` and ``"eigh"`` check their factorization inside ``jit`` (a reciprocal
    condition estimate of ``XᵀX + lam·I``); below ``eps^(1/3)`` (a tiny lam on collinear or
    rank-deficient data) ``lax.cond`` switches to ``"svd"``, so every solver returns the exact
    ridge solution at every lam down to 0, never NaN. Where scikit-learn's Cholesky solve warns
    (rcond < eps), :func:`ridge` issues the same ``scipy.linalg.LinAlgWarning`` on the host.
    - ``"cg"``: conjugate gradients on the normal equations with matrix-vector products only
      (centring and weights applied implicitly; nothing of size p×p or n×n is formed).
    - ``"auto"``: ``"svd"`` when ``lam`` is known to contain a 0; else ``"cg"`` when the Gram
      matrix ``min(n, p)² × itemsize`` would exceed 2 GiB (so float64 switches at
      min(n, p) > 16384 and float32 at > 23170); else ``"eigh"`` for more than 8 distinct
      per-target strengths; else ``"cholesky"``.

    Args:
        X: ``(n, p)`` design matrix, dense or a ``jax.experimental.sparse.BCOO`` (solved by
            ``"cg"`` with matrix-vector products only, never densified). Its dtype is the compute
            and output dtype (float16/bfloat16
            are solved in float32 and cast back; integer ``X`` uses ``y``'s or the default float).
        y: ``(n,)`` or ``(n, t)`` targets.
        lam: ``lam ≥ 0``: a scalar, or a ``(t,)`` array of per-target strengths.
        fit_intercept: fit an unpenalized intercept.
        sample_weight: ``None``, a scalar, or ``(n,)`` non-negative weights ``sᵢ``. Integer weights
            equal repeated rows; a zero weight equals a dropped row.
        solver: one of ``"auto"``, ``"cholesky"``, ``"svd"``, ``"eigh"``, ``"cg"``.
        tol: ``"cg"`` only: relative residual tolerance (default 1e-12 in float64, 1e-6 in
            float32).
        max_iter: ``"cg"`` only: iteration cap (default ``10·p``).

    Returns:
        :class:`RidgeResult` ``(coef, intercept)`` with scikit-learn's shapes: ``coef`` is
        ``(p,)`` for 1-D ``y`` and ``(t, p)`` otherwise; ``intercept`` is ``()`` or ``(t,)``.
        (For a one-column ``y`` of shape ``(n, 1)`` scikit-learn's ``Ridge`` ravels ``coef_`` to
        ``(p,)``; jaxl2 keeps ``(1, p)``, and ``jaxl2.sklearn.Ridge`` copies scikit-learn.)

    Raises:
        ValueError: ``X`` not 2-D; ``y`` or ``sample_weight`` of the wrong length; ``lam``
            negative or NaN (the offending index is named) or of the wrong shape; NaN or Inf in
            ``X`` or ``y``; negative, NaN or infinite sample weights; an unknown solver.

    Examples:
        >>> import jax.numpy as jnp
        >>> import jaxl2
        >>> X = jnp.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [2.0, 1.0]])
        >>> y = jnp.array([1.0, 2.0, 3.0, 4.0])
        >>> res = jaxl2.ridge(X, y, 0.5)
        >>> print(res.coef.round(3), res.intercept.round(3))
        [1.2 0.4] 1.0

    References:
        Hoerl & Kennard (1970), *Ridge regression: biased estimation for nonorthogonal
        problems*; scikit-learn ``sklearn.linear_model.Ridge``.
    """
    if _it.is_bcoo(X):
        return _ridge_bcoo(X, y, lam, fit_intercept, sample_weight, solver, tol, max_iter)
    X, Y, sw, y_was_1d, out_dtype, traced = ck.check_xy(X, y, sample_weight)
    lam = ck.check_lam_per_target(lam, Y.shape[1], y_was_1d, X.dtype)
    n, p = X.shape
    requested = solver
    solver = resolve_solver(solver, n, p, X.dtype, lam)
    if requested not in ("cg", "auto") and (tol is not None or max_iter is not None):
        raise ValueError(
            f"tol and max_iter apply to solver='cg' only, but the solver is {requested!r} "
            f"(tol={tol!r}, max_iter={max_iter!r}); pass solver='cg' or leave them at None."
        )
    tol, max_iter = _cg_settings(tol, max_iter, X.dtype, None)
    W, b, rcond = _ridge_core(
        X, Y, sw, lam, fit_intercept=fit_intercept, solver=solver, tol=tol, max_iter=max_iter
    )
    W, b = rd.guard_finite((W, b), traced, "ridge")
    if not traced and is_concrete(lam) and bool(np.all(np.asarray(lam) > 0)):
        # lam = 0 asks for least squares: the pseudo-inverse is the answer, nothing to warn.
        warn_ill_conditioned(rcond, solver, X.dtype)
    return _output(W, b, y_was_1d, out_dtype)


@functools.partial(jax.jit, static_argnames=("fit_intercept", "method"))
def _tikhonov_core(
    X: jax.Array,
    Y: jax.Array,
    sw: jax.Array | None,
    lam: jax.Array,
    gamma: jax.Array,
    *,
    fit_intercept: bool,
    method: str,
) -> tuple[jax.Array, jax.Array]:
    def by_lstsq() -> tuple[jax.Array, jax.Array]:
        data = rd.prepare(X, Y, sw, fit_intercept)
        Xs, Ys = data.Xs, data.Ys
        n, p = Xs.shape
        # In the right singular basis of Xs (w = V c), with singular values below the
        # relative cutoff set to 0, so rounding noise along numerically null directions of X is
        # never fitted: minimum-norm least squares on [S; √lam ΓV] c ≈ [Uᵀys; 0].
        U, sv, Vt = jnp.linalg.svd(Xs, full_matrices=n < p)
        m = sv.shape[0]
        sv = jnp.where(sv > svd_cutoff(sv, n, p), sv, 0)
        S = jnp.zeros((m, p), Xs.dtype).at[jnp.arange(m), jnp.arange(m)].set(sv)
        Uy = ch.tdot(U[:, :m], Ys)
        GV = gamma @ Vt.T

        def solve_lstsq(lam_k: jax.Array, uy: jax.Array) -> jax.Array:
            A = jnp.concatenate([S, jnp.sqrt(lam_k) * GV], axis=0)
            rhs = jnp.concatenate([uy, jnp.zeros((gamma.shape[0],), uy.dtype)])
            return Vt.T @ jnp.linalg.lstsq(A, rhs)[0]

        lam_t = jnp.broadcast_to(lam, (Ys.shape[1],))
        W = rd.map_unbatched(solve_lstsq, lam_t, Uy.T)  # one target at a time on CPU
        return rd.finish(W, data.x_mean, data.y_mean, fit_intercept)

    if method != "cholesky":
        return by_lstsq()
    c = ch.centring(X, Y, sw, fit_intercept)
    G, rhs = ch.primal_gram(X, Y, c)
    P = gamma.T @ gamma

    def solve(lam_k: jax.Array, b: jax.Array) -> tuple[jax.Array, jax.Array]:
        A = G + lam_k * P
        factor, sol = rd.cho_factor_solve(A, b)  # gradient-safe through the fallback
        # The condition estimate's triangular solves start after this one (see rd.after).
        return sol, _rcond(A, rd.after(factor, sol))

    if lam.ndim == 0:
        W, rcond = solve(lam, rhs)
        W = W.T
    else:
        W, rcond = rd.map_unbatched(solve, lam, rhs.T)  # one λ at a time on CPU
        rcond = jnp.min(rcond)
    fast = rd.finish(W, c.x_mean, c.y_mean, fit_intercept)
    # An ill-conditioned XᵀX + lam·ΓᵀΓ (null spaces of X and Γ nearly meeting, or a tiny lam):
    # the stacked least-squares solve instead, as for ridge's SVD fallback.
    return rd.fallback(rcond >= trusted_rcond(X.dtype), fast, by_lstsq)


def tikhonov(
    X: ArrayLike,
    y: ArrayLike,
    lam: ArrayLike,
    gamma: ArrayLike,
    *,
    fit_intercept: bool = True,
    sample_weight: ArrayLike | None = None,
    solver: Literal["auto", "cholesky", "lstsq"] = "auto",
) -> RidgeResult:
    r"""Tikhonov regularization: ridge with the penalty ``lam · ‖Γw‖²`` for a general matrix Γ.

    Minimizes ``Σᵢ sᵢ (yᵢ − xᵢᵀw − b)² + lam · ‖Γw‖²`` with the intercept ``b`` unpenalized, i.e.
    solves ``(XᵀSX + lam·ΓᵀΓ) w = XᵀSy`` on centred data. ``Γ = I`` is :func:`ridge`; a
    difference operator (rows ``e_{j+1} − e_j``) asks for smooth coefficients.

    Solvers: ``"cholesky"`` factors ``XᵀX + lam·ΓᵀΓ``, checks the factorization inside ``jit``
    and falls back (``lax.cond``) to ``"lstsq"`` when it is ill-conditioned (a tiny lam, or the
    null spaces of X and Γ nearly meeting); ``"lstsq"`` solves the stacked least-squares
    problem ``[X; √lam·Γ] w ≈ [y; 0]`` by SVD and returns its minimum-norm solution (singular
    values of X below ``eps·max(n, p)·s_max`` treated as 0, as for ridge), so it never fails;
    ``"auto"`` uses ``"lstsq"`` when ``lam`` is known to contain a 0 and ``"cholesky"``
    otherwise.

    Args:
        X: ``(n, p)`` design matrix (its dtype is kept).
        y: ``(n,)`` or ``(n, t)`` targets.
        lam: ``lam ≥ 0``, a scalar or a ``(t,)`` array of per-target strengths.
        gamma: ``(m, p)`` penalty matrix Γ (any m).
        fit_intercept: fit an unpenalized intercept.
        sample_weight: ``None``, a scalar or ``(n,)`` non-negative weights.
        solver: ``"auto"``, ``"cholesky"`` or ``"lstsq"``.

    Returns:
        :class:`RidgeResult` with the shapes of :func:`ridge`.

    Raises:
        ValueError: ``gamma`` not 2-D or without p columns, plus every error of :func:`ridge`.

    Examples:
        >>> import jax.numpy as jnp
        >>> import jaxl2
        >>> X = jnp.eye(4)
        >>> y = jnp.array([0.0, 4.0, 0.0, 4.0])
        >>> D = jnp.diff(jnp.eye(4), axis=0)  # first differences: rows e_{j+1} - e_j
        >>> res = jaxl2.tikhonov(X, y, 1.0, D, fit_intercept=False)
        >>> print([round(float(c), 3) for c in res.coef])
        [1.143, 2.286, 1.714, 2.857]

    References:
        Tikhonov & Arsenin (1977), *Solutions of ill-posed problems*; Hansen (1998),
        *Rank-deficient and discrete ill-posed problems*, ch. 5.
    """
    X, Y, sw, y_was_1d, out_dtype, traced = ck.check_xy(X, y, sample_weight)
    lam = ck.check_lam_per_target(lam, Y.shape[1], y_was_1d, X.dtype)
    gamma = jnp.asarray(gamma)
    p = X.shape[1]
    if gamma.ndim != 2 or gamma.shape[1] != p:
        raise ValueError(
            f"gamma must be a 2-D array with one column per feature, shape (m, {p}), got shape "
            f"{gamma.shape}."
        )
    gamma = gamma.astype(X.dtype)
    if ck.is_concrete(gamma):
        gamma = ck.check_finite(gamma, "gamma")
    traced = traced or not ck.is_concrete(gamma)
    method = check_choice(solver, "solver", ("auto", "cholesky", "lstsq"))
    if method == "auto":
        zero = is_concrete(lam) and bool(np.any(np.asarray(lam) == 0))
        method = "lstsq" if zero else "cholesky"
    W, b = _tikhonov_core(X, Y, sw, lam, gamma, fit_intercept=fit_intercept, method=method)
    W, b = rd.guard_finite((W, b), traced, "tikhonov", y="y or gamma")
    return _output(W, b, y_was_1d, out_dtype)
