"""How ``strategy="auto"`` chooses on CPU: XLA's cost analysis, decisions remembered in memory and
on disk, and a timed probe on real members. On accelerators ``sweep`` vectorizes without asking."""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh

from .checkpoint import _atomic_write
from .util import backend as _backend
from .util import cache_get as _cache_get
from .util import from_process_0 as _from_process_0
from .util import mesh_size as _mesh_size
from .util import multi as _multi
from .util import new_cache
from .util import round_up as _round_up

KINDS = ("none", "loop", "map", "vmap")  # codes broadcast between processes
# "auto" on CPU first reads XLA's cost analysis of one member's program (loops counted once:
# for a training loop, about one step). Up to VMAP_FLOPS per step, per-operation overhead
# dominates and vectorizing the members wins (logistic regression on digits: 4.8 MFLOP, vmap
# 2-3.4x the loop); from LOOP_FLOPS on, each member's products keep the cores busy alone and
# the loop wins (MLP 64-128-10 on digits: 75 MFLOP, vmap 0.6-0.86x). In between, it times.
VMAP_FLOPS = 1.5e7
LOOP_FLOPS = 5e7
# The timed probe stops when the members left would take less than this many compilations.
PROBE_STOP = 0.2
# ... and prefers the per-member loop unless another strategy is this much faster per member.
PROBE_MARGIN = 0.05
# While the other candidates compile, the loop runs members (kept) instead of waiting.
OVERLAP = True
# Decisions remembered on disk per machine (most recent first).
MEMORY_SIZE = 512
# (fn, shapes, mesh, width, backend) -> the strategy "auto" measured best.
_decisions = new_cache()


def _decision_key(state: Any, mesh: Mesh | None, width: int) -> Any:
    member = jax.tree.map(lambda x: (x.shape[1:], str(x.dtype)), state.h)
    args = [(x.shape, str(np.dtype(x.dtype))) for x in state.dynamic]
    return (
        state.fn,
        state.static,
        str(jax.tree.structure(state.h)),
        str(member),
        str(args),
        state.K,
        mesh,
        width,
        _backend(),
    )


def _member_flops(state: Any) -> float | None:
    """Floating-point operations of one member's program, loops counted once (so, for a
    training loop written with ``lax.scan``, about one step), from XLA's cost analysis of the
    lowered, not yet compiled, program: no compilation is spent on it."""
    try:
        analysis = _lowered(state).cost_analysis()
    except Exception:  # a backend without cost analysis: decide by timing instead
        return None
    if isinstance(analysis, (list, tuple)):  # older jax returned one dict per program
        analysis = analysis[0] if analysis else None
    flops = (analysis or {}).get("flops")
    return float(flops) if flops is not None and flops >= 0 else None


def _lowered(state: Any) -> Any:
    if state.lowered is None:
        state.lowered = state.traced.lower()
    return state.lowered


def _by_cost(flops: float | None, D: int) -> str | None:
    if flops is None:
        return None
    if flops <= VMAP_FLOPS:
        return "vmap"
    if flops >= LOOP_FLOPS:
        return "loop" if D == 1 else "map"
    return None


def _memory_file() -> str | None:
    from .devices import _env_off, cache_home, machine_id

    home = cache_home()
    if home is None or _env_off("JAXL2_AUTO_CACHE"):
        return None
    return os.path.join(home, "auto", f"{machine_id()}.json")


def _program_digest(state: Any, mesh: Mesh | None, width: int) -> str:
    """What identifies a decision across processes: the member program's text, K, the width
    and the devices (the machine is the memory file's name)."""
    text = _lowered(state).as_text()
    layout = None if mesh is None else (mesh.axis_names, mesh.devices.shape)
    extra = repr((state.K, width, layout, _backend(), jax.process_count()))
    return hashlib.sha256((text + extra).encode()).hexdigest()[:24]


def _remembered(path: str | None, digest: str) -> str | None:
    if path is None:
        return None
    try:
        with open(path) as f:
            table = json.load(f)
    except (OSError, ValueError):
        return None
    entry = table.get(digest) if isinstance(table, dict) else None
    kind = entry.get("strategy") if isinstance(entry, dict) else None
    return kind if kind in KINDS[1:] else None


def _remember(path: str | None, digest: str, kind: str, seconds: dict) -> None:
    """Adds a probed decision to the machine's memory file (atomically; errors ignored: the
    memory only saves time)."""
    if path is None:
        return
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            with open(path) as f:
                table = json.load(f)
        except (OSError, ValueError):
            table = {}
        if not isinstance(table, dict):
            table = {}
        table[digest] = {"strategy": kind, "seconds_per_member": seconds, "time": time.time()}
        if len(table) > MEMORY_SIZE:
            by_age = sorted(table, key=lambda k: table[k].get("time", 0))
            for k in by_age[: len(table) - MEMORY_SIZE]:
                del table[k]
        text = json.dumps(table, indent=1).encode()
        _atomic_write(Path(path), lambda f: f.write(text))
    except OSError:
        pass


