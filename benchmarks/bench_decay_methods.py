"""Issue 12's decay rules: one jitted optimizer step each against optax.adamw's, 10M parameters.

Target (issue 12): time(jaxl2 rule) / time(optax.adamw) ≤ 1.1 for cautious and corrected
decay, AdamS, CPR and AdamWN; spectral decay is reported (its power iteration costs two
matrix-vector products per matrix per step). ``python -m benchmarks decay_methods`` reruns
only these rows.

Each step is ``update`` + ``apply_updates`` in one jitted function with donated buffers (see
``bench_transforms``). The two steps of a pair run alternately, one step at a time, for many
rounds, and each round gives one ratio: load that drifts (other tenants of the machine) hits
both steps of a round alike. The table gives median times; the note the median of the
per-round ratios with its interquartile range, the run-to-run noise.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import jax
import optax

import jaxl2
from benchmarks._harness import Row, Section, fmt_time
from benchmarks.bench_transforms import _params, _stepper


def _paired_ratios(ours: Callable, peer: Callable, rounds: int) -> dict[str, float]:
    """Median step times and the median and quartiles of the per-round time ratios."""
    t_ours, t_peer, ratios = [], [], []
    for r in range(rounds):
        pair = {}
        for i in (0, 1) if r % 2 else (1, 0):  # alternate which goes first
            start = time.perf_counter()
            jax.block_until_ready((ours, peer)[i]())
            pair[i] = time.perf_counter() - start
        t_ours.append(pair[0])
        t_peer.append(pair[1])
        ratios.append(pair[0] / pair[1])
    q1, median, q3 = statistics.quantiles(ratios, n=4) if rounds > 1 else ratios * 3
    return {
        "ours": statistics.median(t_ours),
        "peer": statistics.median(t_peer),
        "ratio": median,
        "q1": q1,
        "q3": q3,
    }


def cases(lr: float = 1e-3, wd: float = 1e-2) -> list[tuple[str, Any, Any, str, float | None]]:
    """(case, jaxl2 transform, peer, peer name, target ratio or None: report only)."""
    weights = jaxl2.masks.weights
    adamw = optax.adamw(lr, weight_decay=wd)
    adamw_masked = optax.adamw(lr, weight_decay=wd, mask=weights)
    cosine = optax.cosine_decay_schedule(lr, 1000)
    return [
        ("adamw, cautious=True", jaxl2.adamw(lr, weight_decay=wd, cautious=True), adamw,
         "optax.adamw", 1.1),
        ("adamw, mode=corrected, cosine lr",
         jaxl2.adamw(cosine, weight_decay=wd, mode="corrected"),
         optax.adamw(cosine, weight_decay=wd), "optax.adamw(schedule)", 1.1),
        ("decoupled(adam, cautious=True)",
         jaxl2.decoupled(optax.adam(lr), wd, learning_rate=lr, cautious=True), adamw,
         "optax.adamw", 1.1),
        ("adams (stable decay)", jaxl2.adams(lr, weight_decay=wd), adamw, "optax.adamw", 1.1),
        ("adamcpr (uniform κ), mask=weights",
         jaxl2.adamcpr(lr, kappa_init="uniform", kappa=1.0, mask="weights"), adamw_masked,
         "optax.adamw(mask=…)", 1.1),
        ("adamcpr (warm start), mask=weights",
         jaxl2.adamcpr(lr, kappa_init="warm_start", warm_start_steps=1, mask="weights"),
         adamw_masked, "optax.adamw(mask=…)", 1.1),
        ("adamwn (target norm), mask=weights",
         jaxl2.adamwn(lr, weight_decay=wd, target_norm=1.0, mask="weights"), adamw_masked,
         "optax.adamw(mask=…)", 1.1),
        ("chain(adam, spectral_decay)",
         optax.chain(optax.adam(lr), jaxl2.spectral_decay(wd, learning_rate=lr)), adamw_masked,
         "optax.adamw(mask=…)", None),
        ("chain(muon, spectral_decay)",
         optax.chain(optax.contrib.muon(lr), jaxl2.spectral_decay(wd, learning_rate=lr)),
         optax.contrib.muon(lr, weight_decay=wd), "optax.contrib.muon(weight_decay=…)", None),
    ]  # fmt: skip


def run(quick: bool = False) -> list[Section]:
    n_layers, width = (2, 64) if quick else (10, 1000)
    params = _params(n_layers, width)
    n = sum(x.size for x in jax.tree.leaves(params))
    rounds = 5 if quick else 200
    section = Section(
        "decay_methods",
        "Optimizer step: issue 12's decay rules vs optax.adamw",
        intro=(
            "One jitted `update` + `apply_updates` step with donated buffers on a "
            f"{n / 1e6:.1f}M-parameter float32 pytree ({n_layers} layers of {width}×{width} "
            "kernels with biases and norm scales), the two steps of a pair alternating for "
            f"{rounds} rounds. Target: time ratio jaxl2/optax.adamw ≤ 1.1 (median of the "
            "per-round ratios; the note gives their interquartile range); spectral decay is "
            "reported. AdamS needs the mean of v̂ over all parameters, CPR ‖W + u‖² of every "
            "matrix and AdamWN ‖W‖ before they can apply their step: a reduction that AdamW "
            "does not do."
        ),
    )
    for name, ours, peer, peer_name, target in cases():
        m = _paired_ratios(_stepper(ours, params), _stepper(peer, params), rounds)
        section.rows.append(
            Row(
                case=name,
                ours=m["ours"],
                peer=m["peer"],
                peer_name=peer_name,
                target="report" if target is None else f"ratio ≤ {target}",
                passed=None if target is None else m["ratio"] <= target,
                note=f"time ratio {m['ratio']:.3f} (interquartile {m['q1']:.3f}–{m['q3']:.3f}); "
                f"{fmt_time(m['ours'])} against {fmt_time(m['peer'])}",
            )
        )
    return [section]
