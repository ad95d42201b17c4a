"""Sweep engine: run one function at K hyperparameter settings as one compiled program.

Execution strategies, all computing ``[fn(h_k, *args) for k in range(K)]`` stacked on a leading
axis of length K:

- ``"vmap"``: all K members in one vectorized program.
- ``"chunked"``: a vectorized program over ``batch_size`` members, run chunk after chunk.
- ``"map"``: one member after another inside one compiled program (``lax.map``).
- ``"loop"``: a Python loop calling one jitted ``fn`` per member (the baseline).
- ``"auto"``: picks one of these (see :func:`sweep`).

Members are split into chunks of a fixed width (the last padded by repeating its last member),
so every chunk runs the same compiled program; finished chunks go to host memory (and to
``checkpoint_dir``), which bounds device memory by the chunk width, not by K.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import operator
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from .._checks import callback_free_checks, check_choice, check_int
from .._typing import ArrayLike, ArrayTree, Devices
from .auto import auto_cpu as _auto_cpu
from .checkpoint import SweepStore, _name, signature
from .devices import enable_compilation_cache
from .util import Pending, new_cache, pending_specs, resolve
from .util import backend as _backend
from .util import cache_get as _cache_get
from .util import from_process_0 as _from_process_0
from .util import mesh_size as _mesh_size
from .util import multi as _multi
from .util import round_up as _round_up

STRATEGIES = ("auto", "vmap", "chunked", "map", "loop")
MESH_AXIS = "sweep"

MSG_TOO_MANY_DEVICES = (
    "devices={n} asks for more devices than exist: JAX sees {have} {platform} device(s). "
    "On a CPU-only machine, call jaxl2.use_cpu_cores({n}) before the first JAX computation, "
    "or start Python with XLA_FLAGS=--xla_force_host_platform_device_count={n}."
)
MSG_BAD_OUTPUT = (
    "fn must return a pytree of arrays (or numbers), but for {fn} the output leaf {path} is "
    "a {type}. Return only arrays; keep other values (strings, objects) outside fn."
)
MSG_HPARAMS_LIST = (
    "hparams leaves must be arrays with a leading axis of length K, but leaf {path} is a "
    "Python {type}. Wrap the values in an array, e.g. hparams=jnp.array([1e-4, 1e-3, 1e-2]), "
    "or build a grid with jaxl2.grid(weight_decay=...)."
)

# (fn, static args, inner, mesh) -> jitted program; bounded so that sweeps over throw-away
# lambdas cannot grow it without limit. Reusing the same fn object reuses its compilation.
# jaxl2.clear_caches() empties it.
_programs = new_cache()


@dataclasses.dataclass(frozen=True)
class SweepInfo:
    """How one sweep ran: the strategy asked for, the program that ran and why.

    ``jaxl2.sweep(..., return_info=True)`` returns ``(outputs, info)``; the results of
    :func:`jaxl2.train_sweep` and :func:`jaxl2.cross_validate` carry it as ``.info``. It
    describes that one call only (nothing is kept between calls).

    Attributes:
        strategy: the strategy asked for: ``"auto"``, ``"vmap"``, ``"chunked"``, ``"map"`` or
            ``"loop"``.
        chosen: the program that ran: ``"vmap"`` (also for ``"chunked"``), ``"map"`` or
            ``"loop"``; None when every member was loaded from ``checkpoint_dir`` and nothing ran.
        width: members per chunk (per compiled call; for ``"loop"``, per chunk of single-member
            calls): what ``progress`` counts and ``checkpoint_dir`` saves. None when nothing ran.
        devices: the number of devices the members were sharded over (1 when not sharded).
        members: K, the number of hyperparameter settings.
        loaded: members loaded from ``checkpoint_dir`` instead of computed (0 without one).
        decided_by: for ``strategy="auto"``, how it chose: ``"accelerator"`` (GPU/TPU: vmap),
            ``"cost analysis"``, ``"remembered"`` (an earlier sweep of the same ``fn`` object in
            this process), ``"remembered on disk"`` or ``"probe"``; None for an explicit strategy
            or when nothing ran.
        flops_per_member: ``"auto"`` on CPU: XLA's count of one member's floating-point
            operations (loops counted once), when it was read; else None.
        probe_seconds_per_member: ``"auto"`` on CPU after a timed probe: ``{candidate: measured
            seconds per member}``; else None.

    Examples:
        >>> import jax.numpy as jnp, jaxl2
        >>> out, info = jaxl2.sweep(lambda lam: 2.0 / (1.0 + lam), jnp.array([0.0, 1.0, 3.0]),
        ...                         strategy="chunked", batch_size=2, return_info=True)
        >>> out
        Array([2. , 1. , 0.5], dtype=float32)
        >>> info.chosen, info.width, info.devices, info.members
        ('vmap', 2, 1, 3)
    """

    strategy: str
    chosen: str | None
    width: int | None
    devices: int
    members: int
    loaded: int = 0
    decided_by: str | None = None
    flops_per_member: float | None = None
    probe_seconds_per_member: Mapping[str, float] | None = dataclasses.field(
        default=None, hash=False
    )


class PartialSweep(NamedTuple):
    """What a stopped sweep had finished: ``results`` (stacked, unfinished members NaN for
    floating leaves and 0 otherwise) and ``done`` (bool, shape ``(K,)``)."""

    results: Any
    done: np.ndarray


class SweepError(RuntimeError):
    """A sweep stopped part-way; the members it had finished are kept in ``.partial``.

    Raised by :func:`jaxl2.sweep` when ``fn`` fails (or a device errors) after some members
    finished. ``.partial`` is a :class:`PartialSweep` with the finished results and a ``done``
    mask; with ``checkpoint_dir`` they are on disk too, and rerunning the same call resumes.
    The original exception is the ``__cause__``. A Ctrl-C raises :class:`SweepInterrupted`
    instead (a ``KeyboardInterrupt``, with the same ``.partial``).
    """

    def __init__(self, message: str, partial: PartialSweep) -> None:
        super().__init__(message)
        self.partial = partial


class SweepInterrupted(KeyboardInterrupt):
    """A sweep stopped by Ctrl-C (``KeyboardInterrupt``); its finished members are in ``.partial``.

    Raised by :func:`jaxl2.sweep` from the ``KeyboardInterrupt`` when some members had
    finished. It is a ``KeyboardInterrupt`` (not an ``Exception``), so Ctrl-C still stops a
    script, a notebook cell or an ``except Exception`` loop as usual; catch it to keep the
    finished members. ``.partial`` is a :class:`PartialSweep` (results and ``done`` mask); with
    ``checkpoint_dir`` they are on disk too, and rerunning the same call resumes. The original
    ``KeyboardInterrupt`` is the ``__cause__``. Other base exceptions (``SystemExit``, ...)
    pass through unchanged; finished chunks are in ``checkpoint_dir`` when one was given.

    Examples:
        >>> import jaxl2
        >>> issubclass(jaxl2.SweepInterrupted, KeyboardInterrupt)
        True
        >>> issubclass(jaxl2.SweepInterrupted, Exception)  # not swallowed by `except Exception`
        False

        To keep what a long sweep finished before Ctrl-C::

          try:
              out = jaxl2.sweep(train, lams, X, y)
          except jaxl2.SweepInterrupted as stopped:
              out, done = stopped.partial  # unfinished: done[k] False, NaN in float leaves
    """

    def __init__(self, message: str, partial: PartialSweep) -> None:
        super().__init__(message)
        self.partial = partial


# ----------------------------------------------------------------------------- arguments


_DYNAMIC = object()  # marks the slots of array leaves among the static leaves of args


class _Static(NamedTuple):
    treedef: Any
    leaves: tuple


def _is_array(x: Any) -> bool:
    return isinstance(x, (jax.Array, np.ndarray, np.generic, Pending))


def _spec(x: Any) -> jax.ShapeDtypeStruct:
    """The shape and (canonical) dtype of an argument array, without waiting for a Pending
    one."""
    if isinstance(x, Pending):
        return x.spec()
    return jax.ShapeDtypeStruct(np.shape(x), jax.dtypes.canonicalize_dtype(x.dtype))


def _canonical(x: Any) -> np.ndarray:
    arr = np.asarray(x)
    return arr.astype(jax.dtypes.canonicalize_dtype(arr.dtype), copy=False)


def _split_args(args: tuple) -> tuple[list, _Static]:
    """Array leaves are traced (new values do not recompile); the rest are compile-time
    constants, like ``equinox.filter_jit``; they must be hashable."""
    flat, treedef = jax.tree_util.tree_flatten_with_path(args)
    dynamic = [x for _, x in flat if _is_array(x)]
    static = _Static(treedef, tuple(_DYNAMIC if _is_array(x) else x for _, x in flat))
    for path, x in flat:
        if not _is_array(x):
            try:
                hash(x)
            except TypeError:
                raise TypeError(
                    f"args: the argument leaf args{jax.tree_util.keystr(path)} is a "
                    f"{type(x).__name__}, which is neither an array nor hashable. Non-array "
                    "arguments are compile-time constants and must be hashable; pass arrays, "
                    "or close over the value in fn."
                ) from None
    return dynamic, static


def _merge(static: _Static, dynamic: Sequence) -> tuple:
    it = iter(dynamic)
    return jax.tree.unflatten(
        static.treedef, [next(it) if x is _DYNAMIC else x for x in static.leaves]
    )


def _host_hparams(hparams: Any) -> tuple[Any, int]:
    """hparams as host numpy arrays of canonical dtype, and K (their common leading length)."""
    flat, treedef = jax.tree_util.tree_flatten_with_path(hparams)
    if not flat:
        raise ValueError(
            "hparams is empty: give an array of shape (K,) or a pytree of arrays with a "
            "leading axis of length K."
        )
    leaves, lengths = [], {}
    for path, x in flat:
        where = f"hparams{jax.tree_util.keystr(path)}"
        if not _is_array(x):
            raise TypeError(MSG_HPARAMS_LIST.format(path=where, type=type(x).__name__))
        arr = np.asarray(x)  # checked before JAX's dtype canonicalization rejects it
        if arr.dtype.kind not in "biufc" and not jnp.issubdtype(arr.dtype, jnp.inexact):
            raise TypeError(f"hparams must hold numbers, but {where} has dtype {arr.dtype}.")
        arr = _canonical(arr)
        if arr.ndim == 0:
            raise ValueError(
                f"hparams leaves need a leading axis of length K, but {where} is a scalar "
                f"({arr!r}). Give e.g. jnp.array([{arr}])."
            )
        leaves.append(arr)
        lengths[where] = arr.shape[0]
    if len(set(lengths.values())) > 1:
        listing = ", ".join(f"{k}: {v}" for k, v in lengths.items())
        raise ValueError(
            f"hparams leaves must all have the same leading length K, got {listing}. "
            "For a Cartesian product of values use jaxl2.grid(...)."
        )
    K = next(iter(lengths.values()))
    if K == 0:
        raise ValueError("hparams has K = 0 members: give at least one hyperparameter setting.")
    return jax.tree.unflatten(treedef, leaves), K


def _check_batch_size(batch_size: Any) -> int | None:
    return check_int(batch_size, "batch_size", allow_none=True)


def _resolve_devices(devices: Any) -> Mesh | None:
    if devices is None:
        return None
    if isinstance(devices, Mesh):
        return devices
    if isinstance(devices, bool):
        raise TypeError(
            f"devices must be None, an int, a list of devices or a Mesh; got {devices!r}."
        )
    if isinstance(devices, (int, np.integer)):
        have = jax.devices()
        if devices < 1:
            raise ValueError(f"devices must be at least 1, got {devices!r}.")
        if devices > len(have):
            raise ValueError(
                MSG_TOO_MANY_DEVICES.format(
                    n=int(devices), have=len(have), platform=have[0].platform
                )
            )
        return Mesh(np.array(have[: int(devices)]), (MESH_AXIS,))
    try:
        listed = list(devices)
    except TypeError:
        raise TypeError(
            f"devices must be None, an int, a list of devices or a Mesh; got {devices!r}."
        ) from None
    if not listed or not all(isinstance(d, jax.Device) for d in listed):
        raise TypeError(f"devices must be a non-empty list of jax.Device objects, got {devices!r}.")
    if len(set(listed)) != len(listed):
        raise ValueError(f"devices lists a device more than once: {listed}.")
    return Mesh(np.array(listed), (MESH_AXIS,))


MSG_PARTIAL_MESH = (
    "devices={devices} does not span every process of this jax.distributed run: {listing}. "
    "Under jax.distributed every process runs the same sweep over one mesh, so the devices "
    "must include devices of all {n} processes (e.g. devices=len(jax.devices()), or a Mesh "
    "built from jax.devices()); or give each process only its own devices "
    "(devices=jax.local_devices()) to run the whole sweep separately on every process."
)
MSG_LOCAL_ONLY = (
    "devices= holds only this process's devices (jax.local_devices()) in a run of {n} "
    "processes: each process runs the whole sweep on its own devices, and they share no work. "
    "To split the members between processes, pass devices=len(jax.devices()) or a Mesh of "
    "jax.devices()."
)


def _check_processes(mesh: Mesh, devices: Any) -> None:
    """Under jax.distributed: a mesh must span every process, or hold only local devices on
    every process (then each runs the whole sweep, with a warning). Every process learns every
    other's case (a collective) before any raises, so that none is left waiting."""
    from jax.experimental import multihost_utils

    me, n = jax.process_index(), jax.process_count()
    owners = {d.process_index for d in mesh.devices.flat}
    # 0: spans every process; 1: only this process's devices; 2: anything else
    case = 0 if owners == set(range(n)) else (1 if owners == {me} else 2)
    cases = np.asarray(multihost_utils.process_allgather(np.int32(case))).reshape(-1)
    if (cases == 1).all():
        warnings.warn(MSG_LOCAL_ONLY.format(n=n), UserWarning, stacklevel=3)
    elif not (cases == 0).all():
        names = {0: "all processes", 1: "only its own", 2: "some but not all processes"}
        listing = ", ".join(f"process {i} lists {names[int(c)]}" for i, c in enumerate(cases))
        if isinstance(devices, Mesh) or not isinstance(devices, (int, np.integer)):
            shown = f"<{len(owners)} process(es): {sorted(owners)}>"
        else:
            shown = str(int(devices))
        raise ValueError(MSG_PARTIAL_MESH.format(devices=shown, listing=listing, n=n))


def _auto_mesh() -> Mesh | None:
    """All devices of the default backend (on CPU: one per core after use_cpu_cores)."""
    devices = jax.devices()
    return Mesh(np.array(devices), (MESH_AXIS,)) if len(devices) > 1 else None


# ----------------------------------------------------------------------------- programs


def _as_output(out: Any, fn: Callable) -> Any:
    flat, treedef = jax.tree_util.tree_flatten_with_path(out)
    leaves = []
    for path, leaf in flat:
        if not isinstance(leaf, (jax.Array, np.ndarray, np.generic, bool, int, float, complex)):
            raise TypeError(
                MSG_BAD_OUTPUT.format(
                    fn=_name(fn),
                    path=jax.tree_util.keystr(path) or "(the output itself)",
                    type=type(leaf).__name__,
                )
            )
        leaves.append(jnp.asarray(leaf))
    return jax.tree.unflatten(treedef, leaves)


def _program(fn: Callable, static: _Static, inner: str, mesh: Mesh | None) -> Callable:
    """The jitted program ``(h_rows, dynamic_args) -> stacked outputs`` for one chunk."""

    messages = _check_messages(fn, static)

    def build() -> Callable:
        def member(h, dynamic):
            # No host callback in the program (JAX's persistent compilation cache stores it):
            # a failed check of a traced value gives NaN in that member, the others go on.
            with callback_free_checks(messages):
                return _as_output(fn(h, *_merge(static, dynamic)), fn)

        if inner == "one":
            body = member
        elif inner == "vmap":
            body = jax.vmap(member, in_axes=(0, None))
        else:
            body = lambda h, dynamic: jax.lax.map(lambda hk: member(hk, dynamic), h)
        if mesh is not None:
            spec = _row_sharding(mesh).spec
            # The members are independent: no collectives, and a scan carry that starts from
            # constants is fine on every device, hence check_vma=False.
            body = jax.shard_map(
                body, mesh=mesh, in_specs=(spec, P()), out_specs=spec, check_vma=False
            )

        def program(h, dynamic):
            return body(h, dynamic)

        program.__name__ = f"sweep_{inner}_{getattr(fn, '__name__', 'fn')}"
        return jax.jit(program)

    return _cache_get(_programs, ("program", fn, static, inner, mesh), build)


def _check_messages(fn: Callable, static: _Static) -> list[str]:
    """The messages of the checks of traced values that tracing ``fn`` met (filled while its
    programs trace; shared by all of them)."""
    return _cache_get(_programs, ("checks", fn, static), list)


def _first_trace(
    fn: Callable,
    static: _Static,
    strategy: str,
    batch_size: int | None,
    mesh: Mesh | None,
    member: Any,
    specs: list,
    K: int,
) -> tuple[Any, Any]:
    """Traces the first program of a call; returns (one member's output shapes, one member's
    traced program or None). An explicit vectorized strategy traces the program it runs, and
    jit keeps that trace for the run: ``fn`` is traced once. "loop" and "auto" trace one
    member's program: the loop runs it, "auto" reads its cost analysis."""
    if strategy in ("loop", "auto"):
        traced = _program(fn, static, "one", None).trace(member, specs)
        return traced.out_info, traced
    kind, width = _plan(strategy, K, batch_size, mesh)
    if mesh is None:
        rows = jax.tree.map(lambda m: jax.ShapeDtypeStruct((width, *m.shape), m.dtype), member)
        args = specs
    else:
        split, shared = _row_sharding(mesh), NamedSharding(mesh, P())
        rows = jax.tree.map(
            lambda m: jax.ShapeDtypeStruct((width, *m.shape), m.dtype, sharding=split), member
        )
        args = [jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=shared) for x in specs]
    out = _program(fn, static, kind, mesh).trace(rows, args).out_info
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape[1:], a.dtype), out), None


