"""Shared machinery of the linear classifiers: the two smooth solvers (their input checks are
in :mod:`jaxl2._checks`).

A model here is a linear predictor ``z = X @ W + b`` (``W`` of shape ``(p, m)``, ``b`` of shape
``(m,)``) fed to a per-sample loss (``_Loss``), plus ``lam * ||W||^2`` (the intercept is not
penalized). Two solvers minimize ``F = sum_i s_i loss_i + lam * ||W||^2``:

* ``newton``: a line-search Newton method whose linear systems are solved by conjugate gradients
  (Hessian-vector products, two passes over X each) preconditioned by ``(H_ref + 2 lam I)^-1``,
  with ``H_ref`` a Hessian formed at an earlier iterate and kept as its eigendecomposition (so a
  new lam costs no refactorization). The full Hessian (about ``n p^2`` flops, as much as a dozen
  Hessian-vector products) is re-formed only when the preconditioner has gone stale (CG needed
  more than ``_REFRESH_CG`` iterations), so along a warm-started path most Newton steps cost a
  handful of passes over X. With a fresh Hessian CG converges in a step or two: plain Newton.
  The line search runs on ``z = X theta`` (no pass over X per trial).
* ``lbfgs``: ``optax.lbfgs`` (zoom line search) for many parameters.

Both stop when ``max |grad F| / sum(s) <= tol``: the gradient of the sample-weight-normalized
objective, which is the quantity scikit-learn's ``tol`` bounds for ``LogisticRegression``.
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax
from jax.experimental import sparse as jsparse

from .._checks import is_concrete

# Newton is chosen automatically up to this many coefficients (rows of the Hessian); above it a
# Hessian costs more than the L-BFGS iterations it saves.
NEWTON_MAX_PARAMS = 1000
_HVP_BLOCK = 32  # unit directions per batch of sparse Hessian-vector products
# Re-form the Hessian preconditioner when a CG solve needed more iterations than this.
_REFRESH_CG = 6
_MAX_CG = 200
_MAX_LINESEARCH = 40


class ConvergenceWarning(UserWarning):
    """Warned when a jaxl2 solver stops before reaching its tolerance.

    Raised only by eager calls (outside ``jax.jit``); under ``jit`` or ``vmap`` read the
    ``converged`` field of the result instead. Filter it with
    ``warnings.simplefilter("ignore", jaxl2.ConvergenceWarning)``.
    """


def is_double(dtype: Any) -> bool:
    """Whether JAX computes in 64 bits for this input dtype (float64 becomes float32 unless
    ``jax_enable_x64`` is on, so a numpy float64 array is not enough)."""
    return jnp.finfo(jax.dtypes.canonicalize_dtype(dtype)).bits >= 64


def default_tol(dtype: Any) -> float:
    """Gradient tolerance used when ``tol=None``: tight in float64, loose in float32."""
    return 1e-8 if is_double(dtype) else 1e-4


def is_sparse(X: Any) -> bool:
    """Whether ``X`` is a ``jax.experimental.sparse.BCOO`` matrix (products only, no densifying)."""
    return isinstance(X, jsparse.BCOO)


def warn_if_not_converged(converged: Any, what: str, max_iter) -> None:
    """Warns (eager calls only) when some member of a result did not converge."""
    if not is_concrete(converged):
        return
        # (under jit/vmap the caller reads result.converged)
    flags = np.asarray(converged)
    if not flags.all():
        where = "" if flags.ndim == 0 else f" for {int((~flags).sum())} of {flags.size} members"
        warnings.warn(
            f"{what} did not converge{where} within max_iter={max_iter} iterations; the result "
            "is not a minimizer to the requested tol (result.converged is False). Raise "
            "max_iter, loosen tol, or raise lam.",
            ConvergenceWarning,
            stacklevel=3,
        )


# --------------------------------------------------------------------------------------------
# Losses of the linear predictor z (n, m). Each is a namespace of static functions; ``s`` are the
# sample weights, ``Y`` the target in the loss's own encoding.


class _Diagonal:
    """A loss whose curvature in z is diagonal (one number per sample and column)."""

    @staticmethod
    def apply(C, dz):
        return C * dz

    @staticmethod
    def hessian(X, C, fit_intercept):
        return _diag_hessian(X, C, fit_intercept)


class Binomial(_Diagonal):
    """Logistic loss ``log(1 + exp(z)) - y z`` with y in {0, 1}; m = 1."""

    @staticmethod
    def value(z, Y, s):
        return jnp.sum(s[:, None] * (jnp.logaddexp(0.0, z) - Y * z))

    @staticmethod
    def grad(z, Y, s):
        return s[:, None] * (jax.nn.sigmoid(z) - Y)

    @staticmethod
    def curvature(z, Y, s):
        pz = jax.nn.sigmoid(z)
        return s[:, None] * pz * (1.0 - pz)


class Multinomial:
    """Symmetric softmax cross-entropy ``logsumexp(z) - z_y`` with one-hot Y; m = K."""

    @staticmethod
    def value(z, Y, s):
        return jnp.sum(s * (jax.nn.logsumexp(z, axis=1) - jnp.sum(Y * z, axis=1)))

    @staticmethod
    def grad(z, Y, s):
        return s[:, None] * (jax.nn.softmax(z, axis=1) - Y)

    @staticmethod
    def curvature(z, Y, s):
        # The Hessian in z of sample i is s_i (diag(pi_i) - pi_i pi_i^T).
        return s, jax.nn.softmax(z, axis=1)

    @staticmethod
    def apply(C, dz):
        s, pi = C
        s_pi_dz = s[:, None] * pi * dz
        return s_pi_dz - pi * jnp.sum(s_pi_dz, axis=1, keepdims=True)

    @staticmethod
    def hessian(X, C, fit_intercept):
        s, pi = C
        Xa = _with_ones(X) if fit_intercept else X
        n, d = Xa.shape
        m = pi.shape[1]
        diag = jnp.einsum("ik,ij,il->jkl", s[:, None] * pi, Xa, Xa)  # X^T diag(s pi_k) X
        B = (Xa[:, :, None] * (pi * jnp.sqrt(s)[:, None])[:, None, :]).reshape(n, d * m)
        low = symmetric_gram(lax.optimization_barrier(B.T)).reshape(d, m, d, m)
        eye = jnp.eye(m, dtype=Xa.dtype)
        return (jnp.einsum("jkl,kq->jklq", diag, eye) - low).reshape(d * m, d * m)


class SquaredHinge(_Diagonal):
    """Squared hinge ``max(0, 1 - y z)^2`` with y in {-1, +1}; m = 1 (or one column per class)."""

    @staticmethod
    def value(z, Y, s):
        return jnp.sum(s[:, None] * jnp.square(jnp.maximum(1.0 - Y * z, 0.0)))

    @staticmethod
    def grad(z, Y, s):
        return -2.0 * s[:, None] * Y * jnp.maximum(1.0 - Y * z, 0.0)

    @staticmethod
    def curvature(z, Y, s):
        # The generalized Hessian of the piecewise quadratic (Keerthi & DeCoste 2005).
        return 2.0 * s[:, None] * (Y * z < 1.0).astype(z.dtype)


def symmetric_gram(AT: jax.Array) -> jax.Array:
    """``AT @ AT.T`` computing only the blocks on and above the diagonal (about 60% of flops).

    XLA has no symmetric rank-k product (BLAS ``syrk``, which numpy uses for ``X.T @ X``); with
    4 row blocks, 10 of the 16 block products are formed and the rest mirrored. Taking the rows
    of ``A^T`` (contiguous) rather than the columns of ``A`` made XLA:CPU's products ~2x faster.
    """
    p = AT.shape[0]
    nb = 4 if p >= 256 else 1
    edges = [round(i * p / nb) for i in range(nb + 1)]
    rows = [AT[edges[i] : edges[i + 1]] for i in range(nb)]
    upper = {(i, j): rows[i] @ rows[j].T for i in range(nb) for j in range(i, nb)}
    blocks = [[upper[i, j] if i <= j else upper[j, i].T for j in range(nb)] for i in range(nb)]
    return jnp.block(blocks)


def _with_ones(X):
    return jnp.concatenate([X, jnp.ones((X.shape[0], 1), X.dtype)], axis=1)


def _diag_hessian(X, C, fit_intercept):
    # Losses with one column (m = 1): [X 1]^T diag(c) [X 1], without copying X into [X 1].
    H = symmetric_gram(lax.optimization_barrier((X * jnp.sqrt(C)).T))
    if not fit_intercept:
        return H
    v = (C.T @ X)[0]
    return jnp.block([[H, v[:, None]], [v[None, :], jnp.sum(C)[None, None]]])


# --------------------------------------------------------------------------------------------
# The problem: data, loss and helpers on the parameter matrix theta (d, m), whose last row is
# the intercept when fit_intercept (X is never augmented in the passes over it).


class Problem(NamedTuple):
    X: jax.Array
    Y: jax.Array
    s: jax.Array
    loss: Any  # one of the classes above (static)
    fit_intercept: bool
    singular_rows: bool  # softmax: adding a constant to every column of a row changes nothing

    @property
    def d(self) -> int:
        return self.X.shape[1] + int(self.fit_intercept)

    @property
    def m(self) -> int:
        return self.Y.shape[1]

    def penalty_mask(self) -> jax.Array:
        p = self.X.shape[1]
        mask = jnp.ones((self.d, 1), self.X.dtype)
        return mask.at[p:].set(0.0) if self.fit_intercept else mask

    def linear(self, theta: jax.Array) -> jax.Array:
        p = self.X.shape[1]
        z = self.X @ theta[:p]
        return z + theta[p][None, :] if self.fit_intercept else z

    def transpose_apply(self, R: jax.Array) -> jax.Array:
        # R.T @ X is far faster than X.T @ R on XLA:CPU (a transposed GEMV).
        g = (R.T @ self.X).T
        if self.fit_intercept:
            g = jnp.concatenate([g, jnp.sum(R, axis=0)[None, :]], axis=0)
        return g

    def hessian(self, C: Any) -> jax.Array:
        return self.loss.hessian(self.X, C, self.fit_intercept)

    def hessian_at(self, z: jax.Array) -> jax.Array:
        """The data term's ``(d m, d m)`` Hessian at the linear predictor ``z``.

        Dense X: formed from X directly. Sparse X: from products only, ``H e_j`` for blocks of
        unit directions (jvp of the loss gradient in z), so X is never densified; memory
        ``n x _HVP_BLOCK`` per block, cost ``O(nnz d m)``: meant for few coefficients.
        """
        if not is_sparse(self.X):
            return self.hessian(self.loss.curvature(z, self.Y, self.s))
        d, m = self.d, self.m
        size = d * m
        block = min(size, _HVP_BLOCK)
        n_blocks = -(-size // block)
        dtype = self.X.dtype

        def grad_z(zz):
            return self.loss.grad(zz, self.Y, self.s)

        def hvp(v):
            _, dg = jax.jvp(grad_z, (z,), (self.linear(v.reshape(d, m)),))
            return self.transpose_apply(dg).reshape(-1)

        eye = jnp.eye(n_blocks * block, size, dtype=dtype).reshape(n_blocks, block, size)
        H = lax.map(jax.vmap(hvp), eye).reshape(n_blocks * block, size)[:size]
        return 0.5 * (H + H.T)


def _project(prob: Problem, V: jax.Array) -> jax.Array:
    # The softmax is unchanged when a constant is added to every column of a row of theta, and
    # the symmetric solution (scikit-learn's) has rows summing to zero: Newton works in that
    # subspace, so directions are projected onto it (exactly, every time, so no drift).
    return V - jnp.mean(V, axis=1, keepdims=True) if prob.singular_rows else V


class NewtonState(NamedTuple):
    """What the Newton solver carries between iterations and along a path."""

    theta: jax.Array  # (d, m)
    z: jax.Array  # (n, m) linear predictor at theta
    grad_data: jax.Array  # (d, m) gradient of the data term at theta
    eigvals: jax.Array  # (d m,) eigenvalues of the reference Hessian (+ shift on flat rows)
    eigvecs: jax.Array  # (d m, d m) its eigenvectors
    shift: jax.Array  # scalar: curvature put on the flat directions (softmax only)


def _refresh(prob: Problem, z):
    """Eigendecomposition of the data Hessian at ``z``: the preconditioner for every lam.

    The preconditioner is ``(H_ref + 2 lam I)^-1``, applied through the eigenvectors, so a new
    lam costs nothing (no refactorization); it penalizes the intercept too, a rank-m difference
    from the true system that costs CG at most m extra iterations.
    """
    H = prob.hessian(prob.loss.curvature(z, prob.Y, prob.s))
    shift = jnp.mean(jnp.diag(H)) + jnp.asarray(1.0, H.dtype)
    if prob.singular_rows:
        d, m = prob.d, prob.m
        H = H + shift * jnp.kron(jnp.eye(d, dtype=H.dtype), jnp.ones((m, m), H.dtype))
    eigvals, eigvecs = jnp.linalg.eigh(H)
    return eigvals, eigvecs, shift


def newton_init(prob: Problem, theta0: jax.Array) -> NewtonState:
    z = prob.linear(theta0)
    grad_data = prob.transpose_apply(prob.loss.grad(z, prob.Y, prob.s))
    eigvals, eigvecs, shift = _refresh(prob, z)
    return NewtonState(theta0, z, grad_data, eigvals, eigvecs, shift)


def _grad(prob: Problem, state: NewtonState, lam) -> jax.Array:
    return state.grad_data + 2.0 * lam * prob.penalty_mask() * state.theta


def _objective_along(prob: Problem, theta, z, lam):
    pen = prob.penalty_mask()
    return prob.loss.value(z, prob.Y, prob.s) + lam * jnp.sum(pen * theta * theta)


def _pcg(
    prob: Problem, state: NewtonState, lam, g, curv, eta
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Solves (H + 2 lam P) x = -g by preconditioned CG; returns x, X x and the iterations."""
    d, m = prob.d, prob.m
    pen = prob.penalty_mask()
    V = state.eigvecs
    # Eigenvalues near zero (rank-deficient X at lam = 0) are floored; only CG speed depends on it.
    floor = 1e3 * jnp.finfo(V.dtype).eps * jnp.maximum(jnp.max(state.eigvals), 1.0)
    inv = 1.0 / jnp.maximum(state.eigvals + 2.0 * lam, floor)

    def precond(r):
        return _project(prob, (V @ (inv * (r.reshape(-1) @ V))).reshape(d, m))

    def hvp(v):
        xv = prob.linear(v)
        out = prob.transpose_apply(prob.loss.apply(curv, xv)) + 2.0 * lam * pen * v
        return _project(prob, out), xv

    gnorm = jnp.sqrt(jnp.sum(g * g))

    def cond(c):
        _, _, r, _, _, k = c
        return (jnp.sqrt(jnp.sum(r * r)) > eta * gnorm) & (k < _MAX_CG)

    def body(c):
        x, xx, r, pdir, rz, k = c
        hp, xp = hvp(pdir)
        curvature = jnp.sum(pdir * hp)
        alpha = rz / jnp.where(curvature > 0, curvature, 1.0)
        x, xx, r = x + alpha * pdir, xx + alpha * xp, r - alpha * hp
        q = precond(r)
        rz_new = jnp.sum(r * q)
        pdir = q + (rz_new / jnp.where(rz != 0, rz, 1.0)) * pdir
        return x, xx, r, pdir, rz_new, k + 1

    r0 = -_project(prob, g)
    q0 = precond(r0)
    init = (jnp.zeros_like(g), jnp.zeros_like(state.z), r0, q0, jnp.sum(r0 * q0), 0)
    x, xx, _, _, _, k = lax.while_loop(cond, body, init)
    # lax.while_loop's stub returns the init's types: the 0 counter comes back as an Array.
    return x, xx, k  # pyright: ignore[reportReturnType]


