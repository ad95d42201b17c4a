"""SweepResult: what train_sweep recorded, with the best member, a table, a plot and a dict."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import numpy as np

from .._typing import ArrayTree, Params
from ..masks import path_to_str

if TYPE_CHECKING:
    from .sweep import SweepInfo

_LOWER_IS_BETTER = (
    "loss",
    "error",
    "err",
    "mse",
    "mae",
    "rmse",
    "nll",
    "bce",
    "perplexity",
    "ppl",
    "gap",
    "norm",
    "entropy",
    "xent",
    "regret",
    "distance",
    "divergence",
    "kl",
    "brier",
    "risk",
)
_HIGHER_IS_BETTER = (
    "accuracy",
    "acc",
    "f1",
    "auc",
    "auroc",
    "r2",
    "precision",
    "recall",
    "score",
    "iou",
    "dice",
    "bleu",
    "rouge",
    "likelihood",
    "reward",
    "return",
    "map",
    "ndcg",
)


def metric_mode(metric: str) -> str | None:
    """``"min"`` for losses, errors, negative log-likelihoods, perplexities, gaps and norms;
    ``"max"`` for accuracies and scores (accuracy, f1, auc, r2, ...); None when the name does
    not say (then callers ask for ``mode=``).

    The name is split into words at ``_``, ``-``, ``.``, ``/`` and spaces, and a word must
    match (``val_nll`` is a loss; ``val_accuracy`` an accuracy; ``val_foo`` is ambiguous).
    """
    words = [w for w in re.split(r"[_\-./ ]+", metric.lower()) if w]
    if words and words[0] == "gap":  # train_sweep's gaps: positive when validation is worse
        return "min"
    if "likelihood" in words and "log" in words:
        return "min" if "neg" in words or "negative" in words else "max"
    low = any(w in _LOWER_IS_BETTER for w in words)
    high = any(w in _HIGHER_IS_BETTER for w in words)
    if low == high:
        return None
    return "min" if low else "max"


def hparam_columns(hparams: Any) -> list[tuple[str, np.ndarray]]:
    """(name, values of shape (K,) or (K, ...)) for each hparams leaf; a bare array is "hparam"."""
    flat = jax.tree_util.tree_flatten_with_path(hparams)[0]
    return [(path_to_str(path) or "hparam", np.asarray(x)) for path, x in flat]


def _fmt(value: Any) -> str:
    arr = np.asarray(value)
    if arr.ndim:
        return "[" + ", ".join(_fmt(v) for v in arr.reshape(-1)) + "]"
    if arr.dtype.kind in "biu":
        return str(int(arr))
    v = float(arr)
    if not math.isfinite(v):
        return str(v)
    if v == 0:
        return "0"
    return f"{v:.3g}" if (abs(v) >= 1e4 or abs(v) < 1e-3) else f"{v:.4g}"


def _column_format(values: np.ndarray) -> Any:
    """Fixed decimals when the finite values of a column allow it (so that they line up)."""
    finite = np.abs(np.asarray(values, np.float64))
    finite = finite[np.isfinite(finite) & (finite > 0)]
    if finite.size and finite.min() >= 1e-3 and finite.max() < 1e4:

        def fixed(v: Any) -> str:
            return f"{float(v):.4f}" if math.isfinite(float(v)) else str(float(v))

        return fixed
    return _fmt


def _json_value(x: Any) -> Any:
    arr = np.asarray(x)
    if arr.ndim:
        return [_json_value(v) for v in arr]
    if arr.dtype.kind == "b":
        return bool(arr)
    if arr.dtype.kind in "iu":
        return int(arr)
    v = float(arr)
    return v if math.isfinite(v) else None


class Best(NamedTuple):
    """The best member of a sweep: its index, hyperparameters, the metric and its value."""

    index: int
    hparams: dict[str, Any]
    metric: str
    value: float


@dataclass(frozen=True, repr=False)
class SweepResult:
    """What :func:`jaxl2.train_sweep` recorded for its K members.

    Attributes:
        hparams: the hyperparameters, a pytree of arrays with leading axis K (host numpy).
        metrics: ``{name: array (K, E)}``: each record at the E steps in ``steps``.
        steps: the E steps at which the records were taken.
        params: the final parameters, stacked on a leading axis K (None with
            ``keep_params=False``).
        finite: bool ``(K,)``: which members ended with a finite loss and finite parameters.
        best_step: int ``(K,)``: with early stopping (``monitor=``), the step of each member's
            best record of ``monitor`` (−1 if none); ``params`` then holds that record's
            parameters when ``restore_best=True``. None without ``monitor``.
        stopped: bool ``(K,)``: members that stopped early (ran out of patience) or diverged;
            None without ``monitor``.
        monitor: the monitored metric (None without early stopping); :meth:`best` on it reads
            each member's best record rather than its last.
        info: how the sweep ran (a :class:`jaxl2.SweepInfo`: strategy, chunk width, devices,
            members loaded from ``checkpoint_dir``); None for streamed ``train_data`` (no compiled
            sweep runs) and for results built by hand.
        restored: True when ``params`` are each member's best-record parameters
            (``restore_best=True``): :meth:`best` and :meth:`table` then read every metric at
            that record, the one that belongs to the parameters held, not the last one.
    """

    hparams: ArrayTree
    metrics: dict[str, np.ndarray]
    steps: np.ndarray
    params: Params
    finite: np.ndarray
    best_step: np.ndarray | None = None
    stopped: np.ndarray | None = None
    monitor: str | None = None
    monitor_mode: str | None = None
    info: SweepInfo | None = None
    restored: bool = False

    def __len__(self) -> int:
        return int(self.finite.shape[0])

    def __repr__(self) -> str:
        names = ", ".join(name for name, _ in hparam_columns(self.hparams))
        return (
            f"SweepResult(K={len(self)}, hparams=[{names}], records={len(self.steps)} "
            f"(steps {int(self.steps[0])}..{int(self.steps[-1])}), metrics={sorted(self.metrics)}, "
            f"finite={int(self.finite.sum())}/{len(self)})"
        )

    def final(self, metric: str) -> np.ndarray:
        """The last record of ``metric`` for every member, shape ``(K,)``."""
        if metric not in self.metrics:
            raise KeyError(f"metric {metric!r} was not recorded; recorded: {sorted(self.metrics)}.")
        return self.metrics[metric][:, -1]

    def _at_best_record(self, metric: str) -> np.ndarray:
        """Each member's ``metric`` at its best record of ``monitor`` (its last record where it
        has none)."""
        values = self.final(metric)
        if self.best_step is None:
            return values
        record = np.searchsorted(self.steps, np.maximum(self.best_step, 0))
        record = np.minimum(record, len(self.steps) - 1)
        at_best = self.metrics[metric][np.arange(len(self)), record]
        return np.where(self.best_step >= 0, at_best, values)

    def _reported(self, metric: str) -> np.ndarray:
        """The value of ``metric`` that :meth:`best` and :meth:`table` use, shape ``(K,)``: the
        record at each member's best step when ``restored`` (``restore_best=True``: the record
        of the parameters held), otherwise the last record (:meth:`final`)."""
        return self._at_best_record(metric) if self.restored else self.final(metric)

    def default_metric(self) -> str:
        return "val_loss" if "val_loss" in self.metrics else "train_loss"

    def best(self, metric: str | None = None, *, mode: str | None = None) -> Best:
        """The member with the best final ``metric``, ignoring members that did not stay finite.

        "Final" is the last record, except for the monitored metric (each member's best record)
        and, when the parameters were restored to the best record (``restored``), for every
        metric (its value at that record).

        Args:
            metric: a recorded metric (default ``"val_loss"`` if recorded, else ``"train_loss"``).
            mode: ``"min"`` or ``"max"``; default from the name when it is unambiguous (see
                :func:`metric_mode`: loss, error, nll, bce, mse, perplexity, gap, norm: min;
                accuracy, f1, auc, r2, score: max); otherwise an error asks for it.

        Returns:
            A :class:`Best` ``(index, hparams, metric, value)``; ties go to the first member.

        Raises:
            KeyError: ``metric`` was not recorded.
            ValueError: no member stayed finite, an unknown ``mode``, or ``mode`` missing for a
                metric whose name does not say its direction.
        """
        metric = metric or self.default_metric()
        if mode is None and metric == self.monitor:
            mode = self.monitor_mode
        if mode is None:
            self.final(metric)  # an unknown name is a KeyError first
            mode = metric_mode(metric)
            if mode is None:
                raise ValueError(
                    f"best({metric!r}): cannot tell whether {metric!r} is minimized or "
                    "maximized; pass mode='min' (a loss or error) or mode='max' (an accuracy "
                    "or score)."
                )
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}.")
        if metric == self.monitor:
            values = np.asarray(self._at_best_record(metric), np.float64)
        else:
            values = np.asarray(self._reported(metric), np.float64)
        ok = self.finite & np.isfinite(values)
        if not ok.any():
            raise ValueError(f"no member stayed finite, so there is no best {metric}.")
        scores = np.where(ok, values if mode == "min" else -values, np.inf)
        index = int(np.argmin(scores))
        chosen = {name: _json_value(col[index]) for name, col in hparam_columns(self.hparams)}
        return Best(index, chosen, metric, float(values[index]))

    def _ordered_metrics(self) -> list[str]:
        names = sorted(self.metrics)
        first = ["train_loss", "val_loss", "gap"]
        extra = sorted({n.split("_", 1)[1] for n in names if n.startswith("train_")} - {"loss"})
        order = (
            first + [f"{p}_{m}" for m in extra for p in ("train", "val", "gap")] + ["weight_norm"]
        )
        return [n for n in order if n in self.metrics] + [n for n in names if n not in order]

    def table(
        self,
        metrics: list[str] | None = None,
        *,
        labels: dict[str, str] | None = None,
        best: str | None = None,
    ) -> str:
        """A text table: one row per member, its hyperparameters and final metrics (with
        ``restored``, each metric at the member's best record: see ``restored``).

        The best member (by ``best``, default :meth:`best`'s default) is marked ``*``;
        members that did not stay finite are marked ``diverged``.

        Args:
            metrics: the columns to show (default: all recorded, losses first).
            labels: column titles to use instead of the names, e.g. ``{"val_accuracy": "val acc"}``.
            best: the metric that picks the starred row.

        Returns:
            The table as a string.
        """
        labels = labels or {}
        metrics = metrics or self._ordered_metrics()
        for name in metrics:
            self.final(name)  # raises a clear KeyError for unknown names
        try:
            star = self.best(best).index
        except ValueError:
            star = -1
        columns = hparam_columns(self.hparams)
        head = [labels.get(n, n) for n, _ in columns] + [labels.get(m, m) for m in metrics]
        rows = []
        shown = {m: self._reported(m) for m in metrics}
        fmts = [_column_format(shown[m]) for m in metrics]
        for k in range(len(self)):
            cells = [_fmt(col[k]) for _, col in columns]
            cells += [f(shown[m][k]) for f, m in zip(fmts, metrics, strict=True)]
            mark = "*" if k == star else ("diverged" if not self.finite[k] else "")
            rows.append(cells + [mark])
        head.append("")
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
        lines = ["  ".join(c.rjust(w) for c, w in zip(head, widths, strict=True)).rstrip()]
        lines.append("-" * len(lines[0]))
        lines += [
            "  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
        ]
        return "\n".join(lines)

    def _x_axis(self, x: str | None) -> tuple[str, np.ndarray, list[tuple[str, np.ndarray]]]:
        columns = [(n, c) for n, c in hparam_columns(self.hparams) if c.ndim == 1]
        names = [n for n, _ in columns]
        if not columns:
            raise ValueError("plot needs at least one hyperparameter of shape (K,) for its x axis.")
        if x is None:
            x = next((n for n in ("weight_decay", "lam", "lambda") if n in names), names[0])
        if x not in names:
            raise ValueError(
                f"x must name a hyperparameter of shape (K,), one of {names}; got {x!r}."
            )
        others = [(n, c) for n, c in columns if n != x]
        return x, dict(columns)[x].astype(np.float64), others

    def plot(
        self,
        metrics: list[str] | None = None,
        *,
        x: str | None = None,
        best: str | None = None,
        path: str | None = None,
        title: str | None = None,
    ) -> Any:
        """Train and validation curves against a hyperparameter (log axes), best marked.

        One panel per metric base name: ``"loss"`` plots ``train_loss`` and ``val_loss``,
        ``"accuracy"`` plots ``train_accuracy`` and ``val_accuracy`` (final records). The x axis
        is logarithmic (symmetric-log when it holds 0); losses get a log y axis. With several
        hyperparameters, one line per value of the others. The best member (see :meth:`best`)
        is marked by a dotted vertical line in every panel.

        Args:
            metrics: base names (default: ``"loss"`` and every other recorded metric base).
            x: the hyperparameter on the x axis (default ``weight_decay`` if present, else the
                first of shape ``(K,)``).
            best: the metric that picks the marked member (default: as in :meth:`best`).
            path: if given, the figure is also saved there (e.g. ``"lambda_sweep.png"``).
            title: a title for the figure.

        Returns:
            A ``matplotlib.figure.Figure`` (shown inline in notebooks).
        """
        from matplotlib.figure import Figure

        x, xs, others = self._x_axis(x)
        bases = metrics or ["loss"] + [
            n[len("train_") :]
            for n in self._ordered_metrics()
            if n.startswith("train_") and n != "train_loss"
        ]
        fig = Figure(figsize=(5.2 * len(bases), 4.0), layout="constrained")
        axes = fig.subplots(1, len(bases), squeeze=False)[0]
        groups = self._groups(others)
        try:
            star: int | None = self.best(best).index
        except ValueError:
            star = None
        for i, (ax, base) in enumerate(zip(axes, bases, strict=True)):
            self._panel(ax, base, x, xs, groups, star=star, legend=i == 0)
        if title:
            fig.suptitle(title)
        if path is not None:
            fig.savefig(path, dpi=120)
        return fig

    def _groups(self, others: list[tuple[str, np.ndarray]]) -> list[tuple[str, np.ndarray]]:
        if not others:
            return [("", np.ones(len(self), bool))]
        keys = [tuple(c[k] for _, c in others) for k in range(len(self))]
        groups = []
        for key in dict.fromkeys(keys):
            label = ", ".join(f"{n}={_fmt(v)}" for (n, _), v in zip(others, key, strict=True))
            groups.append((label, np.array([kk == key for kk in keys])))
        return groups

    def _panel(self, ax, base, x, xs, groups, *, star, legend) -> None:
        series = [(s, f"{s}_{base}") for s in ("train", "val") if f"{s}_{base}" in self.metrics]
        if not series:
            raise ValueError(
                f"no train_{base} or val_{base} was recorded; recorded: {sorted(self.metrics)}."
            )
        positive = True
        for label, members in groups:
            order = np.flatnonzero(members)[np.argsort(xs[members], kind="stable")]
            order = order[self.finite[order]]
            for split, name in series:
                ys = self._reported(name)[order]
                positive &= bool(np.all(ys > 0))
                line_label = f"{split} {label}".strip()
                ax.plot(xs[order], ys, "-o" if split == "train" else "--s", ms=3, label=line_label)
        if np.all(xs > 0):
            ax.set_xscale("log")
        elif np.all(xs >= 0) and np.any(xs > 0):
            ax.set_xscale("symlog", linthresh=float(np.min(xs[xs > 0])))
        if "loss" in base and positive:
            ax.set_yscale("log")
        if star is not None:
            ax.axvline(xs[star], color="k", ls=":", lw=1)
            ax.annotate(
                f"best {x} = {_fmt(xs[star])}",
                (xs[star], 0.02),
                xycoords=("data", "axes fraction"),
                fontsize=8,
                rotation=90,
                ha="right",
                va="bottom",
            )
        ax.set_xlabel(x)
        ax.set_ylabel(base)
        ax.grid(True, which="both", alpha=0.3)
        if legend:
            ax.legend(fontsize=8)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable dict: hparams, steps, metrics (K × E lists), finite, best.

        Non-finite numbers become None. Parameters are left out (they can be large); use
        ``.params``.
        """
        try:
            best: dict[str, Any] | None = self.best()._asdict()
        except ValueError:
            best = None
        return {
            "hparams": {name: _json_value(col) for name, col in hparam_columns(self.hparams)},
            "steps": _json_value(self.steps),
            "metrics": {name: _json_value(v) for name, v in self.metrics.items()},
            "finite": _json_value(self.finite),
            "best": best,
        }
