"""A ridge λ sweep on a CSV file: gradient-trained by jaxl2.train_sweep, checked against the
exact path of jaxl2.ridge_path.

Both minimize Σᵢ (yᵢ − xᵢᵀw − b)² + λ‖w‖² (b unpenalized, scikit-learn's Ridge(alpha=λ)) on
standardized features. Without arguments it writes scikit-learn's diabetes data to a temporary
CSV file and reads it back.

    python examples/csv_sweep.py [data.csv [target]]   # JAXL2_EXAMPLE_SIZE=tiny: a few seconds
"""

import csv
import math
import os
import sys
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxl2

TINY = os.environ.get("JAXL2_EXAMPLE_SIZE") == "tiny"
K, STEPS = (4, 300) if TINY else (12, 2000)


def read_csv(path, target=None):
    """Numeric columns of a CSV file with a header; a missing or non-numeric cell is an error."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    target = target or header[-1]
    features = [h for h in header if h != target]
    table = np.empty((len(body), len(header)))
    for i, row in enumerate(body):
        for j, cell in enumerate(row):
            value = float(cell) if cell.strip() else math.nan
            if not math.isfinite(value):
                raise SystemExit(f"{path}, line {i + 2}, column {header[j]!r}: missing value")
            table[i, j] = value
    columns = [header.index(f) for f in features]
    return table[:, columns], table[:, header.index(target)], features


def write_diabetes_csv():
    from sklearn.datasets import load_diabetes

    data = load_diabetes()
    path = os.path.join(tempfile.mkdtemp(), "diabetes.csv")
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow([*data.feature_names, "progression"])
        out.writerows(np.column_stack([data.data, data.target]).tolist())
    return path


path = sys.argv[1] if len(sys.argv) > 1 else write_diabetes_csv()
X, y, features = read_csv(path, sys.argv[2] if len(sys.argv) > 2 else None)
rng = np.random.default_rng(0)
val = rng.permutation(len(y))[: len(y) // 4]
train = np.setdiff1d(np.arange(len(y)), val)
mean, std = X[train].mean(0), X[train].std(0)
X = (X - mean) / np.where(std > 0, std, 1.0)
n, d = len(train), X.shape[1]
print(f"{path}: {len(y)} rows, {d} features; {n} train / {len(val)} validation")

lams = np.logspace(-2, 3, K)


def init(key):
    del key
    return {"linear": {"kernel": jnp.zeros((d, 1)), "bias": jnp.zeros(())}}  # (d, 1): a matrix, so
    # mask="weights" decays it and not the bias


def predict(params, x):
    return (x @ params["linear"]["kernel"])[:, 0] + params["linear"]["bias"]


def mse(params, batch):
    x, t = batch
    return jnp.mean((predict(params, x) - t) ** 2)


def r2(params, batch):
    x, t = batch
    return 1 - jnp.sum((predict(params, x) - t) ** 2) / jnp.sum((t - jnp.mean(t)) ** 2)


# mean loss + (λ/n)‖w‖² is the objective above divided by n: its penalty gradient is 2(λ/n)·w,
# which jaxl2.coupled adds to the gradient (rate 2λ/n) before Adam.
scale = float(np.std(y[train]))  # standardize y so that one learning rate fits any data
result = jaxl2.train_sweep(
    init,
    mse,
    (X[train].astype(np.float32), (y[train] / scale).astype(np.float32)),
    hparams={"lam": lams.astype(np.float32)},
    optimizer=lambda h: jaxl2.coupled(optax.adam(0.05), 2 * h["lam"] / n, mask="weights"),
    steps=STEPS,
    eval_data=(X[val].astype(np.float32), (y[val] / scale).astype(np.float32)),
    metrics={"r2": r2},
    norm_mask="weights",
)

with jax.enable_x64(True):  # the exact path, in float64
    exact = jaxl2.ridge_path(X[train], y[train], lams, standardize=False)
exact_r2 = [
    1 - np.sum((X[val] @ w + b - y[val]) ** 2) / np.sum((y[val] - y[val].mean()) ** 2)
    for w, b in zip(np.asarray(exact.coef), np.asarray(exact.intercept), strict=True)
]
print(f"{'λ':>9} {'val R² (train_sweep)':>21} {'val R² (ridge_path)':>20}")
for lam, ours, ref in zip(lams, result.final("val_r2"), exact_r2, strict=True):
    print(f"{lam:>9.3g} {ours:>21.4f} {ref:>20.4f}")
best = result.best("val_loss")
print(f"best λ = {float(best.hparams['lam']):.4g} (lowest validation loss)")
