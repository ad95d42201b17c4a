"""successive_halving, hyperband and population_based_training on SweepTrainer populations."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxl2
from jaxl2._sweep.population import _exploit_fn

LR = 0.1
LAMS = np.array([0.0, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4], np.float32)
ONES = np.ones(4, np.float32)  # the data: loss(w) = mean((w − 1)²) = (w − 1)²


def toy_loss(w, batch):
    return jnp.mean((w[0] - batch) ** 2)


_SHARED = {}


def toy_trainer(lams=None):
    """A fresh trainer for ``lams``; one shared trainer (compiled programs reused) for None."""
    if lams is None:
        if "toy" not in _SHARED:
            _SHARED["toy"] = toy_trainer(LAMS)
        return _SHARED["toy"]
    # SGD on (w − 1)² + (λ/2)·w² from w = 0: w_t = w*(1 − (1 − lr(2 + λ))^t), w* = 2/(2 + λ)
    return jaxl2.SweepTrainer(
        lambda key: jnp.zeros(1), toy_loss, lambda h: jaxl2.coupled(optax.sgd(LR), h), lams
    )


def closed_form_loss(lams, t):
    lams = np.asarray(lams, np.float64)
    w_star = 2 / (2 + lams)
    w = w_star * (1 - (1 - LR * (2 + lams)) ** t)
    return (w - 1) ** 2


def test_halving_keeps_the_expected_members_at_each_rung():
    res = jaxl2.successive_halving(
        toy_trainer(LAMS), ONES, ONES, monitor="loss", min_steps=1, max_steps=9, eta=3
    )
    alive = np.arange(len(LAMS))
    for rung, step in zip(res.rungs, [1, 3, 9], strict=True):
        assert rung["step"] == step
        assert rung["members"] == alive.tolist()
        want = closed_form_loss(LAMS[alive], step)
        np.testing.assert_allclose(rung["values"], want, rtol=1e-4, atol=1e-6)
        n_keep = len(alive) if step == 9 else max(1, len(alive) // 3)
        alive = np.sort(alive[np.argsort(want, kind="stable")[:n_keep]])
        assert sorted(rung["kept"]) == alive.tolist()
    # stopped at the rung where they were cut; the records are the closed form there
    stopped = res.stopped_step
    np.testing.assert_allclose(
        res.records["loss"],
        [closed_form_loss(LAMS[k], stopped[k]) for k in range(len(LAMS))],
        rtol=1e-4,
        atol=1e-6,
    )
    assert res.best == int(alive[0]) and stopped[res.best] == 9
    assert res.member_steps == 9 * 1 + 3 * 2 + 1 * 6
    assert res.compiles == {9: 1, 3: 1, 1: 1}  # one compilation per population size
    np.testing.assert_allclose(
        res.params()[0],
        2 / (2 + LAMS[res.best]) * (1 - (1 - LR * (2 + LAMS[res.best])) ** 9),
        rtol=1e-5,
    )


def test_compaction_equals_masking():
    kwargs = dict(monitor="loss", min_steps=2, max_steps=18, eta=3, batch_size=3)
    X = np.linspace(0.5, 1.5, 12, dtype=np.float32)
    compact = jaxl2.successive_halving(toy_trainer(), X, X, **kwargs)
    masked = jaxl2.successive_halving(toy_trainer(), X, X, compact=False, **kwargs)
    assert [r["kept"] for r in compact.rungs] == [r["kept"] for r in masked.rungs]
    for a, b in zip(compact.rungs, masked.rungs, strict=True):
        np.testing.assert_allclose(a["values"], b["values"], rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(compact.stopped_step, masked.stopped_step)
    np.testing.assert_allclose(compact.records["loss"], masked.records["loss"], rtol=1e-6)
    np.testing.assert_allclose(compact.params(), masked.params(), rtol=1e-6)
    assert compact.member_steps < masked.member_steps == 9 * 18


def test_a_maximized_metric_keeps_the_same_members():
    kw = dict(min_steps=1, max_steps=9, eta=3)
    by_loss = jaxl2.successive_halving(toy_trainer(), ONES, ONES, monitor="loss", **kw)
    score = {"fitness": lambda w, batch: -toy_loss(w, batch)}
    by_score = jaxl2.successive_halving(
        toy_trainer(), ONES, ONES, monitor="val_fitness", mode="max", metrics=score, **kw
    )
    assert [r["kept"] for r in by_score.rungs] == [r["kept"] for r in by_loss.rungs]
    with pytest.raises(ValueError, match="mode='max'"):  # 'fitness' has no default direction
        jaxl2.successive_halving(toy_trainer(), ONES, ONES, monitor="fitness", metrics=score, **kw)


def test_diverging_member_is_ranked_last():
    # lr = 2: |1 − 2·lr| = 3, SGD on (w − 1)² blows up
    lrs = np.array([2.0, 0.01, 0.1, 0.3], np.float32)
    trainer = jaxl2.SweepTrainer(lambda key: jnp.zeros(1), toy_loss, lambda h: optax.sgd(h), lrs)
    res = jaxl2.successive_halving(
        trainer, ONES, ONES, monitor="loss", min_steps=200, max_steps=400, eta=2
    )
    assert sorted(res.rungs[0]["kept"]) == [2, 3]
    assert res.stopped_step[0] == 200 and not np.isfinite(res.rungs[0]["values"][0])


def test_data_as_callable_and_list_give_the_same_run():
    batches = [(np.full(2, v, np.float32),) for v in (0.8, 1.2, 1.0)]
    trainer = jaxl2.SweepTrainer(
        lambda key: jnp.zeros(1),
        lambda w, batch: jnp.mean((w[0] - batch[0]) ** 2),
        lambda h: jaxl2.coupled(optax.sgd(LR), h),
        LAMS,
    )
    kw = dict(monitor="loss", min_steps=3, max_steps=9, eta=3)
    a = jaxl2.successive_halving(trainer, lambda: iter(batches), (ONES,), **kw)
    b = jaxl2.successive_halving(trainer, batches, (ONES,), **kw)
    np.testing.assert_allclose(a.records["loss"], b.records["loss"], rtol=1e-6)
    # by hand: the same three batches in turn
    w = np.zeros(len(LAMS))
    for t in range(9):
        w = w - LR * (2 * (w - batches[t % 3][0][0]) + LAMS * w)
    k = a.best
    np.testing.assert_allclose(a.records["loss"][k], (w[k] - 1) ** 2, rtol=1e-4)


def test_compiled_loop_equals_one_dispatch_per_step(monkeypatch):
    """Array data run the steps between two rungs in one compiled loop (chunks of 7 here, so
    segments cross chunk boundaries). Halving's members each draw train_sweep's permutation
    (checked by hand); PBT's members share the minibatches, so the same minibatches given as
    a list (one dispatch per step) give the same records. One compilation per population
    size."""
    from jaxl2._sweep import population

    monkeypatch.setattr(population, "_CHUNK", 7)
    X = np.linspace(0.5, 1.5, 12, dtype=np.float32)
    bs, steps = 3, 27

    def trainer():
        return jaxl2.SweepTrainer(
            lambda key: jnp.zeros(1),
            lambda w, batch: jnp.mean((w[0] - batch[0]) ** 2),
            lambda h: jaxl2.coupled(optax.sgd(LR), h),
            LAMS,
        )

    kw = dict(monitor="loss", min_steps=3, max_steps=steps, eta=3)
    looped = jaxl2.successive_halving(trainer(), (X,), (ONES,), batch_size=bs, seed=5, **kw)
    assert looped.compiles == {9: 1, 3: 1, 1: 1}
    # by hand: member k's SGD on its own minibatches, epoch e's permutation drawn with
    # train_sweep's key fold_in(fold_in(key(seed + 1), k), e), 4 batches per epoch
    for r in looped.rungs:
        for k, value in zip(r["members"], r["values"], strict=True):
            w = 0.0
            for t in range(r["step"]):
                key = jax.random.fold_in(jax.random.fold_in(jax.random.key(6), k), t // 4)
                perm = np.asarray(jax.random.permutation(key, 12))
                batch = X[perm[(t % 4) * bs : (t % 4 + 1) * bs]]
                w = w - LR * (2 * (w - batch.mean()) + LAMS[k] * w)
            np.testing.assert_allclose(value, (w - 1) ** 2, rtol=1e-4, atol=1e-7)
    # PBT: shared minibatches, epoch e's permutation seeded by (seed, e)
    perms = [np.random.default_rng([5, e]).permutation(12) for e in range(steps // 4 + 1)]
    batches = [(X[perms[t // 4][(t % 4) * bs : (t % 4 + 1) * bs]],) for t in range(steps)]
    pbt_kw = dict(monitor="loss", steps=steps, interval=9)
    a = jaxl2.population_based_training(trainer(), (X,), (ONES,), batch_size=bs, seed=5, **pbt_kw)
    b = jaxl2.population_based_training(trainer(), batches, (ONES,), seed=5, **pbt_kw)
    np.testing.assert_allclose(a.records["loss"], b.records["loss"], rtol=1e-6)


def test_survivors_follow_their_train_sweep_trajectory():
    """A member that survives to max_steps has the same initialization, minibatch order and
    updates as in train_sweep with the same seed: the same final validation loss."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3)).astype(np.float32)
    y = np.tanh(X @ np.array([1.0, -2.0, 0.5], np.float32)).astype(np.float32)
    train, val = (X[:30], y[:30]), (X[30:], y[30:])

    def init(key):
        k1, k2 = jax.random.split(key)
        return {"w1": jax.random.normal(k1, (3, 4)), "w2": jax.random.normal(k2, (4,)) * 0.5}

    def loss(p, batch):
        xb, yb = batch
        return jnp.mean((jnp.tanh(xb @ p["w1"]) @ p["w2"] - yb) ** 2)

    lrs = np.geomspace(0.01, 0.3, 9).astype(np.float32)
    opt = lambda h: optax.sgd(h)  # noqa: E731
    steps, bs, seed = 18, 8, 2
    full = jaxl2.train_sweep(
        init, loss, train, hparams=lrs, optimizer=opt, steps=steps, batch_size=bs,
        eval_data=val, eval_every=steps, keep_params=False, seed=seed,
    )  # fmt: skip
    want = np.asarray(full.metrics["val_loss"])[:, -1]
    trainer = jaxl2.SweepTrainer(init, loss, opt, lrs, seed=seed)
    kw = dict(monitor="loss", max_steps=steps, eta=3, batch_size=bs)
    for res in (
        jaxl2.successive_halving(trainer, train, val, min_steps=2, **kw),  # seed: trainer's
        jaxl2.successive_halving(trainer, train, val, min_steps=2, compact=False, **kw),
        jaxl2.hyperband(trainer, train, val, min_steps=2, seed=seed, **kw),
    ):
        done = np.flatnonzero(res.stopped_step == steps)
        assert len(done) >= 1
        np.testing.assert_allclose(res.records["loss"][done], want[done], rtol=1e-6)
        assert res.best == done[np.argmin(want[done])]


