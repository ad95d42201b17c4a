"""scikit-learn estimators backed by jaxl2's jitted ridge: ``Ridge`` and ``RidgeCV``.

Precision. JAX computes in float32 unless 64-bit mode is on, and it silently turns float64
numpy input into float32. These estimators therefore decide the precision explicitly:

- float32 input: computed in float32 (as scikit-learn's ``Ridge`` does); results are float32.
- float64 (or integer) input with ``jax_enable_x64`` on: computed in float64 by JAX.
- float64 input with x64 off: the heavy work (the Gram matrix and its eigendecomposition, or
  the whole LOO path) runs in float32 in JAX, and the coefficients are then refined in float64
  with numpy: preconditioned conjugate gradients on the float64 normal equations, with the
  float32 eigendecomposition as preconditioner, until the float64 residual is at rounding level.
  So a scikit-learn user gets float64-accurate coefficients without touching JAX's settings.
  ``RidgeCV`` then picks ``alpha_`` from float32 LOO errors (which agree with float64 ones to
  about 1e-6 relative; near-ties can differ from scikit-learn), and ``best_score_`` is that
  float32 value. Enable x64 (``jax.config.update("jax_enable_x64", True)`` at start-up) to get
  everything in float64.

The estimators never change JAX's global configuration.
"""

from __future__ import annotations

import functools
import numbers
import warnings
from collections.abc import Callable, Iterable, Sequence
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp
from scipy.linalg import LinAlgWarning
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import check_scoring, get_scorer_names
from sklearn.model_selection import GridSearchCV
from sklearn.utils import check_scalar
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._typing import ArrayLike, Devices
from . import ridge_data as rd
from . import ridge_iterative as it
from .ridge import ridge
from .ridge_chunks import gram_cols, gram_rows
from .ridge_path import (
    decompose,
    filters,
    intercept_column,
    loo_denominators,
    loo_numerators,
    ridge_path,
)
from .ridge_sparse_loo import sparse_loo, sparse_loo_coef
from .sklearn_validation import _check_sample_weight, validate_data

if TYPE_CHECKING:
    from sklearn.model_selection import BaseCrossValidator

# scikit-learn's solver names and what each runs in jaxl2 (all give the same solution):
# direct solvers with the SVD fallback, or matrix-free CG (dense or sparse X).
_DIRECT = {"auto": "cholesky", "cholesky": "cholesky", "svd": "svd", "eigh": "eigh"}
_ITERATIVE = ("sparse_cg", "lsqr", "sag", "saga", "cg")
_SOLVER_NAMES = {*_DIRECT, *_ITERATIVE, "lbfgs"}

_REFINE_MAX_ITER = 200


def _x64_enabled() -> bool:
    # jax.config's stub declares none of JAX's flags as attributes.
    return bool(jax.config.jax_enable_x64)  # pyright: ignore[reportAttributeAccessIssue]


def _needs_refinement(X: np.ndarray) -> bool:
    """float64 data while JAX computes in float32."""
    return X.dtype == np.float64 and not _x64_enabled()


def _check_alpha(alpha, name: str, n_targets: int) -> np.ndarray:
    arr = np.asarray(alpha, dtype=np.float64)
    if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] not in (1, n_targets)):
        count = arr.shape[0] if arr.ndim == 1 else arr.size
        raise ValueError(
            "Number of targets and number of penalties do not correspond: "
            f"{count} != {n_targets}. {name} must be a non-negative float or an array of shape "
            f"(n_targets,) = ({n_targets},), got shape {arr.shape}."
        )
    bad = ~np.isfinite(arr) | (arr < 0)
    if bad.any():
        where = "" if arr.ndim == 0 else f" at index {int(np.argwhere(bad)[0][0])}"
        raise ValueError(f"{name} must be non-negative and finite, got {alpha!r}{where}.")
    return arr


def _center(X, y, sw, fit_intercept):
    """float64 weighted centring and sqrt(s) scaling (scikit-learn's preprocessing)."""
    if fit_intercept:
        x_mean = np.average(X, axis=0, weights=sw)
        y_mean = np.average(y, axis=0, weights=sw)
        X, y = X - x_mean, y - y_mean
    else:
        x_mean = np.zeros(X.shape[1], X.dtype)
        y_mean = np.zeros(y.shape[1:], X.dtype)
    if sw is not None:
        root = np.sqrt(sw)
        X, y = X * root[:, None], y * (root[:, None] if y.ndim == 2 else root)
    return X, y, x_mean, y_mean


