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

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin
from sklearn.model_selection import GridSearchCV
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._checks import check_choice
from ._ridge import SOLVERS, ridge
from ._ridge_chunks import gram_cols, gram_rows
from ._ridge_path import ridge_path

_REFINE_MAX_ITER = 200


def _x64_enabled() -> bool:
    return bool(jax.config.jax_enable_x64)


def _needs_refinement(X: np.ndarray) -> bool:
    """float64 data while JAX computes in float32."""
    return X.dtype == np.float64 and not _x64_enabled()


def _check_alpha(alpha, name: str, n_targets: int) -> np.ndarray:
    arr = np.asarray(alpha, dtype=np.float64)
    if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] not in (1, n_targets)):
        raise ValueError(
            f"{name} must be a non-negative float or an array of shape (n_targets,) = "
            f"({n_targets},), got shape {arr.shape}."
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


def _pcg(apply, precondition, B: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Column-wise preconditioned CG from the preconditioner's solution, to rounding level."""
    eps = np.finfo(np.float64).eps
    Xk = precondition(B)
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
    """(coef (t, p), intercept (t,)) in X's dtype for y of shape (n, t)."""
    if not _needs_refinement(X):
        res = ridge(X, y, alpha, fit_intercept=fit_intercept, sample_weight=sw, solver=solver)
        return np.asarray(res.coef, X.dtype), np.asarray(res.intercept, X.dtype)
    Xs, Ys, x_mean, y_mean = _center(X, y, sw, fit_intercept)
    W = _refined_solve(Xs, Ys, alpha)
    return W, (y_mean - W @ x_mean) if fit_intercept else np.zeros(W.shape[0])


class _RidgeBase(MultiOutputMixin, RegressorMixin, BaseEstimator):
    def _validate_fit(self, X, y, sample_weight):
        X, y = validate_data(
            self, X, y, dtype=[np.float64, np.float32], multi_output=True, y_numeric=True
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
          X: ``(n_samples, n_features)`` array-like.

        Returns:
          ``(n_samples,)`` or ``(n_samples, n_targets)`` predictions.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return X @ self.coef_.T.astype(X.dtype, copy=False) + self.intercept_


class Ridge(_RidgeBase):
    """Ridge regression, scikit-learn style, solved by :func:`jaxl2.ridge` (jitted).

    Minimizes ``Σᵢ sᵢ (yᵢ − xᵢᵀw − b)² + alpha·‖w‖²`` (intercept unpenalized): the objective and
    numbers of ``sklearn.linear_model.Ridge(alpha)``; ``alpha`` is jaxl2's ``lam``.

    Precision: float32 input is solved in float32. float64 input is solved in float64 when
    JAX's x64 mode is on; when it is off (JAX's default), JAX factors the Gram matrix in
    float32 and the coefficients are refined in float64 with numpy (conjugate gradients on the
    float64 normal equations, preconditioned by that factorization) to float64 accuracy. Either
    way the results match scikit-learn's to float64 rounding; nothing changes JAX's settings.

    Args:
      alpha: strength ``≥ 0``: a float, or an array of shape ``(n_targets,)``.
      fit_intercept: fit an unpenalized intercept.
      solver: ``"auto"``, ``"cholesky"``, ``"svd"``, ``"eigh"`` or ``"cg"`` (see
        :func:`jaxl2.ridge`); used when JAX computes in the input's precision.

    Attributes:
      coef_: ``(n_features,)`` or ``(n_targets, n_features)``.
      intercept_: float or ``(n_targets,)``.
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

    def __init__(self, alpha=1.0, *, fit_intercept=True, solver="auto"):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.solver = solver

    def fit(self, X, y, sample_weight=None):
        """Fits the model.

        Args:
          X: ``(n_samples, n_features)`` array-like.
          y: ``(n_samples,)`` or ``(n_samples, n_targets)`` targets.
          sample_weight: ``None``, a float, or ``(n_samples,)`` non-negative weights.

        Returns:
          self.
        """
        check_choice(self.solver, "solver", SOLVERS)
        X, y, sw = self._validate_fit(X, y, sample_weight)
        y_was_1d = y.ndim == 1
        Y = y[:, None] if y_was_1d else y
        alpha = _check_alpha(self.alpha, "alpha", Y.shape[1])
        coef, intercept = _fit_ridge(X, Y, alpha, sw, self.fit_intercept, self.solver)
        return self._store(coef, intercept, y_was_1d, X.dtype)


class RidgeCV(_RidgeBase):
    """Ridge with the strength chosen by exact leave-one-out, via :func:`jaxl2.ridge_path`.

    Same objective and selection rule as ``sklearn.linear_model.RidgeCV(alphas)`` with its
    default ``cv=None`` (efficient LOO, squared error): every alpha is scored by the exact
    leave-one-out MSE, with the intercept and sample-weight corrections, from one
    eigendecomposition for all alphas. With ``cv`` set it runs, like scikit-learn,
    ``GridSearchCV(jaxl2.sklearn.Ridge(), {"alpha": alphas}, cv=cv, scoring=scoring)``.

    Precision: as :class:`Ridge` for the coefficients. With float64 input and JAX's x64 mode
    off, the LOO errors that choose ``alpha_`` (and ``best_score_``) are computed in float32
    (agreeing with float64 to about 1e-6 relative, so a near-tie can pick a neighbouring
    alpha); turn x64 on (``jax.config.update("jax_enable_x64", True)``) for float64 throughout.

    Args:
      alphas: candidate strengths ``≥ 0``.
      fit_intercept: fit an unpenalized intercept.
      scoring: with ``cv`` set, the ``GridSearchCV`` scoring (default R²); must be None for
        the leave-one-out mode, which always scores by squared error.
      cv: None for efficient leave-one-out, else any scikit-learn ``cv`` (folds, splitter,
        iterable of splits).
      alpha_per_target: choose alpha per target (2-D ``y``) instead of one for all (LOO only).

    Attributes:
      alpha_: chosen alpha (float, or ``(n_targets,)`` with ``alpha_per_target``).
      best_score_: ``−LOO MSE`` at ``alpha_`` (scikit-learn's sign).
      loo_mse_: ``(n_alphas,)`` or ``(n_alphas, n_targets)`` LOO MSE of every alpha (only in
        the leave-one-out mode).
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

    def __init__(
        self,
        alphas=(0.1, 1.0, 10.0),
        *,
        fit_intercept=True,
        scoring=None,
        cv=None,
        alpha_per_target=False,
    ):
        self.alphas = alphas
        self.fit_intercept = fit_intercept
        self.scoring = scoring
        self.cv = cv
        self.alpha_per_target = alpha_per_target

    def fit(self, X, y, sample_weight=None):
        """Fits the model, choosing alpha by leave-one-out.

        Args:
          X: ``(n_samples, n_features)`` array-like.
          y: ``(n_samples,)`` or ``(n_samples, n_targets)`` targets.
          sample_weight: ``None``, a float, or ``(n_samples,)`` non-negative weights.

        Returns:
          self.
        """
        X, y, sw = self._validate_fit(X, y, sample_weight)
        alphas = np.atleast_1d(_check_alpha(self.alphas, "alphas", np.size(self.alphas)))
        if alphas.size == 0:
            raise ValueError("alphas must hold at least one value.")
        if self.cv is not None:
            return self._fit_grid_search(X, y, sw, alphas)
        if self.scoring is not None:
            raise ValueError(
                "scoring is only used with cv set; the leave-one-out mode (cv=None) always "
                f"scores by squared error. Got scoring={self.scoring!r}."
            )
        y_was_1d = y.ndim == 1
        Y = y[:, None] if y_was_1d else y
        loo = self._loo_path(X, Y, sw, alphas)  # (K, t)
        if self.alpha_per_target and not y_was_1d:
            best = np.argmin(np.where(np.isnan(loo), np.inf, loo), axis=0)
            alpha = alphas[best]
            self.alpha_ = alpha.astype(X.dtype)
            self.best_score_ = -loo[best, np.arange(Y.shape[1])]
        else:
            mean = loo.mean(axis=1)
            best = int(np.argmin(np.where(np.isnan(mean), np.inf, mean)))
            alpha = alphas[best]
            self.alpha_ = float(alpha)
            self.best_score_ = float(-mean[best])
        self.loo_mse_ = loo[:, 0] if y_was_1d else loo
        coef, intercept = _fit_ridge(X, Y, alpha, sw, self.fit_intercept, "auto")
        return self._store(coef, intercept, y_was_1d, X.dtype)

    def _fit_grid_search(self, X, y, sw, alphas):
        if self.alpha_per_target:
            raise ValueError("cv!=None and alpha_per_target=True are incompatible.")
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
                X32, Y32, lams, fit_intercept=self.fit_intercept, sample_weight=sw32, keep="best"
            )
        else:
            path = ridge_path(
                X,
                Y,
                alphas.astype(X.dtype),
                fit_intercept=self.fit_intercept,
                sample_weight=sw,
                keep="best",  # only the LOO errors are used: never hold K·p·t coefficients
            )
        return np.asarray(path.loo_mse, np.float64)