def test_hyperband_brackets():
    lams = np.geomspace(0.01, 5.0, 13).astype(np.float32)
    res = jaxl2.hyperband(toy_trainer(lams), ONES, ONES, monitor="loss", max_steps=9, eta=3)
    assert sorted(set(res.bracket.tolist())) == [0, 1, 2]
    # bracket 2 starts at 1 step, bracket 1 at 3, bracket 0 runs to 9 without cuts
    assert {r["bracket"]: r["step"] for r in res.rungs[::-1]} == {2: 1, 1: 3, 0: 9}
    finished = np.flatnonzero(res.stopped_step == 9)
    want = closed_form_loss(lams[finished], 9)
    assert res.best == finished[np.argmin(want)]


@pytest.mark.standard_promotion  # optax's Adam: decay ** count (float ** int32)
def test_nnx_model():
    nnx = pytest.importorskip("flax.nnx")
    X = np.random.default_rng(0).normal(size=(32, 3)).astype(np.float32)
    y = X @ np.array([1.0, -2.0, 0.5], np.float32)

    def loss(model, batch):
        xb, yb = batch
        return jnp.mean((model(xb)[:, 0] - yb) ** 2)

    trainer = jaxl2.SweepTrainer(
        lambda rngs: nnx.Linear(3, 1, rngs=rngs),
        loss,
        lambda h: optax.adam(h),
        np.array([1e-4, 1e-3, 1e-2, 1e-1], np.float32),
    )
    res = jaxl2.successive_halving(
        trainer, (X, y), (X, y), monitor="loss", min_steps=5, max_steps=20, eta=2, batch_size=8
    )
    assert res.best == 3
    model = res.model()
    np.testing.assert_allclose(
        float(jnp.mean((model(X)[:, 0] - y) ** 2)), res.records["loss"][3], rtol=1e-4
    )