def newton_step(
    prob: Problem, state: NewtonState, lam, exact: bool = False
) -> tuple[NewtonState, jax.Array]:
    """One damped Newton step (PCG direction, Armijo backtracking). Returns state, CG count.

    ``exact``: solve the Newton system to rounding with the Hessian of the current iterate
    (re-formed after every step), so that each step depends on the iterate alone (a warm start
    from step k continues exactly as the uninterrupted run), as scikit-learn's newton-cholesky.
    """
    g = _grad(prob, state, lam)
    curv = prob.loss.curvature(state.z, prob.Y, prob.s)
    total = jnp.sum(prob.s)
    # Eisenstat-Walker forcing term: loose solves far away, tight ones near the optimum.
    eta = jnp.minimum(0.1, jnp.sqrt(jnp.max(jnp.abs(g)) / total))
    if exact:
        eta = jnp.asarray(100 * jnp.finfo(g.dtype).eps, g.dtype)
    direction, xdir, n_cg = _pcg(prob, state, lam, g, curv, eta)
    f0 = _objective_along(prob, state.theta, state.z, lam)
    slope = jnp.sum(g * direction)
    pen = prob.penalty_mask()
    rounding = 64 * jnp.finfo(f0.dtype).eps * jnp.abs(f0)

    def accept(t):
        z_t, theta_t = state.z + t * xdir, state.theta + t * direction
        f = _objective_along(prob, theta_t, z_t, lam)
        # The derivative along the line costs no pass over X: d/dt loss(z + t X d) = grad . X d.
        dphi = jnp.sum(prob.loss.grad(z_t, prob.Y, prob.s) * xdir) + 2.0 * lam * jnp.sum(
            pen * theta_t * direction
        )
        armijo = f <= f0 + 1e-4 * t * slope
        # phi is convex with phi'(0) < 0: phi'(t) <= 0 proves a decrease. Near the optimum the
        # decrease is below rounding and Armijo cannot see it; the slope still can.
        flat = (f - f0 <= rounding) & (jnp.abs(dphi) <= 0.5 * jnp.abs(slope))
        return armijo | (dphi <= 0) | flat

    t, _ = lax.while_loop(
        lambda c: ~accept(c[0]) & (c[1] < _MAX_LINESEARCH),
        lambda c: (0.5 * c[0], c[1] + 1),
        (jnp.ones_like(f0), 0),
    )
    theta = state.theta + t * direction
    z = state.z + t * xdir
    grad_data = prob.transpose_apply(prob.loss.grad(z, prob.Y, prob.s))
    state = state._replace(theta=theta, z=z, grad_data=grad_data)

    def refresh(st):
        eigvals, eigvecs, shift = _refresh(prob, st.z)
        return st._replace(eigvals=eigvals, eigvecs=eigvecs, shift=shift)

    state = lax.cond((n_cg > _REFRESH_CG) | exact, refresh, lambda st: st, state)
    return state, n_cg