def _row_sharding(mesh: Mesh) -> NamedSharding:
    """Members (rows) split over every axis of the mesh: the layout of ``h`` and the outputs."""
    return NamedSharding(mesh, P(tuple(mesh.axis_names)))


def _place_rows(rows: Any, mesh: Mesh | None) -> Any:
    if mesh is None:
        return rows
    sharding = _row_sharding(mesh)
    # make_array_from_callback builds a global array from the slices each host owns, so the
    # same code runs on one host and under jax.distributed.
    return jax.tree.map(
        lambda x: jax.make_array_from_callback(x.shape, sharding, lambda i: x[i]), rows
    )


def _place_args(dynamic: list, mesh: Mesh | None) -> list:
    dynamic = resolve(dynamic)  # waits for values still being computed
    if mesh is None:
        # device_put, not jnp.asarray: in jax >= 0.8 the latter compiles a small program.
        return [x if isinstance(x, jax.Array) else jax.device_put(_canonical(x)) for x in dynamic]
    sharding = NamedSharding(mesh, P())
    placed = []
    for x in dynamic:
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            placed.append(jax.device_put(x, sharding))
        else:
            arr = _canonical(x)
            placed.append(jax.make_array_from_callback(arr.shape, sharding, lambda i, a=arr: a[i]))
    return placed


def _to_host(x: jax.Array) -> np.ndarray:
    if x.is_fully_addressable:
        return np.asarray(x)
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(x, tiled=True))


class _Runner:
    """Runs chunks of ``width`` members with one strategy; ``dispatch`` is asynchronous."""

    def __init__(
        self, kind: str, width: int, fn: Callable, static: _Static, dynamic: list, mesh: Mesh | None
    ) -> None:
        self.kind, self.width = kind, width
        self.mesh = None if kind == "loop" else mesh
        self.program = _program(fn, static, "one" if kind == "loop" else kind, self.mesh)
        self._args, self._placed = dynamic, None

    @property
    def dynamic(self) -> list:
        """The arguments on the device(s), placed on first use (waiting for Pending ones)."""
        if self._placed is None:
            self._placed = _place_args(self._args, self.mesh)
        return self._placed

    @property
    def pending(self) -> bool:
        """Whether some argument is still being computed (and not yet placed)."""
        return self._placed is None and any(isinstance(x, Pending) for x in self._args)

    def lower(self, rows: Any) -> Any:
        """Traces and lowers (in the calling thread: tracing reads thread-local settings such
        as ``jax.enable_x64``); ``.compile()`` on the result may run in another thread. On one
        device, arguments still being computed are lowered from their shapes (jit then reuses
        the compiled program when they are passed)."""
        example = jax.tree.map(lambda x: x[0], rows) if self.kind == "loop" else rows
        args = self.dynamic
        if self.mesh is None and self.pending:
            args = pending_specs(self._args)
        return self.program.lower(_place_rows(example, self.mesh), args)

    def compile(self, rows: Any) -> Any:
        """Compiles now (so that a timed run measures running only); returns the executable."""
        return self.lower(rows).compile()

    def dispatch(self, rows: Any) -> Any:
        if self.kind == "loop":
            n = len(jax.tree.leaves(rows)[0])
            members = [jax.tree.map(operator.itemgetter(i), rows) for i in range(n)]
            return [self.program(member, self.dynamic) for member in members]
        return self.program(_place_rows(rows, self.mesh), self.dynamic)

    def collect(self, handle: Any, n: int) -> list[np.ndarray]:
        if self.kind == "loop":
            per_member = [jax.tree.leaves(out) for out in handle]
            return [
                np.stack([_to_host(m[j]) for m in per_member]) for j in range(len(per_member[0]))
            ]
        return [_to_host(leaf)[:n] for leaf in jax.tree.leaves(handle)]


# ----------------------------------------------------------------------------- execution


def _default_width(K: int, D: int) -> int:
    """About four chunks (room to probe and to checkpoint), 1 to 16 members per device."""
    per_device = min(16, max(1, math.ceil(K / (4 * D))))
    return D * per_device


