"""jaxl2.sweep: every strategy equals the plain loop, compiles once, isolates NaN members,
shards over devices, resumes from checkpoints and rejects bad input with clear errors."""

import dataclasses
import itertools
import json
import logging
import math
import operator
import os
import signal
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxl2
from jaxl2._sweep import auto as _auto
from jaxl2._sweep import sweep as _sweep
from tests._subprocess import run_on_faked_devices

ROOT = Path(__file__).resolve().parents[1]
STEPS = 25


def _data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5)).astype(np.float32)
    y = (X @ rng.normal(size=(5, 3))).argmax(1).astype(np.int32)
    return jnp.asarray(X), jnp.asarray(y)


X, Y = _data()


def train_logistic(h, X, y):
    """Softmax regression, SGD with momentum and L2 rate h["lam"] at learning rate h["lr"].

    (optax's Adam is not clean under strict dtype promotion; this keeps the engine's tests
    strict. train_sweep's tests use Adam.)
    """
    params = {"w": jnp.zeros((5, 3)), "b": jnp.zeros(3)}
    tx = optax.chain(optax.add_decayed_weights(h["lam"]), optax.sgd(h["lr"], momentum=0.9))

    def loss(p):
        logits = X @ p["w"] + p["b"][None, :]
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    def step(carry, _):
        p, s = carry
        value, g = jax.value_and_grad(loss)(p)
        u, s = tx.update(g, s, p)
        return (optax.apply_updates(p, u), s), value

    (params, _), losses = jax.lax.scan(step, (params, tx.init(params)), None, length=STEPS)
    return {"params": params, "loss": losses[-1]}


def _f32(values):
    # device_put, not jnp.asarray: the latter compiles a conversion, which the compile counts see
    return jax.device_put(np.asarray(values, np.float32))


def _hparams(K=7):
    return {
        "lam": _f32(np.logspace(-3, 0, K)),
        "lr": _f32(np.linspace(0.1, 1.0, K)),
    }


def _reference(fn, hparams, *args):
    """The plain Python loop the sweep must equal: fn(h_k, *args) for each k, stacked."""
    K = len(jax.tree.leaves(hparams)[0])
    one = jax.jit(fn)
    host = jax.tree.map(np.asarray, hparams)
    outs = [one(jax.tree.map(operator.itemgetter(k), host), *args) for k in range(K)]
    return jax.tree.map(lambda *xs: np.stack(xs), *outs)


def _assert_close(a, b, tol=1e-5):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=tol, atol=tol)


class CompileLog(logging.Handler):
    """Counts XLA compilations as jax.log_compiles reports them (like optax's log_compilations)."""

    def __init__(self):
        super().__init__()
        self.names = []

    def emit(self, record):
        message = record.getMessage()
        if message.startswith("Finished XLA compilation of"):
            self.names.append(message.split(" of ")[1].split(" in ")[0])


@pytest.fixture
def compiles():
    handler = CompileLog()
    logger = logging.getLogger("jax")
    logger.addHandler(handler)
    try:
        with jax.log_compiles(True):
            yield handler.names
    finally:
        logger.removeHandler(handler)


# ----------------------------------------------------------------------------- results


@pytest.mark.parametrize(
    "strategy, batch_size",
    [
        ("vmap", None),
        ("vmap", 3),
        ("chunked", None),
        ("chunked", 3),
        ("chunked", 100),
        ("map", None),
        ("map", 2),
        ("loop", None),
        ("loop", 3),
        ("auto", None),
        ("auto", 2),
    ],
)
def test_every_strategy_equals_plain_loop(strategy, batch_size):
    hparams = _hparams(7)  # 7 is not a multiple of 2 or 3: the last chunk is padded
    expected = _reference(train_logistic, hparams, X, Y)
    out = jaxl2.sweep(train_logistic, hparams, X, Y, strategy=strategy, batch_size=batch_size)
    assert out["loss"].shape == (7,) and out["params"]["w"].shape == (7, 5, 3)
    _assert_close(out, expected)


def test_array_hparams_and_static_args():
    def ridge_1d(lam, x, y, scale):
        return scale * jnp.sum(x * y) / (jnp.sum(x * x) + lam)

    x, y = jnp.array([1.0, 2.0, 3.0]), jnp.array([2.0, 4.0, 6.0])
    lams = jnp.array([0.0, 14.0, 28.0])
    out = jaxl2.sweep(ridge_1d, lams, x, y, 2, strategy="vmap")
    # closed form: w = Σxy / (Σx² + lam) = 28 / (14 + lam)
    np.testing.assert_allclose(out, 2 * 28 / (14 + np.array([0.0, 14.0, 28.0])), rtol=1e-6)


def test_grid_is_the_cartesian_product_in_itertools_order():
    a, b = [1e-3, 1e-2, 1e-1], [0.5, 2.0]
    g = jaxl2.grid(weight_decay=jnp.array(a), learning_rate=np.array(b, np.float32))
    pairs = list(itertools.product(a, b))
    np.testing.assert_allclose(g["weight_decay"], [p[0] for p in pairs], rtol=1e-7)
    np.testing.assert_allclose(g["learning_rate"], [p[1] for p in pairs], rtol=1e-7)
    assert g["learning_rate"].dtype == jnp.float32


