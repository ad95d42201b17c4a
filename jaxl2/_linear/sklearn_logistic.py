"""``jaxl2.sklearn.LogisticRegression``: a scikit-learn estimator over :func:`logistic_regression`.

Imported only through ``jaxl2.sklearn`` (``import jaxl2`` never imports scikit-learn).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from numbers import Integral, Real
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp
from jax.experimental import sparse as jsparse
from scipy.special import expit, log_expit, logsumexp
from sklearn.base import BaseEstimator, _fit_context
from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning
from sklearn.linear_model._base import LinearClassifierMixin, SparseCoefMixin
from sklearn.utils import compute_class_weight
from sklearn.utils._param_validation import Hidden, Interval, StrOptions
from sklearn.utils.extmath import softmax
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from .glm import NEWTON_MAX_PARAMS, ConvergenceWarning
from .logistic import logistic_regression
from .sklearn_validation import _check_sample_weight, validate_data

# scikit-learn's solver names, each mapped to the jaxl2 solver that finds the same solution
# (scikit-learn's are all exact minimizers of one objective, apart from liblinear, which
# penalizes the intercept: that is reproduced by an extra penalized column).
SKLEARN_SOLVERS = ("lbfgs", "liblinear", "newton-cg", "newton-cholesky", "sag", "saga")
JAXL2_SOLVERS = ("auto", "newton", "prox_newton", "fista")

# scikit-learn's ConvergenceWarning wording, per solver name (code and tests match on it).
_NOT_CONVERGED = {
    "lbfgs": "lbfgs failed to converge after {n} iteration(s).",
    "newton-cg": "newton-cg failed to converge at loss = {loss}.",
    "newton-cholesky": "Newton solver did not converge after {n} iterations.",
    "liblinear": "Liblinear failed to converge, increase the number of iterations.",
    "sag": "The max_iter was reached which means the coef_ did not converge.",
    "saga": "The max_iter was reached which means the coef_ did not converge.",
}


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


class LogisticRegression(SparseCoefMixin, LinearClassifierMixin, BaseEstimator):
    """Logistic regression as a scikit-learn classifier, solved by jaxl2 (a drop-in).

    Minimizes ``C * sum_i s_i c_{y_i} logloss_i + rho ||W||_1 + (1 - rho)/2 ||W||^2``
    (``rho = l1_ratio``, ``c`` the class weights, the intercept unpenalized): the objective of
    ``sklearn.linear_model.LogisticRegression`` with the same arguments. In jaxl2's convention
    (:func:`jaxl2.logistic_regression`) this is ``lam = (1 + rho) / (2 C)`` and
    ``l1_ratio = 2 rho / (1 + rho)``. Two classes use the logistic loss, three or more the
    symmetric multinomial (softmax). Labels may be any values. Computes in float64 when ``X``
    is float64 (locally enabling ``jax.enable_x64``), in float32 for float32 ``X``. Sparse
    ``X`` (CSR/CSC) is never densified: it becomes a ``jax.experimental.sparse.BCOO`` matrix
    and the solvers use only products with it (L-BFGS; with an L1 part proximal Newton, its
    Hessian formed from products, or FISTA for many coefficients).

    Solvers: scikit-learn's names map to a jaxl2 solver with the same solution: ``"lbfgs"``
    to L-BFGS; ``"newton-cg"``, ``"newton-cholesky"``, ``"sag"`` and ``"saga"`` to Newton
    (L-BFGS for sparse or large ``X``); with an L1 part (``saga``, ``liblinear``) to proximal
    Newton (FISTA above 1000 coefficients); ``"liblinear"`` penalizes the intercept as
    liblinear does (a column of ``intercept_scaling`` appended to ``X``). scikit-learn's
    restrictions per solver name (which penalties, ``dual``, multiclass) are kept, so that code
    behaves the same; jaxl2's own names (``"auto"``, ``"newton"``, ``"prox_newton"``,
    ``"fista"``) accept every penalty. ``random_state`` and ``n_jobs`` are accepted for
    compatibility and change nothing (the solvers are deterministic). ``verbose > 0`` prints
    the solver's progress, one line per iteration (number, objective, gradient), as
    scikit-learn's ``lbfgs`` does.

    To reuse compiled solvers across calls, the data are padded to a few bucketed sizes with
    rows of weight zero and columns of zeros (which change neither the objective nor the
    solution).

    Args:
        penalty: deprecated in scikit-learn 1.8 (``"l1"``, ``"l2"``, ``"elasticnet"``, None);
            use ``l1_ratio`` and ``C``.
        C: inverse regularization strength ``> 0`` (``np.inf``: no penalty).
        l1_ratio: ``rho`` in ``[0, 1]``: 0 is L2, 1 is L1, between is the elastic net.
        dual: only ``False`` (or ``True`` with ``"liblinear"`` and L2: the same solution).
        tol: stop when the largest entry of the (minimum-norm sub)gradient of the
            weight-normalized objective is ``<= tol``.
        fit_intercept: fit an intercept.
        intercept_scaling: the value of the intercept column with ``solver="liblinear"``.
        class_weight: None, a dict ``{label: weight}`` or ``"balanced"``; multiplies
            ``sample_weight``.
        random_state: accepted, unused.
        solver: a scikit-learn name or ``"auto"``, ``"newton"``, ``"prox_newton"``,
            ``"fista"`` (default ``"auto"``: Newton for dense problems up to 1000
            coefficients, L-BFGS otherwise; with an L1 part proximal Newton up to 1000
            coefficients, dense or sparse, FISTA above).
        max_iter: iteration limit (0: return the starting point, zeros unless warm-started).
        verbose: ``> 0`` prints which solver runs, then each iteration's number, objective
            (``F / sum(s)``, scikit-learn's scale) and largest (sub)gradient entry, then the
            outcome.
        warm_start: start from the previous fit's ``coef_`` and ``intercept_``.
        n_jobs: accepted (deprecated in scikit-learn 1.8), unused.

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
        >>> sparse = LogisticRegression(C=0.1, l1_ratio=1.0).fit(X, y)
        >>> int((sparse.coef_ == 0).sum())
        10
    """

    _parameter_constraints: dict = {
        "penalty": [
            StrOptions({"l1", "l2", "elasticnet"}),
            None,
            Hidden(StrOptions({"deprecated"})),
        ],
        "C": [Interval(Real, 0, None, closed="right")],
        "l1_ratio": [Interval(Real, 0, 1, closed="both"), None],
        "dual": ["boolean"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "fit_intercept": ["boolean"],
        "intercept_scaling": [Interval(Real, 0, None, closed="neither")],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "random_state": ["random_state"],
        "solver": [StrOptions(set(SKLEARN_SOLVERS) | set(JAXL2_SOLVERS))],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "n_jobs": [None, Integral],
    }

    def __init__(
        self,
        penalty: Literal["l1", "l2", "elasticnet", "deprecated"] | None = "deprecated",
        *,
        C: float = 1.0,  # noqa: N803 - scikit-learn's name
        l1_ratio: float | None = 0.0,
        dual: bool = False,
        tol: float = 1e-4,
        fit_intercept: bool = True,
        intercept_scaling: float = 1,
        class_weight: Mapping[Any, float] | Literal["balanced"] | None = None,
        random_state: int | np.random.RandomState | None = None,
        solver: str = "auto",
        max_iter: int = 100,
        verbose: int = 0,
        warm_start: bool = False,
        n_jobs: int | None = None,
    ):
        self.penalty = penalty
        self.C = C
        self.l1_ratio = l1_ratio
        self.dual = dual
        self.tol = tol
        self.fit_intercept = fit_intercept
        self.intercept_scaling = intercept_scaling
        self.class_weight = class_weight
        self.random_state = random_state
        self.solver = solver
        self.max_iter = max_iter
        self.verbose = verbose
        self.warm_start = warm_start
        self.n_jobs = n_jobs

    def _resolve_penalty(self) -> tuple[str | None, float, float]:
        """scikit-learn 1.9's reading of ``penalty``/``l1_ratio``/``C``, with its warnings."""
        l1_ratio = self.l1_ratio
        if self.penalty == "deprecated":
            if l1_ratio == 0 or l1_ratio is None:
                penalty = "l2"
                if l1_ratio is None:
                    warnings.warn(
                        "'l1_ratio=None' was deprecated in version 1.8 and will trigger an "
                        "error in 1.10. Use 0<=l1_ratio<=1 instead.",
                        FutureWarning,
                        stacklevel=3,
                    )
            else:
                penalty = "l1" if l1_ratio == 1 else "elasticnet"
            if self.C == np.inf:
                penalty = None
        else:
            penalty = self.penalty
            warnings.warn(
                "'penalty' was deprecated in version 1.8 and will be removed in 1.10. To avoid "
                "this warning, leave 'penalty' set to its default value and use 'l1_ratio' or "
                "'C' instead. Use l1_ratio=0 instead of penalty='l2', l1_ratio=1 instead of "
                "penalty='l1', l1_ratio set to a float between 0 and 1 instead of "
                "penalty='elasticnet', and C=np.inf instead of penalty=None.",
                FutureWarning,
                stacklevel=3,
            )
        self._check_solver(penalty)
        if penalty != "elasticnet" and l1_ratio is not None and 0 < l1_ratio < 1:
            warnings.warn(
                f"l1_ratio parameter is only used when penalty is 'elasticnet'. Got "
                f"(penalty={penalty})",
                stacklevel=3,
            )
        if (self.penalty == "l2" and l1_ratio != 0) or (self.penalty == "l1" and l1_ratio != 1):
            warnings.warn(
                f"Inconsistent values: penalty={self.penalty} with l1_ratio={l1_ratio}. "
                "penalty is deprecated. Please use l1_ratio only.",
                stacklevel=3,
            )
        if penalty == "elasticnet" and l1_ratio is None:
            raise ValueError("l1_ratio must be specified when penalty is elasticnet.")
        C = self.C
        if self.penalty is None:
            if self.C != 1.0:
                warnings.warn(
                    "Setting penalty=None will ignore the C and l1_ratio parameters",
                    stacklevel=3,
                )
            C, penalty = np.inf, "l2"
        rho = {"l1": 1.0, "elasticnet": l1_ratio}.get(penalty or "l2", 0.0)
        if np.isinf(C):
            return penalty, 0.0, 0.0
        return penalty, (1.0 + rho) / (2.0 * float(C)), 2.0 * rho / (1.0 + rho)

    def _check_solver(self, penalty) -> None:
        solver, dual = self.solver, self.dual
        if solver in JAXL2_SOLVERS:
            if solver == "newton" and penalty in ("l1", "elasticnet"):
                raise ValueError(
                    "solver='newton' supports only the L2 penalty (l1_ratio=0); use "
                    "solver='auto', 'prox_newton' or 'fista' for l1_ratio > 0."
                )
            if dual:
                raise ValueError(f"Solver {solver} supports only dual=False, got dual={dual}")
            return
        if solver not in ("liblinear", "saga") and penalty not in ("l2", None):
            raise ValueError(
                f"Solver {solver} supports only 'l2' or None penalties, got {penalty} penalty."
            )
        if solver != "liblinear" and dual:
            raise ValueError(f"Solver {solver} supports only dual=False, got dual={dual}")
        if penalty == "elasticnet" and solver != "saga":
            raise ValueError(
                f"Only 'saga' solver supports elasticnet penalty, got solver={solver}."
            )
        if solver == "liblinear" and penalty is None:
            raise ValueError(
                "C=np.inf as well as penalty=None is not supported for the liblinear solver"
            )
        if solver == "liblinear" and penalty == "l1" and dual:
            raise ValueError(
                "Unsupported set of arguments: The combination of penalty='l1' and "
                "loss='logistic_regression' are not supported when dual=True, Parameters: "
                "penalty='l1', loss='logistic_regression', dual=True"
            )

    def _jaxl2_solver(self, l1: bool, sparse: bool, n_params: int) -> str:
        solver = self.solver
        if solver in JAXL2_SOLVERS:
            return "lbfgs" if sparse and solver == "newton" else solver
        if l1:
            # Sparse X too (the Hessian from products), so dense and sparse fits agree.
            return "fista" if n_params > NEWTON_MAX_PARAMS else "prox_newton"
        if solver == "lbfgs" or sparse or n_params > NEWTON_MAX_PARAMS:
            return "lbfgs"
        # scikit-learn's Newton solvers: each step a function of the iterate (warm starts
        # continue exactly); the others only need the minimizer.
        return "newton_exact" if solver in ("newton-cg", "newton-cholesky") else "newton"

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> LogisticRegression:
        """Fits the model; ``sample_weight`` multiplies each sample's loss."""
        penalty, lam, l1_ratio = self._resolve_penalty()
        X, y_index = self._validate_fit_data(X, y)
        k = self.classes_.size
        sample_weight = self._fit_weights(X, y, y_index, sample_weight)
        n, p = X.shape
        fit_intercept = bool(self.fit_intercept)
        liblinear = self.solver == "liblinear"
        if liblinear and fit_intercept:
            # liblinear penalizes the intercept: it is the weight of a constant column.
            column = np.full((n, 1), self.intercept_scaling, X.dtype)
            X = sp.hstack([X, column], format="csr") if sp.issparse(X) else np.hstack([X, column])
            fit_intercept = False
        p_fit = X.shape[1]
        m = 1 if k == 2 else k
        n_pad, p_pad = _bucket(n, minimum=32), _bucket(p_fit, minimum=8)
        sparse = sp.issparse(X)
        solver = self._jaxl2_solver(l1_ratio > 0, sparse, (p_pad + 1) * m)
        coef_init, intercept_init = self._warm_start(k, p, p_pad, liblinear)
        yp = np.zeros(n_pad, np.int32)
        yp[:n] = y_index
        sp_w = np.zeros(n_pad, X.dtype)
        sp_w[:n] = sample_weight
        verbose = int(self.verbose) > 0
        if verbose:
            print(
                f"jaxl2 LogisticRegression: solver {self.solver!r} runs jaxl2's {solver!r} on "
                f"{n} samples x {p_fit} features, {k} classes, C={self.C}, "
                f"max_iter={self.max_iter}, tol={self.tol}",
                flush=True,
            )
        with jax.enable_x64(X.dtype == np.float64), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            Xp = _pad_sparse(X, n_pad, p_pad) if sparse else _pad_dense(X, n_pad, p_pad)
            res = logistic_regression(
                Xp,
                yp,
                lam,
                l1_ratio=l1_ratio,
                fit_intercept=fit_intercept,
                sample_weight=sp_w,
                n_classes=k,
                solver=solver,
                max_iter=int(self.max_iter),
                tol=float(self.tol),
                coef_init=coef_init,
                intercept_init=intercept_init,
                verbose=verbose,
            )
            coef, intercept = np.asarray(res.coef), np.asarray(res.intercept)
            n_iter, converged = int(res.n_iter), bool(res.converged)
        if verbose:
            outcome = "converged" if converged else "stopped at max_iter, not converged,"
            print(f"jaxl2 LogisticRegression: {outcome} after {n_iter} iterations", flush=True)
        self._store(coef.reshape(m, p_pad)[:, :p_fit], np.reshape(intercept, (m,)), p, X.dtype)
        self.n_iter_ = np.array([n_iter], dtype=np.int32)
        if not converged:
            self._warn_not_converged(n_iter, solver)
        return self

    def _validate_fit_data(self, X, y):
        """scikit-learn's checks and messages on X and y: (X, class index of each sample)."""
        if self.n_jobs is not None:
            warnings.warn(
                "'n_jobs' has no effect since 1.8 and will be removed in 1.10. You provided "
                f"'n_jobs={self.n_jobs}', please leave it unspecified.",
                FutureWarning,
                stacklevel=3,
            )
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            dtype=[np.float64, np.float32],
            order="C",
            # scikit-learn's sag/saga/liblinear refuse 64-bit sparse indices; kept for parity.
            accept_large_sparse=self.solver not in ("liblinear", "sag", "saga"),
        )
        check_classification_targets(y)
        self.classes_, y_index = np.unique(y, return_inverse=True)
        k = self.classes_.size
        liblinear = self.solver == "liblinear"
        if liblinear and k > 2:
            raise ValueError(
                "The 'liblinear' solver does not support multiclass classification (n_classes "
                ">= 3). Either use another solver or wrap the estimator in a "
                "OneVsRestClassifier to keep applying a one-versus-rest scheme."
            )
        if liblinear and (X.max() if sp.issparse(X) else np.max(X)) > 1e30:
            raise ValueError(
                "Using the 'liblinear' solver while X contains a maximum value > 1e30 results "
                "in a frozen fit. Please choose another solver or rescale the input X."
            )
        if k < 2:
            raise ValueError(
                "This solver needs samples of at least 2 classes in the data, but the data "
                f"contains only one class: {self.classes_[0]!r}"
            )
        return X, y_index

    def _fit_weights(self, X, y, y_index, sample_weight):
        """``sample_weight`` times the class weights; at least two classes must weigh."""
        sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype, copy=True)
        if self.class_weight is not None:
            cw = compute_class_weight(
                self.class_weight, classes=self.classes_, y=y, sample_weight=sample_weight
            )
            sample_weight = sample_weight * cw[y_index].astype(X.dtype)
        present = np.unique(y_index[sample_weight > 0])
        if present.size < 2:
            raise ValueError(
                "This solver needs samples of at least 2 classes in the data (with positive "
                f"sample_weight), but the data contains only one class: "
                f"{self.classes_[present[0]] if present.size else self.classes_[0]!r}."
            )
        return sample_weight

    def _store(self, coef, intercept, p, dtype):
        """``coef_`` and ``intercept_`` from the solver's (unpadded) coefficients."""
        if self.solver == "liblinear" and self.fit_intercept:
            coef, intercept = coef[:, :p], coef[:, p] * self.intercept_scaling
        # liblinear computes in float64 whatever the input (scikit-learn's dtype rule).
        out = np.float64 if self.solver == "liblinear" else dtype
        self.coef_ = np.array(coef, dtype=out, order="C")
        self.intercept_ = np.array(intercept, dtype=out)

    def _warn_not_converged(self, n_iter, solver):
        name = self.solver if self.solver in _NOT_CONVERGED else "jaxl2"
        head = _NOT_CONVERGED.get(name, "jaxl2 logistic regression did not converge.")
        warnings.warn(
            head.format(n=n_iter, loss="(not computed)")
            + f" (jaxl2 solver {solver!r}, max_iter={self.max_iter}, tol={self.tol}.) "
            "Increase the number of iterations (max_iter) or scale the data as shown in "
            "https://scikit-learn.org/stable/modules/preprocessing.html",
            SklearnConvergenceWarning,
            stacklevel=3,
        )

    def _warm_start(self, k, p, p_pad, liblinear):
        """Starting coefficients (padded) from the previous fit, or (None, None)."""
        coef = getattr(self, "coef_", None) if self.warm_start and not liblinear else None
        if coef is None:
            return None, None
        coef = coef.toarray() if sp.issparse(coef) else np.asarray(coef)
        m = 1 if k == 2 else k
        if coef.shape != (m, p):
            raise ValueError(
                f"Initialization coef is of shape {coef.shape}, expected shape {(m, p)} (the "
                "previous fit's coef_ does not match these data; set warm_start=False)."
            )
        padded = np.zeros((m, p_pad), coef.dtype)
        padded[:, :p] = coef
        intercept = np.asarray(self.intercept_).reshape(m)
        if k == 2:
            return padded[0], intercept[0]
        return padded, intercept

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

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        if self.solver == "liblinear":
            tags.classifier_tags.multi_class = False
        return tags


def _pad_dense(X, n_pad, p_pad):
    Xp = np.zeros((n_pad, p_pad), X.dtype)
    Xp[: X.shape[0], : X.shape[1]] = X
    return Xp


def _pad_sparse(X, n_pad, p_pad):
    """A BCOO matrix of shape ``(n_pad, p_pad)`` with its stored entries padded to a bucket
    (explicit zeros at (0, 0), which add nothing to any product)."""
    coo = sp.coo_matrix(X)
    nnz = coo.nnz
    nnz_pad = _bucket(max(nnz, 1), minimum=256)
    data = np.zeros(nnz_pad, X.dtype)
    data[:nnz] = coo.data
    indices = np.zeros((nnz_pad, 2), np.int32)
    indices[:nnz, 0], indices[:nnz, 1] = coo.row, coo.col
    return jsparse.BCOO((jnp.asarray(data), jnp.asarray(indices)), shape=(n_pad, p_pad))