class _Sweep:
    """State of one call: results so far, the checkpoint store and the progress bar."""

    def __init__(self, fn, h, K, dynamic, static, out_tree, out_avals, store, bar) -> None:
        self.fn, self.h, self.K = fn, h, K
        self.dynamic, self.static = dynamic, static
        self.out_tree = out_tree
        self.buffers = [
            np.full((K, *a.shape), np.nan if np.issubdtype(a.dtype, np.inexact) else 0, a.dtype)
            for a in out_avals
        ]
        self.done = np.zeros(K, bool)
        self.store, self.bar = store, bar
        self.traced: Any = None  # one member's traced program (for "auto"'s cost analysis)
        self.lowered: Any = None  # ... and lowered

    def rows(self, index: np.ndarray, width: int) -> Any:
        if len(index) < width:  # pad by repeating the last member; its copies are dropped
            index = np.concatenate([index, np.full(width - len(index), index[-1])])
        return jax.tree.map(lambda x: x[index], self.h)

    def record(self, index: np.ndarray, leaves: list[np.ndarray]) -> None:
        for buf, leaf in zip(self.buffers, leaves, strict=True):
            buf[index] = leaf
        self.done[index] = True
        if self.store is not None:
            self.store.save(index, leaves)
        if self.bar is not None:
            self.bar.update(len(index))

    def runner(self, kind: str, width: int, mesh: Mesh | None) -> _Runner:
        return _Runner(kind, width, self.fn, self.static, self.dynamic, mesh)

    def run_timed(self, runner: _Runner, index: np.ndarray) -> float:
        """Runs one chunk with a compiled runner and keeps it; returns the seconds it took."""
        start = time.perf_counter()
        width = len(index) if runner.kind == "loop" else runner.width
        leaves = runner.collect(runner.dispatch(self.rows(index, width)), len(index))
        elapsed = time.perf_counter() - start
        self.record(index, leaves)
        return elapsed

    def run_all(self, runner: _Runner, pending: np.ndarray) -> None:
        """Runs the pending members chunk by chunk, one chunk ahead of the host (the device
        stays busy while the host saves the previous chunk)."""
        inflight: collections.deque = collections.deque()

        def finish() -> None:
            index, handle = inflight.popleft()
            self.record(index, runner.collect(handle, len(index)))

        try:
            for start in range(0, len(pending), runner.width):
                index = pending[start : start + runner.width]
                width = len(index) if runner.kind == "loop" else runner.width
                inflight.append((index, runner.dispatch(self.rows(index, width))))
                if len(inflight) > 1:
                    finish()
            while inflight:
                finish()
        except Exception:
            # Chunks dispatched before the failing one may have finished: keep them.
            while inflight:
                try:
                    finish()
                except Exception:
                    pass
            raise

    def results(self) -> Any:
        return jax.tree.unflatten(self.out_tree, [b.copy() for b in self.buffers])


def _memory_limit(mesh: Mesh | None) -> int | None:
    devices = list(mesh.devices.flat) if mesh is not None else jax.local_devices()[:1]
    limits = []
    for d in devices:
        if d.process_index != jax.process_index():
            continue
        stats = d.memory_stats() or {}
        if "bytes_limit" in stats:
            limits.append(int(stats["bytes_limit"]))
    return min(limits) if limits else None


