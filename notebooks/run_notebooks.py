"""Executes the notebooks top to bottom with nbclient, failing on the first error.

    python notebooks/run_notebooks.py [NOTEBOOK ...] [--size small|full] [--output-dir DIR]

``--size`` sets ``JAXL2_NOTEBOOK_SIZE`` for the kernels (the notebooks read it: ``small`` is what
the test suite runs, ``full`` what ``make notebooks`` runs). ``--output-dir`` writes the executed
notebooks, with their outputs, there (``make notebooks`` uses ``notebooks/executed/``, which git
ignores: the notebooks in git keep no outputs). The notebooks save their figures as PNG files
under ``notebooks/figures/`` themselves.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def execute(path: Path, size: str = "small", timeout: int = 600, output_dir: Path | None = None):
    """Runs one notebook in a fresh kernel whose working directory is ``notebooks/``."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    env_before = os.environ.get("JAXL2_NOTEBOOK_SIZE")
    os.environ["JAXL2_NOTEBOOK_SIZE"] = size
    os.environ.setdefault("MPLBACKEND", "Agg")
    # The kernel must import this checkout's jaxl2 even when it is not installed.
    root = str(HERE.parent)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (root, os.environ.get("PYTHONPATH", "")) if p
    )
    try:
        client = NotebookClient(
            nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}
        )
        client.execute()
    finally:
        if env_before is None:
            os.environ.pop("JAXL2_NOTEBOOK_SIZE", None)
        else:
            os.environ["JAXL2_NOTEBOOK_SIZE"] = env_before
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, output_dir / path.name)
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--size", choices=("small", "full"), default="full")
    parser.add_argument("--output-dir", type=Path, default=None)
    parser.add_argument("--timeout", type=int, default=1800)
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(HERE.glob("*.ipynb"))
    if not paths:
        print("no notebooks found")
        return 0
    for path in paths:
        start = time.perf_counter()
        execute(path, size=args.size, timeout=args.timeout, output_dir=args.output_dir)
        print(f"{path.name}: ok ({time.perf_counter() - start:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
