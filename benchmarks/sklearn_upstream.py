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

A run without ``-k`` rewrites that file's section of ``benchmarks/sklearn_upstream_failures.md``
(every failing test with its reason category from ``REASONS``; ``--failures PATH`` to write
elsewhere, also with ``-k``). With ``--reference`` the counts are over the tests scikit-learn
itself passes, and failures scikit-learn shares are left out.

JAX's 64-bit mode is on by default (``JAX_ENABLE_X64=1``): scikit-learn's tests compare
float64 results at float64 tolerances. ``--no-x64`` runs them with JAX's default float32
(jaxl2's estimators then refine float64 input on the host).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
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


def _first_line(text: str | None) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[0][:200] if lines else "(no message)"


def _parse_junit(path: Path) -> dict:
    counts = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
    failing: list[str] = []
    passing: list[str] = []
    messages: dict[str, str] = {}
    if not path.exists():
        return {**counts, "failing": failing, "passing": passing, "messages": messages}
    for case in ET.parse(path).getroot().iter("testcase"):
        test_id = f"{case.get('classname', '').split('.')[-1]}::{case.get('name')}"
        kinds = {child.tag: child for child in case}
        bad = kinds.get("failure", kinds.get("error"))
        if bad is not None:
            messages[test_id] = _first_line(bad.get("message") or bad.text)
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
    return {**counts, "failing": failing, "passing": passing, "messages": messages}


_OUTCOMES = {"PASSED": "passed", "FAILED": "failed", "ERROR": "error", "SKIPPED": "skipped"}


def _parse_verbose(text: str) -> dict:
    """Counts from pytest -v lines ``file::test[id] OUTCOME [ nn%]`` (a run cut short)."""
    counts = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
    failing: list[str] = []
    passing: list[str] = []
    messages: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith(("FAILED ", "ERROR ")) and " - " in line:  # the -rfE summary
            head, message = line.split(" ", 1)[1].split(" - ", 1)
            module, name = head.split("::", 1)
            messages[f"{Path(module).stem}::{name}"] = _first_line(message)
            continue
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
    return {**counts, "failing": failing, "passing": passing, "messages": messages}


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
        cmd = [sys.executable, "-m", "pytest", filename, "-v", "-rfE", "-p", "no:randomly"]
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


FAILURES_MD = Path(__file__).resolve().parent / "sklearn_upstream_failures.md"

# Why a scikit-learn test fails against jaxl2: (regex searched in the test id, category, reason).
# The first match wins; a failure no entry matches is listed as "unclassified" with the first
# line of its error. Categories: "by design" (jaxl2 differs on purpose), "inexact reference"
# (the test compares with a scikit-learn estimator that stops short of the optimum),
# "scikit-learn internals" (asserts a private detail of scikit-learn's solvers), "not
# implemented" (an API jaxl2 lacks), "real gap" (jaxl2 should change).
REASONS: list[tuple[str, str, str]] = [
    (
        r"test_liblinear_dual_random_state",
        "by design",
        "asserts that liblinear's dual solver gives different results for different "
        "random_state; jaxl2's solvers are deterministic (random_state accepted, unused).",
    ),
    (
        r"test_logistic_cv\[",
        "inexact reference",
        "compares with scikit-learn's own LogisticRegressionCV(solver='liblinear') at 6 "
        "decimals; liblinear stops at its tol (coefficients 1e-3 from the optimum), jaxl2 "
        "solves to the optimum.",
    ),
    (
        r"test_logistic_cv_multinomial_score",
        "inexact reference",
        "scikit-learn's LogisticRegressionCV score against a jaxl2 refit at 6 decimals; both "
        "stop at the test's loose tolerance (3.8e-4 apart).",
    ),
    (
        r"test_scores_attribute_layout_elasticnet",
        "inexact reference",
        "scikit-learn's LogisticRegressionCV (saga, tol=1e-3) against jaxl2's elastic net at "
        "tol=1e-3: scores 3.3e-4 apart, the test allows 1.8e-4; both inexact at that tol.",
    ),
    (
        r"test_newton_cholesky_fallback_to_lbfgs",
        "scikit-learn internals",
        "asserts that scikit-learn's newton-cholesky hands over to lbfgs on an "
        "ill-conditioned Hessian and reports lbfgs's n_iter_; jaxl2's Newton does not fail "
        "there and converges in fewer iterations.",
    ),
    (
        r"test_ridge::test_lbfgs_solver_error",
        "by design",
        "expects a ConvergenceWarning from Ridge(positive=True, solver='lbfgs', max_iter=1) on "
        "a 2x2 problem; jaxl2's projected solver ends with an exact active-set solve, so one "
        "iteration gives the exact nonnegative solution (equal to scipy's nnls) and nothing "
        "is left to warn about.",
    ),
    (
        r"test_logistic_regression_callback",
        "not implemented",
        "scikit-learn 1.9's experimental callback API (set_callbacks, sklearn.callback).",
    ),
]


def classify(test_id: str) -> tuple[str, str] | None:
    """(category, reason) from ``REASONS`` for a failing test id, or None."""
    for pattern, category, reason in REASONS:
        if re.search(pattern, test_id):
            return category, reason
    return None


def _git_commit() -> str:
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
        )
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def failures_markdown(res: dict, ref: dict | None, keyword: str | None = None) -> str:
    """One file's section of the failures report: counts, then every failing test's reason."""
    import sklearn

    run = res["passed"] + res["failed"] + res["error"]
    cut = " (TIMED OUT: the counts are partial)" if res["timed_out"] else ""
    head = f"## {res['file']}{f' (subset -k {keyword!r})' if keyword else ''}: "
    if ref is not None:
        ref_pass = set(ref["passing"])
        ok = len(ref_pass & set(res["passing"]))
        head += (
            f"{ok} of the {len(ref_pass)} tests scikit-learn itself passes "
            f"({ok / max(1, len(ref_pass)):.1%})"
        )
    else:
        head += f"{res['passed']} of {run} run pass ({res['passed'] / max(1, run):.1%})"
    lines = [
        head,
        "",
        f"scikit-learn {sklearn.__version__}, estimators swapped: "
        f"{', '.join(res['swapped']) or 'nothing'}; jaxl2 at commit {_git_commit()}. "
        f"Swapped: {res['passed']} passed, {res['failed']} failed, {res['error']} errors, "
        f"{res['skipped']} skipped{cut}.",
    ]
    if ref is not None:
        ref_run = ref["passed"] + ref["failed"] + ref["error"]
        lines[-1] += (
            f" scikit-learn unmodified: {ref['passed']} passed of {ref_run} run, "
            f"{ref['skipped']} skipped."
        )
    failing = res["failing"]
    if ref is not None:  # failures scikit-learn shares are not jaxl2's
        failing = [t for t in failing if t in set(ref["passing"])]
    if not failing:
        return "\n".join([*lines, "", "No failures."])
    lines += ["", "| test | category | reason |", "|---|---|---|"]
    messages = res.get("messages", {})
    for test_id in failing:
        found = classify(test_id)
        if found is None:
            first = messages.get(test_id, "(no message)").replace("|", "\\|")
            found = ("unclassified", f"`{first}`")
        name = test_id.split("::", 1)[-1]
        lines.append(f"| `{name}` | {found[0]} | {found[1]} |")
    return "\n".join(lines)


