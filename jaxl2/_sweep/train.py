"""train_sweep: a whole training loop for K members at once, with its records over time."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._checks import check_int, leading_length, traced_callback_free
from .._diagnostics import weight_norms
from .._typing import ArrayTree, Data, MaskLike
from .checkpoint import _name
from .results import SweepResult, metric_mode
from .sweep import SweepInfo, _host_hparams, run_sweep
from .trainer import SweepTrainer, _is_nnx_module, check_like, check_optimizer
from .util import cache_get as _cache_get
from .util import member_permutation, new_cache

_SWEEP_OPTIONS = ("strategy", "devices", "progress", "checkpoint_dir", "chunk_size")
_members = new_cache()


def _take(data: Any, index: jax.Array) -> Any:
    return jax.tree.map(lambda x: x[index], data)


def _record(trainer, s, train_data, eval_data, metrics, has_eval, norm_mask) -> dict:
    """One record of one member, in evaluation mode, on the full data."""
    train = trainer.member_metrics(s, train_data, metrics)
    record = {"train_loss": train.pop("loss")}
    record.update({f"train_{k}": v for k, v in train.items()})
    if has_eval:
        val = trainer.member_metrics(s, eval_data, metrics)
        record["val_loss"] = val.pop("loss")
        record["gap"] = record["val_loss"] - record["train_loss"]
        for name, _ in metrics:
            record[f"val_{name}"] = val[name]
            record[f"gap_{name}"] = _gap(name, val[name], record[f"train_{name}"])
    record["weight_norm"] = _weight_norm(trainer, s, norm_mask)
    return {k: jnp.asarray(v) for k, v in record.items()}


def _gap(name: str, val: jax.Array, train: jax.Array) -> jax.Array:
    """The generalization gap, positive when validation is worse than training."""
    return val - train if (metric_mode(name) or "max") == "min" else train - val


def _weight_norm(trainer, s, norm_mask) -> jax.Array:
    return weight_norms(trainer.form.public_params(s.params, s.model_state), mask=norm_mask).total


def _member_fn(
    trainer,
    init_fn,
    loss_fn,
    optimizer,
    *,
    steps,
    batch_size,
    n_train,
    eval_every,
    metrics,
    has_eval,
    norm_mask,
    keep_params,
    monitor,
) -> Callable:
    """One member's training: ``(h, train, eval, seed) -> {"history", "finite", "params"}``."""
    n_blocks, rest = divmod(steps, eval_every)

    def member(h, train_data, eval_data, seed, start):
        s = trainer.member_init(h["hparams"], h["index"], start)
        nb = n_train // batch_size if batch_size else 1

        def step(carry, _):
            s, t, perm = carry
            if batch_size:
                # A fresh permutation per member and epoch (the member index is in the key);
                # t is the same for every member, so this cond stays a cond under vmap.
                epoch, pos = t // nb, t % nb
                perm = jax.lax.cond(
                    pos == 0,
                    lambda: member_permutation(seed, h["index"], epoch, n_train),
                    lambda: perm,
                )
                batch = _take(
                    train_data, jax.lax.dynamic_slice(perm, (pos * batch_size,), (batch_size,))
                )
            else:
                batch = train_data
            s, _ = trainer.member_step(h["hparams"], s, batch)
            return (s, t + 1, perm), None

        def evaluate(carry):
            s, t, perm = carry
            record = _record(trainer, s, train_data, eval_data, metrics, has_eval, norm_mask)
            if monitor is not None:
                s = trainer.member_record(s, record[monitor])
                record["active"] = s.active
            return (s, t, perm), record

        def block(carry, _):
            carry, _ = jax.lax.scan(step, carry, None, length=eval_every)
            return evaluate(carry)

        perm0 = jnp.arange(n_train, dtype=jnp.int32)
        carry = (s, jnp.zeros((), jnp.int32), perm0)
        carry, history = jax.lax.scan(block, carry, None, length=n_blocks)
        if rest:
            carry, _ = jax.lax.scan(step, carry, None, length=rest)
            carry, last = evaluate(carry)
            history = jax.tree.map(lambda a, b: jnp.concatenate([a, b[None]]), history, last)
        s = carry[0]
        params, model_state = trainer.member_final(s)
        finite = ~s.diverged & jnp.isfinite(history["train_loss"][-1])
        for leaf in jax.tree.leaves(params):
            finite = finite & jnp.all(jnp.isfinite(leaf))
        out = {"history": history, "finite": finite}
        if monitor is not None:
            out["best_step"] = s.best_step
            out["stopped"] = ~s.active
        if keep_params:
            out["params"] = trainer.form.public_params(params, model_state)
        return out

    member.__name__ = "train_sweep"  # names its compiled programs and progress bar
    # Traced without host callbacks (the members' hyperparameters were checked on the host):
    # JAX's persistent compilation cache then stores the program.
    return traced_callback_free(member)


