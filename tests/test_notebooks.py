"""Every notebook runs top to bottom at the small size (``JAXL2_NOTEBOOK_SIZE=small``).

Each notebook runs in its own kernel through ``notebooks/run_notebooks.py``; the kernels of the
selected notebooks start together, a few at a time (see ``tests/_concurrent.py``).
"""

import sys
from pathlib import Path

import pytest

from tests._concurrent import Children, selected

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def executed(request, tmp_path_factory):
    out = tmp_path_factory.mktemp("executed")

    def command(path):
        args = [sys.executable, str(ROOT / "notebooks" / "run_notebooks.py"), str(path)]
        args += ["--size", "small", "--timeout", "600", "--output-dir", str(out)]
        return {"args": args, "cwd": ROOT, "capture_output": True, "text": True, "timeout": 900}

    children = Children(selected(request, "path"), command)
    yield lambda path: (children.result(path), out / path.name)
    children.close()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, executed):
    import nbformat

    proc, written = executed(path)
    assert proc.returncode == 0, (
        f"{path.name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    )
    nb = nbformat.read(written, as_version=4)
    errors = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors
    ran = [c.get("execution_count") for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    assert all(ran), f"{path.name}: a code cell did not run"


def test_notebooks_are_committed_without_outputs():
    import nbformat

    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.get("outputs"), f"{path.name} is committed with outputs"
