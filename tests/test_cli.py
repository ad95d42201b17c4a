"""The command line (jaxl2.cli): `jaxl2 demo`, `jaxl2 sweep` and `jaxl2 ridge` against scikit-learn,
their plots and help, and a one-line error (exit status 2, no traceback) for every bad input."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxl2.__main__ import main
from jaxl2.cli import CLIError, build_parser, read_csv
from jaxl2.cli import ridge as ridge_command

ROOT = Path(__file__).resolve().parents[1]


def cli(capsys, *args):
    """main([...]) in this process, with --cores matching JAX's devices (no warning)."""
    try:
        code = main([*args, "--cores", str(len(jax.devices("cpu")))])
    except SystemExit as exit:  # argparse
        code = exit.code
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def png(path):
    """The image as an (H, W, channels) float array, with a check that it is not blank."""
    import matplotlib.image

    image = matplotlib.image.imread(path)
    gray = image[..., :3].mean(-1)
    assert (gray < 0.5).mean() > 0.005, "the plot has (almost) no dark pixels: blank"
    assert len(np.unique(image[..., :3].reshape(-1, 3), axis=0)) > 10, "a flat image"
    return image


def test_python_m_jaxl2_demo_prints_the_sweep_and_the_optimizer_comparison(tmp_path):
    """The installed entry point in a fresh process (use_cpu_cores runs first there)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("XLA_FLAGS", None)
    args = ["--k", "4", "--steps", "20", "--hidden", "16", "--out", "s.png", "--json", "s.json"]
    proc = subprocess.run(
        [sys.executable, "-m", "jaxl2", "demo", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    header = next(line for line in lines if "train acc" in line)
    assert header.split() == ["λ", "train", "acc", "val", "acc", "gap", "val", "loss", "‖W‖"]
    record = json.loads((tmp_path / "s.json").read_text())
    lams = record["hparams"]["weight_decay"]
    np.testing.assert_allclose(lams, np.logspace(-2, 2, 4), rtol=1e-6)  # the default range
    best = record["best"]["index"]
    assert np.argmin([v[-1] for v in record["metrics"]["val_loss"]]) == best
    assert f"best λ = {lams[best]:.4g}:" in proc.stdout
    # the comparison's AdamW row is the sweep's best member trained again: same numbers
    row = next(line for line in lines if line.startswith("AdamW (jaxl2.adamw"))
    train_acc, val_acc = (float(v) for v in row.split()[-4:-2])
    assert train_acc == pytest.approx(record["metrics"]["train_accuracy"][best][-1], abs=2e-3)
    assert val_acc == pytest.approx(record["metrics"]["val_accuracy"][best][-1], abs=2e-3)
    assert any(line.startswith("no decay") for line in lines)
    assert any(line.startswith("Adam + L2") for line in lines)
    assert "wrote s.png" in proc.stdout
    assert png(tmp_path / "s.png").shape[:2] == (480, 1248)  # 2 panels of 5.2 × 4 in at 120 dpi


@pytest.mark.standard_promotion
def test_sweep_on_a_csv_file_with_text_labels_learns_them(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    labels = np.where(X[:, 0] + 0.5 * X[:, 1] > 0, "yes", "no")
    lines = ["a,b,noise,answer"] + [
        f"{r[0]:.4f},{r[1]:.4f},{r[2]:.4f},{t}" for r, t in zip(X, labels, strict=True)
    ]
    (tmp_path / "data.csv").write_text("\n".join(lines) + "\n\n")  # a blank line at the end
    json_path = tmp_path / "r.json"
    code, out, _ = cli(
        capsys,
        *("sweep", "--csv", str(tmp_path / "data.csv"), "--target", "answer"),
        *("--features", "a,b", "--k", "3", "--steps", "200", "--lam-max", "0"),
        *("--strategy", "vmap", "--out", "", "--json", str(json_path)),
    )
    assert code == 0
    assert "(target 'answer', 2 features)" in out and "90 train / 30 validation rows" in out
    record = json.loads(json_path.read_text())
    assert record["metrics"]["val_accuracy"][record["best"]["index"]][-1] >= 0.9


def test_help_documents_each_command(capsys):
    words = {
        "sweep": ["--csv", "--target", "--features", "--model", "ridge", "logistic", "mlp"]
        + ["bundled", "Σ (yᵢ − xᵢᵀw − b)² + λ‖w‖²", "--strategy", "--devices", "--out"]
        + ["--val-fraction", "Missing cells"],
        "demo": ["--k", "--steps", "--strategy", "--devices", "--out", "jaxl2.adamw"],
        "ridge": ["--csv", "--target", "leave-one-out", "GCV", "Ridge(alpha=λ)"]
        + ["--no-standardize"],
    }
    for command, expected in words.items():
        with pytest.raises(SystemExit) as info:
            main([command, "--help"])
        assert info.value.code == 0
        text = capsys.readouterr().out
        for word in expected:
            assert word in text, (command, word)


def test_read_csv_reads_columns_and_text_labels(tmp_path):
    path = tmp_path / "ok.csv"
    path.write_text("\ufeffx, y ,label\n1,2,a\n\n3,4.5,b\n4,-5e-1, a \n")  # BOM, blank line
    data = read_csv(str(path), "label", None)
    assert data.names == ["x", "y"] and data.target == "label"
    np.testing.assert_array_equal(data.X, [[1, 2], [3, 4.5], [4, -0.5]])
    assert list(data.y) == ["a", "b", "a"]
    numeric = read_csv(str(path), "y", "x")
    assert numeric.y.dtype == np.float64 and list(numeric.y) == [2, 4.5, -0.5]


def _csv(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


ROWS = "".join(f"{i},{i % 3},{i % 2}\n" for i in range(20))

# (CSV text or None for the bundled data, extra arguments, the message the user sees)
BAD_INPUTS = {
    "nan feature": (
        "a,b,y\n1,2,0\n3,nan,1\n" + ROWS,
        [],
        r"line 3, column 'b': missing value \('nan'\)",
    ),
    "NaN target": (
        "a,b,y\n1,2,0\n3,4,NaN\n" + ROWS,
        ["--model", "ridge"],
        r"line 3, column 'y': missing value \('NaN'\)",
    ),
    "blank target": (
        "a,b,y\n1,2,0\n3,4,\n" + ROWS,
        [],
        r"line 3, column 'y': missing value \(''\)",
    ),
    "NA feature": ("a,b,y\n1,NA,0\n" + ROWS, [], r"line 2, column 'b': missing value \('NA'\)"),
    "inf feature": (
        "a,b,y\n1,2,0\ninf,4,1\n" + ROWS,
        [],
        r"line 3, column 'a': 'inf' is not finite",
    ),
    "text feature": (
        "a,b,y\n1,2,0\n3,oops,1\n" + ROWS,
        [],
        r"line 3, column 'b': 'oops' is not a number",
    ),
    "ragged row": ("a,b,y\n1,2,0\n3,4\n" + ROWS, [], r"line 3: 2 fields, the header has 3"),
    "header only": ("a,b,y\n", [], r"needs a header row and at least two data rows"),
    "duplicate header": ("a,a,y\n" + ROWS, [], r"names column\(s\) \['a'\] more than once"),
    "unknown target": ("a,b,y\n" + ROWS, ["--target", "z"], r"--target 'z' is not a column"),
    "unknown feature": (
        "a,b,y\n" + ROWS,
        ["--features", "a,w"],
        r"--features: no column\(s\) \['w'\]",
    ),
    "target as feature": (
        "a,b,y\n" + ROWS,
        ["--features", "a,y"],
        r"includes the target column 'y'",
    ),
    "val fraction 1.5": (
        "a,b,y\n" + ROWS,
        ["--val-fraction", "1.5"],
        r"--val-fraction must be between 0 and 1 \(exclusive\), got 1.5",
    ),
    "val fraction 0": (
        "a,b,y\n" + ROWS,
        ["--val-fraction", "0"],
        r"--val-fraction must be between 0 and 1",
    ),
    "val fraction nan": (
        "a,b,y\n" + ROWS,
        ["--val-fraction", "nan"],
        r"--val-fraction must be between 0 and 1",
    ),
    "too few to hold out": (
        "a,b,y\n" + ROWS,
        ["--val-fraction", "0.01"],
        r"holds out 1 validation .* fewer than the 2 classes",
    ),
    "class of one row": ("a,b,y\n" + ROWS + "5,5,7\n", [], r"class '7' has a single row"),
    "continuous logistic": (
        "a,b,y\n" + "".join(f"{i},{i % 3},{i * 0.37:.3f}\n" for i in range(30)),
        ["--model", "logistic"],
        r"--model logistic needs class labels, but the target 'y' looks continuous \(30 distinct values",
    ),
    "continuous classification": (
        "a,b,y\n" + "".join(f"{i},{i % 3},{i * 0.37:.3f}\n" for i in range(30)),
        ["--model", "mlp", "--task", "classification"],
        r"--task classification needs class labels",
    ),
    "text target for ridge": (
        "a,b,y\n" + "".join(f"{i},{i % 3},{'yes' if i % 2 else 'no'}\n" for i in range(20)),
        ["--model", "ridge"],
        r"the target 'y' is not numeric \('no'\); use --model logistic or mlp",
    ),
    "text target for regression": (
        "a,b,y\n" + "".join(f"{i},{i % 3},{'yes' if i % 2 else 'no'}\n" for i in range(20)),
        ["--model", "mlp", "--task", "regression"],
        r"not numeric \('no'\); use --task classification",
    ),
    "single class": (
        "a,b,y\n" + "".join(f"{i},{i % 3},1\n" for i in range(20)),
        [],
        r"the target 'y' has a single class",
    ),
    "k 0": (None, ["--k", "0"], r"--k must be at least 1, got 0"),
    "steps 0": (None, ["--steps", "0"], r"--steps must be at least 1, got 0"),
    "hidden 0": (None, ["--model", "mlp", "--hidden", "0"], r"--hidden must be at least 1, got 0"),
    "chunk size 0": (None, ["--chunk-size", "0"], r"--chunk-size must be at least 1, got 0"),
    "devices 0": (None, ["--devices", "0"], r"--devices must be at least 1, got 0"),
    "lr 0": (None, ["--lr", "0"], r"--lr must be positive, got 0"),
    "lr nan": (None, ["--lr", "nan"], r"--lr must be a finite number, got nan"),
    "lam max inf": (None, ["--lam-max", "inf"], r"--lam-max must be a finite number, got inf"),
    "out folder": (
        None,
        ["--out", "no/such/folder/p.png"],
        r"--out no/such/folder/p.png: the folder 'no/such/folder' does not exist",
    ),
    "out format": (None, ["--out", "plot.xyz"], r"--out plot.xyz: unknown image format 'xyz'"),
    "seed -1": (None, ["--seed", "-1"], r"--seed must be between 0 and 2\*\*32 - 1, got -1"),
    "csv and dataset": (
        "a,b,y\n" + ROWS,
        ["--dataset", "wine"],
        r"--dataset wine is for runs without --csv",
    ),
    "out is a folder": (None, ["--out", "."], r"--out \.: is a folder; give a file name"),
    "json folder": (
        None,
        ["--json", "nowhere/r.json"],
        r"--json nowhere/r.json: the folder 'nowhere' does not exist",
    ),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_bad_input_is_one_line_exit_status_2(tmp_path, capsys, monkeypatch, case):
    monkeypatch.chdir(tmp_path)
    text, extra, message = BAD_INPUTS[case]
    source = ["--csv", _csv(tmp_path, text)] if text is not None else []
    code, out, err = cli(capsys, "sweep", *source, *extra)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("jaxl2 sweep: error: "), err
    assert re.search(message, err), err
    assert out == ""  # nothing ran


def test_files_that_cannot_be_read_are_one_line_errors(tmp_path, capsys):
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"a,b\n\xff\xfe\x00\x81,2\n")
    cases = {
        str(tmp_path / "nope.csv"): r"--csv .*nope.csv: cannot read it \(No such file",
        str(tmp_path): r"cannot read it \(Is a directory\)",
        str(binary): r"not a UTF-8 text file",
    }
    for path, message in cases.items():
        for command in ("sweep", "ridge"):
            code, _, err = cli(capsys, command, "--csv", path)
            assert code == 2 and err.count("\n") == 1, err
            assert re.search(message, err), err
    with pytest.raises(CLIError, match="nope.csv: cannot read it"):
        read_csv(str(tmp_path / "nope.csv"))


def test_wrong_option_values_are_argparse_errors(capsys):
    for args in (["sweep", "--model", "lasso"], ["sweep", "--k", "many"], ["plot"]):
        code, _, err = cli(capsys, *args)
        assert code == 2 and "error:" in err


@pytest.mark.standard_promotion
def test_members_that_all_diverge_end_in_one_line(tmp_path, capsys):
    """lr·λ ≥ 316: every decoupled-decay step multiplies the weights by 1 − lr·λ ≤ −315."""
    code, out, err = cli(
        capsys,
        *("sweep", "--model", "mlp", "--dataset", "wine", "--hidden", "4", "--k", "2"),
        *("--lr", "1", "--lam-min", "2.5", "--lam-max", "3", "--steps", "20"),
        *("--strategy", "vmap", "--out", ""),
    )
    assert code == 2 and "diverged" in out
    assert err == (
        "jaxl2 sweep: error: every member diverged (NaN/Inf); lower --lr, or --lam-max for "
        "decoupled decay.\n"
    )


@pytest.mark.standard_promotion
def test_default_mlp_range_keeps_every_member_finite(tmp_path, capsys):
    """The default λ range of `--model mlp` ends at lr·λ = 0.3 (10 at lr 0.03, where λ = 100
    diverged on every bundled data set); no member diverges on the bundled wine data."""
    json_path = tmp_path / "r.json"
    code, out, _ = cli(
        capsys,
        *("sweep", "--model", "mlp", "--dataset", "wine", "--k", "3", "--steps", "100"),
        *("--strategy", "vmap", "--out", "", "--json", str(json_path)),
    )
    assert code == 0 and "diverged" not in out
    record = json.loads(json_path.read_text())
    np.testing.assert_allclose(record["hparams"]["lam"], np.logspace(-3, 1, 3), rtol=1e-6)
    assert all(record["finite"])


@pytest.mark.standard_promotion
def test_gradient_trained_ridge_of_the_csv_sweep_matches_sklearn(tmp_path, capsys):
    """`jaxl2 sweep --model ridge` (bundled diabetes) against sklearn's Ridge(alpha=λ)."""
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import train_test_split

    code, out, _ = cli(
        capsys,
        *("sweep", "--model", "ridge", "--k", "3", "--lam-min", "-3", "--lam-max", "3"),
        *("--steps", "500", "--strategy", "vmap", "--out", "", "--json", str(tmp_path / "r.json")),
    )
    assert code == 0 and "ridge on scikit-learn's diabetes (bundled)" in out
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


