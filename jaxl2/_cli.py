"""Command line: ``jaxl2 demo`` (a λ sweep on digits) and ``jaxl2 sweep`` (on a CSV file).

JAX is configured (one CPU device per core, see :func:`jaxl2.use_cpu_cores`) before anything
else runs, which is why every JAX import here happens inside the command functions.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

DEMO_HELP = """\
Sweeps K weight decays λ for an MLP 64-H-10 on scikit-learn's digits (bundled, nothing is
downloaded): full-batch AdamW (jaxl2.adamw, update w ← w − lr·(m̂/(√v̂+ε) + λ·w)) decaying the
weight matrices only (jaxl2.masks.weights), all K members in one compiled sweep. Prints the table
(λ, train and validation accuracy, their gap, the weight norm ‖W‖), the best λ (lowest validation
loss), writes the plot, then compares no decay, Adam + L2 (jaxl2.adam_l2: Adam on g + λ·w) and
AdamW (jaxl2.adamw) at the best λ.
"""

SWEEP_HELP = """\
Sweeps K regularization strengths λ for a model on your CSV file (a header row, numeric feature
columns, one target column), or on a bundled scikit-learn data set when --csv is not given
(digits for logistic and mlp, diabetes for ridge). Features are standardized with the training
split's mean and standard deviation.