def _identity(trainer, init_fn, loss_fn, optimizer, config: dict) -> str:
    """What defines train_sweep's member function, for the checkpoint fingerprint (the data,
    the seed and the hyperparameters are the sweep's arguments, fingerprinted with them)."""
    settings = (
        f"init_fn={_name(init_fn)}, loss_fn={_name(loss_fn)}, optimizer={_name(optimizer)}, "
        f"steps={config['steps']}, batch_size={config['batch_size']}, "
        f"eval_every={config['eval_every']}, metrics={[n for n, _ in config['metrics']]}, "
        f"eval={config['has_eval']}, norm_mask={config['norm_mask']!r}, "
        f"keep_params={config['keep_params']}"
    )
    if config["monitor"] is not None:
        settings += (
            f", monitor={config['monitor']}, mode={trainer.mode}, patience={trainer.patience}, "
            f"restore_best={trainer.restore_best}"
        )
    return f"jaxl2.train_sweep[{settings}]"


def train_sweep(
    init_fn: Callable[[jax.Array], Any],
    loss_fn: Callable[[Any, Any], jax.Array],
    train_data: Data,
    *,
    hparams: ArrayTree,
    optimizer: Callable[[Any], optax.GradientTransformation],
    steps: int,
    batch_size: int | None = None,
    eval_data: Data | None = None,
    metrics: Mapping[str, Callable[[Any, Any], jax.Array]] | None = None,
    eval_every: int | None = None,
    seed: int = 0,
    norm_mask: MaskLike = None,
    keep_params: bool = True,
    monitor: str | None = None,
    mode: Literal["min", "max"] | None = None,
    patience: int | None = None,
    restore_best: bool = False,
    **sweep_options: Any,
) -> SweepResult:
    """Trains K members, one per hyperparameter setting, in one compiled sweep, and records them.

    Each member k starts from ``init_fn(jax.random.key(seed))`` (the same start for all, so
    differences come from the hyperparameters alone) and takes ``steps`` steps of
    ``optimizer(h_k)`` on ``loss_fn``. With :func:`jaxl2.adamw` the update is
    ``w ← w − lr·(m̂/(√v̂ + ε) + λ_k·w)``; with :func:`jaxl2.adam_l2` it is Adam on the gradient
    of ``loss + (λ_k / 2)·‖w‖²``. Full batch by default; with ``batch_size``, each member draws its
    own random permutation of the training examples every epoch (the last incomplete batch of an
    epoch is dropped). Every ``eval_every`` steps (and at the end) it records, on the full
    data: ``train_loss``, ``val_loss``, ``gap = val_loss − train_loss``, each metric as
    ``train_<name>``, ``val_<name>`` and the generalization gap ``gap_<name>``, positive when
    validation is worse (``train_<name> − val_<name>`` for accuracy-like metrics,
    ``val_<name> − train_<name>`` for names with loss or error, see ``metric_mode``), and
    ``weight_norm`` (``√Σ w²`` over the leaves ``norm_mask`` selects, see
    :func:`jaxl2.weight_norms`). Records are taken in evaluation mode (dropout off, BatchNorm
    running statistics).

    It runs on :class:`jaxl2.SweepTrainer`, so it takes the same models: a Flax NNX factory
    ``lambda rngs: Net(rngs=rngs)`` with ``loss_fn(module, batch)`` (Dropout and BatchNorm per
    member), ``init_fn(key) -> params`` with ``loss_fn(params, batch)``, or
    ``init_fn(key) -> (params, model_state)`` with ``loss_fn(params, model_state, batch, key) ->
    (loss, model_state)`` (``key`` is None in evaluation). With array data the whole training is
    one compiled :func:`jaxl2.sweep`; with a generator, an iterable of batches or a
    zero-argument function returning one epoch's iterator, ``steps`` counts the batches drawn
    (a function or a re-iterable starts a new epoch when one runs out), ``train_loss`` is the
    mean training-mode loss of the batches since the last record, and ``train_<metric>`` and
    ``gap_<metric>`` are not recorded.

    Early stopping, per member: with ``monitor`` (default ``"val_loss"`` when ``patience`` or
    ``restore_best`` is given), a member that has not improved its best ``monitor`` record for
    ``patience`` records stops updating (``metrics["active"]`` turns False, ``.stopped``);
    ``.best_step`` gives the step of each member's best record and, with ``restore_best``,
    ``.params`` holds that record's parameters. A member whose loss or parameters turn
    non-finite is frozen before the bad update and marked (``.finite`` False); the others go
    on. Each member's ``optimizer(h_k)`` is first built on the host from its concrete values,
    so a bad value (a negative weight decay) raises at once naming the member; the compiled
    program then carries no run-time check callbacks (JAX's persistent compilation cache,
    which :func:`jaxl2.sweep` turns on, stores it, so a re-run script skips compilation), and
    a check that can only fail at run time (a schedule's value turning negative) makes that
    member non-finite instead.

    Args:
        init_fn: ``init_fn(key) -> params``, ``init_fn(key) -> (params, model_state)``, or a Flax
            NNX factory ``lambda rngs: Net(rngs=rngs)`` (see :class:`jaxl2.SweepTrainer`).
        loss_fn: ``loss_fn(params, batch) -> scalar``, where ``batch`` has the structure of
            ``train_data`` with fewer examples; ``loss_fn(module, batch)`` for NNX;
            ``loss_fn(params, model_state, batch, key) -> (loss, model_state)``.
        train_data: a pytree of arrays sharing their leading (example) axis, e.g. ``(X, y)``;
            or a generator, an iterable of such batches, or a zero-argument function returning one
            epoch's iterator.
        hparams: the K settings: an array ``(K,)`` or a pytree of them (see :func:`jaxl2.grid`).
        optimizer: ``optimizer(h) -> optax.GradientTransformation`` from one member's
            hyperparameters, e.g. ``lambda lam: jaxl2.adamw(1e-3, weight_decay=lam,
            mask="weights")``. ``h`` is traced: use it as an array (optax and jaxl2 transforms
            accept arrays).
        steps: optimizer steps per member.
        batch_size: minibatch size (None: full batch).
        eval_data: validation data like ``train_data`` (arrays with the same feature shapes), or
            None; with streamed ``train_data`` also a list of batches or a zero-argument function
            returning an iterator of them (averaged by example count).
        metrics: ``{name: metric(params, batch) -> scalar}``, e.g. accuracy (called like
            ``loss_fn``, in evaluation mode).
        eval_every: steps between records (default: ``steps // 10``, at least 1).
        seed: seeds the initialization and the shuffling.
        norm_mask: which leaves count in ``weight_norm`` (None: all; ``"weights"``: weight
            matrices only).
        keep_params: keep every member's final parameters in ``.params`` (a pure dict of the
            ``nnx.Param`` values for NNX models).
        monitor: the recorded metric early stopping reads, e.g. ``"val_loss"`` or
            ``"val_accuracy"``.
        mode: ``"min"`` or ``"max"`` for ``monitor``; default from an unambiguous name (losses
            min, accuracies max), else an error asks for it.
        patience: records without improvement before a member stops (None: never).
        restore_best: keep each member's parameters from its best record.
        **sweep_options: ``strategy``, ``devices``, ``progress``, ``checkpoint_dir`` as in
            :func:`jaxl2.sweep`, and ``chunk_size`` (members per compiled call: the ``batch_size``
            of :func:`jaxl2.sweep`, renamed since ``batch_size`` here is the minibatch size). With
            streamed ``train_data`` only ``devices`` applies (members sharded over them).

    Returns:
        A :class:`SweepResult` (``.hparams``, ``.metrics``, ``.steps``, ``.params``,
        ``.finite``, ``.best_step``, ``.stopped``, ``.info`` (how the sweep ran, a
        :class:`jaxl2.SweepInfo`), ``.best()``, ``.table()``, ``.plot()``, ``.to_dict()``).

    Raises:
        ValueError: non-positive ``steps``, ``batch_size`` or ``eval_every``; ``batch_size``
            larger than the training set; data whose leaves differ in length; ``eval_data``
            shaped unlike ``train_data``; ``patience`` without ``eval_data`` or ``monitor``; a
            ``monitor`` that is not recorded or whose direction needs ``mode``; a generator that
            runs out before ``steps``; bad ``hparams``.
        TypeError: an unknown keyword in ``sweep_options``; non-callable functions; an optax or
            jaxl2 factory passed uncalled (``optimizer=jaxl2.adamw``); a one-shot generator as
            ``eval_data``.
        SweepError: a member failed after others finished (see :func:`jaxl2.sweep`).

    Examples:
        >>> import jax, jax.numpy as jnp, optax, jaxl2
        >>> X = jnp.array([[1.0], [2.0], [3.0]]); y = jnp.array([2.0, 4.0, 6.0])
        >>> def loss(w, batch):
        ...     xb, yb = batch
        ...     return jnp.mean((xb @ w - yb) ** 2)
        >>> result = jaxl2.train_sweep(
        ...     lambda key: jnp.zeros(1), loss, (X, y), hparams=jnp.array([0.0, 1.0]),
        ...     optimizer=lambda lam: jaxl2.coupled(optax.sgd(0.05), lam), steps=100)
        >>> # SGD on mean((xw − y)²) + (lam/2)·w²: w = 2·mean(xy) / (2·mean(x²) + lam) = 2, 56/31
        >>> result.metrics["weight_norm"][:, -1].round(4)
        array([2.    , 1.8065], dtype=float32)
    """
    steps, eval_every, batch_size, metric_items, stream, n_train = _check_inputs(
        init_fn,
        loss_fn,
        optimizer,
        train_data,
        eval_data,
        steps,
        eval_every,
        batch_size,
        metrics,
        sweep_options,
    )
    monitor = _check_monitor(monitor, patience, restore_best, eval_data, metric_items, stream)
    h_host, K = _host_hparams(hparams)
    stopping: dict[str, Any] = dict(
        monitor=monitor, mode=mode, patience=patience, restore_best=restore_best
    )
    if stream:
        return _train_stream(
            init_fn,
            loss_fn,
            optimizer,
            train_data,
            eval_data,
            h_host,
            steps=steps,
            eval_every=eval_every,
            metrics=metric_items,
            seed=seed,
            norm_mask=norm_mask,
            keep_params=keep_params,
            stopping=stopping,
            sweep_options=sweep_options,
        )
    config = dict(
        steps=steps,
        batch_size=batch_size,
        n_train=n_train,
        eval_every=eval_every,
        metrics=metric_items,
        has_eval=eval_data is not None,
        norm_mask=norm_mask,
        keep_params=keep_params,
        monitor=monitor,
    )
    return _train_arrays(
        init_fn,
        loss_fn,
        optimizer,
        train_data,
        eval_data,
        h_host,
        K,
        config,
        seed=seed,
        stopping=stopping,
        sweep_options=sweep_options,
    )