@jax.jit
def _gram_eigh(Xs: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Eigendecomposition of the smaller Gram matrix (XᵀX if n ≥ p, else XXᵀ)."""
    n, p = Xs.shape
    return jnp.linalg.eigh(gram_cols(Xs) if n >= p else gram_rows(Xs))


def _refined_solve(Xs: np.ndarray, Ys: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """float64 ridge coefficients (t, p) on prepared data, with a float32 preconditioner.

    Preconditioned conjugate gradients on ``(XsᵀXs + lam·I) w = Xsᵀy`` (or its dual when
    n < p), all targets at once, in float64; the preconditioner is the float32
    eigendecomposition of the Gram matrix computed by JAX. Targets with lam = 0 use float64
    ``numpy.linalg.lstsq`` (minimum norm).
    """
    n, p = Xs.shape
    t = Ys.shape[1]
    lam = np.broadcast_to(lam, (t,)).astype(np.float64)
    W = np.zeros((t, p))
    zero = lam == 0
    if zero.any():
        W[zero] = np.linalg.lstsq(Xs, Ys[:, zero], rcond=None)[0].T
    if zero.all():
        return W
    pos = ~zero
    e, Q = (np.asarray(a, np.float64) for a in _gram_eigh(jnp.asarray(Xs, jnp.float32)))
    e = np.maximum(e, 0)
    # A float32 eigendecomposition preconditions well only while lam dominates its errors;
    # below, (tiny lam on collinear data) solve those targets by float64 SVD with a cutoff.
    tiny = pos & (lam < 1e-4 * max(float(e.max(initial=0.0)), np.finfo(np.float64).tiny))
    if tiny.any():
        W[tiny] = _svd_solve_np(Xs, Ys[:, tiny], lam[tiny])
        _warn_np(Xs, lam[tiny])
        pos = pos & ~tiny
        if not pos.any():
            return W
    lam_p = lam[pos]
    primal = n >= p

    def apply(V):
        return (Xs.T @ (Xs @ V) if primal else Xs @ (Xs.T @ V)) + lam_p * V

    def precondition(R):
        return Q @ ((Q.T @ R) / (e[:, None] + lam_p[None, :]))

    B = Xs.T @ Ys[:, pos] if primal else Ys[:, pos]
    sol = _pcg(apply, precondition, B, scale=float(e.max(initial=0.0)) + lam_p)
    W[pos] = (sol if primal else Xs.T @ sol).T
    return W


def _svd_solve_np(Xs: np.ndarray, Ys: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """float64 ridge (t, p) by SVD, singular values below eps·max(n, p)·s_max treated as 0."""
    U, s, Vt = np.linalg.svd(Xs, full_matrices=False)
    keep = s > np.finfo(np.float64).eps * max(Xs.shape) * s.max(initial=0.0)
    denom = np.where(keep[:, None], s[:, None] ** 2 + lam[None, :], 1.0)
    filt = np.where(keep[:, None], s[:, None] / denom, 0.0)
    return (Vt.T @ (filt * (U.T @ Ys))).T


def _warn_np(Xs: np.ndarray, lam: np.ndarray) -> None:
    """scipy's LinAlgWarning where scikit-learn's Cholesky solve warns (rcond < eps)."""
    s = np.linalg.svd(Xs, compute_uv=False)
    n, p = Xs.shape
    e_min = 0.0 if p > n else float(s.min(initial=0.0)) ** 2
    rcond = (e_min + float(lam.min())) / (float(s.max(initial=0.0)) ** 2 + float(lam.min()))
    if rcond < np.finfo(np.float64).eps:
        warnings.warn(
            f"Ill-conditioned matrix (rcond={rcond:.6g}): result may not be accurate with "
            "solver='cholesky'; jaxl2 solved by SVD with a relative rank cutoff instead.",
            LinAlgWarning,
            stacklevel=4,
        )


def _pcg(apply, precondition, B: np.ndarray, scale: np.ndarray, x0=None) -> np.ndarray:
    """Column-wise preconditioned CG from ``x0`` (default: the preconditioner's solution), to
    rounding level."""
    eps = np.finfo(np.float64).eps
    Xk = precondition(B) if x0 is None else x0
    R = B - apply(Xk)
    Z = precondition(R)
    P = Z.copy()
    rz = np.sum(R * Z, axis=0)
    b_norm = np.linalg.norm(B, axis=0)
    for _ in range(_REFINE_MAX_ITER):
        target = 8 * eps * (scale * np.linalg.norm(Xk, axis=0) + b_norm)
        active = np.linalg.norm(R, axis=0) > target
        if not active.any():
            break
        AP = apply(P)
        pap = np.sum(P * AP, axis=0)
        step = np.where(active & (pap > 0), rz / np.where(pap > 0, pap, 1), 0)
        Xk = Xk + step * P
        R = R - step * AP
        Z = precondition(R)
        rz_new = np.sum(R * Z, axis=0)
        P = Z + np.where(rz != 0, rz_new / np.where(rz != 0, rz, 1), 0) * P
        rz = rz_new
    return Xk


def _fit_ridge(X, y, alpha, sw, fit_intercept, solver):
    """(coef (t, p), intercept (t,)) in X's dtype for y of shape (n, t), by a direct solver."""
    if not _needs_refinement(X):
        res = ridge(X, y, alpha, fit_intercept=fit_intercept, sample_weight=sw, solver=solver)
        return np.asarray(res.coef, X.dtype), np.asarray(res.intercept, X.dtype)
    Xs, Ys, x_mean, y_mean = _center(X, y, sw, fit_intercept)
    W = _refined_solve(Xs, Ys, alpha)
    return W, (y_mean - W @ x_mean) if fit_intercept else np.zeros(W.shape[0])


def _compute_dtype(X) -> np.dtype:
    """float32 for float32 input or when JAX's x64 is off, else float64."""
    return np.dtype(np.float64 if X.dtype == np.float64 and _x64_enabled() else np.float32)


def _jax_design(X, dtype):
    return it.to_bcoo(X, dtype) if sp.issparse(X) else jnp.asarray(X, dtype)


def _default_max_iter(p: int) -> int:
    return int(min(max(200, 10 * p), 5000))


def _iteration_tol(tol: float, dtype) -> float:
    """The CG tolerance: the user's, tightened to what the precision resolves well."""
    return float(min(tol, 1e-12 if dtype == np.float64 else 1e-5))


def _refine_matrix_free(X, Y, sw, alpha, fit_intercept, W0):
    """float64 coefficients (t, p) by Jacobi-preconditioned CG on the host from ``W0``.

    For float64 data (dense or ``scipy.sparse``, never densified) solved in float32 by JAX
    (x64 off): the centred, weighted normal equations applied by products with X only.
    """
    n, p = X.shape
    w = np.ones(n) if sw is None else np.asarray(sw, np.float64)
    root = np.sqrt(w)
    total = w.sum()
    x_mean = np.asarray(X.T @ w).ravel() / total if fit_intercept else np.zeros(p)
    y_mean = (w @ Y) / total if fit_intercept else np.zeros(Y.shape[1])
    sq = X.multiply(X) if sp.issparse(X) else np.square(X)
    col_ss = np.asarray(sq.T @ w).ravel() - (total * x_mean**2 if fit_intercept else 0.0)
    lam = np.broadcast_to(alpha, (Y.shape[1],)).astype(np.float64)

    def design(V):
        return root[:, None] * (np.asarray(X @ V) - x_mean @ V)

    def design_t(U):
        su = root[:, None] * U
        return np.asarray(X.T @ su) - np.outer(x_mean, su.sum(axis=0))

    def apply(V):
        return design_t(design(V)) + lam * V

    diag = np.maximum(col_ss, 0)[:, None] + lam[None, :]
    # No preconditioner for lam ≈ 0: plain CG keeps to the row space (minimum norm).
    small = lam <= 1e-8 * float(np.max(col_ss, initial=0.0))
    diag = np.where((diag > 0) & ~small[None, :], diag, 1.0)
    B = design_t(root[:, None] * (Y - y_mean))
    W = _pcg(apply, lambda R: R / diag, B, scale=float(col_ss.sum()) + lam, x0=W0.T)
    return W.T, (y_mean - W.T @ x_mean) if fit_intercept else np.zeros(Y.shape[1])


class _RidgeBase(MultiOutputMixin, RegressorMixin, BaseEstimator):
    def _validate_fit(self, X, y, sample_weight, accept_sparse=("csr", "csc", "coo")):
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=list(accept_sparse),
            dtype=[np.float64, np.float32],
            multi_output=True,
            y_numeric=True,
        )
        y = y.astype(X.dtype, copy=False)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=X.dtype, ensure_non_negative=True
            )
        return X, y, sample_weight

    def _store(self, coef, intercept, y_was_1d, dtype):
        if y_was_1d:
            coef, intercept = coef[0], intercept[0]
        elif coef.shape[0] == 1:
            coef = coef[0]  # scikit-learn's Ridge ravels coef_ (not intercept_) for one column
        self.coef_ = np.asarray(coef, dtype)
        self.intercept_ = np.asarray(intercept, dtype) if not y_was_1d else dtype.type(intercept)
        return self

    def predict(self, X):
        """Predicts ``X @ coef_.T + intercept_``.

        Args:
            X: ``(n_samples, n_features)`` array-like or ``scipy.sparse`` matrix.

        Returns:
            ``(n_samples,)`` or ``(n_samples, n_targets)`` predictions.
        """
        check_is_fitted(self)
        X = validate_data(
            self,
            X,
            reset=False,
            accept_sparse=["csr", "csc", "coo"],
            dtype=[np.float64, np.float32],
        )
        out = X @ self.coef_.T.astype(X.dtype, copy=False) + self.intercept_
        return np.asarray(out)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class Ridge(_RidgeBase):
    """Ridge regression, scikit-learn style, solved by :func:`jaxl2.ridge` (jitted).

    Minimizes ``Σᵢ sᵢ (yᵢ − xᵢᵀw − b)² + alpha·‖w‖²`` (intercept unpenalized): the objective and
    numbers of ``sklearn.linear_model.Ridge(alpha)``; ``alpha`` is jaxl2's ``lam``. With
    ``positive=True`` the coefficients are constrained to ``w ≥ 0``.

    Solvers: every scikit-learn name is accepted and gives the same solution. ``"auto"`` and
    ``"cholesky"`` run jaxl2's Cholesky with its in-``jit`` condition check and SVD fallback
    (exact at every alpha down to 0, a ``LinAlgWarning`` where scikit-learn's Cholesky warns);
    ``"svd"`` (and jaxl2's ``"eigh"``) the SVD/eigh solvers; ``"sparse_cg"``, ``"lsqr"``,
    ``"sag"``, ``"saga"`` (and ``"cg"``) Jacobi-preconditioned conjugate gradients on the
    normal equations with matrix-vector products only (``tol`` tightened to 1e-12 in float64,
    1e-5 in float32, at most ``max_iter`` steps); ``"lbfgs"`` (with ``positive=True``) the
    projected solver: FISTA, then an exact solve on the support when it satisfies the KKT
    conditions. ``scipy.sparse`` input is never densified: it becomes a JAX ``BCOO`` and is
    solved by CG (or the projected solver), the centring applied implicitly.

    Precision: float32 input is solved in float32. float64 input is solved in float64 when
    JAX's x64 mode is on; when it is off (JAX's default), JAX factors the Gram matrix in
    float32 and the coefficients are refined in float64 with numpy (conjugate gradients on the
    float64 normal equations, preconditioned by that factorization; float64 SVD for a tiny
    alpha) to float64 accuracy. Nothing changes JAX's settings.

    Args:
        alpha: strength ``≥ 0``: a float, or an array of shape ``(n_targets,)``.
        fit_intercept: fit an unpenalized intercept.
        copy_X: accepted for compatibility; X is never modified.
        max_iter: iteration cap of the iterative solvers (default ``min(max(200, 10p), 5000)``).
        tol: tolerance of the iterative solvers (relative residual / projected gradient).
        solver: ``"auto"``, ``"svd"``, ``"cholesky"``, ``"lsqr"``, ``"sparse_cg"``, ``"sag"``,
            ``"saga"``, ``"lbfgs"``, or jaxl2's ``"eigh"``, ``"cg"``.
        positive: constrain the coefficients to be ``≥ 0`` (solver ``"auto"`` or ``"lbfgs"``).
        random_state: accepted for compatibility (no jaxl2 solver is randomized).

    Attributes:
        coef_: ``(n_features,)`` or ``(n_targets, n_features)``.
        intercept_: float or ``(n_targets,)``.
        n_iter_: ``(n_targets,)`` iterations of ``"lsqr"``, ``"sag"``, ``"saga"``, ``"cg"`` and
            ``"lbfgs"``; None for the direct solvers and ``"sparse_cg"`` (as scikit-learn).
        solver_: the solver scikit-learn's name resolves to (``"cholesky"`` for dense
            ``"auto"``, ``"sparse_cg"`` for sparse, ``"lbfgs"`` with ``positive``).
        n_features_in_: number of features seen in ``fit``.
        feature_names_in_: column names, when ``X`` had string column names.

    Examples:
        >>> import numpy as np
        >>> from jaxl2.sklearn import Ridge
        >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [2.0, 1.0]])
        >>> y = np.array([1.0, 2.0, 3.0, 4.0])
        >>> model = Ridge(alpha=0.5).fit(X, y)
        >>> print(model.coef_.round(3), round(float(model.intercept_), 3))
        [1.2 0.4] 1.0
    """

    _parameter_constraints: dict = {
        "alpha": [Interval(Real, 0, None, closed="left"), "array-like"],
        "fit_intercept": ["boolean"],
        "copy_X": ["boolean"],
        "max_iter": [Interval(Integral, 1, None, closed="left"), None],
        "tol": [Interval(Real, 0, None, closed="left")],
        "solver": [StrOptions(_SOLVER_NAMES)],
        "positive": ["boolean"],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        alpha: ArrayLike = 1.0,
        *,
        fit_intercept: bool = True,
        copy_X: bool = True,
        max_iter: int | None = None,
        tol: float = 1e-4,
        solver: Literal[
            "auto", "svd", "cholesky", "lsqr", "sparse_cg", "sag", "saga", "lbfgs"
        ] = "auto",
        positive: bool = False,
        random_state: int | np.random.RandomState | None = None,
    ):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.copy_X = copy_X
        self.max_iter = max_iter
        self.tol = tol
        self.solver = solver
        self.positive = positive
        self.random_state = random_state

    def _check_solver(self, X) -> str:
        """scikit-learn's solver checks; returns its resolved name (``solver_``)."""
        solver = self.solver
        if solver == "lbfgs" and not self.positive:
            raise ValueError(
                "'lbfgs' solver can be used only when positive=True. Please use another solver."
            )
        if self.positive:
            if solver not in ("auto", "lbfgs"):
                raise ValueError(
                    f"solver='{solver}' does not support positive fitting. Please set the "
                    "solver to 'auto' or 'lbfgs', or set `positive=False`"
                )
            return "lbfgs"
        if sp.issparse(X):
            if self.fit_intercept and solver not in (
                "auto",
                "lbfgs",
                "lsqr",
                "sag",
                "sparse_cg",
                "cg",
            ):
                raise ValueError(
                    f"solver='{solver}' does not support fitting the intercept on sparse data. "
                    "Please set the solver to 'auto' or 'lsqr', 'sparse_cg', 'sag', 'lbfgs' "
                    "or set `fit_intercept=False`"
                )
            if solver == "sag" and self.fit_intercept and self.max_iter is None and self.tol > 1e-4:
                # scikit-learn's warning (jaxl2's CG does not need many iterations, but a
                # user switching back and forth should see the same messages).
                warnings.warn(
                    '"sag" solver requires many iterations to fit an intercept with sparse '
                    'inputs. Either set the solver to "auto" or "sparse_cg", or set a low '
                    '"tol" and a high "max_iter" (especially if inputs are not standardized).',
                    UserWarning,
                    stacklevel=3,
                )
            return "sparse_cg" if solver in ("auto", "svd", "cholesky", "eigh") else solver
        return "cholesky" if solver == "auto" else solver

    def fit(self, X, y, sample_weight=None):
        """Fits the model.

        Args:
            X: ``(n_samples, n_features)`` array-like or ``scipy.sparse`` matrix.
            y: ``(n_samples,)`` or ``(n_samples, n_targets)`` targets.
            sample_weight: ``None``, a float, or ``(n_samples,)`` non-negative weights.

        Returns:
            self.
        """
        self._validate_params()
        self.solver_ = self._check_solver(X)
        X, y, sw = self._validate_fit(X, y, sample_weight)
        y_was_1d = y.ndim == 1
        Y = y[:, None] if y_was_1d else y
        alpha = _check_alpha(self.alpha, "alpha", Y.shape[1])
        self.n_iter_ = None
        if self.positive or sp.issparse(X) or self.solver_ in _ITERATIVE:
            coef, intercept, n_iter = self._fit_iterative(X, Y, alpha, sw)
            if self.solver_ != "sparse_cg":
                self.n_iter_ = n_iter
        else:
            coef, intercept = _fit_ridge(X, Y, alpha, sw, self.fit_intercept, _DIRECT[self.solver_])
        return self._store(coef, intercept, y_was_1d, X.dtype)

    def _fit_iterative(self, X, Y, alpha, sw):
        dtype = _compute_dtype(X)
        Xj = _jax_design(X, dtype)
        Yj = jnp.asarray(Y, dtype)
        swj = None if sw is None else jnp.asarray(sw, dtype)
        lam = jnp.asarray(np.broadcast_to(alpha, (Y.shape[1],)), dtype)
        max_iter = self.max_iter or _default_max_iter(X.shape[1])
        tol = jnp.asarray(_iteration_tol(self.tol, dtype), dtype)
        if self.positive:
            polish = not sp.issparse(X) and X.shape[1] <= 4096
            W, b, n_iter, converged = it.positive_ridge(
                Xj,
                Yj,
                swj,
                lam,
                tol,
                fit_intercept=self.fit_intercept,
                max_iter=max_iter,
                polish=polish,
            )
        else:
            W, b, n_iter, converged = it.cg_normal(
                Xj, Yj, swj, lam, tol, fit_intercept=self.fit_intercept, max_iter=max_iter
            )
        W, b, n_iter = np.asarray(W, np.float64), np.asarray(b, np.float64), np.asarray(n_iter)
        if not self.positive and _needs_refinement(X):
            # float64 data with x64 off: JAX's float32 CG result, refined in float64 on the host.
            W, b = _refine_matrix_free(X, Y, sw, alpha, self.fit_intercept, W)
            converged = True
        if not bool(np.all(np.asarray(converged))):
            if self.positive:
                msg = (
                    "The lbfgs solver did not converge. Try increasing max_iter or tol. "
                    f"Currently: max_iter={max_iter} and tol={self.tol}"
                )
            else:
                msg = (
                    f"The {self.solver_} solver reached max_iter={max_iter} before its "
                    f"relative residual reached tol={float(tol):g}; the coefficients did not "
                    "converge. Increase max_iter."
                )
            warnings.warn(msg, ConvergenceWarning, stacklevel=3)
        return np.asarray(W, X.dtype), np.asarray(b, X.dtype), np.asarray(n_iter, np.int32)


