"""benchmarks/sklearn_upstream.py: the failures report it writes (no pytest run here)."""

from __future__ import annotations

from benchmarks import sklearn_upstream as up


def _result(file, passing, failing, messages, timed_out=False):
    return {
        "file": file,
        "swapped": ["LogisticRegression"],
        "passed": len(passing),
        "failed": len(failing),
        "error": 0,
        "skipped": 3,
        "passing": passing,
        "failing": failing,
        "messages": messages,
        "timed_out": timed_out,
        "returncode": 1,
    }


def test_failures_markdown_classifies_and_keeps_unknown_messages():
    res = _result(
        "test_logistic.py",
        ["test_logistic::test_a"],
        [
            "test_logistic::test_logistic_regression_callback_support[0]",
            "test_logistic::test_new_thing[x]",
            "test_logistic::test_shared[1]",
        ],
        {"test_logistic::test_new_thing[x]": "AssertionError: a | b differ"},
    )
    ref = _result(
        "test_logistic.py",
        [
            "test_logistic::test_a",
            "test_logistic::test_logistic_regression_callback_support[0]",
            "test_logistic::test_new_thing[x]",
        ],
        ["test_logistic::test_shared[1]"],  # scikit-learn fails it too: not listed
        {},
    )
    text = up.failures_markdown(res, ref)
    assert "## test_logistic.py: 1 of the 3 tests scikit-learn itself passes (33.3%)" in text
    assert "| `test_logistic_regression_callback_support[0]` | not implemented |" in text
    assert "| `test_new_thing[x]` | unclassified | `AssertionError: a \\| b differ` |" in text
    assert "test_shared" not in text
    assert up.classify("test_logistic::test_liblinear_dual_random_state[42]")[0] == "by design"
    assert up.classify("test_ridge::test_something_new") is None
    assert up.failures_markdown(res, ref, "l1").startswith("## test_logistic.py (subset -k 'l1'):")


def test_parse_verbose_reads_the_summary_messages():
    log = "\n".join(
        [
            "test_ridge.py::test_a[1] PASSED [ 50%]",
            "test_ridge.py::test_b[2] FAILED [100%]",
            "FAILED test_ridge.py::test_b[2] - ValueError: bad alpha",
        ]
    )
    res = up._parse_verbose(log)
    assert res["passed"] == 1 and res["failing"] == ["test_ridge::test_b[2]"]
    assert res["messages"] == {"test_ridge::test_b[2]": "ValueError: bad alpha"}


def test_write_failures_replaces_only_the_sections_run(tmp_path):
    path = tmp_path / "failures.md"
    ridge = _result("test_ridge.py", ["test_ridge::t"], [], {}, timed_out=True)
    up.write_failures({"ridge": up.failures_markdown(ridge, None)}, path)
    first = path.read_text()
    assert "## test_ridge.py: 1 of 1 run pass (100.0%)" in first and "TIMED OUT" in first
    logistic = _result("test_logistic.py", [], ["test_logistic::test_x"], {})
    up.write_failures({"logistic": up.failures_markdown(logistic, None)}, path)
    both = path.read_text()
    assert both.startswith("# scikit-learn's own tests against `jaxl2.sklearn`")
    assert "## test_ridge.py: 1 of 1 run pass" in both  # kept
    assert "| `test_x` | unclassified | `(no message)` |" in both
    up.write_failures({"ridge": up.failures_markdown({**ridge, "timed_out": False}, None)}, path)
    again = path.read_text()
    assert "TIMED OUT" not in again and "| `test_x` |" in again
    assert again.count("<!-- begin ridge -->") == 1