def adam_trainer(lrs):
    X = np.random.default_rng(1).normal(size=(16, 2)).astype(np.float32)
    y = X @ np.array([1.0, -1.0], np.float32)

    def loss(w, batch):
        xb, yb = batch
        return jnp.mean((xb @ w - yb) ** 2)

    trainer = jaxl2.SweepTrainer(lambda key: jnp.zeros(2), loss, lambda h: optax.adam(h), lrs)
    return trainer, (X, y)


@pytest.mark.standard_promotion  # optax's Adam: decay ** count (float ** int32)
def test_pbt_copy_moves_adams_moments_with_the_params():
    lrs = np.array([1e-3, 1e-2, 3e-2, 1e-1], np.float32)
    trainer, data = adam_trainer(lrs)
    state = trainer.init()
    for _ in range(3):
        state, _ = trainer.step(state, data)
    before = jax.tree.map(np.asarray, state._replace(key=jnp.zeros(())))
    before_key = np.asarray(jax.random.key_data(state.key))
    score = jnp.array([4.0, 3.0, 2.0, 1.0])  # member 0 worst, member 3 best
    exploit = _exploit_fn(trainer, 0.25, (0.8, 1.2), 0.0)
    h = jnp.asarray(lrs)
    new, h_new, src = exploit(state, h, h, score, jax.random.key(0))
    assert np.asarray(src).tolist() == [3, 1, 2, 3]
    mu, nu = new.opt_state[0].mu, new.opt_state[0].nu
    np.testing.assert_array_equal(np.asarray(new.params)[0], before.params[3])
    np.testing.assert_array_equal(np.asarray(mu)[0], before.opt_state[0].mu[3])
    np.testing.assert_array_equal(np.asarray(nu)[0], before.opt_state[0].nu[3])
    np.testing.assert_array_equal(np.asarray(new.opt_state[0].count)[0], 3)
    np.testing.assert_array_equal(np.asarray(new.params)[1:], before.params[1:])
    np.testing.assert_array_equal(np.asarray(jax.random.key_data(new.key)), before_key)
    h_new = np.asarray(h_new)
    assert h_new[0] in (np.float32(0.8) * lrs[3], np.float32(1.2) * lrs[3])
    np.testing.assert_array_equal(h_new[1:], lrs[1:])


