"""Matrix-free ridge solvers for dense or sparse (``BCOO``) X: CG and the positive solver.

Both work with products ``X v`` and ``Xᵀ u`` only, with the centring and the sample weights
applied implicitly, so a sparse X is never densified:

- :func:`cg_normal`: Jacobi-preconditioned conjugate gradients on the normal equations
  ``(XsᵀXs + lam·I) w = Xsᵀys``, per target, with its iteration count;
- :func:`positive_ridge`: ridge with ``w ≥ 0`` by accelerated projected gradient (FISTA with
  restarts), then, for dense X, an exact solve on the active set when it satisfies the KKT
  conditions.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.experimental import sparse as jsparse

from .. import _checks as ck


class Operators(NamedTuple):
    """The centred, √s-scaled design ``Xs = √s∘(X − 1x̄ᵀ)`` as products, and its data."""

    x_mean: jax.Array  # (p,)
    y_mean: jax.Array  # (t,)
    sqrt_w: jax.Array  # (n,)
    col_ss: jax.Array  # (p,) column sums of squares of Xs (Jacobi preconditioner)
    Ys: jax.Array  # (n, t)


def is_bcoo(X: Any) -> bool:
    return isinstance(X, jsparse.BCOO)


def operators(X: Any, Y: jax.Array, sw: jax.Array | None, fit_intercept: bool) -> Operators:
    n, p = X.shape
    w = jnp.ones((n,), Y.dtype) if sw is None else sw
    sqrt_w = jnp.sqrt(w)
    if fit_intercept:
        total = jnp.sum(w)
        x_mean = (X.T @ w) / total
        y_mean = (w @ Y) / total
    else:
        x_mean = jnp.zeros((p,), Y.dtype)
        y_mean = jnp.zeros((Y.shape[1],), Y.dtype)
    sq = X * X if is_bcoo(X) else jnp.square(X)
    col_ss = sq.T @ w - jnp.sum(w) * jnp.square(x_mean) if fit_intercept else sq.T @ w
    Ys = sqrt_w[:, None] * (Y - y_mean[None, :])
    return Operators(x_mean, y_mean, sqrt_w, jnp.maximum(col_ss, 0), Ys)


def _design(X: Any, ops: Operators, v: jax.Array) -> jax.Array:
    return ops.sqrt_w * (X @ v - ops.x_mean @ v)


def _design_t(X: Any, ops: Operators, u: jax.Array) -> jax.Array:
    su = ops.sqrt_w * u
    return X.T @ su - ops.x_mean * jnp.sum(su)


@functools.partial(jax.jit, static_argnames=("fit_intercept", "max_iter"))
def cg_normal(
    X: Any,
    Y: jax.Array,
    sw: jax.Array | None,
    lam: jax.Array,
    tol: jax.Array,
    *,
    fit_intercept: bool,
    max_iter: int,
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """(W (t, p), b (t,), n_iter (t,), converged (t,)) of CG on the normal equations.

    CG runs until ``‖r‖ ≤ tol·‖Xsᵀys‖`` or ``max_iter`` steps.

    Started from 0, the iterates stay in the row space of Xs, so lam = 0 converges to the
    minimum-norm least-squares solution.
    """
    ops = operators(X, Y, sw, fit_intercept)
    lam_t = jnp.broadcast_to(lam, (Y.shape[1],)).astype(Y.dtype)

    def solve(lam_k: jax.Array, ys: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        b = _design_t(X, ops, ys)
        diag = ops.col_ss + lam_k
        # Jacobi preconditioning; none for lam ≈ 0 (below 1e-8·max column norm²), where plain
        # CG from 0 stays in the row space of Xs and so converges to the minimum-norm solution.
        small = lam_k <= 1e-8 * jnp.max(ops.col_ss)
        m_inv = jnp.where((diag > 0) & ~small, 1 / jnp.where(diag > 0, diag, 1), 1)
        target = tol * jnp.linalg.norm(b)

        def apply(v: jax.Array) -> jax.Array:
            return _design_t(X, ops, _design(X, ops, v)) + lam_k * v

        def cond(state: tuple) -> jax.Array:
            _, r, _, _, k = state
            return (jnp.linalg.norm(r) > target) & (k < max_iter)

        def body(state: tuple) -> tuple:
            x, r, d, rz, k = state
            Ad = apply(d)
            dAd = d @ Ad
            step = jnp.where(dAd > 0, rz / jnp.where(dAd > 0, dAd, 1), 0)
            x = x + step * d
            r = r - step * Ad
            z = m_inv * r
            rz_new = r @ z
            d = z + jnp.where(rz > 0, rz_new / jnp.where(rz > 0, rz, 1), 0) * d
            return x, r, d, rz_new, k + 1

        z0 = m_inv * b
        init = (jnp.zeros_like(b), b, z0, b @ z0, jnp.zeros((), jnp.int32))
        x, r, _, _, k = jax.lax.while_loop(cond, body, init)
        return x, k, jnp.linalg.norm(r) <= target

    W, n_iter, converged = jax.vmap(solve, in_axes=(0, 1))(lam_t, ops.Ys)
    b = ops.y_mean - W @ ops.x_mean if fit_intercept else jnp.zeros_like(ops.y_mean)
    return W, b, n_iter, converged


@functools.partial(jax.jit, static_argnames=("fit_intercept", "max_iter", "polish"))
def positive_ridge(
    X: Any,
    Y: jax.Array,
    sw: jax.Array | None,
    lam: jax.Array,
    tol: jax.Array,
    *,
    fit_intercept: bool,
    max_iter: int,
    polish: bool,
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """(W (t, p), b (t,), n_iter (t,), converged (t,)) of ridge with ``w ≥ 0``.

    scikit-learn's ``positive=True``.

    Minimizes ``‖ys − Xs w‖² + lam‖w‖²`` over ``w ≥ 0`` by FISTA with gradient restarts, step
    ``1/L`` with ``L = λ_max(XsᵀXs) + lam`` (power iteration), until the projected gradient's
    norm is at most ``tol·‖Xsᵀys‖``. With ``polish`` (dense X), the problem restricted to the
    support found is then solved exactly; that solution replaces the iterate when it is
    feasible and satisfies the KKT conditions (gradient ≥ 0 on the zeros).
    """
    ops = operators(X, Y, sw, fit_intercept)
    p = X.shape[1]
    lam_t = jnp.broadcast_to(lam, (Y.shape[1],)).astype(Y.dtype)

    def gram_v(v: jax.Array) -> jax.Array:
        return _design_t(X, ops, _design(X, ops, v))

    v = jax.random.normal(jax.random.PRNGKey(0), (p,), Y.dtype) + 1
    v = jax.lax.fori_loop(
        0, 30, lambda _, u: gram_v(u) / jnp.maximum(jnp.linalg.norm(gram_v(u)), 1e-300), v
    )
    top = jnp.linalg.norm(gram_v(v / jnp.linalg.norm(v))) * 1.01

    def solve(lam_k: jax.Array, ys: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        b = _design_t(X, ops, ys)
        step = 1 / (top + lam_k)
        target = tol * jnp.maximum(jnp.linalg.norm(b), jnp.finfo(ys.dtype).tiny)

        def grad(w: jax.Array) -> jax.Array:
            return gram_v(w) + lam_k * w - b

        def pg_norm(w: jax.Array, g: jax.Array) -> jax.Array:
            return jnp.linalg.norm(jnp.where(w > 0, g, jnp.minimum(g, 0)))

        def cond(state: tuple) -> jax.Array:
            w, _, _, k, gnorm = state
            return (gnorm > target) & (k < max_iter)

        def body(state: tuple) -> tuple:
            w, z, t, k, _ = state
            w_new = jnp.maximum(z - step * grad(z), 0)
            t_new = (1 + jnp.sqrt(1 + 4 * t * t)) / 2
            restart = (z - w_new) @ (w_new - w) > 0
            t_new = jnp.where(restart, 1.0, t_new)
            z = jnp.where(restart, w_new, w_new + ((t - 1) / t_new) * (w_new - w))
            return w_new, z, t_new, k + 1, pg_norm(w_new, grad(w_new))

        w0 = jnp.zeros((p,), ys.dtype)
        init = (w0, w0, jnp.ones((), ys.dtype), jnp.zeros((), jnp.int32), pg_norm(w0, -b))
        w, _, _, k, gnorm = jax.lax.while_loop(cond, body, init)
        converged = gnorm <= target
        if polish:
            Xd = ops.sqrt_w[:, None] * (X - ops.x_mean[None, :])
            G = Xd.T @ Xd
            free = w > 0
            both = free[:, None] & free[None, :]
            A = jnp.where(both, G, 0) + jnp.diag(jnp.where(free, lam_k, 1))
            exact = jnp.where(free, jnp.linalg.solve(A, jnp.where(free, b, 0)), 0)
            g = G @ exact + lam_k * exact - b
            ok = jnp.all(jnp.isfinite(exact)) & jnp.all(exact >= 0)
            ok = ok & jnp.all(jnp.where(free, True, g >= -target))
            w = jnp.where(ok, exact, w)
            converged = converged | ok
        return w, k, converged

    W, n_iter, converged = jax.vmap(solve, in_axes=(0, 1))(lam_t, ops.Ys)
    b = ops.y_mean - W @ ops.x_mean if fit_intercept else jnp.zeros_like(ops.y_mean)
    return W, b, n_iter, converged


def to_bcoo(X: Any, dtype: Any) -> jsparse.BCOO:
    """A ``scipy.sparse`` matrix as a ``BCOO`` of ``dtype`` (no densifying)."""
    coo = X.tocoo()
    return jsparse.BCOO.from_scipy_sparse(coo.astype(dtype))


def check_bcoo(X: Any, y: Any, sample_weight: Any) -> tuple[Any, jax.Array, Any, bool, Any]:
    """Validates a BCOO design with dense targets: (X, Y (n, t), sw, y_was_1d, dtype)."""
    X = ck.check_design(X)
    y = jnp.asarray(y)
    ck.check_target_shape(y, X.shape, multi=True)
    dtype = X.dtype if jnp.issubdtype(X.dtype, jnp.floating) else ck.default_float()
    X = ck.check_design(X.astype(dtype) if X.dtype != dtype else X, finite=True)
    Y = ck.check_finite((y[:, None] if y.ndim == 1 else y).astype(dtype), "y")
    sw = ck.check_sample_weight(sample_weight, X.shape[0], dtype)
    return X, Y, sw, y.ndim == 1, dtype
