"""λ sweeps: jaxl2.sweep(strategy="auto") against a per-member jitted loop and PyTorch.

Every timing runs in a fresh subprocess ("worker"), because one CPU device per core
(``jaxl2.use_cpu_cores()``) must be chosen before JAX starts its backend. The loop baseline is
one jitted training function called once per member (the same function the sweep runs), timed
both in a default process (one XLA device using every core) and in the cores-as-devices
process; the faster of the two is the baseline. PyTorch trains the same MLP with the same
full-batch AdamW, member after member, with its default threads.

``python -m benchmarks sweep`` (add ``--quick`` for tiny sizes).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from benchmarks._harness import Row, Section, timeit

ROOT = Path(__file__).resolve().parents[1]
LR, WD_RANGE = 3e-3, (-3.0, 1.0)

# name -> (layer sizes, K, steps, target for auto / loop, compare with torch)
CASES = {
    "logistic": ([64, 10], 64, 300, 4.0, False),
    "mlp128": ([64, 128, 10], 32, 300, 2.0, True),
    "mlp256_k16": ([64, 256, 256, 10], 16, 150, 1.0, True),
    "mlp256_k64": ([64, 256, 256, 10], 64, 150, 1.0, False),
}
QUICK = {"logistic": 8, "mlp128": 4}  # --quick: these cases only, K members, 20 steps
MEMORY_BATCH = 16


# ----------------------------------------------------------------------------- workers


def _digits():
    import numpy as np
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32), y.astype(np.int32)


def _train_fn(sizes, steps):
    """Full-batch AdamW (jaxl2.adamw, weight matrices decayed) from a fixed init; final loss."""
    import jax
    import jax.numpy as jnp
    import optax

    import jaxl2

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

    def loss(params, X, y):
        h = X
        for i in range(len(sizes) - 1):
            layer = params[f"layer{i}"]
            h = h @ layer["kernel"] + layer["bias"][None, :]
            if i < len(sizes) - 2:
                h = jax.nn.relu(h)
        return optax.softmax_cross_entropy_with_integer_labels(h, y).mean()

    def train(lam, X, y):
        params = init(jax.random.key(0))
        tx = jaxl2.adamw(LR, weight_decay=lam, mask="weights")

        def step(carry, _):
            p, s = carry
            value, g = jax.value_and_grad(loss)(p, X, y)
            u, s = tx.update(g, s, p)
            return (optax.apply_updates(p, u), s), value

        (_, _), losses = jax.lax.scan(step, (params, tx.init(params)), None, length=steps)
        return losses[-1]

    return train


def _worker_jax(case: str, quick: bool, cores: bool) -> dict:
    import jaxl2

    if cores:
        jaxl2.use_cpu_cores()
    import jax
    import numpy as np

    sizes, K, steps, _, _ = CASES[case]
    if quick:
        K, steps = QUICK[case], 20
    X, y = _digits()
    X, y = jax.device_put(X), jax.device_put(y)
    train = _train_fn(sizes, steps)
    lams = np.logspace(*WD_RANGE, K).astype(np.float32)
    repeat = 1 if quick else (2 if "mlp256" in case else 3)
    one = jax.jit(train)

    def loop():
        return [one(lam, X, y) for lam in lams]

    out = {"devices": len(jax.devices())}
    start = time.perf_counter()
    jax.block_until_ready(loop())
    out["loop_first"] = time.perf_counter() - start
    out["loop"] = timeit(loop, repeat=repeat, warmup=0)
    start = time.perf_counter()
    result, info = jaxl2.sweep(train, lams, X, y, return_info=True)
    jax.block_until_ready(result)
    out["auto_first"] = time.perf_counter() - start
    out["probe"] = info.probe_seconds_per_member
    out["decided_by"] = info.decided_by
    out["auto"] = timeit(lambda: jaxl2.sweep(train, lams, X, y), repeat=repeat, warmup=1)
    out["chosen"] = info.chosen  # the reruns reuse this decision (same fn object)
    out["width"] = info.width
    expected = np.array(loop())
    out["max_abs_diff"] = float(np.max(np.abs(np.asarray(result) - expected)))
    if not cores and "mlp256" not in case:  # plain vmap on one device, for comparison
        vmapped = jax.jit(jax.vmap(train, in_axes=(0, None, None)))
        out["vmap"] = timeit(lambda: vmapped(lams, X, y), repeat=repeat, warmup=1)
    return out


def _worker_torch(case: str, quick: bool) -> dict:
    import numpy as np
    import torch

    sizes, K, steps, _, _ = CASES[case]
    if quick:
        K, steps = QUICK[case], 20
    X, y = _digits()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
    lams = np.logspace(*WD_RANGE, K)

    def member(lam):
        torch.manual_seed(0)
        layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            layer = torch.nn.Linear(a, b)
            with torch.no_grad():
                layer.weight.normal_(0.0, (2.0 / a) ** 0.5)
                layer.bias.zero_()
            layers.append(layer)
            if i < len(sizes) - 2:
                layers.append(torch.nn.ReLU())
        model = torch.nn.Sequential(*layers)
        decay = [p for n, p in model.named_parameters() if n.endswith("weight")]
        rest = [p for n, p in model.named_parameters() if n.endswith("bias")]
        opt = torch.optim.AdamW(
            [{"params": decay, "weight_decay": float(lam)}, {"params": rest, "weight_decay": 0.0}],
            lr=LR,
        )
        lossf = torch.nn.CrossEntropyLoss()
        for _ in range(steps):
            opt.zero_grad()
            loss = lossf(model(Xt), yt)
            loss.backward()
            opt.step()
        return float(loss)

    member(lams[0])  # warm-up
    start = time.perf_counter()
    for lam in lams:
        member(lam)
    return {"torch": time.perf_counter() - start, "threads": torch.get_num_threads()}


def _rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _worker_memory(K: int, strategy: str, quick: bool) -> dict:
    """Peak resident memory one sweep adds, in a fresh process, its program compiled before."""
    import jax
    import numpy as np

    import jaxl2

    X, y = _digits()
    X, y = jax.device_put(X), jax.device_put(y)
    train = _train_fn([64, 128, 10], 5 if quick else 50)
    lams = np.logspace(*WD_RANGE, K).astype(np.float32)
    kwargs = {"strategy": strategy, "batch_size": MEMORY_BATCH if strategy == "chunked" else None}
    warm = lams[:MEMORY_BATCH] if strategy == "chunked" else lams  # the same program
    jax.block_until_ready(jaxl2.sweep(train, warm, X, y, **kwargs))
    try:  # reset the high-water mark (Linux >= 4.0), so that compiling does not count
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    before = _rss_mb("VmRSS")
    jax.block_until_ready(jaxl2.sweep(train, lams, X, y, **kwargs))
    return {"peak_mb": _rss_mb("VmHWM") - before}


SHARDED = """
import json, jax, numpy as np
import jaxl2
from benchmarks.bench_sweep import _digits, _train_fn
X, y = _digits()
train = _train_fn([64, 32, 10], 50)
lams = np.logspace(-3, 1, 10).astype(np.float32)
plain = np.asarray(jaxl2.sweep(train, lams, X, y, strategy="vmap"))
out = {"devices": len(jax.devices())}
for strategy in ("vmap", "map", "auto"):
    sharded = np.asarray(jaxl2.sweep(train, lams, X, y, strategy=strategy, devices=4))
    out[strategy] = float(np.max(np.abs(sharded - plain)))