def test_grid_errors():
    with pytest.raises(ValueError, match="at least one axis"):
        jaxl2.grid()
    with pytest.raises(ValueError, match="grid axis 'lam' must be a non-empty 1-D"):
        jaxl2.grid(lam=jnp.zeros((2, 2)))
    with pytest.raises(ValueError, match="grid axis 'lam' must be a non-empty 1-D"):
        jaxl2.grid(lam=[])


def test_nan_member_does_not_affect_the_others():
    hparams = {"lam": jnp.full(4, 1e-2), "lr": jnp.array([0.1, 1e30, 0.5, 1.0])}
    keep = operator.itemgetter(np.array([0, 2, 3]))
    expected = jax.tree.map(keep, _reference(train_logistic, hparams, X, Y))
    for strategy in ("vmap", "chunked", "map"):
        out = jaxl2.sweep(train_logistic, hparams, X, Y, strategy=strategy, batch_size=2)
        assert not np.isfinite(np.asarray(out["loss"][1]))
        _assert_close(jax.tree.map(lambda x: keep(np.asarray(x)), out), expected)


# ----------------------------------------------------------------------------- compilation


@pytest.mark.parametrize("strategy", ["vmap", "chunked", "map", "loop"])
def test_one_compilation_and_none_for_new_lambdas(strategy, compiles):
    def fn(h, X, y):  # a new function object: nothing cached from other tests
        return train_logistic(h, X, y)

    jaxl2.sweep(fn, _hparams(6), X, Y, strategy=strategy, batch_size=2)
    assert len(compiles) == 1, compiles
    assert "sweep_" in compiles[0]
    new = {"lam": _f32(np.linspace(0.1, 0.9, 6)), "lr": _f32(np.linspace(0.2, 0.3, 6))}
    out = jaxl2.sweep(fn, new, X, Y, strategy=strategy, batch_size=2)
    assert len(compiles) == 1, compiles  # new λ values of the same shape: no compilation
    _assert_close(out, _reference(train_logistic, new, X, Y))


def _wide(h, A, B):
    """A member whose one product (64x1024 by 1024x1024, 134 MFLOP) is above LOOP_FLOPS."""
    return jnp.sum(A @ (B * h))


def test_auto_decides_from_the_cost_analysis_with_one_compilation(compiles):
    def fn(h, X, y):  # 25 steps of 5-feature softmax regression: far below VMAP_FLOPS
        return train_logistic(h, X, y)

    out, info = jaxl2.sweep(fn, _hparams(8), X, Y, return_info=True)
    assert info.chosen == "vmap"
    assert info.decided_by == "cost analysis"
    assert info.width == 8  # all members at once, like strategy="vmap"
    assert info.probe_seconds_per_member is None
    assert info.flops_per_member <= _auto.VMAP_FLOPS
    assert compiles == ["jit(sweep_vmap_fn)"]  # nothing compiled to decide
    _assert_close(out, _reference(train_logistic, _hparams(8), X, Y))

    compiles.clear()
    hs = _f32(np.linspace(0.5, 1.0, 4))
    A, B = _f32(np.full((64, 1024), 0.5)), _f32(np.full((1024, 1024), 0.25))
    wide, info = jaxl2.sweep(_wide, hs, A, B, return_info=True)
    assert info.flops_per_member >= _auto.LOOP_FLOPS
    assert info.chosen == "loop" and compiles == ["jit(sweep_one__wide)"]
    np.testing.assert_allclose(np.asarray(wide), np.asarray(hs) * 64 * 1024 * 1024 / 8, rtol=1e-5)


@pytest.fixture
def probe_always(monkeypatch):
    """Makes "auto" time the candidates whatever the cost analysis says."""
    monkeypatch.setattr(_auto, "VMAP_FLOPS", -1.0)
    monkeypatch.setattr(_auto, "LOOP_FLOPS", math.inf)


def test_auto_probe_decides_once_then_reuses_the_compiled_program(compiles, probe_always):
    def fn(h, X, y):
        return train_logistic(h, X, y)

    calls = []
    run_timed = _sweep._Sweep.run_timed

    def counting(self, runner, index):
        calls.extend(int(i) for i in index)
        return run_timed(self, runner, index)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_auto, "PROBE_STOP", 0.0)  # probe every candidate, however small
        mp.setattr(_sweep._Sweep, "run_timed", counting)
        out, first = jaxl2.sweep(fn, _hparams(8), X, Y, return_info=True)
    assert first.chosen in ("vmap", "loop") and first.decided_by == "probe"
    # the loop runs members while vmap compiles (in a thread), so vmap may never be needed
    assert "loop" in first.probe_seconds_per_member
    assert set(first.probe_seconds_per_member) <= {"vmap", "loop"}
    assert len(calls) == len(set(calls))  # every probed member is kept, none run twice
    _assert_close(out, _reference(train_logistic, _hparams(8), X, Y))
    compiles.clear()
    new = {"lam": _f32(np.linspace(0.1, 0.9, 8)), "lr": _f32(np.linspace(0.2, 0.3, 8))}
    out, info = jaxl2.sweep(fn, new, X, Y, return_info=True)
    assert compiles == []
    assert info.probe_seconds_per_member is None and info.decided_by == "remembered"
    assert info.chosen == first.chosen
    _assert_close(out, _reference(train_logistic, new, X, Y))


