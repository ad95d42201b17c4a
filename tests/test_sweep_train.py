"""jaxl2.train_sweep and SweepResult: against plain optax training loops written out here."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxl2


def _data(n=90, d=6, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = (X @ rng.normal(size=(d, classes)) + rng.normal(size=(n, classes))).argmax(1)
    return X, y.astype(np.int32)


XTR, YTR = _data()
XVA, YVA = _data(40, seed=1)
WEIGHTS = {"hidden": {"kernel": True, "bias": False}, "out": {"kernel": True, "bias": False}}


def init(key):
    k1, k2 = jax.random.split(key)
    return {
        "hidden": {"kernel": jax.random.normal(k1, (6, 8)) * 0.4, "bias": jnp.zeros(8)},
        "out": {"kernel": jax.random.normal(k2, (8, 3)) * 0.3, "bias": jnp.zeros(3)},
    }


def logits(p, x):
    h = jnp.tanh(x @ p["hidden"]["kernel"] + p["hidden"]["bias"][None, :])
    return h @ p["out"]["kernel"] + p["out"]["bias"][None, :]


def loss(p, batch):
    x, y = batch
    return optax.softmax_cross_entropy_with_integer_labels(logits(p, x), y).mean()


def accuracy(p, batch):
    x, y = batch
    return jnp.mean((jnp.argmax(logits(p, x), -1) == y).astype(jnp.float32))


def _weight_norm(p):
    return np.sqrt(sum(np.sum(np.asarray(p[k]["kernel"]) ** 2) for k in ("hidden", "out")))


def _reference_run(tx_fn, h, steps, record_at, batches=None):
    """A plain optax loop for one member (optimizer ``tx_fn(h)``), recording what train_sweep
    records."""
    params = init(jax.random.key(0))
    state = tx_fn(h).init(params)
    step = _jitted_step(tx_fn)
    records = []
    for t in range(1, steps + 1):
        xb, yb = (XTR, YTR) if batches is None else batches(t - 1)
        params, state = step(params, state, xb, yb, h)
        if t in record_at:
            tr, va = float(loss(params, (XTR, YTR))), float(loss(params, (XVA, YVA)))
            tra, vaa = float(accuracy(params, (XTR, YTR))), float(accuracy(params, (XVA, YVA)))
            records.append(
                {
                    "train_loss": tr,
                    "val_loss": va,
                    "gap": va - tr,
                    "train_accuracy": tra,
                    "val_accuracy": vaa,
                    "gap_accuracy": tra - vaa,
                    "weight_norm": _weight_norm(params),
                }
            )
    return params, {k: np.array([r[k] for r in records]) for k in records[0]}


_STEPS = {}


def _jitted_step(tx_fn):
    if tx_fn not in _STEPS:

        @jax.jit
        def step(params, state, xb, yb, h):
            tx = tx_fn(h)
            g = jax.grad(loss)(params, (xb, yb))
            u, state = tx.update(g, state, params)
            return optax.apply_updates(params, u), state

        _STEPS[tx_fn] = step
    return _STEPS[tx_fn]


def _optax_adamw(lam):
    return optax.adamw(0.05, weight_decay=lam, mask=WEIGHTS)


def _optax_sgd_l2(lam):
    return optax.chain(optax.add_decayed_weights(lam), optax.sgd(0.1))


@pytest.mark.standard_promotion
def test_full_batch_records_equal_a_plain_optax_adamw_loop():
    lams = np.array([0.0, 0.3, 3.0], np.float32)
    result = jaxl2.train_sweep(
        init,
        loss,
        (XTR, YTR),
        hparams={"weight_decay": lams},
        optimizer=lambda h: jaxl2.adamw(0.05, weight_decay=h["weight_decay"], mask="weights"),
        steps=30,
        eval_every=7,
        eval_data=(XVA, YVA),
        metrics={"accuracy": accuracy},
        norm_mask="weights",
        strategy="vmap",
    )
    np.testing.assert_array_equal(result.steps, [7, 14, 21, 28, 30])
    assert result.finite.all() and len(result) == 3
    for k, lam in enumerate(lams):
        params, ref = _reference_run(_optax_adamw, lam, 30, {7, 14, 21, 28, 30})
        for name, values in ref.items():
            np.testing.assert_allclose(
                result.metrics[name][k], values, rtol=2e-4, atol=2e-5, err_msg=name
            )
        for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(result.params), strict=True):
            np.testing.assert_allclose(b[k], a, rtol=2e-4, atol=2e-5)


def test_minibatches_are_shuffled_per_member_and_epoch():
    n, bs, steps = len(YTR), 32, 8  # 2 batches per epoch (the last 26 examples are dropped)
    lams = np.array([0.01, 0.01, 0.1], np.float32)  # members 0 and 1 differ only in shuffling
    result = jaxl2.train_sweep(
        init,
        loss,
        (XTR, YTR),
        hparams=lams,
        batch_size=bs,
        steps=steps,
        eval_every=steps,
        optimizer=lambda lam: jaxl2.coupled(optax.sgd(0.1), lam),
        strategy="vmap",
    )
    for k, lam in enumerate(lams):
        key = jax.random.fold_in(jax.random.key(1), k)  # the documented scheme: seed + 1

        def batches(t, key=key):
            epoch, pos = divmod(t, n // bs)
            perm = np.asarray(jax.random.permutation(jax.random.fold_in(key, epoch), n))
            idx = perm[pos * bs : (pos + 1) * bs]
            return XTR[idx], YTR[idx]

        params, _ = _reference_run(_optax_sgd_l2, lam, steps, {steps}, batches)
        for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(result.params), strict=True):
            np.testing.assert_allclose(b[k], a, rtol=1e-5, atol=1e-6)
    w = np.asarray(result.params["out"]["kernel"])
    assert not np.allclose(w[0], w[1])  # same λ, different shuffles


def test_full_batch_members_with_equal_hparams_are_equal():
    result = jaxl2.train_sweep(
        init,
        loss,
        (XTR, YTR),
        hparams=np.array([0.1, 0.1], np.float32),
        steps=5,
        optimizer=lambda lam: jaxl2.coupled(optax.sgd(0.1), lam),
        strategy="map",
    )
    w = np.asarray(result.params["out"]["kernel"])
    np.testing.assert_array_equal(w[0], w[1])
    # and both are the plain optax loop's parameters
    params, _ = _reference_run(_optax_sgd_l2, np.float32(0.1), 5, {5})
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(result.params), strict=True):
        for k in range(2):
            np.testing.assert_allclose(b[k], a, rtol=1e-5, atol=1e-6)


def _optax_sgd05_l2(lam):
    return optax.chain(optax.add_decayed_weights(lam), optax.sgd(0.5))


def test_generalization_gaps_are_positive_when_validation_is_worse():
    def error(p, batch):
        return 1.0 - accuracy(p, batch)

    lams = np.array([0.0, 0.01], np.float32)
    result = jaxl2.train_sweep(
        init,
        loss,
        (XTR, YTR),
        eval_data=(XVA, YVA),
        hparams=lams,
        steps=20,
        metrics={"accuracy": accuracy, "error": error},
        optimizer=lambda lam: jaxl2.coupled(optax.sgd(0.5), lam),
        strategy="map",
    )
    m = result.metrics
    np.testing.assert_array_equal(result.steps, np.arange(2, 21, 2))
    for k, lam in enumerate(lams):
        _, ref = _reference_run(_optax_sgd05_l2, lam, 20, set(range(2, 21, 2)))
        for name in ("train_loss", "val_loss", "gap", "train_accuracy", "val_accuracy"):
            np.testing.assert_allclose(m[name][k], ref[name], rtol=2e-4, atol=2e-5, err_msg=name)
        np.testing.assert_allclose(m["train_error"][k], 1 - ref["train_accuracy"], atol=2e-5)
        np.testing.assert_allclose(m["val_error"][k], 1 - ref["val_accuracy"], atol=2e-5)
        np.testing.assert_allclose(m["gap_error"][k], ref["gap_accuracy"], atol=2e-5)
    # This small problem overfits: validation is worse than training at every record.
    assert (m["gap"] > 0).all()
    assert (m["gap_error"] > 0).all()
    assert (m["gap_accuracy"] > 0).all()
    np.testing.assert_allclose(m["gap"], m["val_loss"] - m["train_loss"], rtol=1e-6)
    np.testing.assert_allclose(
        m["gap_accuracy"], m["train_accuracy"] - m["val_accuracy"], atol=1e-6
    )
    np.testing.assert_allclose(m["gap_error"], m["val_error"] - m["train_error"], atol=1e-6)


def test_diverging_member_is_isolated_and_ignored_by_best():
    lrs = np.array([0.05, 1e30, 0.2], np.float32)
    kwargs = dict(
        steps=20,
        eval_data=(XVA, YVA),
        metrics={"accuracy": accuracy},
        optimizer=lambda lr: jaxl2.coupled(optax.sgd(lr), 0.01),
        strategy="vmap",
    )
    result = jaxl2.train_sweep(init, loss, (XTR, YTR), hparams=lrs, **kwargs)
    alone = jaxl2.train_sweep(init, loss, (XTR, YTR), hparams=lrs[[0, 2]], **kwargs)
    np.testing.assert_array_equal(result.finite, [True, False, True])
    for name in result.metrics:
        np.testing.assert_allclose(
            result.metrics[name][[0, 2]], alone.metrics[name], rtol=1e-5, atol=1e-6
        )
    assert result.best().index in (0, 2) and result.best("val_accuracy").index in (0, 2)
    assert "diverged" in result.table()
    assert json.loads(json.dumps(result.to_dict()))["finite"] == [True, False, True]


def test_result_best_table_plot_and_dict(tmp_path):
    hparams = jaxl2.grid(
        lam=np.array([0.0, 0.1, 1.0], np.float32), lr=np.array([0.05, 0.2], np.float32)
    )
    result = jaxl2.train_sweep(
        init,
        loss,
        (XTR, YTR),
        hparams=hparams,
        steps=10,
        eval_data=(XVA, YVA),
        metrics={"accuracy": accuracy},
        strategy="vmap",
        optimizer=lambda h: jaxl2.coupled(optax.sgd(h["lr"]), h["lam"]),
    )
    val = result.final("val_loss")
    best = result.best()
    assert best.metric == "val_loss" and best.index == int(np.argmin(val))
    assert best.hparams == {
        "lam": pytest.approx(float(hparams["lam"][best.index])),
        "lr": pytest.approx(float(hparams["lr"][best.index])),
    }
    assert result.best("val_accuracy").value == pytest.approx(result.final("val_accuracy").max())
    assert result.best("val_accuracy", mode="min").value == pytest.approx(
        result.final("val_accuracy").min()
    )
    table = result.table(["val_loss", "val_accuracy"], labels={"lam": "λ"})
    lines = table.splitlines()
    assert lines[0].split() == ["λ", "lr", "val_loss", "val_accuracy"]
    assert len(lines) == 2 + 6 and lines[2 + best.index].endswith("*")
    fig = result.plot(path=tmp_path / "sweep.png", x="lam")
    assert (tmp_path / "sweep.png").stat().st_size > 1000
    loss_axis = fig.axes[0]
    assert loss_axis.get_xscale() == "symlog"  # λ = 0 is on the axis
    assert len(loss_axis.get_lines()) == 2 * 2 + 1  # (train, val) × 2 learning rates + best
    d = json.loads(json.dumps(result.to_dict()))
    assert d["hparams"]["lam"] == pytest.approx(np.asarray(hparams["lam"]).tolist())
    assert len(d["metrics"]["val_loss"]) == 6 and d["best"]["index"] == best.index
    assert "SweepResult(K=6" in repr(result)


def test_checkpointed_train_sweep_resumes_by_loading(tmp_path):
    kwargs = dict(
        hparams=np.array([0.0, 0.5], np.float32),
        steps=5,
        checkpoint_dir=tmp_path,
        optimizer=lambda lam: jaxl2.coupled(optax.sgd(0.1), lam),
        keep_params=False,
    )
    first = jaxl2.train_sweep(init, loss, (XTR, YTR), **kwargs)
    again = jaxl2.train_sweep(init, loss, (XTR, YTR), **kwargs)
    assert first.info.chosen is not None and first.info.loaded == 0
    assert again.info.chosen is None and again.info.loaded == 2  # nothing ran: all loaded
    assert first.params is None
    np.testing.assert_array_equal(first.metrics["train_loss"], again.metrics["train_loss"])
    # the fingerprint is what defines the training, and no function was renamed for it
    identity = json.loads((tmp_path / "sweep.json").read_text())["signature"]["fn"]
    assert identity.startswith(f"jaxl2.train_sweep[init_fn={__name__}.init, loss_fn=")
    assert "steps=5," in identity and "keep_params=False" in identity
    with pytest.raises(ValueError, match="holds a different sweep.*fn's name"):
        jaxl2.train_sweep(init, loss, (XTR, YTR), **{**kwargs, "steps": 6})


def test_train_sweep_bad_inputs():
    opt = lambda lam: optax.sgd(0.1)  # noqa: E731
    base = dict(hparams=np.array([0.1], np.float32), optimizer=opt, steps=3)
    with pytest.raises(TypeError, match=r"unknown keyword argument\(s\) \['batchsize'\]"):
        jaxl2.train_sweep(init, loss, (XTR, YTR), batchsize=3, **base)
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        jaxl2.train_sweep(init, loss, (XTR, YTR), **{**base, "steps": 0})
    with pytest.raises(ValueError, match="eval_every must be a positive integer"):
        jaxl2.train_sweep(init, loss, (XTR, YTR), eval_every=0, **base)
    with pytest.raises(ValueError, match=r"batch_size=500 is larger than the training set \(90"):
        jaxl2.train_sweep(init, loss, (XTR, YTR), batch_size=500, **base)
    with pytest.raises(ValueError, match=r"train_data must be a pytree of arrays sharing"):
        jaxl2.train_sweep(init, loss, (XTR, YTR[:10]), **base)
    with pytest.raises(TypeError, match=r"metrics\['acc'\] must be callable"):
        jaxl2.train_sweep(init, loss, (XTR, YTR), metrics={"acc": 1.0}, **base)
    with pytest.raises(TypeError, match="optimizer must be callable"):
        jaxl2.train_sweep(init, loss, (XTR, YTR), **{**base, "optimizer": optax.sgd(0.1)})
    result = jaxl2.train_sweep(init, loss, (XTR, YTR), **base)
    with pytest.raises(KeyError, match="metric 'val_loss' was not recorded"):
        result.best("val_loss")
    with pytest.raises(ValueError, match="mode must be 'min' or 'max'"):
        result.best("train_loss", mode="lowest")


@pytest.mark.standard_promotion
def test_init_program_compiled_in_background_and_its_eager_fallback(monkeypatch):
    """The model's init program compiles in a background thread while the sweep compiles its
    own (its arrays are Pending until then); if XLA refuses it, the start comes from an eager
    call, with the same values, and the sweep's results match."""
    from jaxl2._sweep import trainer as trainer_module
    from jaxl2._sweep.util import Pending

    def init_b(key):  # a new function object: nothing cached for it
        return init(key)

    lams = np.array([0.0, 0.5], np.float32)

    def run():
        jaxl2.clear_caches()
        return jaxl2.train_sweep(
            init_b,
            loss,
            (XTR, YTR),
            hparams=lams,
            optimizer=lambda lam: jaxl2.adamw(0.05, weight_decay=lam, mask="weights"),
            steps=5,
            eval_data=(XVA, YVA),
            strategy="vmap",
        )

    trainer = jaxl2.SweepTrainer(init_b, loss, lambda lam: optax.sgd(0.1), lams)
    assert all(isinstance(x, Pending) for x in jax.tree.leaves(trainer._start_data()))
    for a, b in zip(
        jax.tree.leaves(trainer.start[0]), jax.tree.leaves(init(jax.random.key(0))), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    good = run()
    monkeypatch.setattr(trainer_module, "INIT_COMPILER_OPTIONS", {"no_such_xla_option": 1})
    monkeypatch.setattr(jax, "default_backend", lambda: "cpu")  # options apply on CPU only
    fallback = run()
    for name in ("train_loss", "val_loss", "weight_norm"):
        np.testing.assert_allclose(fallback.metrics[name], good.metrics[name], rtol=1e-6)


def test_functional_train_sweep_does_not_import_flax():
    """A one-off functional sweep does not pay for importing flax (an nnx.Module can only
    exist once flax.nnx is imported)."""
    import subprocess
    import sys

    code = (
        "import sys, numpy as np, jax.numpy as jnp, optax, jaxl2\n"
        "r = jaxl2.train_sweep(lambda k: jnp.zeros(2), lambda w, b: jnp.sum((w - b[0]) ** 2),\n"
        "    (np.ones((4, 2), np.float32),), hparams=np.array([0.1, 0.2], np.float32),\n"
        "    optimizer=lambda lr: optax.sgd(lr), steps=2, strategy='vmap')\n"
        "assert r.finite.all()\n"
        "print('flax.nnx' in sys.modules)\n"
    )
    env = {**__import__("os").environ, "JAXL2_CACHE_DIR": "0"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"
