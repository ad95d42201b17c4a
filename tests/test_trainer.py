"""jaxl2.SweepTrainer and train_sweep's new inputs, against hand-written NNX and optax loops."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import jaxl2

RNG = np.random.default_rng(0)
X = RNG.normal(size=(48, 5)).astype(np.float32)
Y = (X @ RNG.normal(size=(5, 3))).argmax(1).astype(np.int32)
XV = RNG.normal(size=(21, 5)).astype(np.float32)
YV = (XV @ RNG.normal(size=(5, 3))).argmax(1).astype(np.int32)


class Net(nnx.Module):
    """Linear → BatchNorm → relu → Dropout → Linear."""

    def __init__(self, rate: float = 0.0, *, rngs: nnx.Rngs):
        self.l1 = nnx.Linear(5, 16, rngs=rngs)
        self.bn = nnx.BatchNorm(16, momentum=0.8, rngs=rngs)
        self.drop = nnx.Dropout(rate, rngs=rngs)
        self.l2 = nnx.Linear(16, 3, rngs=rngs)

    def __call__(self, x):
        return self.l2(self.drop(jax.nn.relu(self.bn(self.l1(x)))))


def nll(model, batch):
    x, y = batch
    return optax.softmax_cross_entropy_with_integer_labels(model(x), y).mean()


def accuracy(model, batch):
    x, y = batch
    return jnp.mean((model(x).argmax(-1) == y).astype(jnp.float32))


def _rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-12)


# ----------------------------------------------------------------------------- NNX references


def test_k1_trainer_equals_a_hand_written_nnx_loop_step_for_step():
    tx = lambda lr: optax.sgd(lr, momentum=0.9)  # noqa: E731
    trainer = jaxl2.SweepTrainer(lambda rngs: Net(0.0, rngs=rngs), nll, tx, np.array([0.1]))
    state = trainer.init()

    model = Net(0.0, rngs=nnx.Rngs(0))
    opt = nnx.Optimizer(model, tx(0.1), wrt=nnx.Param)

    @nnx.jit
    def ref_step(model, opt, batch):
        loss, grads = nnx.value_and_grad(nll)(model, batch)
        opt.update(model, grads)
        return loss

    for t in range(6):
        batch = (X[8 * t : 8 * t + 8], Y[8 * t : 8 * t + 8])
        state, losses = trainer.step(state, batch)
        ref = ref_step(model, opt, batch)
        assert losses.shape == (1,)
        np.testing.assert_allclose(losses[0], ref, rtol=1e-6, atol=1e-6)
    ours = trainer.model(state, 0)
    for (path, a), (_, b) in zip(
        jax.tree_util.tree_flatten_with_path(nnx.state(ours))[0],
        jax.tree_util.tree_flatten_with_path(nnx.state(model))[0],
        strict=True,
    ):
        if jnp.issubdtype(a.dtype, jax.dtypes.prng_key):
            continue
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6, err_msg=jax.tree_util.keystr(path))
    model.eval()  # BatchNorm's running statistics, as evaluate uses them
    val = trainer.evaluate(state, (XV, YV), metrics={"accuracy": accuracy})
    np.testing.assert_allclose(val["loss"][0], nll(model, (XV, YV)), rtol=1e-6)
    np.testing.assert_allclose(val["accuracy"][0], accuracy(model, (XV, YV)), rtol=1e-6)
    assert ours.bn.use_running_average and ours.drop.deterministic
    params = trainer.params(state, 0)
    np.testing.assert_allclose(params["l1"]["kernel"], model.l1.kernel[...], rtol=1e-6)


def test_dropout_draws_fresh_masks_per_step_and_member_and_evaluate_is_eval_mode():
    trainer = jaxl2.SweepTrainer(
        lambda rngs: Net(0.5, rngs=rngs), nll, lambda lr: optax.sgd(lr), np.zeros(3, np.float32)
    )
    state = trainer.init()
    state, first = trainer.step(state, (X, Y))  # lr = 0: only the dropout masks change
    state, second = trainer.step(state, (X, Y))
    assert np.all(np.asarray(first) != np.asarray(second))
    assert len(set(np.asarray(first).tolist())) == 3  # every member its own masks
    whole = trainer.evaluate(state, (XV, YV))
    again = trainer.evaluate(state, (XV, YV))
    np.testing.assert_array_equal(whole["loss"], again["loss"])
    pieces = [(XV[:4], YV[:4]), (XV[4:15], YV[4:15]), (XV[15:], YV[15:])]
    split = trainer.evaluate(state, iter(pieces))
    assert _rel(split["loss"], whole["loss"]) < 1e-6
    model = trainer.model(state, 2)
    np.testing.assert_allclose(whole["loss"][2], nll(model, (XV, YV)), rtol=1e-6)
    # BatchNorm's running statistics moved in training (momentum 0.8), per member
    assert not np.allclose(model.bn.mean[...], 0.0)


# ----------------------------------------------------------------------------- functional forms


def test_functional_stateful_form_carries_state_and_integer_leaves():
    def init(key):
        params = {"w": jax.random.normal(key, (5, 3)) * 0.1, "calls": jnp.zeros((), jnp.int32)}
        return params, {"mean": jnp.zeros(5), "seen": jnp.zeros((), jnp.int32)}

    def loss(params, state, batch, key):
        x, y = batch
        if key is not None:  # training: dropout, batch statistics
            keep = jax.random.bernoulli(key, 0.5, x.shape)
            x = jnp.where(keep, x / 0.5, 0.0)
            state = {"mean": 0.5 * state["mean"] + 0.5 * x.mean(0), "seen": state["seen"] + 1}
        logits = (x - state["mean"][None, :]) @ params["w"]
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), state

    trainer = jaxl2.SweepTrainer(init, loss, lambda lr: optax.sgd(lr), np.array([0.1, 0.1]))
    state = trainer.init()
    for _ in range(3):
        state, losses = trainer.step(state, (X, Y))
    assert state.model_state[1]["seen"].dtype == jnp.int32
    np.testing.assert_array_equal(state.model_state[1]["seen"], [3, 3])
    assert state.model_state[0]["calls"].dtype == jnp.int32  # carried, never differentiated
    assert float(losses[0]) != float(losses[1])  # their own keys
    p0 = trainer.params(state, 0)
    assert p0["calls"].dtype == jnp.int32
    value = trainer.evaluate(state, (XV, YV))["loss"]
    ms = jax.tree.map(lambda a: a[0], state.model_state[1])
    np.testing.assert_allclose(value[0], loss(p0, ms, (XV, YV), None)[0], rtol=1e-6)


def test_equinox_batchnorm_and_dropout_are_in_inference_mode_in_evaluate():
    class EqNet(eqx.Module):
        lin: eqx.nn.Linear
        bn: eqx.nn.BatchNorm
        drop: eqx.nn.Dropout
        out: eqx.nn.Linear

        def __init__(self, key):
            k1, k2 = jax.random.split(key)
            self.lin = eqx.nn.Linear(5, 8, key=k1)
            self.bn = eqx.nn.BatchNorm(8, axis_name="batch", momentum=0.5, mode="ema")
            self.drop = eqx.nn.Dropout(0.5)
            self.out = eqx.nn.Linear(8, 3, key=k2)

        def __call__(self, x, state, key):
            h, state = self.bn(self.lin(x), state)
            return self.out(self.drop(jax.nn.relu(h), key=key)), state

    def loss(model, state, batch, key):
        x, y = batch
        keys = None if key is None else jax.random.split(key, x.shape[0])
        fwd = jax.vmap(model, axis_name="batch", in_axes=(0, None, 0), out_axes=(0, None))
        logits, state = fwd(x, state, keys)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), state

    trainer = jaxl2.SweepTrainer(
        eqx.nn.make_with_state(EqNet), loss, lambda lr: optax.sgd(lr), np.array([0.05])
    )
    state = trainer.init()
    for _ in range(2):
        state, _ = trainer.step(state, (X, Y))
    model = eqx.nn.inference_mode(trainer.params(state, 0))
    ms = jax.tree.map(lambda a: a[0], state.model_state[1])
    want = loss(model, ms, (XV, YV), None)[0]
    got = trainer.evaluate(state, (XV, YV))["loss"][0]
    np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.standard_promotion
def test_per_member_warmup_cosine_linear_and_exponential_schedules():
    peak = np.array([0.1, 0.05, 0.2], np.float32)
    units = [
        optax.warmup_cosine_decay_schedule(0.0, 1.0, 3, 10),
        optax.linear_schedule(1.0, 0.1, 10),
        optax.exponential_decay(1.0, 2, 0.5),
    ]

    def optimizer(h):
        return optax.sgd(lambda t: h["lr"] * jax.lax.switch(h["kind"], units, t))

    target = np.array([1.0, -2.0, 0.5], np.float32)

    def loss(w, batch):
        return 0.5 * jnp.sum((w - batch) ** 2)

    hparams = {"lr": peak, "kind": np.arange(3, dtype=np.int32)}
    trainer = jaxl2.SweepTrainer(lambda key: jnp.zeros(3), loss, optimizer, hparams)
    state = trainer.init()
    for _ in range(8):
        state, _ = trainer.step(state, target)
    for k in range(3):
        w = np.zeros(3, np.float64)
        for t in range(8):
            w -= peak[k] * float(units[k](t)) * (w - target)  # SGD on ½‖w − b‖²
        assert _rel(state.params[k], w) < 1e-5


# ----------------------------------------------------------------------------- early stopping


def _quadratic_sweep(**options):
    """w moves from 0 toward 2 (training target); validation wants 1, so val loss turns."""

    def loss(w, batch):
        return jnp.mean((w[0] - batch) ** 2)

    return dict(
        init_fn=lambda key: jnp.zeros(1),
        loss_fn=loss,
        hparams=np.array([0.05, 0.1, 0.2], np.float32),
        optimizer=lambda lr: optax.sgd(lr),
        **options,
    )


def test_trainer_early_stopping_keeps_the_best_records_params():
    opts = _quadratic_sweep()
    trainer = jaxl2.SweepTrainer(
        opts["init_fn"],
        opts["loss_fn"],
        opts["optimizer"],
        opts["hparams"],
        monitor="loss",
        patience=2,
        restore_best=True,
    )
    state = trainer.init()
    vals, params, actives = [], [], []
    for _ in range(30):
        state, _ = trainer.step(state, np.full(4, 2.0, np.float32))
        record = trainer.evaluate(state, np.full(4, 1.0, np.float32))
        state = trainer.record(state, record)
        vals.append(np.asarray(record["loss"]))
        params.append(np.asarray(state.params[:, 0]))
        actives.append(np.asarray(state.active))
    vals, params, actives = np.array(vals), np.array(params), np.array(actives)
    best = vals.argmin(0)
    assert best[0] > 2 and best[2] == 0  # the slow member turns late, the fast one at once
    for k in range(3):
        np.testing.assert_allclose(trainer.params(state, k)[0], params[best[k], k])
        assert int(state.best_step[k]) == best[k] + 1
        stop = best[k] + 2  # two records without improvement
        assert actives[stop - 1, k] and not actives[stop, k]
        np.testing.assert_array_equal(params[stop + 1 :, k], params[stop + 1, k])  # frozen


def test_train_sweep_early_stopping_reports_best_step_and_params():
    opts = _quadratic_sweep()
    train = np.full(4, 2.0, np.float32)
    result = jaxl2.train_sweep(
        **opts,
        train_data=train,
        eval_data=np.full(4, 1.0, np.float32),
        steps=30,
        eval_every=1,
        patience=2,
        restore_best=True,
        strategy="vmap",
    )
    assert result.monitor == "val_loss"
    val = result.metrics["val_loss"]
    best = val.argmin(1)
    np.testing.assert_array_equal(result.best_step, result.steps[best])
    assert result.stopped.all() and (~result.metrics["active"][:, -1]).all()
    w = np.sqrt(val[np.arange(3), best])  # |w − 1| at the best record, w < 1 or w > 1
    np.testing.assert_allclose(np.abs(np.asarray(result.params)[:, 0] - 1.0), w, atol=1e-6)
    assert result.best().value == pytest.approx(val.min())
    # The restored params belong to the best record: best() and table() read every metric there
    # (they read the last record, which belonged to parameters thrown away).
    assert result.restored
    train_at_best = result.metrics["train_loss"][np.arange(3), best]
    assert not np.allclose(train_at_best, result.final("train_loss"))
    assert result.best("train_loss").value == pytest.approx(train_at_best.min())
    rows = result.table(["train_loss"]).splitlines()[2:]
    shown = [float(row.split()[1]) for row in rows]
    np.testing.assert_allclose(shown, train_at_best, rtol=1e-3)


def test_diverging_member_is_frozen_and_marked_and_others_go_on():
    opts = _quadratic_sweep()
    lrs = np.array([0.05, 1e30, 0.1], np.float32)
    trainer = jaxl2.SweepTrainer(opts["init_fn"], opts["loss_fn"], opts["optimizer"], lrs)
    alone = jaxl2.SweepTrainer(opts["init_fn"], opts["loss_fn"], opts["optimizer"], lrs[[0, 2]])
    s, a = trainer.init(), alone.init()
    for _ in range(5):
        s, _ = trainer.step(s, np.full(4, 2.0, np.float32))
        a, _ = alone.step(a, np.full(4, 2.0, np.float32))
    np.testing.assert_array_equal(s.diverged, [False, True, False])
    np.testing.assert_array_equal(s.active, [True, False, True])
    assert np.isfinite(np.asarray(s.params)).all()
    np.testing.assert_array_equal(np.asarray(s.params)[[0, 2]], a.params)


# ----------------------------------------------------------------------------- train_sweep inputs


def test_train_sweep_from_an_epoch_generator_equals_the_array_run():
    def batches():
        for i in range(0, 48, 16):
            yield X[i : i + 16], Y[i : i + 16]

    common = dict(
        hparams=np.array([0.0, 0.5], np.float32),
        optimizer=lambda lam: jaxl2.coupled(optax.sgd(0.1), lam),
        eval_data=(XV, YV),
        metrics={"accuracy": accuracy},
        steps=7,
        eval_every=3,
    )
    net = lambda rngs: Net(0.0, rngs=rngs)  # noqa: E731
    streamed = jaxl2.train_sweep(net, nll, batches, **common)
    assert streamed.metrics["val_loss"].shape == (2, 3)
    np.testing.assert_array_equal(streamed.steps, [3, 6, 7])
    # the same batches by hand
    trainer = jaxl2.SweepTrainer(net, nll, common["optimizer"], common["hparams"])
    state, epoch = trainer.init(), batches()
    for t in range(7):
        if t == 3 or t == 6:
            epoch = batches()
        state, _ = trainer.step(state, next(epoch))
    want = trainer.evaluate(state, (XV, YV), metrics={"accuracy": accuracy})
    np.testing.assert_allclose(streamed.final("val_loss"), want["loss"], rtol=1e-6)
    np.testing.assert_allclose(streamed.final("val_accuracy"), want["accuracy"], rtol=1e-6)
    assert streamed.best().index in (0, 1)
    # NNX model factory with array data: one compiled sweep
    arrays = jaxl2.train_sweep(net, nll, (X, Y), strategy="vmap", **common)
    assert arrays.params["l1"]["kernel"].shape == (2, 5, 16) and arrays.finite.all()


def test_sweep_result_metric_direction_is_explicit():
    from jaxl2._sweep.results import metric_mode

    assert [metric_mode(n) for n in ("val_nll", "perplexity", "val_bce", "train_mse")] == [
        "min"
    ] * 4
    assert [metric_mode(n) for n in ("val_accuracy", "f1", "val_auc", "r2")] == ["max"] * 4
    assert metric_mode("val_foo") is None and metric_mode("gap_accuracy") == "min"
    result = jaxl2.SweepResult(
        hparams=np.array([0.1, 1.0]),
        metrics={"val_nll": np.array([[0.5], [0.2]]), "val_foo": np.array([[1.0], [2.0]])},
        steps=np.array([1]),
        params=None,
        finite=np.array([True, True]),
    )
    assert result.best("val_nll").index == 1
    with pytest.raises(ValueError, match=r"cannot tell whether 'val_foo'.*mode='min'"):
        result.best("val_foo")
    assert result.best("val_foo", mode="max").index == 1


# ----------------------------------------------------------------------------- bad input


def test_bad_inputs_raise_at_once_naming_the_argument():
    tx = lambda lr: optax.sgd(lr)  # noqa: E731
    trainer = jaxl2.SweepTrainer(lambda rngs: Net(rngs=rngs), nll, tx, np.array([0.1]))
    state = trainer.init()
    with pytest.raises(TypeError, match=r"batch is a generator.*next\(it\)"):
        trainer.step(state, ((X, Y) for _ in range(2)))
    with pytest.raises(ValueError, match=r"batch must be a pytree of arrays sharing.*48.*40"):
        trainer.step(state, (X, Y[:40]))
    with pytest.raises(ValueError, match=r"batch has no examples"):  # was: all marked diverged
        trainer.step(state, (X[:0], Y[:0]))
    old = state
    state, _ = trainer.step(state, (X, Y))
    with pytest.raises(ValueError, match=r"state was already passed to step.*donated"):
        trainer.step(old, (X, Y))  # was: XLA's "Buffer has been deleted or donated"
    with pytest.raises(ValueError, match=r"data has no examples"):
        trainer.evaluate(state, (XV[:0], YV[:0]))
    with pytest.raises(ValueError, match=r"data must have the structure and feature shapes"):
        trainer.evaluate(state, (XV[:, :4], YV))
    with pytest.raises(ValueError, match=r"metrics\['per_example'\] must return a scalar"):
        trainer.evaluate(state, (XV, YV), metrics={"per_example": lambda m, b: m(b[0])[:, 0]})
    with pytest.raises(TypeError, match=r"optimizer=jaxl2.adamw was passed uncalled"):
        jaxl2.SweepTrainer(lambda rngs: Net(rngs=rngs), nll, jaxl2.adamw, np.array([0.1]))
    with pytest.raises(ValueError, match=r"patience=3.*need monitor="):
        jaxl2.SweepTrainer(lambda rngs: Net(rngs=rngs), nll, tx, np.array([0.1]), patience=3)
    with pytest.raises(ValueError, match=r"monitor='val_foo'.*mode='min'"):
        jaxl2.SweepTrainer(lambda rngs: Net(rngs=rngs), nll, tx, np.array([0.1]), monitor="val_foo")

    base = dict(hparams=np.array([0.1], np.float32), optimizer=tx, steps=3)
    init = lambda key: {"w": jnp.zeros((5, 3))}  # noqa: E731
    loss = lambda p, b: optax.softmax_cross_entropy_with_integer_labels(  # noqa: E731
        b[0] @ p["w"], b[1]
    ).mean()
    with pytest.raises(ValueError, match=r"patience=2.*need validation data.*eval_data="):
        jaxl2.train_sweep(init, loss, (X, Y), patience=2, **base)
    with pytest.raises(ValueError, match=r"eval_data must have the structure and feature shapes"):
        jaxl2.train_sweep(init, loss, (X, Y), eval_data=(XV[:, :4], YV), **base)
    with pytest.raises(ValueError, match=r"eval_data has no examples"):  # was: "no member
        jaxl2.train_sweep(init, loss, (X, Y), eval_data=(XV[:0], YV[:0]), **base)  # finite"
    gen = ((X, Y) for _ in range(2))
    with pytest.raises(ValueError, match=r"train_data ran out after 2 batches.*zero-argument"):
        jaxl2.train_sweep(init, loss, gen, **base)
    with pytest.raises(TypeError, match=r"eval_data is a generator.*zero-argument function"):
        jaxl2.train_sweep(init, loss, lambda: iter([(X, Y)]), eval_data=iter([(XV, YV)]), **base)
    with pytest.raises(TypeError, match=r"eval_data is a generator or iterable.*arrays"):
        jaxl2.train_sweep(init, loss, (X, Y), eval_data=iter([(XV, YV)]), **base)
    with pytest.raises(TypeError, match=r"optimizer=optax.adam was passed uncalled"):
        jaxl2.train_sweep(init, loss, (X, Y), **{**base, "optimizer": optax.adam})


@pytest.mark.skipif(len(jax.devices()) < 2, reason="needs 2 devices")
def test_members_sharded_over_devices_equal_the_unsharded_run():
    tx = lambda lr: optax.sgd(lr)  # noqa: E731
    hp = np.array([0.1, 0.2], np.float32)
    runs = []
    for devices in (None, 2):
        trainer = jaxl2.SweepTrainer(lambda rngs: Net(0.3, rngs=rngs), nll, tx, hp, devices=devices)
        state = trainer.init()
        for _ in range(2):
            state, losses = trainer.step(state, (X, Y))
        assert len(state.params["l1"]["kernel"].sharding.device_set) == (devices or 1)
        runs.append(np.asarray(losses))
    np.testing.assert_allclose(runs[0], runs[1], rtol=1e-6)


# ----------------------------------------------------------------------------- compiled programs


def _mse(w, batch):
    xb, yb = batch
    return jnp.mean((xb @ w - yb) ** 2)


def test_a_bad_member_hyperparameter_raises_at_once_naming_it():
    decay = lambda lam: jaxl2.adamw(0.1, weight_decay=lam)  # noqa: E731
    lams = np.array([0.1, -1.0], np.float32)
    with pytest.raises(ValueError, match=r"hparams member 1 \(-1.0\).*weight_decay"):
        jaxl2.SweepTrainer(lambda key: jnp.zeros(5), _mse, decay, lams)
    with pytest.raises(ValueError, match=r"hparams member 1 \(-1.0\).*weight_decay"):
        jaxl2.train_sweep(
            lambda key: jnp.zeros(5), _mse, (X, X[:, 0]), hparams=lams, optimizer=decay, steps=2
        )


@pytest.mark.standard_promotion  # optax's Adam bias correction
def test_trainer_programs_have_no_host_callback_and_step_matches_optax():
    # jaxl2.adamw checks a traced weight decay; in the sweep programs that check adds no host
    # callback (JAX's persistent compilation cache does not store programs with one).
    lams = np.array([0.0, 0.5], np.float32)
    trainer = jaxl2.SweepTrainer(
        lambda key: jnp.ones(5), _mse, lambda lam: jaxl2.adamw(0.1, weight_decay=lam), lams
    )
    state = trainer.init()
    batch = (X, X[:, 0])
    state, losses = trainer.step(state, batch)
    core = trainer._step_args(state)
    lowered = trainer._compiled["step"].lower(trainer._hparams(), core, batch).as_text()
    assert "callback" not in lowered
    state, _ = trainer.step(state, (X[:7], X[:7, 0]))  # another batch shape: checked again
    for k, lam in enumerate(lams):
        tx = optax.adamw(0.1, weight_decay=float(lam))
        w = jnp.ones(5)
        s = tx.init(w)
        for b in (batch, (X[:7], X[:7, 0])):
            u, s = tx.update(jax.grad(_mse)(w, b), s, w)
            w = optax.apply_updates(w, u)
        np.testing.assert_allclose(state.params[k], w, rtol=1e-5)
    np.testing.assert_allclose(losses[0], _mse(jnp.ones(5), batch), rtol=1e-6)
    with pytest.raises(ValueError, match="leading"):
        trainer.step(state, (X, X[:5, 0]))


@pytest.mark.standard_promotion  # optax's Adam bias correction
def test_a_check_failing_at_run_time_marks_that_member_and_the_others_go_on():
    # A per-member weight-decay schedule that turns negative: only the run can tell. In the
    # compiled step the check turns that member's update into NaN (no host callback), so the
    # member is frozen before it and marked; the other member trains on.
    lams = np.array([0.5, 10.0], np.float32)
    decay = lambda lam: jaxl2.adamw(0.1, weight_decay=lambda t: lam - t)  # noqa: E731
    trainer = jaxl2.SweepTrainer(lambda key: jnp.ones(5), _mse, decay, lams)
    state = trainer.init()
    for _ in range(3):
        state, _ = trainer.step(state, (X, X[:, 0]))
    np.testing.assert_array_equal(state.diverged, [True, False])
    np.testing.assert_array_equal(state.step, [1, 3])
    assert np.isfinite(np.asarray(state.params)).all()
