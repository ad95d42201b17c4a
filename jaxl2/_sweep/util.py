"""Small pieces the sweep engine's modules share: the bounded caches, the mesh size, the backend."""

from __future__ import annotations

import collections
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