def test_pbt_never_copies_a_diverged_member():
    lrs = np.array([1e3, 1e-3, 1e-2, 3e-2, 1e-1, 2e-1, 5e-1, 1.0], np.float32)
    trainer = jaxl2.SweepTrainer(lambda key: jnp.zeros(1), toy_loss, lambda h: optax.sgd(h), lrs)
    res = jaxl2.population_based_training(
        trainer, ONES, ONES, monitor="loss", steps=40, interval=5, quantile=0.5
    )
    assert res.lineage[0, 0] != 0  # the diverged member was replaced at the first exploit
    for t, src in enumerate(res.lineage):  # a source is never non-finite at its exploit
        copied = src != np.arange(len(lrs))
        assert np.all(np.isfinite(res.values[t][src[copied]]))
    assert np.all(np.isfinite(res.records["loss"]))


@pytest.mark.standard_promotion  # optax's Adam: decay ** count (float ** int32)
def test_pbt_schedule_replays_the_winner():
    lrs = np.array([1e-3, 3e-3, 1e-2, 3e-2], np.float32)
    trainer, data = adam_trainer(lrs)
    res = jaxl2.population_based_training(
        trainer, data, data, monitor="loss", steps=30, interval=5, seed=3
    )
    boundaries, sched = res.schedule()
    assert boundaries.tolist() == [0, 5, 10, 15, 20, 25]
    assert res.hparams_history.shape == (6, 4) and res.lineage.shape == (5, 4)
    # the schedule follows the ancestry: a copy takes the source's value ×0.8/×1.2 or a resample
    chain = res.ancestry()
    np.testing.assert_array_equal(sched, res.hparams_history[np.arange(6), chain])
    replayed = res.replay()
    # K = 1 against K = 4 vmapped: float32 reductions may differ in the last bits
    np.testing.assert_allclose(replayed["loss"], res.records["loss"][res.best], rtol=1e-5)
    fn = res.schedule_fn()
    assert float(fn(7)) == sched[1] and float(fn(29)) == sched[-1]