print(json.dumps(out))
"""


def _spawn(args: list[str], env: dict | None = None, code: str | None = None) -> dict:
    command = (
        [sys.executable, "-c", code]
        if code
        else [sys.executable, "-m", "benchmarks.bench_sweep", *args]
    )
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = str(ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
    if env is None:
        full_env.pop("XLA_FLAGS", None)
    proc = subprocess.run(
        command, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=3600
    )
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark worker {args} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- report


def _torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def run(quick: bool = False) -> list[Section]:
    q = ["--quick"] if quick else []
    rows, lines = [], []
    for case, (sizes, K, steps, target, vs_torch) in CASES.items():
        if quick and case not in QUICK:
            continue
        if quick:
            K, steps = QUICK[case], 20
        cores = _spawn(["--worker", "jax", case, "cores", *q])
        # quick: one process per case (the loop of the cores process is the baseline)
        plain = cores if quick else _spawn(["--worker", "jax", case, "plain", *q])
        loop = min(cores["loop"], plain["loop"])
        where = "1 device" if plain["loop"] <= cores["loop"] else f"{cores['devices']} devices"
        name = "logistic regression" if case == "logistic" else "MLP " + "-".join(map(str, sizes))
        label = f"{name}, digits, K = {K}, {steps} AdamW steps"
        ours = cores["auto"]
        probe = cores["probe"] or {}
        probe_text = ", ".join(f"{k} {v * 1e3:.1f}" for k, v in probe.items())
        rows.append(
            Row(
                case=f"{label}: auto vs per-member jitted loop",
                ours=ours,
                peer=loop,
                peer_name=f"jit loop ({where})",
                target=f"≥ {target:g}×, |auto − loop| ≤ 1e-4",
                # the speed counts only when auto returned the loop's numbers
                passed=loop / ours >= target and cores["max_abs_diff"] <= 1e-4,
                note=(
                    f"auto chose {cores['chosen']} (by {cores['decided_by']}) over "
                    f"{cores['devices']} CPU devices, {cores['width']} members per call"
                    + (f" (probe, ms per member: {probe_text})" if probe_text else "")
                    + "; "
                    f"first call with probe and compilations {cores['auto_first']:.2f} s vs the "
                    f"loop's first call {min(cores['loop_first'], plain['loop_first']):.2f} s; "
                    + (f"plain vmap on 1 device {plain['vmap']:.2f} s; " if "vmap" in plain else "")
                    + (
                        f"auto without use_cpu_cores (1 device) {plain['auto']:.2f} s, chose "
                        f"{plain['chosen']}; "
                        if plain is not cores
                        else ""
                    )
                    + f"max |auto − loop| = {cores['max_abs_diff']:.1e}"
                ),
            )
        )
        if vs_torch and _torch_available():
            torch = _spawn(["--worker", "torch", case, *q])
            rows.append(
                Row(
                    case=f"{label}: auto vs PyTorch (sequential)",
                    ours=ours,
                    peer=torch["torch"],
                    peer_name=f"torch AdamW loop ({torch['threads']} threads)",
                    target="≥ 2×",
                    passed=torch["torch"] / ours >= 2.0,
                )
            )
    small, big = (16, 64) if quick else (16, 256)
    chunked_small = _spawn(["--worker", "memory", str(small), "chunked", *q])
    chunked_big = _spawn(["--worker", "memory", str(big), "chunked", *q])
    vmap_text = ""
    if not quick:
        vmap_big = _spawn(["--worker", "memory", str(big), "vmap", *q])
        vmap_text = f' Plain `strategy="vmap"` over all K = {big}: {vmap_big["peak_mb"]:.1f} MB.'
    lines += [
        "### Memory (peak resident memory one sweep adds, in a fresh process, compiled before)",
        "",
        f'MLP 64-128-10, {"5" if quick else "50"} steps, `strategy="chunked"`, '
        f"`batch_size={MEMORY_BATCH}`: K = {small}: {chunked_small['peak_mb']:.1f} MB; "
        f"K = {big}: {chunked_big['peak_mb']:.1f} MB (bounded by the chunk; only the K small "
        f"outputs accumulate on the host).{vmap_text}",
        "",
    ]
    sharded = _spawn(
        [], env={"XLA_FLAGS": "--xla_force_host_platform_device_count=4"}, code=SHARDED
    )
    lines += [
        "### Sharded over 4 faked CPU devices (correctness only)",
        "",
        f"`XLA_FLAGS=--xla_force_host_platform_device_count=4`, {sharded['devices']} devices, "
        "MLP 64-32-10, K = 10 (padded to 12): max |sharded − unsharded| = "
        f"{sharded['vmap']:.1e} (vmap), {sharded['map']:.1e} (map), {sharded['auto']:.1e} "
        "(auto). Faked devices share the same cores, so CPU throughput there is not "
        "meaningful; this checks the sharding (padding, NamedSharding, gathering) only.",
    ]
    intro = (
        '`jaxl2.sweep(fn, lams, X, y)` with the default `strategy="auto"`, in a process that '
        "called `jaxl2.use_cpu_cores()` first (one XLA:CPU device per core), against a Python "
        "loop over one jitted `fn` (timed in a default process and in the cores-as-devices "
        "process; the faster is the baseline). `fn` trains from a fixed initialization with "
        'full-batch `jaxl2.adamw(3e-3, weight_decay=λ, mask="weights")` on all 1797 digits and '
        "returns the final loss; times are per sweep (all K members), after a warm-up call that "
        "compiles and, for auto, probes."
        + (" QUICK MODE: tiny sizes, not meaningful." if quick else "")
    )
    return [
        Section(name="sweep", title="λ sweeps (jaxl2.sweep)", intro=intro, rows=rows, lines=lines),
        *run_cold(quick),
    ]


# ----------------------------------------------------------------------------- one-off cold calls

# name -> (layer sizes, K, steps): issue 10's one-off cases (full-batch AdamW on digits)
COLD_CASES = {
    "logistic": ([64, 10], 64, 300),
    "mlp128": ([64, 128, 10], 32, 300),
    "mlp256": ([64, 256, 256, 10], 16, 150),
}
COLD_QUICK = {"logistic": 4, "mlp128": 4}  # --quick: K members, 10 steps (run: logistic only)
COLD_REPEAT = 3  # fresh processes per measurement (median)


def _worker_cold(case: str, strategy: str, quick: bool) -> dict:
    """One sweep in a fresh process, as a user's one-off script or notebook cell runs it:
    the time of the call itself (tracing, compilation, probing and running), data loaded."""
    import jax
    import numpy as np

    import jaxl2

    sizes, K, steps = COLD_CASES[case]
    if quick:
        K, steps = COLD_QUICK[case], 10
    X, y = _digits()
    X, y = jax.device_put(X), jax.device_put(y)
    train = _train_fn(sizes, steps)
    lams = np.logspace(*WD_RANGE, K).astype(np.float32)
    start, cpu = time.perf_counter(), time.process_time()
    out, info = jaxl2.sweep(train, lams, X, y, strategy=strategy, return_info=True)
    jax.block_until_ready(out)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "cpu_seconds": time.process_time() - cpu,  # all threads: steadier on a busy machine
        "chosen": info.chosen,
        "decided_by": info.decided_by,
        "flops": info.flops_per_member,
        "cache": jax.config.jax_compilation_cache_dir,
    }


def _cold(
    case: str, strategy: str, quick: bool, cache: str | None, extra: dict | None = None
) -> dict:
    env = {"JAXL2_CACHE_DIR": cache or "0", "XLA_FLAGS": "", **(extra or {})}
    start = time.perf_counter()
    out = _spawn(["--worker", "cold", case, strategy, *(["--quick"] if quick else [])], env=env)
    out["process"] = time.perf_counter() - start
    return out


def run_cold(quick: bool = False) -> list[Section]:
    """One-off cold calls: "auto" against the better of "vmap" and "loop", each in a fresh
    process, without and with the persistent compilation cache (and auto's remembered
    decisions) of a previous run."""
    import statistics
    import tempfile

    rows, lines = [], []
    repeat = 1 if quick else COLD_REPEAT
    for case, (sizes, K, steps) in COLD_CASES.items():
        if quick and case != "logistic":
            continue
        if quick:
            K, steps = COLD_QUICK[case], 10
        name = "logistic regression" if case == "logistic" else "MLP " + "-".join(map(str, sizes))
        label = f"{name}, digits, K = {K}, {steps} AdamW steps, one-off call in a fresh process"
        runs = {s: [_cold(case, s, quick, None) for _ in range(repeat)] for s in STRATS}
        med = {s: statistics.median(r["seconds"] for r in runs[s]) for s in STRATS}
        best = min(("vmap", "loop"), key=med.__getitem__)
        chosen = sorted({str(r["chosen"]) for r in runs["auto"]})
        how = sorted({str(r["decided_by"]) for r in runs["auto"]})
        rows.append(
            Row(
                case=f"{label}: auto vs the better of vmap and loop (no caches)",
                ours=med["auto"],
                peer=med[best],
                peer_name=f"{best} (cold)",
                target="auto ≤ 1.1× the better (speed-up ≥ 0.91), same choice every run",
                passed=med[best] / med["auto"] >= 1 / 1.1 and len(chosen) == 1,
                note=(
                    f"median of {repeat} fresh processes; vmap {med['vmap']:.2f} s, loop "
                    f"{med['loop']:.2f} s; auto chose {'/'.join(chosen)} (by {'/'.join(how)}; "
                    f"cost analysis {runs['auto'][0]['flops'] or 0:.3g} FLOP per member pass)"
                ),
            )
        )
        # jaxl2.sweep traces fn without host callbacks (jaxl2's checks of traced rates give
        # NaN in that member instead), so JAX stores its programs with the default checks.
        with tempfile.TemporaryDirectory() as cache:
            _cold(case, "auto", quick, cache)  # fills the cache
            reruns = [_cold(case, "auto", quick, cache) for _ in range(repeat)]
        again = statistics.median(r["seconds"] for r in reruns)
        cpu = {
            "no cache": statistics.median(r["cpu_seconds"] for r in runs["auto"]),
            "cache": statistics.median(r["cpu_seconds"] for r in reruns),
        }
        rows.append(
            Row(
                case=f"{label}: auto re-run with the persistent compilation cache vs without",
                ours=again,
                peer=med["auto"],
                peer_name="auto, no cache",
                target="faster (compilation read from disk)",
                passed=again < med["auto"],
                note=(
                    "re-run in a new process after one run filled JAXL2_CACHE_DIR, equinox's "
                    f"default checks; CPU time {cpu['cache']:.2f} s against {cpu['no cache']:.2f} "
                    "s (all threads: steadier than wall time on a busy machine)."
                ),
            )
        )
    intro = (
        "Issue 10's one-off case: each number is one `jaxl2.sweep(train, lams, X, y, "
        "strategy=...)` call timed inside a fresh Python process (data loaded, JAX started, "
        "nothing compiled): tracing, compilation, auto's decision and the run. Default "
        "devices (one XLA:CPU device). Without caches (`JAXL2_CACHE_DIR=0`), then re-run "
        "with the persistent compilation cache and auto's remembered decisions of an earlier "
        "process." + (" QUICK MODE: tiny sizes, not meaningful." if quick else "")
    )
    return [
        Section(
            name="sweep_cold",
            title="λ sweeps, one-off cold calls (jaxl2.sweep)",
            intro=intro,
            rows=rows,
            lines=lines,
        )
    ]


STRATS = ("auto", "vmap", "loop")


def _main(argv: list[str]) -> None:
    quick = "--quick" in argv
    argv = [a for a in argv if a != "--quick"]
    kind = argv[1]
    if kind == "jax":
        out = _worker_jax(argv[2], quick, argv[3] == "cores")
    elif kind == "torch":
        out = _worker_torch(argv[2], quick)
    elif kind == "cold":
        out = _worker_cold(argv[2], argv[3], quick)
    else:
        out = _worker_memory(int(argv[2]), argv[3], quick)
    print(json.dumps(out))


if __name__ == "__main__":
    _main(sys.argv[1:])
