"""Mapping a function that calls LAPACK over a batch, without batched LAPACK calls on CPU.

jaxlib 0.10.x runs a *batched* LAPACK call on CPU (``cholesky``, ``solve_triangular``,
``eigh``, ``lu``, ``qr``, ``svd``: what ``jax.vmap`` of a per-item solve lowers to) by splitting
the batch into chunks, scheduling them on XLA:CPU's intra-op thread pool and blocking the
calling thread, itself a worker of that pool, until they finish (``jax::ParallelBatchMap`` in
``jaxlib/cpu/lapack_kernels.cc``; it runs the batch inline only when it is under ~2·10⁵ flops
or the pool has one thread). XLA:CPU's thunk executor runs independent operations at the same
time, so once as many batched LAPACK calls as the pool has threads are in flight at once (the
backward pass of a vmapped solve has several independent triangular solves; on a 2-core
machine two are enough), every worker is blocked waiting for chunks that no free worker is left
to run: the process hangs at 0% CPU in ``block_until_ready``. Seen with ``tune_banded_ridge``
(issue 15): 8 targets, p = 300, two ``lapack_strsm_ffi`` calls each stuck in
``BlockingCounter::Wait``.

:func:`map_unbatched` maps with :func:`jax.lax.map` on CPU, so every LAPACK call sees a single
matrix and runs inline on its thread (LAPACK/BLAS still thread each call internally), and with
:func:`jax.vmap` on GPU/TPU, where batched solvers are the fast path and no such pool exists.
The choice is :func:`jax.lax.platform_dependent`'s, made when the program is lowered for its
device, so one traced function is right on every backend.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax


def map_unbatched(fn: Callable[..., Any], *xs: Any) -> Any:
    """``jax.vmap(fn)(*xs)`` over the leading axis of every ``xs``, as a loop on CPU.

    Args:
      fn: a function of one item of each of ``xs``, returning a pytree.
      *xs: arrays (or pytrees of arrays) with the same leading size.

    Returns:
      The stacked results, as ``jax.vmap(fn)(*xs)`` gives them.
    """

    def sequential(*args: Any) -> Any:
        return jax.lax.map(lambda item: fn(*item), args)

    def batched(*args: Any) -> Any:
        return jax.vmap(fn)(*args)

    return jax.lax.platform_dependent(*xs, cpu=sequential, default=batched)
