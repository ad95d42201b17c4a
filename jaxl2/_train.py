"""train_sweep: a whole training loop for K members at once, with its records over time."""

from __future__ import annotations

import collections
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ._checkpoint import _name
from ._checks import check_transformation
from ._diagnostics import weight_norms
from ._results import SweepResult, metric_mode
from ._sweep import _cache_get, _host_hparams, sweep

_SWEEP_OPTIONS = ("strategy", "devices", "progress", "checkpoint_dir", "chunk_size")
_members: collections.OrderedDict = collections.OrderedDict()


def _leading_length(data: Any, name: str) -> int:
    flat = jax.tree_util.tree_flatten_with_path(data)[0]
    if not flat:
        raise ValueError(f"{name} is empty: give an array or a pytree of arrays, e.g. (X, y).")
    lengths = {
        f"{name}{jax.tree_util.keystr(p)}": np.shape(x)[0] if np.ndim(x) else None for p, x in flat
    }
    if None in lengths.values() or len(set(lengths.values())) != 1:
        listing = ", ".join(f"{k}: {v}" for k, v in lengths.items())
        raise ValueError(
            f"{name} must be a pytree of arrays sharing their leading (example) axis, "
            f"got {listing}."
        )
    return next(iter(lengths.values()))


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def _take(data: Any, index: jax.Array) -> Any:
    return jax.tree.map(lambda x: x[index], data)


def _member_fn(
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
) -> Callable:
    """One member's training: ``(h, train, eval, seed) -> {"history", "finite", "params"}``."""
    n_blocks, rest = divmod(steps, eval_every)

    def evaluate(params, train_data, eval_data):
        record = {"train_loss": loss_fn(params, train_data)}
        for name, metric in metrics:
            record[f"train_{name}"] = metric(params, train_data)
        if has_eval:
            record["val_loss"] = loss_fn(params, eval_data)
            record["gap"] = record["val_loss"] - record["train_loss"]
            for name, metric in metrics:
                record[f"val_{name}"] = metric(params, eval_data)
                # The generalization gap, positive when validation is worse than training.
                gap = record[f"val_{name}"] - record[f"train_{name}"]
                record[f"gap_{name}"] = gap if metric_mode(name) == "min" else -gap
        record["weight_norm"] = weight_norms(params, mask=norm_mask).total
        return {k: jnp.asarray(v) for k, v in record.items()}

    def member(h, train_data, eval_data, seed):
        params = init_fn(jax.random.key(seed))
        tx = optimizer(h["hparams"])
        check_transformation(
            tx, "optimizer(h) must return", "lambda h: jaxl2.adamw(1e-3, weight_decay=h)"
        )
        shuffle_key = jax.random.fold_in(jax.random.key(seed + 1), h["index"])
        nb = n_train // batch_size if batch_size else 1

        def step(carry, _):
            params, opt_state, t, perm = carry
            if batch_size:
                # A fresh permutation per member and epoch (the member index is in the key);
                # t is the same for every member, so this cond stays a cond under vmap.
                epoch, pos = t // nb, t % nb
                perm = jax.lax.cond(
                    pos == 0,
                    lambda: jax.random.permutation(jax.random.fold_in(shuffle_key, epoch), n_train),
                    lambda: perm,
                )
                batch = _take(
                    train_data, jax.lax.dynamic_slice(perm, (pos * batch_size,), (batch_size,))
                )
            else:
                batch = train_data
            grads = jax.grad(loss_fn)(params, batch)
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state, t + 1, perm), None

        def block(carry, _):
            carry, _ = jax.lax.scan(step, carry, None, length=eval_every)
            return carry, evaluate(carry[0], train_data, eval_data)

        perm0 = jnp.arange(n_train, dtype=jnp.int32)
        carry = (params, tx.init(params), jnp.zeros((), jnp.int32), perm0)
        carry, history = jax.lax.scan(block, carry, None, length=n_blocks)
        if rest:
            carry, _ = jax.lax.scan(step, carry, None, length=rest)
            last = evaluate(carry[0], train_data, eval_data)
            history = jax.tree.map(lambda a, b: jnp.concatenate([a, b[None]]), history, last)
        params = carry[0]
        finite = jnp.isfinite(history["train_loss"][-1])
        for leaf in jax.tree.leaves(params):
            finite = finite & jnp.all(jnp.isfinite(leaf))
        out = {"history": history, "finite": finite}
        if keep_params:
            out["params"] = params
        return out

    # The checkpoint fingerprint names fn: name what defines this training, not just "member".
    member.__qualname__ = (
        f"train_sweep[init_fn={_name(init_fn)}, loss_fn={_name(loss_fn)}, "
        f"optimizer={_name(optimizer)}, steps={steps}, batch_size={batch_size}, "
        f"eval_every={eval_every}, metrics={[n for n, _ in metrics]}, eval={has_eval}, "
        f"norm_mask={norm_mask!r}, keep_params={keep_params}]"
    )
    member.__name__ = "train_sweep"
    return member


