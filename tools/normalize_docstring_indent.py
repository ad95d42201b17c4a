"""Rewrites Google-style docstring sections to one indentation: entries 4 spaces under the header.

jaxl2's docstrings indent a section's entries 4 spaces below ``Args:``/``Returns:``/... and an
entry's continuation lines 4 more (the Google style guide's form and the majority in the
package); some modules used 2 and 2. This moves such sections to 4 and 4. It only touches
docstring sections, and reports lines that become longer than the limit, to rewrap by hand.

Usage: ``python tools/normalize_docstring_indent.py [--check] FILE...``; ``--check`` lists the
files it would change and exits 1 if there are any.
"""

from __future__ import annotations

import re
import sys

SECTION = re.compile(
    r"^(?P<indent> *)(Args|Arguments|Attributes|Examples?|Methods|Notes?|Raises|References|"
    r"Returns|See Also|Warns|Warnings?|Yields):\s*$"
)
LIMIT = 100


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def normalize(text: str) -> tuple[str, int]:
    """The text with 2-space sections made 4-space, and how many sections changed."""
    lines = text.split("\n")
    changed = 0
    i = 0
    while i < len(lines):
        m = SECTION.match(lines[i])
        if not m:
            i += 1
            continue
        base = len(m.group("indent"))
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        if j == len(lines) or _indent(lines[j]) != base + 2:
            i += 1
            continue
        # Entries move from 2 to 4 spaces; in sections of entries (Args, Raises, ...) their
        # continuation lines move from 4 to 8. Examples and prose move as a block.
        entries = m.group(2) in ("Args", "Arguments", "Attributes", "Methods", "Raises", "Warns")
        k = i + 1
        while k < len(lines) and (not lines[k].strip() or _indent(lines[k]) > base):
            if lines[k].strip():
                deeper = entries and _indent(lines[k]) > base + 2
                lines[k] = ("    " if deeper else "  ") + lines[k]
            k += 1
        changed += 1
        i = k
    return "\n".join(lines), changed


def main(argv: list[str]) -> int:
    check = "--check" in argv
    paths = [a for a in argv if a != "--check"]
    dirty = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        new, changed = normalize(text)
        if not changed:
            continue
        dirty.append(path)
        if check:
            continue
        with open(path, "w", encoding="utf-8") as f:
            f.write(new)
        for n, line in enumerate(new.split("\n"), 1):
            if len(line) > LIMIT:
                print(f"{path}:{n}: {len(line)} characters; rewrap by hand")
    if check and dirty:
        print("2-space docstring sections in:", *dirty, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
