"""The data the command line trains on: a CSV file or a bundled scikit-learn data set.

Every mistake in the input ends here as a :class:`CLIError` naming the option, the line and the
column, which :func:`jaxl2.cli.main` prints as one line (exit status 2).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass

import numpy as np

# Cells read as missing data (compared after strip() and lower()), as pandas' default na_values.
MISSING = frozenset({"", "nan", "-nan", "+nan", "na", "n/a", "null", "#n/a"})
MSG_MISSING = (
    "{path}, line {line}, column {column!r}: missing value ({cell!r}); remove the row or fill "
    "the value in."
)
MAX_CLASSES = 50


class CLIError(Exception):
    """A mistake in the command line's input; printed as one line, exit status 2."""


@dataclass(frozen=True)
class Data:
    """Features ``X`` (float64), target ``y`` (float64, or text labels), names and a source."""

    X: np.ndarray
    y: np.ndarray
    names: list[str]
    target: str
    source: str


def bundled(name: str) -> Data:
    """One of scikit-learn's bundled data sets (digits, diabetes, breast_cancer, wine)."""
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")()
    names = getattr(bunch, "feature_names", None)  # a list or an array; digits has none
    names = [f"x{i}" for i in range(bunch.data.shape[1])] if names is None else list(names)
    source = f"scikit-learn's {name} (bundled)"
    return Data(bunch.data.astype(np.float64), np.asarray(bunch.target), names, "target", source)


