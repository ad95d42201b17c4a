"""``jaxl2 ridge``: the exact ridge path (leave-one-out error, GCV) on a CSV file."""

from __future__ import annotations

import argparse
from typing import Any

import jax
import numpy as np

import jaxl2

from .data import bundled, numeric_target, read_csv
from .report import write

HELP = """\
The exact ridge path on your CSV file (numeric feature columns and a numeric target column), or
on scikit-learn's bundled diabetes data when --csv is not given: for K values of λ,
jaxl2.ridge_path minimizes Σ (yᵢ − xᵢᵀw − b)² + λ · Σⱼ σⱼ² wⱼ² (b unpenalized; σⱼ the column
standard deviations, i.e. the penalty is on standardized coefficients, glmnet's default; with
--no-standardize it is λ‖w‖², scikit-learn's Ridge(alpha=λ)), all from one eigendecomposition in
float64, with the exact leave-one-out error (scikit-learn's RidgeCV) and GCV. Prints the table,
the λ with the smallest leave-one-out error and its coefficients, and writes the plot (--out).
Example:  python -m jaxl2 ridge --csv data.csv --target price
"""


def run(args: argparse.Namespace) -> int:
    """Runs the ridge path with the parsed options; returns the exit status."""
    if args.csv:
        data = read_csv(args.csv, args.target, args.features)
    else:
        data = bundled("diabetes")
    y = numeric_target(data.y, data.target, "ridge needs a numeric target").astype(np.float64)
    lams = np.logspace(args.lam_min, args.lam_max, args.k)
    with jax.enable_x64(True):
        path = jaxl2.ridge_path(data.X, y, lams, standardize=not args.no_standardize)
        path = jax.tree.map(np.asarray, path)
    best = int(path.best_index)
    norms = np.linalg.norm(path.coef, axis=-1)
    print(
        f"ridge path: {data.source}, {len(y)} rows, K = {args.k} values of λ in "
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
    coefs = sorted(zip(data.names, path.coef[best], strict=True), key=lambda t: -abs(t[1]))
    for name, c in coefs[:20]:
        print(f"  {name:>20}  {c:+.5g}")
    if args.out:
        write(args.out, "--out", lambda: plot(lams, path.loo_mse, path.gcv, best))
    if args.json:
        record = {
            "lams": lams.tolist(),
            "loo_mse": path.loo_mse.tolist(),
            "gcv": path.gcv.tolist(),
            "coef": path.coef.tolist(),
            "intercept": path.intercept.tolist(),
            "best_index": best,
            "features": data.names,
        }
        write(args.json, "--json", lambda: record)
    return 0


def plot(lams: np.ndarray, loo_mse: np.ndarray, gcv: np.ndarray, best: int) -> Any:
    """Leave-one-out error and GCV against λ (log-log), the best λ dotted; a Figure."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 4.0), layout="constrained")
    ax = fig.subplots()
    ax.loglog(lams, loo_mse, "-o", ms=3, label="leave-one-out MSE")
    ax.loglog(lams, gcv, "--s", ms=3, label="GCV")
    ax.axvline(lams[best], color="k", ls=":", lw=1)
    ax.set_xlabel("λ")
    ax.set_ylabel("error")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    return fig
