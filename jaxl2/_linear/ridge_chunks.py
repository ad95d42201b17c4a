"""Centred, weighted Gram products computed chunk by chunk, never forming the centred X.

The solvers need products of the centred, sqrt(s)-scaled design ``Xs = diag(√s)(X − 1x̄ᵀ)``
(see :mod:`jaxl2._ridge_data`). Forming Xs costs a full copy of X, and on XLA:CPU every large
buffer is freshly allocated (and page-faulted) on every call, which cost a third of a whole
ridge path at n = 20000, p = 500. Here the centring and scaling are applied to chunks of about
2**20 entries inside a loop, so the work is exactly that of centring first (the same numbers),
but X is read in cache-sized pieces and no n × p temporary exists.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from . import blas

CHUNK_ENTRIES = 2**20
MIN_CHUNK = 256


class Centring(NamedTuple):
    """How rows are centred and scaled: ``Xs = √s ∘ (X − x̄)``, ``Ys = √s ∘ (Y − ȳ)``."""

    x_mean: jax.Array  # (p,) (zeros without an intercept)
    y_mean: jax.Array  # (t,)
    sqrt_w: jax.Array | None  # (n,) or None when unweighted
    leverage: jax.Array  # (n,): s/Σs with an intercept (1/n unweighted), else zeros
    fit_intercept: bool


def centring(X: jax.Array, Y: jax.Array, sw: jax.Array | None, fit_intercept: bool) -> Centring:
    n, p = X.shape
    dtype = X.dtype
    weights = jnp.ones((n,), dtype) if sw is None else sw
    if fit_intercept:
        total = jnp.sum(weights)
        x_mean, y_mean = weighted_sum(weights, X) / total, weighted_sum(weights, Y) / total
        leverage = weights / total
    else:
        x_mean, y_mean = jnp.zeros((p,), dtype), jnp.zeros((Y.shape[1],), dtype)
        leverage = jnp.zeros((n,), dtype)
    sqrt_w = None if sw is None else jnp.sqrt(sw)
    return Centring(x_mean, y_mean, sqrt_w, leverage, fit_intercept)


# Up to this many columns, column sums and matrix-vector products are written as fused
# multiply-reduce loops; wider, as dot products. See weighted_sum.
NARROW = 256


def weighted_sum(w: jax.Array, X: jax.Array) -> jax.Array:
    """``w @ X`` (column sums of X weighted by w): a multiply-reduce when X is narrow, a dot
    when X is wide.

    Measured on a 2-vCPU Xeon, float64: for wide X a column reduction is slow (2000 × 20000:
    380 ms against 13 ms as a dot), for narrow X a dot is (20000 × 500: 2.7 against 3.0 ms), and
    under a user's :func:`jax.vmap` over 1000 problems of 200 × 20 the dot is a *batched*
    matrix-vector product that XLA:CPU runs item by item: 6.9 ms against 0.95 ms.
    """
    if X.shape[1] <= NARROW:
        return jnp.sum(w[:, None] * X, axis=0)
    return w @ X


def scale_rows(
    c: Centring,
    rows: jax.Array,
    mean: jax.Array,
    sqrt_w: jax.Array | None,
    col_scale: jax.Array | None = None,
) -> jax.Array:
    """Centres (when fitting an intercept), weights by √s and divides columns by ``col_scale``."""
    out = rows - mean[None, :] if c.fit_intercept else rows
    if sqrt_w is not None:
        out = out * sqrt_w[:, None]
    if col_scale is not None:
        out = out / col_scale[None, :]
    return out


def row_chunk(n: int, width: int) -> int:
    """Rows per chunk so that a chunk holds about CHUNK_ENTRIES entries (at least MIN_CHUNK)."""
    return min(n, max(MIN_CHUNK, CHUNK_ENTRIES // max(width, 1)))


def reduce_rows(
    body: Callable[[Any, tuple], Any], init: Any, arrays: Sequence[jax.Array | None], size: int
) -> Any:
    """``body(acc, chunk)`` over consecutive row chunks of ``arrays`` (None entries stay None)."""
    n = next(a for a in arrays if a is not None).shape[0]
    full, rest = divmod(n, size)

    def take(start: Any, length: int) -> tuple:
        return tuple(
            None if a is None else jax.lax.dynamic_slice_in_dim(a, start, length, 0) for a in arrays
        )

    if size >= n:  # one chunk: no slicing (a full-size slice can cost a copy under vmap)
        return body(init, tuple(arrays))
    acc = jax.lax.fori_loop(0, full, lambda i, a: body(a, take(i * size, size)), init)
    if rest:
        acc = body(acc, take(full * size, rest))
    return acc


def _col_chunk(
    fn: Callable[[jax.Array, jax.Array, jax.Array | None], jax.Array],
    X: jax.Array,
    x_mean: jax.Array,
    col_scale: jax.Array | None,
    start: Any,
    length: int,
) -> jax.Array:
    """``fn(X[:, cols], x_mean[cols], col_scale[cols])`` for ``cols = start:start + length``."""
    cols = jax.lax.dynamic_slice_in_dim(X, start, length, 1)
    mean = jax.lax.dynamic_slice_in_dim(x_mean, start, length, 0)
    scale = None if col_scale is None else jax.lax.dynamic_slice_in_dim(col_scale, start, length)
    return fn(cols, mean, scale)


def map_cols(
    fn: Callable[[jax.Array, jax.Array, jax.Array | None], jax.Array],
    X: jax.Array,
    x_mean: jax.Array,
    col_scale: jax.Array | None,
    size: int,
) -> jax.Array:
    """Concatenates ``fn(X[:, cols], x_mean[cols], col_scale[cols])`` (each (cols, k)) over
    column chunks of X."""
    p = X.shape[1]
    full, rest = divmod(p, size)
    part = functools.partial(_col_chunk, fn, X, x_mean, col_scale)
    if size >= p:
        return fn(X, x_mean, col_scale)
    stacked = jax.lax.map(lambda i: part(i * size, size), jnp.arange(full))
    pieces = [stacked.reshape(full * size, *stacked.shape[2:])]
    if rest:
        pieces.append(part(full * size, rest))
    return pieces[0] if len(pieces) == 1 else jnp.concatenate(pieces, axis=0)


def reduce_cols(
    fn: Callable[[jax.Array, jax.Array, jax.Array | None], jax.Array],
    init: jax.Array,
    X: jax.Array,
    x_mean: jax.Array,
    col_scale: jax.Array | None,
    size: int,
) -> jax.Array:
    """Sums ``fn(X[:, cols], x_mean[cols], col_scale[cols])`` over column chunks of X."""
    p = X.shape[1]
    full, rest = divmod(p, size)
    part = functools.partial(_col_chunk, fn, X, x_mean, col_scale)
    if size >= p:
        return init + fn(X, x_mean, col_scale)
    acc = jax.lax.fori_loop(0, full, lambda i, a: a + part(i * size, size), init)
    if rest:
        acc = acc + part(full * size, rest)
    return acc


def tdot(A: jax.Array, B: jax.Array) -> jax.Array:
    """``AᵀB`` as one dot_general contracting axis 0 of both.

    Written this way rather than ``A.T @ B``: under vmap, and for large A, XLA:CPU would
    otherwise materialize the transpose first (measured 2× slower for 1000 vmapped 200 × 20
    Gram matrices, and an extra n × p copy for one large one).
    """
    if A.ndim == B.ndim == 2 and B.shape[1] == 1 and A.shape[1] <= NARROW:  # a matvec
        return weighted_sum(B[:, 0], A)[:, None]
    return jax.lax.dot_general(A, B, (((0,), (0,)), ((), ())))


def rdot(A: jax.Array, B: jax.Array) -> jax.Array:
    """``ABᵀ`` as one dot_general contracting axis 1 of both."""
    return jax.lax.dot_general(A, B, (((1,), (1,)), ((), ())))


def gram_rows(A: jax.Array, blocks: int | None = None) -> jax.Array:
    """``A Aᵀ`` from its lower-triangle row blocks.

    XLA has no symmetric rank-k product (BLAS syrk), so a large Gram matrix is assembled from
    the b(b + 1)/2 products of contiguous row blocks below the diagonal: with b = 4, 10/16 of
    the flops of ``A @ A.T`` (measured 30% less CPU time for 2000 × 20000 on XLA:CPU).
    """
    if blocks is None and blas.routed(A, A, "nt"):
        return blas.gram_rows(A)  # BLAS has the symmetric rank-k product (syrk)
    r = A.shape[0]
    b = min(8, r // 512) if blocks is None else blocks
    if b < 2:
        return rdot(A, A)
    edges = [round(i * r / b) for i in range(b + 1)]
    rows = [A[edges[i] : edges[i + 1]] for i in range(b)]
    lower = {(i, j): rdot(rows[i], rows[j]) for i in range(b) for j in range(i + 1)}
    return jnp.block(
        [[lower[i, j] if j <= i else lower[j, i].T for j in range(b)] for i in range(b)]
    )


def gram_cols(A: jax.Array) -> jax.Array:
    """``AᵀA`` (column blocking measured no faster here: column slices are strided copies);
    BLAS's syrk for large float64 products on CPU (:mod:`jaxl2._linear.blas`)."""
    return blas.gram(A)