_FAILURES_HEADER = """# scikit-learn's own tests against `jaxl2.sklearn`: the remaining failures

Written by `python -m benchmarks.sklearn_upstream` (scikit-learn's `test_ridge.py` and
`test_logistic.py` copied from the installed scikit-learn, estimators swapped to `jaxl2.sklearn`,
JAX x64 on). Each file's section is rewritten when that file is run; the reasons come from the
`REASONS` table in the script (unclassified failures show their error's first line).
"""


def write_failures(sections: dict[str, str], path: Path = FAILURES_MD) -> None:
    """Replaces the sections of ``path`` for the files run, keeping the others."""
    old = path.read_text() if path.exists() else ""
    body = {}
    for name in FILES:
        match = re.search(f"<!-- begin {name} -->\\n(.*?)<!-- end {name} -->", old, re.S)
        if name in sections:
            body[name] = sections[name].rstrip("\n") + "\n"
        elif match:
            body[name] = match.group(1)
    text = _FAILURES_HEADER
    for name, section in body.items():
        text += f"\n<!-- begin {name} -->\n{section}<!-- end {name} -->\n"
    path.write_text(text)


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
    parser.add_argument(
        "--failures",
        type=Path,
        default=None,
        help="the failures report to update (default: benchmarks/sklearn_upstream_failures.md "
        "for a full run, none with -k)",
    )
    args = parser.parse_args(argv)
    failures = args.failures
    if failures is None and args.keyword is None:
        failures = FAILURES_MD
    sections = {}
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
        sections[name] = failures_markdown(res, ref, args.keyword)
        report[name] = {
            "jaxl2": {k: v for k, v in res.items() if k != "tail"},
            "sklearn": None if ref is None else {k: v for k, v in ref.items() if k != "tail"},
        }
    if args.output is not None:
        args.output.write_text(json.dumps(report, indent=1))
        print(f"wrote {args.output}")
    if failures is not None:
        write_failures(sections, failures)
        print(f"wrote {failures}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
