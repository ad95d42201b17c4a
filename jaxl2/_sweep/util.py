"""Small pieces the sweep engine's modules share: the bounded caches, the mesh size, the backend."""

from __future__ import annotations

import collections
import os
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh

CACHE_SIZE = 128
# Every function-keyed cache of the package, so that jaxl2.clear_caches() can empty them all.
CACHES: list[collections.OrderedDict] = []


def new_cache() -> collections.OrderedDict:
    """A bounded, registered cache (least recently used dropped beyond CACHE_SIZE entries)."""
    cache: collections.OrderedDict = collections.OrderedDict()
    CACHES.append(cache)
    return cache


def clear_caches() -> None:
    """Empties jaxl2's in-memory caches of compiled programs, and JAX's (``jax.clear_caches()``).

    :func:`jaxl2.sweep`, :func:`jaxl2.train_sweep` and :func:`jaxl2.cross_validate` keep, keyed
    by the function object swept, the compiled programs, the member functions they build, and
    ``strategy="auto"``'s decisions (each cache bounded to 128 entries), so a rerun with the same
    function compiles and probes nothing. ``clear_caches`` drops them all, as
    ``equinox.clear_caches`` does: to free the memory these programs and the functions they
    close over (often arrays) hold, or to measure a first run again. The next sweep traces,
    compiles and, under ``"auto"``, decides afresh. On-disk caches are left alone: JAX's
    persistent compilation cache and "auto"'s remembered decisions (``JAXL2_CACHE_DIR``; see
    :func:`jaxl2.sweep` to turn them off).

    Examples:
        >>> import jax.numpy as jnp, jaxl2
        >>> traces = []
        >>> def half(lam):
        ...     traces.append(lam)  # runs when JAX traces, not when a compiled program runs
        ...     return 1.0 / (2.0 + lam)
        >>> jaxl2.sweep(half, jnp.array([0.0, 2.0]), strategy="vmap")
        Array([0.5 , 0.25], dtype=float32)
        >>> n = len(traces); _ = jaxl2.sweep(half, jnp.array([0.0, 2.0]), strategy="vmap")
        >>> len(traces) - n  # compiled programs reused: no tracing
        0
        >>> jaxl2.clear_caches()
        >>> n = len(traces); _ = jaxl2.sweep(half, jnp.array([0.0, 2.0]), strategy="vmap")
        >>> len(traces) - n > 0  # traced (and compiled) again
        True
    """
    for cache in CACHES:
        cache.clear()
    jax.clear_caches()


def cache_get(cache: collections.OrderedDict, key: Any, build: Callable[[], Any]) -> Any:
    try:
        hash(key)
    except TypeError:  # e.g. an unhashable callable object: no reuse across calls
        return build()
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    value = cache[key] = build()
    if len(cache) > CACHE_SIZE:
        cache.popitem(last=False)
    return value


def backend() -> str:
    return jax.default_backend()


def mesh_size(mesh: Mesh | None) -> int:
    return 1 if mesh is None else int(mesh.devices.size)


def round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def multi() -> bool:
    return jax.process_count() > 1


def from_process_0(values: Sequence[int]) -> list[int]:
    """Process 0's values on every process (a collective: every process must call it)."""
    if not multi():
        return list(values)
    from jax.experimental import multihost_utils

    arr = np.asarray(values, np.int32)
    return [int(v) for v in np.asarray(multihost_utils.broadcast_one_to_all(arr))]


def member_permutation(seed: jax.Array, index: jax.Array, epoch: jax.Array, n: int) -> jax.Array:
    """Member ``index``'s permutation of the ``n`` training examples in epoch ``epoch``, from the
    key ``fold_in(fold_in(key(seed + 1), index), epoch)``: the minibatch order of
    :func:`jaxl2.train_sweep` and of successive halving / Hyperband on array data, one function
    so that a member follows the same trajectory in both."""
    key = jax.random.fold_in(jax.random.fold_in(jax.random.key(seed + 1), index), epoch)
    return jax.random.permutation(key, n)


class Pending:
    """An array still being computed (a program compiling in a background thread): its
    ``shape`` and ``dtype`` are known now, its value when :meth:`value` is called (which waits).
    The sweep engine traces, lowers and compiles with the shape and asks for the value only to
    run, so the two compilations overlap (XLA compiles outside the GIL)."""

    __slots__ = ("_get", "_value", "dtype", "shape", "weak_type")

    def __init__(
        self, shape: tuple, dtype: Any, get: Callable[[], Any], weak_type: bool = False
    ) -> None:
        self.shape, self.dtype, self.weak_type = tuple(shape), dtype, weak_type
        self._get: Callable[[], Any] | None = get
        self._value: Any = None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def spec(self) -> jax.ShapeDtypeStruct:
        """The shape and dtype, as a ``jax.ShapeDtypeStruct`` (to lower a program without the
        value)."""
        return jax.ShapeDtypeStruct(self.shape, self.dtype, weak_type=self.weak_type)

    def value(self) -> Any:
        if self._get is not None:
            self._value, self._get = self._get(), None
        return self._value

    def __repr__(self) -> str:
        return f"Pending(shape={self.shape}, dtype={self.dtype})"


def resolve(tree: Any) -> Any:
    """``tree`` with every :class:`Pending` leaf replaced by its value (waits for them)."""
    if not any(isinstance(x, Pending) for x in jax.tree.leaves(tree)):
        return tree
    return jax.tree.map(lambda x: x.value() if isinstance(x, Pending) else x, tree)


def pending_specs(tree: Any) -> Any:
    """``tree`` with every :class:`Pending` leaf replaced by its ``ShapeDtypeStruct`` (does not
    wait)."""
    return jax.tree.map(lambda x: x.spec() if isinstance(x, Pending) else x, tree)


_pool: Any = None
_pool_pid: int | None = None


def background(fn: Callable[[], Any]) -> Any:
    """``fn()`` in jaxl2's background thread (one, made on first use, and anew in a forked
    child, which does not inherit the thread); returns its future."""
    global _pool, _pool_pid
    if _pool is None or _pool_pid != os.getpid():
        import concurrent.futures

        _pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="jaxl2-init")
        _pool_pid = os.getpid()
    return _pool.submit(fn)
