"""Early stopping and evolution inside one sweep: successive halving, Hyperband and
population-based training on the members of a :class:`jaxl2.SweepTrainer`."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_int
from .._typing import ArrayTree, Data, PathLike
from .checkpoint import _atomic_write, _name
from .trainer import SweepTrainer, TrainerState, _is_array, check_batch, resolve_mode
from .util import member_permutation

# ----------------------------------------------------------------------------- checks


def _check_trainer(trainer: Any) -> None:
    if not isinstance(trainer, SweepTrainer):
        raise TypeError(
            f"trainer must be a jaxl2.SweepTrainer, got {type(trainer).__name__}. Build one with "
            "jaxl2.SweepTrainer(model, loss_fn, optimizer, hparams)."
        )


def _check_monitor(monitor: Any, metrics: Mapping | None) -> str:
    """The key of ``trainer.evaluate``'s output that ``monitor`` names (``val_`` prefix
    optional)."""
    recorded = ["loss", *sorted(metrics or {})]
    if not isinstance(monitor, str):
        raise TypeError(f"monitor must be a metric name (str), got {monitor!r}.")
    name = monitor[4:] if monitor.startswith("val_") and monitor[4:] in recorded else monitor
    if name not in recorded:
        raise ValueError(
            f"monitor={monitor!r} is not recorded: evaluation records {recorded} (add it to "
            "metrics={name: fn})."
        )
    return name


def _check_eval(eval_data: Any) -> None:
    if eval_data is None:
        raise ValueError("eval_data is None: the members are ranked on validation data.")
    if isinstance(eval_data, map) or (hasattr(eval_data, "__next__") and not callable(eval_data)):
        raise TypeError(
            "eval_data is a generator or iterator, read at every rung: pass arrays, a list of "
            "batches or a zero-argument function returning an iterator."
        )


# ----------------------------------------------------------------------------- data


class _Data:
    """Training batches by step number: arrays (full batch, or minibatches from a seeded
    permutation per epoch, the same for every member), a list of batches, a zero-argument
    callable returning one epoch's iterator, or an iterator (drawn in order)."""

    def __init__(self, data: Any, batch_size: int | None, seed: int) -> None:
        self.seed = seed
        self.batch_size = batch_size
        self.arrays = not (callable(data) and not _is_array(data)) and not _is_stream_like(data)
        if self.arrays:
            self.n = check_batch(data, "data", "successive_halving")
            self.data = jax.tree.map(jnp.asarray, data)
            if batch_size is not None:
                batch_size = check_int(batch_size, "batch_size")
                if batch_size > self.n:
                    raise ValueError(
                        f"batch_size={batch_size} is larger than the training set "
                        f"({self.n} examples)."
                    )
                self.nb = self.n // batch_size
                self._take = jax.jit(lambda d, i: jax.tree.map(lambda x: x[i], d))
                self._epoch, self._perm, self._perm_dev = -1, None, None
        else:
            if batch_size is not None:
                raise ValueError(
                    f"batch_size={batch_size} is for array data; an iterable or callable data "
                    "gives its own batches."
                )
            self.source = data
            self._it, self._cursor = None, 0

    def get(self, t: int) -> Any:
        if self.arrays:
            if self.batch_size is None:
                return self.data
            bs = self.batch_size
            pos = t % self.nb
            if t // self.nb != self._epoch or self._perm_dev is None:
                self._perm_dev = jnp.asarray(self._perm_of(t // self.nb))
            return self._take(self.data, self._perm_dev[pos * bs : (pos + 1) * bs])
        if self._it is None or t < self._cursor:
            self._it, self._cursor = self._fresh(), 0
        while self._cursor < t:  # resuming: skip the batches already used
            self._next()
        batch = self._next()
        return batch

    def _perm_of(self, epoch: int) -> np.ndarray:
        """Epoch ``epoch``'s permutation of the examples (host; seeded by ``(seed, epoch)``)."""
        if epoch != self._epoch:
            rng = np.random.default_rng([self.seed, epoch])
            self._perm = rng.permutation(self.n).astype(np.int32)
            self._epoch, self._perm_dev = epoch, None
        return self._perm  # pyright: ignore[reportReturnType]

    def indices(self, t0: int, n: int, size: int) -> np.ndarray | None:
        """``(size, batch_size)`` example indices of steps ``t0 … t0 + n − 1`` (rows past
        ``n`` are 0, never used); None for full-batch data. Array data only."""
        if self.batch_size is None:
            return None
        bs = self.batch_size
        out = np.zeros((size, bs), np.int32)
        for j in range(n):
            epoch, pos = divmod(t0 + j, self.nb)
            out[j] = self._perm_of(epoch)[pos * bs : (pos + 1) * bs]
        return out

    def _fresh(self) -> Any:
        src = self.source
        # An iterable or a callable returning one (checked by the caller).
        return iter(src()) if callable(src) else iter(src)  # pyright: ignore[reportCallIssue, reportArgumentType]

    def _next(self) -> Any:
        try:
            # _fresh() has set _it before the first call.
            batch = next(self._it)  # pyright: ignore[reportArgumentType]
        except StopIteration:
            if not (callable(self.source) or isinstance(self.source, list)):
                raise ValueError(
                    "data ran out of batches: give a zero-argument function returning one "
                    "epoch's iterator (it is called again for each epoch) or a list."
                ) from None
            self._it = self._fresh()
            batch = next(self._it)
        self._cursor += 1
        return batch


def _is_stream_like(data: Any) -> bool:
    if isinstance(data, (tuple, dict, np.ndarray, jax.Array)):
        return False
    if isinstance(data, list):
        return not all(_is_array(x) for x in data)
    return hasattr(data, "__iter__") or hasattr(data, "__next__")


# ----------------------------------------------------------------------------- engine


def _take(tree: Any, index: Any) -> Any:
    return jax.tree.map(lambda x: x[index], tree)


# Steps per dispatch of the compiled loop: its index table has this many rows whatever the
# segment's length, so the loop compiles once per population size.
_CHUNK = 256


def _programs(trainer: SweepTrainer) -> tuple[Callable, Callable, Callable, dict, Callable]:
    """``(step, loop, init, traces, member_loop)``: one vmapped step; ``loop(h, s, data, idx,
    n)``, ``n`` steps in one compiled ``fori_loop`` on minibatches ``data[idx[i]]`` shared by
    the members (``idx`` None: the full batch every step); ``member_loop(h, s, data, index,
    seed, t0, n, batch_size=)``, steps ``t0 … t0 + n − 1`` in one ``fori_loop``, each row on
    its own minibatches (original member ``index[row]``'s permutations, as in
    :func:`jaxl2.train_sweep`); ``traces``: ``{population size: compilations}`` of all."""
    traces: dict[int, int] = {}
    vstep = jax.vmap(trainer.member_step, in_axes=(0, 0, None))
    vstep_own = jax.vmap(trainer.member_step, in_axes=(0, 0, 0))

    def count(s: TrainerState) -> None:
        k = int(s.step.shape[0])
        traces[k] = traces.get(k, 0) + 1

    def step(h, s, batch):
        count(s)
        return vstep(h, s, batch)

    def loop(h, s, data, idx, n):
        count(s)

        def body(i, s):
            batch = data if idx is None else jax.tree.map(lambda x: x[idx[i]], data)
            return vstep(h, s, batch)[0]

        return jax.lax.fori_loop(0, n, body, s)

    def member_loop(h, s, data, index, seed, t0, n, batch_size):
        count(s)
        n_train = int(jax.tree.leaves(data)[0].shape[0])
        nb = n_train // batch_size
        perms = jax.vmap(member_permutation, in_axes=(None, 0, None, None))

        def body(i, carry):
            s, perm = carry
            t = t0 + i
            epoch, pos = t // nb, t % nb
            # t is the same for every member: a cond, not a select, under vmap (as train_sweep)
            perm = jax.lax.cond(pos == 0, lambda: perms(seed, index, epoch, n_train), lambda: perm)
            rows = jax.lax.dynamic_slice_in_dim(perm, pos * batch_size, batch_size, axis=1)
            batch = jax.tree.map(lambda x: x[rows], data)
            return vstep_own(h, s, batch)[0], perm

        perm0 = perms(seed, index, t0 // nb, n_train)
        return jax.lax.fori_loop(0, n, body, (s, perm0))[0]

    init = jax.jit(jax.vmap(trainer.member_init, in_axes=(0, 0, None)))
    jit = jax.jit
    return (
        jit(step, donate_argnums=(1,)),
        jit(loop, donate_argnums=(1,)),
        init,
        traces,
        jit(member_loop, donate_argnums=(1,), static_argnames=("batch_size",)),
    )


class _Engine:
    """The compiled programs (one ``jit``, so one compilation per population size) and the
    data of one population run."""

    def __init__(self, trainer, data, eval_data, metrics, batch_size, seed, progress) -> None:
        self.trainer = trainer
        self.data = _Data(data, batch_size, seed)
        self.eval_data = eval_data
        self.metrics = dict(metrics or {})
        self.progress = progress
        self.ndev = 1 if trainer.mesh is None else int(trainer.mesh.devices.size)
        # Kept with the trainer's compiled programs: later calls on the same trainer reuse them.
        self.step, self._loop, self._init, self._all_traces, self._member_loop = trainer._program(
            "population", lambda: _programs(trainer)
        )
        self._traces0 = dict(self._all_traces)

    @property
    def traces(self) -> dict[int, int]:
        """``{population size: compilations of the step}`` during this run."""
        now = self._all_traces
        return {
            k: v - self._traces0.get(k, 0) for k, v in now.items() if v > self._traces0.get(k, 0)
        }

    def place(self, tree: Any) -> Any:
        return self.trainer._place(tree)

    def advance(
        self, h: Any, state: TrainerState, t0: int, t1: int, members: np.ndarray | None = None
    ) -> TrainerState:
        """Steps ``t0 … t1 − 1``: array data run in one compiled loop per ``_CHUNK`` steps (one
        dispatch, no Python between steps); other data one dispatch per step. With
        ``members`` (the original member of each row) and array minibatches, each row draws
        its member's own permutations, those of :func:`jaxl2.train_sweep`; else the rows
        share the batches."""
        if not self.data.arrays:
            for u in range(t0, t1):
                state, _ = self.step(h, state, self.data.get(u))
            return state
        if members is not None and self.data.batch_size is not None:
            index = self.place(jnp.asarray(self.rows(members), jnp.int32))
            seed = jnp.asarray(self.data.seed, jnp.int32)
            for c in range(t0, t1, _CHUNK):
                n = jnp.asarray(min(_CHUNK, t1 - c), jnp.int32)
                t = jnp.asarray(c, jnp.int32)
                state = self._member_loop(
                    h, state, self.data.data, index, seed, t, n, batch_size=self.data.batch_size
                )
            return state
        for c in range(t0, t1, _CHUNK):
            n = min(_CHUNK, t1 - c)
            idx = self.data.indices(c, n, _CHUNK)
            idx = None if idx is None else jnp.asarray(idx)
            state = self._loop(h, state, self.data.data, idx, jnp.asarray(n, jnp.int32))
        return state

    def rows(self, members: np.ndarray) -> np.ndarray:
        """``members`` padded (by repeating the first) to a multiple of the device count."""
        n = len(members)
        pad = -n % self.ndev
        return np.concatenate([members, np.repeat(members[:1], pad)]) if pad else members

    def init(self, members: np.ndarray) -> tuple[TrainerState, Any]:
        """The initial states of the original members ``members`` (their own RNG streams)."""
        rows = self.rows(members)
        h = self.place(_take(self.trainer.h, rows))
        state = self._init(h, self.place(jnp.asarray(rows, jnp.int32)), self.trainer.start)
        return self.mask(state, len(members)), h

    def mask(self, state: TrainerState, n: int) -> TrainerState:
        if state.active.shape[0] == n:
            return state
        real = jnp.arange(state.active.shape[0]) < n
        return state._replace(active=state.active & self.place(real))

    def evaluate(self, state: TrainerState) -> dict[str, jax.Array]:
        return self.trainer.evaluate(state, self.eval_data, self.metrics)

    def report(self, info: dict) -> None:
        if callable(self.progress):
            self.progress(info)
        elif self.progress:
            text = ", ".join(f"{k}={v}" for k, v in info.items() if np.ndim(v) == 0)
            print(f"[jaxl2] {text}", file=sys.stderr, flush=True)


def _scores(values: Any, diverged: Any, mode: str) -> np.ndarray:
    """Lower is better; non-finite values and diverged members score +inf (ranked last)."""
    v = np.asarray(values, np.float64)
    score = v if mode == "min" else -v
    bad = ~np.isfinite(score) | np.asarray(diverged, bool)
    return np.where(bad, np.inf, score)


def _rank(score: np.ndarray) -> np.ndarray:
    """Positions from best to worst (ties by position)."""
    return np.lexsort((np.arange(len(score)), score))


# ----------------------------------------------------------------------------- checkpoints


def _hparams_digest(h: Any) -> str:
    leaves = jax.tree.leaves(h)
    data = b"".join(np.ascontiguousarray(np.asarray(x)).tobytes() for x in leaves)
    return hashlib.sha256(data).hexdigest()[:16]


class _Store:
    """``state.npz`` + ``book.json`` of the last finished rung or interval, written atomically."""

    def __init__(self, path: Any, fingerprint: dict) -> None:
        self.path = None if path is None else Path(path)
        self.fingerprint = fingerprint
        self.writer = jax.process_index() == 0
        if self.path is None:
            return
        if self.path.exists() and not self.path.is_dir():
            raise ValueError(f"checkpoint_dir={str(path)!r} exists and is not a directory.")
        book = self.path / "book.json"
        if book.exists():
            theirs = json.loads(book.read_text()).get("fingerprint")
            if theirs != fingerprint:
                diff = sorted(k for k in fingerprint if fingerprint[k] != (theirs or {}).get(k))
                raise ValueError(
                    f"checkpoint_dir={str(path)!r} holds a different run (it differs in {diff}); "
                    "it was left untouched. Use another directory or delete that one."
                )
        elif self.path.exists() and any(self.path.iterdir()):
            raise ValueError(
                f"checkpoint_dir={str(path)!r} is not empty and holds no jaxl2 population run "
                "(book.json is missing); give an empty or new directory."
            )

    def load(self, template: Callable[[dict], Any]) -> tuple[dict, Any] | None:
        if self.path is None or not (self.path / "book.json").exists():
            return None
        book = json.loads((self.path / "book.json").read_text())
        like = template(book)
        leaves, treedef = jax.tree.flatten(like)
        with np.load(self.path / "state.npz", allow_pickle=False) as f:
            out = []
            for i, x in enumerate(leaves):
                arr = f[f"leaf_{i}"]
                if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
                    out.append(jax.random.wrap_key_data(jnp.asarray(arr)))
                else:
                    out.append(jnp.asarray(arr.view(x.dtype) if arr.dtype != x.dtype else arr))
        return book, jax.tree.unflatten(treedef, out)

    def save(self, book: dict, tree: Any) -> None:
        if self.path is None or not self.writer:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        arrays = {}
        for i, x in enumerate(jax.tree.leaves(tree)):
            if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
                x = jax.random.key_data(x)
            a = np.asarray(x)
            if a.dtype.isbuiltin != 1:
                a = a.view(f"u{a.dtype.itemsize}")
            arrays[f"leaf_{i}"] = a
        _atomic_write(self.path / "state.npz", lambda f: np.savez(f, **arrays))
        text = json.dumps({"fingerprint": self.fingerprint, **book}).encode()
        _atomic_write(self.path / "book.json", lambda f: f.write(text))


def _fingerprint(kind: str, trainer: SweepTrainer, **settings: Any) -> dict:
    out = {
        "kind": kind,
        "members": trainer.K,
        "hparams": _hparams_digest(trainer.h),
        "optimizer": _name(trainer.optimizer),
        "loss_fn": _name(trainer.form.loss_fn),
        "seed": trainer.seed,
    }
    out.update(
        {
            k: v if isinstance(v, (int, float, str, type(None))) else repr(v)
            for k, v in settings.items()
        }
    )
    return out


# ----------------------------------------------------------------------------- halving


@dataclasses.dataclass
class HalvingResult:
    """What :func:`successive_halving` and :func:`hyperband` return.

    Attributes:
        hparams: the trainer's K settings (host arrays).
        monitor: the ranked metric; mode: ``"min"`` or ``"max"``.
        stopped_step: ``(K,)`` the step at which each member was stopped (its last record;
            ``max_steps`` for the members that ran to the end).
        records: ``{name: (K,)}`` each member's last record (``loss`` and the metrics).
        rungs: per rung, ``{"step", "bracket", "members", "values", "kept"}`` (original member
            indices; ``values`` the monitored values of ``members``, in that order).
        best: the original index of the best member among those run to ``max_steps``.
        member_steps: the compute spent: the sum over steps of the population size.
        wall_time: seconds, including compilation.
        compiles: ``{population size: times the step was compiled}``.
        bracket: ``(K,)`` each member's Hyperband bracket (0 for successive halving).
    """

    hparams: ArrayTree
    monitor: str
    mode: str
    stopped_step: np.ndarray
    records: dict
    rungs: list
    best: int
    member_steps: int
    wall_time: float
    compiles: dict
    bracket: np.ndarray
    trainer: SweepTrainer = dataclasses.field(repr=False)
    finals: list = dataclasses.field(repr=False)  # (state, original index per row)

    def _row(self, k: int) -> tuple[TrainerState, int]:
        k = int(k)
        for state, members in self.finals:
            hit = np.flatnonzero(members == k)
            if hit.size:
                return state, int(hit[0])
        raise IndexError(
            f"member {k} was stopped at step {int(self.stopped_step[k])}; parameters are kept "
            "only for the members trained to max_steps."
        )

    def params(self, k: int | None = None) -> Any:
        """Member ``k``'s parameters (default: the best), for members run to ``max_steps``."""
        state, row = self._row(self.best if k is None else k)
        s = _take(state, row)
        params, model_state = self.trainer.member_final(s)
        return self.trainer.form.public_params(params, model_state)

    def model(self, k: int | None = None) -> Any:
        """Member ``k`` as an ``nnx.Module`` in eval mode (NNX models only)."""
        if not self.trainer.form.nnx:
            raise TypeError("model(k) is for NNX models; use params(k).")
        state, row = self._row(self.best if k is None else k)
        params, model_state = self.trainer.member_final(_take(state, row))
        return self.trainer.form._module(params, model_state, train=False)

    def survivors(self, rung: int) -> np.ndarray:
        """The original indices of the members kept after ``rung``."""
        return np.asarray(self.rungs[rung]["kept"])


def _rung_steps(min_steps: int, max_steps: int, eta: int) -> list[int]:
    steps, r = [], min_steps
    while r < max_steps:
        steps.append(r)
        r *= eta
    return [*steps, max_steps]


def _resume(
    engine: _Engine, store: _Store, members: np.ndarray, compact: bool, out: dict
) -> tuple[TrainerState, Any, np.ndarray, np.ndarray, int, int]:
    """``(state, h, alive, live, first rung, step)``: from the last rung ``store`` holds (its
    bookkeeping merged into ``out``), or a fresh start of ``members``."""
    tr = engine.trainer

    def like(book: dict) -> Any:
        rows = engine.rows(np.asarray(book["alive"]))
        return jax.eval_shape(
            engine._init, _take(tr.h, rows), jnp.zeros(len(rows), jnp.int32), tr.start
        )

    resumed = store.load(like)
    if resumed is None:
        alive = np.asarray(members)
        state, h = engine.init(alive)
        return state, h, alive, np.ones(len(alive), bool), 0, 0
    book, loaded = resumed
    alive = np.asarray(book["alive"], np.int64)
    out["member_steps"] += book["member_steps"]
    out["rungs"].extend(book["rungs"])
    for m, step in book["stopped"].items():
        out["stopped_step"][int(m)] = step
    for name, vals in book["records"].items():
        for m, v in vals.items():
            out["records"].setdefault(name, {})[int(m)] = v
    live = np.ones(len(alive), bool) if compact else np.asarray(book["live"], bool)
    h = engine.place(_take(tr.h, engine.rows(alive)))
    return engine.place(loaded), h, alive, live, book["rung"] + 1, book["t"]


def _record(out: dict, t: int, names: np.ndarray, host: dict, monitor: str, **rung: Any) -> None:
    """Each of ``names`` stopped at ``t`` with its records ``host`` (for now), and the rung."""
    for j, m in enumerate(names):
        out["stopped_step"][int(m)] = t
        for k, v in host.items():
            out["records"].setdefault(k, {})[int(m)] = float(v[j])
    out["rungs"].append(
        {
            "step": t,
            "bracket": rung["bracket"],
            "members": [int(m) for m in names],
            "values": [float(v) for v in host[monitor]],
            "kept": [int(m) for m in rung["kept"]],
        }
    )


def _cut(engine, state, h, alive, live, rows, keep, compact):  # noqa: ANN001, ANN202
    """``(state, h, alive)`` keeping positions ``keep`` of the evaluated ``rows``: gathered
    into a smaller population (``compact``) or masked (``live`` updated in place)."""
    if compact:
        pos = np.sort(keep)
        alive = alive[pos]
        state = engine.mask(engine.place(_take(state, jnp.asarray(engine.rows(pos)))), len(pos))
        return state, engine.place(_take(engine.trainer.h, engine.rows(alive))), alive
    live[:] = False
    live[rows[keep]] = True
    return state._replace(active=state.active & engine.place(jnp.asarray(live))), h, alive


def _book(out, rung, t, alive, live, members, bracket, compact):  # noqa: ANN001, ANN202
    """The bookkeeping a checkpoint after ``rung`` holds (this bracket's part of ``out``)."""
    return {
        "rung": rung,
        "t": t,
        "alive": [int(m) for m in alive],
        "member_steps": out["member_steps"] - out.get("_base_steps", 0),
        "rungs": [r for r in out["rungs"] if r["bracket"] == bracket],
        "live": None if compact else [bool(x) for x in live],
        "stopped": {str(m): out["stopped_step"][m] for m in members},
        "records": {
            k: {str(m): v[m] for m in members if m in v} for k, v in out["records"].items()
        },
    }


def _halving(
    engine: _Engine,
    members: np.ndarray,
    rungs: list[int],
    *,
    eta: int,
    monitor: str,
    mode: str,
    compact: bool,
    store: _Store,
    bracket: int,
    out: dict,
) -> tuple[TrainerState, np.ndarray]:
    """Successive halving of ``members`` with records at ``rungs``; fills ``out``."""
    state, h, alive, live, start_rung, t = _resume(engine, store, members, compact, out)
    for i in range(start_rung, len(rungs)):
        n_rows = int(state.active.shape[0])
        state = engine.advance(h, state, t, rungs[i], alive)
        out["member_steps"] += (rungs[i] - t) * (n_rows if not compact else len(alive))
        t = rungs[i]
        values = engine.evaluate(state)
        rows = np.arange(len(alive)) if compact else np.flatnonzero(live)
        host = {k: np.asarray(v)[rows] for k, v in values.items()}
        names = alive[rows]
        score = _scores(host[monitor], np.asarray(state.diverged)[rows], mode)
        order = _rank(score)
        last = i == len(rungs) - 1
        n_keep = len(rows) if last else max(1, len(rows) // eta)
        _record(out, t, names, host, monitor, bracket=bracket, kept=names[order[:n_keep]])
        if not last:
            state, h, alive = _cut(engine, state, h, alive, live, rows, order[:n_keep], compact)
        store.save(_book(out, i, t, alive, live, members, bracket, compact), state)
        engine.report(
            {
                "bracket": bracket,
                "rung": i,
                "step": t,
                "members": len(names),
                "kept": n_keep,
                "best": float(np.min(score)) if mode == "min" else float(-np.min(score)),
            }
        )
    return state, alive


def _finish(engine, out, hparams, monitor, mode, max_steps, started, brackets, finals):
    K = engine.trainer.K
    stopped = np.asarray(out["stopped_step"], np.int64)
    records = {
        k: np.array([v.get(m, np.nan) for m in range(K)], np.float64)
        for k, v in out["records"].items()
    }
    finished = np.flatnonzero(stopped == max_steps)
    score = _scores(records[monitor][finished], np.zeros(len(finished), bool), mode)
    best = int(finished[_rank(score)[0]])
    return HalvingResult(
        hparams=hparams,
        monitor=monitor,
        mode=mode,
        stopped_step=stopped,
        records=records,
        rungs=out["rungs"],
        best=best,
        member_steps=int(out["member_steps"]),
        wall_time=time.perf_counter() - started,
        compiles=dict(engine.traces),
        bracket=brackets,
        trainer=engine.trainer,
        finals=finals,
    )


def _setup(
    trainer, monitor, mode, metrics, eta, min_steps, max_steps, eval_data, batch_size, seed
) -> dict[str, Any]:
    """The checked settings of a halving run, as its checkpoint fingerprint records them."""
    _check_trainer(trainer)
    name = _check_monitor(monitor, metrics)
    min_steps, max_steps = check_int(min_steps, "min_steps"), check_int(max_steps, "max_steps")
    if min_steps >= max_steps:
        raise ValueError(
            f"min_steps={min_steps} must be smaller than max_steps={max_steps} (the first rung "
            "comes before the end)."
        )
    _check_eval(eval_data)
    seed = trainer.seed if seed is None else check_int(seed, "seed", None)
    return dict(
        monitor=name,
        mode=resolve_mode(name, mode),
        min_steps=min_steps,
        max_steps=max_steps,
        eta=check_int(eta, "eta", 2, hint=" (keep the best 1/eta)"),
        batch_size=batch_size,
        data_seed=seed,
    )


def _settings(run: dict) -> tuple:
    """``(monitor, mode, eta, min_steps, max_steps)`` of the checked settings ``_setup`` made."""
    return run["monitor"], run["mode"], run["eta"], run["min_steps"], run["max_steps"]


def _start(trainer, data, eval_data, metrics, batch_size, seed, progress):  # noqa: ANN001, ANN202
    """``(start time, engine, out)`` for a halving run: the clock, the engine, empty records."""
    started = time.perf_counter()
    engine = _Engine(trainer, data, eval_data, metrics, batch_size, seed, progress)
    out = {"member_steps": 0, "rungs": [], "stopped_step": [0] * trainer.K, "records": {}}
    return started, engine, out


def _bracket(engine, members, rungs, directory, fingerprint, *, compact, bracket, out):
    """Successive halving of ``members`` at ``rungs``, checkpointed under ``directory``."""
    return _halving(
        engine,
        members,
        rungs,
        eta=fingerprint["eta"],
        monitor=fingerprint["monitor"],
        mode=fingerprint["mode"],
        compact=compact,
        store=_Store(directory, fingerprint),
        bracket=bracket,
        out=out,
    )


def successive_halving(
    trainer: SweepTrainer,
    data: Data,
    eval_data: Data | None,
    *,
    monitor: str,
    mode: str | None = None,
    min_steps: int,
    max_steps: int,
    eta: int = 3,
    metrics: Mapping[str, Callable] | None = None,
    batch_size: int | None = None,
    seed: int | None = None,
    compact: bool = True,
    checkpoint_dir: PathLike | None = None,
    progress: bool | Callable[[dict], None] = False,
) -> HalvingResult:
    r"""Successive halving (Jamieson & Talwalkar 2016) of a :class:`SweepTrainer`'s members.

    All K members train together (one compiled step; with array ``data`` the steps between
    two rungs run as one compiled loop, no Python between steps). At the
    rungs ``r_i = min_steps · eta^i < max_steps`` every member still running is evaluated on
    ``eval_data`` (``trainer.evaluate``, evaluation mode); the best ``⌊n/eta⌋`` (at least one)
    by ``monitor`` continue, the others stop and keep their last record. The survivors reach
    ``max_steps``. With ``compact=True`` the survivors' states (parameters, model state,
    optimizer state, RNG keys) and hyperparameters are gathered into a smaller population,
    so later rungs cost ``n_i`` member-steps per step, not K; the step compiles once per
    population size. ``compact=False`` keeps all K rows and freezes the stopped ones
    (same numbers, full cost). A diverged member (non-finite loss, parameters or monitored
    value) is ranked last.

    A member trained to ``max_steps`` follows exactly the trajectory it has in
    ``jaxl2.train_sweep(..., seed=seed)`` with the same model, optimizer and hyperparameters
    (the trainer's initialization and RNG streams, with ``trainer.seed == seed``; the same
    per-member minibatch order), so its final record is the full sweep's and ``best`` is
    the member the full sweep would pick among the survivors (up to float rounding, which
    a long nonconvex training can amplify: two programs batch the same arithmetic
    differently).

    Args:
        trainer: the population (its hparams are the K candidates).
        data: training data: a pytree of arrays (full batch, or minibatches of ``batch_size``,
            each member drawing its own permutation of the examples every epoch, exactly as
            :func:`jaxl2.train_sweep` does; the last incomplete batch is dropped), a list of
            batches, or a zero-argument function returning one epoch's iterator (those
            batches are shared by the members).
        eval_data: validation data as in :meth:`SweepTrainer.evaluate`.
        monitor: ``"loss"`` or a key of ``metrics`` (a ``val_`` prefix is accepted).
        mode: ``"min"`` or ``"max"`` (default from an unambiguous name).
        min_steps: the first rung; max_steps: the last (``min_steps < max_steps``).
        eta: keep the best ``1/eta`` at each rung (an integer >= 2; K >= eta).
        metrics: ``{name: metric}`` for :meth:`SweepTrainer.evaluate`.
        batch_size: minibatch size for array ``data`` (None: full batch).
        seed: seeds the minibatch permutations (default: ``trainer.seed``, which seeds the
            initialization, so the run matches ``train_sweep(..., seed=trainer.seed)``).
        compact: gather the survivors into a smaller population (else mask them).
        checkpoint_dir: saves the state and bookkeeping after every rung; a rerun resumes
            from the last finished rung (exactly, for array data and callables).
        progress: True prints one line per rung to stderr; a callable receives a dict.

    Returns:
        A :class:`HalvingResult`.

    Raises:
        ValueError: ``eta < 2``, ``min_steps >= max_steps``, ``K < eta``, a ``monitor`` that is
            not recorded, a checkpoint directory holding another run.
        TypeError: a trainer that is not a :class:`SweepTrainer`.

    Examples:
        >>> import jax.numpy as jnp, numpy as np, optax, jaxl2
        >>> X = np.linspace(-1, 1, 8, dtype=np.float32)[:, None]; y = 2 * X[:, 0]
        >>> def loss(w, batch):
        ...     xb, yb = batch
        ...     return jnp.mean((xb @ w - yb) ** 2)
        >>> trainer = jaxl2.SweepTrainer(lambda key: jnp.zeros(1), loss,
        ...     lambda h: optax.sgd(h), jnp.array([0.01, 0.03, 0.1, 0.3, 0.9, 3.0]))
        >>> res = jaxl2.successive_halving(trainer, (X, y), (X, y), monitor="loss",
        ...     min_steps=2, max_steps=18, eta=3)
        >>> [r["kept"] for r in res.rungs], res.best, res.member_steps  # 6·2 + 2·4 + 1·12
        ([[4, 3], [4], [4]], 4, 32)

    References:
        Jamieson & Talwalkar, "Non-stochastic best arm identification and hyperparameter
        optimization", AISTATS 2016; Li et al., "Hyperband", JMLR 2018.
    """
    run = _setup(
        trainer, monitor, mode, metrics, eta, min_steps, max_steps, eval_data, batch_size, seed
    )
    name, mode, eta, min_steps, max_steps = _settings(run)
    seed = run["data_seed"]
    if trainer.K < eta:
        raise ValueError(
            f"the trainer has K={trainer.K} members, fewer than eta={eta}: halving keeps "
            f"1/eta of them; give K >= eta or a smaller eta."
        )
    started, engine, out = _start(trainer, data, eval_data, metrics, batch_size, seed, progress)
    state, alive = _bracket(
        engine,
        np.arange(trainer.K),
        _rung_steps(min_steps, max_steps, eta),
        checkpoint_dir,
        _fingerprint("successive_halving", trainer, **run, compact=compact),
        compact=compact,
        bracket=0,
        out=out,
    )
    finals = [(state, alive if compact else np.arange(trainer.K))]
    return _finish(
        engine,
        out,
        trainer.h,
        name,
        mode,
        max_steps,
        started,
        np.zeros(trainer.K, np.int64),
        finals,
    )


def hyperband(
    trainer: SweepTrainer,
    data: Data,
    eval_data: Data | None,
    *,
    monitor: str,
    mode: str | None = None,
    max_steps: int,
    min_steps: int = 1,
    eta: int = 3,
    metrics: Mapping[str, Callable] | None = None,
    batch_size: int | None = None,
    seed: int | None = None,
    checkpoint_dir: PathLike | None = None,
    progress: bool | Callable[[dict], None] = False,
) -> HalvingResult:
    r"""Hyperband (Li et al. 2018): successive halving in brackets that trade the number of
    members against the steps each gets before the first cut.

    With ``s_max = ⌊log_eta(max_steps / min_steps)⌋``, bracket ``s = s_max, …, 0`` runs
    successive halving from ``r_s = ⌊max_steps · eta^(−s)⌋`` steps with
    ``n_s ∝ ⌈(s_max + 1) / (s + 1) · eta^s⌉`` members (bracket 0 trains its members to the end
    without cuts). The trainer's K settings are dealt to the brackets in those proportions
    (at least one each) after a permutation seeded by ``seed``; each bracket is a compacted
    population of its own. ``best`` is the best member trained to ``max_steps``.

    Args:
        trainer, data, eval_data, monitor, mode, eta, metrics, batch_size, seed, progress:
            as in :func:`successive_halving` (a member trained to ``max_steps`` follows its
            ``train_sweep(..., seed=seed)`` trajectory).
        max_steps: the most steps a member gets (Hyperband's R).
        min_steps: the fewest steps before a cut (R·eta^−s_max; must be < max_steps).
        checkpoint_dir: one subdirectory per bracket; a rerun resumes.

    Returns:
        A :class:`HalvingResult` (``bracket`` gives each member's bracket ``s``).

    Raises:
        ValueError: as :func:`successive_halving`, and K smaller than the number of brackets.

    Examples:
        >>> import jax.numpy as jnp, numpy as np, optax, jaxl2
        >>> X = np.linspace(-1, 1, 8, dtype=np.float32)[:, None]; y = 2 * X[:, 0]
        >>> def loss(w, batch):
        ...     xb, yb = batch
        ...     return jnp.mean((xb @ w - yb) ** 2)
        >>> lrs = jnp.geomspace(0.01, 3.0, 12)
        >>> init = lambda key: jnp.zeros(1)
        >>> trainer = jaxl2.SweepTrainer(init, loss, lambda h: optax.sgd(h), lrs)
        >>> res = jaxl2.hyperband(trainer, (X, y), (X, y), monitor="loss", max_steps=9, eta=3)
        >>> sorted(set(res.bracket.tolist())), round(float(lrs[res.best]), 3)
        ([0, 1, 2], 1.063)

    References:
        Li, Jamieson, DeSalvo, Rostamizadeh & Talwalkar, "Hyperband: a novel bandit-based
        approach to hyperparameter optimization", JMLR 18 (2018).
    """
    run = _setup(
        trainer, monitor, mode, metrics, eta, min_steps, max_steps, eval_data, batch_size, seed
    )
    name, mode, eta, min_steps, max_steps = _settings(run)
    seed = run["data_seed"]
    s_max = int(math.floor(math.log(max_steps / min_steps) / math.log(eta) + 1e-9))
    n_paper = np.array(
        [math.ceil((s_max + 1) / (s + 1) * eta**s) for s in range(s_max, -1, -1)], np.float64
    )
    K = trainer.K
    if K < len(n_paper):
        raise ValueError(
            f"the trainer has K={K} members, fewer than the {len(n_paper)} Hyperband brackets "
            f"for max_steps={max_steps}, min_steps={min_steps}, eta={eta}."
        )
    sizes = np.maximum(1, np.floor(n_paper / n_paper.sum() * K)).astype(int)
    while sizes.sum() > K:
        sizes[np.argmax(sizes)] -= 1
    for i in np.argsort(-(n_paper / n_paper.sum() * K - sizes), kind="stable"):
        if sizes.sum() == K:
            break
        sizes[i] += 1
    perm = np.random.default_rng(seed).permutation(K)
    started, engine, out = _start(trainer, data, eval_data, metrics, batch_size, seed, progress)
    brackets = np.zeros(K, np.int64)
    finals, first = [], 0
    for s, n in zip(range(s_max, -1, -1), sizes, strict=True):
        members = np.sort(perm[first : first + n])
        first += n
        brackets[members] = s
        r = max(1, int(max_steps * float(eta) ** -s))
        rungs = _rung_steps(r, max_steps, eta) if r < max_steps else [max_steps]
        sub = None if checkpoint_dir is None else Path(checkpoint_dir) / f"bracket-{s}"
        out["_base_steps"] = out["member_steps"]
        state, alive = _bracket(
            engine,
            members,
            rungs,
            sub,
            _fingerprint("hyperband", trainer, **run, bracket=s),
            compact=True,
            bracket=s,
            out=out,
        )
        finals.append((state, alive))
    out.pop("_base_steps")
    return _finish(engine, out, trainer.h, name, mode, max_steps, started, brackets, finals)


# ----------------------------------------------------------------------------- PBT


@dataclasses.dataclass
class PBTResult:
    """What :func:`population_based_training` returns.

    Attributes:
        boundaries: ``(T + 1,)`` the steps from which each row of ``hparams_history`` is used
            (0, interval, 2·interval, …).
        hparams_history: the hparams pytree with leaves ``(T + 1, K, …)``: member k's setting
            from ``boundaries[t]`` on.
        lineage: ``(T, K)`` at boundary ``t + 1``, the member whose parameters, optimizer state
            and hyperparameters member k took (k itself when it kept its own).
        values: ``(T + 1, K)`` the monitored value at each exploit step and at the end.
        records: ``{name: (K,)}`` the final evaluation.
        best: the index of the best member at the end.
        member_steps, wall_time: the compute (K · steps) and seconds.
        origin: ``(K,)`` the original member each final member descends from.
    """

    boundaries: np.ndarray
    hparams_history: ArrayTree
    lineage: np.ndarray
    values: np.ndarray
    records: dict
    best: int
    monitor: str
    mode: str
    member_steps: int
    wall_time: float
    trainer: SweepTrainer = dataclasses.field(repr=False)
    state: TrainerState = dataclasses.field(repr=False)
    engine: Any = dataclasses.field(repr=False)
    steps: int = 0

    def ancestry(self, k: int | None = None) -> np.ndarray:
        """``(T + 1,)`` the member whose hyperparameters member ``k`` (default: the best)
        inherited during each interval."""
        k = self.best if k is None else int(k)
        chain = [k]
        for t in range(len(self.lineage) - 1, -1, -1):
            chain.append(int(self.lineage[t, chain[-1]]))
        return np.asarray(chain[::-1])

    @property
    def origin(self) -> np.ndarray:
        """``(K,)`` the original member each final member descends from."""
        return np.array([self.ancestry(k)[0] for k in range(self.lineage.shape[1])])

    def schedule(self, k: int | None = None) -> tuple[np.ndarray, Any]:
        """``(boundaries, hparams)``: member ``k``'s (default: the best) hyperparameters over
        time along its ancestry, ``hparams`` leaves of shape ``(T + 1, …)``: the setting
        from ``boundaries[t]`` on."""
        chain = self.ancestry(k)
        t = np.arange(len(chain))
        return self.boundaries, jax.tree.map(
            lambda x: np.asarray(x)[t, chain], self.hparams_history
        )

    def schedule_fn(self, k: int | None = None) -> Callable[[Any], Any]:
        """Member ``k``'s schedule as a function of the step (traceable; piecewise constant),
        e.g. ``optax.sgd(lambda t: sched(t)["lr"])`` or ``sched(t)`` for an array hparam."""
        boundaries, values = self.schedule(k)
        b = jnp.asarray(boundaries)
        vals = jax.tree.map(jnp.asarray, values)

        def at(step: Any) -> Any:
            i = jnp.clip(jnp.searchsorted(b, step, side="right") - 1, 0, len(boundaries) - 1)
            return jax.tree.map(lambda v: v[i], vals)

        return at

    def replay(self, k: int | None = None) -> dict[str, float]:
        """Trains one fresh member (from member ``k``'s origin) on the same batches with
        ``k``'s schedule as a fixed schedule, no exploitation; returns its final evaluation
        ``{name: float}``. For a model without randomness this reproduces member k."""
        chain = self.ancestry(k)
        _, values = self.schedule(k)
        engine = self.engine
        state, _ = engine.init(np.asarray([chain[0]]))
        rows = engine.rows(np.asarray([chain[0]]))
        for t in range(self.steps):
            seg = int(np.searchsorted(self.boundaries, t, side="right") - 1)
            h = jax.tree.map(lambda v, i=seg: np.repeat(v[i][None], len(rows), 0), values)
            h = engine.place(jax.tree.map(jnp.asarray, h))
            state, _ = engine.step(h, state, engine.data.get(t))
        return {n: float(np.asarray(v)[0]) for n, v in engine.evaluate(state).items()}

    def params(self, k: int | None = None) -> Any:
        """Member ``k``'s (default: the best) final parameters."""
        s = _take(self.state, self.best if k is None else int(k))
        params, model_state = self.trainer.member_final(s)
        return self.trainer.form.public_params(params, model_state)


def _exploit_fn(trainer, quantile, perturb, resample_probability):
    lo, hi = (float(p) for p in perturb)

    def exploit(state, h, h0, score, key):
        K = score.shape[0]
        n_q = max(1, int(quantile * K))
        order = jnp.argsort(score, stable=True)
        top, bottom = order[:n_q], order[K - n_q :]
        k_pick, k_dir, k_res, k_idx = jax.random.split(key, 4)
        src_b = top[jax.random.randint(k_pick, (n_q,), 0, n_q)]
        ok = jnp.isfinite(score[src_b])  # never copy a diverged member
        src = jnp.arange(K).at[bottom].set(jnp.where(ok, src_b, bottom))
        copied = src != jnp.arange(K)

        def move(path, x):
            if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
                return x  # each member keeps its own random stream
            return x[src]

        new = jax.tree_util.tree_map_with_path(move, state)
        h_leaves, treedef = jax.tree.flatten(h)
        h0_leaves = jax.tree.leaves(h0)
        out = []
        for i, (x, x0) in enumerate(zip(h_leaves, h0_leaves, strict=True)):
            moved = x[src]
            if jnp.issubdtype(x.dtype, jnp.inexact):
                kd, kr, ki = (jax.random.fold_in(k, i) for k in (k_dir, k_res, k_idx))
                shape = (K,) + (1,) * (x.ndim - 1)
                up = jax.random.bernoulli(kd, 0.5, shape)
                factor = jnp.where(up, jnp.asarray(hi, x.dtype), jnp.asarray(lo, x.dtype))
                resample = jax.random.bernoulli(kr, resample_probability, shape)
                drawn = x0[jax.random.randint(ki, (K,), 0, x0.shape[0])]
                moved = jnp.where(resample, drawn, moved * factor)
            mask = copied.reshape((K,) + (1,) * (x.ndim - 1))
            out.append(jnp.where(mask, moved, x))
        return new, jax.tree.unflatten(treedef, out), src

    return jax.jit(exploit, donate_argnums=(0,))


def _check_pbt(trainer, steps, interval, quantile, perturb, resample_probability):  # noqa: ANN001, ANN202
    """``(steps, interval)`` checked, with PBT's other settings and the population size."""
    steps = check_int(steps, "steps")
    interval = check_int(interval, "interval")
    if interval >= steps:
        raise ValueError(f"interval={interval} must be smaller than steps={steps}.")
    if (
        not isinstance(quantile, (float, int))
        or isinstance(quantile, bool)
        or not (0 < quantile <= 0.5)
    ):
        raise ValueError(f"quantile must be in (0, 0.5], got {quantile!r}.")
    if (
        not isinstance(perturb, (tuple, list))
        or len(perturb) != 2
        or not all(isinstance(p, (int, float)) and p > 0 for p in perturb)
    ):
        raise ValueError(f"perturb must be two positive factors, got {perturb!r}.")
    if not isinstance(resample_probability, (int, float)) or not (0 <= resample_probability <= 1):
        raise ValueError(f"resample_probability must be in [0, 1], got {resample_probability!r}.")
    if trainer.K < 2:
        raise ValueError(f"the trainer has K={trainer.K} member; PBT needs at least 2.")
    if trainer.mesh is not None and trainer.K % int(trainer.mesh.devices.size):
        raise ValueError("devices: K must be a multiple of the device count.")
    return steps, interval


def _pbt_resume(engine: _Engine, store: _Store) -> tuple:
    """``(state, h, step, history, lineage, values)``: from the last interval ``store`` holds,
    or a fresh start."""
    tr = engine.trainer
    resumed = store.load(
        lambda book: (
            jax.eval_shape(engine._init, tr.h, jnp.zeros(tr.K, jnp.int32), tr.start),
            tr.h,
        )
    )
    if resumed is None:
        state, h = engine.init(np.arange(tr.K))
        return state, h, 0, [jax.tree.map(np.asarray, tr.h)], [], []
    book, (loaded, h_loaded) = resumed
    _, treedef = jax.tree.flatten(tr.h)
    history = [
        jax.tree.unflatten(treedef, [np.asarray(x) for x in leaves]) for leaves in book["history"]
    ]
    lineage = [np.asarray(x) for x in book["lineage"]]
    values_log = [np.asarray(x) for x in book["values"]]
    return engine.place(loaded), engine.place(h_loaded), book["t"], history, lineage, values_log


def _pbt_book(t: int, history: list, lineage: list, values_log: list) -> dict:
    """The bookkeeping a PBT checkpoint at step ``t`` holds."""
    return {
        "t": t,
        "history": [[np.asarray(x).tolist() for x in jax.tree.leaves(hh)] for hh in history],
        "lineage": [x.tolist() for x in lineage],
        "values": [np.asarray(x, np.float64).tolist() for x in values_log],
    }


def population_based_training(
    trainer: SweepTrainer,
    data: Data,
    eval_data: Data | None,
    *,
    monitor: str,
    mode: str | None = None,
    steps: int,
    interval: int,
    quantile: float = 0.25,
    perturb: tuple[float, float] = (0.8, 1.2),
    resample_probability: float = 0.25,
    metrics: Mapping[str, Callable] | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    checkpoint_dir: PathLike | None = None,
    progress: bool | Callable[[dict], None] = False,
) -> PBTResult:
    r"""Population-based training (Jaderberg et al. 2017) on a :class:`SweepTrainer`'s members.

    The K members train together; every ``interval`` steps they are evaluated on
    ``eval_data`` and ranked by ``monitor`` (diverged members last). Each member of the
    bottom ``quantile`` (exploit) copies the parameters, model state (batch statistics),
    optimizer state (e.g. Adam's moments and step count) and hyperparameters of a member
    drawn uniformly from the top ``quantile``, and then (explore) multiplies each floating
    hyperparameter by ``perturb[0]`` or ``perturb[1]`` (probability 1/2 each) or, with
    probability ``resample_probability``, replaces it with the initial value of a random
    member. Members keep their own RNG streams. It all runs on device (one jitted
    ``take``/``where`` program, seeded by ``seed``). The hyperparameters are the ``h`` the
    trainer passes to ``optimizer(h)`` at every step (traced), so a change takes effect at
    the next step, and an optimizer state built from the old ``h`` keeps working as long as
    its structure does not depend on ``h``'s value (true of optax and jaxl2 transforms with an
    array learning rate or weight decay).

    Args:
        trainer: the population; its hparams are the initial settings (floating leaves are
            perturbed; integer leaves are copied only).
        data, eval_data, monitor, mode, metrics, batch_size, checkpoint_dir, progress: as in
            :func:`successive_halving` (checkpoints after every interval).
        steps: training steps; interval: steps between exploit/explore (< steps).
        quantile: the bottom and top fraction, in (0, 0.5] (at least one member each).
        perturb: the two factors; resample_probability: in [0, 1].
        seed: seeds the minibatch permutations and the exploit/explore draws.

    Returns:
        A :class:`PBTResult` (hyperparameter history, lineage, ``schedule``, ``schedule_fn``,
        ``replay``).

    Raises:
        ValueError: ``quantile`` outside (0, 0.5], ``interval >= steps``, a ``monitor`` not
            recorded, bad ``perturb`` or ``resample_probability``.

    Examples:
        >>> import jax.numpy as jnp, numpy as np, optax, jaxl2
        >>> X = np.linspace(-1, 1, 8, dtype=np.float32)[:, None]; y = 2 * X[:, 0]
        >>> def loss(w, batch):
        ...     xb, yb = batch
        ...     return jnp.mean((xb @ w - yb) ** 2)
        >>> trainer = jaxl2.SweepTrainer(lambda key: jnp.zeros(1), loss, lambda h: optax.sgd(h),
        ...     jnp.array([0.001, 0.01, 0.1, 0.5]))
        >>> res = jaxl2.population_based_training(trainer, (X, y), (X, y), monitor="loss",
        ...     steps=20, interval=5)
        >>> res.lineage[0].tolist()  # the worst member (lr 0.001) took the best one's state
        [3, 1, 2, 3]
        >>> bool(res.replay()["loss"] == res.records["loss"][res.best])
        True

    References:
        Jaderberg et al., "Population based training of neural networks", arXiv:1711.09846
        (2017).
    """
    _check_trainer(trainer)
    name = _check_monitor(monitor, metrics)
    mode = resolve_mode(name, mode)
    steps, interval = _check_pbt(trainer, steps, interval, quantile, perturb, resample_probability)
    _check_eval(eval_data)
    started = time.perf_counter()
    engine = _Engine(trainer, data, eval_data, metrics, batch_size, seed, progress)
    exploit = _exploit_fn(trainer, float(quantile), perturb, float(resample_probability))
    store = _Store(
        checkpoint_dir,
        _fingerprint(
            "pbt",
            trainer,
            monitor=name,
            mode=mode,
            steps=steps,
            interval=interval,
            quantile=float(quantile),
            perturb=tuple(perturb),
            resample_probability=float(resample_probability),
            batch_size=batch_size,
            data_seed=seed,
        ),
    )
    K = trainer.K
    h0 = engine.place(trainer.h)
    key = jax.random.fold_in(jax.random.key(seed), 0xB7)
    state, h, t, history, lineage, values_log = _pbt_resume(engine, store)
    boundaries = list(range(0, steps, interval))
    for b in boundaries[len(lineage) + 1 :] + [steps]:
        state = engine.advance(h, state, t, b)
        t = b
        values = engine.evaluate(state)
        v = jnp.asarray(values[name], jnp.float32)
        score = jnp.where(jnp.isfinite(v) & ~state.diverged, v if mode == "min" else -v, jnp.inf)
        values_log.append(np.asarray(values[name]))
        if b == steps:
            break
        state, h, src = exploit(state, h, h0, score, jax.random.fold_in(key, b))
        lineage.append(np.asarray(src))
        history.append(jax.tree.map(np.asarray, h))
        store.save(_pbt_book(t, history, lineage, values_log), (state, h))
        best = np.nanmin(values_log[-1]) if mode == "min" else np.nanmax(values_log[-1])
        engine.report(
            {"step": t, "copied": int(np.sum(np.asarray(src) != np.arange(K))), "best": float(best)}
        )
    records = {k: np.asarray(v, np.float64) for k, v in values.items()}
    final = _scores(records[name], np.asarray(state.diverged), mode)
    stacked = jax.tree.map(lambda *xs: np.stack(xs), *history)
    return PBTResult(
        boundaries=np.asarray(boundaries[: len(history)], np.int64),
        hparams_history=stacked,
        lineage=np.asarray(lineage, np.int64).reshape(len(lineage), K),
        values=np.stack(values_log),
        records=records,
        best=int(_rank(final)[0]),
        monitor=name,
        mode=mode,
        member_steps=K * steps,
        wall_time=time.perf_counter() - started,
        trainer=trainer,
        state=state,
        engine=engine,
        steps=steps,
    )
