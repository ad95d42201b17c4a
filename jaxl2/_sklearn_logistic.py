"""``jaxl2.sklearn.LogisticRegression``: a scikit-learn estimator over :func:`logistic_regression`.

Imported only through ``jaxl2.sklearn`` (``import jaxl2`` never imports scikit-learn).
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import jax
import numpy as np
from scipy.special import expit, log_expit, logsumexp
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning
from sklearn.linear_model._base import LinearClassifierMixin
from sklearn.utils.extmath import softmax
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._glm import ConvergenceWarning
from ._logistic import logistic_regression


def _bucket(n: int, minimum: int) -> int:
    """A padded size: powers of two up to 4096, then steps of a quarter of a power of two.

    Few distinct shapes mean few compilations (scikit-learn calls ``fit`` on many sizes); the
    padding costs at most 2x for small data and 25% for large.
    """
    if n <= minimum:
        return minimum
    base = 1 << (int(n - 1).bit_length() - 1)
    if base < 4096:
        return 2 * base
    quarter = base // 4
    return -(-n // quarter) * quarter


class LogisticRegression(LinearClassifierMixin, BaseEstimator):
    """L2-regularized logistic regression as a scikit-learn classifier, solved by jaxl2.

    Minimizes ``C * sum_i s_i logloss_i + 1/2 ||W||^2`` (intercept unpenalized): the objective of
    ``sklearn.linear_model.LogisticRegression(C=C)`` (lbfgs/newton solvers), i.e. jaxl2's
    ``sum_i s_i logloss_i + lam ||W||^2`` at ``lam = 1 / (2 C)``. Two classes use the logistic
    loss, three or more the symmetric multinomial (softmax). Labels may be any values
    (strings, integers, ...). Computes in float64 when ``X`` is float64 (locally enabling
    ``jax.enable_x64``), in float32 for float32 ``X``.

    To reuse compiled solvers across calls, the data are padded to a few bucketed sizes with
    rows of weight zero and columns of zeros (which change neither the objective nor the
    solution).

    Args:
        C: inverse regularization strength ``> 0`` (``np.inf``: no penalty).
        fit_intercept: fit an unpenalized intercept.
        tol: stop when the largest gradient entry of the weight-normalized objective is
            ``<= tol`` (scikit-learn's meaning).
        max_iter: Newton (or L-BFGS) iteration limit.
        solver: ``"auto"``, ``"newton"`` or ``"lbfgs"`` (see :func:`jaxl2.logistic_regression`).

    Attributes:
        classes_: the class labels.
        coef_: ``(1, p)`` for two classes, ``(K, p)`` otherwise.
        intercept_: ``(1,)`` or ``(K,)``.
        n_iter_: ``(1,)`` iterations taken.
        n_features_in_: number of features seen in ``fit``.

    Examples:
        >>> from sklearn.datasets import load_iris
        >>> from jaxl2.sklearn import LogisticRegression
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = LogisticRegression(C=1.0).fit(X, y)
        >>> clf.coef_.shape, round(clf.score(X, y), 3)
        ((3, 4), 0.973)
    """

    def __init__(
        self,
        C: float = 1.0,  # noqa: N803 - scikit-learn's name
        *,
        fit_intercept: bool = True,
        tol: float = 1e-4,
        max_iter: int = 100,
        solver: str = "auto",
    ):
        self.C = C
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.solver = solver

    def _check_params(self) -> None:
        if not isinstance(self.C, numbers.Real) or not self.C > 0:
            raise ValueError(f"C must be a positive number (np.inf: no penalty), got {self.C!r}.")
        if not isinstance(self.tol, numbers.Real) or not self.tol >= 0:
            raise ValueError(f"tol must be a non-negative number, got {self.tol!r}.")
        if not isinstance(self.max_iter, numbers.Integral) or self.max_iter < 1:
            raise ValueError(f"max_iter must be a positive integer, got {self.max_iter!r}.")

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> LogisticRegression:
        """Fits the model; ``sample_weight`` multiplies each sample's loss."""
        self._check_params()
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], order="C")
        check_classification_targets(y)
        self.classes_, y_index = np.unique(y, return_inverse=True)
        sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype)
        present = np.unique(y_index[sample_weight > 0])
        if self.classes_.size < 2 or present.size < 2:
            raise ValueError(
                "This solver needs samples of at least 2 classes in the data (with positive "
                f"sample_weight), but the data contains only one class: {self.classes_[0]!r}."
            )
        if present.size < self.classes_.size:
            raise ValueError(
                "Every class needs at least one sample with positive sample_weight; classes "
                f"{self.classes_[np.setdiff1d(np.arange(self.classes_.size), present)]!r} have "
                "none."
            )
        n, p = X.shape
        n_pad, p_pad = _bucket(n, minimum=32), _bucket(p, minimum=8)
        Xp = np.zeros((n_pad, p_pad), X.dtype)
        Xp[:n, :p] = X
        yp = np.zeros(n_pad, np.int32)
        yp[:n] = y_index
        sp = np.zeros(n_pad, X.dtype)
        sp[:n] = sample_weight
        lam = 0.0 if np.isinf(self.C) else 1.0 / (2.0 * float(self.C))
        with jax.enable_x64(X.dtype == np.float64), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            res = logistic_regression(
                Xp,
                yp,
                lam,
                fit_intercept=self.fit_intercept,
                sample_weight=sp,
                n_classes=self.classes_.size,
                solver=self.solver,
                max_iter=int(self.max_iter),
                tol=float(self.tol),
            )
            coef, intercept = np.asarray(res.coef), np.asarray(res.intercept)
            n_iter, converged = int(res.n_iter), bool(res.converged)
        if coef.ndim == 1:
            coef, intercept = coef[None, :], np.reshape(intercept, (1,))
        self.coef_ = coef[:, :p].astype(X.dtype)
        self.intercept_ = intercept.astype(X.dtype)
        self.n_iter_ = np.array([n_iter], dtype=np.int32)
        if not converged:
            warnings.warn(
                f"jaxl2 logistic regression did not converge within max_iter={self.max_iter} "
                "iterations; raise max_iter or loosen tol.",
                SklearnConvergenceWarning,
                stacklevel=2,
            )
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``."""
        check_is_fitted(self)
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return np.column_stack([expit(-scores), expit(scores)])
        return softmax(scores)

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Logarithm of :meth:`predict_proba`, computed without underflow."""
        check_is_fitted(self)
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return np.column_stack([log_expit(-scores), log_expit(scores)])
        return scores - logsumexp(scores, axis=1, keepdims=True)
