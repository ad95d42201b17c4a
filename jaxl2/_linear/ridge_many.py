"""Ridge for many targets: each target's best strength, in bounded memory.

``ridge_path(..., keep="best")`` lands here. One eigendecomposition of the smaller Gram matrix
of the (centred, √s-scaled) design serves every target and every strength; the targets are then
processed in batches of ``targets_batch`` columns. Per batch and per strength the work is one
(n × m)·(m × b) product (m = min(n, p), b the batch): the residuals that exact leave-one-out
needs. Only the (K, b) criteria and each target's coefficients at its own best strength leave a
batch, so memory is ``O(n·m + p·T + K·T)``, never ``O(K·p·T)``.

GCV needs no residual matrix: in the eigenbasis, with ``C = UᵀYs``,

- primal (U = Xs V unnormalized, ``‖U_j‖² = e_j``): ``RSS(lam) = ‖y‖² − Σⱼ Cⱼ² fⱼ (2 − eⱼ fⱼ)``,
  ``fⱼ = 1/(eⱼ + lam)``;
- dual (U orthogonal): ``RSS(lam) = Σⱼ (lam·fⱼ)² Cⱼ²``;

one (K × m)·(m × b) product for all strengths, so ``select="gcv"`` costs ``O(m·T·K)`` after the
projection ``UᵀY``.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks as ck
from . import ridge_chunks as ch
from . import ridge_data as rd
from . import ridge_path as rp
from . import ridge_shard as rs

# Default batch: about this many (sample, target) residual entries per strength step.
_BATCH_ENTRIES = 2**23


class Basis(NamedTuple):
    """The decomposition shared by every target batch."""

    dec: rp.Decomposition  # C is empty here: it is formed per batch
    Xs: jax.Array | None  # (n, p) scaled design, kept for the dual's coefficients
    x_mean: jax.Array  # (p,)
    sqrt_w: jax.Array | None  # (n,)
    scale: jax.Array | None  # (p,) column scales when standardizing
    leverage: jax.Array  # (n,)
    row_mask: jax.Array | None  # (n,) sample weight > 0


@functools.partial(jax.jit, static_argnames=("fit_intercept", "standardize"))
def basis(X: jax.Array, sw: jax.Array | None, *, fit_intercept: bool, standardize: bool) -> Basis:
    """Centres and scales X, and eigendecomposes its smaller Gram matrix."""
    n, p = X.shape
    c = ch.centring(X, X[:, :0], sw, fit_intercept)
    Xs = ch.scale_rows(c, X, c.x_mean, c.sqrt_w)
    scale = None
    if standardize:
        total = jnp.asarray(n, X.dtype) if sw is None else jnp.sum(sw)
        scale = jnp.sqrt(jnp.sum(jnp.square(Xs), axis=0) / total)
        scale = jnp.where(scale > 0, scale, jnp.ones_like(scale))
        Xs = Xs / scale[None, :]
    if fit_intercept:
        root = rp.intercept_column(X, sw)
    else:
        root = None
    dec = rp.decompose(Xs, jnp.zeros((n, 0), X.dtype), root)
    keep_x = None if dec.V is not None else Xs
    row_mask = None if sw is None else sw > 0
    return Basis(dec, keep_x, c.x_mean, c.sqrt_w, scale, c.leverage, row_mask)


def _gcv_rss(dec: rp.Decomposition, Ys: jax.Array, C: jax.Array, filt: rp.Filters) -> jax.Array:
    """Residual sums of squares (K, b) for every strength, from the eigenbasis alone."""
    C2 = jnp.square(C)
    if dec.V is not None:
        coef = filt.inv * (2 - dec.e[:, None] * filt.inv)  # (m, K)
        rss = jnp.sum(jnp.square(Ys), axis=0)[None, :] - ch.tdot(coef, C2)
        return jnp.maximum(rss, 0)
    comp = jnp.where(filt.lam > 0, filt.lam * filt.inv, filt.null)
    return ch.tdot(jnp.square(comp), C2)


@functools.partial(jax.jit, static_argnames=("fit_intercept", "select"))
def batch_best(
    B: Basis, Y: jax.Array, lams: jax.Array, *, fit_intercept: bool, select: str
) -> tuple[Any, ...]:
    """(coef (b, p), intercept (b,), loo (K, b) or None, gcv (K, b), best (b,)) for a batch."""
    dec = B.dec
    n = Y.shape[0]
    if fit_intercept:
        w = jnp.ones((n,), Y.dtype) if B.sqrt_w is None else jnp.square(B.sqrt_w)
        y_mean = (w @ Y) / jnp.sum(w)
        Ys = Y - y_mean[None, :]
    else:
        y_mean = jnp.zeros((Y.shape[1],), Y.dtype)
        Ys = Y
    if B.sqrt_w is not None:
        Ys = Ys * B.sqrt_w[:, None]
    C = ch.tdot(dec.U, Ys)  # (m, b)
    dec = dec._replace(C=C)
    filt = rp.filters(dec, lams)
    gcv = rp.gcv_from_rss(_gcv_rss(dec, Ys, C, filt), n, dec.e, filt, fit_intercept)
    loo = None
    if select == "loo":
        weights = loo_weights(rp.loo_denominators(dec, filt, B.leverage), B.row_mask, n)

        def one(k: jax.Array) -> jax.Array:
            f_k = rp.Filters(filt.inv[:, k, None], filt.lam[:, k, None], filt.null)
            num, _ = rp.loo_numerators(dec, Ys, C, f_k)  # (n, b): one (n × m)·(m × b) product
            return weights[:, k] @ jnp.square(num)

        loo = jax.lax.map(one, jnp.arange(lams.shape[0]))  # (K, b)
        crit = loo
    else:
        crit = gcv
    best = jnp.argmin(jnp.where(jnp.isnan(crit), jnp.inf, crit), axis=0)
    inv_best = jnp.take_along_axis(filt.inv, best[None, :], axis=1)  # (m, b)
    M = inv_best * C
    # Xs is kept whenever the decomposition has no V. (p, b)
    W = dec.V @ M if dec.V is not None else ch.tdot(B.Xs, dec.U @ M)  # pyright: ignore[reportArgumentType]
    if B.scale is not None:
        W = W / B.scale[:, None]
    W = W.T
    b = y_mean - W @ B.x_mean if fit_intercept else jnp.zeros_like(y_mean)
    return W, b, loo, gcv, best


def loo_weights(den: jax.Array, row_mask: jax.Array | None, n: int) -> jax.Array:
    """``1/(n·denᵢₖ²)`` (n, K), 0 on rows of zero weight: ``loo_mse[k] = weights[:, k] @ num²``.

    With these weights the LOO error of a strength is one residual product (the same kernel as
    a plain (n × m)·(m × b) product, at the machine's matmul rate), one elementwise pass
    (subtract, square) and a (1 × n)·(n × b) product; no (K, n, b) array is formed and no
    division pass over the residuals. The alternative, a column ``mean`` of ``(num/den)²``,
    is fused by XLA:CPU (YNNPACK) with the product into one kernel that does ~4% less work on
    one core, but its speed depends on the batch width (up to 1.6× this form's CPU time at
    1500 targets per batch) and, by the quiet full-size run in benchmarks/RESULTS.md (exact
    LOO minus GCV, against the floor), it ran at ~63% of the plain product's rate there.
    """
    inv2 = 1 / (n * jnp.square(den))
    return inv2 if row_mask is None else jnp.where(row_mask[:, None], inv2, 0)


def _shared_batch(shared: tuple, Y: jax.Array, *, fit_intercept: bool, select: str) -> tuple:
    """:func:`batch_best` on ``shared = (basis, lams)``: the step of the sharded path."""
    return batch_best(shared[0], Y, shared[1], fit_intercept=fit_intercept, select=select)


def balanced(t: int, batch: int) -> int:
    """The smallest batch that covers t targets in as many batches as ``batch`` would.

    ``⌈t / ⌈t / batch⌉⌉ ≤ batch``: the batches come out (nearly) equal, so the last one is not
    mostly padding (10000 targets in batches of 2796 would pad 12% zero targets; in four
    batches of 2500, none).
    """
    batch = max(1, min(t, batch))
    return -(-t // -(-t // batch))


def default_batch(n: int, t: int) -> int:
    return balanced(t, _BATCH_ENTRIES // max(n, 1))


def check_batch(targets_batch: Any, n: int, t: int) -> int:
    targets_batch = ck.check_int(targets_batch, "targets_batch", allow_none=True)
    return default_batch(n, t) if targets_batch is None else balanced(t, targets_batch)


def best_path(
    X: jax.Array,
    Y: jax.Array,
    sw: jax.Array | None,
    lams: jax.Array,
    *,
    fit_intercept: bool,
    standardize: bool,
    select: str,
    targets_batch: int | None,
    progress: bool,
    mesh: rs.TargetMesh | None = None,
) -> tuple[Any, ...]:
    """Each target's fit at its own best strength, batch by batch over the targets.

    Every batch has the same shape (the last one is padded with zero targets, which are
    dropped), so the batch function compiles once. With ``mesh`` the targets are sharded over
    its devices (:mod:`jaxl2._linear.ridge_shard`) and ``targets_batch`` counts targets over
    all of them (None: the default per device).
    """
    n, t = Y.shape
    if mesh is not None:
        X, sw = rs.replicate((X, sw), mesh)
    B = basis(X, sw, fit_intercept=fit_intercept, standardize=standardize)
    if mesh is not None:
        static = {"fit_intercept": fit_intercept, "select": select}
        axes = (0, 0, 1 if select == "loo" else None, 1, 0)
        bar = _progress if progress else None
        return rs.run(
            _shared_batch,
            static,
            (B, lams),
            Y,
            mesh,
            targets_batch,
            lambda local: default_batch(n, local),
            axes,
            bar,
        )
    if targets_batch is None:
        targets_batch = default_batch(n, t)
    starts = range(0, t, targets_batch)
    bar = _progress(len(starts)) if progress else None
    outs = []
    for s in starts:
        Yb = Y[:, s : s + targets_batch]
        pad = targets_batch - Yb.shape[1]
        if pad:
            Yb = jnp.concatenate([Yb, jnp.zeros((n, pad), Yb.dtype)], axis=1)
        out = batch_best(B, Yb, lams, fit_intercept=fit_intercept, select=select)
        keep = targets_batch - pad
        W, b, loo, gcv, best = out
        outs.append(
            (W[:keep], b[:keep], None if loo is None else loo[:, :keep], gcv[:, :keep], best[:keep])
        )
        if bar is not None:
            jax.block_until_ready(out[0])
            bar.update(1)
    if bar is not None:
        bar.close()
    W, b, loo, gcv, best = (list(parts) for parts in zip(*outs, strict=True))
    cat = lambda parts, axis: parts[0] if len(parts) == 1 else jnp.concatenate(parts, axis=axis)
    loo = None if loo[0] is None else cat(loo, 1)
    return cat(W, 0), cat(b, 0), loo, cat(gcv, 1), cat(best, 0)


class _TextProgress:
    def __init__(self, total: int) -> None:
        self.total, self.done = total, 0

    def update(self, k: int) -> None:
        self.done += k
        print(f"ridge_path: target batch {self.done}/{self.total}", flush=True)

    def close(self) -> None:
        pass


def _progress(total: int) -> Any:
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is optional
        return _TextProgress(total)
    return tqdm(total=total, desc="ridge_path target batches", unit="batch")


MSG_CONSTANT = (
    "{fn}: target(s) {idx} of y are constant (zero variance{weighted}); their coefficients "
    "are 0 and every strength scores the same, so the smallest strength's index is reported."
)


def warn_constant(Y: jax.Array, sw: jax.Array | None, fn: str) -> None:
    """Warns (concrete Y only) about constant targets, naming the first few.

    Tested where Y lies (a sharded Y stays sharded); only the (t,) flags come to the host.
    """
    if not ck.is_concrete(Y):
        return
    const = np.asarray(_constant_targets(Y, sw))
    const = np.flatnonzero(const)
    if const.size:
        idx = ", ".join(map(str, const[:5])) + (", …" if const.size > 5 else "")
        warnings.warn(
            MSG_CONSTANT.format(
                fn=fn, idx=idx, weighted=" over positive weights" if sw is not None else ""
            ),
            UserWarning,
            stacklevel=3,
        )


@jax.jit
def _constant_targets(Y: jax.Array, sw: jax.Array | None) -> jax.Array:
    """(t,) True where a target is constant over the rows of positive weight."""
    if sw is None:
        return jnp.all(Y == Y[:1], axis=0)
    keep = sw > 0
    first = Y[jnp.argmax(keep)]
    return jnp.all((Y == first[None, :]) | ~keep[:, None], axis=0)


def ridge_path_best(
    X: jax.Array,
    Y: jax.Array,
    sw: jax.Array | None,
    lams: jax.Array,
    y_was_1d: bool,
    out_dtype: Any,
    traced: bool,
    *,
    fit_intercept: bool,
    standardize: bool,
    select: str,
    targets_batch: Any,
    progress: bool,
    devices: Any = None,
) -> rp.RidgePathResult:
    """``ridge_path(..., keep="best")`` on validated arrays."""
    n, t = Y.shape
    mesh = rs.resolve(devices, Y)
    if mesh is None:
        batch = check_batch(targets_batch, n, t)
    else:
        batch = ck.check_int(targets_batch, "targets_batch", allow_none=True)
    if not isinstance(progress, bool):
        raise ValueError(f"progress must be True or False, got {progress!r}.")
    warn_constant(Y, sw, "ridge_path")
    W, b, loo, gcv, best = best_path(
        X,
        Y,
        sw,
        lams,
        fit_intercept=fit_intercept,
        standardize=standardize,
        select=select,
        targets_batch=batch,
        progress=progress,
        mesh=mesh,
    )
    W, b, best, best_lam = rd.guard_finite((W, b, best, lams[best]), traced, "ridge_path")
    if y_was_1d:
        W, b, best, best_lam = W[0], b[0], best[0], best_lam[0]
        loo = None if loo is None else loo[:, 0]
        gcv = gcv[:, 0]

    def cast(a: Any) -> Any:  # keeps None for the fields that may be None (loo_mse, coef)
        return None if a is None else a.astype(out_dtype)

    return rp.RidgePathResult(
        cast(lams),
        cast(W),
        cast(b),
        cast(loo),
        cast(gcv),
        best,
        cast(best_lam),
    )