Models (all trained by jaxl2.train_sweep with full-batch Adam, every λ in one compiled sweep):
  ridge     y ≈ Xw + b, objective Σ (yᵢ − xᵢᵀw − b)² + λ‖w‖² (b unpenalized; λ is
            scikit-learn's Ridge alpha). Gradient-trained here, so approximate; the exact
            closed-form path is jaxl2's ridge solver.
  logistic  softmax regression, objective Σ logloss_i + λ‖W‖² (b unpenalized; scikit-learn's
            LogisticRegression C = 1/(2λ)). Gradient-trained here, so approximate.
  mlp       MLP with one hidden layer, AdamW with decoupled weight decay λ on the weight
            matrices (jaxl2.adamw, the torch.optim.AdamW convention). Classification when the
            target is text or has few integer values, else regression (--task to force).

Prints the table and the best λ, writes the plot (--out) and, with --json, every record.
Example:  python -m jaxl2 sweep --csv data.csv --target price --model ridge --k 24
"""


def _add_common(p: argparse.ArgumentParser, *, k: int, steps: int, lr: float) -> None:
    p.add_argument("--k", type=int, default=k, help=f"number of λ values (default {k})")
    p.add_argument("--lam-min", type=float, default=None, help="log10 of the smallest λ")
    p.add_argument("--lam-max", type=float, default=None, help="log10 of the largest λ")
    p.add_argument("--steps", type=int, default=steps, help=f"optimizer steps (default {steps})")
    p.add_argument("--lr", type=float, default=lr, help=f"Adam learning rate (default {lr})")
    p.add_argument("--hidden", type=int, default=128, help="MLP hidden width (default 128)")
    p.add_argument("--seed", type=int, default=0, help="seeds the split and the initialization")
    p.add_argument(
        "--strategy",
        default="auto",
        choices=["auto", "vmap", "chunked", "map", "loop"],
        help="how jaxl2.sweep runs the members (default auto: from XLA's cost analysis, timed "
        "on real members when that is unclear)",
    )
    p.add_argument(
        "--devices",
        type=int,
        default=None,
        help="shard the members over this many devices (default: all, for auto)",
    )
    p.add_argument(
        "--cores",
        type=int,
        default=None,
        help="CPU devices to create, one per core (default: all cores)",
    )
    p.add_argument("--chunk-size", type=int, default=None, help="members per compiled call")
    p.add_argument(
        "--out", default="lambda_sweep.png", help="where to write the plot ('' for none)"
    )
    p.add_argument("--json", default=None, help="also write every record to this JSON file")
    p.add_argument("--progress", action="store_true", help="show a progress bar")
    p.add_argument("--checkpoint-dir", default=None, help="save finished chunks here; resume")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jaxl2",
        description="jaxl2: L2 regularization for JAX, from the command line.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo",
        help="a λ sweep for an MLP on digits (the main demo)",
        description=DEMO_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_common(demo, k=24, steps=300, lr=3e-3)
    sweep = sub.add_parser(
        "sweep",
        help="a λ sweep for ridge / logistic / MLP on a CSV file",
        description=SWEEP_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sweep.add_argument("--csv", default=None, help="the CSV file (default: bundled data)")
    sweep.add_argument(
        "--target", default=None, help="target column name (default: the last column)"
    )
    sweep.add_argument(
        "--features",
        default=None,
        help="comma-separated feature columns (default: all but the target)",
    )
    sweep.add_argument(
        "--dataset",
        default=None,
        choices=["digits", "diabetes", "breast_cancer", "wine"],
        help="bundled data when --csv is not given",
    )
    sweep.add_argument("--model", default="logistic", choices=["ridge", "logistic", "mlp"])
    sweep.add_argument(
        "--task",
        default="auto",
        choices=["auto", "classification", "regression"],
        help="for --model mlp: what the target is (default: guessed)",
    )
    sweep.add_argument(
        "--val-fraction",
        type=float,
        default=0.25,
        help="share of rows held out for validation (default 0.25)",
    )
    _add_common(sweep, k=24, steps=500, lr=3e-2)
    ridge = sub.add_parser(
        "ridge",
        help="the exact ridge path (LOO, GCV) on a CSV file",
        description=RIDGE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ridge.add_argument("--csv", default=None, help="the CSV file (default: bundled diabetes)")
    ridge.add_argument("--target", default=None, help="target column (default: the last)")
    ridge.add_argument("--features", default=None, help="comma-separated feature columns")
    ridge.add_argument("--k", type=int, default=30, help="number of λ values (default 30)")
    ridge.add_argument("--lam-min", type=float, default=-3.0, help="log10 of the smallest λ")
    ridge.add_argument("--lam-max", type=float, default=5.0, help="log10 of the largest λ")
    ridge.add_argument(
        "--no-standardize",
        action="store_true",
        help="penalize the raw coefficients instead of standardized ones",
    )
    ridge.add_argument("--cores", type=int, default=None, help=argparse.SUPPRESS)
    ridge.add_argument(
        "--out", default="ridge_path.png", help="where to write the plot ('' for none)"
    )
    ridge.add_argument("--json", default=None, help="also write the path to this JSON file")
    return parser


RIDGE_HELP = """\
The exact ridge path on your CSV file (numeric feature columns and a numeric target column), or
on scikit-learn's bundled diabetes data when --csv is not given: for K values of λ,
jaxl2.ridge_path minimizes Σ (yᵢ − xᵢᵀw − b)² + λ · Σⱼ σⱼ² wⱼ² (b unpenalized; σⱼ the column
standard deviations, i.e. the penalty is on standardized coefficients, glmnet's default; with
--no-standardize it is λ‖w‖², scikit-learn's Ridge(alpha=λ)), all from one eigendecomposition in
float64, with the exact leave-one-out error (scikit-learn's RidgeCV) and GCV. Prints the table,
the λ with the smallest leave-one-out error and its coefficients, and writes the plot (--out).
Example:  python -m jaxl2 ridge --csv data.csv --target price
"""


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import jaxl2

    jaxl2.use_cpu_cores(args.cores)  # before any JAX computation
    for name in ("k", "steps"):
        if getattr(args, name, 1) < 1:
            raise SystemExit(f"jaxl2 {args.command}: --{name} must be at least 1")
    if args.command == "demo":
        return _demo(args)
    if args.command == "ridge":
        return _ridge(args)
    return _sweep_csv(args)


# ----------------------------------------------------------------------------- models


class _MLP:
    """``{"hidden": {"kernel", "bias"}, "out": {"kernel", "bias"}}``; ReLU; He-scaled init."""

    def __init__(self, d_in: int, hidden: int, d_out: int, classify: bool) -> None:
        self.sizes, self.classify = (d_in, hidden, d_out), classify

    def init(self, key):
        import jax
        import jax.numpy as jnp

        (d, h, o), (k1, k2) = self.sizes, jax.random.split(key)
        return {
            "hidden": {
                "kernel": jax.random.normal(k1, (d, h)) * np.float32(np.sqrt(2 / d)),
                "bias": jnp.zeros(h),
            },
            "out": {
                "kernel": jax.random.normal(k2, (h, o)) * np.float32(np.sqrt(1 / h)),
                "bias": jnp.zeros(o),
            },
        }

    def predict(self, p, x):
        import jax

        hidden = jax.nn.relu(x @ p["hidden"]["kernel"] + p["hidden"]["bias"][None, :])
        out = hidden @ p["out"]["kernel"] + p["out"]["bias"][None, :]
        return out if self.classify else out[:, 0]


class _Linear:
    """``{"linear": {"kernel", "bias"}}``; starts at zero."""

    def __init__(self, d_in: int, d_out: int, classify: bool) -> None:
        self.d_in, self.d_out, self.classify = d_in, d_out, classify

    def init(self, key):
        import jax.numpy as jnp

        del key
        return {
            "linear": {
                "kernel": jnp.zeros((self.d_in, self.d_out)),
                "bias": jnp.zeros((self.d_out,), jnp.float32),
            }
        }

    def predict(self, p, x):
        out = x @ p["linear"]["kernel"] + p["linear"]["bias"][None, :]
        return out if self.classify else out[:, 0]


def _losses(model: Any) -> tuple[Any, dict[str, Any]]:
    """The mean loss and the metrics of a model (classification: accuracy; regression: r2)."""
    import jax.numpy as jnp
    import optax

    if model.classify:

        def loss(p, batch):
            x, y = batch
            return optax.softmax_cross_entropy_with_integer_labels(model.predict(p, x), y).mean()

        def accuracy(p, batch):
            x, y = batch
            return jnp.mean(jnp.argmax(model.predict(p, x), -1) == y)

        return loss, {"accuracy": accuracy}

    def mse(p, batch):
        x, y = batch
        return jnp.mean((model.predict(p, x) - y) ** 2)

    def r2(p, batch):
        x, y = batch
        return 1 - jnp.sum((model.predict(p, x) - y) ** 2) / jnp.sum((y - jnp.mean(y)) ** 2)

    return mse, {"r2": r2}


# ----------------------------------------------------------------------------- data


def _split(X: np.ndarray, y: np.ndarray, fraction: float, seed: int, stratify: bool):
    from sklearn.model_selection import train_test_split

    parts = train_test_split(
        X, y, test_size=fraction, random_state=seed, stratify=y if stratify else None
    )
    Xtr, Xva, ytr, yva = parts
    mean, std = Xtr.mean(0), Xtr.std(0)
    std = np.where(std > 0, std, 1.0)
    return (
        ((Xtr - mean) / std).astype(np.float32),
        ytr,
        ((Xva - mean) / std).astype(np.float32),
        yva,
    )


def _bundled(name: str) -> tuple[np.ndarray, np.ndarray, list[str], str]:
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")()
    names = list(getattr(bunch, "feature_names", [f"x{i}" for i in range(bunch.data.shape[1])]))
    return bunch.data.astype(np.float64), np.asarray(bunch.target), names, "target"


def read_csv(path: str, target: str | None, features: str | None):
    """Numeric feature matrix, target column (numbers or text), names; clear errors otherwise."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except OSError as err:
        raise SystemExit(f"--csv {path}: cannot read it ({err.strerror or err}).") from None
    if len(rows) < 3:
        raise SystemExit(f"--csv {path}: needs a header row and at least two data rows.")
    header, body = [h.strip() for h in rows[0]], rows[1:]
    target = target or header[-1]
    if target not in header:
        raise SystemExit(f"--target {target!r} is not a column of {path}; columns: {header}.")
    names = (
        [c.strip() for c in features.split(",")] if features else [h for h in header if h != target]
    )
    missing = [n for n in names if n not in header]
    if missing:
        raise SystemExit(f"--features: no column(s) {missing} in {path}; columns: {header}.")
    col = {h: i for i, h in enumerate(header)}
    X = np.empty((len(body), len(names)))
    for r, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise SystemExit(f"{path}, line {r}: {len(row)} fields, the header has {len(header)}.")
        for j, name in enumerate(names):
            try:
                X[r - 2, j] = float(row[col[name]])
            except ValueError:
                raise SystemExit(
                    f"{path}, line {r}, column {name!r}: {row[col[name]]!r} is not a number "
                    "(feature columns must be numeric, without missing values)."
                ) from None
    y_text = [row[col[target]].strip() for row in body]
    try:
        y: np.ndarray = np.array([float(v) for v in y_text])
    except ValueError:
        y = np.array(y_text)
    return X, y, names, target


def _as_classes(y: np.ndarray) -> tuple[np.ndarray, list[str]]:
    classes, labels = np.unique(y, return_inverse=True)
    return labels.astype(np.int32), [str(c) for c in classes]


def _looks_categorical(y: np.ndarray) -> bool:
    if y.dtype.kind not in "fiu":
        return True
    return bool(np.all(y == np.round(y)) and len(np.unique(y)) <= 50)


# ----------------------------------------------------------------------------- commands


def _run_sweep(args, model, loss, metrics, data, lams, optimizer, name: str):
    import jaxl2

    (Xtr, ytr), (Xva, yva) = data
    start = time.perf_counter()
    result = jaxl2.train_sweep(
        model.init,
        loss,
        (Xtr, ytr),
        hparams={name: lams},
        optimizer=optimizer,
        steps=args.steps,
        eval_data=(Xva, yva),
        metrics=metrics,
        norm_mask="weights",
        eval_every=max(1, args.steps // 10),
        seed=args.seed,
        strategy=args.strategy,
        devices=args.devices,
        progress=args.progress,
        checkpoint_dir=args.checkpoint_dir,
        chunk_size=args.chunk_size,
    )
    return result, time.perf_counter() - start


def _how_it_ran(info: Any) -> str:
    if info.chosen is None:
        return "loaded from the checkpoint"
    how = f" (by {info.decided_by})" if info.decided_by else ""
    return (
        f"strategy {info.strategy} → {info.chosen}{how}, {info.devices} device(s), "
        f"{info.width} members per compiled call"
    )


def _report(args, result, elapsed, metric: str, lam_name: str) -> Any:
    labels = {
        lam_name: "λ",
        f"train_{metric}": f"train {metric[:3]}",
        f"val_{metric}": f"val {metric[:3]}",
        f"gap_{metric}": "gap",
        "weight_norm": "‖W‖",
        "val_loss": "val loss",
    }
    columns = [f"train_{metric}", f"val_{metric}", f"gap_{metric}", "val_loss", "weight_norm"]
    print(result.table(columns, labels=labels))
    print(
        f"\n{len(result)} members in {elapsed:.1f} s ({_how_it_ran(result.info)}); "
        f"'*' marks the lowest validation loss, gap = train − val {metric}."
    )
    diverged = int((~result.finite).sum())
    if diverged:
        print(f"{diverged} member(s) diverged (NaN/Inf) and are ignored for the best λ.")
    best = result.best("val_loss")
    lam = best.hparams[lam_name]
    k = best.index
    print(
        f"best λ = {lam:.4g}: validation loss {best.value:.4f}, validation {metric} "
        f"{result.final(f'val_{metric}')[k]:.4f}, train {metric} "
        f"{result.final(f'train_{metric}')[k]:.4f}, ‖W‖ = {result.final('weight_norm')[k]:.3g}"
    )
    if args.out:
        result.plot(
            ["loss", metric],
            best="val_loss",
            path=args.out,
            title=f"{len(result)} λ values, {args.steps} steps",
        )
        print(f"wrote {args.out}")
    if args.json:
        Path(args.json).write_text(json.dumps(result.to_dict(), indent=1))
        print(f"wrote {args.json}")
    return best


def _demo(args: argparse.Namespace) -> int:
    import jaxl2

    X, y, _, _ = _bundled("digits")
    Xtr, ytr, Xva, yva = _split(X / 16.0, y.astype(np.int32), 0.3, args.seed, stratify=True)
    model = _MLP(64, args.hidden, 10, classify=True)
    loss, metrics = _losses(model)
    lo = -2.0 if args.lam_min is None else args.lam_min
    hi = 2.0 if args.lam_max is None else args.lam_max
    lams = np.logspace(lo, hi, args.k).astype(np.float32)
    lr = args.lr

    def adamw(h):
        return jaxl2.adamw(lr, weight_decay=h["weight_decay"], mask="weights")

    print(
        f"λ sweep: MLP 64-{args.hidden}-10 on scikit-learn digits ({len(ytr)} train / "
        f"{len(yva)} validation), {args.steps} full-batch AdamW steps, lr={lr:g}, "
        f"weight decay on the weight matrices only, K = {args.k} values of λ in "
        f"[{lams[0]:.3g}, {lams[-1]:.3g}]\n",
        flush=True,
    )
    result, elapsed = _run_sweep(
        args, model, loss, metrics, ((Xtr, ytr), (Xva, yva)), lams, adamw, "weight_decay"
    )
    best = _report(args, result, elapsed, "accuracy", "weight_decay")
    _compare(
        args, model, loss, metrics, ((Xtr, ytr), (Xva, yva)), float(best.hparams["weight_decay"])
    )
    return 0


def _compare(args, model, loss, metrics, data, lam: float) -> None:
    """No decay, Adam + L2 and AdamW at the same λ, as one K = 3 sweep."""
    import jaxl2

    lr = args.lr

    def optimizer(h):
        # coupled(adamw(lr, d), c): Adam on g + c·w, then − lr·d·w. (0, 0) is Adam, (λ, 0) is
        # jaxl2.adam_l2(lr, weight_decay=λ) and (0, λ) is jaxl2.adamw(lr, weight_decay=λ), exactly.
        inner = jaxl2.adamw(lr, weight_decay=h["decoupled"], mask="weights")
        return jaxl2.coupled(inner, h["coupled"], mask="weights")

    z, lam32 = np.float32(0), np.float32(lam)
    hparams = {"coupled": np.array([z, lam32, z]), "decoupled": np.array([z, z, lam32])}
    (Xtr, ytr), (Xva, yva) = data
    result = jaxl2.train_sweep(
        model.init,
        loss,
        (Xtr, ytr),
        hparams=hparams,
        optimizer=optimizer,
        steps=args.steps,
        eval_data=(Xva, yva),
        metrics=metrics,
        norm_mask="weights",
        seed=args.seed,
        strategy="vmap" if args.strategy == "auto" else args.strategy,
    )
    names = [
        "no decay (optax.adam)",
        f"Adam + L2 (jaxl2.adam_l2, {lam:.3g})",
        f"AdamW (jaxl2.adamw, {lam:.3g})",
    ]
    print(
        f"\nAt the best λ = {lam:.4g}: Adam + L2 adds λ·w to the gradient before Adam's "
        "1/√v̂ scaling; AdamW subtracts lr·λ·w after it."
    )
    header = f"{'optimizer':<32} {'train acc':>9} {'val acc':>8} {'gap':>7} {'‖W‖':>7}"
    print(header)
    print("-" * len(header))
    for k, name in enumerate(names):
        tr, va = result.final("train_accuracy")[k], result.final("val_accuracy")[k]
        norm = result.final("weight_norm")[k]
        print(f"{name:<32} {tr:>9.3f} {va:>8.3f} {tr - va:>7.3f} {norm:>7.2f}")


def _sweep_csv(args: argparse.Namespace) -> int:
    import optax

    import jaxl2

    if args.csv:
        X, y, names, target = read_csv(args.csv, args.target, args.features)
        source = f"{args.csv} (target {target!r}, {len(names)} features)"
    else:
        dataset = args.dataset or ("diabetes" if args.model == "ridge" else "digits")
        X, y, names, target = _bundled(dataset)
        source = f"scikit-learn's {dataset} (bundled)"
    classify = {"ridge": False, "logistic": True}.get(args.model)
    if classify is None:
        classify = _looks_categorical(y) if args.task == "auto" else args.task == "classification"
    if classify:
        y, classes = _as_classes(y)
        if len(classes) < 2:
            raise SystemExit(f"the target {target!r} has a single class; nothing to classify.")
    elif y.dtype.kind not in "fiu":
        raise SystemExit(f"the target {target!r} is not numeric; use --model logistic or mlp.")
    else:
        y = y.astype(np.float32)
    Xtr, ytr, Xva, yva = _split(X, y, args.val_fraction, args.seed, stratify=classify)
    if not classify:
        # Standardizing y leaves λ's meaning unchanged: Σ(y − Xw − b)² + λ‖w‖² is σ² times the
        # same objective in y/σ and w/σ. Losses below are then in units of Var(y).
        mean, std = float(ytr.mean()), float(ytr.std()) or 1.0
        ytr, yva = ((ytr - mean) / std).astype(np.float32), ((yva - mean) / std).astype(np.float32)
    n, d = Xtr.shape
    n_out = int(y.max()) + 1 if classify else 1
    if args.model == "mlp":
        model: Any = _MLP(d, args.hidden, n_out, classify)
        lo, hi = -2.0, 2.0
    else:
        model = _Linear(d, n_out, classify)
        lo, hi = (-3.0, 4.0) if args.model == "ridge" else (-3.0, 3.0)
    lo = lo if args.lam_min is None else args.lam_min
    hi = hi if args.lam_max is None else args.lam_max
    lams = np.logspace(lo, hi, args.k).astype(np.float32)
    loss, metrics = _losses(model)
    lr = args.lr
    if args.model == "mlp":

        def optimizer(h):
            return jaxl2.adamw(lr, weight_decay=h["lam"], mask="weights")

        how = "AdamW, decoupled weight decay λ on the weight matrices"
    else:
        # The loss is a mean over n rows, so Σ loss + λ‖W‖² is n × (mean loss + (λ/n)‖W‖²),
        # whose penalty gradient 2(λ/n)·W coupled L2 adds with rate 2λ/n.
        def optimizer(h):
            return jaxl2.coupled(optax.adam(lr), 2 * h["lam"] / n, mask="weights")

        how = "Adam on Σ loss + λ‖W‖² (coupled L2; approximate, gradient-trained)"
    print(
        f"λ sweep: {args.model} on {source}; {n} train / {len(yva)} validation rows; "
        f"{args.steps} full-batch steps, lr={lr:g}; {how}; K = {args.k} values of λ in "
        f"[{lams[0]:.3g}, {lams[-1]:.3g}]\n",
        flush=True,
    )
    result, elapsed = _run_sweep(
        args, model, loss, metrics, ((Xtr, ytr), (Xva, yva)), lams, optimizer, "lam"
    )
    _report(args, result, elapsed, "accuracy" if classify else "r2", "lam")
    return 0


def _ridge(args: argparse.Namespace) -> int:
    import jax

    import jaxl2

    if args.csv:
        X, y, names, target = read_csv(args.csv, args.target, args.features)
        source = f"{args.csv} (target {target!r}, {len(names)} features)"
    else:
        X, y, names, target = _bundled("diabetes")
        source = "scikit-learn's diabetes (bundled)"
    if y.dtype.kind not in "fiu":
        raise SystemExit(f"the target {target!r} is not numeric; ridge needs a numeric target.")
    lams = np.logspace(args.lam_min, args.lam_max, args.k)
    with jax.enable_x64(True):
        path = jaxl2.ridge_path(
            X.astype(np.float64), y.astype(np.float64), lams, standardize=not args.no_standardize
        )
        path = jax.tree.map(np.asarray, path)
    best = int(path.best_index)
    norms = np.linalg.norm(path.coef, axis=-1)
    print(
        f"ridge path: {source}, {len(y)} rows, K = {args.k} values of λ in "
        f"[{lams[0]:.3g}, {lams[-1]:.3g}], "
        f"{'raw' if args.no_standardize else 'standardized'} coefficients penalized\n"
    )
    header = f"{'λ':>10} {'LOO MSE':>12} {'GCV':>12} {'‖w‖':>10}"
    print(header)
    print("-" * len(header))
    for k, lam in enumerate(lams):
        mark = "  *" if k == best else ""
        print(f"{lam:>10.4g} {path.loo_mse[k]:>12.5g} {path.gcv[k]:>12.5g} {norms[k]:>10.4g}{mark}")
    print(
        f"\nbest λ = {lams[best]:.4g} (smallest exact leave-one-out error, '*'): "
        f"LOO MSE {path.loo_mse[best]:.5g}, intercept {float(path.intercept[best]):.5g}"
    )
    for name, c in sorted(zip(names, path.coef[best], strict=True), key=lambda t: -abs(t[1]))[:20]:
        print(f"  {name:>20}  {c:+.5g}")
    if args.out:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(5.5, 4.0), layout="constrained")
        ax = fig.subplots()
        ax.loglog(lams, path.loo_mse, "-o", ms=3, label="leave-one-out MSE")
        ax.loglog(lams, path.gcv, "--s", ms=3, label="GCV")
        ax.axvline(lams[best], color="k", ls=":", lw=1)
        ax.set_xlabel("λ")
        ax.set_ylabel("error")
        ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
        fig.savefig(args.out, dpi=120)
        print(f"wrote {args.out}")
    if args.json:
        record = {
            "lams": lams.tolist(),
            "loo_mse": path.loo_mse.tolist(),
            "gcv": path.gcv.tolist(),
            "coef": path.coef.tolist(),
            "intercept": path.intercept.tolist(),
            "best_index": best,
            "features": names,
        }
        Path(args.json).write_text(json.dumps(record, indent=1))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
