"""The command line: `jaxl2 demo` (small), `jaxl2 sweep` on a CSV file, and their --help."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jaxl2 import _cli
from jaxl2.__main__ import main

ROOT = Path(__file__).resolve().parents[1]


def _run(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("XLA_FLAGS", None)
    proc = subprocess.run(
        [sys.executable, "-m", "jaxl2", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def test_demo_small_prints_table_best_lambda_comparison_and_writes_plot(tmp_path):
    out = _run(
        "demo",
        "--k",
        "4",
        "--steps",
        "20",
        "--hidden",
        "16",
        "--out",
        "sweep.png",
        "--json",
        "sweep.json",
        cwd=tmp_path,
    )
    header = next(line for line in out.splitlines() if "train acc" in line)
    assert header.split() == ["λ", "train", "acc", "val", "acc", "gap", "val", "loss", "‖W‖"]
    assert "best λ =" in out and "wrote sweep.png" in out
    for row in ("no decay", "Adam + L2", "AdamW"):
        assert row in out
    assert (tmp_path / "sweep.png").stat().st_size > 1000
    record = json.loads((tmp_path / "sweep.json").read_text())
    assert len(record["hparams"]["weight_decay"]) == 4 and record["best"] is not None


def test_sweep_on_a_csv_file_with_text_labels(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    labels = np.where(X[:, 0] + 0.5 * X[:, 1] > 0, "yes", "no")
    lines = ["a,b,noise,answer"] + [
        f"{r[0]:.4f},{r[1]:.4f},{r[2]:.4f},{t}" for r, t in zip(X, labels, strict=True)
    ]
    (tmp_path / "data.csv").write_text("\n".join(lines) + "\n")
    out = _run(
        "sweep",
        "--csv",
        "data.csv",
        "--target",
        "answer",
        "--features",
        "a,b",
        "--model",
        "logistic",
        "--k",
        "3",
        "--steps",
        "40",
        "--out",
        "",
        cwd=tmp_path,
    )
    assert "logistic on data.csv (target 'answer', 2 features)" in out
    assert "best λ =" in out and "validation accuracy" in out


def test_sweep_help_documents_the_models_and_the_csv_options(capsys):
    with pytest.raises(SystemExit) as info:
        main(["sweep", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for word in (
        "--csv",
        "--target",
        "--features",
        "--model",
        "ridge",
        "logistic",
        "mlp",
        "bundled",
        "Σ (yᵢ − xᵢᵀw − b)² + λ‖w‖²",
        "--strategy",
        "--devices",
        "--out",
    ):
        assert word in text, word


def test_demo_help_lists_its_options(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    text = capsys.readouterr().out
    for word in ("--k", "--steps", "--strategy", "--devices", "--out", "jaxl2.adamw"):
        assert word in text, word


def test_read_csv_errors_name_the_column_and_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("x,y,label\n1,2,a\n3,oops,b\n4,5,a\n")
    with pytest.raises(SystemExit, match=r"line 3, column 'y': 'oops' is not a number"):
        _cli.read_csv(str(path), "label", None)
    with pytest.raises(SystemExit, match=r"--target 'z' is not a column"):
        _cli.read_csv(str(path), "z", None)
    with pytest.raises(SystemExit, match=r"--features: no column\(s\) \['w'\]"):
        _cli.read_csv(str(path), "label", "x,w")
    X, y, names, target = _cli.read_csv(str(path), "label", "x")
    assert names == ["x"] and target == "label" and X.shape == (3, 1) and list(y) == ["a", "b", "a"]


@pytest.mark.standard_promotion
def test_gradient_trained_ridge_of_the_csv_sweep_matches_sklearn(tmp_path, capsys):
    """`jaxl2 sweep --model ridge` (bundled diabetes) against sklearn's Ridge(alpha=λ)."""
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import train_test_split

    args = _cli.build_parser().parse_args(
        [
            "sweep",
            "--model",
            "ridge",
            "--k",
            "3",
            "--lam-min",
            "-3",
            "--lam-max",
            "3",
            "--steps",
            "500",
            "--strategy",
            "vmap",
            "--out",
            "",
            "--json",
            str(tmp_path / "r.json"),
        ]
    )
    assert _cli._sweep_csv(args) == 0
    assert "ridge on scikit-learn's diabetes (bundled)" in capsys.readouterr().out
    record = json.loads((tmp_path / "r.json").read_text())
    X, y = load_diabetes(return_X_y=True)
    Xtr, Xva, ytr, yva = train_test_split(X, y, test_size=0.25, random_state=0)
    mean, std = Xtr.mean(0), Xtr.std(0)
    for k, lam in enumerate(record["hparams"]["lam"]):
        ridge = Ridge(alpha=lam).fit((Xtr - mean) / std, ytr)
        assert record["metrics"]["train_r2"][k][-1] == pytest.approx(
            ridge.score((Xtr - mean) / std, ytr), abs=1e-3
        )
        assert record["metrics"]["val_r2"][k][-1] == pytest.approx(
            ridge.score((Xva - mean) / std, yva), abs=1e-3
        )


def test_ridge_command_matches_sklearn_ridge_and_ridgecv(tmp_path, capsys):
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge, RidgeCV

    args = _cli.build_parser().parse_args(
        [
            "ridge",
            "--k",
            "5",
            "--lam-min",
            "-3",
            "--lam-max",
            "1",
            "--no-standardize",
            "--out",
            "",
            "--json",
            str(tmp_path / "path.json"),
        ]
    )
    assert _cli._ridge(args) == 0
    out = capsys.readouterr().out
    assert "LOO MSE" in out and "best λ =" in out
    record = json.loads((tmp_path / "path.json").read_text())
    X, y = load_diabetes(return_X_y=True)
    for lam, coef in zip(record["lams"], record["coef"], strict=True):
        np.testing.assert_allclose(coef, Ridge(alpha=lam).fit(X, y).coef_, rtol=1e-6, atol=1e-6)
    cv = RidgeCV(alphas=record["lams"]).fit(X, y)
    assert record["lams"][record["best_index"]] == pytest.approx(cv.alpha_)
    assert record["loo_mse"][record["best_index"]] == pytest.approx(-cv.best_score_, rel=1e-8)


def test_ridge_help(capsys):
    with pytest.raises(SystemExit):
        main(["ridge", "--help"])
    text = capsys.readouterr().out
    for word in ("--csv", "--target", "leave-one-out", "GCV", "Ridge(alpha=λ)", "--no-standardize"):
        assert word in text, word
