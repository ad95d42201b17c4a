"""Timing harness shared by every benchmark module.

Rules (after optimistix's benchmarks): compile/warm up first, time with
``jax.block_until_ready``, take the median of several runs, time the peer in the same run and
report the ratio, and record the machine, versions and thread settings with the numbers.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax

RESULTS = Path(__file__).with_name("RESULTS.md")
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "XLA_FLAGS")


def _block(x: Any) -> Any:
    return jax.block_until_ready(x)


def timeit(
    fn: Callable[[], Any], *, repeat: int = 5, warmup: int = 1, min_time: float = 0.0
) -> float:
    """Median wall time in seconds of ``fn()`` (its result is blocked on) after ``warmup`` calls.

    With ``min_time`` > 0, each sample repeats ``fn`` until that much time has passed and
    reports the time per call (for functions that take microseconds).
    """
    for _ in range(warmup):
        _block(fn())
    samples = []
    for _ in range(repeat):
        n, start = 0, time.perf_counter()
        while True:
            _block(fn())
            n += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_time:
                break
        samples.append(elapsed / n)
    return statistics.median(samples)


@dataclass
class Row:
    """One comparison: jaxl2 against a peer, ratio = peer time / jaxl2 time (>1: jaxl2 faster)."""

    case: str
    ours: float
    peer: float
    peer_name: str
    target: str = ""
    passed: bool | None = None
    note: str = ""

    @property
    def speedup(self) -> float:
        return self.peer / self.ours


@dataclass
class Section:
    """A titled block of RESULTS.md: an intro, comparison rows and free-form lines."""

    name: str
    title: str
    intro: str = ""
    rows: list[Row] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        out = [f"## {self.title}", ""]
        if self.intro:
            out += [self.intro.strip(), ""]
        if self.rows:
            out += [
                "| case | jaxl2 | peer | peer time | speed-up (peer / jaxl2) | target | met |",
                "|---|---|---|---|---|---|---|",
            ]
            for r in self.rows:
                met = "" if r.passed is None else ("yes" if r.passed else "**no**")
                out.append(
                    f"| {r.case} | {fmt_time(r.ours)} | {r.peer_name} | {fmt_time(r.peer)} | "
                    f"{r.speedup:.2f}× | {r.target} | {met} |"
                )
            notes = [f"- {r.case}: {r.note}" for r in self.rows if r.note]
            if notes:
                out += [""] + notes
            out.append("")
        out += self.lines
        return "\n".join(out).rstrip() + "\n"


def fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.3f} s"


def _version(pkg: str) -> str:
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
        match = re.search(r"model name\s*:\s*(.+)", text)
        if match:
            return match.group(1).strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> str:
    """Markdown lines: machine, versions, thread settings, JAX devices."""
    versions = ", ".join(
        f"{p} {_version(p)}"
        for p in ("jax", "jaxlib", "optax", "numpy", "scipy", "scikit-learn", "flax", "torch")
    )
    threads = ", ".join(f"{v}={os.environ.get(v, '(unset)')}" for v in THREAD_VARS)
    devices = ", ".join(str(d) for d in jax.devices())
    return "\n".join(
        [
            f"- machine: {_cpu_model()}, {os.cpu_count()} logical cores, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}",
            f"- versions: {versions}",
            f"- threads: {threads}",
            f"- JAX backend: {jax.default_backend()} ({devices}); x64 "
            f"{'on' if jax.config.jax_enable_x64 else 'off'} by default",
        ]
    )


_BEGIN = "<!-- begin:{} -->"
_END = "<!-- end:{} -->"


def write_sections(sections: Sequence[Section], path: Path = RESULTS) -> None:
    """Replaces (or appends) each section of RESULTS.md, keeping the others as they were."""
    text = path.read_text() if path.exists() else ""
    header = (
        "# jaxl2 benchmark results\n\n"
        "Written by `python -m benchmarks` (`make bench`). Each table times jaxl2 and its peer in "
        "the same run (median of several runs after a warm-up); speed-up = peer time / jaxl2 time. "
        "Each section records the machine it was measured on.\n"
    )
    if not text.startswith("# jaxl2 benchmark results"):
        text = header
    for s in sections:
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        body = s.markdown() + f"\nMeasured {stamp} on:\n{machine_info()}\n"
        block = f"{_BEGIN.format(s.name)}\n{body}{_END.format(s.name)}"
        pattern = re.compile(
            re.escape(_BEGIN.format(s.name)) + r".*?" + re.escape(_END.format(s.name)), re.S
        )
        if pattern.search(text):
            text = pattern.sub(lambda _, block=block: block, text)
        else:
            text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text.rstrip() + "\n")
