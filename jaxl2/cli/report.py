"""Runs a λ sweep for the command line and reports it: the table, the best λ, the plot, JSON."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np

import jaxl2

from .data import CLIError
from .models import Loss


def run_sweep(
    args: argparse.Namespace,
    model: Any,
    loss: Loss,
    metrics: dict[str, Loss],
    data: tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    hparams: dict[str, np.ndarray],
    optimizer: Callable[[Any], Any],
) -> tuple[jaxl2.SweepResult, float]:
    """jaxl2.train_sweep with the command line's options; returns the result and the seconds."""
    (Xtr, ytr), (Xva, yva) = data
    have = len(jax.devices())
    if args.devices is not None and args.devices > have:
        raise CLIError(
            f"--devices {args.devices}: JAX sees {have} device(s); on CPU, --cores "
            f"{args.devices} creates that many."
        )
    start = time.perf_counter()
    try:
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
            eval_every=max(1, args.steps // 10),
            seed=args.seed,
            strategy=args.strategy,
            devices=args.devices,
            progress=args.progress,
            checkpoint_dir=args.checkpoint_dir,
            chunk_size=args.chunk_size,
        )
    except (OSError, ValueError) as err:
        # not a folder, not writable, or holding another sweep's checkpoints
        if args.checkpoint_dir is None or not (
            isinstance(err, OSError) or "checkpoint" in str(err)
        ):
            raise
        raise CLIError(f"--checkpoint-dir {args.checkpoint_dir}: {err}") from None
    return result, time.perf_counter() - start


def _run_info(result: jaxl2.SweepResult) -> jaxl2.SweepInfo | None:
    """How the sweep ran (None for streamed data)."""
    return result.info


def describe_run(result: jaxl2.SweepResult) -> str:
    """How the sweep ran: the strategy asked for and chosen, devices, members per call."""
    info = _run_info(result)
    if info is None or info.chosen is None:
        return "loaded from the checkpoint"
    how = f" (by {info.decided_by})" if info.decided_by else ""
    return (
        f"strategy {info.strategy} → {info.chosen}{how}, {info.devices} device(s), "
        f"{info.width} members per compiled call"
    )


def report(
    args: argparse.Namespace,
    result: jaxl2.SweepResult,
    elapsed: float,
    metric: str,
    lam_name: str,
) -> jaxl2.Best:
    """Prints the table and the best λ, writes the plot (--out) and the records (--json)."""
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
        f"\n{len(result)} members in {elapsed:.1f} s ({describe_run(result)}); "
        f"'*' marks the lowest validation loss, gap = train − val {metric}."
    )
    diverged = int((~result.finite).sum())
    if diverged == len(result):
        raise CLIError(
            "every member diverged (NaN/Inf); lower --lr, or --lam-max for decoupled decay."
        )
    if diverged:
        print(f"{diverged} member(s) diverged (NaN/Inf) and are ignored for the best λ.")
    best = result.best("val_loss")
    k = best.index
    print(
        f"best λ = {best.hparams[lam_name]:.4g}: validation loss {best.value:.4f}, validation "
        f"{metric} {result.final(f'val_{metric}')[k]:.4f}, train {metric} "
        f"{result.final(f'train_{metric}')[k]:.4f}, ‖W‖ = {result.final('weight_norm')[k]:.3g}"
    )
    if args.out:
        title = f"{len(result)} λ values, {args.steps} steps"
        write(
            args.out, "--out", lambda: result.plot(["loss", metric], best="val_loss", title=title)
        )
    if args.json:
        write(args.json, "--json", lambda: result.to_dict())
    return best


def write(path: str, option: str, make: Callable[[], Any]) -> None:
    """Writes a figure (``.savefig``) or a JSON record to ``path`` and says so."""
    content = make()
    try:
        if hasattr(content, "savefig"):
            content.savefig(path, dpi=120)
        else:
            Path(path).write_text(json.dumps(content, indent=1))
    except OSError as err:
        raise CLIError(f"{option} {path}: cannot write it ({err.strerror or err}).") from None
    print(f"wrote {path}")
