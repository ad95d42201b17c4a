"""SweepTrainer: per-step cost against a hand-written jit(vmap(step)), a cold/warm comparison with
PyTorch's own ensembles (torch.func), an accelerator preset, and the achieved FLOP rate next to
the measured matmul peak.

Every measurement runs in a fresh worker process (``python -m benchmarks.bench_trainer WORKER``)
so that compilation caches and thread pools do not leak between them.

    python -m benchmarks trainer            # CPU figures into RESULTS.md
    python -m benchmarks.bench_trainer gpu  # the accelerator preset (K = 256), prints JSON
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._harness import Row, Section, timeit


def _block(x):
    import jax

    return jax.block_until_ready(x)


_PHASES = {
    "/jax/core/compile/jaxpr_trace_duration": "trace",
    "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower",
    "/jax/core/compile/backend_compile_duration": "compile",
}


def _compile_counter(timeline: list | None = None) -> dict:
    """Counts XLA compilations, their seconds and persistent-cache hits from now on; with
    ``timeline``, appends ``(phase, program, seconds, perf_counter at its end)`` for every
    trace, lowering and compilation (JAX's monitoring events)."""
    import jax

    counts = {"compilations": 0, "compile_seconds": 0.0, "cache_hits": 0}

    def on_duration(event, duration_secs, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            counts["compilations"] += 1
            counts["compile_seconds"] += duration_secs
        if timeline is not None and event in _PHASES:
            name = str(kwargs.get("fun_name", "?")).removeprefix("jit(").removesuffix(")")
            timeline.append((_PHASES[event], name, duration_secs, time.perf_counter()))

    def on_event(event, **kwargs):
        if event == "/jax/compilation_cache/cache_hits":
            counts["cache_hits"] += 1

    jax.monitoring.register_event_duration_secs_listener(on_duration)
    jax.monitoring.register_event_listener(on_event)
    return counts


ROOT = Path(__file__).resolve().parents[1]
LR = 3e-3
SIZES = [64, 128, 10]
# (members, full-batch steps) of the README example: full size, and --quick
README_SIZE = {False: (16, 200), True: (2, 3)}


# ----------------------------------------------------------------------------- shared pieces


def _digits():
    import numpy as np
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32), y.astype(np.int32)


def _mlp(sizes):
    """init(key) -> params and loss(params, (X, y)) of a ReLU MLP (as the README example)."""
    import jax
    import jax.numpy as jnp
    import optax

    def init(key):
        params = {}
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            key, sub = jax.random.split(key)
            scale = jnp.float32((2.0 / a) ** 0.5)
            params[f"layer{i}"] = {
                "kernel": jax.random.normal(sub, (a, b)) * scale,
                "bias": jnp.zeros(b),
            }
        return params

    def loss(params, batch):
        h, y = batch
        for i in range(len(sizes) - 1):
            layer = params[f"layer{i}"]
            h = h @ layer["kernel"] + layer["bias"][None, :]
            if i < len(sizes) - 2:
                h = jax.nn.relu(h)
        return optax.softmax_cross_entropy_with_integer_labels(h, y).mean()

    return init, loss


def _flops_per_step(sizes, batch, K):
    """Matmul FLOPs of one forward + backward step of K members (2·m·n·k each, ×3)."""
    return 3 * 2 * batch * sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True)) * K


def _matmul_peak(n):
    """GFLOP/s of one large f32 matmul (the machine's practical limit for these programs)."""
    import jax
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
    mm = jax.jit(jnp.matmul)
    seconds = timeit(lambda: mm(a, b), repeat=5, warmup=2)
    return 2 * n**3 / seconds / 1e9


def _optimizer():
    import jaxl2

    return lambda lam: jaxl2.adamw(LR, weight_decay=lam, mask="weights")


# ----------------------------------------------------------------------------- workers


def _step_pair(sizes, K, batch, n_batches):
    """(trainer, run_trainer(m), run_hand(m), batches, bytes_accessed()) for trainer.step
    against a hand-written jit(vmap(step), donate_argnums=0) with plain optax.adamw (same decay,
    same mask, no checks) and the hyperparameters on the device, as the trainer holds them."""
    import jax
    import numpy as np
    import optax

    import jaxl2

    X, y = _digits()
    init, loss = _mlp(sizes)
    lams = np.logspace(-3, 1, K).astype(np.float32)
    rng = np.random.default_rng(0)
    rows = [rng.choice(len(X), batch, replace=False) for _ in range(n_batches)]
    batches = [tuple(jax.device_put(a) for a in (X[i, : sizes[0]], y[i] % sizes[-1])) for i in rows]
    trainer = jaxl2.SweepTrainer(init, loss, _optimizer(), lams)
    tx_of = lambda lam: optax.adamw(LR, weight_decay=lam, mask=jaxl2.masks.weights)  # noqa: E731

    def member_step(carry, lam, b):
        params, opt_state = carry
        value, grads = jax.value_and_grad(loss)(params, b)
        updates, opt_state = tx_of(lam).update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), value

    hand = jax.jit(jax.vmap(member_step, in_axes=(0, 0, None)), donate_argnums=0)
    p0 = init(jax.random.key(0))
    start = jax.jit(jax.vmap(lambda lam: (p0, tx_of(lam).init(p0))))  # one stacked state
    lams_device = jax.device_put(lams)

    def run_trainer(m):
        state = trainer.init()
        for i in range(m):
            state, losses = trainer.step(state, batches[i % n_batches])
        return losses

    def run_hand(m):
        carry = start(lams_device)
        for i in range(m):
            carry, losses = hand(carry, lams_device, batches[i % n_batches])
        return losses

    _block(run_trainer(2)), _block(run_hand(2))  # compile both

    def bytes_accessed():
        """XLA's bytes accessed per step of both compiled programs (deterministic, unlike
        timings); the trainer's counts the larger branch of its ``cond``, the one that keeps
        frozen members' state, which runs only when a member is frozen."""
        state, program = trainer.init(), trainer._compiled["step"]  # the jitted step
        ours = program.lower(trainer._h, trainer._step_args(state), batches[0])
        peer = hand.lower(start(lams_device), lams_device, batches[0])
        return tuple(_cost_bytes(lowered.compile()) for lowered in (ours, peer))

    return trainer, run_trainer, run_hand, batches, bytes_accessed


def _cost_bytes(compiled) -> float:
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return float((cost or {}).get("bytes accessed", float("nan")))


def _interleaved(fns: dict, m: int, repeat: int, clock) -> dict:
    """{name: [seconds per call of each block]}: ``repeat`` rounds, each running every
    function for ``m`` calls in turn (blocking once at the end of a block), so that a busy
    machine slows all of them alike; ``clock`` is the time.* function to read."""
    out = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = clock()
            _block(fn(m))
            out[name].append((clock() - start) / m)
    return out


def _python_overhead(trainer, batches, calls: int) -> float:
    """Seconds of host work per call of trainer.step around its compiled program: the same
    calls with the program replaced by a stub that hands the state back (main-thread CPU
    time, so other processes do not count). The hand-written loop has none by construction:
    its call is the compiled program's."""
    real = trainer._step_program
    trainer._step_program = lambda h, core, batch: (core, None)
    samples = []
    try:
        for _ in range(5):
            state = trainer.init()
            start = time.thread_time()
            for i in range(calls):
                state, _ = trainer.step(state, batches[i % len(batches)])
            samples.append((time.thread_time() - start) / calls)
    finally:
        trainer._step_program = real
    return statistics.median(samples)


