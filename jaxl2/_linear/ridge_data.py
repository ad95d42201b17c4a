"""Data preparation shared by the closed-form ridge solvers (their input checks are
:func:`jaxl2._checks.check_xy` and friends).

Every solver works in the same transformed space, the one scikit-learn's ``Ridge`` uses: with
an intercept, ``X`` and ``y`` are centred with sample-weighted means, then every row is scaled
by ``sqrt(s_i)``. The intercept is unpenalized, so it drops out of the problem and is recovered
at the end as ``ybar - xbar @ w``.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np

from . import ridge_chunks as ch


class Prepared(NamedTuple):
    """Problem in the centred, sqrt(s)-scaled space (see the module docstring)."""

    Xs: jax.Array  # (n, p)
    Ys: jax.Array  # (n, t)
    x_mean: jax.Array  # (p,), zeros without an intercept
    y_mean: jax.Array  # (t,), zeros without an intercept
    leverage: jax.Array  # (n,): s_i / sum(s) with an intercept (1/n unweighted), else 0


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
    # The check rides on a scalar, and every leaf (integer ones too, e.g. a best index) depends
    # on it through an exact identity: a check on one leaf only is dropped by jit when the
    # caller uses another (best_lam alone was silently wrong). eqx.error_if on the leaves
    # themselves passed each through its host callback, which gathered a leaf sharded over
    # devices onto one: under jit, ridge_path(..., devices=4) returned coef replicated.
    token = eqx.error_if(jnp.zeros((), jnp.int32), bad, MSG_NOT_FINITE.format(fn=fn, x=x, y=y))

    def tie(a: jax.Array) -> jax.Array:  # a, computed only once the check has run
        if jnp.issubdtype(a.dtype, jnp.inexact):
            return a * (1 + token).astype(a.dtype)  # × 1 keeps -0.0, NaN and Inf as they are
        if a.dtype == jnp.bool_:
            return a | token.astype(bool)
        return a + token.astype(a.dtype)

    return jax.tree.map(tie, result)


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


def after(x: jax.Array, *deps: jax.Array) -> jax.Array:
    """``x``, computed only once ``deps`` are: one LAPACK call at a time under a user's vmap.

    Under ``jax.vmap(jaxl2.ridge)`` over many problems every LAPACK call of the solve is a
    *batched* call, which on CPU blocks its XLA worker until the pool's other workers have run
    its chunks (see :func:`map_unbatched`). Two independent ones in flight at once (the solve
    and the condition estimate's solves, or the Cholesky path and the SVD fallback that a
    batched ``lax.cond`` computes too) blocked both workers of a 2-core machine: the process
    hung at 0 % CPU within a few calls. Ordered, one call runs at a time and a worker stays
    free. An ``optimization_barrier`` does not order anything on XLA:CPU (it is removed before
    the thunks are scheduled); a data dependence does: ``x · (1 + 0·[a NaN in deps])`` is
    exactly ``x`` (the indicator is 0 or 1, never NaN, and XLA does not fold a float product
    by 0), with one elementwise pass over ``x``.
    """
    if not deps:
        return x
    flag = functools.reduce(jnp.logical_or, [jnp.any(jnp.isnan(d)) for d in deps])
    return x * (1 + flag.astype(x.dtype) * 0)


@jax.custom_jvp
def cho_factor_solve(A: jax.Array, b: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(L, A⁻¹b)`` with ``L`` the lower Cholesky factor of A (NaN where A is not positive
    definite: the callers then fall back, see :func:`fallback`).

    Derivatives are the solve's, ``dx = A⁻¹(db − dA·x)``; where the factor failed, that map is
    built from a finite stand-in (I, 0), so the zero cotangent the fallback's ``where`` sends
    back stays 0 instead of 0·NaN = NaN (a gradient through the fallback was NaN). ``L`` only
    feeds the condition estimate, a yes/no decision: it carries no derivative.
    """
    L = jnp.linalg.cholesky(A)
    return L, jsl.cho_solve((L, True), b)


@cho_factor_solve.defjvp
def _cho_factor_solve_jvp(primals: tuple, tangents: tuple) -> tuple:
    A, b = primals
    dA, db = tangents
    L, x = cho_factor_solve(A, b)
    ok = jnp.all(jnp.isfinite(L))
    L_safe = jnp.where(ok, L, jnp.eye(A.shape[-1], dtype=A.dtype))
    x_safe = jnp.where(ok, x, jnp.zeros_like(x))
    dx = jsl.cho_solve((L_safe, True), db - dA @ x_safe)
    return (L, x), (jnp.zeros_like(L), dx)


@jax.custom_batching.custom_vmap
def any_member(flag: jax.Array) -> jax.Array:
    """``flag`` (a bool scalar); under :func:`jax.vmap`, whether any member's flag is set.

    The result is *not* batched: a :func:`jax.lax.cond` on it stays a branch under a user's
    vmap instead of becoming a select that computes both branches for every member (see
    :func:`fallback`). Nested vmaps reduce level by level. The flag is a bool, so it carries no
    derivative, and :func:`jax.grad` and :func:`jax.jvp` pass through untouched.
    """
    return flag


@any_member.def_vmap
def _any_member_rule(axis_size: int, in_batched: list, flag: jax.Array) -> tuple:
    del axis_size
    (batched,) = in_batched
    return (any_member(jnp.any(flag, axis=0)) if batched else flag), False


def fallback(trusted: jax.Array, fast: Any, slow: Any) -> Any:
    """``fast`` if ``trusted`` else ``slow()``, as ``lax.cond(trusted, lambda: fast, slow)``,
    but under :func:`jax.vmap` ``slow`` runs only when some member is not trusted.

    A vmapped ``lax.cond`` with a batched predicate computes both branches for every member:
    ``jax.vmap(jaxl2.ridge)`` over 1000 small problems computed the SVD fallback of all 1000,
    which made it 3.5× slower than a numpy loop. Here the branch is taken on
    :func:`any_member` (one unbatched flag), and inside it each member picks its own result.
    Unbatched it is the plain ``cond``: ``where(True, slow, fast)`` is ``slow``.
    """
    need = jnp.logical_not(trusted)

    def mixed() -> Any:
        return jax.tree.map(lambda s, f: jnp.where(need, s, f), slow(), fast)

    return jax.lax.cond(any_member(need), mixed, lambda: fast)


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
