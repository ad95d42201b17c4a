"""scikit-learn estimators for many targets: ``BandedRidgeCV`` and ``KernelRidgeCV``.

Precision: float32 input is computed in float32; float64 input is computed in float64 inside a
scoped ``jax.enable_x64(True)`` (JAX's global setting is left as it was).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Sequence
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from .._checks import check_choice, check_lams
from .._typing import ArrayLike, Devices
from .banded_ridge import check_groups, tune_banded_ridge
from .kernel_ridge import check_kernel_params, kernel_matrix, kernel_ridge_path
from .sklearn_validation import _check_sample_weight, validate_data


def _precision(dtype) -> contextlib.AbstractContextManager:
    return jax.enable_x64(True) if dtype == np.float64 else contextlib.nullcontext()


class _Base(MultiOutputMixin, RegressorMixin, BaseEstimator):
    def _validate(self, X, y):
        X, y = validate_data(
            self, X, y, dtype=[np.float64, np.float32], multi_output=True, y_numeric=True
        )
        return X, y.astype(X.dtype, copy=False)


class BandedRidgeCV(_Base):
    """Banded ridge with each target's group strengths tuned by exact LOO or GCV.

    Minimizes, per target, ``Σᵢ sᵢ (yᵢ − xᵢᵀw − b)² + Σ_g λ_g ‖w_g‖²`` (intercept unpenalized)
    with ``λ ∈ ℝ^G`` chosen per target by :func:`jaxl2.tune_banded_ridge`: trust-region Newton
    steps on ``log λ`` (``method="gradient"``) or a random search over group weights
    (``method="random"``, himalaya's ``BandedRidgeCV`` with exact LOO instead of K-fold).

    Args:
        groups: the feature groups (see :func:`jaxl2.banded_ridge`); None puts every feature in
            one group (plain ridge with a per-target strength).
        method: ``"gradient"`` or ``"random"``.
        criterion: ``"loo"`` or ``"gcv"``.
        alphas: overall strengths searched (None: a default grid scaled to the data).
        n_iter: group-weight candidates (None: 20, for ``"random"`` and as the start of
            ``"gradient"``).
        concentration: Dirichlet concentration(s) of the group-weight candidates
            (``"random"``; see :func:`jaxl2.tune_banded_ridge`).
        steps: most Newton steps per target (``"gradient"``).
        tol: relative decrease of the criterion under which a target's descent stops
            (``"gradient"``, see :func:`jaxl2.tune_banded_ridge`).
        fit_intercept: fit an unpenalized intercept.
        random_state: seed of the group-weight candidates.
        targets_batch: targets per batch, so that many targets fit in bounded memory (None:
            the default of :func:`jaxl2.tune_banded_ridge`).
        progress: show progress over the target batches.
        devices: shard the targets over devices (an int, a list of devices or a
            ``jax.sharding.Mesh``; see :func:`jaxl2.tune_banded_ridge`).

    Attributes:
        coef_: ``(n_features,)`` or ``(n_targets, n_features)``.
        intercept_: float or ``(n_targets,)``.
        lams_: ``(n_groups,)`` or ``(n_targets, n_groups)`` tuned strengths.
        best_score_: ``−criterion`` at the tuned strengths (per target for 2-D y).
        n_features_in_: number of features seen in ``fit``.

    Examples:
        >>> import numpy as np
        >>> from jaxl2.sklearn import BandedRidgeCV
        >>> rng = np.random.default_rng(0)
        >>> X = rng.standard_normal((80, 6))
        >>> y = X[:, :3] @ np.array([1.0, -1.0, 0.5]) + 0.3 * rng.standard_normal(80)
        >>> model = BandedRidgeCV(groups=[[0, 1, 2], [3, 4, 5]]).fit(X, y)
        >>> print(bool(model.lams_[1] > 10 * model.lams_[0]), round(model.score(X, y), 2))
        True 0.97
    """

    def __init__(
        self,
        groups: ArrayLike | Sequence[Sequence[int] | slice] | None = None,
        *,
        method: Literal["gradient", "random"] = "gradient",
        criterion: Literal["loo", "gcv"] = "loo",
        alphas: ArrayLike | None = None,
        n_iter: int | None = None,
        concentration: float | Sequence[float] = (0.1, 1.0),
        steps: int = 5,
        tol: float = 1e-3,
        fit_intercept: bool = True,
        random_state: int = 0,
        targets_batch: int | None = None,
        progress: bool = False,
        devices: Devices = None,
    ):
        self.groups = groups
        self.method = method
        self.criterion = criterion
        self.alphas = alphas
        self.n_iter = n_iter
        self.concentration = concentration
        self.steps = steps
        self.tol = tol
        self.fit_intercept = fit_intercept
        self.random_state = random_state
        self.targets_batch = targets_batch
        self.progress = progress
        self.devices = devices

    def fit(self, X, y, sample_weight=None):
        """Fits the model, tuning each target's group strengths.

        Args:
            X: ``(n_samples, n_features)``; y: ``(n_samples,)`` or ``(n_samples, n_targets)``.
            sample_weight: ``None``, a float, or ``(n_samples,)`` non-negative weights.

        Returns:
            self.
        """
        X, y = self._validate(X, y)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=X.dtype, ensure_non_negative=True
            )
        groups = self.groups
        if groups is None:
            groups = np.zeros(X.shape[1], np.int64)
        check_groups(groups, X.shape[1])
        seed = 0 if self.random_state is None else self.random_state
        if not isinstance(seed, (int, np.integer)):
            seed = int(np.random.default_rng(seed).integers(2**31))
        with _precision(X.dtype):
            res = tune_banded_ridge(
                jnp.asarray(X),
                jnp.asarray(y),
                groups,
                method=self.method,
                criterion=self.criterion,
                alphas=self.alphas,
                n_iter=self.n_iter,
                concentration=self.concentration,
                steps=self.steps,
                tol=self.tol,
                seed=int(seed),
                fit_intercept=self.fit_intercept,
                sample_weight=None if sample_weight is None else jnp.asarray(sample_weight),
                targets_batch=self.targets_batch,
                progress=self.progress,
                devices=self.devices,
            )
            self.coef_ = np.asarray(res.coef, X.dtype)
            intercept = np.asarray(res.intercept, X.dtype)
            self.intercept_ = intercept if y.ndim == 2 else X.dtype.type(intercept)
            self.lams_ = np.asarray(res.lams, X.dtype)
            self.best_score_ = -np.asarray(res.value, X.dtype)
        return self

    def predict(self, X):
        """``X @ coef_.T + intercept_``.

        Args:
            X: ``(n_samples, n_features)``.

        Returns:
            ``(n_samples,)`` or ``(n_samples, n_targets)`` predictions.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return X @ self.coef_.T.astype(X.dtype, copy=False) + self.intercept_


class KernelRidgeCV(_Base):
    """Kernel ridge with the strength chosen by exact leave-one-out (or GCV).

    For each candidate ``alpha`` the model is scikit-learn's ``KernelRidge(alpha, kernel)``:
    ``α = (K + alpha·I)⁻¹ y`` and ``f(x) = Σᵢ αᵢ k(x, xᵢ)`` (no intercept). Every alpha is
    scored by its exact LOO MSE (or GCV) from one eigendecomposition of K
    (:func:`jaxl2.kernel_ridge_path`), the best kept per target or for all targets.

    Args:
        alphas: candidate strengths ``> 0``.
        kernel: ``"linear"``, ``"poly"`` or ``"rbf"``.
        gamma, degree, coef0: kernel parameters (scikit-learn's; ``gamma`` defaults to
            ``1/n_features``).
        alpha_per_target: choose alpha per target (2-D y) instead of one for all.
        criterion: ``"loo"`` or ``"gcv"``.
        devices: shard the targets over devices (an int, a list of devices or a
            ``jax.sharding.Mesh``; see :func:`jaxl2.kernel_ridge_path`).

    Attributes:
        alpha_: float, or ``(n_targets,)`` with ``alpha_per_target``.
        best_score_: ``−criterion`` at ``alpha_``.
        dual_coef_: ``(n_samples,)`` or ``(n_samples, n_targets)``.
        X_fit_: the training inputs.
        n_features_in_: number of features seen in ``fit``.

    Examples:
        >>> import numpy as np
        >>> from jaxl2.sklearn import KernelRidgeCV
        >>> X = np.linspace(-3, 3, 40)[:, None]
        >>> model = KernelRidgeCV(alphas=[1e-3, 1e-1, 10.0], gamma=1.0).fit(X, np.sin(X[:, 0]))
        >>> print(model.alpha_, round(model.score(X, np.sin(X[:, 0])), 4))
        0.001 1.0
    """

    def __init__(
        self,
        alphas: ArrayLike | Sequence[float] = (0.1, 1.0, 10.0),
        *,
        kernel: Literal["linear", "poly", "rbf"] = "rbf",
        gamma: float | None = None,
        degree: int = 3,
        coef0: float = 1.0,
        alpha_per_target: bool = False,
        criterion: Literal["loo", "gcv"] = "loo",
        devices: Devices = None,
    ):
        self.alphas = alphas
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.alpha_per_target = alpha_per_target
        self.criterion = criterion
        self.devices = devices

    def _params(self) -> dict[str, Any]:
        return dict(kernel=self.kernel, gamma=self.gamma, degree=self.degree, coef0=self.coef0)

    def fit(self, X, y):
        """Fits the model, choosing alpha by exact leave-one-out (or GCV).

        Args:
            X: ``(n_samples, n_features)``; y: ``(n_samples,)`` or ``(n_samples, n_targets)``.

        Returns:
            self.
        """
        X, y = self._validate(X, y)
        check_kernel_params(self.kernel, self.gamma, self.degree, self.coef0, X.shape[1])
        check_choice(self.criterion, "criterion", ("loo", "gcv"))
        alphas = np.asarray(check_lams(self.alphas, name="alphas"), np.float64)
        if not np.all(alphas > 0):  # named here, not as kernel_ridge_path's lams
            raise ValueError(f"alphas must be > 0 for kernel ridge, got {alphas.tolist()}.")
        with _precision(X.dtype):
            lams = jnp.asarray(alphas.astype(X.dtype))
            path = kernel_ridge_path(
                X, y, lams, select=self.criterion, devices=self.devices, **self._params()
            )
            crit = path.loo_mse if self.criterion == "loo" else path.gcv
            crit = np.asarray(crit, np.float64)
            if y.ndim == 2 and not self.alpha_per_target:
                mean = crit.mean(axis=1)
                k = int(np.argmin(np.where(np.isnan(mean), np.inf, mean)))
                self.alpha_ = float(alphas[k])
                self.best_score_ = float(-mean[k])
                with warnings.catch_warnings():  # the first call warned of constant targets
                    warnings.filterwarnings("ignore", r".* of y are constant", UserWarning)
                    path = kernel_ridge_path(
                        X, y, lams[k : k + 1], select="gcv", devices=self.devices, **self._params()
                    )
            elif y.ndim == 2:
                best = np.asarray(path.best_index)
                self.alpha_ = alphas[best].astype(X.dtype)
                self.best_score_ = -crit[best, np.arange(y.shape[1])]
            else:
                k = int(path.best_index)
                self.alpha_ = float(alphas[k])
                self.best_score_ = float(-crit[k])
            self.dual_coef_ = np.asarray(path.dual_coef, X.dtype)
        self.X_fit_ = X
        return self

    def predict(self, X):
        """``kernel_matrix(X, X_fit_) @ dual_coef_``.

        Args:
            X: ``(n_samples, n_features)``.

        Returns:
            ``(n_samples,)`` or ``(n_samples, n_targets)`` predictions.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        with _precision(X.dtype):
            K = kernel_matrix(X, self.X_fit_.astype(X.dtype), **self._params())
            return np.asarray(K @ jnp.asarray(self.dual_coef_.astype(X.dtype)), X.dtype)
