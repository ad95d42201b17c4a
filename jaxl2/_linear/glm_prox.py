"""L1 and elastic-net penalties on the linear classifiers' losses: exact zeros.

Minimizes ``F = sum_i s_i loss_i + lam2 * ||W||^2 + lam1 * ||W||_1`` (the intercept row is not
penalized) for any loss of :mod:`._glm`. Two solvers:

* ``prox_newton``: proximal Newton (Lee, Sun & Saunders 2014; newGLMNET, Yuan, Ho & Lin 2012).
  Each outer step minimizes the quadratic model ``g.d + 1/2 d.H d + lam1 ||theta + d||_1`` by
  cyclic coordinate descent on the explicit Hessian (covariance updates, O(dm) per coordinate),
  then backtracks on F along ``d`` (Tseng & Yun's sufficient decrease). For up to
  ``NEWTON_MAX_PARAMS`` coefficients; with a sparse X the Hessian comes from products with X
  (``Problem.hessian_at``), so sparse and dense fits run the same algorithm.
* ``fista``: accelerated proximal gradient with backtracking and adaptive restart (Beck &
  Teboulle 2009; O'Donoghue & Candes 2015): only products with X, so sparse (BCOO) and large X.

Both stop when the minimum-norm subgradient of ``F / sum(s)`` is ``<= tol`` in every entry: at
zero it is the soft-threshold of the smooth gradient, elsewhere the gradient plus
``lam1 sign(theta)``, the same quantity as the L2 solvers' ``max |grad F| / sum(s)``.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from .glm import Problem, report

_MAX_SWEEPS = 100
_MAX_LINESEARCH = 40


def _soft(x, t):
    return jnp.sign(x) * jnp.maximum(jnp.abs(x) - t, 0.0)


def _value(prob: Problem, theta, z, lam2, a1):
    pen = prob.penalty_mask()
    smooth = prob.loss.value(z, prob.Y, prob.s) + lam2 * jnp.sum(pen * theta * theta)
    return smooth + jnp.sum(a1 * jnp.abs(theta))


def _smooth_grad(prob: Problem, theta, z, lam2):
    g = prob.transpose_apply(prob.loss.grad(z, prob.Y, prob.s))
    return g + 2.0 * lam2 * prob.penalty_mask() * theta


def subgradient_max(theta, g, a1, total):
    """``max |minimum-norm subgradient| / total``: the stopping quantity."""
    sub = jnp.where(theta != 0, g + a1 * jnp.sign(theta), _soft(g, a1))
    return jnp.max(jnp.abs(sub)) / total


def _finish(prob: Problem, theta):
    # Softmax: a constant added to every class's intercept changes nothing; report the
    # symmetric intercepts (summing to zero), as the L2 solvers and scikit-learn do.
    if prob.singular_rows and prob.fit_intercept:
        p = prob.X.shape[1]
        theta = theta.at[p].add(-jnp.mean(theta[p]))
    return theta


def _l1_weights(prob: Problem, lam1, dtype):
    return lam1 * prob.penalty_mask() * jnp.ones((prob.d, prob.m), dtype)


def _cd_model(H, g, theta, a1, tol_inner):
    """Coordinate descent on ``g.d + 1/2 d.H d + sum a1 |theta + d|`` (flat vectors)."""
    diag = jnp.diag(H)
    floor = 1e-10 * jnp.maximum(jnp.max(diag), 1.0)
    a = jnp.maximum(diag, floor)
    n = g.shape[0]

    def coord(j, c):
        delta, Hd, change = c
        w_old = theta[j] + delta[j]
        w_new = _soft(w_old - (g[j] + Hd[j]) / a[j], a1[j] / a[j])
        step = w_new - w_old
        return delta.at[j].add(step), Hd + step * H[j], jnp.maximum(change, jnp.abs(step) * a[j])

    def sweep(c):
        delta, Hd, _, k = c
        delta, Hd, change = lax.fori_loop(0, n, coord, (delta, Hd, jnp.zeros((), g.dtype)))
        return delta, Hd, change, k + 1

    def cond(c):
        _, _, change, k = c
        return (change > tol_inner) & (k < _MAX_SWEEPS)

    zero = jnp.zeros_like(g)
    init = (zero, zero, jnp.asarray(jnp.inf, g.dtype), 0)
    delta, _, _, _ = lax.while_loop(cond, sweep, init)
    return delta


def prox_newton_solve(prob: Problem, theta0, lam2, lam1, tol, max_iter, verbose: bool = False):
    """Proximal Newton at one ``(lam2, lam1)``: (theta, n_iter, converged)."""
    dtype = prob.X.dtype
    total = jnp.sum(prob.s)
    a1 = _l1_weights(prob, lam1, dtype)
    l2_diag = jnp.broadcast_to(2.0 * lam2 * prob.penalty_mask(), (prob.d, prob.m)).reshape(-1)
    shape = (prob.d, prob.m)

    def kkt(theta, g):
        return subgradient_max(theta, g, a1, total)

    def step(c):
        theta, z, g, it = c
        H = prob.hessian_at(z) + jnp.diag(l2_diag)
        tol_inner = 0.1 * jnp.maximum(kkt(theta, g) * total, tol * total)
        delta = _cd_model(H, g.reshape(-1), theta.reshape(-1), a1.reshape(-1), tol_inner)
        delta = delta.reshape(shape)
        xdir = prob.linear(delta)
        f0 = _value(prob, theta, z, lam2, a1)
        decrease = jnp.sum(g * delta) + jnp.sum(a1 * (jnp.abs(theta + delta) - jnp.abs(theta)))
        rounding = 64 * jnp.finfo(dtype).eps * jnp.abs(f0)

        def accept(t):
            f = _value(prob, theta + t * delta, z + t * xdir, lam2, a1)
            return (f <= f0 + 1e-4 * t * decrease) | (f - f0 <= rounding) & (t < 1e-3)

        t, _ = lax.while_loop(
            lambda c: ~accept(c[0]) & (c[1] < _MAX_LINESEARCH),
            lambda c: (0.5 * c[0], c[1] + 1),
            (jnp.ones((), dtype), 0),
        )
        t = jnp.where(accept(t), t, 0.0)
        theta, z = theta + t * delta, z + t * xdir
        g = _smooth_grad(prob, theta, z, lam2)
        if verbose:
            value = _value(prob, theta, z, lam2, a1) / total
            report(True, "prox_newton", it + 1, value, kkt(theta, g))
        return theta, z, g, it + 1

    def cond(c):
        theta, _, g, it = c
        return (kkt(theta, g) > tol) & (it < max_iter)

    z0 = prob.linear(theta0)
    init = (theta0, z0, _smooth_grad(prob, theta0, z0, lam2), 0)
    theta, _, g, it = lax.while_loop(cond, step, init)
    ok = kkt(theta, g) <= tol
    return _finish(prob, theta), it, ok


def fista_solve(prob: Problem, theta0, lam2, lam1, tol, max_iter, verbose: bool = False):
    """FISTA with backtracking and restart at one ``(lam2, lam1)``: (theta, n_iter, converged)."""
    dtype = prob.X.dtype
    total = jnp.sum(prob.s)
    a1 = _l1_weights(prob, lam1, dtype)

    def smooth(theta, z):
        pen = prob.penalty_mask()
        return prob.loss.value(z, prob.Y, prob.s) + lam2 * jnp.sum(pen * theta * theta)

    def step(c):
        x, zx, y, zy, tk, L, fx, it = c
        gy = _smooth_grad(prob, y, zy, lam2)
        fy = smooth(y, zy)

        def trial(L):
            xn = _soft(y - gy / L, a1 / L)
            zn = prob.linear(xn)
            d = xn - y
            ok = smooth(xn, zn) <= fy + jnp.sum(gy * d) + 0.5 * L * jnp.sum(d * d)
            return xn, zn, ok

        def bt_cond(c):
            return ~c[3] & (c[4] < _MAX_LINESEARCH)

        def bt_body(c):
            L = 2.0 * c[0]
            xn, zn, ok = trial(L)
            return L, xn, zn, ok, c[4] + 1

        xn, zn, ok = trial(L)
        L, xn, zn, _, _ = lax.while_loop(bt_cond, bt_body, (L, xn, zn, ok, 0))
        fn = smooth(xn, zn) + jnp.sum(a1 * jnp.abs(xn))
        # Adaptive restart: when F went up, drop the momentum (O'Donoghue & Candes 2015).
        restart = fn > fx
        tn = jnp.where(restart, 1.0, 0.5 * (1.0 + jnp.sqrt(1.0 + 4.0 * tk * tk)))
        beta = jnp.where(restart, 0.0, (tk - 1.0) / tn)
        y = xn + beta * (xn - x)
        zy = zn + beta * (zn - zx)
        if verbose:
            g = subgradient_max(xn, _smooth_grad(prob, xn, zn, lam2), a1, total)
            report(True, "fista", it + 1, fn / total, g)
        return xn, zn, y, zy, tn, L, fn, it + 1

    def cond(c):
        x, zx, _, _, _, _, _, it = c
        return (subgradient_max(x, _smooth_grad(prob, x, zx, lam2), a1, total) > tol) & (
            it < max_iter
        )

    z0 = prob.linear(theta0)
    f0 = smooth(theta0, z0) + jnp.sum(a1 * jnp.abs(theta0))
    one = jnp.ones((), dtype)
    # A first Lipschitz guess from the weights (backtracking corrects it either way).
    L0 = jnp.maximum(jnp.max(prob.s), jnp.finfo(dtype).tiny) * one
    init = (theta0, z0, theta0, z0, one, L0, f0, 0)
    x, zx, _, _, _, _, _, it = lax.while_loop(cond, step, init)
    ok = subgradient_max(x, _smooth_grad(prob, x, zx, lam2), a1, total) <= tol
    return _finish(prob, x), it, ok


def solve_l1(
    prob: Problem, lam2, lam1, tol, max_iter, solver: str, theta0=None, verbose: bool = False
):
    """``solver`` is ``"prox_newton"`` or ``"fista"``; ``verbose`` prints each iteration."""
    if theta0 is None:
        theta0 = jnp.zeros((prob.d, prob.m), prob.X.dtype)
    fn = prox_newton_solve if solver == "prox_newton" else fista_solve
    return fn(prob, theta0, lam2, lam1, tol, max_iter, verbose)
