"""scikit-learn's own estimator tests, run against ``jaxl2.sklearn``.

Copies ``sklearn/linear_model/tests/test_ridge.py`` and ``test_logistic.py`` from the installed
scikit-learn into a temporary directory, rebinds the estimator names that ``jaxl2.sklearn``
provides (``Ridge``, ``RidgeCV``, ``LogisticRegression``, ... whatever is in its ``__all__``)
right after the file's imports, leaves every other name (private helpers, other estimators)
as scikit-learn's, runs pytest on the copy under a timeout, and prints the pass/fail counts per
file with the failing test ids. ``--reference`` also runs the unmodified file, so the score is
"passed with jaxl2 / passed by scikit-learn itself" over the tests scikit-learn passes.

Usage::

    python -m benchmarks.sklearn_upstream                    # both files, x64 on
    python -m benchmarks.sklearn_upstream --file ridge -k gcv --output upstream.json
    python -m benchmarks.sklearn_upstream --file logistic --reference --no-x64

JAX's 64-bit mode is on by default (``JAX_ENABLE_X64=1``): scikit-learn's tests compare
float64 results at float64 tolerances. ``--no-x64`` runs them with JAX's default float32
(jaxl2's estimators then refine float64 input on the host).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

FILES = {"ridge": "test_ridge.py", "logistic": "test_logistic.py"}

_PYTEST_INI = """[pytest]
addopts = -p no:cacheprovider -p sklearn.conftest
"""


def sklearn_tests_dir() -> Path:
    import sklearn

    return Path(sklearn.__file__).parent / "linear_model" / "tests"


def jaxl2_estimators() -> list[str]:
    """The names ``jaxl2.sklearn`` exports."""
    import jaxl2.sklearn

    return list(jaxl2.sklearn.__all__)


def swap_imports(source: str, names: list[str]) -> tuple[str, list[str]]:
    """Rebinds ``names`` imported from ``sklearn.linear_model`` to ``jaxl2.sklearn``'s.

    The new import goes right after the last top-level import, so module-level code and every
    test see jaxl2's estimators; names the file imports from elsewhere (private modules) keep
    scikit-learn's. Returns (new source, swapped names).
    """
    tree = ast.parse(source)
    imported: set[str] = set()
    last_import_end = 0
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            last_import_end = node.end_lineno or node.lineno
            if isinstance(node, ast.ImportFrom) and node.module == "sklearn.linear_model":
                imported.update(a.asname or a.name for a in node.names)
    swapped = [n for n in names if n in imported]
    if not swapped:
        return source, []
    lines = source.splitlines(keepends=True)
    patch = f"from jaxl2.sklearn import {', '.join(swapped)}  # swapped by sklearn_upstream\n"
    lines.insert(last_import_end, patch)
    return "".join(lines), swapped


def _parse_junit(path: Path) -> dict:
    counts = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
    failing: list[str] = []
    passing: list[str] = []
    if not path.exists():
        return {**counts, "failing": failing, "passing": passing}
    for case in ET.parse(path).getroot().iter("testcase"):
        test_id = f"{case.get('classname', '').split('.')[-1]}::{case.get('name')}"
        kinds = {child.tag for child in case}
        if "failure" in kinds:
            counts["failed"] += 1
            failing.append(test_id)
        elif "error" in kinds:
            counts["error"] += 1
            failing.append(test_id)
        elif "skipped" in kinds:
            counts["skipped"] += 1
        else:
            counts["passed"] += 1
            passing.append(test_id)
    return {**counts, "failing": failing, "passing": passing}


_OUTCOMES = {"PASSED": "passed", "FAILED": "failed", "ERROR": "error", "SKIPPED": "skipped"}


def _parse_verbose(text: str) -> dict:
    """Counts from pytest -v lines ``file::test[id] OUTCOME [ nn%]`` (a run cut short)."""
    counts = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
    failing: list[str] = []
    passing: list[str] = []
    for line in text.splitlines():
        parts = line.split(" ")
        if "::" not in parts[0] or len(parts) < 2:
            continue
        outcome = next((_OUTCOMES[w] for w in parts[1:3] if w in _OUTCOMES), None)
        if outcome is None:
            if any(w in ("XFAIL", "XPASS") for w in parts[1:3]):
                counts["skipped"] += 1
            continue
        module, name = parts[0].split("::", 1)
        test_id = f"{Path(module).stem}::{name}"  # the junit form
        counts[outcome] += 1
        if outcome in ("failed", "error"):
            failing.append(test_id)
        elif outcome == "passed":
            passing.append(test_id)
    return {**counts, "failing": failing, "passing": passing}


def run_file(
    name: str,
    *,
    swap: bool = True,
    x64: bool = True,
    keyword: str | None = None,
    timeout: float = 3600,
    extra: list[str] | None = None,
    workdir: Path | None = None,
) -> dict:
    """Runs one of scikit-learn's test files (swapped to jaxl2 unless ``swap=False``).

    Returns a dict with the counts (passed, failed, error, skipped), the failing and passing
    test ids, the swapped names, the pytest exit code and whether it timed out.
    """
    filename = FILES[name]
    own = workdir is None
    tmp = Path(tempfile.mkdtemp(prefix=f"sklearn_upstream_{name}_")) if own else workdir
    try:
        source = (sklearn_tests_dir() / filename).read_text()
        swapped: list[str] = []
        if swap:
            source, swapped = swap_imports(source, jaxl2_estimators())
        (tmp / filename).write_text(source)
        (tmp / "pytest.ini").write_text(_PYTEST_INI)
        junit = tmp / "junit.xml"
        cmd = [sys.executable, "-m", "pytest", filename, "-v", "-p", "no:randomly"]
        cmd += [f"--junitxml={junit}", "-o", "junit_family=xunit1"]
        if keyword:
            cmd += ["-k", keyword]
        cmd += extra or []
        env = dict(os.environ)
        env["JAX_ENABLE_X64"] = "1" if x64 else "0"
        # The repository root first, so that this checkout's jaxl2 is imported.
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join([root, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        timed_out = False
        log = tmp / "pytest.log"
        with open(log, "w") as out:
            # -v streams one line per test to the log, so a run cut by the timeout still
            # reports the tests it finished (the junit file is written only at the end).
            proc = subprocess.Popen(
                cmd, cwd=tmp, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
            try:
                rc = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out, rc = True, None
                os.killpg(proc.pid, 15)
                proc.wait()
        text = log.read_text(errors="replace")
        tail = text[-6000:]
        result = _parse_junit(junit) if junit.exists() else _parse_verbose(text)
        result.update(file=filename, swapped=swapped, returncode=rc, timed_out=timed_out)
        result["tail"] = tail
        return result
    finally:
        if own:
            shutil.rmtree(tmp, ignore_errors=True)


def summary(name: str, res: dict, ref: dict | None) -> str:
    total = res["passed"] + res["failed"] + res["error"]
    lines = [
        f"== {res['file']} (swapped: {', '.join(res['swapped']) or 'nothing'}) ==",
        f"passed {res['passed']} / {total} run ({res['failed']} failed, {res['error']} errors, "
        f"{res['skipped']} skipped){' TIMED OUT' if res['timed_out'] else ''}",
    ]
    if ref is not None:
        ref_pass = set(ref["passing"])
        ok = len(ref_pass & set(res["passing"]))
        share = ok / max(1, len(ref_pass))
        lines.append(
            f"of the {len(ref_pass)} tests scikit-learn itself passes: {ok} pass ({share:.1%})"
        )
    lines += [f"FAILED {t}" for t in res["failing"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.sklearn_upstream", description=__doc__
    )
    parser.add_argument("--file", choices=[*FILES, "all"], default="all")
    parser.add_argument("-k", dest="keyword", default=None, help="pytest -k expression")
    parser.add_argument("--reference", action="store_true", help="also run scikit-learn itself")
    parser.add_argument("--no-x64", dest="x64", action="store_false", help="JAX in float32")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per pytest run")
    parser.add_argument("--output", type=Path, default=None, help="write the results as JSON")
    args = parser.parse_args(argv)
    names = list(FILES) if args.file == "all" else [args.file]
    report = {}
    for name in names:
        res = run_file(name, x64=args.x64, keyword=args.keyword, timeout=args.timeout)
        ref = None
        if args.reference:
            ref = run_file(
                name, swap=False, x64=args.x64, keyword=args.keyword, timeout=args.timeout
            )
        print(summary(name, res, ref), flush=True)
        if res["passed"] + res["failed"] + res["error"] <= 1 or "during collection" in res["tail"]:
            print(res["tail"])  # a collection error: show why
        report[name] = {
            "jaxl2": {k: v for k, v in res.items() if k != "tail"},
            "sklearn": None if ref is None else {k: v for k, v in ref.items() if k != "tail"},
        }
    if args.output is not None:
        args.output.write_text(json.dumps(report, indent=1))
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