def grad_max(prob: Problem, state: NewtonState, lam) -> jax.Array:
    """``max |grad F| / sum(s)``: the stopping quantity."""
    return jnp.max(jnp.abs(_grad(prob, state, lam))) / jnp.sum(prob.s)


def report(verbose: bool, solver: str, it, objective, grad) -> None:
    """Prints one line of solver progress from inside the compiled loop (``verbose`` only).

    ``jax.debug.print`` runs a host callback, which every backend (CPU, GPU, TPU) supports
    under ``jit``; with ``verbose`` False nothing is traced, so the program is unchanged.
    """
    if verbose:
        jax.debug.print(
            "jaxl2 " + solver + ": iter {it}  objective {f:.12e}  max|grad| {g:.3e}",
            it=it,
            f=objective,
            g=grad,
        )


def newton_solve(
    prob: Problem,
    state: NewtonState,
    lam,
    tol,
    max_iter,
    exact: bool = False,
    verbose: bool = False,
):
    """Newton iterations at one lam from ``state``; returns (state, n_iter, converged).

    With ``verbose`` each iteration prints its objective ``F / sum(s)`` and ``max |grad|``.
    """

    def cond(c):
        st, it = c
        return (grad_max(prob, st, lam) > tol) & (it < max_iter)

    def body(c):
        st, it = c
        st, _ = newton_step(prob, st, lam, exact)
        if verbose:
            total = jnp.sum(prob.s)
            value = _objective_along(prob, st.theta, st.z, lam) / total
            report(True, "newton", it + 1, value, grad_max(prob, st, lam))
        return st, it + 1

    state, n_iter = lax.while_loop(cond, body, (state, 0))
    return state, n_iter, grad_max(prob, state, lam) <= tol