def primal_gram(X: jax.Array, Y: jax.Array, c: Centring) -> tuple[jax.Array, jax.Array]:
    """``(XsᵀXs, XsᵀYs)``: (p, p) and (p, t), accumulated over row chunks."""
    n, p = X.shape

    def body(acc: tuple, chunk: tuple) -> tuple:
        rows, targets, sqrt_w = chunk
        Xs = scale_rows(c, rows, c.x_mean, sqrt_w)
        Ys = scale_rows(c, targets, c.y_mean, sqrt_w)
        return acc[0] + gram_cols(Xs), acc[1] + tdot(Xs, Ys)

    init = (jnp.zeros((p, p), X.dtype), jnp.zeros((p, Y.shape[1]), X.dtype))
    return reduce_rows(body, init, (X, Y, c.sqrt_w), row_chunk(n, p))


def col_chunk(n: int) -> int:
    """Columns per chunk so that a chunk holds about CHUNK_ENTRIES entries."""
    return max(MIN_CHUNK, CHUNK_ENTRIES // max(n, 1))


def dual_gram(X: jax.Array, c: Centring, col_scale: jax.Array | None = None) -> jax.Array:
    """``XsXsᵀ`` (n, n), accumulated over column chunks (columns divided by ``col_scale``) at
    least 2n wide.

    Each chunk adds its n × n product to the sum (and the BLAS route fills its upper triangle),
    so narrow chunks repeat O(n²) work per chunk: at n = 2000, p = 20000 chunks of
    :func:`col_chunk`'s 524 columns took 2.36 s of CPU, 5000-column ones 1.84 s (numpy's one
    ``XcXcᵀ``: 1.55 s). A chunk of 2n columns holds twice the Gram matrix's entries, so memory
    stays O(n²).
    """
    n = X.shape[0]

    def part(cols: jax.Array, mean: jax.Array, scale: jax.Array | None) -> jax.Array:
        return gram_rows(scale_rows(c, cols, mean, c.sqrt_w, scale))

    zeros = jnp.zeros((n, n), X.dtype)
    return reduce_cols(part, zeros, X, c.x_mean, col_scale, max(col_chunk(n), 2 * n))


def targets(Y: jax.Array, c: Centring) -> jax.Array:
    """``Ys`` (n, t): small enough to form."""
    return scale_rows(c, Y, c.y_mean, c.sqrt_w)


def design_t_dot(
    X: jax.Array, c: Centring, A: jax.Array, col_scale: jax.Array | None = None
) -> jax.Array:
    """``Xsᵀ A`` (p, k) for A (n, k), by column chunks of X, each product through
    :func:`blas.tmatmul` (BLAS's ``dgemm`` for large float64 products on CPU: XLA:CPU's float64
    ``AᵀB`` took twice its time, 2000 × 524 chunks by 100 columns: 10 against 5.3 ms)."""

    def part(cols: jax.Array, mean: jax.Array, scale: jax.Array | None) -> jax.Array:
        return blas.tmatmul(scale_rows(c, cols, mean, c.sqrt_w, scale), A)

    return map_cols(part, X, c.x_mean, col_scale, col_chunk(X.shape[0]))


def column_sum_squares(X: jax.Array, c: Centring) -> jax.Array:
    """``Σᵢ Xsᵢⱼ²`` (p,), by column chunks of X."""

    def part(cols: jax.Array, mean: jax.Array, scale: jax.Array | None) -> jax.Array:
        return jnp.sum(jnp.square(scale_rows(c, cols, mean, c.sqrt_w)), axis=0)[:, None]

    return map_cols(part, X, c.x_mean, None, col_chunk(X.shape[0]))[:, 0]
