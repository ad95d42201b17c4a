"""MkDocs hooks: the site is built from the repository's own files, read at build time.

Nothing here is a copy kept by hand. On every build this hook

- serves ``README.md`` as the home page (the guide), ``CHANGELOG.md`` and ``benchmarks/RESULTS.md``
  at their repository paths, so the README's relative links resolve unchanged;
- writes one API page per group of ``jaxl2.__all__`` (the groups are the ``# comment`` lines of the
  ``__all__`` list in ``jaxl2/__init__.py``) with a mkdocstrings block per name, and one page per
  public submodule (``jaxl2.masks``, ``jaxl2.prox``, ``jaxl2.convert``, ``jaxl2.sklearn``); a name
  added to ``__all__`` appears in the reference without editing the docs;
- serves the notebooks in ``notebooks/`` through mkdocs-jupyter without executing them. The
  notebooks are committed without outputs (``tests/test_notebooks.py`` checks it); the figures each
  one saves with ``save(fig, "NAME.png")`` on a full-size run (``make notebooks``) are committed
  under ``notebooks/figures/``, and this hook attaches each as the ``image/png`` output of the cell
  that saves it;
- replaces ``<!-- readme-section: TITLE -->`` in a page with the README's ``## TITLE`` section;
- in the pages read from the repository, turns a relative link to a repository file that is not
  part of the site (a script under ``examples/``, a module) into its plain text. A link to a path
  that exists nowhere still fails ``--strict``.
"""

from __future__ import annotations

import ast
import base64
import json
import posixpath
import re
import shutil
import tempfile
from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
SUBMODULES = ("masks", "prox", "convert", "sklearn")
_SAVE = re.compile(r"""\bsave\(\s*\w+\s*,\s*["']([^"']+\.png)["']\s*\)""")
_SECTION = re.compile(r"<!--\s*readme-section:\s*(.+?)\s*-->")
_LINK = re.compile(r"(?<![!\]])\[([^\]]+)\]\(([^)\s]+)\)")
# Pages served from repository files: site path -> repository path.
_FROM_REPO = {
    "index.md": "README.md",
    "CHANGELOG.md": "CHANGELOG.md",
    "benchmarks/RESULTS.md": "benchmarks/RESULTS.md",
}

_tmpdir: Path | None = None


def public_groups(init: Path = ROOT / "jaxl2" / "__init__.py") -> list[tuple[str, list[str]]]:
    """``[(group title, [names])]`` from the ``__all__`` list of ``jaxl2/__init__.py``.

    The titles are the ``# comment`` lines inside the list; names before the first comment go in a
    group called "API". Read from the source text (nothing is imported), and checked against the
    ``__all__`` that ``ast`` evaluates, so a name can never be left out.
    """
    source = init.read_text(encoding="utf-8")
    tree = ast.parse(source)
    names: list[str] | None = None
    node = None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            names = list(ast.literal_eval(node.value))
            break
    if names is None or node is None:
        raise RuntimeError(f"no __all__ list in {init}")
    lines = source.splitlines()[node.lineno - 1 : node.end_lineno]
    groups: list[tuple[str, list[str]]] = []
    seen: set[str] = set()
    for line in lines:
        comment = re.match(r"\s*#\s*(.+)", line)
        if comment:
            groups.append((comment.group(1).strip(), []))
            continue
        for name in re.findall(r"""["']([A-Za-z_][A-Za-z0-9_]*)["']""", line):
            if not groups:
                groups.append(("API", []))
            groups[-1][1].append(name)
            seen.add(name)
    missing = [n for n in names if n not in seen]
    if missing:
        groups.append(("Other", missing))
    return [(title, members) for title, members in groups if members]


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def _api_pages() -> list[tuple[str, str, str]]:
    """``[(nav title, src_uri, markdown)]`` for the API reference."""
    pages = []
    overview = [
        "# API reference\n",
        "Every public name is imported from `jaxl2` (`import jaxl2`); modules whose names start "
        "with `_` are private. Each docstring writes out its objective or update rule in the "
        "[λ convention](../convention.md): `data term + λ · penalty`.\n",
    ]
    for title, names in public_groups():
        names = [name for name in names if name not in SUBMODULES]  # they have their own pages
        if not names:
            continue
        heading = title[:1].upper() + title[1:]
        body = [f"# {heading}\n", *(f"::: jaxl2.{name}\n" for name in names)]
        pages.append((heading, f"api/{_slug(title)}.md", "\n".join(body)))
        links = ", ".join(f"[`{n}`][jaxl2.{n}]" for n in names)
        overview.append(f"- [{heading}]({_slug(title)}.md): {links}")
    overview.append("\nSubmodules:\n")
    for mod in SUBMODULES:
        uri = f"api/{mod}.md"
        body = f"# `jaxl2.{mod}`\n\n::: jaxl2.{mod}\n    options:\n      show_root_heading: false\n"
        pages.append((f"jaxl2.{mod}", uri, body))
        overview.append(f"- [`jaxl2.{mod}`]({mod}.md)")
    pages.insert(0, ("Overview", "api/index.md", "\n".join(overview) + "\n"))
    return pages