def _worker_step(quick: bool) -> dict:
    """trainer.step from a Python loop against a hand-written jit(vmap(step), donate)."""
    import numpy as np

    K, batch, n_steps = (2, 16, 3) if quick else (16, 64, 200)
    trainer, run_trainer, run_hand, batches, bytes_accessed = _step_pair(
        SIZES, K, batch, min(n_steps, 50)
    )
    # Interleaved blocks (trainer, hand, trainer, ...), the median of many: wall time, and
    # the CPU time of all threads next to it (steadier under load).
    repeat = 1 if quick else 25
    fns = {"trainer": run_trainer, "hand": run_hand}
    walls = _interleaved(fns, n_steps, repeat, time.perf_counter)
    cpus = _interleaved(fns, n_steps, repeat, time.process_time)
    ours = statistics.median(walls["trainer"])
    peer = statistics.median(walls["hand"])
    cpu_ours, cpu_peer = statistics.median(cpus["trainer"]), statistics.median(cpus["hand"])
    bytes_trainer, bytes_hand = bytes_accessed()
    diff = float(np.max(np.abs(np.asarray(run_trainer(n_steps)) - np.asarray(run_hand(n_steps)))))
    # Per-call host cost: Python around the program, and the whole call (Python, dispatch and
    # the program's fixed per-operation costs) with a negligible model (MLP 2-2-2, batch 1),
    # main-thread CPU time.
    calls = 50 if quick else 3000
    python = _python_overhead(trainer, batches, calls)
    _, tiny_trainer, tiny_hand, _, _ = _step_pair([2, 2, 2], K, 1, 8)
    tiny = _interleaved(
        {"trainer": tiny_trainer, "hand": tiny_hand}, calls, 1 if quick else 7, time.thread_time
    )
    flops = _flops_per_step(SIZES, batch, K)
    return {
        "K": K,
        "batch": batch,
        "trainer_step": ours,
        "hand_step": peer,
        "cpu_trainer": cpu_ours,
        "cpu_hand": cpu_peer,
        "cpu_ratio": cpu_ours / cpu_peer,
        "wall_ratio": ours / peer,
        "bytes_trainer": bytes_trainer,
        "bytes_hand": bytes_hand,
        "python_overhead": python,
        "tiny_trainer": statistics.median(tiny["trainer"]),
        "tiny_hand": statistics.median(tiny["hand"]),
        "repeat": repeat,
        "max_abs_diff": diff,
        "gflops": flops / ours / 1e9,
        "peak_gflops": _matmul_peak(256 if quick else 2048),
    }


def _worker_readme(quick: bool, kind: str) -> dict:
    """The README example (K = 16, 200 full-batch steps), first (cold) and second (warm) call."""
    import jax
    import numpy as np

    import jaxl2

    K, steps = README_SIZE[quick]
    X, y = _digits()
    train, val = (X[:1300], y[:1300]), (X[1300:], y[1300:])
    init, loss = _mlp(SIZES)
    lams = np.logspace(-2, 2, K).astype(np.float32)

    optimizer = _optimizer()  # one function object: a warm call reuses the compiled program
    timeline: list = []
    counts = _compile_counter(timeline)
    start, cpu = time.perf_counter(), time.process_time()
    if kind == "train_sweep":

        def call():
            result = jaxl2.train_sweep(
                init,
                loss,
                train,
                eval_data=val,
                hparams=lams,
                optimizer=optimizer,
                steps=steps,
                strategy="vmap",
            )
            return result.final("val_loss")
    else:
        Xtr, ytr = jax.device_put(train[0]), jax.device_put(train[1])
        trainer = jaxl2.SweepTrainer(init, loss, optimizer, lams)

        def call():
            state = trainer.init()
            for _ in range(steps):
                state, losses = trainer.step(state, (Xtr, ytr))
            return trainer.evaluate(state, val)["loss"]

    jax.block_until_ready(call())
    cold, cold_cpu = time.perf_counter() - start, time.process_time() - cpu
    cold_counts = dict(counts)
    cold_timeline, cold_start = list(timeline), start
    start, cpu = time.perf_counter(), time.process_time()
    jax.block_until_ready(call())
    warm, warm_cpu = time.perf_counter() - start, time.process_time() - cpu
    return {
        "cold": cold,
        "warm": warm,
        "cold_cpu": cold_cpu,
        "warm_cpu": warm_cpu,
        "breakdown": _breakdown(cold_timeline, cold_start, cold),
        "flops": _flops_per_step(SIZES, 1300, K) * steps,
        "cache": jax.config.jax_compilation_cache_dir,
        **cold_counts,
    }


def _breakdown(timeline: list, start: float, cold: float) -> dict:
    """The first call's wall time by phase: per program, its trace, lowering and compilation
    seconds (JAX's events; the model's init program compiles in a background thread while the
    sweep's program traces, so these may overlap); ``ready``: from the call to the end of the
    last compilation (all first-call work: checks, tracing, lowering, compiling, host set-up),
    ``run``: the rest (running the compiled program(s), results to the host)."""
    programs: dict = {}
    for phase, name, seconds, _ in timeline:
        entry = programs.setdefault(name, {"trace": 0.0, "lower": 0.0, "compile": 0.0})
        entry[phase] += seconds
    ends = [end for phase, _, _, end in timeline if phase == "compile"]
    ready = (max(ends) - start) if ends else 0.0
    return {"programs": programs, "ready": ready, "run": cold - ready}


