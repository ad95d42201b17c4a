"""``jaxl2 sweep``: a λ sweep for ridge, logistic regression or an MLP on a CSV file."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import optax

import jaxl2

from .data import Data, as_classes, bundled, looks_categorical, numeric_target, read_csv, split
from .models import MLP, Linear, decay_range, losses
from .report import report, run_sweep

HELP = """\
Sweeps K regularization strengths λ for a model on your CSV file (a header row, numeric feature
columns, one target column), or on a bundled scikit-learn data set when --csv is not given
(digits for logistic and mlp, diabetes for ridge). Features are standardized with the training
split's mean and standard deviation. Missing cells (empty, nan, NA, null) are reported with their
line and column; remove or fill those rows first.

Models (all trained by jaxl2.train_sweep with full-batch Adam, every λ in one compiled sweep):
  ridge     y ≈ Xw + b, objective Σ (yᵢ − xᵢᵀw − b)² + λ‖w‖² (b unpenalized; λ is
            scikit-learn's Ridge alpha). Gradient-trained here, so approximate; the exact
            closed-form path is jaxl2's ridge solver.
  logistic  softmax regression, objective Σ logloss_i + λ‖W‖² (b unpenalized; scikit-learn's
            LogisticRegression C = 1/(2λ)). Gradient-trained here, so approximate.
  mlp       MLP with one hidden layer, AdamW with decoupled weight decay λ on the weight
            matrices (jaxl2.adamw, the torch.optim.AdamW convention). Classification when the
            target is text or has few integer values, else regression (--task to force).
            Its default λ range ends at min(100, 0.3/lr): each step multiplies the weights
            by 1 − lr·λ, and members far beyond that shrink to nothing or diverge.

Prints the table and the best λ, writes the plot (--out) and, with --json, every record.
Example:  python -m jaxl2 sweep --csv data.csv --target price --model ridge --k 24
"""
# Default log10 λ ranges of the linear models; the MLP's is models.decay_range(lr).
RIDGE_RANGE, LOGISTIC_RANGE = (-3.0, 4.0), (-3.0, 3.0)


def load(args: argparse.Namespace) -> Data:
    """The CSV file of --csv, or the bundled data set (default: diabetes for ridge, else digits)."""
    if args.csv:
        return read_csv(args.csv, args.target, args.features)
    return bundled(args.dataset or ("diabetes" if args.model == "ridge" else "digits"))


def targets(args: argparse.Namespace, data: Data) -> tuple[np.ndarray, list[str] | None]:
    """The target as class indices (int32) and the class names, or as numbers (float32) and
    None."""
    classify = {"ridge": False, "logistic": True}.get(args.model)
    if classify is None:
        if args.task == "auto":
            classify = looks_categorical(data.y)
        else:
            classify = args.task == "classification"
    if classify:
        why = "--model logistic" if args.model == "logistic" else "--task classification"
        return as_classes(data.y, data.target, why)
    why = "use --model logistic or mlp" if args.model == "ridge" else "use --task classification"
    return numeric_target(data.y, data.target, why), None


def run(args: argparse.Namespace) -> int:
    """Runs the CSV sweep with the parsed options; returns the exit status."""
    data = load(args)
    y, classes = targets(args, data)
    classify = classes is not None
    Xtr, ytr, Xva, yva = split(data.X, y, args.val_fraction, args.seed, classes)
    if not classify:
        # Standardizing y leaves λ's meaning unchanged: Σ(y − Xw − b)² + λ‖w‖² is σ² times the
        # same objective in y/σ and w/σ. Losses below are then in units of Var(y).
        mean, std = float(ytr.mean()), float(ytr.std()) or 1.0
        ytr, yva = ((ytr - mean) / std).astype(np.float32), ((yva - mean) / std).astype(np.float32)
    n, d = Xtr.shape
    n_out = len(classes) if classes is not None else 1
    model: Any
    if args.model == "mlp":
        model, (lo, hi) = MLP(d, args.hidden, n_out, classify), decay_range(args.lr)
    else:
        model = Linear(d, n_out, classify)
        lo, hi = RIDGE_RANGE if args.model == "ridge" else LOGISTIC_RANGE
    lo = lo if args.lam_min is None else args.lam_min
    hi = hi if args.lam_max is None else args.lam_max
    lams = np.logspace(lo, hi, args.k).astype(np.float32)
    loss, metrics = losses(model)
    optimizer, how = _optimizer(args.model, args.lr, n)
    print(
        f"λ sweep: {args.model} on {data.source}; {n} train / {len(yva)} validation rows; "
        f"{args.steps} full-batch steps, lr={args.lr:g}; {how}; K = {args.k} values of λ in "
        f"[{lams[0]:.3g}, {lams[-1]:.3g}]\n",
        flush=True,
    )
    result, elapsed = run_sweep(
        args, model, loss, metrics, ((Xtr, ytr), (Xva, yva)), {"lam": lams}, optimizer
    )
    report(args, result, elapsed, "accuracy" if classify else "r2", "lam")
    return 0


def _optimizer(model: str, lr: float, n: int):
    if model == "mlp":

        def adamw(h):
            return jaxl2.adamw(lr, weight_decay=h["lam"], mask="weights")

        return adamw, "AdamW, decoupled weight decay λ on the weight matrices"

    # The loss is a mean over n rows, so Σ loss + λ‖W‖² is n × (mean loss + (λ/n)‖W‖²),
    # whose penalty gradient 2(λ/n)·W coupled L2 adds with rate 2λ/n.
    def adam_l2(h):
        return jaxl2.coupled(optax.adam(lr), 2 * h["lam"] / n, mask="weights")

    return adam_l2, "Adam on Σ loss + λ‖W‖² (coupled L2; approximate, gradient-trained)"