def _probe(
    state: Any, pending: np.ndarray, width: int, mesh: Mesh | None, info: dict[str, Any]
) -> tuple[str, np.ndarray]:
    """Times the candidates on real members of the sweep; returns the fastest per member.

    All candidates compile at once in threads (XLA compiles outside the GIL, so they use the
    cores together). The loop runs first, one member at a time, as soon as its program is
    ready, and on one process keeps running members while the other programs compile; then
    one chunk by each other candidate (``"vmap"``, and ``"map"`` over several devices), then
    one more member by the loop (timings drift on a shared machine; its best counts). Every
    member probed is a member of the sweep, kept, never recomputed. Another strategy replaces
    the loop only when it is at least PROBE_MARGIN faster per member. Probing stops when the
    members left would take less than PROBE_STOP times the loop's compilation: the fastest so
    far runs them. Under jax.distributed every process runs the same schedule and process 0's
    timings decide.
    """
    D = _mesh_size(mesh)
    candidates = ["loop", "vmap"] if D == 1 else ["loop", "map", "vmap"]
    runners = {k: state.runner(k, width, mesh) for k in candidates}
    pool = concurrent.futures.ThreadPoolExecutor(len(runners), thread_name_prefix="jaxl2-compile")
    futures = {}
    try:
        for k, r in runners.items():  # each compiles while the next one traces
            lowered = r.lower(state.rows(pending[:1], 1 if k == "loop" else width))
            futures[k] = pool.submit(_timed_compile, lowered)
    except BaseException:
        pool.shutdown(wait=False)
        raise
    seconds: dict[str, float] = {}
    # loop members while the others compile: timing-dependent, so on one process only
    overlap = OVERLAP and not _multi()

    def run(kind: str, n: int) -> None:
        nonlocal pending
        index, pending = pending[:n], pending[n:]
        elapsed = state.run_timed(runners[kind], index)
        per_member = elapsed / (n if kind == "loop" else width)
        seconds[kind] = min(per_member, seconds.get(kind, math.inf))

    try:
        loop_compile = futures["loop"].result()
        for kind in ("loop", *candidates[1:], "loop"):
            if kind != "loop":
                while overlap and len(pending) and not futures[kind].done():
                    run("loop", 1)
                futures[kind].result()
            if len(pending) == 0:
                break
            stop = bool(seconds) and (
                len(pending) * min(seconds.values()) < PROBE_STOP * loop_compile
                or (kind != "loop" and len(pending) < width)
            )
            if _from_process_0([stop])[0]:
                break
            run(kind, 1 if kind == "loop" else min(width, len(pending)))
    finally:
        pool.shutdown(wait=False)
    others = {k: v for k, v in seconds.items() if k != "loop"}
    best = min(others, key=others.__getitem__) if others else "loop"
    if "loop" in seconds and (not others or others[best] > (1 - PROBE_MARGIN) * seconds["loop"]):
        best = "loop"
    info["probe_seconds_per_member"] = dict(seconds)
    best = KINDS[_from_process_0([KINDS.index(best)])[0]]
    return best, pending


def _timed_compile(lowered: Any) -> float:
    start = time.perf_counter()
    lowered.compile()
    return time.perf_counter() - start


def auto_cpu(
    state: Any,
    pending: np.ndarray,
    width: int,
    mesh: Mesh | None,
    batch_size: int | None,
    info: dict[str, Any],
) -> tuple[str, int, np.ndarray]:
    """(kind, width, members still pending) for "auto" on CPU; see :func:`sweep`."""
    D = _mesh_size(mesh)
    key = _decision_key(state, mesh, width)
    try:
        known = _decisions.get(key)
    except TypeError:  # an unhashable fn: nothing remembered
        known = None
    how = "remembered"
    path = digest = None
    if known is None:
        flops = _member_flops(state)
        info["flops_per_member"] = flops
        kind = _by_cost(flops, D)
        how = "cost analysis"
        if kind is None:
            path = _memory_file()
            digest = None if path is None else _program_digest(state, mesh, width)
            kind = None if digest is None else _remembered(path, digest)
            how = "remembered on disk"
        if kind is not None:
            full = kind == "vmap" and how == "cost analysis" and batch_size is None
            known = (kind, _round_up(state.K, D) if full else width)
    code = [0, width] if known is None else [KINDS.index(known[0]), known[1]]
    code = _from_process_0(code)
    if code[0] == 0:
        kind, pending = _probe(state, pending, width, mesh, info)
        how = "probe"
        known = (kind, width)
        if digest is not None and jax.process_index() == 0:
            _remember(path, digest, kind, info["probe_seconds_per_member"])
    else:
        known = (KINDS[code[0]], code[1])
    _cache_get(_decisions, key, lambda: known)
    info["decided_by"] = how
    return known[0], known[1], pending
