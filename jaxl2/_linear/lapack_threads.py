"""One BLAS thread for jaxlib's CPU LAPACK kernels while a solver's compiled program runs.

jaxlib runs ``cholesky``, ``solve_triangular``, ``eigh`` (and the other LAPACK-backed
``jax.lax.linalg`` operations) on CPU through SciPy's LAPACK, i.e. SciPy's OpenBLAS, which
threads each call over its own pool of as many threads as there are cores. Those threads compete
with XLA:CPU's intra-op pool, whose workers are the ones making the calls: on a 2-core machine a
300 × 300 Cholesky took 28 ms of CPU with OpenBLAS's default threads and 1.1 ms with one thread,
and ``tune_banded_ridge(method="gradient")`` at n = 1000, p = 300, 64 targets took 61 s instead of
1.7 s (issue 15). Solvers that make one small LAPACK call per target (:func:`jax.lax.map` over
the targets, see :func:`ridge_data.map_unbatched`) hold :func:`single_threaded_blas` around the
host-side call of their compiled program. So does :func:`jaxl2.ridge_path`: at its default two
threads SciPy's OpenBLAS made one ``eigh`` of a 500 × 500 Gram matrix inside the path take
seconds on a 2-core Xeon (the whole 20000 × 500 path 1.3–4 s, median, against 0.45 s at one
thread). Products routed through BLAS (:mod:`jaxl2._linear.blas`) set their own thread count for
each call, so the limit holds the LAPACK calls only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import jax

from .. import _checks as ck


def _on_cpu(arrays: tuple, mesh: Any) -> bool:
    """True when every array is concrete and lives on CPU devices only, and so does every
    device of ``mesh`` (a :class:`jax.sharding.Mesh`-holding object with ``.mesh``, or None)."""
    if mesh is not None and any(dev.platform != "cpu" for dev in mesh.mesh.devices.flat):
        return False
    for a in arrays:
        if a is None:
            continue
        if not ck.is_concrete(a) or not isinstance(a, jax.Array):
            return False
        if any(dev.platform != "cpu" for dev in a.devices()):
            return False
    return True


@contextlib.contextmanager
def single_threaded_blas(*arrays: Any, mesh: Any = None) -> Iterator[None]:
    """Limits the loaded BLAS libraries (SciPy's OpenBLAS among them) to one thread.

    Applies only when every array in ``arrays`` is a concrete array on CPU devices, every
    device of ``mesh`` (where the program runs sharded) is a CPU, and ``threadpoolctl`` is
    importable; otherwise (GPU/TPU, tracing under a user's ``jit``) it does nothing. The
    previous thread counts are restored on exit, so no setting outlives the block.
    The limit is process-wide while the block runs: NumPy/SciPy calls made at the same time from
    other Python threads run single-threaded too. The block must wait for its results
    (``jax.block_until_ready``) before leaving, or the program would run after the limit is lifted.
    """
    if not _on_cpu(arrays, mesh):
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield
