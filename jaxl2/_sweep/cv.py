"""k-fold cross-validation, vmapped over the folds and swept over the hyperparameters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_int
from .._typing import ArrayLike, ArrayTree
from .checkpoint import _name
from .results import Best, _fmt, _json_value, hparam_columns
from .sweep import SweepInfo, _host_hparams, run_sweep
from .util import cache_get as _cache_get
from .util import new_cache

_SWEEP_OPTIONS = ("strategy", "batch_size", "devices", "progress", "checkpoint_dir")
# (fit_fn, score_fn) -> the member function, so that a rerun reuses its compiled program.
_members = new_cache()


@dataclass(frozen=True, repr=False)
class CVResult:
    """Scores of :func:`jaxl2.cross_validate`.

    Attributes:
        hparams: the K settings (host numpy, leading axis K).
        scores: ``(K, folds)``: the score of each setting on each held-out fold.
        mean, std: ``(K,)``: mean and (population) standard deviation over the folds, as
            scikit-learn's ``mean_test_score`` / ``std_test_score``.
        test_index: ``(folds, n_test)``: the held-out rows of each fold.
        greater_is_better: whether higher scores are better.
        info: how the sweep over the settings ran (a :class:`jaxl2.SweepInfo`: strategy, chunk
            width, devices, members loaded from ``checkpoint_dir``).
    """

    hparams: ArrayTree
    scores: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    test_index: np.ndarray
    greater_is_better: bool = True
    info: SweepInfo | None = None

    def __repr__(self) -> str:
        b = self.best()
        return (
            f"CVResult(K={len(self.mean)}, folds={self.scores.shape[1]}, best index "
            f"{b.index}: {b.hparams}, mean score {b.value:.4g})"
        )

    def best(self) -> Best:
        """The setting with the best mean score (non-finite means are ignored)."""
        values = np.asarray(self.mean, np.float64)
        ok = np.isfinite(values)
        if not ok.any():
            raise ValueError("no setting has a finite mean score.")
        scores = np.where(ok, -values if self.greater_is_better else values, np.inf)
        index = int(np.argmin(scores))
        chosen = {name: _json_value(col[index]) for name, col in hparam_columns(self.hparams)}
        return Best(index, chosen, "mean score", float(values[index]))

    @property
    def best_index(self) -> int:
        """Index of the best setting (see :meth:`best`)."""
        return self.best().index

    def table(self) -> str:
        """One row per setting: hyperparameters, mean and standard deviation; best marked ``*``."""
        columns = hparam_columns(self.hparams)
        star = self.best().index
        head = [n for n, _ in columns] + ["mean score", "std", ""]
        rows = [
            [_fmt(c[k]) for _, c in columns]
            + [_fmt(self.mean[k]), _fmt(self.std[k]), "*" if k == star else ""]
            for k in range(len(self.mean))
        ]
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
        lines = [
            "  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)).rstrip()
            for r in [head, *rows]
        ]
        return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])


def _folds(n: int, folds: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled folds of equal size n // folds; the n % folds rows left over always train."""
    perm = np.random.default_rng(seed).permutation(n)
    size = n // folds
    test = np.stack([perm[f * size : (f + 1) * size] for f in range(folds)])
    train = np.stack(
        [np.concatenate([perm[: f * size], perm[(f + 1) * size :]]) for f in range(folds)]
    )
    return train.astype(np.int32), test.astype(np.int32)


def _member_fn(fit_fn: Callable, score_fn: Callable) -> Callable:
    def member(h, X, y, train_index, test_index):
        def one_fold(train, test):
            params = fit_fn(h, X[train], y[train])
            score = score_fn(params, X[test], y[test])
            if jnp.ndim(score) != 0:  # at trace time, before any fold is fitted
                raise ValueError(
                    "score_fn must return a scalar (one score per held-out fold), but it "
                    f"returned shape {jnp.shape(score)}; reduce it, e.g. with jnp.mean."
                )
            return score

        return jax.vmap(one_fold)(train_index, test_index)

    member.__name__ = "cross_validate"  # names its compiled programs and progress bar
    return member


def _identity(fit_fn: Callable, score_fn: Callable) -> str:
    """What defines cross_validate's member function, for the checkpoint fingerprint (the
    folds, X and y are its arguments, fingerprinted with them)."""
    return f"jaxl2.cross_validate[fit_fn={_name(fit_fn)}, score_fn={_name(score_fn)}]"