def _worker_torch(quick: bool) -> dict:
    """torch.func ensemble: stack_module_state + vmap(functional_call), Adam with per-member
    decoupled decay on the weight matrices (AdamW's ``w ← w·(1 − lr·λ_k)`` before the step)."""
    import copy

    import numpy as np
    import torch
    from torch.func import functional_call, grad_and_value, stack_module_state, vmap

    K, steps = README_SIZE[quick]
    X, y = _digits()
    Xt, yt = torch.from_numpy(X[:1300]), torch.from_numpy(y[:1300].astype(np.int64))
    lams = torch.from_numpy(np.logspace(-2, 2, K).astype(np.float32))

    def call():
        torch.manual_seed(0)
        base = torch.nn.Sequential(
            torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10)
        )
        models = [copy.deepcopy(base) for _ in range(K)]  # the same start, as jaxl2's
        params, buffers = stack_module_state(models)
        meta = copy.deepcopy(base).to("meta")

        def member_loss(p, b, x, t):
            out = functional_call(meta, (p, b), (x,))
            return torch.nn.functional.cross_entropy(out, t)

        step = vmap(grad_and_value(member_loss), in_dims=(0, 0, None, None))
        leaves = [params[k] for k in params]
        opt = torch.optim.Adam(leaves, lr=LR)
        for _ in range(steps):
            grads, _ = step(params, buffers, Xt, yt)
            with torch.no_grad():
                for name, p in params.items():
                    p.grad = grads[name]
                    if name.endswith("weight"):
                        p.mul_(1 - LR * lams.view(-1, *([1] * (p.ndim - 1))))
            opt.step()
        return float(member_loss({k: v[0] for k, v in params.items()}, buffers, Xt, yt))

    start = time.perf_counter()
    call()
    cold = time.perf_counter() - start
    start = time.perf_counter()
    call()
    warm = time.perf_counter() - start
    return {"cold": cold, "warm": warm, "threads": torch.get_num_threads()}


def _worker_accelerator(quick: bool) -> dict:
    """K = 256 small MLPs: trainer.step against a per-member jitted loop, on any backend."""
    import jax
    import numpy as np
    import optax

    import jaxl2

    K, batch, n_steps = (2, 16, 2) if quick else (256, 256, 50)
    X, y = _digits()
    init, loss = _mlp(SIZES)
    lams = np.logspace(-3, 1, K).astype(np.float32)
    rng = np.random.default_rng(0)
    batches = [
        tuple(jax.device_put(a) for a in (X[i], y[i]))
        for i in (rng.choice(len(X), batch, replace=False) for _ in range(n_steps))
    ]
    trainer = jaxl2.SweepTrainer(init, loss, _optimizer(), lams)

    def run_trainer():
        state = trainer.init()
        for b in batches:
            state, losses = trainer.step(state, b)
        return losses

    tx_of = _optimizer()

    @jax.jit
    def one_step(params, opt_state, lam, b):
        value, grads = jax.value_and_grad(loss)(params, b)
        updates, opt_state = tx_of(lam).update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value

    p0 = init(jax.random.key(0))

    def run_loop():
        states = [(p0, tx_of(lam).init(p0)) for lam in lams]
        for b in batches:
            out = []
            for (p, s), lam in zip(states, lams, strict=True):
                p, s, v = one_step(p, s, lam, b)
                out.append((p, s))
            states = out
        return v

    repeat = 1 if quick else 3
    ours = timeit(run_trainer, repeat=repeat, warmup=1) / n_steps
    peer = timeit(run_loop, repeat=repeat, warmup=1) / n_steps
    flops = _flops_per_step(SIZES, batch, K)
    return {
        "backend": jax.default_backend(),
        "device": str(jax.devices()[0]),
        "K": K,
        "trainer_step": ours,
        "loop_step": peer,
        "speedup": peer / ours,
        "gflops": flops / ours / 1e9,
        "peak_gflops": _matmul_peak(256 if quick else 8192),
    }


WORKERS = {
    "step": lambda q: _worker_step(q),
    "readme_train_sweep": lambda q: _worker_readme(q, "train_sweep"),
    "readme_trainer": lambda q: _worker_readme(q, "trainer"),
    "torch": lambda q: _worker_torch(q),
    "gpu": lambda q: _worker_accelerator(q),
}


def _spawn(name: str, quick: bool, cache: str | None = None) -> dict:
    """Worker ``name`` in a fresh process. ``cache``: the directory of JAX's persistent
    compilation cache (jaxl2 turns it on for sweeps); None: off, so "cold" means no compiled
    program from an earlier run."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env["JAXL2_CACHE_DIR"] = cache or "0"
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    if quick:  # tiny sizes check the code paths only: one process is enough
        return WORKERS[name](quick)
    env.pop("XLA_FLAGS", None)
    args = [sys.executable, "-m", "benchmarks.bench_trainer", name] + (["--quick"] if quick else [])
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark worker {name} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _describe_breakdown(b: dict) -> str:
    """The first call's phases in words (see _breakdown)."""
    parts = [
        f"{name}: trace {p['trace']:.2f} s, lower {p['lower']:.2f} s, compile {p['compile']:.2f} s"
        for name, p in b["programs"].items()
    ]
    return (
        f"Cold call by phase: the last compilation ended {b['ready']:.2f} s into the call "
        f"(checks, tracing, lowering, compiling; the model's init program compiles in a "
        f"background thread while the rest traces and compiles, so per-program seconds "
        f"overlap), {b['run']:.2f} s after it (running, results to the host); per program: "
        f"{'; '.join(parts) or 'none'}."
    )


COLD_REPEAT = 3  # fresh processes per side for the README example's cold/warm rows


