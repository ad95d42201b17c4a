"""Docstrings that stay true: one section layout, and no machine-specific timings in the API.

Timings depend on the machine, its load and the versions installed; they belong in
``benchmarks/RESULTS.md``, recorded with the machine, and the API docstrings point there.
"""

import importlib
import inspect
import pathlib
import re
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from normalize_docstring_indent import normalize  # noqa: E402

MODULES = ("jaxl2", "jaxl2.sklearn", "jaxl2.masks", "jaxl2.prox", "jaxl2.convert")
# A figure that only holds on one machine: a duration, a throughput or a speed ratio.
TIMING = re.compile(
    r"\d\s?(ms|µs|us)\b|\d(\.\d+)?\s?s (on|against|per|for)\b|\d(\.\d+)?\s?seconds?\b|[GMT]FLOP/?s\b"
    r"|\d(\.\d+)?\s?[×x] (faster|slower|the)\b|\btimes (faster|slower)\b",
)


def _sources():
    # The command line is being split into jaxl2/cli/ (issue 13 item 5); it joins after that.
    for path in sorted((ROOT / "jaxl2").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel == "jaxl2/_cli.py" or rel.startswith("jaxl2/cli/"):
            continue
        yield rel, path


def _public_docstrings():
    for modname in MODULES:
        module = importlib.import_module(modname)
        yield modname, module.__doc__ or ""
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.ismodule(obj):
                continue
            yield f"{modname}.{name}", inspect.getdoc(obj) or ""
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if not attr.startswith("_") and callable(member):
                        yield f"{modname}.{name}.{attr}", inspect.getdoc(member) or ""


def test_docstring_sections_use_four_space_entries():
    two_space = [rel for rel, path in _sources() if normalize(path.read_text("utf-8"))[1]]
    assert not two_space, (
        f"docstring sections indented by 2 in {two_space}; "
        "run python tools/normalize_docstring_indent.py on them"
    )


def test_api_docstrings_quote_no_timings():
    pytest.importorskip("sklearn")
    found = [
        f"{name}: {m.group(0)!r}"
        for name, doc in _public_docstrings()
        for m in [TIMING.search(doc)]
        if m
    ]
    assert not found, (
        f"machine-specific timings in API docstrings (move them to RESULTS.md): {found}"
    )


def test_timing_pattern_catches_what_it_is_for():
    for text in (
        "ran 1.36× faster",
        "3.6 s against 4.9 s",
        "12 ms per step",
        "3 GFLOP/s",
        "2.5 seconds",
    ):
        assert TIMING.search(text), text
    for text in ("an (n × p) matrix", "1e-8 in float64", "second moment", "wall seconds"):
        assert not TIMING.search(text), text
