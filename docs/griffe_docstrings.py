"""A Griffe extension for the API reference: grouped ``Args`` entries and reStructuredText bits.

jaxl2's docstrings document parameters that share a description on one line, as numpydoc does
(``b1, b2, eps: as in optax.adam.``). Google style, as Griffe parses it, has one name per entry, so
without this each such line is an unknown parameter named ``"b1, b2, eps"`` (a warning that fails
``mkdocs build --strict``). Before a docstring is parsed, this rewrites a grouped entry of an
``Args``-like section into one entry per name with the shared description, so each name is still
checked against the signature (a misspelt or removed parameter still fails the build) and gets its
own row, type and default. It also turns Sphinx roles (``:func:`x` ``) into code spans, a
``.. math::`` directive into a ``$$`` block (rendered by MathJax through pymdownx.arithmatex), a
literal-block ``::`` at the end of a line into ``:``, and reads
``name.__doc__ = "..."`` assignments at module level (``jaxl2.masks.weights`` is a ``Mask`` instance
documented that way) as the docstring of ``name``. Only the rendered reference changes; the source
docstrings are untouched.
"""

from __future__ import annotations

import ast
import inspect
import re
from typing import Any

import griffe

_ARG_SECTIONS = {
    "args",
    "arguments",
    "params",
    "parameters",
    "keyword args",
    "keyword arguments",
    "other args",
    "other arguments",
    "other params",
    "other parameters",
}
_SECTION = re.compile(r"^(\s*)([A-Za-z][A-Za-z ]*):\s*$")
_GROUPED = re.compile(r"^(\s*)(\*{0,2}\w+(?:\s*,\s*\*{0,2}\w+)+)(\s*\([^)]*\))?:(.*)$")
_MATH = re.compile(r"^(\s*)\.\. math::\s*(.*)$")
_ROLE = re.compile(r":(?:py:)?(?:func|meth|class|mod|attr|obj|data|exc|const):`~?([^`]+)`")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _block_end(lines: list[str], start: int, indent: int) -> int:
    """Index after the lines from ``start`` indented deeper than ``indent`` (inner blanks kept)."""
    j = start
    while j < len(lines) and (not lines[j].strip() or _indent(lines[j]) > indent):
        if not lines[j].strip() and (j + 1 >= len(lines) or _indent(lines[j + 1]) <= indent):
            break
        j += 1
    return j


def expand_grouped_args(text: str) -> str:
    """Returns ``text`` with each grouped entry of an Args-like section split into one per name."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    section_indent: int | None = None  # indent of the current Args-like header, if inside one
    entry_indent: int | None = None
    while i < len(lines):
        line = lines[i]
        header = _SECTION.match(line)
        if line.strip() and section_indent is not None and _indent(line) <= section_indent:
            section_indent = entry_indent = None
        if header and header.group(2).strip().lower() in _ARG_SECTIONS:
            section_indent, entry_indent = _indent(line), None
            out.append(line)
            i += 1
            continue
        if section_indent is not None and line.strip():
            if entry_indent is None:
                entry_indent = _indent(line)
            grouped = _GROUPED.match(line) if _indent(line) == entry_indent else None
            if grouped:
                j = _block_end(lines, i + 1, entry_indent)
                continuation = lines[i + 1 : j]
                indent, names, kind, rest = grouped.groups()
                for name in names.split(","):
                    out.append(f"{indent}{name.strip()}{kind or ''}:{rest}")
                    out.extend(continuation)
                i = j
                continue
        out.append(line)
        i += 1
    return "\n".join(out)


def convert_rst(text: str) -> str:
    """``.. math::`` blocks to ``$$`` blocks, ``::`` line ends to ``:``, Sphinx roles to code."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        math = _MATH.match(lines[i])
        if not math:
            line = lines[i]
            out.append(line[:-1] if line.endswith("::") and not line.strip() == "::" else line)
            i += 1
            continue
        indent, first = math.groups()
        end = _block_end(lines, i + 1, len(indent))
        body = [b.strip() for b in [first, *lines[i + 1 : end]] if b.strip()]
        i = end
        if out and out[-1].strip():
            out.append("")
        out += [f"{indent}$$", *(f"{indent}{b}" for b in body), f"{indent}$$"]
        if i < len(lines) and lines[i].strip():
            out.append("")
    return _ROLE.sub(r"`\1`", "\n".join(out))


class Docstrings(griffe.Extension):
    """Rewrites every docstring of the loaded package before it is parsed (see the module)."""

    def on_module_members(self, *, node: Any, mod: griffe.Module, **kwargs: Any) -> None:
        if not isinstance(node, ast.Module):
            return
        for stmt in node.body:
            if not (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and isinstance(target := stmt.targets[0], ast.Attribute)
                and target.attr == "__doc__"
                and isinstance(target.value, ast.Name)
                and isinstance(stmt.value, ast.Constant)
                and isinstance(stmt.value.value, str)
            ):
                continue
            member = mod.members.get(target.value.id)
            if member is not None and not member.is_alias and member.docstring is None:
                member.docstring = griffe.Docstring(
                    inspect.cleandoc(stmt.value.value),
                    lineno=stmt.value.lineno,
                    endlineno=stmt.value.end_lineno,
                    parent=member,
                )

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        docstring = obj.docstring
        if docstring is not None and docstring.value:
            docstring.value = convert_rst(expand_grouped_args(docstring.value))