def _median(runs: list[dict], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def _median_run(runs: list[dict]) -> dict:
    """The run whose cold time is the median (its breakdown is the one reported)."""
    return sorted(runs, key=lambda r: r["cold"])[(len(runs) - 1) // 2]


def _torch_func_available() -> bool:
    try:
        import torch.func  # noqa: F401
    except ImportError:
        return False
    return True


# ----------------------------------------------------------------------------- report


def run(quick: bool = False) -> list[Section]:
    rows, lines = [], []
    step = _spawn("step", quick)
    rows.append(
        Row(
            f"trainer.step, K = {step['K']}, MLP 64-128-10, batch {step['batch']} (per step)",
            step["trainer_step"],
            step["hand_step"],
            "jit(vmap(step), donate_argnums=0), optax.adamw",
            target="≥ 0.83× (≤ 1.2× its time)",
            passed=step["hand_step"] / step["trainer_step"] >= 1 / 1.2,
            note=f"interleaved blocks, median of {step['repeat']}; CPU time (all threads) "
            f"{step['cpu_trainer'] * 1e3:.2f} ms against {step['cpu_hand'] * 1e3:.2f} ms per "
            f"step (ratio {step['cpu_ratio']:.2f}); XLA bytes accessed per step "
            f"{step['bytes_trainer'] / 1e6:.1f} MB against {step['bytes_hand'] / 1e6:.1f} MB "
            f"(the trainer's counts the branch that keeps frozen members, which runs only "
            f"when one is frozen); per-call Python work around the compiled "
            f"program {step['python_overhead'] * 1e6:.1f} µs (the hand loop: none, its call is "
            f"the program); whole call with a negligible model (MLP 2-2-2, batch 1, "
            f"main-thread CPU) {step['tiny_trainer'] * 1e6:.0f} µs against "
            f"{step['tiny_hand'] * 1e6:.0f} µs; same losses to {step['max_abs_diff']:.1e}",
        )
    )
    lines.append(
        f"- FLOP rate of trainer.step: {step['gflops']:.1f} GFLOP/s against a measured f32 "
        f"matmul peak of {step['peak_gflops']:.1f} GFLOP/s "
        f"({100 * step['gflops'] / step['peak_gflops']:.1f} % of it; small matmuls)."
    )
    trainer = _spawn("readme_trainer", quick)
    # --quick (the test suite) skips the train_sweep run: its code path is tested elsewhere.
    # Otherwise jaxl2's and torch's fresh processes alternate, COLD_REPEAT each, and the rows
    # give their medians: one process each was up to 0.3 s apart from run to run here.
    has_torch = _torch_func_available()
    sweeps, torches = [], []
    for _ in range(1 if quick else COLD_REPEAT):
        sweeps.append(trainer if quick else _spawn("readme_train_sweep", quick))
        if has_torch:
            torches.append(_spawn("torch", quick))
    sweep = _median_run(sweeps)
    peak = step["peak_gflops"]
    for name, r in (("train_sweep (vmap)", sweep), ("SweepTrainer loop", trainer)):
        lines.append(
            f"- README example, {name}: cold {r['cold']:.2f} s ({r['compilations']} XLA "
            f"compilations, {r['compile_seconds']:.2f} s), warm {r['warm']:.2f} s "
            f"({r['flops'] / r['warm'] / 1e9:.1f} GFLOP/s warm, peak {peak:.1f}); CPU time "
            f"(all threads) cold {r['cold_cpu']:.2f} s, warm {r['warm_cpu']:.2f} s. "
            + _describe_breakdown(r["breakdown"])
        )
    if not quick:  # a re-run script: a fresh process with the cache the first one filled
        with tempfile.TemporaryDirectory() as cache:
            first = _spawn("readme_train_sweep", quick, cache)
            again = _spawn("readme_train_sweep", quick, cache)
        rows.append(
            Row(
                "README example, train_sweep cold in a fresh process: with the persistent "
                "compilation cache a previous run filled vs without",
                again["cold"],
                sweep["cold"],
                "the same call without the cache",
                target="≥ 1×",
                passed=sweep["cold"] >= again["cold"],
                note=f"{again['cache_hits']} programs read from the cache, "
                f"{again['compilations']} compiled; the run that filled it: {first['cold']:.2f} "
                f"s, {first['compilations']} compilations",
            )
        )
    k_readme, steps_readme = README_SIZE[quick]
    if has_torch:
        for label, key in (("cold (first call in a fresh process)", "cold"), ("warm", "warm")):
            ours, peer = _median(sweeps, key), _median(torches, key)
            best = min(ours, trainer[key])
            runs = ", ".join(
                f"{a[key]:.2f}/{b[key]:.2f}" for a, b in zip(sweeps, torches, strict=True)
            )
            rows.append(
                Row(
                    f"README example, K = {k_readme} × {steps_readme} full-batch steps, {label}",
                    best,
                    peer,
                    f"torch.func ensemble ({torches[0]['threads']} threads)",
                    target="≥ 1×",
                    passed=peer >= best,
                    note=f"jaxl2: the faster of train_sweep {ours:.2f} s and SweepTrainer "
                    f"{trainer[key]:.2f} s; medians of {len(sweeps)} alternating fresh "
                    f"processes each (train_sweep/torch: {runs})",
                )
            )
    else:
        lines.append("- torch.func is not installed here: the PyTorch ensemble was skipped.")
    if quick:
        lines.append("- Accelerator preset: skipped under --quick.")
    else:
        import jax

        on_cpu = jax.default_backend() == "cpu"
        acc = _spawn("gpu", on_cpu)  # the full K = 256 preset on an accelerator only
        lines.append(
            f"- Accelerator preset (`python -m benchmarks.bench_trainer gpu`) on {acc['device']}, "
            f"K = {acc['K']}{' (its quick form: no accelerator here)' if on_cpu else ''}: "
            f"trainer {acc['trainer_step'] * 1e3:.2f} ms/step, per-member loop "
            f"{acc['loop_step'] * 1e3:.2f} ms/step ({acc['speedup']:.1f}×); "
            f"{acc['gflops']:.1f} GFLOP/s against a matmul peak of {acc['peak_gflops']:.1f}."
        )
    intro = (
        "jaxl2.SweepTrainer drives K members from a Python loop, one compiled step per batch; "
        "the peer is the same step written by hand, and PyTorch's own way to train an ensemble "
        "(torch.func.stack_module_state + vmap over functional_call)."
    )
    return [Section("trainer", "SweepTrainer: step cost, cold and warm", intro, rows, lines)]


def _main(argv: list[str]) -> None:
    quick = "--quick" in argv
    names = [a for a in argv if not a.startswith("--")]
    if not names or names[0] not in WORKERS:
        raise SystemExit(f"usage: python -m benchmarks.bench_trainer {{{','.join(WORKERS)}}}")
    print(json.dumps(WORKERS[names[0]](quick)))


if __name__ == "__main__":
    _main(sys.argv[1:])