class Killed(Exception):
    pass


def kill_after(n):
    calls = []

    def progress(info):
        calls.append(info)
        if len(calls) == n:
            raise Killed

    return progress


def test_halving_resume_after_a_kill_equals_the_full_run(tmp_path):
    X = np.linspace(0.5, 1.5, 12, dtype=np.float32)
    kw = dict(monitor="loss", min_steps=2, max_steps=18, eta=3, batch_size=4)
    full = jaxl2.successive_halving(toy_trainer(), X, X, **kw)
    with pytest.raises(Killed):
        jaxl2.successive_halving(
            toy_trainer(), X, X, checkpoint_dir=tmp_path, progress=kill_after(2), **kw
        )
    resumed = jaxl2.successive_halving(toy_trainer(), X, X, checkpoint_dir=tmp_path, **kw)
    assert resumed.rungs == full.rungs
    np.testing.assert_array_equal(resumed.stopped_step, full.stopped_step)
    np.testing.assert_array_equal(resumed.records["loss"], full.records["loss"])
    np.testing.assert_array_equal(resumed.params(), full.params())
    assert resumed.member_steps == full.member_steps
    with pytest.raises(ValueError, match="checkpoint_dir=.*different run"):
        jaxl2.successive_halving(toy_trainer(), X, X, checkpoint_dir=tmp_path, **{**kw, "eta": 2})


def test_hyperband_resume_after_a_kill_equals_the_full_run(tmp_path):
    X = np.linspace(0.5, 1.5, 12, dtype=np.float32)
    kw = dict(monitor="loss", max_steps=9, eta=3, batch_size=4)
    full = jaxl2.hyperband(toy_trainer(), X, X, **kw)
    with pytest.raises(Killed):  # killed inside the second bracket
        jaxl2.hyperband(toy_trainer(), X, X, checkpoint_dir=tmp_path, progress=kill_after(4), **kw)
    resumed = jaxl2.hyperband(toy_trainer(), X, X, checkpoint_dir=tmp_path, **kw)
    assert resumed.rungs == full.rungs and resumed.member_steps == full.member_steps
    np.testing.assert_array_equal(resumed.records["loss"], full.records["loss"])
    np.testing.assert_array_equal(resumed.params(), full.params())


def test_pbt_resume_after_a_kill_equals_the_full_run(tmp_path):
    lrs = np.array([0.01, 0.03, 0.1, 0.3], np.float32)

    trainer = jaxl2.SweepTrainer(
        lambda key: jnp.zeros(1), toy_loss, lambda h: optax.sgd(h, momentum=0.5), lrs
    )
    make = lambda: trainer  # noqa: E731  (one trainer: its compiled programs are reused)

    X = np.linspace(0.5, 1.5, 12, dtype=np.float32)
    kw = dict(monitor="loss", steps=20, interval=4, seed=1, batch_size=4)
    full = jaxl2.population_based_training(make(), X, X, **kw)
    with pytest.raises(Killed):
        jaxl2.population_based_training(
            make(), X, X, checkpoint_dir=tmp_path, progress=kill_after(2), **kw
        )
    resumed = jaxl2.population_based_training(make(), X, X, checkpoint_dir=tmp_path, **kw)
    np.testing.assert_array_equal(resumed.lineage, full.lineage)
    np.testing.assert_array_equal(resumed.hparams_history, full.hparams_history)
    np.testing.assert_array_equal(resumed.records["loss"], full.records["loss"])
    np.testing.assert_array_equal(resumed.params(), full.params())