def test_ridge_command_matches_sklearn_ridge_and_ridgecv_and_plots_the_path(tmp_path, capsys):
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge, RidgeCV

    code, out, _ = cli(
        capsys,
        *("ridge", "--k", "5", "--lam-min", "-3", "--lam-max", "1", "--no-standardize"),
        *("--out", str(tmp_path / "path.png"), "--json", str(tmp_path / "path.json")),
    )
    assert code == 0 and "LOO MSE" in out
    record = json.loads((tmp_path / "path.json").read_text())
    X, y = load_diabetes(return_X_y=True)
    for lam, coef in zip(record["lams"], record["coef"], strict=True):
        np.testing.assert_allclose(coef, Ridge(alpha=lam).fit(X, y).coef_, rtol=1e-6, atol=1e-6)
    cv = RidgeCV(alphas=record["lams"]).fit(X, y)
    best = record["best_index"]
    assert record["lams"][best] == pytest.approx(cv.alpha_)
    assert record["loo_mse"][best] == pytest.approx(-cv.best_score_, rel=1e-8)
    assert f"best λ = {record['lams'][best]:.4g}" in out
    assert png(tmp_path / "path.png").shape[:2] == (480, 660)  # 5.5 × 4 in at 120 dpi
    # the figure plots exactly these curves, the best λ marked
    fig = ridge_command.plot(
        np.array(record["lams"]), np.array(record["loo_mse"]), np.array(record["gcv"]), best
    )
    (ax,) = fig.axes
    loo, gcv, mark = ax.lines
    np.testing.assert_allclose(loo.get_xdata(), record["lams"])
    np.testing.assert_allclose(loo.get_ydata(), record["loo_mse"])
    np.testing.assert_allclose(gcv.get_ydata(), record["gcv"])
    assert mark.get_xdata()[0] == pytest.approx(record["lams"][best])
    assert ax.get_xscale() == ax.get_yscale() == "log"


