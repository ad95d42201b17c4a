"""The documentation site builds with ``mkdocs build --strict`` (as ``make docs`` does) and holds what
it is for: every public name in the API reference, the notebooks with their committed figures, the
README as the guide, and the current ``benchmarks/RESULTS.md``.

Skipped when the ``docs`` extra (mkdocs-material, mkdocstrings[python], mkdocs-jupyter) is not
installed. One build (about 25 s of CPU) serves every test here.
"""

import base64
import html
import importlib
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

for _module in (
    "mkdocs",
    "material",
    "mkdocstrings",
    "mkdocstrings_handlers.python",
    "mkdocs_jupyter",
):
    pytest.importorskip(_module)

import jaxl2  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAVE = re.compile(r"""\bsave\(\s*\w+\s*,\s*["']([^"']+\.png)["']\s*\)""")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site_dir = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stderr[-5000:]}"
    return site_dir


def _text(page: Path) -> str:
    """The visible text of an HTML page, tags removed, entities unescaped, without whitespace
    (so inline markup such as ``<code>x</code>,`` cannot change the spacing that is compared)."""
    raw = page.read_text(encoding="utf-8")
    raw = re.sub(r"<(script|style)\b.*?</\1>", " ", raw, flags=re.S)
    return "".join(html.unescape(re.sub(r"<[^>]+>", " ", raw)).split())


def _plain(markdown: str) -> str:
    """A line of markdown as the text a reader sees (code, emphasis and links unwrapped), without
    whitespace, as ``_text`` gives it."""
    markdown = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", markdown)
    return "".join(markdown.replace("`", "").replace("**", "").split())


def test_api_reference_documents_every_public_name(site):
    pages = sorted((site / "api").glob("*.html"))
    assert pages, "no API pages were written"
    api_html = "".join(p.read_text(encoding="utf-8") for p in pages)
    anchors = set(re.findall(r'id="(jaxl2\.\w+)"', api_html))
    missing = [name for name in jaxl2.__all__ if f"jaxl2.{name}" not in anchors]
    assert not missing, f"names in jaxl2.__all__ without an API entry: {missing}"
    # Each public submodule has its own page documenting every name of its __all__.
    for module in ("masks", "prox", "convert", "sklearn"):
        page = (site / "api" / f"{module}.html").read_text(encoding="utf-8")
        names = importlib.import_module(f"jaxl2.{module}").__all__
        missing = [name for name in names if f'id="jaxl2.{module}.{name}"' not in page]
        assert not missing, f"jaxl2.{module}: names without an API entry: {missing}"
    # Docstrings render as sections (a parsed Args table), not as raw text.
    l2_page = _text(site / "api" / "penalties.html")
    assert "Parameters:" in l2_page and "Returns:" in l2_page


def test_notebooks_render_with_their_committed_figures(site):
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    with_figures = 0
    for path in notebooks:
        page = site / "notebooks" / f"{path.stem}.html"
        assert page.is_file(), f"{path.name} has no page"
        body = page.read_text(encoding="utf-8")
        source = "".join(
            "".join(c["source"]) for c in json.loads(path.read_text(encoding="utf-8"))["cells"]
        )
        for name in SAVE.findall(source):
            png = ROOT / "notebooks" / "figures" / name
            if png.is_file():
                data = base64.b64encode(png.read_bytes()).decode("ascii")
                assert re.search(r'<img[^>]+src="data:image/png;base64,' + re.escape(data), body), (
                    f"{path.name}: figure {name} is not an <img> of the page"
                )
                with_figures += 1
    assert with_figures >= 1


def test_guide_and_convention_pages_come_from_the_readme(site):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    home = _text(site / "index.html")
    for heading in re.findall(r"^## (.+)$", readme, re.M):
        assert _plain(heading) in home, heading
    # The README's links to notebooks lead to their rendered pages.
    for stem in re.findall(r"\]\(notebooks/(\w+)\.ipynb\)", readme):
        assert f'href="notebooks/{stem}.html"' in (site / "index.html").read_text(encoding="utf-8")
    convention = _text(site / "convention.html")
    section = re.search(r"^## One λ convention\n(.*?)^## ", readme, re.M | re.S).group(1)
    first_row = next(line for line in section.splitlines() if line.startswith("| `l2("))
    for cell in first_row.strip("|").split("|"):
        assert _plain(cell.replace("\\|", "|")) in convention, cell


def test_results_page_is_the_current_results_file(site):
    results = (ROOT / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8")
    page = _text(site / "benchmarks" / "RESULTS.html")
    headings = re.findall(r"^##+ (.+)$", results, re.M)
    assert headings
    for heading in headings:
        assert _plain(heading) in page, heading
    rows = [line for line in results.splitlines() if line.startswith("| ") and "---" not in line]
    assert rows
    for cell in rows[-1].strip("|").split("|"):
        assert _plain(cell) in page, (rows[-1], cell)


def _docstrings_extension():
    spec = importlib.util.spec_from_file_location(
        "griffe_docstrings", ROOT / "docs" / "griffe_docstrings.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_grouped_args_are_split_per_name_and_still_checked_against_the_signature(caplog):
    griffe = pytest.importorskip("griffe")
    ext = _docstrings_extension()
    text = (
        "Sum.\n\nArgs:\n    a, b: shared\n        more.\n    c: own.\n\nReturns:\n    x, y: kept."
    )
    assert ext.expand_grouped_args(text) == (
        "Sum.\n\nArgs:\n    a: shared\n        more.\n    b: shared\n        more.\n"
        "    c: own.\n\nReturns:\n    x, y: kept."
    )
    code = (
        "def f(a, b, c):\n"
        '    """Sum.\n\n    Args:\n        a, bb: shared (bb is misspelt).\n        c: own.\n    """\n'
    )
    extensions = griffe.load_extensions(ext.Docstrings())
    with griffe.temporary_pypackage("grouped_pkg", {"__init__.py": code}) as package:
        loaded = griffe.load("grouped_pkg", search_paths=[package.tmpdir], extensions=extensions)
        with caplog.at_level("WARNING"):
            sections = loaded["f"].docstring.parse("google", warn_missing_types=False)
    params = [p.name for s in sections if s.kind.value == "parameters" for p in s.value]
    assert params == ["a", "bb", "c"]
    assert "Parameter 'bb' does not appear in the function signature" in caplog.text
    assert "'a'" not in caplog.text and "'c'" not in caplog.text


def test_rst_math_roles_and_literal_markers_become_markdown():
    pytest.importorskip("griffe")
    ext = _docstrings_extension()
    text = (
        "Minimizes\n\n.. math:: F(w) = \\sum_i x_i\n    + \\lambda w\n\nwith :func:`jaxl2.ridge`."
        "\nIn a script::\n\n    x = 1"
    )
    assert ext.convert_rst(text) == (
        "Minimizes\n\n$$\nF(w) = \\sum_i x_i\n+ \\lambda w\n$$\n\nwith `jaxl2.ridge`."
        "\nIn a script:\n\n    x = 1"
    )