def test_bad_input():
    t = toy_trainer()
    kw = dict(monitor="loss", min_steps=1, max_steps=9)
    with pytest.raises(ValueError, match="eta must be an integer >= 2.*got 1"):
        jaxl2.successive_halving(t, ONES, ONES, eta=1, **kw)
    with pytest.raises(ValueError, match="min_steps=9 must be smaller than max_steps=9"):
        jaxl2.successive_halving(t, ONES, ONES, monitor="loss", min_steps=9, max_steps=9)
    with pytest.raises(ValueError, match="monitor='accuracy' is not recorded"):
        jaxl2.successive_halving(t, ONES, ONES, **{**kw, "monitor": "accuracy"})
    with pytest.raises(ValueError, match="K=2 members, fewer than eta=3"):
        jaxl2.successive_halving(toy_trainer(LAMS[:2]), ONES, ONES, **kw)
    with pytest.raises(TypeError, match="trainer must be a jaxl2.SweepTrainer"):
        jaxl2.successive_halving(object(), ONES, ONES, **kw)
    with pytest.raises(TypeError, match="eval_data is a generator"):
        jaxl2.successive_halving(t, ONES, (x for x in [ONES]), **kw)
    for q in (0.0, 0.6, -0.1):
        with pytest.raises(ValueError, match=rf"quantile must be in \(0, 0.5\], got {q}"):
            jaxl2.population_based_training(
                t, ONES, ONES, monitor="loss", steps=10, interval=2, quantile=q
            )
    with pytest.raises(ValueError, match="interval=10 must be smaller than steps=10"):
        jaxl2.population_based_training(t, ONES, ONES, monitor="loss", steps=10, interval=10)
    with pytest.raises(ValueError, match="monitor='val_acc' is not recorded"):
        jaxl2.population_based_training(t, ONES, ONES, monitor="val_acc", steps=10, interval=2)


DEVICES_SCRIPT = """
import os
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
import jax, jax.numpy as jnp, numpy as np, optax, jaxl2
lams = np.array([0.0, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 9.0], np.float32)
ones = np.ones(4, np.float32)
def make(devices=None):
    return jaxl2.SweepTrainer(lambda key: jnp.zeros(1), lambda w, b: jnp.mean((w[0] - b) ** 2),
        lambda h: jaxl2.coupled(optax.sgd(0.1), h), lams, devices=devices)
kw = dict(monitor="loss", min_steps=1, max_steps=9)
a = jaxl2.successive_halving(make(2), ones, ones, **kw)
b = jaxl2.successive_halving(make(), ones, ones, **kw)
assert a.rungs == b.rungs and a.member_steps == b.member_steps, (a.rungs, b.rungs)
assert a.compiles == {10: 1, 4: 1, 2: 1}, a.compiles  # 3 survivors padded to 4 rows
np.testing.assert_allclose(a.records["loss"], b.records["loss"], rtol=1e-6)
# minibatches: each row draws its own member's permutation, padded rows included
X = np.linspace(0.5, 1.5, 12, dtype=np.float32)
def make_mb(devices=None):
    return jaxl2.SweepTrainer(lambda key: jnp.zeros(1),
        lambda w, b: jnp.mean((w[0] - b[0]) ** 2),
        lambda h: jaxl2.coupled(optax.sgd(0.1), h), lams, devices=devices)
c = jaxl2.successive_halving(make_mb(2), (X,), (ones,), batch_size=3, **kw)
d = jaxl2.successive_halving(make_mb(), (X,), (ones,), batch_size=3, **kw)
assert c.rungs == d.rungs, (c.rungs, d.rungs)
np.testing.assert_allclose(c.records["loss"], d.records["loss"], rtol=1e-6)
p = jaxl2.population_based_training(make(2), ones, ones, monitor="loss", steps=10, interval=3)
q = jaxl2.population_based_training(make(), ones, ones, monitor="loss", steps=10, interval=3)
np.testing.assert_array_equal(p.lineage, q.lineage)
print("ok")
"""


@pytest.mark.slow
def test_sharded_over_two_devices_equals_one_device():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", DEVICES_SCRIPT],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
        env={**__import__("os").environ, "PYTHONPATH": str(root)},
    )
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-3000:]