def test_auto_probe_compiles_each_candidate_once_and_keeps_every_member(monkeypatch, probe_always):
    lowered = []

    def counting_compile(low):
        lowered.append(low)
        return 1.0

    calls = []
    record = _sweep._Sweep.record

    def counting(self, index, leaves):
        calls.extend(int(i) for i in index)
        record(self, index, leaves)

    _fake_timings(monkeypatch, {"loop": 1.0, "vmap": 0.5})
    monkeypatch.setattr(_auto, "_timed_compile", counting_compile)
    monkeypatch.setattr(_sweep._Sweep, "record", counting)

    def fn(h, X, y):
        return train_logistic(h, X, y)

    out, info = jaxl2.sweep(fn, _hparams(12), X, Y, return_info=True)
    assert len(lowered) == 2  # loop and vmap, each once
    assert set(info.probe_seconds_per_member) == {"loop", "vmap"}
    assert info.chosen == "vmap"
    assert sorted(calls) == list(range(12))  # probed members kept, none computed twice
    _assert_close(out, _reference(train_logistic, _hparams(12), X, Y))


def _fake_timings(monkeypatch, per_member, compile_seconds=1.0):
    """Replaces the timed runs of the probe by fixed numbers (seconds per member)."""
    run_timed = _sweep._Sweep.run_timed

    def fake(self, runner, index):
        run_timed(self, runner, index)
        n = len(index) if runner.kind == "loop" else runner.width
        return per_member[runner.kind] * n

    def fake_compile(lowered):
        lowered.compile()
        return compile_seconds

    monkeypatch.setattr(_sweep._Sweep, "run_timed", fake)
    monkeypatch.setattr(_auto, "_timed_compile", fake_compile)
    monkeypatch.setattr(_auto, "OVERLAP", False)  # the schedule must not depend on timing


@pytest.mark.parametrize(
    "times, chosen",
    [
        ({"loop": 4.0, "vmap": 1.0}, "vmap"),
        ({"loop": 1.0, "vmap": 3.0}, "loop"),
        ({"loop": 1.0, "vmap": 0.97}, "loop"),  # within the 5% margin: the loop
    ],
)
def test_auto_picks_the_fastest_candidate(times, chosen, monkeypatch, probe_always):
    _fake_timings(monkeypatch, times)

    def fn(h, X, y):
        return train_logistic(h, X, y)

    out, info = jaxl2.sweep(fn, _hparams(12), X, Y, return_info=True)
    assert info.chosen == chosen
    assert info.probe_seconds_per_member == pytest.approx(times)
    _assert_close(out, _reference(train_logistic, _hparams(12), X, Y))


def test_auto_stops_probing_when_the_rest_is_shorter_than_a_compilation(monkeypatch, probe_always):
    # 11 members left at 0.1 s (the loop) < 0.2 × 10 s of compilation: the loop runs them
    _fake_timings(monkeypatch, {"vmap": 0.001, "loop": 0.1}, compile_seconds=10.0)

    def fn(h, X, y):
        return train_logistic(h, X, y)

    out, info = jaxl2.sweep(fn, _hparams(12), X, Y, return_info=True)
    assert info.probe_seconds_per_member == {"loop": 0.1}
    assert info.chosen == "loop"
    _assert_close(out, _reference(train_logistic, _hparams(12), X, Y))


