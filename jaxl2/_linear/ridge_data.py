"""Input checks and data preparation shared by the closed-form ridge solvers.

Every solver works in the same transformed space, the one scikit-learn's ``Ridge`` uses: with
an intercept, ``X`` and ``y`` are centred with sample-weighted means, then every row is scaled
by ``sqrt(s_i)``. The intercept is unpenalized, so it drops out of the problem and is recovered
at the end as ``ybar - xbar @ w``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_finite, check_nonnegative, check_real, is_concrete
from . import ridge_chunks as ch

# Half-precision inputs are solved in float32 (LAPACK has no half-precision kernels) and the
# results cast back, so the caller's dtype is preserved.
_HALF = (jnp.float16, jnp.bfloat16)


class Prepared(NamedTuple):
    """Problem in the centred, sqrt(s)-scaled space (see the module docstring)."""

    Xs: jax.Array  # (n, p)
    Ys: jax.Array  # (n, t)
    x_mean: jax.Array  # (p,), zeros without an intercept
    y_mean: jax.Array  # (t,), zeros without an intercept
    leverage: jax.Array  # (n,): s_i / sum(s) with an intercept (1/n unweighted), else 0


def default_float() -> Any:
    """float64 when jax x64 is on, else float32."""
    return jax.dtypes.canonicalize_dtype(jnp.float64)


def float_dtypes(*arrays: Any) -> tuple[Any, Any]:
    """(compute dtype, output dtype): the first floating input's dtype, else the default."""
    for a in arrays:
        if a is not None and jnp.issubdtype(jnp.result_type(a), jnp.floating):
            out = jnp.result_type(a)
            break
    else:
        out = default_float()
    compute = jnp.dtype(jnp.float32) if out in _HALF else out
    return compute, out


def check_all_finite(x: jax.Array, name: str) -> jax.Array:
    """``check_finite`` that does its concrete test as one reduction on the array's device."""
    if is_concrete(x) and bool(_all_finite(x)):
        return x
    return jnp.asarray(check_finite(x, name))


@jax.jit
def _all_finite(x: jax.Array) -> jax.Array:
    # x·0 is 0 for finite entries and NaN otherwise, so one sum answers without overflow; it
    # avoids the n × p boolean temporary that all(isfinite(x)) allocates on XLA:CPU.
    return jnp.isfinite(jnp.sum(x * 0))


MSG_NOT_FINITE = (
    "{fn} produced a non-finite result. Inside jit/vmap/grad the data cannot be checked "
    "before solving, so this usually means that {x} or {y} held NaN or Inf; it can also mean "
    "a singular system (lam = 0 with rank-deficient {x} and solver='cholesky': use 'svd')."
)


def guard_finite(result: Any, traced: bool, fn: str, x: str = "X", y: str = "y") -> Any:
    """Raises (at run time) if any floating leaf of ``result`` is NaN/Inf, when data was traced.

    With concrete data the inputs were checked up front (naming the bad entry), so nothing is
    added. With traced data, checking the (small) result instead of the (large) inputs costs
    almost nothing: NaN or Inf in X or y always propagates into the coefficients.
    """
    if not traced:
        return result
    leaves = [a for a in jax.tree.leaves(result) if jnp.issubdtype(a.dtype, jnp.inexact)]
    bad = jnp.zeros((), bool)
    for a in leaves:
        bad = bad | ~jnp.all(jnp.isfinite(a))
    first, *_ = leaves
    flagged = eqx.error_if(first, bad, MSG_NOT_FINITE.format(fn=fn, x=x, y=y))
    return jax.tree.map(lambda a: flagged if a is first else a, result)


def as_2d_design(X: Any, name: str = "X") -> jax.Array:
    X = jnp.asarray(X)
    if X.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_samples, n_features), got shape {X.shape}."
        )
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} must have at least one sample and one feature, got {X.shape}.")
    return X


class Validated(NamedTuple):
    X: jax.Array  # (n, p) in the compute dtype
    Y: jax.Array  # (n, t)
    sw: jax.Array | None
    y_was_1d: bool
    out_dtype: Any
    traced: bool  # X or y traced: value checks are deferred to guard_finite