def _fit_width(state: _Sweep, kind: str, width: int, mesh: Mesh | None) -> int:
    """On accelerators: halves the chunk width until the compiled program fits in memory."""
    limit, D = _memory_limit(mesh), _mesh_size(mesh)
    if limit is None:
        return width
    while width > D:
        compiled = state.runner(kind, width, mesh).compile(state.rows(np.arange(1), width))
        analysis = compiled.memory_analysis()
        need = (
            0
            if analysis is None
            else (
                analysis.temp_size_in_bytes
                + analysis.argument_size_in_bytes
                + analysis.output_size_in_bytes
            )
        )
        if need <= 0.7 * limit:
            break
        width = max(D, _round_up(width // 2, D))
    return width


def _plan(strategy: str, K: int, batch_size: int | None, mesh: Mesh | None) -> tuple[str, int]:
    """(kind, chunk width) for an explicit strategy; kind "auto" leaves the choice to a probe."""
    D = _mesh_size(mesh)
    if strategy == "loop":
        return "loop", min(K, batch_size or 1)
    if batch_size is not None:
        width = _round_up(min(batch_size, K), D)
    elif strategy in ("vmap", "map"):
        width = _round_up(K, D)
    else:
        width = _default_width(K, D)
    kind = {"vmap": "vmap", "chunked": "vmap", "map": "map", "auto": "auto"}[strategy]
    return kind, width


def _execute(
    state: _Sweep, strategy: str, batch_size: int | None, mesh: Mesh | None, info: dict[str, Any]
) -> None:
    """Runs the members not yet done; records how into ``info`` (the fields of SweepInfo)."""
    pending = np.flatnonzero(~state.done)
    if len(pending) == 0:
        return
    kind, width = _plan(strategy, state.K, batch_size, mesh)
    if kind == "auto":
        if _backend() != "cpu":
            # vmap wins big on accelerators; the width only has to fit in memory.
            kind = "vmap"
            if batch_size is None:
                width = _fit_width(state, kind, _round_up(state.K, _mesh_size(mesh)), mesh)
            width = _from_process_0([width])[0]  # memory may differ between hosts
            info["decided_by"] = "accelerator"
        else:
            kind, width, pending = _auto_cpu(state, pending, width, mesh, batch_size, info)
    info.update(chosen=kind, width=width)
    if len(pending):
        runner = state.runner(kind, width, mesh)
        if runner.pending:  # compile while the arguments are computed, then wait for them
            runner.compile(state.rows(pending[: runner.width], runner.width))
        state.run_all(runner, pending)


# ----------------------------------------------------------------------------- public API


def sweep(
    fn: Callable[..., Any],
    hparams: ArrayTree,
    *args: Any,
    strategy: Literal["auto", "vmap", "chunked", "map", "loop"] = "auto",
    batch_size: int | None = None,
    devices: Devices = None,
    progress: bool = False,
    checkpoint_dir: str | None = None,
    return_info: bool = False,
) -> Any:
    """Runs ``fn(h, *args)`` for each of K hyperparameter settings ``h``, in one compiled program.

    The result equals ``[fn(h_k, *args) for k in range(K)]`` stacked on a new leading axis of
    length K, where ``h_k`` is member k of ``hparams`` (the k-th entry of every leaf). A typical
    ``fn`` trains a model at one weight decay ``h`` (objective ``data term + h · penalty``, or
    the decoupled update ``w ← w − lr·(update + h·w)`` of :func:`jaxl2.adamw`) and returns its
    losses; see :func:`jaxl2.train_sweep` for a whole training loop with its records.

    Strategies (all give the same numbers to float tolerance):

    - ``"vmap"``: all K members in one vectorized program (``batch_size``, if given, chunks it).
    - ``"chunked"``: a vectorized program over ``batch_size`` members at a time (default: about
      K/4, at most 16 per device), chunk after chunk; device memory is bounded by the chunk.
    - ``"map"``: members one after another inside one compiled program (``lax.map``).
    - ``"loop"``: a Python loop over one jitted ``fn`` (the baseline).
    - ``"auto"`` (default): on GPU/TPU, ``"vmap"`` over all devices with chunks halved until
      the compiled program fits in device memory. On CPU it first reads XLA's cost analysis of
      one member's lowered program (no compilation spent): loops count once, so for a
      training loop this is about one step. Up to ``VMAP_FLOPS`` (1.5e7) floating-point
      operations, per-operation overhead dominates and it runs ``"vmap"`` over all members
      (logistic regression on digits, 4.8 MFLOP a step); from
      ``LOOP_FLOPS`` (5e7) on, each member's products keep the cores busy alone and it runs
      the loop (an MLP 64-128-10 on digits, 75 MFLOP a step), or ``"map"``
      over several devices. In between, and over several devices, it times: all candidates
      compile at once in threads, the loop runs members as soon as its program is ready (and
      keeps running them while the others compile), then one chunk by each other candidate
      and one more member by the loop; the rest runs with the fastest per member (the loop
      unless another is at least 5% faster). Every probed member is a member of the sweep,
      kept and never recomputed; probing stops when the members left would take less than a
      fifth of a compilation. A probed decision is remembered in memory (same ``fn`` object,
      K, shapes, devices) and on disk, keyed by the member program's text, K, the chunk
      width, the devices and the machine, so a rerun in a new process skips the probe. Under
      ``jax.distributed`` process 0 decides and every process runs its choice.

    On-disk caches (environment variables, read when a sweep runs): ``JAXL2_CACHE_DIR``
    (default ``$XDG_CACHE_HOME/jaxl2``, i.e. ``~/.cache/jaxl2``; ``0`` turns every on-disk
    cache off); ``JAXL2_AUTO_CACHE=0`` stops "auto" from remembering decisions on disk;
    ``JAXL2_COMPILATION_CACHE=0`` keeps JAX's persistent compilation cache off. Otherwise the
    first sweep of a process turns that cache on (``jax_compilation_cache_dir`` under
    ``JAXL2_CACHE_DIR/xla/<machine>``; it then serves every later compilation of the process
    that takes at least ``jax_persistent_cache_min_compile_time_secs``, lowered from JAX's
    default 1 s to 0.2 s unless you set it), so a rerun script or notebook skips compiling; a
    cache directory you configured yourself (``jax.config``, ``JAX_COMPILATION_CACHE_DIR``) is
    used as is. JAX does not store programs with host callbacks, so ``fn`` is traced
    without them: a check of a traced value in jaxl2's transforms (a negative traced weight
    decay, say) gives NaN in that member instead of stopping the sweep, the other members go
    on, and a warning names the members that returned NaN or inf (diverged or failed a check).
    Each program traces ``fn`` once (an explicit strategy: one trace in all).

    Array leaves of ``args`` are traced, so new data of the same shapes do not recompile; other
    leaves (ints, strings, functions) are compile-time constants, as in ``equinox.filter_jit``.
    An explicit strategy compiles one program for the whole sweep; calling again with new
    hparam values of the same shapes does not compile at all (the compiled programs and
    "auto"'s decisions are kept per ``fn`` object until :func:`jaxl2.clear_caches`). Members
    are independent: a member that diverges to NaN leaves the others unchanged.

    How a call ran is returned, never kept in module state: with ``return_info=True`` the
    result is ``(outputs, info)``, ``info`` a :class:`jaxl2.SweepInfo` (the strategy chosen and
    why, the chunk width, the devices, the members loaded from ``checkpoint_dir``).

    Args:
        fn: ``fn(h, *args) -> pytree of arrays`` for one member's hyperparameters ``h``
            (a pytree like ``hparams`` without the leading axis).
        hparams: an array of shape ``(K,)`` or a pytree of arrays sharing the leading length K,
            e.g. from :func:`jaxl2.grid`. Must be the same on every host.
        *args: passed to every call of ``fn`` unchanged (data, for instance).
        strategy: ``"auto"``, ``"vmap"``, ``"chunked"``, ``"map"`` or ``"loop"``.
        batch_size: members per chunk (per compiled call); rounded up to a multiple of the device
            count. K need not be a multiple: the last chunk is padded and the padding dropped.
            Chunks are what ``progress`` counts and ``checkpoint_dir`` saves.
        devices: shard the members over devices: an int (the first n of ``jax.devices()``), a list
            of devices, or a ``jax.sharding.Mesh`` (members sharded over all its axes). K is padded
            to a multiple of the device count. Works on several hosts under
            ``jax.distributed.initialize()`` (results are gathered on every host): the devices must
            then span every process, or be each process's own (``jax.local_devices()``: every
            process runs the whole sweep alone, with a warning).
        progress: show a tqdm progress bar (``tqdm.auto``: a widget in notebooks) advancing per
            chunk, with an ETA.
        checkpoint_dir: a directory where each finished chunk is saved atomically (written under
            a temporary name, then renamed). Rerunning the same call resumes where it stopped; a
            finished sweep is only loaded. A directory holding a different sweep (by a hash of
            fn's name, the hparams values, the shapes of arguments and outputs, and the values of
            array arguments) raises and is left untouched. It must be visible to all hosts.
        return_info: also return a :class:`jaxl2.SweepInfo` saying how this call ran (the
            strategy chosen and why, the chunk width, the devices, members loaded from
            ``checkpoint_dir``, "auto"'s cost analysis and probe timings).

    Returns:
        The pytree ``fn`` returns, each leaf stacked on a leading axis of length K; with
        ``return_info=True``, the pair ``(outputs, info)``.

    Raises:
        ValueError: hparams leaves of different leading lengths, K = 0, ``batch_size`` < 1, more
            ``devices`` than exist, devices that leave out a process under ``jax.distributed``
            (raised on every process), a ``checkpoint_dir`` holding another sweep, an unknown
            ``strategy``.
        TypeError: ``fn`` returning something that is not an array; hparams leaves that are not
            arrays; ``strategy="loop"`` with ``devices``.
        SweepError: ``fn`` or the device failed after some members had finished; the finished
            members are in the exception's ``.partial`` (and in ``checkpoint_dir``).
        SweepInterrupted: Ctrl-C (``KeyboardInterrupt``) after some members had finished; a
            ``KeyboardInterrupt`` carrying them in ``.partial`` (and in ``checkpoint_dir``).

    Warns:
        UserWarning: under ``jax.distributed``, ``devices`` holding only each process's own
            devices: every process runs the whole sweep.

    Examples:
        >>> import jax.numpy as jnp, jaxl2
        >>> def ridge_1d(lam, x, y):  # argmin_w  Σ (y - w·x)² + lam · w²
        ...     return jnp.sum(x * y) / (jnp.sum(x * x) + lam)
        >>> x, y = jnp.array([1.0, 2.0, 3.0]), jnp.array([2.0, 4.0, 6.0])
        >>> jaxl2.sweep(ridge_1d, jnp.array([0.0, 14.0]), x, y, strategy="vmap")
        Array([2., 1.], dtype=float32)
        >>> w, info = jaxl2.sweep(ridge_1d, jnp.array([0.0, 14.0]), x, y, return_info=True)
        >>> info.strategy, info.chosen, info.decided_by  # on CPU: a tiny member, so vmap
        ('auto', 'vmap', 'cost analysis')

    References:
        Timings of each strategy on the examples above: ``benchmarks/RESULTS.md`` ("λ sweeps"),
        from ``benchmarks/bench_sweep.py``.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}.")
    out, info = run_sweep(
        fn,
        hparams,
        args,
        name=None,
        strategy=strategy,
        batch_size=batch_size,
        devices=devices,
        progress=progress,
        checkpoint_dir=checkpoint_dir,
    )
    return (out, info) if return_info else out


def run_sweep(
    fn: Callable[..., Any],
    hparams: Any,
    args: tuple,
    *,
    name: str | None,
    strategy: str = "auto",
    batch_size: int | None = None,
    devices: Devices = None,
    progress: bool = False,
    checkpoint_dir: str | None = None,
) -> tuple[Any, SweepInfo]:
    """:func:`sweep`, returning ``(outputs, SweepInfo)``. ``name`` is what identifies ``fn`` in
    the checkpoint fingerprint (default: fn's module and qualified name); train_sweep and
    cross_validate pass the settings that define their member function."""
    check_choice(strategy, "strategy", STRATEGIES)
    batch_size = _check_batch_size(batch_size)
    h, K = _host_hparams(hparams)
    dynamic, static = _split_args(args)
    if strategy == "loop" and devices is not None:
        raise TypeError(
            "devices= cannot be used with strategy='loop' (the single-device baseline); "
            "use 'map', 'vmap', 'chunked' or 'auto'."
        )
    mesh = _resolve_devices(devices)
    if mesh is not None and _multi():
        _check_processes(mesh, devices)
    if mesh is None and strategy == "auto":
        mesh = _auto_mesh()
    enable_compilation_cache()
    member = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype), h)
    if checkpoint_dir is not None:  # the fingerprint reads the values
        dynamic = resolve(dynamic)
    specs = [_spec(x) for x in dynamic]
    # The first trace gives the output shapes; jit keeps it for the program that runs.
    out_avals, traced = _first_trace(fn, static, strategy, batch_size, mesh, member, specs, K)
    out_leaves, out_tree = jax.tree.flatten(out_avals)
    store = None
    if checkpoint_dir is not None:
        static_leaves = [x for x in static.leaves if x is not _DYNAMIC]
        identity = _name(fn) if name is None else name
        sig = signature(identity, h, static.treedef, dynamic, static_leaves, out_avals, K)
        store = SweepStore(checkpoint_dir, sig)
    state = _Sweep(fn, h, K, dynamic, static, out_tree, out_leaves, store, None)
    state.traced = traced
    if store is not None:
        store.load(state.buffers, state.done)
        _agree_across_hosts(state.done, checkpoint_dir)
    info: dict[str, Any] = dict(
        strategy=strategy,
        chosen=None,
        width=None,
        devices=_mesh_size(mesh),
        members=K,
        loaded=int(state.done.sum()),
    )
    try:
        if progress and jax.process_index() == 0 and not state.done.all():
            from tqdm.auto import tqdm

            # _Sweep's progress bar is attached only when progress=True.
            state.bar = tqdm(  # pyright: ignore[reportAttributeAccessIssue]
                total=K,
                initial=int(state.done.sum()),
                unit="member",
                desc=f"sweep {getattr(fn, '__name__', 'fn')}",
            )
        _execute(state, strategy, batch_size, mesh, info)
    except BaseException as exc:
        _stopped(exc, state, checkpoint_dir)
        raise
    finally:
        if state.bar is not None:
            state.bar.close()
    if name is None:
        _warn_failed_checks(state, _check_messages(fn, static))
    out = jax.tree.unflatten(out_tree, [jax.device_put(b) for b in state.buffers])
    return out, SweepInfo(**info)


MSG_FAILED_CHECKS = (
    "sweep: member(s) {members} returned NaN or inf. fn checks traced values ({checks}); inside "
    "a sweep a failed check gives NaN in that member instead of stopping the sweep (the other "
    "members are unaffected), so these members either diverged or failed a check. To see the "
    "error, run one of them alone: jax.jit(fn)(h_k, *args)."
)


def _warn_failed_checks(state: _Sweep, messages: list[str]) -> None:
    """Names the members with non-finite outputs when ``fn`` traced checks of traced values
    (which give NaN inside a sweep instead of raising)."""
    if not messages:
        return
    bad = np.zeros(state.K, bool)
    for buf in state.buffers:
        if np.issubdtype(buf.dtype, np.inexact):
            bad |= ~np.isfinite(buf.reshape(state.K, -1)).all(axis=1)
    bad &= state.done
    if bad.any():
        members = ", ".join(map(str, np.flatnonzero(bad)[:10])) + (" ..." if bad.sum() > 10 else "")
        checks = "; ".join(repr(m) for m in messages[:3]) + (" ..." if len(messages) > 3 else "")
        warnings.warn(MSG_FAILED_CHECKS.format(members=members, checks=checks), stacklevel=3)


def _agree_across_hosts(done: np.ndarray, checkpoint_dir: Any) -> None:
    if not _multi():
        return
    from jax.experimental import multihost_utils

    agreed = np.asarray(multihost_utils.broadcast_one_to_all(done))
    differ = np.int32(not np.array_equal(agreed, done))
    # every process learns whether any differs, so that all raise together (none waits)
    if np.asarray(multihost_utils.process_allgather(differ)).any():
        raise ValueError(
            f"checkpoint_dir={str(checkpoint_dir)!r} does not hold the same finished chunks on "
            "every host: it must be on a file system that all hosts share."
        )


def _stopped(exc: BaseException, state: _Sweep, checkpoint_dir: Any) -> None:
    """Keeps what finished: raises SweepError (from an Exception) or SweepInterrupted (from a
    KeyboardInterrupt) carrying the finished members; returns, to re-raise ``exc`` unchanged,
    when none had finished or for other BaseExceptions (SystemExit, ...)."""
    finished = int(state.done.sum())
    if finished == 0 or not isinstance(exc, (Exception, KeyboardInterrupt)):
        return
    partial = PartialSweep(state.results(), state.done.copy())
    where = (
        f" They are saved in checkpoint_dir={str(checkpoint_dir)!r}: rerun the same call to resume."
        if checkpoint_dir is not None
        else " Pass checkpoint_dir= to keep them on disk and resume."
    )
    message = (
        f"the sweep stopped with {finished} of {state.K} members finished, on "
        f"{type(exc).__name__}: {exc}. The finished members are in .partial "
        f"(results, done).{where}"
    )
    if isinstance(exc, Exception):
        raise SweepError(message, partial) from exc
    raise SweepInterrupted(message, partial) from exc


def grid(**axes: ArrayLike) -> dict[str, jax.Array]:
    """The Cartesian product of hyperparameter values, as hparams for :func:`jaxl2.sweep`.

    ``grid(a=[a1, a2], b=[b1, b2, b3])`` has K = 6 members, ordered like
    ``itertools.product`` (the first axis varies slowest): ``(a1, b1), (a1, b2), … (a2, b3)``.

    Args:
        **axes: name = 1-D array (or list) of values. At least one axis; none empty.

    Returns:
        A dict of arrays of shape ``(K,)``, K the product of the axis lengths, keeping each
        axis's dtype.

    Raises:
        ValueError: no axes, an empty axis, or an axis that is not one-dimensional.

    Examples:
        >>> import jax.numpy as jnp, jaxl2
        >>> g = jaxl2.grid(weight_decay=jnp.array([0.0, 0.1]), lr=jnp.array([1e-3, 1e-2]))
        >>> g["weight_decay"]
        Array([0. , 0. , 0.1, 0.1], dtype=float32)
        >>> g["lr"]
        Array([0.001, 0.01 , 0.001, 0.01 ], dtype=float32)
    """
    if not axes:
        raise ValueError(
            "grid needs at least one axis, e.g. grid(weight_decay=jnp.logspace(-5, -1, 8))."
        )
    values = {}
    for name, v in axes.items():
        if np.asarray(v).dtype.kind not in "fiub":
            raise TypeError(
                f"grid axis {name!r} must hold numbers (it becomes an array that fn receives), "
                f"got {v!r}. Index non-numeric choices instead, e.g. opt=jnp.arange(2)."
            )
        arr = _canonical(v)
        if arr.ndim != 1 or arr.size == 0:
            raise ValueError(
                f"grid axis {name!r} must be a non-empty 1-D array of values, "
                f"got shape {arr.shape}."
            )
        values[name] = arr
    mesh = np.meshgrid(*values.values(), indexing="ij")
    return {name: jax.device_put(m.reshape(-1)) for name, m in zip(values, mesh, strict=True)}
