"""Weight-decay transforms against optax, PyTorch's update rules (numpy and torch itself) and
Loshchilov & Hutter's Algorithm 2; the contract table (jit, dtypes, hyperparameter kinds, masks,
inject_hyperparams, partition, no recompilation); Flax NNX and Equinox loops; bad input."""

import equinox as eqx
import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxl2

pytestmark = pytest.mark.standard_promotion  # optax.adam and schedules are not strict-clean

STEPS = 6


def _problem(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    w0 = {"kernel": rng.normal(size=(4, 3)).astype(dtype), "bias": rng.normal(size=3).astype(dtype)}
    grads = [
        {k: rng.normal(size=v.shape).astype(dtype) for k, v in w0.items()} for _ in range(STEPS)
    ]
    return w0, grads


def _run_optax(tx, w0, grads, dtype=None):
    params = jax.tree.map(jnp.asarray, w0)
    state = tx.init(params)
    step = jax.jit(tx.update)
    for g in grads:
        updates, state = step(jax.tree.map(jnp.asarray, g), state, params)
        params = optax.apply_updates(params, updates)
    return jax.tree.map(np.asarray, params)


def _assert_trees_close(a, b, rtol, atol=0.0):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)


# ---------------------------------------------------------------- PyTorch rules written in numpy


def torch_sgd(w0, grads, lr, momentum=0.0, weight_decay=0.0, mask=None):
    w = {k: v.copy() for k, v in w0.items()}
    buf = {}
    for g in grads:
        for k in w:
            r = weight_decay if (mask is None or mask[k]) else 0.0
            d = g[k] + r * w[k]
            if momentum:
                buf[k] = d.copy() if k not in buf else momentum * buf[k] + d
                d = buf[k]
            w[k] = w[k] - lr * d
    return w


def torch_adam(
    w0, grads, lr, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0, decoupled=False, mask=None
):
    w = {k: v.copy() for k, v in w0.items()}
    m = {k: np.zeros_like(v) for k, v in w.items()}
    v = {k: np.zeros_like(x) for k, x in w.items()}
    for t, g in enumerate(grads, start=1):
        for k in w:
            r = weight_decay if (mask is None or mask[k]) else 0.0
            gk = g[k]
            if decoupled:
                w[k] = w[k] * (1 - lr * r)  # torch.optim.AdamW
            else:
                gk = gk + r * w[k]  # torch.optim.Adam(weight_decay=r)
            m[k] = b1 * m[k] + (1 - b1) * gk
            v[k] = b2 * v[k] + (1 - b2) * gk * gk
            mhat, vhat = m[k] / (1 - b1**t), v[k] / (1 - b2**t)
            w[k] = w[k] - lr * mhat / (np.sqrt(vhat) + eps)
    return w


def paper_adamw_algorithm2(w0, grads, alpha, eta, lam, b1=0.9, b2=0.999, eps=1e-8):
    """Loshchilov & Hutter 2019, Algorithm 2: w ← w − η_t (α m̂/(√v̂ + ε) + λ w)."""
    w = {k: v.copy() for k, v in w0.items()}
    m = {k: np.zeros_like(v) for k, v in w.items()}
    v = {k: np.zeros_like(x) for k, x in w.items()}
    for t, g in enumerate(grads, start=1):
        for k in w:
            m[k] = b1 * m[k] + (1 - b1) * g[k]
            v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2
            mhat, vhat = m[k] / (1 - b1**t), v[k] / (1 - b2**t)
            w[k] = w[k] - eta(t - 1) * (alpha * mhat / (np.sqrt(vhat) + eps) + lam * w[k])
    return w


def sgdw_rule(w0, grads, lr, weight_decay, momentum, nesterov=False, mask=None):
    """jaxl2.sgdw, mode="lr" (its docstring; PyTorch's SGD momentum buffer, decoupled decay):
    m ← μ m + g; d = g + μ m if nesterov else m; w ← w − lr_t d − lr_t λ w."""
    w = {k: v.copy() for k, v in w0.items()}
    m = {k: np.zeros_like(v) for k, v in w.items()}
    for t, g in enumerate(grads):
        lr_t = float(lr(t)) if callable(lr) else lr
        for k in w:
            r = weight_decay if (mask is None or mask[k]) else 0.0
            m[k] = momentum * m[k] + g[k]
            d = g[k] + momentum * m[k] if nesterov else m[k]
            w[k] = w[k] - lr_t * d - lr_t * r * w[k]
    return w


def paper_sgdw_algorithm1(w0, grads, alpha, lam, b1):
    """Algorithm 1 (SGDW) at η_t = 1: m ← β1 m + α g; w ← w − m − λ w."""
    w = {k: v.copy() for k, v in w0.items()}
    m = {k: np.zeros_like(v) for k, v in w.items()}
    for g in grads:
        for k in w:
            m[k] = b1 * m[k] + alpha * g[k]
            w[k] = w[k] - m[k] - lam * w[k]
    return w


# ------------------------------------------------------------------------------ references


def test_weight_decay_equals_optax_add_decayed_weights():
    w0, grads = _problem(np.float32)
    mask = {"kernel": True, "bias": False}
    for m in (None, mask, "weights"):
        om = mask if m == "weights" else m
        ours = _run_optax(optax.chain(jaxl2.weight_decay(0.3, mask=m), optax.sgd(0.1)), w0, grads)
        ref = _run_optax(optax.chain(optax.add_decayed_weights(0.3, om), optax.sgd(0.1)), w0, grads)
        _assert_trees_close(ours, ref, rtol=0, atol=0)


@pytest.mark.parametrize("x64_on", [False, True])
def test_adamw_equals_optax_adamw(x64_on):
    with jax.enable_x64(x64_on):
        dtype = np.float64 if x64_on else np.float32
        w0, grads = _problem(dtype)
        sched = optax.cosine_decay_schedule(1e-2, 10)
        for lr in (1e-2, sched):
            for mask in (None, {"kernel": True, "bias": False}):
                ours = _run_optax(jaxl2.adamw(lr, weight_decay=0.1, mask=mask), w0, grads)
                ref = _run_optax(optax.adamw(lr, weight_decay=0.1, mask=mask), w0, grads)
                _assert_trees_close(ours, ref, rtol=0, atol=0)  # bit for bit


def test_coupled_sgd_momentum_equals_torch_sgd_rule(x64):
    w0, grads = _problem()
    for momentum in (0.0, 0.9):
        ours = _run_optax(jaxl2.coupled(optax.sgd(0.05, momentum=momentum or None), 0.1), w0, grads)
        ref = torch_sgd(w0, grads, 0.05, momentum, weight_decay=0.1)
        _assert_trees_close(ours, ref, rtol=1e-12, atol=1e-14)


def test_coupled_adam_equals_torch_adam_rule(x64):
    w0, grads = _problem()
    ours = _run_optax(jaxl2.coupled(optax.adam(1e-2), 0.1), w0, grads)
    _assert_trees_close(ours, torch_adam(w0, grads, 1e-2, weight_decay=0.1), rtol=1e-12, atol=1e-14)
    alias = _run_optax(jaxl2.adam_l2(1e-2, weight_decay=0.1), w0, grads)
    _assert_trees_close(alias, ours, rtol=0, atol=0)


def test_adamw_equals_torch_adamw_rule_with_mask(x64):
    w0, grads = _problem()
    mask = {"kernel": True, "bias": False}
    ours = _run_optax(jaxl2.adamw(1e-2, weight_decay=0.1, mask="weights"), w0, grads)
    ref = torch_adam(w0, grads, 1e-2, weight_decay=0.1, decoupled=True, mask=mask)
    _assert_trees_close(ours, ref, rtol=1e-10, atol=1e-13)


def test_schedule_mode_is_loshchilov_hutter_algorithm2(x64):
    w0, grads = _problem()
    alpha, lam = 1e-2, 1e-3
    eta = optax.cosine_decay_schedule(1.0, STEPS, alpha=0.1)  # the multiplier η_t
    lr = lambda t: alpha * eta(t)  # noqa: E731
    ours = _run_optax(jaxl2.adamw(lr, weight_decay=lam, mode="schedule"), w0, grads)
    ref = paper_adamw_algorithm2(w0, grads, alpha, lambda t: float(eta(t)), lam)
    _assert_trees_close(ours, ref, rtol=1e-10, atol=1e-13)
    # base_learning_rate for a warm-up that starts at 0
    warm = optax.linear_schedule(0.0, alpha, 3)
    ours = _run_optax(
        jaxl2.adamw(warm, weight_decay=lam, mode="schedule", base_learning_rate=alpha), w0, grads
    )
    ref = paper_adamw_algorithm2(w0, grads, alpha, lambda t: float(warm(t)) / alpha, lam)
    # optax.adam(warm) itself differs from the textbook rule by ~4e-10 here (also at λ = 0).
    _assert_trees_close(ours, ref, rtol=1e-8, atol=1e-9)


def test_sgdw_schedule_mode_is_algorithm1_at_constant_eta(x64):
    w0, grads = _problem()
    ours = _run_optax(jaxl2.sgdw(0.05, weight_decay=0.01, momentum=0.9, mode="schedule"), w0, grads)
    ref = paper_sgdw_algorithm1(w0, grads, 0.05, 0.01, 0.9)
    _assert_trees_close(ours, ref, rtol=1e-10, atol=1e-13)


def test_sgdw_lr_mode_equals_numpy_rule(x64):
    w0, grads = _problem()
    masks = {None: None, "weights": {"kernel": True, "bias": False}}
    sched = optax.cosine_decay_schedule(0.05, STEPS, alpha=0.2)
    for lr in (0.05, sched):
        for mask, np_mask in masks.items():
            for nesterov in (False, True):
                tx = jaxl2.sgdw(lr, weight_decay=0.1, momentum=0.9, nesterov=nesterov, mask=mask)
                ours = _run_optax(tx, w0, grads)
                ref = sgdw_rule(w0, grads, lr, 0.1, 0.9, nesterov=nesterov, mask=np_mask)
                _assert_trees_close(ours, ref, rtol=1e-12, atol=1e-14)
    # the default (no momentum) is plain SGD plus the decoupled decay
    ours = _run_optax(jaxl2.sgdw(0.05, weight_decay=0.1, mask="weights"), w0, grads)
    ref = sgdw_rule(w0, grads, 0.05, 0.1, 0.0, mask=masks["weights"])
    _assert_trees_close(ours, ref, rtol=1e-12, atol=1e-14)
    # masked-out leaves follow plain momentum SGD exactly as torch_sgd without decay
    ours = _run_optax(jaxl2.sgdw(0.05, weight_decay=0.1, momentum=0.9, mask="weights"), w0, grads)
    np.testing.assert_allclose(
        ours["bias"], torch_sgd(w0, grads, 0.05, 0.9)["bias"], rtol=1e-12, atol=1e-14
    )


def test_constant_mode_and_other_inner_optimizers(x64):
    params = {"kernel": jnp.asarray(np.random.default_rng(3).normal(size=(4, 3)))}
    grads = jax.tree.map(lambda x: 0.1 * x + 0.3, params)
    for inner, lr in (
        (optax.lion(1e-3), 1e-3),
        (optax.adafactor(1e-2), 1e-2),
        (optax.sgd(0.1), 0.1),
    ):
        base_u, _ = inner.update(grads, inner.init(params), params)
        for mode, factor in (("lr", lr), ("schedule", 1.0), ("constant", 1.0)):
            tx = jaxl2.decoupled(inner, 0.2, learning_rate=lr, mode=mode)
            u, _ = tx.update(grads, tx.init(params), params)
            np.testing.assert_allclose(
                u["kernel"], base_u["kernel"] - factor * 0.2 * params["kernel"], rtol=1e-12
            )


@pytest.mark.torch
def test_against_torch_itself(x64):
    torch = pytest.importorskip("torch")
    w0, grads = _problem()

    def run_torch(make_opt):
        ps = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in w0.items()}
        opt = make_opt(list(ps.values()))
        for g in grads:
            for k, p in ps.items():
                p.grad = torch.tensor(g[k], dtype=torch.float64)
            opt.step()
        return {k: p.detach().numpy() for k, p in ps.items()}

    cases = [
        (
            lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=0.1),
            jaxl2.coupled(optax.sgd(0.05, momentum=0.9), 0.1),
        ),
        (
            lambda p: torch.optim.Adam(p, lr=1e-2, weight_decay=0.1),
            jaxl2.adam_l2(1e-2, weight_decay=0.1),
        ),
        (
            lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=0.1),
            jaxl2.adamw(1e-2, weight_decay=0.1),
        ),
    ]
    for make, tx in cases:
        _assert_trees_close(_run_optax(tx, w0, grads), run_torch(make), rtol=1e-10, atol=1e-13)


@settings(max_examples=25, deadline=None)
@given(
    w=hnp.arrays(np.float64, (3,), elements=st.floats(-10, 10)),
    lr=st.floats(1e-3, 0.5),
    rate=st.floats(0, 2),
)
def test_property_coupled_sgd_is_sgd_on_penalized_loss(w, lr, rate):
    with jax.enable_x64(True):
        x = jnp.asarray([[1.0, 2.0, 0.5], [0.0, 1.0, -1.0]])

        def loss(p):
            return jnp.sum((x @ p - 1.0) ** 2)

        p = jnp.asarray(w)
        tx = jaxl2.coupled(optax.sgd(lr), rate)
        u, _ = tx.update(jax.grad(loss)(p), tx.init(p), p)
        pen = jaxl2.penalized(loss, jaxl2.l2, jaxl2.convert.weight_decay_to_lam(rate))
        np.testing.assert_allclose(p + u, p - lr * jax.grad(pen)(p), rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------------ the contract

_FACTORIES = {
    "weight_decay": lambda rate, **kw: optax.chain(jaxl2.weight_decay(rate, **kw), optax.sgd(0.1)),
    "coupled": lambda rate, **kw: jaxl2.coupled(optax.sgd(0.1, momentum=0.9), rate, **kw),
    "decoupled_lr": lambda rate, **kw: jaxl2.decoupled(
        optax.adam(1e-2), rate, learning_rate=1e-2, **kw
    ),
    "decoupled_schedule": lambda rate, **kw: jaxl2.decoupled(
        optax.adam(optax.cosine_decay_schedule(1e-2, 10)),
        rate,
        learning_rate=optax.cosine_decay_schedule(1e-2, 10),
        mode="schedule",
        **kw,
    ),
    "decoupled_constant": lambda rate, **kw: jaxl2.decoupled(
        optax.lion(1e-3), rate, mode="constant", **kw
    ),
    "adamw": lambda rate, **kw: jaxl2.adamw(1e-2, weight_decay=rate, **kw),
    "sgdw": lambda rate, **kw: jaxl2.sgdw(1e-2, weight_decay=rate, momentum=0.9, **kw),
    "adam_l2": lambda rate, **kw: jaxl2.adam_l2(1e-2, weight_decay=rate, **kw),
}


@pytest.fixture(params=sorted(_FACTORIES))
def factory(request):
    return _FACTORIES[request.param]


def _params(dtype=jnp.float32):
    return {
        "dense": {
            "kernel": jnp.linspace(-1, 1, 12, dtype=dtype).reshape(3, 4),
            "bias": jnp.ones(4, dtype),
        },
        "norm": {"scale": jnp.ones(4, dtype)},
    }


def _steps(tx, params, n=3, jit=True):
    grads = jax.tree.map(lambda x: 0.1 * jnp.ones_like(x), params)
    state = tx.init(params)
    upd = jax.jit(tx.update) if jit else tx.update
    for _ in range(n):
        u, state = upd(grads, state, params)
        params = optax.apply_updates(params, u)
    return params


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float32])
def test_contract_dtypes_preserved(factory, dtype):
    out = _steps(factory(0.1, mask="weights"), _params(dtype))
    assert all(x.dtype == dtype for x in jax.tree.leaves(out))


def test_contract_float64(factory, x64):
    out = _steps(factory(0.1), _params(jnp.float64))
    assert all(x.dtype == jnp.float64 for x in jax.tree.leaves(out))


def test_contract_rate_kinds_agree(factory):
    p = _params()
    ref = _steps(factory(0.1), p)
    as_array = _steps(factory(jnp.asarray(0.1)), p)
    as_schedule = _steps(factory(optax.constant_schedule(0.1)), p)
    as_tree = _steps(factory({"dense": 0.1, "norm": {"scale": 0.1}}), p)
    for other in (as_array, as_schedule, as_tree):
        _assert_trees_close(other, ref, rtol=1e-6)
    traced = jax.jit(lambda r: _steps(factory(r), p, jit=False))(jnp.float32(0.1))
    _assert_trees_close(traced, ref, rtol=1e-6)


def test_contract_zero_rate_is_exact_noop(factory):
    # Bit-exact op by op; under jit XLA may fuse `u + 0·w` into the optimizer's kernel and round
    # the optimizer's own arithmetic differently, so there the check is to float rounding.
    p = _params()
    ref = _steps(factory(0.0, mask=False), p, jit=False)  # nothing decays
    for zero in (0.0, jnp.asarray(0.0), optax.constant_schedule(0.0), {"dense": 0.0, "norm": 0.0}):
        _assert_trees_close(_steps(factory(zero), p, jit=False), ref, rtol=0, atol=0)
        _assert_trees_close(_steps(factory(zero), p), ref, rtol=1e-6)


def test_contract_mask_kinds(factory):
    p = _params()
    explicit = {"dense": {"kernel": True, "bias": False}, "norm": {"scale": False}}
    ref = _steps(factory(0.5, mask=explicit), p)
    for mask in ("weights", jaxl2.masks.weights, lambda t: jax.tree.map(lambda x: x.ndim > 1, t)):
        _assert_trees_close(_steps(factory(0.5, mask=mask), p), ref, rtol=0, atol=0)
    nodecay = _steps(factory(0.0), p)
    # masked-out leaves are exactly as without decay; decayed ones differ
    np.testing.assert_array_equal(ref["dense"]["bias"], nodecay["dense"]["bias"])
    assert not np.allclose(ref["dense"]["kernel"], nodecay["dense"]["kernel"])


def test_contract_vmap_over_rate(factory):
    p = _params()
    rates = jnp.array([0.0, 0.1, 0.5], jnp.float32)
    out = jax.vmap(lambda r: _steps(factory(r), p, jit=False))(rates)
    for i, r in enumerate([0.0, 0.1, 0.5]):
        _assert_trees_close(
            jax.tree.map(lambda x, i=i: x[i], out), _steps(factory(r), p), rtol=1e-5, atol=1e-7
        )


def test_contract_extra_args_ignored(factory):
    p = _params()
    tx = factory(0.1)
    g = jax.tree.map(jnp.ones_like, p)
    u1, _ = tx.update(g, tx.init(p), p)
    u2, _ = tx.update(g, tx.init(p), p, some_extra_arg=3)
    _assert_trees_close(u1, u2, rtol=0, atol=0)


def test_center_decays_toward_reference():
    p = _params()
    center = jax.tree.map(lambda x: x + 1.0, p)
    tx = jaxl2.weight_decay(0.5, center=center)
    zeros = jax.tree.map(jnp.zeros_like, p)
    u, _ = tx.update(zeros, tx.init(p), p)
    for leaf in jax.tree.leaves(u):
        np.testing.assert_allclose(leaf, -0.5)  # 0.5 · (w − (w + 1))
    # AdamW toward the centre: with zero gradients the weights converge to it.
    tx = jaxl2.adamw(0.1, weight_decay=1.0, center=center)
    state, q = tx.init(p), p
    for _ in range(200):
        u, state = tx.update(zeros, state, q)
        q = optax.apply_updates(q, u)
    _assert_trees_close(q, center, rtol=1e-3, atol=1e-4)


def test_in_chain_and_partition():
    p = _params()
    labels = {"dense": {"kernel": "decay", "bias": "plain"}, "norm": {"scale": "plain"}}
    center = jax.tree.map(lambda x: x * 0.0 + 0.5, p)
    tx = optax.partition(
        {
            "decay": jaxl2.adamw(1e-2, weight_decay=0.5, mask="weights", center=center),
            "plain": optax.adam(1e-2),
        },
        labels,
    )
    out = _steps(tx, p)
    ref_decay = _steps(
        jaxl2.adamw(
            1e-2,
            weight_decay=0.5,
            mask={"dense": {"kernel": True, "bias": False}, "norm": False},
            center=center,
        ),
        p,
    )
    np.testing.assert_allclose(out["dense"]["kernel"], ref_decay["dense"]["kernel"], rtol=1e-6)
    np.testing.assert_allclose(out["norm"]["scale"], ref_decay["norm"]["scale"], rtol=1e-6)
    # the "plain" leaves are trained by optax.adam alone
    ref_plain = _steps(optax.adam(1e-2), p)
    np.testing.assert_allclose(out["dense"]["bias"], ref_plain["dense"]["bias"], rtol=1e-6)
    np.testing.assert_allclose(out["norm"]["scale"], ref_plain["norm"]["scale"], rtol=1e-6)
    # the decayed leaf against optax.adamw decaying toward 0.5 (w − 0.5 shifts by the centre)
    shifted = jax.tree.map(lambda x: x - 0.5, p)
    ref_adamw = _steps(optax.adamw(1e-2, weight_decay=0.5), shifted)
    np.testing.assert_allclose(
        out["dense"]["kernel"], ref_adamw["dense"]["kernel"] + 0.5, rtol=1e-5, atol=1e-6
    )
    chained = optax.chain(optax.clip_by_global_norm(1.0), jaxl2.weight_decay(0.1), optax.sgd(0.1))
    ref_chain = optax.chain(
        optax.clip_by_global_norm(1.0), optax.add_decayed_weights(0.1), optax.sgd(0.1)
    )
    _assert_trees_close(_steps(chained, p), _steps(ref_chain, p), rtol=0, atol=0)


def test_inject_hyperparams_rate_settable_without_recompiling():
    p = _params()
    g = jax.tree.map(jnp.zeros_like, p)
    tx = optax.inject_hyperparams(jaxl2.adamw)(learning_rate=0.1, weight_decay=0.0, mask="weights")
    traces = []

    @jax.jit
    def step(state):
        traces.append(1)
        return tx.update(g, state, p)

    state = tx.init(p)
    u0, _ = step(state)
    np.testing.assert_array_equal(u0["dense"]["kernel"], 0.0)
    state.hyperparams["weight_decay"] = jnp.asarray(0.5, jnp.float32)  # same dtype, not weak
    u1, _ = step(state)
    np.testing.assert_allclose(u1["dense"]["kernel"], -0.1 * 0.5 * p["dense"]["kernel"], rtol=1e-6)
    np.testing.assert_array_equal(u1["dense"]["bias"], 0.0)
    assert len(traces) == 1
    for name in ("weight_decay", "coupled"):
        fac = {
            "weight_decay": jaxl2.weight_decay,
            "coupled": lambda rate, mask: jaxl2.coupled(optax.sgd(0.1), rate, mask=mask),
        }[name]
        tx2 = optax.inject_hyperparams(fac)(rate=0.3, mask="weights")
        s2 = tx2.init(p)
        assert float(s2.hyperparams["rate"]) == pytest.approx(0.3)
        # zero gradients: the update is the masked decay alone: +0.3 w added to the gradient by
        # weight_decay (as optax.add_decayed_weights), −0.1 · 0.3 w after coupled's sgd(0.1)
        scale = 1.0 if name == "weight_decay" else -0.1
        u2, s2 = jax.jit(tx2.update)(g, s2, p)
        np.testing.assert_allclose(
            u2["dense"]["kernel"], scale * 0.3 * p["dense"]["kernel"], rtol=1e-6
        )
        np.testing.assert_array_equal(u2["dense"]["bias"], 0.0)
        np.testing.assert_array_equal(u2["norm"]["scale"], 0.0)
        s2.hyperparams["rate"] = jnp.asarray(0.7, jnp.float32)
        u3, _ = jax.jit(tx2.update)(g, s2, p)
        np.testing.assert_allclose(
            u3["dense"]["kernel"], scale * 0.7 * p["dense"]["kernel"], rtol=1e-6
        )


def test_new_rate_values_do_not_recompile():
    p = _params()
    g = jax.tree.map(lambda x: 0.1 * jnp.ones_like(x), p)
    traces = []

    @jax.jit
    def train(rate):
        traces.append(1)
        tx = jaxl2.adamw(1e-2, weight_decay=rate, mask="weights")
        state = tx.init(p)
        u, _ = tx.update(g, state, p)
        return optax.apply_updates(p, u)

    outs = [train(jnp.float32(r)) for r in (0.0, 0.1, 0.2, 0.3)]
    assert len(traces) == 1
    assert not np.allclose(outs[0]["dense"]["kernel"], outs[3]["dense"]["kernel"])
    assert train._cache_size() == 1


def test_flax_nnx_optimizer_with_weights_mask():
    class Net(nnx.Module):
        def __init__(self, rngs):
            self.linear = nnx.Linear(3, 4, rngs=rngs)
            self.norm = nnx.LayerNorm(4, rngs=rngs)

        def __call__(self, x):
            return self.norm(self.linear(x))

    model = Net(nnx.Rngs(0))
    before = nnx.state(model, nnx.Param)
    before = jax.tree.map(np.asarray, nnx.as_pure(before))
    opt = nnx.Optimizer(model, jaxl2.adamw(0.1, weight_decay=0.5, mask="weights"), wrt=nnx.Param)
    grads = jax.tree.map(jnp.zeros_like, nnx.state(model, nnx.Param))
    opt.update(model, grads)
    after = jax.tree.map(np.asarray, nnx.as_pure(nnx.state(model, nnx.Param)))
    np.testing.assert_allclose(
        after["linear"]["kernel"], before["linear"]["kernel"] * (1 - 0.1 * 0.5), rtol=1e-6
    )
    np.testing.assert_array_equal(after["linear"]["bias"], before["linear"]["bias"])
    np.testing.assert_array_equal(after["norm"]["scale"], before["norm"]["scale"])

    # and a jitted NNX training step
    @nnx.jit
    def train_step(model, opt, x, y):
        loss, grads = nnx.value_and_grad(lambda m: jnp.mean((m(x) - y) ** 2))(model)
        opt.update(model, grads)
        return loss

    x, y = jnp.ones((5, 3)), jnp.zeros((5, 4))
    losses = [float(train_step(model, opt, x, y)) for _ in range(5)]
    assert np.isfinite(losses).all()


def test_equinox_training_loop():
    model = eqx.nn.Sequential([eqx.nn.Linear(3, 4, key=jax.random.key(0)), eqx.nn.LayerNorm(4)])
    x = jax.random.normal(jax.random.key(1), (8, 3))
    lr, rate = 0.05, 0.5
    tx, ref_tx = jaxl2.adamw(lr, weight_decay=rate, mask="weights"), optax.adam(lr)
    m = model
    state, ref_state = (
        tx.init(eqx.filter(m, eqx.is_array)),
        ref_tx.init(eqx.filter(m, eqx.is_array)),
    )

    @eqx.filter_jit
    def step(m, state, ref_state):
        loss, grads = eqx.filter_value_and_grad(lambda m: jnp.sum(jax.vmap(m)(x) ** 2))(m)
        params = eqx.filter(m, eqx.is_array)
        updates, state = tx.update(grads, state, params)
        ref_updates, ref_state = ref_tx.update(grads, ref_state, params)
        return eqx.apply_updates(m, updates), state, ref_state, updates, ref_updates, loss

    for _ in range(3):
        w = m.layers[0].weight
        m, state, ref_state, u, ref_u, loss = step(m, state, ref_state)
        # Only the Linear matrix decays; its bias and the LayerNorm's 1-D "weight" do not.
        np.testing.assert_allclose(
            u.layers[0].weight, ref_u.layers[0].weight - lr * rate * w, rtol=1e-5, atol=1e-7
        )
        np.testing.assert_array_equal(u.layers[0].bias, ref_u.layers[0].bias)
        np.testing.assert_array_equal(u.layers[1].weight, ref_u.layers[1].weight)
        np.testing.assert_array_equal(u.layers[1].bias, ref_u.layers[1].bias)
    assert np.isfinite(float(loss))


# ------------------------------------------------------------------------------ bad input


def test_negative_or_nan_rate():
    with pytest.raises(ValueError, match=r"rate must be non-negative and not NaN, got -0.1"):
        jaxl2.weight_decay(-0.1)
    with pytest.raises(ValueError, match=r"weight_decay must be non-negative and not NaN, got nan"):
        jaxl2.adamw(1e-3, weight_decay=float("nan"))
    with pytest.raises(
        ValueError, match=r"rate must be non-negative and not NaN, got -1.0 at index 1"
    ):
        jaxl2.coupled(optax.sgd(0.1), jnp.array([0.1, -1.0]))
    with pytest.raises(ValueError, match=r"rate\['b'\] must be non-negative"):
        jaxl2.weight_decay({"a": 0.1, "b": -0.2})
    with pytest.raises(
        ValueError, match=r"learning_rate must be non-negative and not NaN, got -0.001"
    ):
        jaxl2.adamw(-1e-3, weight_decay=0.1)


def test_schedule_with_negative_value_raises_at_run_time():
    p = _params()
    bad = optax.linear_schedule(0.1, -0.1, 4)  # crosses zero
    tx = jaxl2.weight_decay(bad)
    state = tx.init(p)
    g = jax.tree.map(jnp.zeros_like, p)
    upd = jax.jit(tx.update)
    with pytest.raises(Exception, match=r"rate \(the value of the schedule\) must be non-negative"):
        for _ in range(6):
            u, state = upd(g, state, p)
            jax.block_until_ready(u)


def test_traced_negative_rate_raises_at_run_time():
    p = _params()
    with pytest.raises(Exception, match="weight_decay must be non-negative"):
        jax.block_until_ready(
            jax.jit(lambda r: _steps(jaxl2.adamw(0.1, weight_decay=r), p, jit=False))(
                jnp.float32(-1)
            )
        )


def test_unknown_mode_and_missing_learning_rate():
    with pytest.raises(
        ValueError,
        match=r"mode must be one of 'lr', 'schedule', 'constant', 'corrected'; got 'decoupled'",
    ):
        jaxl2.decoupled(optax.adam(1e-3), 0.1, learning_rate=1e-3, mode="decoupled")
    with pytest.raises(ValueError, match=r"learning_rate is required for mode='lr'"):
        jaxl2.decoupled(optax.adam(1e-3), 0.1)
    with pytest.raises(ValueError, match=r"learning_rate is required for mode='schedule'"):
        jaxl2.decoupled(optax.adam(1e-3), 0.1, mode="schedule")
    with pytest.raises(ValueError, match=r"learning_rate at step 0 is 0 \(a warm-up schedule\?\)"):
        jaxl2.adamw(optax.linear_schedule(0.0, 1e-3, 10), weight_decay=0.1, mode="schedule")


def test_mask_center_and_params_errors():
    p = _params()
    g = jax.tree.map(jnp.zeros_like, p)
    tx = jaxl2.adamw(0.1, weight_decay=0.1, mask={"dense": True})
    with pytest.raises(
        ValueError,
        match=r"(?s)mask does not match the structure of params.*mask structure.*params structure",
    ):
        tx.update(g, tx.init(p), p)
    tx = jaxl2.weight_decay(0.1, center={"dense": p["dense"]})
    with pytest.raises(ValueError, match=r"(?s)center must have the same tree structure as params"):
        tx.update(g, tx.init(p), p)
    with pytest.raises(ValueError, match="mask must be None, 'weights'"):
        jaxl2.adamw(0.1, weight_decay=0.1, mask="kernels")
    tx = jaxl2.weight_decay(0.1)
    with pytest.raises(ValueError, match="params: weight decay needs the current parameters"):
        tx.update(g, tx.init(p))
    with pytest.raises(TypeError, match=r"params must have floating-point leaves.*dtype int32"):
        jaxl2.adamw(0.1, weight_decay=0.1).init({"w": jnp.ones(3, jnp.int32)})
    with pytest.raises(
        ValueError, match=r"(?s)rate does not match the structure of params.*rate structure"
    ):
        tx = jaxl2.weight_decay({"other": 0.1})
        tx.update(g, tx.init(p), p)