def newton_path(
    prob: Problem, lams: jax.Array, tol, max_iter
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Warm-started Newton along ``lams`` (in the given order): per-lam theta, n_iter, flags."""
    state = newton_init(prob, jnp.zeros((prob.d, prob.m), prob.X.dtype))

    def per_lam(st, lam):
        st, n_iter, ok = newton_solve(prob, st, lam, tol, max_iter)
        return st, (st.theta, n_iter, ok)

    _, out = lax.scan(per_lam, state, lams)
    # lax.scan's stub returns the init's types: its 0 counters come back as Arrays.
    return out  # pyright: ignore[reportReturnType]


# --------------------------------------------------------------------------------------------
# L-BFGS (optax) for problems with many coefficients.


def _normalized_objective(prob: Problem, lam):
    total = jnp.sum(prob.s)
    pen = prob.penalty_mask()

    def fun(theta):
        z = prob.linear(theta)
        return (prob.loss.value(z, prob.Y, prob.s) + lam * jnp.sum(pen * theta * theta)) / total

    return fun


def lbfgs_solve(prob: Problem, theta0: jax.Array, lam, tol, max_iter, verbose: bool = False):
    """``optax.lbfgs`` on ``F / sum(s)`` until ``max |grad| <= tol``: (theta, n_iter, converged).

    With ``verbose`` each iteration prints ``F / sum(s)`` and ``max |grad|`` at its new iterate.
    """
    fun = _normalized_objective(prob, lam)
    opt = optax.lbfgs(memory_size=20)
    value_and_grad = optax.value_and_grad_from_state(fun)

    def gmax(state):
        return jnp.max(jnp.abs(optax.tree.get(state, "grad")))

    def cond(c):
        _, state, it = c
        return ((it == 0) | (gmax(state) > tol)) & (it < max_iter)

    def body(c):
        theta, state, it = c
        value, grad = value_and_grad(theta, state=state)
        # optax's L-BFGS mixes int32 and int64 indices under x64, which strict promotion (the
        # caller's setting, e.g. this project's tests) rejects; standard promotion is safe here.
        with jax.numpy_dtype_promotion("standard"):
            updates, state = opt.update(grad, state, theta, value=value, grad=grad, value_fn=fun)
        theta = optax.apply_updates(theta, updates)
        if verbose:  # one more evaluation, at the new iterate, only when printing
            value, grad = jax.value_and_grad(fun)(theta)
            report(True, "lbfgs", it + 1, value, jnp.max(jnp.abs(grad)))
        return theta, state, it + 1

    with jax.numpy_dtype_promotion("standard"):
        state0 = opt.init(theta0)
    theta, state, it = lax.while_loop(cond, body, (theta0, state0, 0))
    # The state holds the gradient at the previous iterate; report the one at theta.
    final = jnp.max(jnp.abs(jax.grad(fun)(theta)))
    return theta, it, final <= tol


def lbfgs_path(
    prob: Problem, lams: jax.Array, tol, max_iter
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Warm-started L-BFGS along ``lams``."""

    def per_lam(theta, lam):
        theta, it, ok = lbfgs_solve(prob, theta, lam, tol, max_iter)
        return theta, (theta, it, ok)

    _, out = lax.scan(per_lam, jnp.zeros((prob.d, prob.m), prob.X.dtype), lams)
    # lax.scan's stub returns the init's types: its 0 counters come back as Arrays.
    return out  # pyright: ignore[reportReturnType]


def choose_solver(solver: str, n_params: int, sparse: bool = False) -> str:
    """``"auto"``: Newton up to ``NEWTON_MAX_PARAMS`` dense coefficients, L-BFGS otherwise."""
    if solver in ("newton", "newton_exact") and sparse:
        raise ValueError(
            "solver='newton' forms a dense Hessian, which a sparse X does not allow; use "
            "solver='lbfgs' (or 'auto', which picks it for sparse X)."
        )
    if solver == "auto":
        return "newton" if n_params <= NEWTON_MAX_PARAMS and not sparse else "lbfgs"
    return solver


def solve(
    prob: Problem, lam, tol, max_iter, solver: str, theta0=None, verbose: bool = False
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Solves at one ``lam`` from ``theta0`` (default zero): (theta, n_iter, converged)."""
    if theta0 is None:
        theta0 = jnp.zeros((prob.d, prob.m), prob.X.dtype)
    if solver in ("newton", "newton_exact"):
        state = newton_init(prob, theta0)
        exact = solver == "newton_exact"
        st, it, ok = newton_solve(prob, state, lam, tol, max_iter, exact, verbose)
        # The solvers' loop counters start as 0 and come back from lax loops as Arrays.
        return st.theta, it, ok  # pyright: ignore[reportReturnType]
    return lbfgs_solve(prob, theta0, lam, tol, max_iter, verbose)  # pyright: ignore[reportReturnType]


def solve_path(prob: Problem, lams, tol, max_iter, solver: str):
    """Warm-started path from the largest lam to the smallest; results in the order of lams."""
    order = jnp.argsort(-lams)
    if solver == "newton":
        theta, it, ok = newton_path(prob, lams[order], tol, max_iter)
    else:
        theta, it, ok = lbfgs_path(prob, lams[order], tol, max_iter)
    back = jnp.argsort(order)
    return theta[back], it[back], ok[back]


def split(theta: jax.Array, p: int, fit_intercept: bool):
    """``theta (..., d, m)`` -> ``coef (..., p, m)``, ``intercept (..., m)``."""
    coef = theta[..., :p, :]
    intercept = theta[..., p, :] if fit_intercept else jnp.zeros_like(theta[..., 0, :])
    return coef, intercept