def validate_xy(
    X: Any, y: Any, sample_weight: Any, *, x_name: str = "X", y_name: str = "y"
) -> Validated:
    """Checks shapes and (when concrete) values of X, y and sample_weight.

    X, Y and sample_weight come back in the compute dtype (the dtype of X when it is floating).
    """
    X = as_2d_design(X, x_name)
    y = jnp.asarray(y)
    compute, out = float_dtypes(X, y)
    n = X.shape[0]
    if y.ndim not in (1, 2):
        raise ValueError(
            f"{y_name} must be 1-D (n_samples,) or 2-D (n_samples, n_targets), got shape {y.shape}."
        )
    if y.shape[0] != n:
        raise ValueError(
            f"{x_name} and {y_name} must have the same number of samples, but {x_name} has shape "
            f"{X.shape} and {y_name} has shape {y.shape}."
        )
    if y.ndim == 2 and y.shape[1] == 0:
        raise ValueError(f"{y_name} must have at least one target, got shape {y.shape}.")
    X, y = X.astype(compute), y.astype(compute)
    traced = not (is_concrete(X) and is_concrete(y))
    if not traced:
        X, y = check_all_finite(X, x_name), check_all_finite(y, y_name)
    Y = y[:, None] if y.ndim == 1 else y
    sw = None if sample_weight is None else validate_sample_weight(sample_weight, n, compute)
    return Validated(X, Y, sw, y.ndim == 1, out, traced)


def validate_sample_weight(sample_weight: Any, n: int, dtype: Any) -> jax.Array:
    sw = jnp.asarray(sample_weight)
    if sw.ndim == 0:
        sw = jnp.broadcast_to(sw, (n,))
    if sw.shape != (n,):
        raise ValueError(
            f"sample_weight must be a scalar or have shape (n_samples,) = ({n},), got shape "
            f"{sw.shape}."
        )
    sw = jnp.asarray(check_nonnegative(sw, "sample_weight", allow_inf=False)).astype(dtype)
    if is_concrete(sw) and not bool(jnp.any(sw > 0)):
        raise ValueError("sample_weight must have at least one positive entry; all are zero.")
    return sw


def validate_lam(
    lam: Any, n_targets: int, y_was_1d: bool, dtype: Any, name: str = "lam"
) -> jax.Array:
    """A scalar, or a (t,) array of per-target strengths; >= 0 and not NaN (index named)."""
    check_real(lam, name)
    arr = jnp.asarray(lam)
    if arr.ndim > 1:
        raise ValueError(f"{name} must be a scalar or a 1-D array, got shape {arr.shape}.")
    if arr.ndim == 1 and arr.shape[0] not in (1, n_targets):
        raise ValueError(
            f"{name} has shape {arr.shape}: a per-target {name} needs one entry per target, "
            f"but y has {n_targets} target(s)" + (" (y is 1-D)." if y_was_1d else ".")
        )
    lam = check_nonnegative(lam, name)
    arr = jnp.asarray(lam).astype(dtype)
    if arr.ndim == 1 and arr.shape[0] == 1:
        arr = arr[0]
    return arr


def validate_lams(lams: Any, dtype: Any, name: str = "lams") -> jax.Array:
    """A 1-D grid of strengths (a scalar becomes a grid of one); >= 0, finite, index named."""
    check_real(lams, name)
    arr = jnp.asarray(lams)
    if arr.ndim == 0:
        arr = arr[None]
        lams = arr
    if arr.ndim != 1 or arr.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {arr.shape}.")
    lams = check_nonnegative(lams, name, allow_inf=False)
    return jnp.asarray(lams).astype(dtype)


def prepare(X: jax.Array, Y: jax.Array, sw: jax.Array | None, fit_intercept: bool) -> Prepared:
    """Forms the centred, sqrt(s)-scaled problem (see the module docstring)."""
    c = ch.centring(X, Y, sw, fit_intercept)
    Xs = ch.scale_rows(c, X, c.x_mean, c.sqrt_w)
    Ys = ch.scale_rows(c, Y, c.y_mean, c.sqrt_w)
    return Prepared(Xs, Ys, c.x_mean, c.y_mean, c.leverage)


def finish(
    W: jax.Array, x_mean: jax.Array, y_mean: jax.Array, fit_intercept: bool
) -> tuple[jax.Array, jax.Array]:
    """Coefficients (..., t, p) -> intercepts (..., t) = ybar - W @ xbar (0 without one)."""
    if not fit_intercept:
        return W, jnp.zeros(W.shape[:-1], W.dtype)
    lead = (1,) * (W.ndim - 2)
    return W, y_mean.reshape(lead + y_mean.shape) - W @ x_mean


def eps_of(dtype: Any) -> float:
    return float(np.finfo(np.dtype(dtype)).eps)


def map_unbatched(fn: Any, *xs: Any) -> Any:
    """``jax.vmap(fn)(*xs)`` over the leading axis of every ``xs``, as a loop on CPU.

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
