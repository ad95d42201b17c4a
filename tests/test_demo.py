"""`python -m jaxl2 demo` runs at a small size and prints its table."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_demo_prints_table(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "jaxl2", "demo", "--steps", "20"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for row in ("no decay", "Adam + L2", "AdamW", "val acc"):
        assert row in proc.stdout
