"""The benchmark harness runs end to end at tiny sizes (it measures nothing meaningful here)."""

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.__main__ import available

ROOT = Path(__file__).resolve().parents[1]


# Two representative benchmarks run in the default suite; the rest (each a minute or more of
# compilation on 2 cores) run with JAXL2_SLOW=1 / `make test-all`.
_DEFAULT = {"transforms", "trainer"}


@pytest.mark.parametrize(
    "name",
    [n if n in _DEFAULT else pytest.param(n, marks=pytest.mark.slow) for n in available()],
)
def test_benchmark_runs_quick(name, tmp_path):
    out = tmp_path / "RESULTS.md"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", name, "--quick", "--output", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = out.read_text()
    assert "<!-- begin:" in text and "speed-up" in text
