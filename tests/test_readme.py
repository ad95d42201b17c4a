"""Every ```python block of README.md runs (each in a fresh namespace, in a subprocess so that
figures, x64 flags or device settings in one block cannot leak into the suite)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def test_readme_has_examples():
    assert len(BLOCKS) >= 1


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(index, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", BLOCKS[index]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env={**__import__("os").environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, (
        f"README block {index} failed:\n{BLOCKS[index]}\n{proc.stderr[-3000:]}"
    )