def _check_inputs(
    init_fn,
    loss_fn,
    optimizer,
    train_data,
    eval_data,
    steps,
    eval_every,
    batch_size,
    metrics,
    sweep_options,
) -> tuple[int, int, int | None, tuple, bool, int | None]:
    """train_sweep's argument checks; returns (steps, eval_every, batch_size, metric items,
    whether train_data is a stream, the training set's length or None for a stream)."""
    n_train = None
    for fn_, name in ((init_fn, "init_fn"), (loss_fn, "loss_fn")):
        if not callable(fn_) and not (name == "init_fn" and _is_nnx_module(fn_)):
            raise TypeError(f"{name} must be callable, got {type(fn_).__name__}.")
    check_optimizer(optimizer)
    unknown = sorted(set(sweep_options) - set(_SWEEP_OPTIONS))
    if unknown:
        raise TypeError(
            f"train_sweep got unknown keyword argument(s) {unknown}; the sweep options are "
            f"{list(_SWEEP_OPTIONS)}."
        )
    steps = check_int(steps, "steps")
    if eval_every is None:
        eval_every = max(1, steps // 10)
    eval_every = min(check_int(eval_every, "eval_every"), steps)
    stream = _is_stream(train_data)
    if stream:
        _check_stream_eval(eval_data)
    else:
        n_train = leading_length(train_data, "train_data")
        if eval_data is not None:
            if _is_stream(eval_data):
                raise TypeError(
                    "eval_data is a generator or iterable of batches while train_data holds "
                    "arrays: give eval_data as arrays like train_data, e.g. (X_val, y_val)."
                )
            leading_length(eval_data, "eval_data")
            check_like(eval_data, train_data, "eval_data", "train_data")
    if batch_size is not None:
        batch_size = check_int(batch_size, "batch_size")
        if stream:
            raise ValueError(
                f"batch_size={batch_size} is for array train_data; a generator or iterable "
                "train_data gives its own batches (steps counts the batches drawn)."
            )
        if n_train is not None and batch_size > n_train:
            raise ValueError(
                f"batch_size={batch_size} is larger than the training set ({n_train} examples)."
            )
    metric_items = tuple(sorted((metrics or {}).items()))
    for name, metric in metric_items:
        if not callable(metric):
            raise TypeError(f"metrics[{name!r}] must be callable, got {type(metric).__name__}.")
    return steps, eval_every, batch_size, metric_items, stream, n_train


def _train_arrays(
    init_fn,
    loss_fn,
    optimizer,
    train_data,
    eval_data,
    h_host,
    K,
    config,
    *,
    seed,
    stopping,
    sweep_options,
) -> SweepResult:
    """train_sweep on array data: the whole training loop of a member, swept by run_sweep."""
    steps, eval_every = config["steps"], config["eval_every"]
    mode, patience, restore_best = (stopping[k] for k in ("mode", "patience", "restore_best"))

    def build() -> tuple[Callable, SweepTrainer]:
        trainer = SweepTrainer(init_fn, loss_fn, optimizer, h_host, seed=seed, **stopping)
        return _member_fn(trainer, init_fn, loss_fn, optimizer, **config), trainer

    key = (
        "train",
        init_fn,
        loss_fn,
        optimizer,
        tuple(config.items()),
        mode,
        patience,
        restore_best,
    )
    member, trainer = _cache_get(_members, key, build)
    if trainer.seed != seed:  # the same program; only the start differs
        trainer = SweepTrainer(init_fn, loss_fn, optimizer, h_host, seed=seed, **stopping)
    else:  # a cached trainer checked another call's hyperparameters
        trainer._check_members_on_host(h_host)
    options = dict(sweep_options)
    chunk = options.pop("chunk_size", None)
    members = {"hparams": h_host, "index": np.arange(K, dtype=np.int32)}
    out, info = run_sweep(
        member,
        members,
        (
            train_data,
            eval_data,
            np.asarray(seed, np.int32),
            # numeric arrays (PRNG keys as their raw data), possibly still being computed
            trainer._start_data(),
        ),
        name=_identity(trainer, init_fn, loss_fn, optimizer, config),
        batch_size=chunk,
        **options,
    )
    history = {k: np.asarray(v) for k, v in out["history"].items()}
    return _result(trainer, h_host, history, _record_steps(steps, eval_every), out, info)


def _result(
    trainer, h_host, history, record_steps, out, info: SweepInfo | None = None
) -> SweepResult:
    monitor = trainer.monitor
    if monitor is not None:
        history["active"] = history["active"].astype(bool)
    return SweepResult(
        hparams=h_host,
        metrics=history,
        steps=record_steps,
        params=out.get("params"),
        finite=np.asarray(out["finite"]),
        best_step=None if monitor is None else np.asarray(out["best_step"]),
        stopped=None if monitor is None else np.asarray(out["stopped"]),
        monitor=monitor,
        monitor_mode=trainer.mode,
        info=info,
        restored=monitor is not None and bool(trainer.restore_best),
    )


def _is_stream(data: Any) -> bool:
    """A generator, an iterator, an iterable of batches or a zero-argument callable (not a
    pytree of arrays)."""
    if data is None or isinstance(data, (tuple, dict, np.ndarray, jax.Array)):
        return False
    if callable(data) or isinstance(data, Iterator) or inspect.isgenerator(data):
        return True
    if isinstance(data, list):
        return not all(isinstance(x, (np.ndarray, jax.Array, np.generic)) for x in data)
    return isinstance(data, Iterable)


def _check_stream_eval(eval_data: Any) -> None:
    if eval_data is None:
        return
    if isinstance(eval_data, Iterator) or inspect.isgenerator(eval_data):
        raise TypeError(
            "eval_data is a generator (or iterator), which can be read only once but is read "
            "at every record: pass a zero-argument function returning one, e.g. "
            "eval_data=lambda: val_batches(), or a list of batches, or arrays."
        )


def _check_monitor(monitor, patience, restore_best, eval_data, metrics, stream) -> str | None:
    if monitor is None and (patience is not None or restore_best):
        if eval_data is None:
            raise ValueError(
                f"patience={patience!r} / restore_best={restore_best!r} need validation data to "
                "monitor: pass eval_data=..., or monitor='train_loss' to stop on the training "
                "loss."
            )
        monitor = "val_loss"
    if monitor is None:
        return None
    names = ["train_loss"] + (["val_loss"] if eval_data is not None else [])
    for name, _ in metrics:
        if not stream:
            names.append(f"train_{name}")
        if eval_data is not None:
            names.append(f"val_{name}")
    if monitor not in names:
        hint = " (it needs eval_data)" if monitor.startswith("val_") and eval_data is None else ""
        raise ValueError(f"monitor={monitor!r} is not recorded{hint}; recorded: {names}.")
    return monitor


_STREAM_OPTIONS = ("devices", "progress")


def _train_stream(
    init_fn,
    loss_fn,
    optimizer,
    train_data,
    eval_data,
    h_host,
    *,
    steps,
    eval_every,
    metrics,
    seed,
    norm_mask,
    keep_params,
    stopping,
    sweep_options,
) -> SweepResult:
    """train_sweep on a generator, an iterable or an epoch factory: SweepTrainer.step per batch."""
    other = sorted(
        k for k, v in sweep_options.items() if k not in _STREAM_OPTIONS and v is not None
    )
    if other:
        raise ValueError(
            f"{other} need array train_data (one compiled sweep); with a generator or iterable "
            f"train_data only {list(_STREAM_OPTIONS)} apply."
        )
    trainer = SweepTrainer(
        init_fn,
        loss_fn,
        optimizer,
        h_host,
        seed=seed,
        devices=sweep_options.get("devices"),
        **stopping,
    )
    state = trainer.init()
    batches = _Epochs(train_data)
    record_at = _record_steps(steps, eval_every)
    records: list[dict] = []
    total, count = 0.0, 0
    for t in range(1, steps + 1):
        state, losses = trainer.step(state, batches.next(t))
        total, count = total + losses, count + 1
        if t in record_at:
            record: dict[str, Any] = {"train_loss": total / count}
            total, count = 0.0, 0
            if eval_data is not None:
                val = trainer.evaluate(state, eval_data, dict(metrics))
                record["val_loss"] = val.pop("loss")
                record["gap"] = record["val_loss"] - record["train_loss"]
                record.update({f"val_{k}": v for k, v in val.items()})
            record["weight_norm"] = _norms(trainer, state, norm_mask)
            if trainer.monitor is not None:
                state = trainer.record(state, record)
                record["active"] = np.asarray(state.active)  # state is donated next step
            records.append(record)
    history = {k: np.stack([np.asarray(r[k]) for r in records], axis=1) for k in records[0]}
    final = jax.vmap(trainer.member_final)(state)
    out: dict[str, Any] = {
        "finite": ~np.asarray(state.diverged)
        & np.isfinite(history["train_loss"][:, -1])
        & _all_finite(final[0]),
        "best_step": state.best_step,
        "stopped": ~np.asarray(state.active),
    }
    if keep_params:
        out["params"] = jax.tree.map(
            np.asarray, jax.vmap(trainer.form.public_params)(final[0], final[1])
        )
    return _result(trainer, h_host, history, record_at, out)


def _norms(trainer, state, norm_mask) -> jax.Array:
    return jax.vmap(lambda s: _weight_norm(trainer, s, norm_mask))(state)


def _all_finite(tree: Any) -> np.ndarray:
    ok = None
    for leaf in jax.tree.leaves(tree):
        leaf = np.asarray(leaf)
        here = np.isfinite(leaf.reshape(leaf.shape[0], -1)).all(1)
        ok = here if ok is None else ok & here
    # Every tree passed here has leaves, so ok is an array.
    return ok  # pyright: ignore[reportReturnType]


class _Epochs:
    """Batches from a zero-argument callable (one epoch per call), a re-iterable (a list, a
    DataLoader) or a one-shot iterator (a generator)."""

    def __init__(self, data: Any) -> None:
        self.data = data
        self.once = isinstance(data, Iterator) or inspect.isgenerator(data)
        self.it = self._epoch()

    def _epoch(self) -> Iterator:
        source = self.data() if callable(self.data) else self.data
        if isinstance(source, (tuple, dict, np.ndarray, jax.Array)):
            raise TypeError(
                "train_data() must return an iterator of batches (one epoch), got a "
                f"{type(source).__name__}; for arrays pass them directly as train_data."
            )
        # An iterable (the data types that are not were rejected above).
        return iter(source)  # pyright: ignore[reportCallIssue, reportArgumentType]

    def next(self, t: int) -> Any:
        for attempt in range(2):
            try:
                return next(self.it)
            except StopIteration:
                if self.once or attempt:
                    raise ValueError(
                        f"train_data ran out after {t - 1} batches but steps asks for more: pass "
                        "a zero-argument function returning one epoch's iterator (e.g. "
                        "train_data=lambda: batches(X, y)) so that it can be restarted, or "
                        "lower steps."
                    ) from None
                self.it = self._epoch()
        raise AssertionError  # pragma: no cover


def _record_steps(steps: int, eval_every: int) -> np.ndarray:
    """The steps at which train_sweep records: every ``eval_every`` steps and the last one."""
    at = list(range(eval_every, steps + 1, eval_every))
    if at[-1] != steps:
        at.append(steps)
    return np.asarray(at)