def test_auto_remembers_a_probed_decision_on_disk(tmp_path, monkeypatch, probe_always, compiles):
    monkeypatch.setenv("JAXL2_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("JAXL2_COMPILATION_CACHE", "0")  # process-wide: not from a test
    _fake_timings(monkeypatch, {"loop": 4.0, "vmap": 1.0})

    def make():  # a new function object with the same name and program each time
        def fn(h, X, y):
            return train_logistic(h, X, y)

        return fn

    _, info = jaxl2.sweep(make(), _hparams(12), X, Y, return_info=True)
    assert info.chosen == "vmap" and info.decided_by == "probe"
    (memory,) = (tmp_path / "auto").glob("*.json")
    assert [e["strategy"] for e in json.loads(memory.read_text()).values()] == ["vmap"]

    compiles.clear()
    out, info = jaxl2.sweep(make(), _hparams(12), X, Y, return_info=True)  # as in a new process
    assert info.decided_by == "remembered on disk"
    assert info.chosen == "vmap"
    assert info.probe_seconds_per_member is None
    assert compiles == ["jit(sweep_vmap_fn)"]  # only the chosen program compiles
    _assert_close(out, _reference(train_logistic, _hparams(12), X, Y))

    monkeypatch.setenv("JAXL2_AUTO_CACHE", "0")  # opted out: probes, remembers nothing

    memory.unlink()
    _, info = jaxl2.sweep(make(), _hparams(12), X, Y, return_info=True)
    assert info.decided_by == "probe"
    assert not memory.exists()


@pytest.mark.parametrize("strategy", ["vmap", "chunked", "map", "loop", "auto"])
def test_each_program_traces_fn_once(strategy, compiles):
    calls = []

    def fn(h, X, y):  # a new function object; counts how often its Python body runs
        calls.append(h)
        return train_logistic(h, X, y)

    jaxl2.sweep(fn, _hparams(6), X, Y, strategy=strategy, batch_size=3)
    assert len(compiles) == 1, compiles
    # an explicit strategy traces the program it runs, once; "auto" traces one member's
    # program for its cost analysis and the vectorized program it then runs
    assert len(calls) == (2 if strategy == "auto" else 1), len(calls)


# ----------------------------------------------------------------------------- failures


FAIL = {"at": None, "calls": []}


def _guard(h):
    h = np.asarray(h)
    FAIL["calls"].append(float(h))
    if FAIL["at"] is not None and h >= FAIL["at"]:
        raise RuntimeError(f"injected failure at h={float(h)}")
    return h


def guarded(h, x):
    """h * x, with a host callback that fails for h >= FAIL["at"] (a simulated crash)."""
    h = jax.pure_callback(
        _guard, jax.ShapeDtypeStruct((), jnp.float32), h, vmap_method="sequential"
    )
    return {"y": h * x, "h": h}


@pytest.fixture
def fail_at():
    def set_(value):
        FAIL["at"] = value
        FAIL["calls"].clear()

    yield set_
    set_(None)


def test_failure_keeps_finished_chunks_and_resume_computes_only_the_rest(
    tmp_path, fail_at, compiles
):
    hs, x = _f32(np.arange(6)), _f32(np.ones(3))
    fail_at(4.0)
    with pytest.raises(jaxl2.SweepError, match="4 of 6 members finished") as info:
        jaxl2.sweep(guarded, hs, x, strategy="chunked", batch_size=2, checkpoint_dir=tmp_path)
    assert isinstance(info.value.__cause__, Exception)
    assert "injected failure" in str(info.value)
    partial = info.value.partial
    np.testing.assert_array_equal(partial.done, [True] * 4 + [False] * 2)
    np.testing.assert_allclose(partial.results["h"][:4], [0, 1, 2, 3])
    assert np.isnan(partial.results["h"][4:]).all()
    assert len(list(tmp_path.glob("chunk-*.npz"))) == 2

    fail_at(None)
    out, info = jaxl2.sweep(
        guarded, hs, x, strategy="chunked", batch_size=2, checkpoint_dir=tmp_path, return_info=True
    )
    assert sorted(FAIL["calls"]) == [4.0, 5.0]  # the finished members were not recomputed
    np.testing.assert_allclose(out["y"], np.arange(6)[:, None] * np.ones(3))
    assert info == jaxl2.SweepInfo("chunked", "vmap", 2, devices=1, members=6, loaded=4)

    compiles.clear()
    FAIL["calls"].clear()
    again, info = jaxl2.sweep(
        guarded, hs, x, strategy="vmap", checkpoint_dir=tmp_path, return_info=True
    )
    assert FAIL["calls"] == [] and compiles == []  # a finished sweep only loads
    _assert_close(again, out)
    assert info.chosen is None and info.width is None and info.loaded == 6


def test_failure_without_checkpoint_keeps_partial(fail_at):
    fail_at(3.0)
    with pytest.raises(jaxl2.SweepError, match="Pass checkpoint_dir=") as info:
        jaxl2.sweep(guarded, jnp.arange(5, dtype=jnp.float32), jnp.ones(2), strategy="loop")
    np.testing.assert_array_equal(info.value.partial.done, [True, True, True, False, False])


def test_failure_before_anything_finished_raises_the_original_error(fail_at):
    fail_at(0.0)
    with pytest.raises(Exception, match="injected failure") as info:
        jaxl2.sweep(guarded, jnp.arange(3, dtype=jnp.float32), jnp.ones(2), strategy="vmap")
    assert not isinstance(info.value, jaxl2.SweepError)


def test_keyboard_interrupt_keeps_partial(monkeypatch):
    record = _sweep._Sweep.record
    calls = []

    def interrupting(self, index, leaves):
        record(self, index, leaves)
        calls.append(index)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(_sweep._Sweep, "record", interrupting)
    with pytest.raises(jaxl2.SweepInterrupted, match="4 of 6 members finished") as info:
        jaxl2.sweep(lambda h: h * 2, jnp.arange(6.0), strategy="chunked", batch_size=2)
    assert isinstance(info.value, KeyboardInterrupt)  # Ctrl-C still stops a script
    assert not isinstance(info.value, Exception)  # ... and passes `except Exception`
    assert type(info.value.__cause__) is KeyboardInterrupt
    assert not hasattr(info.value.__cause__, "sweep_partial")  # Python's exception untouched
    np.testing.assert_array_equal(info.value.partial.done, [True] * 4 + [False] * 2)
    np.testing.assert_allclose(info.value.partial.results[:4], [0.0, 2.0, 4.0, 6.0])


def test_other_base_exceptions_pass_unchanged_and_the_checkpoint_keeps_the_chunks(
    tmp_path, monkeypatch
):
    record = _sweep._Sweep.record
    calls = []

    def exiting(self, index, leaves):
        record(self, index, leaves)
        calls.append(index)
        if len(calls) == 2:
            raise SystemExit(3)

    hs = jnp.arange(6.0)
    with monkeypatch.context() as m:
        m.setattr(_sweep._Sweep, "record", exiting)
        with pytest.raises(SystemExit) as info:
            jaxl2.sweep(lambda h: h * 2, hs, strategy="loop", batch_size=2, checkpoint_dir=tmp_path)
    assert type(info.value) is SystemExit and info.value.code == 3
    assert info.value.__cause__ is None and not hasattr(info.value, "__notes__")
    out, run = jaxl2.sweep(
        lambda h: h * 2,
        hs,
        strategy="loop",
        batch_size=2,
        checkpoint_dir=tmp_path,
        return_info=True,
    )
    assert run.loaded == 4 and run.chosen == "loop"
    np.testing.assert_allclose(out, 2 * np.arange(6.0))


def test_keyboard_interrupt_before_any_member_finished_is_untouched(monkeypatch):
    def interrupting(self, index, leaves):
        raise KeyboardInterrupt

    monkeypatch.setattr(_sweep._Sweep, "record", interrupting)
    with pytest.raises(KeyboardInterrupt) as info:
        jaxl2.sweep(lambda h: h * 2, jnp.arange(4.0), strategy="chunked", batch_size=2)
    assert type(info.value) is KeyboardInterrupt


def _adamw_member(lam, w0):
    """Five steps of jaxl2.adamw on |w|² at weight decay ``lam`` (a traced value: checked)."""
    tx = jaxl2.adamw(0.1, weight_decay=lam)

    def step(carry, _):
        w, s = carry
        u, s = tx.update(jax.grad(lambda v: jnp.sum(v * v))(w), s, w)
        return (optax.apply_updates(w, u), s), None

    (w, _), _ = jax.lax.scan(step, (w0, tx.init(w0)), None, length=5)
    return {"w": w, "norm": jnp.sum(w * w)}


@pytest.mark.standard_promotion  # optax's Adam bias correction
@pytest.mark.parametrize("strategy", ["vmap", "map", "loop"])
def test_a_failed_traced_check_marks_that_member_and_the_others_go_on(strategy):
    # Member 1's weight decay is negative: jaxl2.adamw's check of the traced value fails. In a
    # sweep it adds no host callback: that member becomes NaN, a warning names it, the others
    # equal their runs alone.
    lams = _f32([0.1, -0.5, 0.3])
    w0 = _f32(np.linspace(-1.0, 1.0, 4))
    with pytest.warns(UserWarning, match=r"member\(s\) 1 returned NaN or inf.*weight_decay"):
        out = jaxl2.sweep(_adamw_member, lams, w0, strategy=strategy)
    assert not np.isfinite(np.asarray(out["w"][1])).any()
    keep = np.array([0, 2])
    expected = _reference(_adamw_member, lams[keep], w0)
    _assert_close(jax.tree.map(lambda x: np.asarray(x)[keep], out), expected)
    # the program holds no host callback, so JAX's persistent compilation cache can store it
    _, static = _sweep._split_args((w0,))
    inner = "one" if strategy == "loop" else strategy
    example = lams[:1] if inner != "one" else lams[0]
    text = _sweep._program(_adamw_member, static, inner, None).lower(example, [w0]).as_text()
    assert "callback" not in text
    with pytest.raises(Exception, match="weight_decay must be non-negative"):  # alone: raises
        jax.block_until_ready(jax.jit(_adamw_member)(lams[1], w0))


# ----------------------------------------------------------------------------- sweep info


def test_sweep_info_describes_the_call_and_is_frozen():
    out, info = jaxl2.sweep(
        lambda h: h + 1.0, jnp.arange(5.0), strategy="map", batch_size=2, return_info=True
    )
    np.testing.assert_allclose(out, np.arange(5.0) + 1.0)
    assert info == jaxl2.SweepInfo("map", "map", 2, devices=1, members=5)
    assert info.decided_by is None and info.flops_per_member is None and info.loaded == 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.chosen = "vmap"
    assert hash(info) == hash(jaxl2.SweepInfo("map", "map", 2, devices=1, members=5))
    _, loop = jaxl2.sweep(lambda h: h + 1.0, jnp.arange(5.0), strategy="loop", return_info=True)
    assert (loop.chosen, loop.width) == ("loop", 1)
    assert not hasattr(_sweep, "last_run")  # no module state: each call returns its own


def test_clear_caches_empties_every_cache_and_the_next_sweep_traces_again():
    from jaxl2._sweep import cv as _cv
    from jaxl2._sweep import train as _train
    from jaxl2._sweep import util as _util

    traces = []

    def fn(h, x):
        traces.append(1)  # runs when JAX traces fn
        return h * x

    hs, x = jnp.arange(4.0), jnp.ones(3)
    jaxl2.sweep(fn, hs, x)  # "auto": decides by cost analysis, runs vmap
    first = len(traces)
    assert first >= 1
    jaxl2.sweep(fn, hs, x)
    assert len(traces) == first  # cached: nothing traced again
    for cache in (_sweep._programs, _auto._decisions):
        assert any(fn in key for key in cache)
    assert {id(c) for c in (_sweep._programs, _auto._decisions, _cv._members, _train._members)} <= {
        id(c) for c in _util.CACHES
    }

    jaxl2.clear_caches()
    assert all(len(cache) == 0 for cache in _util.CACHES)
    out, info = jaxl2.sweep(fn, hs, x, return_info=True)
    assert len(traces) == 2 * first  # traced (and compiled) again, as the first time
    assert info.decided_by == "cost analysis"  # decided afresh, not "remembered"
    np.testing.assert_allclose(out, np.arange(4.0)[:, None] * np.ones(3))


# ----------------------------------------------------------------------------- checkpoints


def test_checkpoint_of_another_sweep_is_refused_and_left_untouched(tmp_path):
    hs = jnp.arange(4, dtype=jnp.float32)
    jaxl2.sweep(guarded, hs, jnp.ones(2), strategy="vmap", checkpoint_dir=tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(ValueError, match="holds a different sweep.*the hparams"):
        jaxl2.sweep(guarded, hs + 1, jnp.ones(2), checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="holds a different sweep.*fn's name"):
        jaxl2.sweep(train_logistic, _hparams(4), X, Y, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="holds a different sweep.*the arguments"):
        jaxl2.sweep(guarded, hs, jnp.ones(3), checkpoint_dir=tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_checkpoint_dir_that_is_not_a_sweep(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="holds no jaxl2 sweep"):
        jaxl2.sweep(guarded, jnp.arange(2.0), jnp.ones(2), checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="is not a directory"):
        jaxl2.sweep(guarded, jnp.arange(2.0), jnp.ones(2), checkpoint_dir=tmp_path / "notes.txt")


def test_checkpoint_resume_with_another_strategy_and_chunking(tmp_path):
    hs = _hparams(7)
    expected = _reference(train_logistic, hs, X, Y)
    first = jaxl2.sweep(
        train_logistic, hs, X, Y, strategy="chunked", batch_size=4, checkpoint_dir=tmp_path
    )
    files = sorted(tmp_path.glob("chunk-*.npz"))
    assert len(files) == 2
    files[1].unlink()  # members 4-6 lost: resume them with another strategy and chunk size
    out = jaxl2.sweep(
        train_logistic, hs, X, Y, strategy="map", batch_size=2, checkpoint_dir=tmp_path
    )
    _assert_close(first, expected)
    _assert_close(out, expected)
    assert len(list(tmp_path.glob("chunk-*.npz"))) == 3


KILL_SCRIPT = """
import sys, time
import jax, jax.numpy as jnp, numpy as np
import jaxl2

def slow(h):
    time.sleep(0.4)
    print("computed", float(np.asarray(h)), flush=True)
    return h

def member(h, x):
    h = jax.pure_callback(slow, jax.ShapeDtypeStruct((), jnp.float32), h,
                          vmap_method="sequential")
    return {"y": jnp.sin(h) * x, "h": h}

out = jaxl2.sweep(member, jnp.arange(8, dtype=jnp.float32), jnp.ones(3), strategy="loop",
                  checkpoint_dir=sys.argv[1])
np.save(sys.argv[2], np.asarray(out["y"]))
print("done", flush=True)
"""


def test_sweep_killed_mid_way_resumes_and_finishes_with_the_same_result(tmp_path):
    script = tmp_path / "killable.py"
    script.write_text(textwrap.dedent(KILL_SCRIPT))
    ckpt, result = tmp_path / "ckpt", tmp_path / "y.npy"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, str(script), str(ckpt), str(result)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while len(list(ckpt.glob("chunk-*.npz"))) < 3 and time.time() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    saved = len(list(ckpt.glob("chunk-*.npz")))
    assert 3 <= saved < 8 and not result.exists()

    resumed = subprocess.run(
        [sys.executable, str(script), str(ckpt), str(result)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    computed = [line for line in resumed.stdout.splitlines() if line.startswith("computed")]
    assert len(computed) == 8 - saved  # only the members the killed run had not saved
    np.testing.assert_allclose(
        np.load(result), np.sin(np.arange(8.0))[:, None] * np.ones(3), rtol=1e-6
    )


# ----------------------------------------------------------------------------- devices


SHARDED_SCRIPT = """
import jax, jax.numpy as jnp, numpy as np
from jax.sharding import Mesh
import jaxl2
assert len(jax.devices()) == 4, jax.devices()
from tests.test_sweep import X, Y, train_logistic, _hparams, _reference, _assert_close

hs = _hparams(7)  # not a multiple of 4: padded, then the padding is dropped
expected = _reference(train_logistic, hs, X, Y)
plain = jaxl2.sweep(train_logistic, hs, X, Y, strategy="vmap")
mesh = Mesh(np.array(jax.devices()).reshape(2, 2), ("a", "b"))
cases = [("vmap", 4, None), ("chunked", 4, 4), ("map", 2, None), ("map", mesh, None),
         ("vmap", jax.devices()[1:4:2], None), ("auto", None, None), ("auto", 4, 4)]
for strategy, devices, batch_size in cases:
    out, info = jaxl2.sweep(train_logistic, hs, X, Y, strategy=strategy, devices=devices,
                            batch_size=batch_size, return_info=True)
    _assert_close(out, expected)
    _assert_close(out, plain)
    assert info.devices == (4 if devices in (4, None) or devices is mesh else 2)
    assert info.width % info.devices == 0 and info.members == 7
try:
    jaxl2.sweep(train_logistic, hs, X, Y, devices=5)
except ValueError as e:
    assert "devices=5 asks for more devices than exist: JAX sees 4 cpu" in str(e), e
else:
    raise AssertionError("devices=5 did not raise")
print("SHARDED OK")
"""


def test_sharded_equals_unsharded_on_four_faked_devices():
    run_on_faked_devices(SHARDED_SCRIPT, "SHARDED OK")


CORES_SCRIPT = """
import warnings
import jaxl2
n = jaxl2.use_cpu_cores(3)
import jax
assert n == 3 and len(jax.devices()) == 3, jax.devices()
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    assert jaxl2.use_cpu_cores(3) == 3 and not caught  # already so: nothing to say
    assert jaxl2.use_cpu_cores(2) == 3
assert "came too late" in str(caught[0].message), caught
print("CORES OK")
"""


def test_use_cpu_cores_before_and_after_the_backend_starts():
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [sys.executable, "-c", CORES_SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "CORES OK" in proc.stdout


def test_use_cpu_cores_too_late_in_this_process_warns():
    have = len(jax.devices("cpu"))
    with pytest.warns(RuntimeWarning, match="came too late.*before any JAX computation"):
        assert jaxl2.use_cpu_cores(have + 1) == have
    with pytest.raises(ValueError, match="n must be a positive integer"):
        jaxl2.use_cpu_cores(0)


# ----------------------------------------------------------------------------- bad input


def test_bad_inputs_raise_clear_errors_naming_the_argument():
    x = jnp.ones(2)
    with pytest.raises(
        ValueError,
        match=r"same leading length K, got hparams\['a'\]: 3, "
        r"hparams\['b'\]: 2",
    ):
        jaxl2.sweep(guarded, {"a": jnp.zeros(3), "b": jnp.zeros(2)}, x)
    with pytest.raises(ValueError, match="K = 0 members"):
        jaxl2.sweep(guarded, jnp.zeros(0), x)
    with pytest.raises(ValueError, match="hparams is empty"):
        jaxl2.sweep(guarded, {}, x)
    with pytest.raises(ValueError, match=r"hparams\['a'\] is a scalar"):
        jaxl2.sweep(guarded, {"a": jnp.float32(1.0)}, x)
    with pytest.raises(TypeError, match=r"hparams\[0\] is a Python float.*jnp.array"):
        jaxl2.sweep(guarded, [0.1, 0.2], x)
    with pytest.raises(TypeError, match=r"hparams must hold numbers.*\['lr'\] has dtype <U"):
        jaxl2.sweep(guarded, {"lr": np.array(["a", "b"])}, x)  # was JAX's lowering error
    with pytest.raises(TypeError, match=r"fn must return a pytree of arrays.*\['name'\] is a str"):
        jaxl2.sweep(lambda h: {"value": h, "name": "ridge"}, jnp.arange(2.0))
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        jaxl2.sweep(guarded, jnp.arange(2.0), x, batch_size=0)
    with pytest.raises(TypeError, match="batch_size must be a positive integer"):
        jaxl2.sweep(guarded, jnp.arange(2.0), x, batch_size=2.5)
    with pytest.raises(ValueError, match="strategy must be one of"):
        jaxl2.sweep(guarded, jnp.arange(2.0), x, strategy="pmap")
    n = len(jax.devices())
    with pytest.raises(ValueError, match=f"devices={n + 1} asks for more devices than exist"):
        jaxl2.sweep(guarded, jnp.arange(2.0), x, devices=n + 1)
    with pytest.raises(ValueError, match="devices must be at least 1"):
        jaxl2.sweep(guarded, jnp.arange(2.0), x, devices=0)
    with pytest.raises(TypeError, match="devices must be a non-empty list of jax.Device"):
        jaxl2.sweep(guarded, jnp.arange(2.0), x, devices=["cpu:0"])
    with pytest.raises(TypeError, match="devices= cannot be used with strategy='loop'"):
        jaxl2.sweep(guarded, jnp.arange(2.0), x, strategy="loop", devices=1)
    with pytest.raises(TypeError, match=r"args\[1\]\['opts'\] is a _Unhashable.*neither an array"):
        jaxl2.sweep(lambda h, x, cfg: h * x, jnp.arange(2.0), x, {"opts": _Unhashable()})
    with pytest.raises(TypeError, match="fn must be callable"):
        jaxl2.sweep("train", jnp.arange(2.0))


class _Unhashable(list):
    """A non-array, non-hashable argument leaf (lists are pytrees; this subclass is a leaf)."""

    __hash__ = None


def test_progress_bar_advances_per_chunk(capsys):
    jaxl2.sweep(lambda h: h * 2, jnp.arange(5.0), strategy="chunked", batch_size=2, progress=True)
    err = capsys.readouterr().err
    assert "5/5" in err and "member" in err


def test_auto_on_accelerators_halves_the_chunk_until_it_fits(monkeypatch):
    """GPU/TPU path, simulated: the compiled program "needs" 200 MB per member, 1 GB exists."""
    monkeypatch.setattr(_sweep, "_backend", lambda: "gpu")
    monkeypatch.setattr(_sweep, "_memory_limit", lambda mesh: 10**9)
    widths = []
    compile_ = _sweep._Runner.compile

    def compile_and_measure(self, rows):
        compile_(self, rows)
        widths.append(self.width)
        need = types.SimpleNamespace(
            temp_size_in_bytes=self.width * 200 * 10**6,
            argument_size_in_bytes=0,
            output_size_in_bytes=0,
        )
        return types.SimpleNamespace(memory_analysis=lambda: need)

    monkeypatch.setattr(_sweep._Runner, "compile", compile_and_measure)

    def fn(h, X, y):
        return train_logistic(h, X, y)

    out, info = jaxl2.sweep(fn, _hparams(13), X, Y, return_info=True)
    assert widths == [13, 6, 3]  # 2.6 GB, 1.2 GB, then 0.6 GB <= 70% of 1 GB
    assert info.chosen == "vmap" and info.width == 3 and info.decided_by == "accelerator"
    _assert_close(out, _reference(train_logistic, _hparams(13), X, Y))


# ----------------------------------------------------------------------------- on-disk caches


@pytest.fixture
def fresh_compilation_cache_check(monkeypatch):
    """Lets _devices.enable_compilation_cache run again; restores JAX's settings after."""
    from jaxl2._sweep import devices as _devices

    before = (
        jax.config.jax_compilation_cache_dir,
        jax.config.jax_persistent_cache_min_compile_time_secs,
    )
    monkeypatch.setattr(_devices, "_compilation_cache_checked", False)
    for name in ("JAXL2_CACHE_DIR", "JAXL2_COMPILATION_CACHE", "JAX_COMPILATION_CACHE_DIR"):
        monkeypatch.delenv(name, raising=False)
    yield _devices
    jax.config.update("jax_compilation_cache_dir", before[0])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", before[1])


def test_compilation_cache_on_by_default_with_opt_outs(
    tmp_path, monkeypatch, fresh_compilation_cache_check
):
    _devices = fresh_compilation_cache_check
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home"))
    path = _devices.enable_compilation_cache()
    assert path == str(tmp_path / "home" / "jaxl2" / "xla" / _devices.machine_id())
    assert jax.config.jax_compilation_cache_dir == path and Path(path).is_dir()
    assert jax.config.jax_persistent_cache_min_compile_time_secs == _devices.MIN_COMPILE_SECONDS
    assert _devices.enable_compilation_cache() == path  # decided once per process

    jax.config.update("jax_compilation_cache_dir", None)
    for opt_out in ("JAXL2_COMPILATION_CACHE", "JAXL2_CACHE_DIR"):
        with monkeypatch.context() as m:
            m.setattr(_devices, "_compilation_cache_checked", False)
            m.setenv(opt_out, "0")
            assert _devices.enable_compilation_cache() is None
            assert jax.config.jax_compilation_cache_dir is None

    mine = str(tmp_path / "mine")  # the user's own setting is kept
    jax.config.update("jax_compilation_cache_dir", mine)
    monkeypatch.setattr(_devices, "_compilation_cache_checked", False)
    assert _devices.enable_compilation_cache() == mine
    assert jax.config.jax_compilation_cache_dir == mine


RERUN_SCRIPT = """
import logging, jax, jax.numpy as jnp, numpy as np, jaxl2
hits = []
class Hits(logging.Handler):
    def emit(self, record):
        if "Persistent compilation cache hit" in record.getMessage():
            hits.append(record.getMessage())
logging.getLogger("jax").addHandler(Hits())
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)  # store even tiny programs
def member(h, x):  # jaxl2.adamw checks the traced weight decay h: no host callback in a sweep
    tx = jaxl2.adamw(0.01, weight_decay=h)
    def step(carry, _):
        w, s = carry
        u, s = tx.update(w - x, s, w)
        return (w + u, s), None
    (w, _), _ = jax.lax.scan(step, (jnp.zeros_like(x), tx.init(jnp.zeros_like(x))), None, length=100)
    return w
with jax.log_compiles(True):
    out = jaxl2.sweep(member, np.linspace(0, 1, 4).astype(np.float32), np.ones(3, np.float32),
                      strategy="vmap")
print("HITS", len(hits), jax.config.jax_compilation_cache_dir)
"""


@pytest.mark.slow
def test_a_rerun_in_a_new_process_reads_the_compiled_sweep_from_disk(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAXL2_CACHE_DIR": str(tmp_path)}
    env.pop("XLA_FLAGS", None)
    runs = []
    for _ in range(2):
        proc = subprocess.run(
            [sys.executable, "-c", RERUN_SCRIPT],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        runs.append(proc.stdout.split("HITS")[1].split())
    assert runs[0][1].startswith(str(tmp_path)) and runs[0][0] == "0"
    assert int(runs[1][0]) >= 1  # the sweep's program came from the cache