def _rows(path: str) -> list[tuple[int, list[str]]]:
    """(line number, fields) of every non-blank row; the first is the header."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            return [(reader.line_num, row) for row in reader if any(c.strip() for c in row)]
    except OSError as err:
        raise CLIError(f"--csv {path}: cannot read it ({err.strerror or err}).") from None
    except UnicodeDecodeError:
        raise CLIError(f"--csv {path}: not a UTF-8 text file; save it as CSV (UTF-8).") from None
    except csv.Error as err:
        raise CLIError(f"--csv {path}: not a readable CSV file ({err}).") from None


def _columns(path: str, header: list[str], target: str | None, features: str | None):
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if duplicated:
        raise CLIError(f"--csv {path}: the header names column(s) {duplicated} more than once.")
    target = target or header[-1]
    if target not in header:
        raise CLIError(f"--target {target!r} is not a column of {path}; columns: {header}.")
    if features:
        names = [c.strip() for c in features.split(",")]
    else:
        names = [h for h in header if h != target]
    missing = [n for n in names if n not in header]
    if missing:
        raise CLIError(f"--features: no column(s) {missing} in {path}; columns: {header}.")
    if target in names:
        raise CLIError(f"--features {features!r} includes the target column {target!r}.")
    if not names:
        raise CLIError(f"--csv {path}: no feature column besides the target {target!r}.")
    return target, names


def _number(cell: str, path: str, line: int, column: str) -> float:
    text = cell.strip()
    if text.lower() in MISSING:
        raise CLIError(MSG_MISSING.format(path=path, line=line, column=column, cell=cell))
    try:
        value = float(text)
    except ValueError:
        raise CLIError(
            f"{path}, line {line}, column {column!r}: {cell!r} is not a number (feature "
            "columns must be numeric)."
        ) from None
    if not math.isfinite(value):
        raise CLIError(f"{path}, line {line}, column {column!r}: {cell!r} is not finite.")
    return value


def _target(cells: list[tuple[int, str]], path: str, column: str) -> np.ndarray:
    """Numbers when every cell is one, else the text labels; missing cells are errors."""
    for line, cell in cells:
        if cell.strip().lower() in MISSING:
            raise CLIError(MSG_MISSING.format(path=path, line=line, column=column, cell=cell))
    text = [cell.strip() for _, cell in cells]
    try:
        y = np.array([float(v) for v in text])
    except ValueError:
        return np.array(text)
    bad = np.flatnonzero(~np.isfinite(y))
    if bad.size:
        line, cell = cells[bad[0]]
        raise CLIError(f"{path}, line {line}, column {column!r}: {cell!r} is not finite.")
    return y


def read_csv(path: str, target: str | None = None, features: str | None = None) -> Data:
    """Reads a CSV file with a header row: numeric feature columns and one target column.

    Args:
      path: the file.
      target: the target column (default: the last).
      features: comma-separated feature columns (default: every column but the target).

    Returns:
      :class:`Data` with ``X`` of shape ``(n, d)`` and ``y`` numbers, or text when any target
      cell is not a number (class labels).

    Raises:
      CLIError: the file cannot be read; a column does not exist; a row has the wrong number
        of fields; a feature cell is not a number; a feature or target cell is missing (empty,
        ``nan``, ``NA``, ``null``) or infinite. Each names the line and the column.
    """
    rows = _rows(path)
    if len(rows) < 3:
        raise CLIError(f"--csv {path}: needs a header row and at least two data rows.")
    header = [h.strip() for h in rows[0][1]]
    target, names = _columns(path, header, target, features)
    col = {h: i for i, h in enumerate(header)}
    X = np.empty((len(rows) - 1, len(names)))
    for r, (line, row) in enumerate(rows[1:]):
        if len(row) != len(header):
            raise CLIError(f"{path}, line {line}: {len(row)} fields, the header has {len(header)}.")
        for j, name in enumerate(names):
            X[r, j] = _number(row[col[name]], path, line, name)
    y = _target([(line, row[col[target]]) for line, row in rows[1:]], path, target)
    return Data(X, y, names, target, f"{path} (target {target!r}, {len(names)} features)")


def looks_categorical(y: np.ndarray) -> bool:
    """Text, or at most 50 distinct integer values."""
    if y.dtype.kind not in "fiu":
        return True
    return bool(np.all(y == np.round(y)) and len(np.unique(y)) <= MAX_CLASSES)


def as_classes(y: np.ndarray, target: str, why: str) -> tuple[np.ndarray, list[str]]:
    """Integer labels 0..C−1 and the class names; an error for one class or a continuous target."""
    if not looks_categorical(y):
        values = np.unique(y)
        raise CLIError(
            f"{why} needs class labels, but the target {target!r} looks continuous "
            f"({len(values)} distinct values, e.g. {values[len(values) // 2]:g}); use --model "
            "ridge, or --model mlp --task regression."
        )
    classes, labels = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise CLIError(f"the target {target!r} has a single class; nothing to classify.")
    names = [f"{c:g}" for c in classes] if classes.dtype.kind in "fiu" else list(map(str, classes))
    return labels.astype(np.int32), names


def numeric_target(y: np.ndarray, target: str, why: str) -> np.ndarray:
    """The target as float32, or an error naming the first cell that is not a number."""
    if y.dtype.kind in "fiu":
        return y.astype(np.float32)
    first = next(str(v) for v in y if not _is_number(v))
    raise CLIError(f"the target {target!r} is not numeric ({first!r}); {why}.")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def split(
    X: np.ndarray, y: np.ndarray, fraction: float, seed: int, classes: list[str] | None = None
):
    """Train/validation split, stratified when ``y`` holds the indices of ``classes``; the
    features standardized with the training rows' mean and standard deviation.

    Returns:
      ``(X_train, y_train, X_val, y_val)``, features as float32.

    Raises:
      CLIError: ``fraction`` leaves no row on one side, holds out fewer rows than there are
        classes, or a class has a single row.
    """
    from sklearn.model_selection import train_test_split

    n = len(y)
    n_val = math.ceil(fraction * n)
    if n_val < 1 or n_val >= n:
        raise CLIError(
            f"--val-fraction {fraction:g} of {n} rows leaves {n - n_val} training and {n_val} "
            "validation rows; both need at least one."
        )
    if classes is not None:
        counts = np.bincount(y, minlength=len(classes))
        if counts.min() < 2:
            raise CLIError(
                f"class {classes[counts.argmin()]!r} has a single row; a stratified "
                "train/validation split needs at least two rows of every class."
            )
        if min(n_val, n - n_val) < len(classes):
            raise CLIError(
                f"--val-fraction {fraction:g} of {n} rows holds out {n_val} validation and "
                f"keeps {n - n_val} training rows, fewer than the {len(classes)} classes."
            )
    Xtr, Xva, ytr, yva = train_test_split(
        X, y, test_size=fraction, random_state=seed, stratify=None if classes is None else y
    )
    mean, std = Xtr.mean(0), Xtr.std(0)
    std = np.where(std > 0, std, 1.0)
    return (
        ((Xtr - mean) / std).astype(np.float32),
        ytr,
        ((Xva - mean) / std).astype(np.float32),
        yva,
    )
