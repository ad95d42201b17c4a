"""``jaxl2 demo``: a weight-decay sweep for an MLP on scikit-learn's digits, then no decay,
Adam + L2 and AdamW compared at the best λ."""

from __future__ import annotations

import argparse

import numpy as np

import jaxl2

from .data import bundled, split
from .models import MLP, Loss, decay_range, losses
from .report import report, run_sweep

HELP = """\
Sweeps K weight decays λ for an MLP 64-H-10 on scikit-learn's digits (bundled, nothing is
downloaded): full-batch AdamW (jaxl2.adamw, update w ← w − lr·(m̂/(√v̂+ε) + λ·w)) decaying the
weight matrices only (jaxl2.masks.weights), all K members in one compiled sweep. Prints the table
(λ, train and validation accuracy, their gap, the weight norm ‖W‖), the best λ (lowest validation
loss), writes the plot, then compares no decay, Adam + L2 (jaxl2.adam_l2: Adam on g + λ·w) and
AdamW (jaxl2.adamw) at the best λ.
"""


def run(args: argparse.Namespace) -> int:
    """Runs the demo with the parsed options; returns the exit status."""
    digits = bundled("digits")
    labels = digits.y.astype(np.int32)
    classes = [str(c) for c in range(10)]
    Xtr, ytr, Xva, yva = split(digits.X / 16.0, labels, 0.3, args.seed, classes)
    model = MLP(64, args.hidden, 10, classify=True)
    loss, metrics = losses(model)
    lo, hi = decay_range(args.lr)
    lo = lo if args.lam_min is None else args.lam_min
    hi = hi if args.lam_max is None else args.lam_max
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
    data = ((Xtr, ytr), (Xva, yva))
    result, elapsed = run_sweep(args, model, loss, metrics, data, {"weight_decay": lams}, adamw)
    best = report(args, result, elapsed, "accuracy", "weight_decay")
    compare(args, model, loss, metrics, data, float(best.hparams["weight_decay"]))
    return 0


def compare(
    args: argparse.Namespace, model: MLP, loss: Loss, metrics: dict[str, Loss], data, lam: float
) -> jaxl2.SweepResult:
    """No decay, Adam + L2 and AdamW at the same λ, as one K = 3 sweep; prints the table."""
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
    return result
