"""Runs the benchmarks and writes benchmarks/RESULTS.md.

Each module ``benchmarks/bench_<name>.py`` defines ``run(quick: bool) -> list[Section]``.
``python -m benchmarks`` runs them all; ``python -m benchmarks ridge sweep`` runs some;
``--quick`` uses tiny sizes (the test suite runs that to keep the harness working) and
``--output`` writes somewhere other than benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from pathlib import Path

from benchmarks._harness import RESULTS, write_sections


def available() -> list[str]:
    here = Path(__file__).parent
    return sorted(
        m.name[len("bench_") :]
        for m in pkgutil.iter_modules([str(here)])
        if m.name.startswith("bench_")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "names", nargs="*", help=f"benchmarks to run (default: all of {available()})"
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the harness only")
    parser.add_argument("--output", type=Path, default=RESULTS, help="markdown file to update")
    args = parser.parse_args(argv)
    names = args.names or available()
    unknown = sorted(set(names) - set(available()))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; available: {available()}")
    for name in names:
        module = importlib.import_module(f"benchmarks.bench_{name}")
        print(f"== {name} ==", flush=True)
        sections = module.run(quick=args.quick)
        for s in sections:
            print(s.markdown(), flush=True)
        write_sections(sections, args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
