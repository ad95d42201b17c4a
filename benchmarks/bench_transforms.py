"""One jitted optimizer step on a ~10M-parameter pytree: jaxl2's transforms against optax's.

Target (issue 2): time(jaxl2) / time(optax) ≤ 1.02, i.e. speed-up ≥ 0.98×. Each step is
``update`` + ``apply_updates`` in one jitted function with donated buffers, so it moves the
minimum of bytes: read params, grads, μ, ν; write params, μ, ν (28 bytes per float32 parameter
for Adam). The fraction of the measured memory bandwidth says how close to the limit both are.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

import jaxl2
from benchmarks._harness import Row, Section, fmt_time, timeit


def _params(n_layers: int, width: int) -> dict:
    keys = jax.random.split(jax.random.key(0), n_layers)
    params = {}
    for i, k in enumerate(keys):
        params[f"layer_{i}"] = {
            "kernel": jax.random.normal(k, (width, width), jnp.float32) * 0.01,
            "bias": jnp.zeros((width,), jnp.float32),
            "norm": {"scale": jnp.ones((width,), jnp.float32)},
        }
    return params


def _step_time(tx: optax.GradientTransformation, params: dict, repeat: int) -> float:
    grads = jax.tree.map(lambda x: jnp.full_like(x, 1e-3), params)

    def step(p, s, g):
        u, s = tx.update(g, s, p)
        return optax.apply_updates(p, u), s

    step = jax.jit(step, donate_argnums=(0, 1))
    state = {"p": jax.tree.map(jnp.copy, params), "s": tx.init(params)}

    def run():
        state["p"], state["s"] = step(state["p"], state["s"], grads)
        return state["p"]

    return timeit(run, repeat=repeat, warmup=2, min_time=0.2)


def _bandwidth(n_floats: int) -> float:
    """Bytes per second of a jitted streaming read + write (x ← x · a + b)."""
    x = jnp.ones((n_floats,), jnp.float32)
    f = jax.jit(lambda x: x * 0.999 + 1e-3, donate_argnums=0)
    state = {"x": x}

    def run():
        state["x"] = f(state["x"])
        return state["x"]

    t = timeit(run, repeat=5, warmup=2, min_time=0.2)
    return 8 * n_floats / t


def run(quick: bool = False) -> list[Section]:
    n_layers, width = (2, 64) if quick else (10, 1000)
    params = _params(n_layers, width)
    n = sum(x.size for x in jax.tree.leaves(params))
    repeat = 3 if quick else 7
    lr, wd = 1e-3, 1e-2
    weights = jaxl2.masks.weights
    cases = [
        ("adamw (no mask)", jaxl2.adamw(lr, wd), optax.adamw(lr, weight_decay=wd), "optax.adamw"),
        (
            "adamw, mask=weights",
            jaxl2.adamw(lr, wd, mask="weights"),
            optax.adamw(lr, weight_decay=wd, mask=weights),
            "optax.adamw(mask=…)",
        ),
        (
            "coupled(adam)",
            jaxl2.coupled(optax.adam(lr), wd),
            optax.chain(optax.add_decayed_weights(wd), optax.adam(lr)),
            "chain(add_decayed_weights, adam)",
        ),
        (
            "adamw, mode=schedule, cosine lr",
            jaxl2.adamw(optax.cosine_decay_schedule(lr, 1000), wd, mode="schedule"),
            optax.adamw(optax.cosine_decay_schedule(lr, 1000), weight_decay=wd),
            "optax.adamw(schedule)",
        ),
    ]
    bandwidth = _bandwidth(25_000_000 if not quick else 1_000_000)
    adam_bytes = 28 * n
    section = Section(
        "transforms",
        "Optimizer step: jaxl2 transforms vs optax (issue 2)",
        intro=(
            "One jitted `update` + `apply_updates` step with donated buffers on a "
            f"{n / 1e6:.1f}M-parameter float32 pytree ({n_layers} layers of {width}×{width} "
            "kernels with biases and norm scales). Target: time ratio jaxl2/optax ≤ 1.02 "
            "(speed-up ≥ 0.98×). Measured streaming bandwidth "
            f"(jitted x·a + b, read + write): {bandwidth / 1e9:.1f} GB/s; an Adam step must move "
            f"≥ 28 bytes per parameter ({adam_bytes / 1e6:.0f} MB)."
        ),
    )
    for name, ours, peer, peer_name in cases:
        # Alternate the two several times and keep each one's best: drift in machine load then
        # falls on both alike (a single pair of runs varies by ±4% on a shared 2-core machine).
        t_peer = t_ours = float("inf")
        for _ in range(2 if quick else 4):
            t_peer = min(t_peer, _step_time(peer, params, repeat))
            t_ours = min(t_ours, _step_time(ours, params, repeat))
        ratio = t_ours / t_peer
        frac = adam_bytes / t_ours / bandwidth
        section.rows.append(
            Row(
                case=name,
                ours=t_ours,
                peer=t_peer,
                peer_name=peer_name,
                target="ratio ≤ 1.02",
                passed=ratio <= 1.02,
                note=f"time ratio {ratio:.3f}; jaxl2 step at {frac:.0%} of measured bandwidth "
                f"({fmt_time(t_ours)})",
            )
        )
    return [section]