def cross_validate(
    fit_fn: Callable[[Any, jax.Array, jax.Array], Any],
    score_fn: Callable[[Any, jax.Array, jax.Array], jax.Array],
    X: ArrayLike,
    y: ArrayLike,
    hparams: ArrayTree,
    *,
    folds: int = 5,
    seed: int = 0,
    greater_is_better: bool = True,
    **sweep_options: Any,
) -> CVResult:
    """k-fold cross-validation of K hyperparameter settings, vmapped over folds × settings.

    The rows are shuffled (``numpy.random.default_rng(seed)``) and cut into ``folds`` held-out
    folds of ``n // folds`` rows; the ``n % folds`` rows left over are in every training set
    (all folds keep the same shapes, so one compiled program fits them all). For each setting
    ``h`` and fold f: ``params = fit_fn(h, X[train_f], y[train_f])`` and
    ``score_f = score_fn(params, X[test_f], y[test_f])``. E.g. ridge:
    ``fit_fn`` minimizes ``Σ (y − Xw − b)² + h · ‖w‖²``, and ``score_fn`` returns R² or
    ``−MSE``.

    Args:
        fit_fn: ``fit_fn(h, X_train, y_train) -> params`` (jit-compatible).
        score_fn: ``score_fn(params, X_test, y_test) -> scalar``.
        X: features ``(n, ...)``.
        y: targets ``(n, ...)``.
        hparams: the K settings: an array ``(K,)`` or a pytree of them (see :func:`jaxl2.grid`).
        folds: number of folds, 2 ≤ folds ≤ n.
        seed: seeds the shuffling.
        greater_is_better: True when a higher score is better (accuracy, R², −MSE).
        **sweep_options: ``strategy``, ``batch_size``, ``devices``, ``progress``,
            ``checkpoint_dir``, as in :func:`jaxl2.sweep`.

    Returns:
        A :class:`CVResult` with ``scores (K, folds)``, ``mean``, ``std``, ``best()``,
        ``test_index``, ``table()`` and ``info`` (how the sweep ran, a :class:`jaxl2.SweepInfo`).

    Raises:
        ValueError: ``folds`` out of range, or X and y of different lengths.
        TypeError: an unknown keyword in ``sweep_options`` (``return_info`` too: the result
            carries ``.info``).

    Examples:
        >>> import jax.numpy as jnp, jaxl2
        >>> X = jnp.arange(20.0).reshape(10, 2); y = X @ jnp.array([1.0, -1.0]) + 3.0
        >>> def fit(lam, X, y):  # ridge through the origin: argmin Σ (y − Xw)² + lam‖w‖²
        ...     return jnp.linalg.solve(X.T @ X + lam * jnp.eye(2), X.T @ y)
        >>> def score(w, X, y):
        ...     return -jnp.mean((X @ w - y) ** 2)
        >>> cv = jaxl2.cross_validate(fit, score, X, y, jnp.array([0.01, 100.0]), folds=5)
        >>> cv.best().index, cv.scores.shape
        (0, (2, 5))
    """
    unknown = sorted(set(sweep_options) - set(_SWEEP_OPTIONS))
    if unknown:
        raise TypeError(
            f"cross_validate got unknown keyword argument(s) {unknown}; the sweep options are "
            f"{list(_SWEEP_OPTIONS)} (how the sweep ran is in the result's .info)."
        )
    folds = check_int(folds, "folds", None)
    n = int(np.shape(X)[0]) if np.ndim(X) else 0
    if np.ndim(y) == 0 or np.shape(y)[0] != n:
        raise ValueError(
            f"X and y must have the same number of rows, got X {np.shape(X)} and y {np.shape(y)}."
        )
    if not 2 <= folds <= n:
        raise ValueError(f"folds must satisfy 2 <= folds <= n = {n}, got folds={folds}.")
    h_host, _ = _host_hparams(hparams)
    train_index, test_index = _folds(n, int(folds), seed)
    member = _cache_get(_members, ("cv", fit_fn, score_fn), lambda: _member_fn(fit_fn, score_fn))
    scores, info = run_sweep(
        member,
        h_host,
        (X, y, train_index, test_index),
        name=_identity(fit_fn, score_fn),
        **sweep_options,
    )
    scores = np.asarray(scores)
    with np.errstate(invalid="ignore"):
        mean, std = scores.mean(axis=1), scores.std(axis=1)
    return CVResult(h_host, scores, mean, std, test_index, bool(greater_is_better), info)
