"""Exact leave-one-out ridge for a ``scipy.sparse`` design, never densified (RidgeCV's LOO mode).

The problem is scikit-learn's: rows weighted by ``√s``, the intercept handled by centring,
``Xc = √s ∘ (X − x̄)``, ``yc = √s ∘ (y − ȳ)``. Centring would fill a sparse X, so, as in
scikit-learn's ``_RidgeGCV``, ``Xc`` is never formed: every product with it is a sparse product
with ``Xw = diag(√s) X`` plus a rank-one correction ``− √s x̄ᵀ``.

- ``n ≤ p`` (Gram mode): ``K = XcXcᵀ = XwXwᵀ − a√sᵀ − √s aᵀ + (x̄ᵀx̄) √s√sᵀ`` with ``a = Xw x̄``
  (one sparse-sparse product, dense n × n), ``K = U diag(e) Uᵀ``; LOO residuals
  ``(U (C/(e + λ)))ᵢ / Σⱼ Zᵢⱼ/(eⱼ + λ)`` with the intercept-corrected leverage weights ``Z`` of
  :func:`jaxl2._linear.ridge_path.decompose`; coefficients ``Xcᵀ U (C/(e + λ))`` by sparse products.
- ``n > p`` (covariance mode): ``G = XcᵀXc = XwᵀXw − (Σs) x̄x̄ᵀ`` (dense p × p), ``G = V diag(e) Vᵀ``;
  ``U = Xc V`` is formed a block of rows at a time (never n × p at once), giving the residuals
  ``yc − U (C/(e + λ))`` and leverages ``1 − Σⱼ Uᵢⱼ²/(eⱼ + λ) − sᵢ/Σs``; coefficients
  ``V (C/(e + λ))`` with ``C = Vᵀ Xcᵀ yc``.

The sparse products run on the host (scipy); the eigendecomposition and everything per strength
run in JAX (jitted), in float64 with x64 on, else in float32 (the Gram matrix itself is formed
in float64 either way, so the centring cancels in float64). The covariance mode's blocks of U
come from sparse products on the host and are finished there (numpy, float64).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp

from .ridge import eigh_cutoff
from .ridge_path import Decomposition, filters, filters_from, loo_denominators, loo_numerators

# Dense entries (rows × p) of one block of U = Xc V in the covariance mode.
_BLOCK_ENTRIES = 2**20


class SparseLOO(NamedTuple):
    """What :func:`sparse_loo` returns (numpy, float64)."""

    loo_mse: np.ndarray  # (K, t) mean squared LOO residual (√s-scaled, scikit-learn's)
    residuals: np.ndarray | None  # (n, K, t) LOO residuals (√s-scaled) when asked for
    inv: np.ndarray  # (m, K) filter factors 1/(e + λ)
    C: np.ndarray  # (m, t) projections of the targets
    basis: np.ndarray  # (n, n) U (Gram mode) or (p, p) V (covariance mode)
    gram_mode: bool
    x_mean: np.ndarray  # (p,)
    y_mean: np.ndarray  # (t,)
    sqrt_w: np.ndarray  # (n,)
    Xw: sp.csr_matrix  # diag(√s) X


def _prepare(X, Y: np.ndarray, sw: np.ndarray | None, fit_intercept: bool):
    n, p = X.shape
    w = np.ones(n) if sw is None else np.asarray(sw, np.float64)
    total = float(w.sum())
    if fit_intercept:
        x_mean = np.asarray(X.T @ w, np.float64).ravel() / total
        y_mean = (w @ Y) / total
    else:
        x_mean, y_mean = np.zeros(p), np.zeros(Y.shape[1])
    root = np.sqrt(w)
    Xw = sp.csr_matrix(sp.diags(root) @ X, dtype=np.float64)
    Ys = root[:, None] * (Y - y_mean)
    return Xw, Ys, x_mean, y_mean, root, w / total if fit_intercept else np.zeros(n)


def _design_t(Xw, x_mean: np.ndarray, root: np.ndarray, V: np.ndarray) -> np.ndarray:
    """``Xcᵀ V`` for dense V (n, k), by a sparse product."""
    return np.asarray(Xw.T @ V) - np.outer(x_mean, root @ V)


@functools.partial(jax.jit, static_argnames=("p", "fit_intercept", "residuals"))
def _gram_core(K, Ys, root, lams, *, p: int, fit_intercept: bool, residuals: bool):
    """Dual decomposition of the dense n × n K = XcXcᵀ, LOO sums (K, t), residuals (n, K, t)."""
    n = K.shape[0]
    e, U = jnp.linalg.eigh(K)
    e = jnp.maximum(e, 0)
    Z = U * U
    if fit_intercept:
        q = root / jnp.linalg.norm(root)
        Z = U * (U - q[:, None] * (q @ U)[None, :])
    dec = Decomposition(U, Z, e, U.T @ Ys, None, eigh_cutoff(e, n, p))
    filt = filters(dec, lams)
    den = loo_denominators(dec, filt, jnp.zeros((n,), K.dtype))

    def per_target(args):
        y, c = args
        num, _ = loo_numerators(dec, y[:, None], c[:, None], filt)
        looe = num / den
        return jnp.sum(jnp.square(looe), axis=0), (looe if residuals else None)

    sums, looe = jax.lax.map(per_target, (Ys.T, dec.C.T))  # (t, K), (t, n, K)
    looe = None if looe is None else looe.transpose(1, 2, 0)
    return sums.T, looe, filt.inv, dec.C, U


@functools.partial(jax.jit, static_argnames=("n",))
def _cov_eigh(G, B, lams, *, n: int):
    """(1/(e + λ) (p, K), C = Vᵀ B, V) of the dense p × p G = XcᵀXc of n rows."""
    p = G.shape[0]
    e, V = jnp.linalg.eigh(G)
    e = jnp.maximum(e, 0)
    filt = filters_from(e, eigh_cutoff(e, n, p), lams)
    return filt.inv, V.T @ B, V


def _cov_block(U, Ys, leverage, inv, C, residuals: bool):
    """LOO sums (K, t) and residuals (b, K, t) of one block of rows of U = Xc V (numpy: the
    block is formed on the host by a sparse product, so it is finished there)."""
    K, t = inv.shape[1], C.shape[1]
    den = 1 - (U * U) @ inv - leverage[:, None]
    M = (inv[:, :, None] * C[:, None, :]).reshape(inv.shape[0], K * t)
    resid = Ys[:, None, :] - (U @ M).reshape(-1, K, t)
    looe = resid / den[:, :, None]
    return np.sum(np.square(looe), axis=0), (looe if residuals else None)


def sparse_loo(
    X,
    Y: np.ndarray,
    sw: np.ndarray | None,
    alphas: np.ndarray,
    fit_intercept: bool,
    dtype,
    *,
    residuals: bool = False,
) -> SparseLOO:
    """Exact LOO errors of ridge for every alpha on a sparse X (n, p), Y (n, t) (float64).

    ``dtype`` is JAX's compute dtype (float64 or float32); the Gram or covariance matrix is
    formed in float64 on the host by sparse products.
    """
    X = sp.csr_matrix(X)
    n, p = X.get_shape()  # .shape is typed Optional in scipy's stubs
    Xw, Ys, x_mean, y_mean, root, leverage = _prepare(X, Y, sw, fit_intercept)
    lams = jnp.asarray(alphas, dtype)
    if n <= p:
        gram = (Xw @ Xw.T).toarray()
        if fit_intercept:
            a = np.asarray(Xw @ x_mean).ravel()
            gram -= np.outer(a, root) + np.outer(root, a)
            gram += float(x_mean @ x_mean) * np.outer(root, root)
        sums, looe, inv, C, U = _gram_core(
            jnp.asarray(gram, dtype),
            jnp.asarray(Ys, dtype),
            jnp.asarray(root, dtype),
            lams,
            p=p,
            fit_intercept=fit_intercept,
            residuals=residuals,
        )
        del gram
        sums = np.asarray(sums, np.float64)
        looe = None if looe is None else np.asarray(looe, np.float64)
        basis = np.asarray(U, np.float64)
    else:
        cov = (Xw.T @ Xw).toarray()
        if fit_intercept:
            cov -= float(root @ root) * np.outer(x_mean, x_mean)
        B = _design_t(Xw, x_mean, root, Ys)
        inv, C, V = _cov_eigh(jnp.asarray(cov, dtype), jnp.asarray(B, dtype), lams, n=n)
        del cov
        V64, inv, C = (np.asarray(a, np.float64) for a in (V, inv, C))
        shift = x_mean @ V64  # (p,): the centring's rank-one part of each block of U
        block = max(1, min(n, _BLOCK_ENTRIES // max(p, 1)))
        sums = np.zeros((len(alphas), Y.shape[1]))
        parts = []
        for start in range(0, n, block):
            rows = slice(start, min(n, start + block))
            U = np.asarray(Xw[rows] @ V64)
            U -= root[rows, None] * shift[None, :]
            s, lb = _cov_block(U, Ys[rows], leverage[rows], inv, C, residuals)
            sums += s
            if residuals:
                parts.append(lb)
        looe = np.concatenate(parts, axis=0) if residuals else None
        basis = V64
    return SparseLOO(
        loo_mse=sums / n,
        residuals=looe,
        inv=np.asarray(inv, np.float64),
        C=np.asarray(C, np.float64),
        basis=basis,
        gram_mode=n <= p,
        x_mean=x_mean,
        y_mean=y_mean,
        sqrt_w=root,
        Xw=Xw,
    )


def sparse_loo_coef(res: SparseLOO, best: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(coef (t, p), intercept (t,)) at strength index ``best[j]`` for target j, from the
    decomposition (scikit-learn's RidgeCV does the same)."""
    t = res.C.shape[1]
    F = res.inv[:, best] * res.C  # (m, t): each target's filtered projections
    if res.gram_mode:
        W = _design_t(res.Xw, res.x_mean, res.sqrt_w, res.basis @ F).T
    else:
        W = (res.basis @ F).T
    assert W.shape[0] == t
    return W, res.y_mean - W @ res.x_mean
