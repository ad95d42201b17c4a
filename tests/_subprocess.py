"""Runs a test script in a child Python with several faked XLA:CPU devices.

XLA reads ``--xla_force_host_platform_device_count`` once, when its CPU client starts, so a
test that needs several devices runs its script in a fresh process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_on_faked_devices(
    script: str, marker: str, *, devices: int = 4, python_args: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """Runs ``script`` with ``devices`` faked CPU devices (repository root on the path) and
    asserts that it exits 0 and prints ``marker`` (the child's output tails are the message);
    returns the finished process."""
    env = {
        **os.environ,
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.run(
        [sys.executable, *python_args, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert marker in proc.stdout
    return proc


def run_or_fail(script: str, *, timeout: int, what: str) -> subprocess.CompletedProcess[str]:
    """Runs ``script`` in a child Python (repository root first on the path) and fails the
    test, naming ``what``, if the child runs past ``timeout`` seconds (it is killed: a deadlock
    fails the test instead of hanging the suite) or exits non-zero; returns the finished
    process."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    try:
        proc = subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{what} did not finish in {timeout} s (deadlock?)")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc
