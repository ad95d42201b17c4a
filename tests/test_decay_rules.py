"""jaxl2.adamw as optax.adamw (call, state, bits, optax's own tests) and the post-2023 decay rules
(cautious, corrected/AdamC, stable/AdamS, timescale) against their papers' equations in numpy and
pytorch-optimizer; the contract (jit, vmap over λ, inject_hyperparams, dtypes, no recompilation);
bad input."""

import functools
import inspect
import pathlib
import re
import types
import unittest

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxl2

pytestmark = pytest.mark.standard_promotion  # optax.adam and schedules are not strict-clean

STEPS = 6
MASK = {"kernel": True, "bias": False}


def _problem(dtype=np.float64, seed=0, steps=STEPS):
    rng = np.random.default_rng(seed)
    w0 = {"kernel": rng.normal(size=(4, 3)).astype(dtype), "bias": rng.normal(size=3).astype(dtype)}
    grads = [
        {k: rng.normal(size=v.shape).astype(dtype) for k, v in w0.items()} for _ in range(steps)
    ]
    return w0, grads


def _run(tx, w0, grads, jit=True):
    params = jax.tree.map(jnp.asarray, w0)
    state = tx.init(params)
    step = jax.jit(tx.update) if jit else tx.update
    for g in grads:
        updates, state = step(jax.tree.map(jnp.asarray, g), state, params)
        params = optax.apply_updates(params, updates)
    return jax.tree.map(np.asarray, params)


def _close(a, b, rtol, atol=0.0):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)


def _bits_equal(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


# ------------------------------------------------------------ the papers' equations in numpy


def adam_decay_reference(
    w0,
    grads,
    lr,
    lam,
    *,
    b1=0.9,
    b2=0.999,
    eps=1e-8,
    mask=None,
    cautious=False,
    corrected_max=None,
    stable=False,
    center=None,
):
    """x ← x − η_t u_t − d_t, u_t = m̂/(√v̂ + ε), with the decay d_t of each paper:

    AdamW (Loshchilov & Hutter): d = η_t λ x; corrected (AdamC, Defazio et al. eq. in §4):
    d = (η_t²/γ_max) λ x; stable (AdamS, Xie et al. Alg. 2): d = η_t λ x / (√v̄_t + ε), v̄_t
    the mean of v̂_t over all parameters; cautious (Chen et al. eq. 3): d ⊙ 1[u_t ⊙ x ≥ 0].
    """
    w = {k: v.copy() for k, v in w0.items()}
    m = {k: np.zeros_like(v) for k, v in w.items()}
    v = {k: np.zeros_like(x) for k, x in w.items()}
    for t, g in enumerate(grads, start=1):
        lr_t = float(lr(t - 1)) if callable(lr) else lr
        u = {}
        for k in w:
            m[k] = b1 * m[k] + (1 - b1) * g[k]
            v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2
            u[k] = (m[k] / (1 - b1**t)) / (np.sqrt(v[k] / (1 - b2**t)) + eps)
        vbar = sum(x.sum() for x in v.values()) / sum(x.size for x in v.values()) / (1 - b2**t)
        for k in w:
            coef = lr_t * lam if corrected_max is None else lr_t**2 / corrected_max * lam
            if stable:
                coef = coef / (np.sqrt(vbar) + eps)
            x = w[k] - (0 if center is None else center[k])
            d = coef * x
            if cautious:
                d = np.where(u[k] * w[k] >= 0, d, 0.0)
            if mask is not None and not mask[k]:
                d = 0.0 * d
            w[k] = w[k] - lr_t * u[k] - d
    return w


def sgd_cautious_reference(w0, grads, lr, lam, momentum):
    """SGD with momentum (optax.sgd: m ← μ m + g, u = m), cautious decoupled decay."""
    w = {k: v.copy() for k, v in w0.items()}
    m = {k: np.zeros_like(v) for k, v in w.items()}
    for g in grads:
        for k in w:
            m[k] = momentum * m[k] + g[k]
            d = np.where(m[k] * w[k] >= 0, lr * lam * w[k], 0.0)
            w[k] = w[k] - lr * m[k] - d
    return w


# ------------------------------------------------------------------- 1. optax's call, exactly


def test_signatures_start_with_optax_parameters():
    for ours, theirs in ((jaxl2.adamw, optax.adamw), (jaxl2.adams, optax.adamw)):
        a = list(inspect.signature(ours).parameters.values())
        b = list(inspect.signature(theirs).parameters.values())
        assert [(p.name, p.kind, p.default) for p in a[: len(b)]] == [
            (p.name, p.kind, p.default) for p in b
        ]
    sgd = list(inspect.signature(optax.sgd).parameters.values())
    ours = list(inspect.signature(jaxl2.sgdw).parameters.values())
    assert [(p.name, p.default) for p in ours[: len(sgd)]] == [(p.name, p.default) for p in sgd]
    assert [p.name for p in ours[len(sgd) : len(sgd) + 2]] == ["weight_decay", "mask"]
    adam_l2 = [p.name for p in inspect.signature(jaxl2.adam_l2).parameters.values()]
    assert adam_l2[:8] == [p.name for p in inspect.signature(optax.adamw).parameters.values()][:8]


_OPTAX_CALLS = [
    # every optax.adamw parameter, positionally, then nesterov by keyword
    ((1e-2, 0.8, 0.99, 1e-6, 1e-9, None, 0.1, {"kernel": True, "bias": False}), {"nesterov": True}),
    # all by keyword, with schedules for the learning rate and the decay, and a callable mask
    (
        (),
        dict(
            learning_rate=optax.cosine_decay_schedule(1e-2, 10),
            b1=0.85,
            b2=0.995,
            eps=1e-7,
            eps_root=0.0,
            mu_dtype=jnp.float32,
            weight_decay=optax.linear_schedule(0.1, 0.0, 10),
            mask=lambda p: jax.tree.map(lambda x: x.ndim > 1, p),
            nesterov=False,
        ),
    ),
    ((1e-2, 0.9), {"weight_decay": jnp.float32(0.3)}),  # an array rate, b1 positional
    ((3e-3,), {}),  # the defaults
]


@pytest.mark.parametrize("call", range(len(_OPTAX_CALLS)))
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_adamw_same_call_same_state_same_bits_as_optax_20_steps(call, dtype):
    args, kwargs = _OPTAX_CALLS[call]
    ours, theirs = jaxl2.adamw(*args, **kwargs), optax.adamw(*args, **kwargs)
    rng = np.random.default_rng(call)
    params = {
        "kernel": jnp.asarray(rng.normal(size=(16, 8)), dtype),
        "bias": jnp.asarray(rng.normal(size=8), dtype),
    }
    s_ours, s_theirs = ours.init(params), theirs.init(params)
    _bits_equal(s_ours, s_theirs)
    p_ours = p_theirs = params
    step_ours, step_theirs = jax.jit(ours.update), jax.jit(theirs.update)
    for _ in range(20):
        g = jax.tree.map(lambda x: jnp.asarray(rng.normal(size=x.shape), dtype), params)
        u_ours, s_ours = step_ours(g, s_ours, p_ours)
        u_theirs, s_theirs = step_theirs(g, s_theirs, p_theirs)
        _bits_equal(u_ours, u_theirs)
        p_ours = optax.apply_updates(p_ours, u_ours)
        p_theirs = optax.apply_updates(p_theirs, u_theirs)
    _bits_equal((p_ours, s_ours), (p_theirs, s_theirs))
    # an optax.adamw state (a checkpoint) continues in jaxl2.adamw, and indexing works
    u_a, _ = step_ours(g, s_theirs, p_theirs)
    u_b, _ = step_theirs(g, s_theirs, p_theirs)
    _bits_equal(u_a, u_b)
    assert isinstance(s_ours[0], optax.ScaleByAdamState) and len(s_ours) == 3


def test_complex_parameters_as_optax():
    for dtype in (jnp.complex64, jnp.complex128):
        with jax.enable_x64(dtype == jnp.complex128):
            p = jnp.asarray([1 + 2j, -0.5 + 1j, 3 - 1j], dtype)
            ours, theirs = jaxl2.adamw(0.1, weight_decay=0.1), optax.adamw(0.1, weight_decay=0.1)
            s1, s2 = ours.init(p), theirs.init(p)
            q1 = q2 = p
            for i in range(5):
                g = jnp.conj(q1 - (1 + 1j) * i)
                u1, s1 = jax.jit(ours.update)(g, s1, q1)
                u2, s2 = jax.jit(theirs.update)(g, s2, q2)
                q1, q2 = optax.apply_updates(q1, u1), optax.apply_updates(q2, u2)
            _bits_equal(q1, q2)
    # cautious decay on complex parameters: the sign test is Re(u · conj(x)) ≥ 0
    p = jnp.asarray([1 + 1j, 1 + 1j], jnp.complex64)
    g = jnp.asarray([1 + 1j, -1 - 1j], jnp.complex64)
    tx = jaxl2.sgdw(0.1, weight_decay=0.5, cautious=True)
    u, _ = tx.update(g, tx.init(p), p)
    np.testing.assert_allclose(u, [-0.1 * (1 + 1j) * 1.5, 0.1 * (1 + 1j)], rtol=1e-6)


def test_integer_leaves_left_out_by_the_mask_as_optax():
    p = {"w": jnp.ones((2, 2)), "n": jnp.array(3)}
    g = {"w": jnp.full((2, 2), 0.5), "n": jnp.array(0)}
    mask = {"w": True, "n": False}
    ours, theirs = jaxl2.adamw(0.1, weight_decay=0.1, mask=mask), optax.adamw(0.1, mask=mask)
    theirs = optax.adamw(0.1, weight_decay=0.1, mask=mask)
    u1, s1 = ours.update(g, ours.init(p), p)
    u2, s2 = theirs.update(g, theirs.init(p), p)
    _bits_equal((u1, s1), (u2, s2))
    with pytest.raises(
        TypeError, match=r"floating-point leaves .* where weight decay applies.*'n'"
    ):
        jaxl2.adamw(0.1, weight_decay=0.1).init(p)


def test_update_with_none():
    w = (jnp.ones(2), {"a": jnp.ones(2), "b": jnp.ones(2)})
    tx = jaxl2.weight_decay(0.1)
    assert tx.update(None, 0, w) == (None, 0)  # as optax.add_decayed_weights (its own test)
    u, _ = tx.update((None, {"a": jnp.zeros(2), "b": None}), tx.init(w), w)
    assert u[0] is None and u[1]["b"] is None
    np.testing.assert_allclose(u[1]["a"], 0.1)
    # optax.adamw.update(None, ...) raises a ValueError deep in tree_map; jaxl2 says why
    with pytest.raises(ValueError):
        optax.adamw(0.1).update(None, optax.adamw(0.1).init(w), w)
    with pytest.raises(ValueError, match="updates is None: this optimizer needs the gradients"):
        jaxl2.adamw(0.1).update(None, jaxl2.adamw(0.1).init(w), w)


def test_sgdw_and_adam_l2_follow_optax_order():
    w0, grads = _problem(np.float32)
    # sgdw(lr, momentum, nesterov, accumulator_dtype, weight_decay, mask) at weight_decay 0 is
    # optax.sgd(lr, momentum, nesterov, accumulator_dtype) bit for bit
    _bits_equal(
        _run(jaxl2.sgdw(0.05, 0.9, True, None, 0.0), w0, grads),
        _run(optax.sgd(0.05, 0.9, True, None), w0, grads),
    )
    # and with decay, chain(sgd's trace, add_decayed_weights, scale_by_learning_rate)
    ref = optax.chain(
        optax.trace(0.9), optax.add_decayed_weights(0.1, MASK), optax.scale_by_learning_rate(0.05)
    )
    _bits_equal(
        _run(jaxl2.sgdw(0.05, 0.9, False, None, 0.1, MASK), w0, grads), _run(ref, w0, grads)
    )
    ref = optax.chain(optax.add_decayed_weights(0.1), optax.adam(1e-2, 0.8, 0.99, 1e-6))
    _bits_equal(
        _run(jaxl2.adam_l2(1e-2, 0.8, 0.99, 1e-6, 0.0, None, 0.1), w0, grads), _run(ref, w0, grads)
    )


# ----------------------------------------------- optax's own tests run against the jaxl2 versions

_OPTAX_DIR = pathlib.Path(optax.__file__).parent


def _optax_suite():
    """optax's AliasTest (the common tests, for adamw and nadamw) and AddingTest, with jaxl2's
    adamw and weight_decay in place of optax's; returns a unittest result."""
    alias_src = _OPTAX_DIR / "_src" / "alias_test.py"
    adding_src = _OPTAX_DIR / "transforms" / "_adding_test.py"
    if not (alias_src.exists() and adding_src.exists()):
        pytest.skip("this optax install does not ship its tests")
    src = alias_src.read_text()
    start = src.index("_OPTIMIZERS_UNDER_TEST = (")
    end = src.index("\n)\n", start) + 3
    src = (
        src[:start] + "_OPTIMIZERS_UNDER_TEST = (\n"
        "    {'opt_name': 'adamw', 'opt_kwargs': {'learning_rate': 1e-1}},\n"
        "    {'opt_name': 'nadamw', 'opt_kwargs': {'learning_rate': 1e-2}},\n)\n" + src[end:]
    )
    src = src.replace(
        "return getattr(alias, opt_name)",
        "return JAXL2_ALIASES.get(opt_name) or getattr(alias, opt_name)",
    )
    src = src.replace("opt_name=('sgd_mom', 'adam', 'adamw'),", "opt_name=('adamw',),")
    src = src.replace("if __name__ == '__main__':", "if False:")
    alias_mod = types.ModuleType("optax_alias_test_on_jaxl2")
    alias_mod.JAXL2_ALIASES = {
        "adamw": jaxl2.adamw,
        "nadamw": functools.partial(jaxl2.adamw, nesterov=True),
    }
    exec(compile(src, str(alias_src), "exec"), alias_mod.__dict__)
    assert alias_mod._get_opt(None, "adamw") is jaxl2.adamw
    adding = adding_src.read_text().replace(
        "from optax.transforms import _adding", "import jaxl2 as _jaxl2\n"
    )
    adding = re.sub(r"_adding\.add_decayed_weights\(", "_jaxl2.weight_decay(", adding)
    adding = adding.replace("_adding.add_noise", "__import__('optax').add_noise")
    adding = adding.replace('if __name__ == "__main__":', "if False:")
    adding_mod = types.ModuleType("optax_adding_test_on_jaxl2")
    exec(compile(adding, str(adding_src), "exec"), adding_mod.__dict__)
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    common = (
        "test_optimization",
        "test_optimizers_accept_extra_args",
        "test_optimizers_can_be_wrapped_in_inject_hyperparams",
        "test_preserve_dtype",
        "test_state_shape_dtype_shard_stability",
        "test_gradient_accumulation",
    )
    for name in loader.getTestCaseNames(alias_mod.AliasTest):
        if name.startswith((*common, "test_explicit_dtype")):
            suite.addTest(alias_mod.AliasTest(name))
    suite.addTests(loader.loadTestsFromTestCase(adding_mod.AddingTest))
    result = unittest.TestResult()
    with jax.numpy_dtype_promotion("standard"):
        suite.run(result)
    return suite.countTestCases(), result


@pytest.mark.slow
def test_optax_own_tests_pass_on_jaxl2_adamw_and_weight_decay():
    n, result = _optax_suite()
    problems = [(str(t), tb[-800:]) for t, tb in result.failures + result.errors]
    assert not problems, problems
    assert n >= 20 and result.testsRun == n


# --------------------------------------------------------------- 2. cautious weight decay


@pytest.mark.parametrize("mask", [None, "weights"])
def test_cautious_adamw_is_the_papers_rule(x64, mask):
    w0, grads = _problem()
    np_mask = None if mask is None else MASK
    sched = optax.cosine_decay_schedule(1e-2, STEPS, alpha=0.1)
    for lr in (1e-2, sched):
        ours = _run(jaxl2.adamw(lr, weight_decay=0.5, mask=mask, cautious=True), w0, grads)
        ref = adam_decay_reference(w0, grads, lr, 0.5, mask=np_mask, cautious=True)
        _close(ours, ref, rtol=1e-10, atol=1e-13)
    # the same through decoupled(optax.adam(lr)) and for another inner optimizer
    ours = _run(
        jaxl2.decoupled(optax.adam(sched), 0.5, learning_rate=sched, mask=mask, cautious=True),
        w0,
        grads,
    )
    _close(
        ours, adam_decay_reference(w0, grads, sched, 0.5, mask=np_mask, cautious=True), 1e-10, 1e-13
    )
    ours = _run(
        jaxl2.decoupled(optax.sgd(0.05, momentum=0.9), 0.3, learning_rate=0.05, cautious=True),
        w0,
        grads,
    )
    _close(ours, sgd_cautious_reference(w0, grads, 0.05, 0.3, 0.9), 1e-10, 1e-13)
    ours = _run(jaxl2.sgdw(0.05, 0.9, weight_decay=0.3, cautious=True), w0, grads)
    _close(ours, sgd_cautious_reference(w0, grads, 0.05, 0.3, 0.9), 1e-10, 1e-13)


@pytest.mark.parametrize(
    "kw", [{}, {"nesterov": True}, {"mu_dtype": jnp.bfloat16}], ids=["adam", "nesterov", "mu_bf16"]
)
def test_cautious_decays_only_where_signs_agree(kw):
    # jaxl2 reads the sign of Adam's step from its numerator (fusion): check it against the step
    w0, grads = _problem(np.float32)
    p = jax.tree.map(jnp.asarray, w0)
    plain = jaxl2.adamw(0.1, weight_decay=0.0, **kw)
    tx = jaxl2.adamw(0.1, weight_decay=0.5, cautious=True, **kw)
    s0, s = plain.init(p), tx.init(p)
    for g in grads[:3]:
        g = jax.tree.map(jnp.asarray, g)
        u0, s0 = plain.update(g, s0, p)
        u, s = tx.update(g, s, p)
        agreeing = []
        for k in p:
            agree = np.asarray(-u0[k] * p[k] >= 0)  # u_t = −update / lr
            np.testing.assert_allclose(
                u[k], np.where(agree, u0[k] - 0.1 * 0.5 * p[k], u0[k]), rtol=1e-6, atol=1e-7
            )
            agreeing.extend(agree.ravel())
        assert 0 < sum(agreeing) < len(agreeing)
    if kw:
        return
    # mode="constant": the same sign test on Adam's step, the decay not multiplied by lr
    g = jax.tree.map(jnp.asarray, grads[0])
    u0, _ = plain.update(g, plain.init(p), p)
    tx = jaxl2.adamw(0.1, weight_decay=0.5, cautious=True, mode="constant")
    u, _ = tx.update(g, tx.init(p), p)
    for k in p:
        agree = np.asarray(-u0[k] * p[k] >= 0)
        np.testing.assert_allclose(
            u[k], np.where(agree, u0[k] - 0.5 * p[k], u0[k]), rtol=1e-6, atol=1e-7
        )


# ----------------------------------------------------- 3. corrected decay (AdamC)


def test_corrected_is_adamc_rule(x64):
    w0, grads = _problem()
    sched = optax.cosine_decay_schedule(1e-2, STEPS, alpha=0.1)
    for mask, np_mask in ((None, None), ("weights", MASK)):
        ours = _run(jaxl2.adamw(sched, weight_decay=0.5, mode="corrected", mask=mask), w0, grads)
        ref = adam_decay_reference(w0, grads, sched, 0.5, corrected_max=1e-2, mask=np_mask)
        _close(ours, ref, rtol=1e-10, atol=1e-13)
        ours = _run(
            jaxl2.decoupled(
                optax.adam(sched), 0.5, learning_rate=sched, mode="corrected", mask=mask
            ),
            w0,
            grads,
        )
        _close(ours, ref, rtol=1e-10, atol=1e-13)
    # a warm-up schedule with max_learning_rate; cautious on top
    warm = optax.warmup_cosine_decay_schedule(0.0, 1e-2, 2, STEPS)
    ours = _run(
        jaxl2.adamw(
            warm, weight_decay=0.5, mode="corrected", max_learning_rate=1e-2, cautious=True
        ),
        w0,
        grads,
    )
    ref = adam_decay_reference(w0, grads, warm, 0.5, corrected_max=1e-2, cautious=True)
    _close(ours, ref, rtol=1e-8, atol=1e-10)


def test_corrected_at_the_peak_equals_lr_mode():
    w0, grads = _problem(np.float32)
    const = optax.constant_schedule(1e-2)
    a = _run(jaxl2.adamw(const, weight_decay=0.5, mode="corrected"), w0, grads)
    b = _run(jaxl2.adamw(1e-2, weight_decay=0.5), w0, grads)
    _close(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.torch
def test_corrected_equals_pytorch_optimizer_adamc(x64):
    torch = pytest.importorskip("torch")
    po = pytest.importorskip("pytorch_optimizer")
    w0, grads = _problem(steps=10)
    sched = optax.cosine_decay_schedule(1e-2, 10, alpha=0.1)
    ps = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in w0.items()}
    # AdamC adds eps before its bias correction (optax after): eps = 0 makes them one rule
    opt = po.AdamC(
        [
            {"params": [ps["kernel"]], "normalized": True},
            {"params": [ps["bias"]], "weight_decay": 0.0},
        ],
        lr=float(sched(0)),
        weight_decay=0.5,
        eps=0.0,
    )
    for t, g in enumerate(grads):
        for group in opt.param_groups:
            group["lr"] = float(sched(t))
        for k, p in ps.items():
            p.grad = torch.tensor(g[k], dtype=torch.float64)
        opt.step()
    ref = {k: p.detach().numpy() for k, p in ps.items()}
    ours = _run(
        jaxl2.adamw(sched, eps=0.0, weight_decay=0.5, mode="corrected", mask="weights"), w0, grads
    )
    _close(ours, ref, rtol=1e-10, atol=1e-12)


# ----------------------------------------------------- 4. stable weight decay (AdamS)


def test_adams_is_the_papers_rule(x64):
    w0, grads = _problem()
    sched = optax.cosine_decay_schedule(1e-2, STEPS, alpha=0.1)
    for lr in (1e-2, sched):
        for mask, np_mask in ((None, None), ("weights", MASK)):
            ours = _run(jaxl2.adams(lr, weight_decay=0.5, mask=mask), w0, grads)
            ref = adam_decay_reference(w0, grads, lr, 0.5, mask=np_mask, stable=True)
            _close(ours, ref, rtol=1e-10, atol=1e-13)
    ours = _run(jaxl2.adams(1e-2, weight_decay=0.5, cautious=True), w0, grads)
    ref = adam_decay_reference(w0, grads, 1e-2, 0.5, stable=True, cautious=True)
    _close(ours, ref, rtol=1e-10, atol=1e-13)


@pytest.mark.torch
def test_adams_equals_pytorch_optimizer_adams(x64):
    torch = pytest.importorskip("torch")
    po = pytest.importorskip("pytorch_optimizer")
    w0, grads = _problem(steps=10)
    for foreach in (False, True):
        ps = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in w0.items()}
        opt = po.AdamS(
            [{"params": [ps["kernel"]]}, {"params": [ps["bias"]], "weight_decay": 0.0}],
            lr=1e-2,
            betas=(0.9, 0.99),
            weight_decay=0.5,
            eps=1e-8,
            foreach=foreach,
        )
        for g in grads:
            for k, p in ps.items():
                p.grad = torch.tensor(g[k], dtype=torch.float64)
            opt.step()
        ref = {k: p.detach().numpy() for k, p in ps.items()}
        ours = _run(jaxl2.adams(1e-2, 0.9, 0.99, weight_decay=0.5, mask=MASK), w0, grads)
        _close(ours, ref, rtol=1e-10, atol=1e-12)
        # fixed_decay=True is mode="constant"
        ps = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in w0.items()}
        opt = po.AdamS(list(ps.values()), lr=1e-2, weight_decay=1e-3, fixed_decay=True)
        for g in grads:
            for k, p in ps.items():
                p.grad = torch.tensor(g[k], dtype=torch.float64)
            opt.step()
        ref = {k: p.detach().numpy() for k, p in ps.items()}
        ours = _run(jaxl2.adams(1e-2, weight_decay=1e-3, mode="constant"), w0, grads)
        _close(ours, ref, rtol=1e-10, atol=1e-12)


def test_adams_state_is_adamw_state():
    p = {"w": jnp.ones((3, 2)), "b": jnp.zeros(2)}
    _bits_equal(
        jaxl2.adams(1e-3, mask="weights").init(p),
        optax.adamw(1e-3, mask={"w": True, "b": False}).init(p),
    )


# ----------------------------------------------------- 7. timescale


def test_timescale_sets_the_rate():
    w0, grads = _problem(np.float32, steps=2)
    tau = 200.0
    sched = optax.cosine_decay_schedule(1e-2, 10)
    cases = [
        (jaxl2.adamw(1e-2, timescale=tau), jaxl2.adamw(1e-2, weight_decay=1 / (tau * 1e-2))),
        (jaxl2.adamw(sched, timescale=tau), jaxl2.adamw(sched, weight_decay=1 / (tau * 1e-2))),
        (
            jaxl2.adamw(1e-2, timescale=tau, mode="constant"),
            jaxl2.adamw(1e-2, weight_decay=1 / tau, mode="constant"),
        ),
        (
            jaxl2.adamw(sched, timescale=tau, mode="corrected"),
            jaxl2.adamw(sched, weight_decay=1 / (tau * 1e-2), mode="corrected"),
        ),
        (
            jaxl2.decoupled(optax.adam(1e-2), learning_rate=1e-2, timescale=tau),
            jaxl2.adamw(1e-2, weight_decay=1 / (tau * 1e-2)),
        ),
        (
            jaxl2.sgdw(0.05, 0.9, timescale=tau, mode="schedule"),
            jaxl2.sgdw(0.05, 0.9, weight_decay=1 / tau, mode="schedule"),
        ),
    ]
    for ours, ref in cases:  # eager: two steps cost less than compiling them
        _close(_run(ours, w0, grads, jit=False), _run(ref, w0, grads, jit=False), 1e-6, 1e-7)
    # with zero gradients each step removes 1/τ of the weights
    p = jnp.ones(3)
    tx = jaxl2.sgdw(0.1, timescale=50.0)
    u, _ = tx.update(jnp.zeros(3), tx.init(p), p)
    np.testing.assert_allclose(u, -1 / 50.0, rtol=1e-6)

    # under inject_hyperparams τ is a hyperparameter that changes without recompiling
    tx = optax.inject_hyperparams(jaxl2.adamw)(learning_rate=1e-2, timescale=tau, mask="weights")
    params = jax.tree.map(jnp.asarray, w0)
    zeros = jax.tree.map(jnp.zeros_like, params)
    step = jax.jit(tx.update)
    state = tx.init(params)
    for t in (tau, 50.0):
        state.hyperparams["timescale"] = jnp.asarray(t, jnp.float32)
        u, _ = step(zeros, state, params)
        np.testing.assert_allclose(u["kernel"], -params["kernel"] / t, rtol=1e-5)
        np.testing.assert_array_equal(u["bias"], 0.0)
    assert step._cache_size() == 1

    # a traced τ: vmap over timescales
    def first_update(tau):
        tx = jaxl2.sgdw(0.1, timescale=tau)
        return tx.update(jnp.zeros(3), tx.init(p), p)[0]

    out = jax.vmap(first_update)(jnp.array([10.0, 100.0]))
    np.testing.assert_allclose(out[:, 0], [-0.1, -0.01], rtol=1e-6)


# ----------------------------------------------------- 5. the contract for every new rule

_NEW = {
    "cautious_adamw": lambda r, **kw: jaxl2.adamw(1e-2, weight_decay=r, cautious=True, **kw),
    "corrected_adamw": lambda r, **kw: jaxl2.adamw(
        optax.cosine_decay_schedule(1e-2, 10), weight_decay=r, mode="corrected", **kw
    ),
    "adams": lambda r, **kw: jaxl2.adams(1e-2, weight_decay=r, **kw),
    "cautious_decoupled_lion": lambda r, **kw: jaxl2.decoupled(
        optax.lion(1e-3), r, learning_rate=1e-3, cautious=True, **kw
    ),
    "corrected_decoupled": lambda r, **kw: jaxl2.decoupled(
        optax.sgd(optax.cosine_decay_schedule(0.1, 10), momentum=0.9),
        r,
        learning_rate=optax.cosine_decay_schedule(0.1, 10),
        mode="corrected",
        **kw,
    ),
}


def _params(dtype=jnp.float32):
    return {
        "dense": {
            "kernel": jnp.linspace(-1, 1, 12, dtype=dtype).reshape(3, 4),
            "bias": jnp.ones(4, dtype),
        },
        "norm": {"scale": jnp.ones(4, dtype)},
    }


def _steps(tx, params, n=3, jit=True):
    grads = jax.tree.map(lambda x: 0.1 * jnp.ones_like(x) - 0.05 * x, params)
    state = tx.init(params)
    upd = jax.jit(tx.update) if jit else tx.update
    for _ in range(n):
        u, state = upd(grads, state, params)
        params = optax.apply_updates(params, u)
    return params


@pytest.mark.parametrize("name", sorted(_NEW))
def test_contract(name):
    make = _NEW[name]
    p = _params()
    ref = _steps(make(0.3, mask="weights"), p)
    nodecay = _steps(make(0.0, mask="weights"), p)
    # masked-out leaves exactly as without decay, decayed ones differ
    np.testing.assert_array_equal(ref["dense"]["bias"], nodecay["dense"]["bias"])
    assert not np.allclose(ref["dense"]["kernel"], nodecay["dense"]["kernel"])
    # vmap over traced rates agrees with the jitted float rates
    rates = jnp.array([0.0, 0.3], jnp.float32)
    out = jax.vmap(lambda r: _steps(make(r, mask="weights"), p, jit=False))(rates)
    _close(jax.tree.map(lambda x: x[1], out), ref, rtol=1e-5, atol=1e-7)
    _close(jax.tree.map(lambda x: x[0], out), nodecay, rtol=1e-5, atol=1e-7)
    # bf16 params keep their dtype and follow the float32 run
    out = _steps(make(0.3, mask="weights"), _params(jnp.bfloat16))
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(out))
    _close(jax.tree.map(lambda x: np.asarray(x, np.float32), out), ref, rtol=3e-2, atol=3e-2)
    # no recompilation when only the rate changes
    traces = []

    @jax.jit
    def train(rate):
        traces.append(1)
        return _steps(make(rate, mask="weights"), p, jit=False)

    outs = [train(jnp.float32(r)) for r in (0.0, 0.1, 0.3)]
    assert len(traces) == 1
    _close(outs[2], ref, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", ["cautious", "corrected", "adams"])
def test_inject_hyperparams(name):
    p = _params()
    g = jax.tree.map(lambda x: 0.1 * jnp.ones_like(x) - 0.05 * x, p)
    if name == "cautious":
        fac = functools.partial(jaxl2.adamw, cautious=True, mask="weights")
        kw = dict(learning_rate=1e-2, weight_decay=0.0)
        direct = lambda wd: jaxl2.adamw(1e-2, weight_decay=wd, cautious=True, mask="weights")  # noqa: E731
    elif name == "corrected":
        # the injected learning rate is the current value: γ_max must be given
        fac = functools.partial(
            jaxl2.adamw, mode="corrected", max_learning_rate=2e-2, mask="weights"
        )
        kw = dict(learning_rate=1e-2, weight_decay=0.0)
        direct = lambda wd: jaxl2.adamw(  # noqa: E731
            optax.constant_schedule(1e-2),
            weight_decay=wd,
            mode="corrected",
            max_learning_rate=2e-2,
            mask="weights",
        )
    else:
        fac = functools.partial(jaxl2.adams, mask="weights")
        kw = dict(learning_rate=1e-2, weight_decay=0.0)
        direct = lambda wd: jaxl2.adams(1e-2, weight_decay=wd, mask="weights")  # noqa: E731
    tx = optax.inject_hyperparams(fac)(**kw)
    traces = []

    @jax.jit
    def step(state):
        traces.append(1)
        return tx.update(g, state, p)

    state = tx.init(p)
    for wd in (0.0, 0.5):
        state.hyperparams["weight_decay"] = jnp.asarray(wd, jnp.float32)
        u, _ = step(state)
        ref = direct(wd)
        u_ref, _ = ref.update(g, ref.init(p), p)
        _close(u, u_ref, rtol=1e-4, atol=1e-8)  # injected b1, b2 are float32 arrays
    assert len(traces) == 1


# ------------------------------------------------------------------ bad input


def test_bad_input():
    sched = optax.cosine_decay_schedule(1e-3, 100)
    with pytest.raises(
        ValueError,
        match=r"mode must be one of 'lr', 'schedule', 'constant', 'corrected'; got 'adamc'",
    ):
        jaxl2.adamw(1e-3, mode="adamc")
    with pytest.raises(
        ValueError,
        match=r"mode='corrected' .* needs a learning-rate schedule, but learning_rate is the constant 0.001",
    ):
        jaxl2.adamw(1e-3, mode="corrected")
    with pytest.raises(ValueError, match=r"needs a learning-rate schedule"):
        jaxl2.decoupled(optax.adam(1e-3), 0.1, learning_rate=1e-3, mode="corrected")
    with pytest.raises(ValueError, match=r"learning_rate is required for mode='corrected'"):
        jaxl2.decoupled(optax.adam(1e-3), 0.1, mode="corrected")
    warm = optax.warmup_cosine_decay_schedule(1e-5, 1e-3, 10, 100)
    with pytest.raises(
        ValueError,
        match=r"the schedule warms up \(learning_rate\(0\) = 1e-05.*Pass max_learning_rate",
    ):
        jaxl2.adamw(warm, mode="corrected")
    with pytest.raises(ValueError, match=r"max_learning_rate must be > 0, got 0.0"):
        jaxl2.adamw(sched, mode="corrected", max_learning_rate=0.0)
    with pytest.raises(
        ValueError, match=r"max_learning_rate must be non-negative and not NaN, got -1.0"
    ):
        jaxl2.adamw(sched, mode="corrected", max_learning_rate=-1.0)
    with pytest.raises(TypeError, match=r"cautious must be True or False, got 'yes'"):
        jaxl2.adamw(1e-3, cautious="yes")
    with pytest.raises(ValueError, match=r"pass either weight_decay or timescale, not both"):
        jaxl2.adamw(1e-3, weight_decay=0.1, timescale=100.0)
    with pytest.raises(ValueError, match=r"pass either rate or timescale, not both"):
        jaxl2.decoupled(optax.adam(1e-3), 0.1, learning_rate=1e-3, timescale=100.0)
    with pytest.raises(ValueError, match=r"timescale must be > 0, got 0.0"):
        jaxl2.adamw(1e-3, timescale=0.0)
    with pytest.raises(ValueError, match=r"timescale must be non-negative and not NaN, got -5.0"):
        jaxl2.sgdw(1e-3, timescale=-5.0)
    with pytest.raises(TypeError, match=r"timescale must be a positive number or scalar array"):
        jaxl2.adamw(1e-3, timescale=optax.constant_schedule(10.0))
    with pytest.raises(
        ValueError, match=r"timescale= with mode='lr' divides by the initial learning rate"
    ):
        jaxl2.adamw(optax.linear_schedule(0.0, 1e-3, 10), timescale=100.0)
    with pytest.raises(ValueError, match=r"rate must be a non-negative number.*got None"):
        jaxl2.decoupled(optax.adam(1e-3), learning_rate=1e-3)