def _notebook_with_figures(path: Path, out_dir: Path) -> None:
    """Writes a copy of ``path`` whose saving cells carry their committed figures as outputs."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        for name in _SAVE.findall(source):
            png = path.parent / "figures" / name
            if png.is_file():
                cell.setdefault("outputs", []).append(
                    {
                        "output_type": "display_data",
                        "metadata": {},
                        "data": {
                            "image/png": base64.b64encode(png.read_bytes()).decode("ascii"),
                            "text/plain": [f"<figure saved as notebooks/figures/{name}>"],
                        },
                    }
                )
    (out_dir / path.name).write_text(json.dumps(nb), encoding="utf-8")


def on_config(config):
    """The navigation: home, convention, notebooks, API groups, benchmarks, changelog."""
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    config["nav"] = [
        {"Guide": "index.md"},
        {"λ convention": "convention.md"},
        {"Notebooks": [{p.stem: f"notebooks/{p.name}"} for p in notebooks]},
        {"API reference": [{title: uri} for title, uri, _ in _api_pages()]},
        {"Benchmarks": "benchmarks/RESULTS.md"},
        {"Changelog": "CHANGELOG.md"},
    ]
    return config


@event_priority(100)  # before mkdocs-jupyter wraps the notebook files
def on_files(files: Files, config) -> Files:
    global _tmpdir
    if _tmpdir is not None:
        shutil.rmtree(_tmpdir, ignore_errors=True)
    _tmpdir = Path(tempfile.mkdtemp(prefix="jaxl2-docs-"))

    def add(uri: str, path: Path | None = None, content: str | None = None) -> None:
        if path is not None:
            files.append(File.generated(config, uri, abs_src_path=str(path)))
        else:
            files.append(File.generated(config, uri, content=content))

    for uri, repo_path in _FROM_REPO.items():
        add(uri, ROOT / repo_path)
    for png in sorted((ROOT / "notebooks" / "figures").glob("*.png")):
        add(f"notebooks/figures/{png.name}", png)
    # A real source directory (not File.generated) for the notebooks: mkdocs-jupyter's wrapper
    # finds a file's path from its src_dir.
    (_tmpdir / "notebooks").mkdir()
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        _notebook_with_figures(nb, _tmpdir / "notebooks")
        files.append(
            File(
                f"notebooks/{nb.name}",
                src_dir=str(_tmpdir),
                dest_dir=config["site_dir"],
                use_directory_urls=config["use_directory_urls"],
            )
        )
    for _, uri, markdown in _api_pages():
        add(uri, content=markdown)
    return files


def _readme_section(title: str) -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", readme, re.M | re.S)
    if match is None:
        raise RuntimeError(f"README.md has no section '## {title}'")
    return match.group(1).strip() + "\n"


def _unlink_repo_files(markdown: str, src_uri: str, files: Files) -> str:
    """Replaces ``[text](target)`` by ``text`` where target is a repository file off the site."""
    repo_dir = posixpath.dirname(_FROM_REPO[src_uri])

    def replace(match: re.Match) -> str:
        target = match.group(2).split("#", 1)[0]
        if not target or re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("/"):
            return match.group(0)
        site_path = posixpath.normpath(posixpath.join(posixpath.dirname(src_uri), target))
        if files.get_file_from_path(site_path) is not None:
            return match.group(0)
        if (ROOT / posixpath.normpath(posixpath.join(repo_dir, target))).exists():
            return match.group(1)
        return match.group(0)

    return _LINK.sub(replace, markdown)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if page.file.src_uri in _FROM_REPO:
        markdown = _unlink_repo_files(markdown, page.file.src_uri, files)
    return _SECTION.sub(lambda m: _readme_section(m.group(1)), markdown)


def _cleanup(*_args, **_kwargs) -> None:
    global _tmpdir
    if _tmpdir is not None:
        shutil.rmtree(_tmpdir, ignore_errors=True)
        _tmpdir = None


on_post_build = _cleanup
on_build_error = _cleanup
on_shutdown = _cleanup
