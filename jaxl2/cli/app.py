"""The ``jaxl2`` command line: its options, their checks, and the dispatch to the commands.

``main`` turns every mistake in the input into one line on stderr and exit status 2; nothing
the user can get wrong ends in a traceback.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable

import jaxl2

from . import demo, ridge, sweep
from .data import CLIError

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "demo": demo.run,
    "sweep": sweep.run,
    "ridge": ridge.run,
}


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
        "--cores", type=int, default=None, help="CPU devices to create, one per core (default: all)"
    )
    p.add_argument("--chunk-size", type=int, default=None, help="members per compiled call")
    p.add_argument(
        "--out", default="lambda_sweep.png", help="where to write the plot ('' for none)"
    )
    p.add_argument("--json", default=None, help="also write every record to this JSON file")
    p.add_argument("--progress", action="store_true", help="show a progress bar")
    p.add_argument("--checkpoint-dir", default=None, help="save finished chunks here; resume")


def _add_csv(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument("--csv", default=None, help=f"the CSV file (default: {default})")
    p.add_argument("--target", default=None, help="target column name (default: the last column)")
    p.add_argument(
        "--features",
        default=None,
        help="comma-separated feature columns (default: all but the target)",
    )


def _command(sub, name: str, help: str, description: str) -> argparse.ArgumentParser:
    return sub.add_parser(
        name,
        help=help,
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``jaxl2 {demo, sweep, ridge}``."""
    parser = argparse.ArgumentParser(
        prog="jaxl2", description="jaxl2: L2 regularization for JAX, from the command line."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_common(
        _command(sub, "demo", "a λ sweep for an MLP on digits (the main demo)", demo.HELP),
        k=24,
        steps=300,
        lr=3e-3,
    )
    p = _command(sub, "sweep", "a λ sweep for ridge / logistic / MLP on a CSV file", sweep.HELP)
    _add_csv(p, "bundled data")
    p.add_argument(
        "--dataset",
        default=None,
        choices=["digits", "diabetes", "breast_cancer", "wine"],
        help="bundled data when --csv is not given",
    )
    p.add_argument("--model", default="logistic", choices=["ridge", "logistic", "mlp"])
    p.add_argument(
        "--task",
        default="auto",
        choices=["auto", "classification", "regression"],
        help="for --model mlp: what the target is (default: guessed)",
    )
    p.add_argument(
        "--val-fraction",
        type=float,
        default=0.25,
        help="share of rows held out for validation, in (0, 1) (default 0.25)",
    )
    _add_common(p, k=24, steps=500, lr=3e-2)
    p = _command(sub, "ridge", "the exact ridge path (LOO, GCV) on a CSV file", ridge.HELP)
    _add_csv(p, "bundled diabetes")
    p.add_argument("--k", type=int, default=30, help="number of λ values (default 30)")
    p.add_argument("--lam-min", type=float, default=-3.0, help="log10 of the smallest λ")
    p.add_argument("--lam-max", type=float, default=5.0, help="log10 of the largest λ")
    p.add_argument(
        "--no-standardize",
        action="store_true",
        help="penalize the raw coefficients instead of standardized ones",
    )
    p.add_argument("--cores", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--out", default="ridge_path.png", help="where to write the plot ('' for none)")
    p.add_argument("--json", default=None, help="also write the path to this JSON file")
    return parser


def check(args: argparse.Namespace) -> None:
    """Checks the options that argparse cannot; raises CLIError naming the option and value."""
    for name in ("k", "steps", "hidden", "devices", "cores", "chunk_size"):
        value = getattr(args, name, None)
        if value is not None and value < 1:
            raise CLIError(f"--{name.replace('_', '-')} must be at least 1, got {value}.")
    for name in ("lam_min", "lam_max", "lr"):
        value = getattr(args, name, None)
        if value is not None and not math.isfinite(value):
            raise CLIError(f"--{name.replace('_', '-')} must be a finite number, got {value}.")
    if getattr(args, "lr", 1.0) <= 0:
        raise CLIError(f"--lr must be positive, got {args.lr:g}.")
    seed = getattr(args, "seed", 0)
    if not 0 <= seed < 2**32:
        raise CLIError(f"--seed must be between 0 and 2**32 - 1, got {seed}.")
    if getattr(args, "dataset", None) and args.csv:
        raise CLIError(f"--dataset {args.dataset} is for runs without --csv; give one of them.")
    fraction = getattr(args, "val_fraction", 0.5)
    if not 0 < fraction < 1:  # False for NaN too
        raise CLIError(f"--val-fraction must be between 0 and 1 (exclusive), got {fraction:g}.")
    for option, path in (("--out", args.out), ("--json", args.json)):
        folder = os.path.dirname(path or "") or "."
        if path and not os.path.isdir(folder):
            raise CLIError(f"{option} {path}: the folder {folder!r} does not exist.")
        if path and os.path.isdir(path):
            raise CLIError(f"{option} {path}: is a folder; give a file name.")
    if args.out:
        _check_plot_format(args.out)


def _check_plot_format(path: str) -> None:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise CLIError(
            "--out needs matplotlib (pip install 'jaxl2[demo]'); --out '' skips the plot."
        ) from None
    known = Figure().canvas.get_supported_filetypes()
    extension = os.path.splitext(path)[1].lstrip(".").lower()
    if extension and extension not in known:
        raise CLIError(f"--out {path}: unknown image format {extension!r}; one of {sorted(known)}.")


def _interrupted(args: argparse.Namespace) -> int:
    again = " (rerun the same command to resume)" if getattr(args, "checkpoint_dir", None) else ""
    print(f"jaxl2 {args.command}: interrupted{again}.", file=sys.stderr)
    return 130


def main(argv: list[str] | None = None) -> int:
    """Runs ``jaxl2 <command> [options]``; returns the exit status (2: bad input).

    Args:
      argv: the arguments (default: ``sys.argv[1:]``).
    """
    args = build_parser().parse_args(argv)
    try:
        check(args)
        jaxl2.use_cpu_cores(args.cores)  # before any JAX computation
        return COMMANDS[args.command](args)
    except CLIError as err:
        print(f"jaxl2 {args.command}: error: {err}", file=sys.stderr)
    except ImportError as err:
        print(
            f"jaxl2 {args.command}: error: {err.name or err} is not installed; "
            "pip install 'jaxl2[demo]'.",
            file=sys.stderr,
        )
    except KeyboardInterrupt:  # finished chunks are on disk with --checkpoint-dir
        return _interrupted(args)
    return 2