def test_parser_defaults():
    args = build_parser().parse_args(["sweep"])
    assert (args.model, args.k, args.steps, args.val_fraction) == ("logistic", 24, 500, 0.25)
    assert (args.lam_min, args.lam_max, args.out) == (None, None, "lambda_sweep.png")


@pytest.mark.standard_promotion
def test_run_time_option_errors_are_one_line(tmp_path, capsys):
    """Options checked once JAX is up: --devices against the devices, --checkpoint-dir by the
    sweep engine (a file is not a checkpoint folder)."""
    have = len(jax.devices())
    code, _, err = cli(capsys, "sweep", "--model", "ridge", "--devices", str(have + 1))
    assert code == 2 and err == (
        f"jaxl2 sweep: error: --devices {have + 1}: JAX sees {have} device(s); on CPU, "
        f"--cores {have + 1} creates that many.\n"
    )
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    code, out, err = cli(
        capsys,
        *("sweep", "--model", "ridge", "--k", "2", "--steps", "2", "--strategy", "vmap"),
        *("--out", "", "--checkpoint-dir", str(not_a_folder)),
    )
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"jaxl2 sweep: error: --checkpoint-dir {not_a_folder}: ")
    assert "exists and is not a directory" in err


def test_the_command_line_uses_only_the_public_api():
    """jaxl2/cli imports jaxl2's public names only."""
    private = []
    for path in sorted((ROOT / "jaxl2" / "cli").glob("*.py")):
        for line in path.read_text().splitlines():
            if re.search(r"\bjaxl2\._|from \.\.|import \.\.", line):
                private.append(f"{path.name}: {line.strip()}")
    assert private == []


@pytest.mark.standard_promotion
def test_a_rerun_with_the_same_checkpoint_dir_loads_every_member(tmp_path, capsys):
    args = ("sweep", "--model", "ridge", "--k", "2", "--steps", "5", "--strategy", "vmap")
    args += ("--out", "", "--checkpoint-dir", str(tmp_path / "ckpt"))
    code, first, _ = cli(capsys, *args)
    assert code == 0 and re.search(r"\(strategy vmap → vmap, \d device\(s\), \d members per", first)
    code, again, _ = cli(capsys, *args)
    assert code == 0 and "(loaded from the checkpoint)" in again
    assert first.split("members in")[0] == again.split("members in")[0]  # the same table