def train_sweep(
    init_fn: Callable[[jax.Array], Any],
    loss_fn: Callable[[Any, Any], jax.Array],
    train_data: Any,
    *,
    hparams: Any,
    optimizer: Callable[[Any], optax.GradientTransformation],
    steps: int,
    batch_size: int | None = None,
    eval_data: Any = None,
    metrics: Mapping[str, Callable[[Any, Any], jax.Array]] | None = None,
    eval_every: int | None = None,
    seed: int = 0,
    norm_mask: Any = None,
    keep_params: bool = True,
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
    :func:`jaxl2.weight_norms`).

    Args:
      init_fn: ``init_fn(key) -> params``.
      loss_fn: ``loss_fn(params, batch) -> scalar``, where ``batch`` has the structure of
        ``train_data`` with fewer examples.
      train_data: a pytree of arrays sharing their leading (example) axis, e.g. ``(X, y)``.
      hparams: the K settings: an array ``(K,)`` or a pytree of them (see :func:`jaxl2.grid`).
      optimizer: ``optimizer(h) -> optax.GradientTransformation`` from one member's
        hyperparameters, e.g. ``lambda lam: jaxl2.adamw(1e-3, weight_decay=lam,
        mask="weights")``. ``h`` is traced: use it as an array (optax and jaxl2 transforms
        accept arrays).
      steps: optimizer steps per member.
      batch_size: minibatch size (None: full batch).
      eval_data: validation data like ``train_data``, or None.
      metrics: ``{name: metric(params, batch) -> scalar}``, e.g. accuracy.
      eval_every: steps between records (default: ``steps // 10``, at least 1).
      seed: seeds the initialization and the shuffling.
      norm_mask: which leaves count in ``weight_norm`` (None: all; ``"weights"``: weight
        matrices only).
      keep_params: keep every member's final parameters in ``.params``.
      **sweep_options: ``strategy``, ``devices``, ``progress``, ``checkpoint_dir`` as in
        :func:`jaxl2.sweep`, and ``chunk_size`` (members per compiled call: the ``batch_size``
        of :func:`jaxl2.sweep`, renamed since ``batch_size`` here is the minibatch size).

    Returns:
      A :class:`SweepResult` (``.hparams``, ``.metrics``, ``.steps``, ``.params``,
      ``.finite``, ``.best()``, ``.table()``, ``.plot()``, ``.to_dict()``).

    Raises:
      ValueError: non-positive ``steps``, ``batch_size`` or ``eval_every``; ``batch_size``
        larger than the training set; data whose leaves differ in length; bad ``hparams``.
      TypeError: an unknown keyword in ``sweep_options``; non-callable functions.
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
    for fn_, name in ((init_fn, "init_fn"), (loss_fn, "loss_fn"), (optimizer, "optimizer")):
        if not callable(fn_):
            raise TypeError(f"{name} must be callable, got {type(fn_).__name__}.")
    unknown = sorted(set(sweep_options) - set(_SWEEP_OPTIONS))
    if unknown:
        raise TypeError(
            f"train_sweep got unknown keyword argument(s) {unknown}; the sweep options are "
            f"{list(_SWEEP_OPTIONS)}."
        )
    steps = _positive_int(steps, "steps")
    if eval_every is None:
        eval_every = max(1, steps // 10)
    eval_every = min(_positive_int(eval_every, "eval_every"), steps)
    n_train = _leading_length(train_data, "train_data")
    if eval_data is not None:
        _leading_length(eval_data, "eval_data")
    if batch_size is not None:
        batch_size = _positive_int(batch_size, "batch_size")
        if batch_size > n_train:
            raise ValueError(
                f"batch_size={batch_size} is larger than the training set ({n_train} examples)."
            )
    metric_items = tuple(sorted((metrics or {}).items()))
    for name, metric in metric_items:
        if not callable(metric):
            raise TypeError(f"metrics[{name!r}] must be callable, got {type(metric).__name__}.")
    h_host, K = _host_hparams(hparams)
    config = dict(
        steps=steps,
        batch_size=batch_size,
        n_train=n_train,
        eval_every=eval_every,
        metrics=metric_items,
        has_eval=eval_data is not None,
        norm_mask=norm_mask,
        keep_params=keep_params,
    )
    key = ("train", init_fn, loss_fn, optimizer, tuple(config.items()))
    member = _cache_get(_members, key, lambda: _member_fn(init_fn, loss_fn, optimizer, **config))
    options = dict(sweep_options)
    chunk = options.pop("chunk_size", None)
    members = {"hparams": h_host, "index": np.arange(K, dtype=np.int32)}
    out = sweep(
        member,
        members,
        train_data,
        eval_data,
        np.asarray(seed, np.int32),
        batch_size=chunk,
        **options,
    )
    history = {k: np.asarray(v) for k, v in out["history"].items()}
    return SweepResult(
        hparams=h_host,
        metrics=history,
        steps=_record_steps(steps, eval_every),
        params=out.get("params"),
        finite=np.asarray(out["finite"]),
    )


def _record_steps(steps: int, eval_every: int) -> np.ndarray:
    """The steps at which train_sweep records: every ``eval_every`` steps and the last one."""
    at = list(range(eval_every, steps + 1, eval_every))
    if at[-1] != steps:
        at.append(steps)
    return np.asarray(at)
