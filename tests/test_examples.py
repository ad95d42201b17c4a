"""The scripts in examples/ run at their tiny size (JAXL2_EXAMPLE_SIZE=tiny) and print results
that agree with themselves and with the exact solution where there is one."""

import os
import re
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def run_example(name, *args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAXL2_EXAMPLE_SIZE": "tiny"}
    env.pop("XLA_FLAGS", None)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and "Warning" not in proc.stderr, proc.stderr
    return proc.stdout.splitlines()


def _rows(lines):
    """The lines that are all numbers (a '*' mark aside), as lists of floats."""
    rows = []
    for line in lines:
        words = line.split()
        try:
            rows.append([float(w) for w in words if w != "*"])
        except ValueError:
            continue
    return rows


def test_demo_example(tmp_path):
    lines = run_example("demo.py", "plot.png", cwd=tmp_path)
    table = _rows(lines)  # λ, train acc, val acc, val loss, ‖W‖
    assert len(table) == 4
    np.testing.assert_allclose([r[0] for r in table], np.logspace(-2, 2, 4), rtol=1e-3)
    best = min(range(4), key=lambda k: table[k][3])
    assert "*" in next(line for line in lines if line.split()[:1] == [f"{table[best][0]:g}"])
    assert re.search(rf"best weight decay λ = {table[best][0]:.4g} ", "\n".join(lines))
    assert "wrote plot.png" in lines
    image = matplotlib.image.imread(tmp_path / "plot.png")
    assert image.shape[:2] == (480, 1248)  # two panels (loss, accuracy) of 5.2 × 4 in, 120 dpi
    assert (image[..., :3].mean(-1) < 0.5).mean() > 0.005  # lines and text, not a blank image
    # the comparison's AdamW row is the sweep's best member trained again
    adamw = next(line for line in lines if line.startswith("AdamW"))
    train_acc, val_acc = (float(v) for v in re.findall(r"acc ([\d.]+)", adamw))
    assert abs(train_acc - table[best][1]) < 2e-3 and abs(val_acc - table[best][2]) < 2e-3


def test_csv_sweep_example_agrees_with_the_exact_ridge_path(tmp_path):
    lines = run_example("csv_sweep.py", cwd=tmp_path)
    assert "442 rows, 10 features; 332 train / 110 validation" in lines[0]
    table = _rows(lines[2:])  # λ, val R² (train_sweep), val R² (ridge_path)
    assert len(table) == 4
    for lam, ours, exact in table:
        assert abs(ours - exact) < 0.02, (lam, ours, exact)
    assert table[-1][2] < table[0][2] - 0.05  # the largest λ shrinks visibly, in both
    assert re.search(r"best λ = [\d.e+-]+ \(lowest validation loss\)", lines[-1])


def test_nnx_sweep_example(tmp_path):
    lines = run_example("nnx_sweep.py", cwd=tmp_path)
    table = _rows(lines)  # λ, val loss, val acc
    assert [r[0] for r in table] == [0.0, 0.1, 1.0]
    assert all(np.isfinite(r[1]) and 0 <= r[2] <= 1 for r in table)
    best = min(range(3), key=lambda k: table[k][1])
    lam, acc = re.fullmatch(r"best λ = (\S+): validation accuracy (\S+)", lines[-1]).groups()
    # the member taken out as an nnx.Module scores what trainer.evaluate said
    assert float(lam) == table[best][0] and abs(float(acc) - table[best][2]) < 1e-3
