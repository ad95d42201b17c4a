"""CPR, weight norm control (AdamWN) and spectral decay against their papers' rules in numpy.

pytorch-optimizer 4.1.0 implements none of the three (it has AdamC, AdamS, Muon variants and
SpectralSphere, which is a different rule), so the references here are the update rules written
out in numpy: for CPR a port of the authors' ``AdamCPR`` (github.com/automl/CPR, single-tensor
path, ``reg_function="l2"``); AdamWN with target 0 is also checked against ``torch.optim.AdamW``.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxl2

pytestmark = pytest.mark.standard_promotion  # optax's adam/schedules need standard promotion


def _params(rng, dtype=np.float64):
    return {
        "dense": {"kernel": rng.normal(size=(4, 3)).astype(dtype), "bias": rng.normal(size=3)},
        "out": {"kernel": (2.0 * rng.normal(size=(3, 2))).astype(dtype)},
    }


def _to_jax(tree):
    return jax.tree.map(jnp.asarray, tree)


def _run(tx, params, grads):
    """Applies ``tx`` for every gradient in ``grads``; returns the final params and state."""
    state = tx.init(params)
    step = jax.jit(tx.update)
    for g in grads:
        u, state = step(g, state, params)
        params = optax.apply_updates(params, u)
    return params, state


def _grads(rng, params, n):
    return [jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape)), params) for _ in range(n)]


def _close(a, b, rtol):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        assert np.linalg.norm(x - y) <= rtol * max(np.linalg.norm(y), 1e-30), (x, y)


# ----------------------------------------------------------------------------- CPR


def _cpr_numpy(
    params, grads, lr_fn, method, *, kappa=None, s=0, mu=1.0, by_lr=False, delta=200, d=0.9,
    decayed=lambda path: True,
):  # fmt: skip
    """The authors' AdamCPR l2 rule (single-tensor path) after plain SGD, in numpy."""
    flat, treedef = jax.tree_util.tree_flatten_with_path(params)
    ws = [np.asarray(w, np.float64) for _, w in flat]
    on = [decayed(jaxl2.masks.path_to_str(p)) for p, _ in flat]
    st = [dict(lam=0.0, kappa=0.0, set=False, ema=0.0, prev_reg=0.0, prev_grad=0.0) for _ in ws]
    for i, w in enumerate(ws):
        if not on[i]:
            continue
        if method == "uniform":
            st[i].update(kappa=kappa, set=True)
        elif method == "dependent":
            st[i].update(kappa=kappa * np.sum(w**2), set=True)
    for t, g in enumerate(grads, start=1):
        lr = lr_fn(t - 1)
        for i, gi in enumerate(jax.tree.leaves(g)):
            w = ws[i] - lr * np.asarray(gi)
            if on[i]:
                c, R = st[i], np.sum(w**2)
                if method == "inflection_point" and not c["set"]:
                    if t % delta == 0:
                        c["ema"] = d * c["ema"] + (1 - d) * R
                        if t > delta:
                            rate = c["ema"] - c["prev_reg"]
                            if t > 3 * delta and c["prev_grad"] > rate:
                                c.update(kappa=R, set=True)
                            c["prev_reg"] = c["ema"]
                            if t > 2 * delta:
                                c["prev_grad"] = rate
                elif t > s:
                    c["lam"] = max(0.0, c["lam"] + mu / w.size * (R - c["kappa"]))
                    w = w - 2 * (lr if by_lr else 1.0) * c["lam"] * w
                elif method == "warm_start" and t == s:
                    c.update(kappa=R, set=True)
            ws[i] = w
    return jax.tree.unflatten(treedef, ws), st


CPR_CASES = [
    ("uniform", dict(kappa=3.0), dict(kappa=3.0), True, 1.0),
    ("dependent", dict(kappa=0.6), dict(kappa=0.6), False, 0.1),
    ("warm_start", dict(warm_start_steps=4), dict(s=4), True, 1.0),
    ("inflection_point", dict(reg_step_size=2), dict(delta=2), True, 1.0),
]


@pytest.mark.parametrize("method,kw,ref_kw,by_lr,mu", CPR_CASES, ids=[c[0] for c in CPR_CASES])
def test_cpr_matches_the_authors_rule(x64, method, kw, ref_kw, by_lr, mu):
    rng = np.random.default_rng(0)
    params = _to_jax(_params(rng))
    grads = _grads(rng, params, 30)
    lr_fn = optax.cosine_decay_schedule(0.1, 30)
    tx = optax.chain(
        optax.sgd(lr_fn),
        jaxl2.cpr(method, mu=mu, learning_rate=lr_fn if by_lr else None, mask="weights", **kw),
    )
    ours, state = _run(tx, params, grads)
    ref, ref_state = _cpr_numpy(
        params, grads, lambda t: float(lr_fn(t)), method, mu=mu, by_lr=by_lr,
        decayed=lambda path: path.endswith("kernel"), **ref_kw,
    )  # fmt: skip
    _close(ours, ref, 1e-10)
    lagmul = jax.tree.leaves(state[1].lagmul)
    np.testing.assert_allclose(lagmul, [c["lam"] for c in ref_state], rtol=1e-9, atol=1e-12)
    free, _ = _cpr_numpy(params, grads, lambda t: float(lr_fn(t)), method, decayed=lambda p: False)
    moved = np.linalg.norm(np.asarray(ours["out"]["kernel"]) - free["out"]["kernel"])
    assert moved > 1e-3, "the constraint never acted"
    kappas = jax.tree.leaves(state[1].kappa)
    np.testing.assert_allclose(kappas, [c["kappa"] for c in ref_state], rtol=1e-10)


def test_cpr_inflection_point_sets_the_bound_once_growth_slows(x64):
    # ‖W‖² grows like a logistic curve: fast first, then slower. κ is set near the inflection.
    params = {"w": jnp.full((2, 2), 0.1)}
    tx = optax.chain(optax.identity(), jaxl2.cpr("inflection_point", reg_step_size=5))
    state = tx.init(params)
    p = params
    for t in range(1, 200):
        target = 0.1 + 2.0 / (1.0 + np.exp(-(t - 60) / 10.0))
        u = {"w": jnp.full((2, 2), target) - p["w"]}
        u, state = tx.update(u, state, p)
        p = optax.apply_updates(p, u)
        if bool(state[1].kappa_set["w"]):
            break
    assert bool(state[1].kappa_set["w"])
    assert 60 < t < 100  # after the inflection (t = 60), sampled every 5 steps and smoothed


def test_cpr_groups_bound_the_temporaries_and_change_no_value(monkeypatch):
    """W' = W + u of each leaf waits for the previous group's ‖W'‖²: XLA then keeps a few
    leaves' W' alive, not all of them (on XLA:CPU one temporary of the whole model's size, which
    page-faults every step); the ordering multiplies by an exact 1, so no value changes."""
    import jaxl2._decay_methods as dm

    leaf = 128 * 128 * 4  # bytes of one kernel's W'
    params = {f"l{i}": {"kernel": jnp.full((128, 128), 0.1 * (i + 1))} for i in range(8)}
    grads = jax.tree.map(lambda w: -w, params)  # ‖W'‖² > κ: the constraint acts
    tx = jaxl2.adamcpr(1e-2, kappa_init="uniform", kappa=1.0)

    results = {}
    for group in (1 << 40, leaf):  # everything in one group (no ordering); one leaf per group
        monkeypatch.setattr(dm, "_CPR_GROUP_BYTES", group)

        def step(p, s, g):  # a new function each time: jit's trace cache must not answer
            u, s = tx.update(g, s, p)
            return optax.apply_updates(p, u), s

        state, p = tx.init(params), jax.tree.map(jnp.copy, params)
        # donated, as in a training loop (else XLA writes W' into the new params' buffer)
        compiled = jax.jit(step, donate_argnums=(0, 1)).lower(p, state, grads).compile()
        analysis = compiled.memory_analysis()
        temp = None if analysis is None else analysis.temp_size_in_bytes
        results[group] = (temp, compiled(p, state, grads))
    (temp_all, out_all), (temp_one, out_one) = results[1 << 40], results[leaf]
    for a, b in zip(jax.tree.leaves(out_all), jax.tree.leaves(out_one), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert float(out_one[1][1].lagmul["l7"]["kernel"]) > 0  # the constraint was active
    if temp_all is not None and temp_one is not None:  # backends without the figure skip it
        assert temp_one <= 4 * leaf < 8 * leaf <= temp_all + leaf


def test_adamcpr_is_adam_then_cpr(x64):
    rng = np.random.default_rng(1)
    params = _to_jax(_params(rng))
    grads = _grads(rng, params, 8)
    a, _ = _run(jaxl2.adamcpr(0.05, kappa_init="uniform", kappa=2.0, reg_by_lr=True), params, grads)
    b, _ = _run(
        optax.chain(optax.adam(0.05), jaxl2.cpr("uniform", 2.0, learning_rate=0.05)), params, grads
    )
    _close(a, b, 1e-12)


# ----------------------------------------------------------------------------- AdamWN


def _adamwn_numpy(params, grads, lr_fn, lam, target_fn, relative=False, b1=0.9, b2=0.999, eps=1e-8):
    ws = [np.asarray(w, np.float64) for w in jax.tree.leaves(params)]
    n0 = [np.linalg.norm(w) for w in ws]
    m = [np.zeros_like(w) for w in ws]
    v = [np.zeros_like(w) for w in ws]
    for t, g in enumerate(grads, start=1):
        lr, r = lr_fn(t - 1), target_fn(t - 1)
        for i, gi in enumerate(jax.tree.leaves(g)):
            gi = np.asarray(gi)
            m[i] = b1 * m[i] + (1 - b1) * gi
            v[i] = b2 * v[i] + (1 - b2) * gi**2
            step = (m[i] / (1 - b1**t)) / (np.sqrt(v[i] / (1 - b2**t)) + eps)
            target = r * n0[i] if relative else r
            decay = lam * (1 - target / np.linalg.norm(ws[i])) * ws[i]
            ws[i] = ws[i] - lr * step - lr * decay
    return jax.tree.unflatten(jax.tree.structure(params), ws)


@pytest.mark.parametrize("relative", [False, True])
def test_adamwn_matches_the_rule_with_schedules(x64, relative):
    rng = np.random.default_rng(2)
    params = _to_jax(_params(rng))
    grads = _grads(rng, params, 12)
    lr_fn = optax.cosine_decay_schedule(0.05, 12)
    target_fn = optax.linear_schedule(1.5, 0.5, 12) if not relative else (lambda t: 0.8)
    tx = jaxl2.adamwn(lr_fn, weight_decay=0.3, target_norm=target_fn, relative=relative)
    ours, _ = _run(tx, params, grads)
    ref = _adamwn_numpy(
        params, grads, lambda t: float(lr_fn(t)), 0.3, lambda t: float(target_fn(t)), relative
    )
    _close(ours, ref, 1e-9)


def test_weight_norm_control_moves_the_norm_toward_the_target(x64):
    w = jnp.array([[3.0, 0.0], [0.0, 4.0]])  # ‖W‖ = 5
    tx = jaxl2.weight_norm_control(0.1, target_norm=2.0, learning_rate=0.5)
    u, _ = tx.update(jnp.zeros((2, 2)), tx.init(w), w)
    # ‖W + u‖ = ‖W‖ − lr·λ·(‖W‖ − r) = 5 − 0.05 · 3
    np.testing.assert_allclose(np.linalg.norm(w + u), 5 - 0.05 * 3, rtol=1e-14)


def test_weight_norm_control_global_norm(x64):
    params = {"w1": jnp.array([[3.0, 0.0]]), "w2": jnp.array([[0.0], [4.0]]), "bias": jnp.ones(2)}
    tx = jaxl2.weight_norm_control(
        0.1, target_norm=2.0, learning_rate=0.5, mask="weights", per="global"
    )
    zeros = jax.tree.map(jnp.zeros_like, params)
    u, _ = tx.update(zeros, tx.init(params), params)
    new = optax.apply_updates(params, u)
    total = np.sqrt(sum(np.sum(np.asarray(new[k]) ** 2) for k in ("w1", "w2")))
    np.testing.assert_allclose(total, 5 - 0.05 * 3, rtol=1e-14)  # the global norm moves, ‖W‖ = 5
    # one factor for every controlled leaf: (1 − lr·λ·(1 − r/‖W‖)) = 1 − 0.05 · 0.6
    np.testing.assert_allclose(
        [new["w1"][0, 0] / 3.0, new["w2"][1, 0] / 4.0], [0.97, 0.97], rtol=1e-14
    )
    assert bool((u["bias"] == 0).all())
    # target 0: the same as per-leaf control, i.e. AdamW's decay
    u0, _ = jaxl2.weight_norm_control(0.1, per="global").update(zeros, tx.init(params), params)
    _close(u0, jax.tree.map(lambda w: -0.1 * w, params), 1e-15)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_adamwn_with_target_zero_is_optax_adamw(dtype):
    with jax.enable_x64(dtype == jnp.float64):
        rng = np.random.default_rng(3)
        params = jax.tree.map(lambda x: jnp.asarray(x, dtype), _params(rng))
        grads = [jax.tree.map(lambda x: x.astype(dtype), g) for g in _grads(rng, params, 10)]
        lr = optax.linear_schedule(0.01, 0.001, 10)
        ours, _ = _run(jaxl2.adamwn(lr, 0.8, 0.99, 1e-8, 0.0, None, 0.1, "weights"), params, grads)
        mask = jaxl2.masks.weights
        ref, _ = _run(optax.adamw(lr, 0.8, 0.99, 1e-8, 0.0, None, 0.1, mask), params, grads)
        _close(ours, ref, 1e-6 if dtype == jnp.float32 else 1e-13)


def test_adamwn_with_target_zero_is_torch_adamw():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    w0 = rng.normal(size=(5, 3))
    grads = [rng.normal(size=(5, 3)) for _ in range(10)]
    p = torch.nn.Parameter(torch.tensor(w0, dtype=torch.float64))
    opt = torch.optim.AdamW([p], lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.2)
    for g in grads:
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
    with jax.enable_x64(True):
        ours, _ = _run(
            jaxl2.adamwn(0.01, weight_decay=0.2), jnp.asarray(w0), map(jnp.asarray, grads)
        )
        _close(ours, p.detach().numpy(), 1e-12)


# ----------------------------------------------------------------------------- spectral


def _spectral_numpy(w, v, lr, lam):
    m = w.reshape(-1, w.shape[-1])
    x = m @ v
    u1 = x / np.linalg.norm(x)
    y = m.T @ u1
    sigma = np.linalg.norm(y)
    return -lr * lam * np.outer(u1, y).reshape(w.shape), y / sigma, sigma


def test_spectral_decay_matches_power_iteration_in_numpy(x64):
    rng = np.random.default_rng(5)
    params = {
        "conv": jnp.asarray(rng.normal(size=(3, 3, 2, 4))),
        "bias": jnp.asarray(rng.normal(size=4)),
    }
    grads = _grads(rng, params, 6)
    lr_fn = optax.cosine_decay_schedule(0.1, 6)
    tx = optax.chain(optax.sgd(lr_fn), jaxl2.spectral_decay(0.3, learning_rate=lr_fn))
    state = tx.init(params)
    v = np.asarray(state[1].v["conv"])
    assert state[1].v["bias"].shape == (0,)
    w, b = np.asarray(params["conv"]), np.asarray(params["bias"])
    p = params
    for t, g in enumerate(grads):
        u, state = tx.update(g, state, p)
        p = optax.apply_updates(p, u)
        lr = float(lr_fn(t))
        decay, v, sigma = _spectral_numpy(w, v, lr, 0.3)
        w = w - lr * np.asarray(g["conv"]) + decay
        b = b - lr * np.asarray(g["bias"])  # skipped: plain SGD
        np.testing.assert_allclose(state[1].sigma["conv"], sigma, rtol=1e-12)
    _close(p, {"bias": b, "conv": w}, 1e-12)


def test_spectral_decay_converges_to_the_top_singular_triple(x64):
    rng = np.random.default_rng(6)
    w = rng.normal(size=(6, 4))
    tx = jaxl2.spectral_decay(1.0)
    state = tx.init(jnp.asarray(w))
    for _ in range(60):  # fixed W: 60 warm-started iterations
        u, state = tx.update(jnp.zeros((6, 4)), state, jnp.asarray(w))
    U, S, Vt = np.linalg.svd(w)
    np.testing.assert_allclose(state.sigma, S[0], rtol=1e-8)
    np.testing.assert_allclose(-np.asarray(u), S[0] * np.outer(U[:, 0], Vt[0]), atol=1e-7)


def test_spectral_decay_chains_after_muon():
    rng = np.random.default_rng(7)
    params = {"w": jnp.asarray(rng.normal(size=(8, 5)), jnp.float32), "b": jnp.zeros(5)}
    grads = _grads(rng, params, 4)
    grads = [jax.tree.map(lambda x: x.astype(jnp.float32), g) for g in grads]
    lr, lam = 0.02, 0.5
    muon = optax.contrib.muon(lr)
    tx = optax.chain(muon, jaxl2.spectral_decay(lam, learning_rate=lr))
    s_chain, s_muon = tx.init(params), muon.init(params)
    v = np.asarray(s_chain[1].v["w"], np.float64)
    p = params
    chain_step, muon_step = jax.jit(tx.update), jax.jit(muon.update)
    for g in grads:
        u, s_chain = chain_step(g, s_chain, p)
        u_muon, s_muon = muon_step(g, s_muon, p)
        decay, v, _ = _spectral_numpy(np.asarray(p["w"], np.float64), v, lr, lam)
        _close(u["w"] - u_muon["w"], decay, 1e-4)
        _close(u["b"], u_muon["b"], 0)
        p = optax.apply_updates(p, u)


def test_spectral_decay_skips_and_describes_leaves_with_fewer_than_two_dims():
    params = {"kernel": jnp.ones((3, 2)), "bias": jnp.ones(2), "scale": jnp.ones(())}
    tx = jaxl2.spectral_decay(0.5)
    state = tx.init(params)
    zeros = jax.tree.map(jnp.zeros_like, params)
    u, _ = tx.update(zeros, state, params)
    assert bool((u["bias"] == 0).all()) and bool(u["scale"] == 0)
    assert bool((u["kernel"] != 0).any())
    lines = jaxl2.describe_spectral_decay(params).splitlines()
    rows = {r[0]: r[2] for r in (re.split(r"\s{2,}", line) for line in lines[1:-1])}
    assert rows == {
        "bias": "skipped (fewer than 2 dims)",
        "kernel": "3×2",
        "scale": "skipped (fewer than 2 dims)",
    }
    assert "no (mask)" in jaxl2.describe_spectral_decay(
        params, {"kernel": False, "bias": True, "scale": True}
    )


# ----------------------------------------------------------------------------- contract

FACTORIES = {
    "cpr": lambda lam: jaxl2.cpr("uniform", lam, learning_rate=0.1),
    "weight_norm_control": lambda lam: jaxl2.weight_norm_control(lam, 0.5, learning_rate=0.1),
    "spectral_decay": lambda lam: jaxl2.spectral_decay(lam, learning_rate=0.1),
}


def _one_step(factory, lam, params, grads):
    tx = optax.chain(optax.sgd(0.1), factory(lam))
    u, _ = tx.update(grads, tx.init(params), params)
    return u


def _small(dtype=jnp.float32):
    rng = np.random.default_rng(8)
    params = {
        "w": jnp.asarray(rng.normal(size=(4, 3)), dtype),
        "b": jnp.asarray(rng.normal(size=3), dtype),
    }
    grads = jax.tree.map(lambda x: (0.1 * x).astype(dtype), params)
    return params, grads


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_jit_vmap_and_no_recompilation(name):
    factory = FACTORIES[name]
    params, grads = _small()
    lams = jnp.array([0.0, 0.3, 1.2])
    eager = [_one_step(factory, float(lam), params, grads) for lam in lams]
    step = jax.jit(lambda lam: _one_step(factory, lam, params, grads))
    for lam, ref in zip(lams, eager, strict=True):
        _close(step(lam), ref, 1e-6)
    assert step._cache_size() == 1  # three λ values, one compilation
    batched = jax.vmap(lambda lam: _one_step(factory, lam, params, grads))(lams)
    for k, ref in enumerate(eager):
        _close(jax.tree.map(lambda x, k=k: x[k], batched), ref, 1e-6)
    assert not np.allclose(eager[0]["w"], eager[2]["w"])  # λ matters


@pytest.mark.parametrize("name", sorted(FACTORIES))
@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float32])
def test_dtypes_are_preserved(name, dtype):
    params, grads = _small(dtype)
    u = _one_step(FACTORIES[name], 0.3, params, grads)
    assert all(x.dtype == dtype for x in jax.tree.leaves(u))
    ref = _one_step(
        FACTORIES[name], 0.3, *jax.tree.map(lambda x: x.astype(jnp.float32), (params, grads))
    )
    _close(u, ref, 2e-2 if dtype == jnp.bfloat16 else 1e-6)


def test_inject_hyperparams():
    params, grads = _small()
    cases = [
        (
            optax.inject_hyperparams(jaxl2.cpr)(kappa_init="uniform", kappa=1.0),
            jaxl2.cpr("uniform", 1.0),
        ),
        (
            optax.inject_hyperparams(jaxl2.weight_norm_control)(
                rate=0.2, target_norm=0.5, learning_rate=0.1
            ),
            jaxl2.weight_norm_control(0.2, 0.5, learning_rate=0.1),
        ),
        (optax.inject_hyperparams(jaxl2.spectral_decay)(rate=0.2), jaxl2.spectral_decay(0.2)),
        (
            optax.inject_hyperparams(jaxl2.adamwn)(
                learning_rate=0.1, weight_decay=0.2, target_norm=1.0
            ),
            jaxl2.adamwn(0.1, weight_decay=0.2, target_norm=1.0),
        ),
    ]
    for injected, plain in cases:
        for _ in range(2):
            ref, _ = _run(plain, params, [grads, grads])
            ours, state = _run(injected, params, [grads, grads])
            _close(ours, ref, 1e-5)
    # λ changed inside the state, as a sweep over λ does: the step is the plain one with that λ
    state.hyperparams["weight_decay"] = jnp.asarray(0.0)
    u, _ = injected.update(grads, state, ours)
    plain = jaxl2.adamwn(0.1, weight_decay=0.0, target_norm=1.0)
    _, plain_state = _run(plain, params, [grads, grads])
    u0, _ = plain.update(grads, plain_state, ours)
    _close(u, u0, 1e-5)


# ----------------------------------------------------------------------------- bad input


def test_cpr_negative_bound_is_an_error():
    with pytest.raises(ValueError, match=r"kappa must be a non-negative bound .* got -1.0"):
        jaxl2.cpr("uniform", kappa=-1.0)
    with pytest.raises(ValueError, match=r"kappa\['w'\] must be a non-negative bound"):
        jaxl2.cpr("uniform", kappa={"w": -2.0})
    params = {"w": jnp.ones((2, 2))}

    @jax.jit
    def traced(k):
        return jaxl2.cpr("uniform", k).init(params).kappa["w"]

    with pytest.raises(Exception, match="kappa must be non-negative"):
        jax.block_until_ready(traced(jnp.asarray(-1.0)))


def test_cpr_argument_errors():
    with pytest.raises(ValueError, match="kappa_init must be one of"):
        jaxl2.cpr("bogus")
    with pytest.raises(ValueError, match="needs kappa"):
        jaxl2.cpr("uniform")
    with pytest.raises(ValueError, match="needs warm_start_steps"):
        jaxl2.cpr("warm_start")
    with pytest.raises(ValueError, match="warm_start_steps must be an integer >= 1, got 0"):
        jaxl2.cpr("warm_start", warm_start_steps=0)
    with pytest.raises(ValueError, match="reg_ema_decay must lie in"):
        jaxl2.cpr(reg_ema_decay=1.5)
    tx = jaxl2.cpr("uniform", 1.0)
    params = {"w": jnp.ones((2, 2))}
    with pytest.raises(ValueError, match="needs the current parameters"):
        tx.update(params, tx.init(params))


def test_other_bad_inputs():
    params = {"w": jnp.ones((2, 2))}
    with pytest.raises(ValueError, match="rate must be non-negative"):
        jaxl2.weight_norm_control(-0.1)
    with pytest.raises(ValueError, match="target_norm must be non-negative"):
        jaxl2.weight_norm_control(0.1, target_norm=-1.0)
    with pytest.raises(ValueError, match="rate must be non-negative"):
        jaxl2.spectral_decay(-1.0)
    with pytest.raises(TypeError, match="whole leaves"):
        jaxl2.spectral_decay(0.1, mask={"w": jnp.array([True, False])}).init(params)
    with pytest.raises(TypeError, match="floating-point"):
        jaxl2.weight_norm_control(0.1).init({"w": jnp.ones((2, 2), jnp.int32)})
