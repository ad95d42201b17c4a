"""Command line: ``python -m jaxl2 demo``, ``... sweep`` and ``... ridge`` (see ``--help``)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Runs the ``jaxl2`` command line (the ``jaxl2`` console script); see :mod:`jaxl2.cli`."""
    from .cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
