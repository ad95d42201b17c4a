"""Many targets: a ridge per target (per-target α by exact LOO / GCV) and banded ridge.

1. ``ridge_path(..., keep="best")`` with exact LOO and with GCV, n = 3000, p = 1000,
   T = 10,000, 20 α (himalaya's benchmark shape scaled to a 2-core machine), against himalaya's
   ``RidgeCV`` (5-fold, numpy and torch CPU backends) and scikit-learn's
   ``RidgeCV(alpha_per_target=True)``: time, peak memory (tracemalloc for the numpy peers;
   the process's peak RSS growth for all), held-out R² per target (mean, and share of targets
   where each is better), and the *floor*: K products (n × p)·(p × T), timed at this machine's
   float32 matmul rate in the same run (exact LOO needs the n × T residuals of every α).
2. Banded ridge, 3 groups with known strengths: ``tune_banded_ridge`` (hypergradient and
   random search, exact LOO) against himalaya's ``BandedRidgeCV`` (random search, 5-fold).
3. The accelerator preset (env ``JAXL2_BENCH_PRESET=accelerator``): T = 100,000 on whatever
   JAX devices are present, jaxl2 only, written as its own section
   (``many_targets_accelerator``). With several devices the targets are sharded over all of
   them (``ridge_path(..., devices=jax.devices())``); on a CPU-only machine that is one device
   (or as many as ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` fakes).

float32 throughout (himalaya's default). Sizes shrink with ``--quick`` (the accelerator preset
then runs T = 1,000 targets: a check that it runs, not a measurement).
"""

from __future__ import annotations

import importlib.util
import os
import resource
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxl2
from benchmarks._harness import Row, Section, timeit

HIMALAYA = importlib.util.find_spec("himalaya") is not None


def _problem(n, p, t, seed=0, n_test=None):
    rng = np.random.default_rng(seed)
    n_test = n_test or n // 3
    X = rng.standard_normal((n + n_test, p)).astype(np.float32)
    W = rng.standard_normal((p, t)).astype(np.float32) / np.sqrt(p)
    W *= rng.uniform(0, 1, t).astype(np.float32)  # targets of varied signal
    Y = X @ W + rng.standard_normal((n + n_test, t)).astype(np.float32)
    return X[:n], Y[:n], X[n:], Y[n:]


def _r2(Y, P):
    return 1 - ((Y - P) ** 2).sum(0) / ((Y - Y.mean(0)) ** 2).sum(0)


def _once(fn):
    start = time.perf_counter()
    out = fn()
    jax.block_until_ready(out)
    return time.perf_counter() - start, out


def _cpu_once(fn):
    """(wall s, process CPU s, result): the CPU time (all threads) holds on a busy machine."""
    cpu, start = time.process_time(), time.perf_counter()
    out = fn()
    jax.block_until_ready(out)
    return time.perf_counter() - start, time.process_time() - cpu, out


def _rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _matmul_floor(n, p, t, K):
    A = jnp.ones((n, p), jnp.float32)
    B = jnp.ones((p, min(t, 2000)), jnp.float32)
    f = jax.jit(lambda a, b: a @ b)
    sec = timeit(lambda: f(A, B), repeat=3)
    rate = 2 * n * p * B.shape[1] / sec
    cpu = float(np.median([_cpu_once(lambda: f(A, B))[1] for _ in range(3)]))
    scale = K * t / B.shape[1]
    return K * 2 * n * p * t / rate, rate, scale * cpu


def _ours(X, Y, alphas, select, devices=None):
    path = jaxl2.ridge_path(X, Y, alphas, keep="best", select=select, devices=devices)
    return path.coef, path.intercept


def _least_time_line(X, n, p, t, rate, floor, peers) -> str:
    """The least time any exact-LOO path takes here, and so the most it can gain on himalaya.

    Beyond the floor's K residual products, exact LOO needs the projection ``UᵀY`` (one more
    (n × m)·(m × T) product, m = min(n, p)), the coefficients at each target's best strength
    (a (p × m)·(m × T) product) and the eigendecomposition (timed alone, warm)."""
    from jaxl2._linear import ridge_many

    m = min(n, p)
    extra = (2 * n * m * t + 2 * p * m * t) / rate
    Xj = jnp.asarray(X)
    fn = lambda: ridge_many.basis(Xj, None, fit_intercept=True, standardize=False)  # noqa: E731
    basis = timeit(fn, repeat=3)
    least = floor + extra + basis
    himalaya = [s for name, (s, _, _) in peers.items() if "himalaya" in name]
    gain = (
        f", i.e. at most {min(himalaya) / least:.2f}× himalaya's best backend" if himalaya else ""
    )
    return (
        f"- least time of any exact-LOO path here: the floor {floor:.2f} s, plus UᵀY and the "
        f"coefficients at the same rate {extra:.2f} s, plus the eigendecomposition {basis:.2f} s "
        f"= {least:.2f} s ({least / floor:.2f}× the floor){gain}; the residual pass of each "
        f"strength (subtract, square, weight) comes on top"
    )


def _many_section(quick: bool, preset: str) -> list[Section]:
    accelerator = preset == "accelerator"
    if accelerator:
        n, p, t = (200, 50, 1000) if quick else (3000, 1000, 100_000)
    else:
        n, p, t = (200, 50, 100) if quick else (3000, 1000, 10_000)
    K = 20
    alphas = np.logspace(-1, 5, K).astype(np.float32)
    X, Y, Xt, Yt = _problem(n, p, t)
    # Several devices: the targets sharded over all of them (the accelerator preset only; the
    # CPU comparison stays on one device, as its peers).
    devices = jax.devices() if accelerator and len(jax.devices()) > 1 else None
    shard = f"targets sharded over {len(devices)} devices" if devices else "one device"
    sec = Section(
        "many_targets_accelerator" if accelerator else "many_targets",
        f"Many targets: per-target α, n = {n}, p = {p}, T = {t}, K = {K} (float32"
        + (f", {shard})" if accelerator else ")"),
        intro=f"JAX devices: {jax.devices()}. Peak memory: growth of the process's max RSS.",
    )
    floor, rate, floor_cpu = _matmul_floor(n, p, t, K)
    per_device = ""
    if devices:  # D devices each take T/D targets: the floor divides by D
        floor /= len(devices)
        floor_cpu /= len(devices)
        per_device = f" per device, × {len(devices)} devices"
    results, cpu_times = {}, {}
    for select in ("loo", "gcv"):
        _ours(X[:50], Y[:50, :8], alphas, select, devices)  # compile small shapes out of the way
        rss0 = _rss_mb()
        runs = [_cpu_once(lambda s=select: _ours(X, Y, alphas, s, devices)) for _ in range(2)]
        sec_ours, cpu_ours, (W, b) = min(runs, key=lambda r: r[0])
        r2 = _r2(Yt, Xt @ np.asarray(W).T + np.asarray(b))
        results[f"jaxl2 {select}"] = (sec_ours, r2, _rss_mb() - rss0)
        cpu_times[select] = cpu_ours
    peers = {}
    if not accelerator:
        from sklearn.linear_model import RidgeCV

        rss0 = _rss_mb()
        s, m = _once(lambda: RidgeCV(alphas=alphas, alpha_per_target=True).fit(X, Y))
        peers["sklearn RidgeCV(alpha_per_target)"] = (s, _r2(Yt, m.predict(Xt)), _rss_mb() - rss0)
        if HIMALAYA:
            from himalaya.backend import set_backend
            from himalaya.ridge import RidgeCV as HRidgeCV

            for backend in ("numpy", "torch"):
                try:
                    set_backend(backend, on_error="raise")
                except Exception:  # torch missing: skip that backend
                    continue
                rss0 = _rss_mb()
                s, m = _once(lambda: HRidgeCV(alphas=alphas, cv=5).fit(X, Y))
                pred = np.asarray(m.predict(Xt))
                peers[f"himalaya RidgeCV cv=5 ({backend})"] = (s, _r2(Yt, pred), _rss_mb() - rss0)
            set_backend("numpy")
    ours_t, ours_r2, _ = results["jaxl2 loo"]
    for name, (s, r2, mem) in peers.items():
        better = float(np.mean(ours_r2 > r2))
        sec.rows.append(
            Row(
                f"exact LOO vs {name}",
                ours_t,
                s,
                name,
                target="≥ 5×" if "himalaya" in name else "",
                passed=(s / ours_t >= 5) if "himalaya" in name else None,
                note=f"held-out R² {ours_r2.mean():.4f} vs {r2.mean():.4f}; jaxl2 better on "
                f"{better:.0%} of targets; peer RSS growth {mem:.0f} MB",
            )
        )
    gcv_ratio = results["jaxl2 gcv"][0] / floor
    cpu_note = (
        ""  # the host's CPU time says nothing about an accelerator's products
        if accelerator
        else f"in process CPU time (all threads, steadier on a busy machine) "
        f"{cpu_times['loo']:.3f} s vs {floor_cpu:.3f} s = {cpu_times['loo'] / floor_cpu:.2f}×; "
    )
    sec.rows.append(
        Row(
            "exact LOO vs the matmul floor",
            ours_t,
            floor,
            f"floor: {K} × (n×p)(p×T) at {rate / 1e9:.0f} GFLOP/s{per_device}",
            target="≥ 0.67× (within 1.5×)",
            passed=floor / ours_t >= 1 / 1.5,
            note=f"ratio to the floor {ours_t / floor:.2f}× in wall time (target ≤ 1.5×); "
            + cpu_note
            + f"GCV {gcv_ratio:.2f}× the floor",
        )
    )
    gcv_t, gcv_r2, _ = results["jaxl2 gcv"]
    sec.rows.append(
        Row(
            "GCV vs exact LOO",
            gcv_t,
            ours_t,
            "jaxl2 exact LOO",
            note=f"held-out R² {gcv_r2.mean():.4f}",
        )
    )
    if not accelerator:
        sec.lines.append(_least_time_line(X, n, p, t, rate, floor, peers))
    for name, (s, r2, mem) in results.items():
        sec.lines.append(
            f"- {name}: {s:.3f} s, held-out R² mean {r2.mean():.4f}, RSS growth {mem:.0f} MB"
        )
    return [sec]


def _banded_section(quick: bool) -> Section:
    n, per, t = (60, 5, 8) if quick else (1000, 100, 500)
    rng = np.random.default_rng(1)
    p = 3 * per
    X = rng.standard_normal((n + n // 2, p)).astype(np.float32)
    scales = np.array([1.0, 0.3, 0.0], np.float32)  # known group strengths: the 3rd is noise
    W = (
        rng.standard_normal((p, t)).astype(np.float32)
        * np.repeat(scales, per)[:, None]
        / np.sqrt(per)
    )
    Y = X @ W + rng.standard_normal((n + n // 2, t)).astype(np.float32)
    Xtr, Ytr, Xte, Yte = X[:n], Y[:n], X[n:], Y[n:]
    groups = [list(range(g * per, (g + 1) * per)) for g in range(3)]
    alphas = np.logspace(-2, 4, 13).astype(np.float32)
    sec = Section(
        "many_targets_banded",
        f"Banded ridge: 3 groups (strengths 1, 0.3, 0), n = {n}, p = {p}, T = {t} (float32)",
    )
    from jaxl2._linear import banded_ridge as br  # private: the Newton evaluation counts

    out, evals = {}, None
    n_iter = 3 if quick else 20
    for method in ("gradient", "random"):
        # tune_banded_ridge's own defaults (steps, tol; n_iter = 20 for both methods), through
        # the function it calls, which also returns each target's number of Newton evaluations
        kw = {**(jaxl2.tune_banded_ridge.__kwdefaults__ or {}), "method": method}
        kw.update(alphas=alphas, n_iter=n_iter)
        fn = lambda kw=kw: br._tune_banded(Xtr, Ytr, groups, **kw)
        _once(fn)  # compiles (the search's ridge_path and the Newton batches): timed warm
        wall, cpu, (res, ev) = _cpu_once(fn)
        if ev is not None:
            evals = np.asarray(ev)
        r2 = _r2(Yte, Xte @ np.asarray(res.coef).T + np.asarray(res.intercept))
        out[method] = (wall, cpu, r2)
    if HIMALAYA:
        from himalaya.backend import set_backend
        from himalaya.ridge import BandedRidgeCV

        set_backend("numpy", on_error="raise")
        model = BandedRidgeCV(
            groups=np.repeat(np.arange(3), per).tolist(),
            solver_params=dict(n_iter=n_iter, alphas=alphas, progress_bar=False),
            random_state=0,  # its Dirichlet samples: the same candidates in every run
        )
        # himalaya timed with one BLAS thread too: on this 2-core machine its OpenBLAS threads
        # took 437 s under load where one thread took 6.9 s (jaxl2 holds the same limit itself)
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            s, model = _once(lambda: model.fit(Xtr, Ytr))
        r2 = _r2(Yte, np.asarray(model.predict(Xte)))
        for method in ("gradient", "random"):
            ours_s, _, ours_r2 = out[method]
            sec.rows.append(
                Row(
                    f"tune_banded_ridge({method}) vs himalaya BandedRidgeCV ({n_iter} iter)",
                    ours_s,
                    s,
                    "himalaya (numpy)",
                    note=f"held-out R² {ours_r2.mean():.4f} vs {r2.mean():.4f}; jaxl2 better on "
                    f"{np.mean(ours_r2 > r2):.0%} of targets",
                )
            )
    for method, (s, cpu, r2) in out.items():
        sec.lines.append(
            f"- jaxl2 {method}: {s:.3f} s, held-out R² mean {r2.mean():.4f} "
            f"(process CPU {cpu:.3f} s)"
        )
    if evals is not None:
        # a lower bound on the Newton descent's flops: per evaluation a Cholesky and a
        # triangular inverse (p³/3 each) and one n·p² product (B = X A⁻¹ or X L⁻ᵀ); at each
        # target's start also A⁻¹ and A⁻¹DA⁻¹ (2p³ each)
        flops = evals.sum() * (2 * p**3 / 3 + 2 * n * p**2) + t * 4 * p**3
        wall = out["gradient"][0]
        sec.lines.append(
            f"- gradient's Newton descent: {evals.mean():.2f} criterion evaluations per target "
            f"(histogram {np.bincount(evals).tolist()}), ≥ {flops / 1e9:.3g} GFLOP, i.e. "
            f"≥ {flops / 1e9 / wall:.3g} GFLOP/s over the whole call (the start's search "
            f"included)"
        )
    return sec


def run(quick: bool = False) -> list[Section]:
    preset = os.environ.get("JAXL2_BENCH_PRESET", "cpu")
    sections = _many_section(quick, preset)
    if preset != "accelerator":
        sections.append(_banded_section(quick))
    return sections
