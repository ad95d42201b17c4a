"""jaxl2.sweep under jax.distributed: two local processes, one CPU device each.

Every process must make the same "auto" decision (process 0's) even when their own timings
disagree, a fresh checkpoint directory must not race, a mesh that leaves out a process must
raise on every process, and results must equal the single-process ones. A multi-process failure
is usually a hang: each pair of workers runs in its own process group under a hard timeout
that kills both, so a hang fails the test instead of stalling CI.
"""

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxl2

ROOT = Path(__file__).resolve().parents[1]
K = 10
TIMEOUT = 240  # seconds for a pair of workers; start-up alone takes 4-14 s per process

WORKER = """
import json, math, os, sys, time, warnings
import numpy as np

pid, port, mode, ckpt, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
import jax

jax.distributed.initialize(
    coordinator_address=f"localhost:{port}", num_processes=2, process_id=pid,
    initialization_timeout=60, heartbeat_timeout_seconds=15,
)
import jax.numpy as jnp
from jax.sharding import Mesh

import jaxl2
from jaxl2._sweep import auto as _auto
from jaxl2._sweep import sweep as _sweep

assert jax.process_count() == 2 and len(jax.devices()) == 2 and len(jax.local_devices()) == 1
K, STEPS = int(os.environ["MH_K"]), int(os.environ["MH_STEPS"])


def member(h, x):
    # a small training loop: gradient descent on 0.5·‖w − x‖² + h·‖w‖² (w* = x / (1 + 2h))
    def step(w, _):
        return w - 0.01 * ((w - x) + 2.0 * h * w), None

    w, _ = jax.lax.scan(step, jnp.zeros_like(x), None, length=STEPS)
    return {"w": w, "norm": jnp.sqrt(jnp.sum(w * w))}


hs = np.linspace(0.0, 1.0, K).astype(np.float32)
x = np.arange(1.0, 5.0, dtype=np.float32)
report = {}

if mode == "checks":
    # a device list that leaves out process 1: a ValueError on both processes, no hang
    try:
        jaxl2.sweep(member, hs, x, strategy="vmap", devices=[jax.devices()[0]])
    except ValueError as e:
        report["partial"] = str(e)
    # each process's own devices: it runs the whole sweep alone, with a warning
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        alone = jaxl2.sweep(member, hs, x, strategy="vmap", devices=jax.local_devices())
    report["local_warning"] = [str(w.message) for w in caught]
    np.save(out + ".alone.npy", np.asarray(alone["w"]))

# "auto" timed on both processes, each skewed toward a different strategy: process 0 sees
# "map" fastest, process 1 the loop. Both must run process 0's choice.
_auto.VMAP_FLOPS, _auto.LOOP_FLOPS, _auto.PROBE_STOP = -1.0, math.inf, 0.0
seconds = {0: {"loop": 1.0, "map": 0.1, "vmap": 0.5}, 1: {"loop": 0.1, "map": 1.0, "vmap": 0.5}}
run_timed = _sweep._Sweep.run_timed


def timed(self, runner, index):  # runs the members, then reports this process's fixed timing
    run_timed(self, runner, index)
    n = len(index) if runner.kind == "loop" else runner.width
    return seconds[pid][runner.kind] * n


_sweep._Sweep.run_timed = timed

mesh = Mesh(np.array(jax.devices()).reshape(2, 1), ("hosts", "cores"))  # a 2-D mesh
options = dict(devices=mesh, checkpoint_dir=ckpt)
if mode == "killable":
    options.update(strategy="map", batch_size=2)
    _sweep._Sweep.record = (lambda record: lambda self, index, leaves: (
        record(self, index, leaves), time.sleep(float(os.environ.get("MH_PAUSE", "0")))
    ))(_sweep._Sweep.record)
result, info = jaxl2.sweep(member, hs, x, return_info=True, **options)
report["chosen"] = info.chosen
report["decided_by"] = info.decided_by
report["probe"] = info.probe_seconds_per_member
np.save(out + ".w.npy", np.asarray(result["w"]))
with open(out + ".json", "w") as f:
    json.dump(report, f)
print("WORKER DONE", pid, flush=True)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _kill(procs) -> None:
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)  # the worker and anything it started
            except ProcessLookupError:
                pass
    for p in procs:
        p.wait()


def _start(tmp_path, mode, ckpt, steps, pause=0.0):
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(WORKER))
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}  # one CPU device each
    env.update(
        PYTHONPATH=str(ROOT),
        MH_K=str(K),
        MH_STEPS=str(steps),
        MH_PAUSE=str(pause),
        JAX_PLATFORMS="cpu",
    )
    procs = []
    for pid in range(2):
        with open(tmp_path / f"{mode}-{pid}.log", "w") as log:
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        str(script),
                        str(pid),
                        str(port),
                        mode,
                        str(ckpt),
                        str(tmp_path / f"{mode}-{pid}"),
                    ],
                    env=env,
                    cwd=ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group, killed as a whole
                )
            )
    return procs


def _wait(tmp_path, mode, procs, timeout=TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    try:
        while any(p.poll() is None for p in procs):
            if any(p.poll() not in (None, 0) for p in procs):
                break  # one failed: the other would wait for it forever
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
    finally:
        _kill(procs)
    logs = "\n".join(
        f"--- process {i}:\n" + (tmp_path / f"{mode}-{i}.log").read_text()[-3000:] for i in range(2)
    )
    assert time.monotonic() <= deadline, f"the workers hung (killed after {timeout} s)\n{logs}"
    assert all(p.returncode == 0 for p in procs), logs


def _expected(steps):
    """The single-process sweep (the reference the two processes must equal)."""
    x = jnp.arange(1.0, 5.0, dtype=jnp.float32)

    def member(h, x):
        def step(w, _):
            return w - 0.01 * ((w - x) + 2.0 * h * w), None

        w, _ = jax.lax.scan(step, jnp.zeros_like(x), None, length=steps)
        return w

    hs = jnp.asarray(np.linspace(0.0, 1.0, K).astype(np.float32))
    return np.asarray(jaxl2.sweep(member, hs, x, strategy="vmap"))


def test_two_processes_agree_on_auto_checkpoint_and_device_checks(tmp_path):
    import json

    steps = 50
    ckpt = tmp_path / "ckpt"  # fresh: both processes start at once, process 0 creates it
    procs = _start(tmp_path, "checks", ckpt, steps)
    _wait(tmp_path, "checks", procs)
    expected = _expected(steps)
    reports = [json.loads((tmp_path / f"checks-{i}.json").read_text()) for i in range(2)]
    for i, report in enumerate(reports):
        assert "does not span every process" in report["partial"], report
        assert "process 1 lists some but not all" in report["partial"] or (
            "process 0 lists only its own" in report["partial"]
        ), report
        assert any("each process runs the whole sweep" in m for m in report["local_warning"])
        np.testing.assert_allclose(
            np.load(tmp_path / f"checks-{i}.alone.npy"), expected, rtol=1e-5, atol=1e-6
        )
        np.testing.assert_allclose(
            np.load(tmp_path / f"checks-{i}.w.npy"), expected, rtol=1e-5, atol=1e-6
        )
    # process 0 saw "map" fastest, process 1 the loop: both ran process 0's choice
    assert reports[0]["decided_by"] == reports[1]["decided_by"] == "probe"
    assert reports[0]["chosen"] == reports[1]["chosen"] == "map", reports
    assert min(reports[1]["probe"], key=reports[1]["probe"].get) == "loop"
    assert sorted(p.name for p in ckpt.iterdir() if not p.name.startswith("chunk-")) == [
        "sweep.json"
    ]


@pytest.mark.slow
def test_two_processes_killed_mid_way_resume_from_the_checkpoint(tmp_path):
    steps = 50
    ckpt = tmp_path / "ckpt"
    procs = _start(tmp_path, "killable", ckpt, steps, pause=1.0)
    deadline = time.monotonic() + TIMEOUT
    try:
        while len(list(ckpt.glob("chunk-*.npz"))) < 2 and time.monotonic() < deadline:
            assert all(p.poll() is None for p in procs), (tmp_path / "killable-0.log").read_text()
            time.sleep(0.05)
    finally:
        _kill(procs)
    saved = sorted(ckpt.glob("chunk-*.npz"))
    assert 2 <= len(saved) < K // 2, saved
    before = {int(i) for f in saved for i in np.load(f)["index"]}

    procs = _start(tmp_path, "killable", ckpt, steps)  # the same call again: it resumes
    _wait(tmp_path, "killable", procs)
    expected = _expected(steps)
    for i in range(2):
        np.testing.assert_allclose(
            np.load(tmp_path / f"killable-{i}.w.npy"), expected, rtol=1e-5, atol=1e-6
        )
    new = [f for f in ckpt.glob("chunk-*.npz") if f not in saved]
    after = [int(i) for f in new for i in np.load(f)["index"]]
    assert sorted(after) == sorted(set(range(K)) - before)  # only the unfinished members ran
