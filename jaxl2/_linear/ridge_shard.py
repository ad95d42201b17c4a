"""Many-target solvers sharded over devices by targets.

Every target of ``ridge_path(..., keep="best")`` (and of kernel ridge, and of banded ridge's
random search) is solved independently from one shared decomposition. So the targets are
split over the devices of a mesh: Y (n, T) is placed as a ``NamedSharding`` along its target
axis, the design and its decomposition are replicated, and each device runs the usual batch
function on its own targets, ``targets_batch / D`` at a time, writing into per-target outputs
that stay sharded the same way. No collective is needed.

T is padded with zero targets to a multiple of the device count D and the outputs are trimmed
after (a trimmed array no longer divides evenly, so JAX hands it back replicated). A Y that
arrives already sharded along targets (a ``NamedSharding`` whose spec names mesh axes for
axis 1 only) is used where it lies: its mesh is the one used when ``devices`` is None.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from .. import _checks as ck


class TargetMesh:
    """A mesh and the mesh axes that the targets are split over."""

    def __init__(self, mesh: Mesh, axes: tuple[str, ...]) -> None:
        self.mesh, self.axes = mesh, axes
        self.size = int(np.prod([mesh.shape[a] for a in axes]))

    def __hash__(self) -> int:
        return hash((self.mesh, self.axes))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TargetMesh) and (self.mesh, self.axes) == (other.mesh, other.axes)

    def spec(self, target_axis: int, ndim: int) -> P:
        parts: list[Any] = [None] * ndim
        parts[target_axis] = self.axes
        return P(*parts)

    def sharding(self, target_axis: int, ndim: int) -> NamedSharding:
        return NamedSharding(self.mesh, self.spec(target_axis, ndim))

    def replicated(self) -> NamedSharding:
        return NamedSharding(self.mesh, P())


def _target_axes_of(y: Any) -> TargetMesh | None:
    """The mesh of a 2-D Y sharded along its target axis (axis 1) only, else None."""
    if not ck.is_concrete(y) or not isinstance(y, jax.Array) or y.ndim != 2:
        return None  # a traced y (under jit or vmap) follows the caller's sharding
    if not isinstance(y.sharding, NamedSharding) or not isinstance(y.sharding.mesh, Mesh):
        return None
    spec = tuple(y.sharding.spec) + (None,) * (2 - len(y.sharding.spec))
    if spec[0] is not None or spec[1] is None:
        return None
    axes = spec[1] if isinstance(spec[1], tuple) else (spec[1],)
    tm = TargetMesh(y.sharding.mesh, tuple(axes))
    return tm if tm.size > 1 else None


def resolve(devices: Any, y: Any) -> TargetMesh | None:
    """The target mesh for ``devices=`` (jaxl2.sweep's convention: an int, a list of devices
    or a Mesh, whose axes all split the targets), or Y's own when it arrives sharded along
    targets and ``devices`` is None. None: run unsharded."""
    if devices is None:
        return _target_axes_of(y)
    from .._sweep.sweep import _resolve_devices  # the same checks and messages as sweep's

    mesh = _resolve_devices(devices)
    assert mesh is not None
    tm = TargetMesh(mesh, tuple(mesh.axis_names))
    return tm if tm.size > 1 else None


def place_targets(Y: jax.Array, tm: TargetMesh) -> tuple[jax.Array, int]:
    """Y (n, T) padded with zero targets to a multiple of the device count and sharded along
    its targets; returns it and T. Already so placed: returned as it is."""
    t = Y.shape[1]
    pad = -t % tm.size
    if pad:
        Y = jnp.concatenate([Y, jnp.zeros((Y.shape[0], pad), Y.dtype)], axis=1)
    target = tm.sharding(1, 2)
    # a traced Y (under jit) has no .sharding to compare: device_put constrains it
    placed = ck.is_concrete(Y) and isinstance(Y.sharding, NamedSharding)
    if not (placed and Y.sharding.is_equivalent_to(target, 2)):
        Y = jax.device_put(Y, target)
    return Y, t


def replicate(tree: Any, tm: TargetMesh) -> Any:
    """Every array of ``tree`` replicated on the target mesh (None leaves kept)."""
    return jax.device_put(tree, tm.replicated())


@functools.lru_cache(maxsize=64)
def _program(
    fn: Callable,
    static: tuple,
    tm: TargetMesh,
    b: int,
    axes_out: tuple[int | None, ...],
    ndims: tuple[int, ...],
    donate: bool,
) -> Callable:
    """jit(shard_map) of one step: each device takes local targets ``[i·b, i·b + b)`` of Y
    (the start is clamped to ``T_local − b``, as ``dynamic_slice`` does, which only recomputes
    some targets of the last batch: every target is independent) and writes ``fn``'s outputs
    into the local parts of the buffers."""
    y_spec = tm.spec(1, 2)

    def local(shared: Any, Y: jax.Array, i: jax.Array, bufs: tuple) -> tuple:
        start = i * b
        out = fn(shared, jax.lax.dynamic_slice_in_dim(Y, start, b, axis=1), **dict(static))
        return tuple(
            None
            if buf is None or axis is None
            else jax.lax.dynamic_update_slice_in_dim(buf, o, start, axis)
            for buf, o, axis in zip(bufs, out, axes_out, strict=True)
        )

    buf_specs = tuple(
        None if a is None else tm.spec(a, d) for a, d in zip(axes_out, ndims, strict=True)
    )
    body = jax.shard_map(
        local,
        mesh=tm.mesh,
        in_specs=(P(), y_spec, P(), buf_specs),
        out_specs=buf_specs,
        check_vma=False,
    )
    return jax.jit(body, donate_argnums=(3,) if donate else ())


def run(
    fn: Callable[..., tuple],
    static: dict[str, Any],
    shared: Any,
    Y: jax.Array,
    tm: TargetMesh,
    targets_batch: int | None,
    default_batch: Callable[[int], int],
    axes_out: Sequence[int | None],
    progress: Any = None,
) -> tuple:
    """``fn(shared, Y_batch, **static)`` over all targets of Y, sharded by targets.

    ``fn`` (a module-level function: it keys the compiled program's cache, with ``static``,
    the mesh and the batch) returns a tuple of arrays whose target axis is ``axes_out[j]``
    (0 or 1; None for an output that is None). ``shared`` is replicated. ``targets_batch``
    counts targets over all devices (each device takes ``⌈targets_batch / D⌉`` at a time);
    ``default_batch(t_local)`` gives the per-device batch when it is None. Returns the
    outputs for the first T targets.
    """
    Y, t = place_targets(Y, tm)
    shared = replicate(shared, tm)
    n, t_pad = Y.shape
    local = t_pad // tm.size
    b = default_batch(local) if targets_batch is None else -(-targets_batch // tm.size)
    b = max(1, min(b, local))
    axes_out = tuple(axes_out)
    static_items = tuple(sorted(static.items()))
    shapes = jax.eval_shape(
        functools.partial(fn, **static), shared, jax.ShapeDtypeStruct((n, b), Y.dtype)
    )
    bufs = []
    for s, a in zip(shapes, axes_out, strict=True):
        if a is None:
            bufs.append(None)
            continue
        shape = list(s.shape)
        shape[a] = t_pad
        bufs.append(jnp.zeros(shape, s.dtype, device=tm.sharding(a, len(shape))))
    # Donation lets each step update the buffers in place; XLA:CPU does not implement it
    # (and warns), so it is asked for on accelerators only.
    donate = tm.mesh.devices.flat[0].platform != "cpu"
    ndims = tuple(len(s.shape) if s is not None else 0 for s in shapes)
    step = _program(fn, static_items, tm, b, axes_out, ndims, donate)
    steps = -(-local // b)
    bar = progress(steps) if progress is not None else None
    out = tuple(bufs)
    for i in range(steps):
        out = step(shared, Y, jnp.asarray(i, jnp.int32), out)
        if bar is not None:
            jax.block_until_ready(out)
            bar.update(1)
    if bar is not None:
        bar.close()
    if t_pad != t:
        out = tuple(
            None if o is None or a is None else jax.lax.slice_in_dim(o, 0, t, axis=a)
            for o, a in zip(out, axes_out, strict=True)
        )
    return out