class _IdentityRegressor(RegressorMixin, BaseEstimator):
    """Scores precomputed predictions with any scikit-learn scorer (``predict(p) = p``)."""

    def fit(self, X, y=None):  # pragma: no cover - never fitted
        return self

    def predict(self, predictions):
        return predictions


@functools.partial(jax.jit, static_argnames=("fit_intercept",))
def _loo_residuals(X, Y, sw, lams, fit_intercept):
    """Exact LOO residuals ``yᵢ − ŷ₍₋ᵢ₎`` (n, K, t), in the √s-scaled space (scikit-learn's)."""
    data = rd.prepare(X, Y, sw, fit_intercept)
    sqrt_weight = intercept_column(X, sw) if fit_intercept else None
    dec = decompose(data.Xs, data.Ys, sqrt_weight)
    filt = filters(dec, lams)
    den = loo_denominators(dec, filt, data.leverage)

    def per_target(y, c):
        num, _ = loo_numerators(dec, y[:, None], c[:, None], filt)
        return num / den

    return jax.vmap(per_target, in_axes=(1, 1), out_axes=2)(data.Ys, dec.C)


class RidgeCV(_RidgeBase):
    """Ridge with the strength chosen by exact leave-one-out, via :func:`jaxl2.ridge_path`.

    Same objective and selection rule as ``sklearn.linear_model.RidgeCV(alphas)``. With its
    default ``cv=None`` (efficient LOO) every alpha is scored by the exact leave-one-out
    squared error, with the intercept and sample-weight corrections, from one decomposition
    for all alphas (an SVD of the centred data replaces the Gram eigendecomposition when a tiny
    alpha meets collinear data, so every alpha's fit is exact); with ``scoring`` the exact LOO
    predictions are scored by that scikit-learn scorer instead. With ``cv`` set it runs, like
    scikit-learn, ``GridSearchCV(jaxl2.sklearn.Ridge(), {"alpha": alphas}, cv=cv,
    scoring=scoring)``.

    Sparse input (``scipy.sparse``) is never densified. Its LOO mode works as scikit-learn's: the
    Gram matrix ``XcXcᵀ`` (``n ≤ p``) or the covariance ``XcᵀXc`` (``n > p``) of the centred,
    weighted data is formed by sparse products with the centring applied implicitly, then
    eigendecomposed by JAX; the coefficients come from that decomposition (in the covariance
    mode ``Xc V`` is formed a block of rows at a time). Peak memory is one dense ``min(n, p)²``
    matrix plus O(n + p) vectors.

    Precision: float32 input is fitted as float64 and the results cast back to float32, as
    scikit-learn's ``RidgeCV`` does. As :class:`Ridge` for the coefficients. With float64 data
    and JAX's x64 mode off, the LOO errors that choose ``alpha_`` (and ``best_score_``) are
    computed in float32 (agreeing with float64 to about 1e-6 relative, so a near-tie can pick a
    neighbouring alpha); turn x64 on (``jax.config.update("jax_enable_x64", True)``) for
    float64 throughout.

    Args:
        alphas: candidate strengths ``> 0`` (``≥ 0`` with ``cv`` set).
        fit_intercept: fit an unpenalized intercept.
        scoring: None (squared LOO error), a scorer name or a callable ``scorer(est, X, y)``;
            in the LOO mode it scores the exact LOO predictions.
        cv: None for efficient leave-one-out, else any scikit-learn ``cv`` (folds, splitter,
            iterable of splits).
        gcv_mode: ``None``, ``"auto"``, ``"svd"`` or ``"eigen"``: accepted for compatibility;
            jaxl2 picks the decomposition itself (always exact).
        store_cv_results: keep ``cv_results_`` (LOO mode only).
        alpha_per_target: choose alpha per target (2-D ``y``) instead of one for all (LOO only).
        devices: shard the targets over devices in the LOO mode of a dense X (an int, a list of
            devices or a ``jax.sharding.Mesh``; see :func:`jaxl2.ridge_path`). The LOO errors
            are then computed sharded by targets; with ``alpha_per_target`` each target's
            coefficients too (``ridge_path(..., keep="best")``'s, from the same decomposition,
            instead of a refit). The fitted attributes are NumPy arrays, as always.

    Attributes:
        alpha_: chosen alpha (float, or ``(n_targets,)`` with ``alpha_per_target``).
        best_score_: score at ``alpha_``: ``−LOO MSE`` without ``scoring`` (scikit-learn's sign).
        cv_results_: with ``store_cv_results``: ``(n_samples, n_alphas)`` or ``(n_samples,
            n_targets, n_alphas)`` squared LOO errors (√s-scaled, as scikit-learn), or the LOO
            predictions when ``scoring`` is set.
        loo_mse_: ``(n_alphas,)`` or ``(n_alphas, n_targets)`` LOO MSE of every alpha (LOO mode
            without ``scoring``).
        coef_, intercept_, n_features_in_, feature_names_in_: as for :class:`Ridge`.

    Examples:
        >>> import numpy as np
        >>> from sklearn.datasets import load_diabetes
        >>> from jaxl2.sklearn import RidgeCV
        >>> X, y = load_diabetes(return_X_y=True)
        >>> model = RidgeCV(alphas=np.logspace(-3, 1, 9)).fit(X, y)
        >>> print(round(float(model.alpha_), 4))
        0.0032
    """

    _parameter_constraints: dict = {
        "alphas": ["array-like", Interval(Real, 0, None, closed="neither")],
        "fit_intercept": ["boolean"],
        "scoring": [StrOptions(set(get_scorer_names())), callable, None],
        "cv": ["cv_object"],
        "gcv_mode": [StrOptions({"auto", "svd", "eigen"}), None],
        "store_cv_results": ["boolean"],
        "alpha_per_target": ["boolean"],
        "devices": "no_validation",  # checked by jaxl2.ridge_path, with its messages
    }

    def __init__(
        self,
        alphas: ArrayLike | Sequence[float] = (0.1, 1.0, 10.0),
        *,
        fit_intercept: bool = True,
        scoring: str | Callable[..., float] | None = None,
        cv: int | Iterable[Any] | BaseCrossValidator | None = None,
        gcv_mode: Literal["auto", "svd", "eigen"] | None = None,
        store_cv_results: bool = False,
        alpha_per_target: bool = False,
        devices: Devices = None,
    ):
        self.alphas = alphas
        self.fit_intercept = fit_intercept
        self.scoring = scoring
        self.cv = cv
        self.gcv_mode = gcv_mode
        self.store_cv_results = store_cv_results
        self.alpha_per_target = alpha_per_target
        self.devices = devices

    def _check_alphas(self) -> np.ndarray:
        """scikit-learn's checks and wording: alphas > 0 (≥ 0 with cv set)."""
        bound = "neither" if self.cv is None else "left"
        check = functools.partial(
            check_scalar, target_type=numbers.Real, min_val=0.0, include_boundaries=bound
        )
        raw = self.alphas
        if isinstance(raw, (np.ndarray, list, tuple)) and np.ndim(raw) == 1 and len(raw) > 1:
            # scikit-learn checks the elements as given (its messages show -1, not -1.0).
            for index, a in enumerate(raw):
                check(a, f"alphas[{index}]")
        alphas = np.atleast_1d(np.asarray(raw, dtype=np.float64))
        if alphas.ndim != 1:
            raise ValueError(f"alphas must be a 1-D array-like, got shape {alphas.shape}.")
        if alphas.size == 0:
            raise ValueError("alphas must hold at least one value.")
        if alphas.size == 1:
            check(float(alphas[0]), "alphas")
        if not np.all(np.isfinite(alphas)):
            raise ValueError(f"alphas must be finite, got {self.alphas!r}.")
        return alphas

    def fit(self, X, y, sample_weight=None):
        """Fits the model, choosing alpha by leave-one-out (or by ``cv``).

        Args:
            X: ``(n_samples, n_features)`` array-like or ``scipy.sparse`` matrix (never
                densified).
            y: ``(n_samples,)`` or ``(n_samples, n_targets)`` targets.
            sample_weight: ``None``, a float, or ``(n_samples,)`` non-negative weights.

        Returns:
            self.
        """
        self._validate_params()
        alphas = self._check_alphas()
        if self.cv is not None:
            if self.store_cv_results:
                raise ValueError("cv!=None and store_cv_results=True are incompatible")
            if self.alpha_per_target:
                raise ValueError("cv!=None and alpha_per_target=True are incompatible")
            X, y, sw = self._validate_fit(X, y, sample_weight)
            return self._fit_grid_search(X, y, sw, alphas)
        if self.gcv_mode == "svd" and sp.issparse(X):
            warnings.warn(
                "The 'svd' mode is not supported for sparse X, we fallback to "
                "`gcv_mode='eigen'`. Passing `gcv_mode='svd'` on sparse X will raise "
                "an error in 1.11, use the default or pass `gcv_mode='eigen'` to "
                "suppress this warning.",
                FutureWarning,
                stacklevel=2,
            )
        X, y, sw = self._validate_fit(X, y, sample_weight)
        out_dtype = X.dtype
        if X.dtype == np.float32:  # as scikit-learn's RidgeCV: LOO in float64, cast back
            X, y = X.astype(np.float64), y.astype(np.float64)
            sw = None if sw is None else sw.astype(np.float64)
        y_was_1d = y.ndim == 1
        Y = y[:, None] if y_was_1d else y
        per_target = self.alpha_per_target and not y_was_1d
        need_residuals = self.scoring is not None or self.store_cv_results
        sparse_res = None
        if sp.issparse(X):
            # Never densified: the Gram (n ≤ p) or covariance (n > p) matrix by sparse products.
            sparse_res = sparse_loo(
                X,
                Y,
                sw,
                alphas,
                self.fit_intercept,
                _compute_dtype(X),
                residuals=need_residuals,
            )
        path = None
        if not need_residuals:
            if sparse_res is not None:
                loo = sparse_res.loo_mse
            else:
                loo, path = self._loo_path(X, Y, sw, alphas)  # (K, t)
            self.loo_mse_ = loo[:, 0] if y_was_1d else loo
            scores = -loo if per_target else -loo.mean(axis=1)
        else:
            if sparse_res is not None:
                E = sparse_res.residuals
            else:
                E = self._loo_residuals(X, Y, sw, alphas)
            scores = self._loo_scores(E, X, Y, y_was_1d, sw, per_target)
        if per_target:
            best = np.argmax(np.where(np.isnan(scores), -np.inf, scores), axis=0)
            alpha = alphas[best]
            self.alpha_ = alpha.astype(out_dtype)
            self.best_score_ = scores[best, np.arange(Y.shape[1])]
        else:
            best = int(np.argmax(np.where(np.isnan(scores), -np.inf, scores)))
            alpha = alphas[best]
            self.alpha_ = float(alpha)
            self.best_score_ = float(scores[best])
        if sparse_res is not None:
            # From the decomposition, as scikit-learn's RidgeCV; float64 data solved in float32
            # by JAX (x64 off) is refined on the host in float64, X kept sparse.
            coef, intercept = sparse_loo_coef(sparse_res, np.broadcast_to(best, (Y.shape[1],)))
            if _needs_refinement(X):
                coef, intercept = _refine_matrix_free(X, Y, sw, alpha, self.fit_intercept, coef)
        elif per_target and path is not None and self.devices is not None:
            # Sharded by targets: each target's fit at its own alpha, from the decomposition.
            coef, intercept = np.asarray(path.coef), np.asarray(path.intercept)
        else:
            with warnings.catch_warnings():
                # scikit-learn's RidgeCV takes the coefficients from its decomposition and does
                # not warn; the refit is exact either way (SVD fallback).
                warnings.simplefilter("ignore", LinAlgWarning)
                coef, intercept = _fit_ridge(X, Y, alpha, sw, self.fit_intercept, "auto")
        if self.store_cv_results:
            self.cv_results_ = self.cv_results_.astype(out_dtype)
        return self._store(coef, intercept, y_was_1d, out_dtype)

    def _loo_residuals(self, X, Y, sw, alphas):
        """Exact LOO residuals (n, K, t), √s-scaled, of a dense X."""
        dtype = _compute_dtype(X)
        Xc, Yc = X, Y
        if dtype == np.float32 and X.dtype == np.float64 and self.fit_intercept:
            Xc = X - np.average(X, axis=0, weights=sw)
            Yc = Y - np.average(Y, axis=0, weights=sw)
        swj = None if sw is None else jnp.asarray(sw, dtype)
        return np.asarray(
            _loo_residuals(
                jnp.asarray(Xc, dtype),
                jnp.asarray(Yc, dtype),
                swj,
                jnp.asarray(alphas, dtype),
                fit_intercept=self.fit_intercept,
            ),
            np.float64,
        )

    def _loo_scores(self, E, X, Y, y_was_1d, sw, per_target):
        """Scores (K,) or (K, t) from the exact LOO residuals E (n, K, t); fills cv_results_."""
        n, K, t = E.shape
        if self.scoring is None:
            sq = np.square(E)
            results = sq
            scores = sq.mean(axis=0) if per_target else sq.mean(axis=(0, 2))
            scores = -scores
        else:
            scorer = check_scoring(self, scoring=self.scoring)
            root = np.ones(n) if sw is None else np.sqrt(sw)
            safe = np.where(root > 0, root, 1.0)
            Ys = Y
            offset = np.average(Y, axis=0, weights=sw) if self.fit_intercept else 0.0
            scaled_y = (Y - offset) * root[:, None]
            pred = (scaled_y[:, None, :] - E) / safe[:, None, None] + offset
            results = pred
            identity = _IdentityRegressor()
            params = {} if sw is None else {"sample_weight": sw}  # as scikit-learn routes it
            if per_target:
                scores = np.array(
                    [
                        # check_scoring returns a scorer: scoring is set on this branch.
                        [scorer(identity, pred[:, k, j], Ys[:, j], **params) for j in range(t)]  # pyright: ignore[reportOptionalCall]
                        for k in range(K)
                    ]
                )
            else:
                target = Ys[:, 0] if y_was_1d else Ys
                scores = np.array(
                    [
                        scorer(  # pyright: ignore[reportOptionalCall]
                            identity, pred[:, k, 0] if y_was_1d else pred[:, k, :], target, **params
                        )
                        for k in range(K)
                    ]
                )
        if self.store_cv_results:
            out = results.transpose(0, 2, 1)  # (n, t, K)
            self.cv_results_ = (out[:, 0, :] if y_was_1d else out).astype(X.dtype)
        return scores

    def _fit_grid_search(self, X, y, sw, alphas):
        search = GridSearchCV(
            Ridge(fit_intercept=self.fit_intercept),
            {"alpha": list(alphas)},
            cv=self.cv,
            scoring=self.scoring,
        )
        search.fit(X, y, **({} if sw is None else {"sample_weight": sw}))
        best = search.best_estimator_
        self.alpha_ = float(best.alpha)
        self.best_score_ = float(search.best_score_)
        self.coef_, self.intercept_ = best.coef_, best.intercept_
        return self

    def _loo_path(self, X, Y, sw, alphas):
        if _needs_refinement(X):
            # Centre in float64 first so that float32 keeps the data's variation, not its offset.
            Xc, Yc = X, Y
            if self.fit_intercept:
                Xc = X - np.average(X, axis=0, weights=sw)
                Yc = Y - np.average(Y, axis=0, weights=sw)
            X32, Y32 = (jnp.asarray(a, jnp.float32) for a in (Xc, Yc))
            sw32 = None if sw is None else jnp.asarray(sw, jnp.float32)
            lams = jnp.asarray(alphas, jnp.float32)
            path = ridge_path(
                X32,
                Y32,
                lams,
                fit_intercept=self.fit_intercept,
                sample_weight=sw32,
                keep="best",
                devices=self.devices,
            )
            # float32 coefficients of float64 data: refitted (and refined) by the caller
            return np.asarray(path.loo_mse, np.float64), None
        path = ridge_path(
            X,
            Y,
            alphas.astype(X.dtype),
            fit_intercept=self.fit_intercept,
            sample_weight=sw,
            keep="best",  # never hold K·p·t coefficients
            devices=self.devices,
        )
        return np.asarray(path.loo_mse, np.float64), path
