"""L2-regularized logistic regression: one lam (vmappable) and warm-started lam paths."""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.experimental import sparse as jsparse

from .. import _checks as ck
from .._checks import check_choice, check_in_range, is_concrete
from .._typing import ArrayLike, Matrix
from . import glm as _glm
from . import glm_prox as _glm_prox

_L2_SOLVERS = ("auto", "newton", "newton_exact", "lbfgs")
_SOLVERS = (*_L2_SOLVERS, "prox_newton", "fista")


class LogisticResult(NamedTuple):
    """A fitted logistic regression.

    Attributes:
        coef: ``(p,)`` for two classes (the log-odds of class 1), ``(K, p)`` for K >= 3 (as
            scikit-learn's ``coef_``).
        intercept: a scalar for two classes, ``(K,)`` for K >= 3 (zero without an intercept).
        n_iter: Newton (or L-BFGS) iterations taken.
        converged: whether ``max |grad F| / sum(s) <= tol`` was reached.
    """

    coef: jax.Array
    intercept: jax.Array
    n_iter: jax.Array
    converged: jax.Array


class LogisticPathResult(NamedTuple):
    """A logistic regression path: every field has a leading axis of length ``len(lams)``.

    Attributes:
        lams: the penalties, in the order they were given.
        coef: ``(K_lams, p)`` for two classes, ``(K_lams, K, p)`` for K >= 3 classes.
        intercept: ``(K_lams,)`` or ``(K_lams, K)``.
        n_iter: iterations taken at each lam (after the warm start from the previous one).
        converged: per-lam convergence flags.
    """

    lams: jax.Array
    coef: jax.Array
    intercept: jax.Array
    n_iter: jax.Array
    converged: jax.Array


def _prepare(
    X, y, sample_weight, n_classes, solver, tol, max_iter, l1=False, solvers=_SOLVERS
) -> tuple[jax.Array | jsparse.BCOO, jax.Array, Any, int, str, int, float | jax.Array]:
    X = ck.check_design(X, floating=True, host=True, finite=True)
    n, p = X.shape
    y, k = ck.check_labels(y, X.shape, n_classes)
    s = ck.check_sample_weight(sample_weight, n, ones_dtype=X.dtype)
    check_choice(solver, "solver", solvers)
    sparse = _glm.is_sparse(X)
    n_params = (p + 1) * (1 if k == 2 else k)
    if l1:
        if solver in ("newton", "newton_exact", "lbfgs"):
            raise ValueError(
                f"solver={solver!r} handles only the L2 penalty (l1_ratio=0); with l1_ratio > 0 "
                "use solver='auto', 'prox_newton' or 'fista'."
            )
        if solver == "auto":
            # Sparse X too: its Hessian comes from products (never a densified X).
            solver = "prox_newton" if n_params <= _glm.NEWTON_MAX_PARAMS else "fista"
    solver = _glm.choose_solver(solver, n_params, sparse)
    if max_iter is None:
        defaults = {"newton": 100, "newton_exact": 100, "prox_newton": 100, "lbfgs": 1000}
        max_iter = defaults.get(solver, 10000)
    max_iter = ck.check_int(max_iter, "max_iter", 0)
    tol = ck.check_tol(_glm.default_tol(X.dtype) if tol is None else tol)
    return X, y, s, k, solver, max_iter, tol


def _init(coef_init, intercept_init, p, k, fit_intercept, dtype):
    """``theta0 (d, m)`` from scikit-learn-shaped starting coefficients (or None)."""
    if coef_init is None and intercept_init is None:
        return None
    m = 1 if k == 2 else k
    coef_shape, icpt_shape = ((p,), ()) if k == 2 else ((k, p), (k,))
    coef = jnp.zeros(coef_shape, dtype) if coef_init is None else jnp.asarray(coef_init)
    if coef.shape != coef_shape:
        raise ValueError(f"coef_init must have shape {coef_shape}, got {coef.shape}.")
    theta = jnp.reshape(coef.astype(dtype).T, (p, m))
    if fit_intercept:
        icpt = jnp.zeros(icpt_shape, dtype) if intercept_init is None else intercept_init
        icpt = jnp.asarray(icpt).astype(dtype)
        if icpt.shape != icpt_shape:
            raise ValueError(f"intercept_init must have shape {icpt_shape}, got {icpt.shape}.")
        theta = jnp.concatenate([theta, jnp.reshape(icpt, (1, m))], axis=0)
    return ck.check_finite(theta, "coef_init/intercept_init")


@functools.partial(
    jax.jit, static_argnames=("n_classes", "fit_intercept", "solver", "path", "verbose")
)
def _fit(
    X,
    y,
    s,
    lam,
    l1_ratio,
    tol,
    max_iter,
    theta0,
    *,
    n_classes,
    fit_intercept,
    solver,
    path,
    verbose=False,
):
    """The whole fit in one compiled program (encoding, solve, unpacking)."""
    dtype = X.dtype
    if n_classes == 2:
        loss, Y = _glm.Binomial, jnp.asarray(y).astype(dtype)[:, None]
    else:
        loss, Y = _glm.Multinomial, jax.nn.one_hot(y, n_classes, dtype=dtype)
    prob = _glm.Problem(X, Y, jnp.asarray(s).astype(dtype), loss, fit_intercept, n_classes > 2)
    lam, tol = jnp.asarray(lam).astype(dtype), jnp.asarray(tol).astype(dtype)
    if path:
        theta, n_iter, ok = _glm.solve_path(prob, lam, tol, max_iter, solver)
    elif solver in ("prox_newton", "fista"):
        rho = jnp.asarray(l1_ratio).astype(dtype)
        lam2, lam1 = lam * (1.0 - rho), lam * rho
        theta, n_iter, ok = _glm_prox.solve_l1(
            prob, lam2, lam1, tol, max_iter, solver, theta0, verbose
        )
    else:
        theta, n_iter, ok = _glm.solve(prob, lam, tol, max_iter, solver, theta0, verbose)
    coef, intercept = _glm.split(theta, X.shape[1], fit_intercept)
    if n_classes == 2:
        coef, intercept = coef[..., 0], intercept[..., 0]
    else:
        coef = jnp.swapaxes(coef, -1, -2)  # scikit-learn's (classes, features)
    return coef, intercept, n_iter, ok


def logistic_regression(
    X: Matrix,
    y: ArrayLike,
    lam: ArrayLike,
    *,
    l1_ratio: float | jax.Array = 0.0,
    fit_intercept: bool = True,
    sample_weight: ArrayLike | None = None,
    n_classes: int | None = None,
    solver: str = "auto",
    max_iter: int | None = None,
    tol: float | jax.Array | None = None,
    coef_init: ArrayLike | None = None,
    intercept_init: ArrayLike | None = None,
    verbose: int = 0,
) -> LogisticResult:
    r"""Regularized logistic regression (binary, or the symmetric multinomial for K >= 3).

    Minimizes

    .. math:: F(W, b) = \sum_i s_i \, \ell(y_i, x_i^\top W + b)
        + \mathrm{lam} \cdot (\rho \|W\|_1 + (1 - \rho) \|W\|^2)

    with ``rho = l1_ratio`` (default 0: the L2 penalty ``lam ||W||^2``)
    where ``l`` is the logistic loss ``log(1 + exp(z)) - y z`` for two classes and the softmax
    cross-entropy ``logsumexp(z) - z_y`` over all K classes (symmetric, as scikit-learn) for
    three or more; the intercept ``b`` is not penalized. This equals
    ``sklearn.linear_model.LogisticRegression(C=1 / (2 * lam))``, and glmnet's ridge logistic
    model (``alpha=0``, ``standardize=FALSE``) at ``lambda = 2 lam / n``.

    Solvers: ``"newton"`` (Newton steps by conjugate gradients preconditioned with a Hessian
    that is re-formed only when it has gone stale; plain Newton when it is fresh),
    ``"lbfgs"`` (``optax.lbfgs``), for ``l1_ratio = 0`` only; ``"prox_newton"`` (proximal
    Newton, the quadratic model minimized by coordinate descent on the Hessian) and
    ``"fista"`` (accelerated proximal gradient, products with X only), for any ``l1_ratio``,
    with exact zeros; or ``"auto"``: Newton up to ``1000`` coefficients of a dense X, L-BFGS
    above or for a sparse X; with ``l1_ratio > 0`` proximal Newton up to ``1000`` coefficients
    (for a sparse X its Hessian is formed from products with X), FISTA above. ``X`` may be a
    ``jax.experimental.sparse.BCOO`` matrix: only products with it are formed. All stop when
    the largest entry of the (minimum-norm sub)gradient of ``F / sum(s)`` is ``<= tol`` — the
    gradient scikit-learn's ``tol`` bounds. On separable data with ``lam = 0`` no minimizer
    exists (``|W|`` grows without bound); the solvers stop, finite, where the gradient is below
    ``tol``, as scikit-learn's do. Works under ``jax.jit`` (pass ``n_classes`` when ``y`` is
    traced) and ``jax.vmap`` over ``lam``.

    Args:
        X: ``(n, p)`` floating-point features (dense, or a ``BCOO`` sparse matrix); the result
            has their dtype.
        y: ``(n,)`` integer class labels ``0..K-1`` (or booleans); every class must occur.
        lam: penalty ``lam >= 0`` (a scalar; vmap over it for many).
        l1_ratio: ``rho`` in ``[0, 1]``, the L1 share of the penalty.
        fit_intercept: fit an unpenalized intercept.
        sample_weight: ``(n,)`` non-negative weights ``s`` (default ones).
        n_classes: K, needed when ``y`` is traced (inside ``jit``/``vmap`` over ``y``).
        solver: ``"auto"``, ``"newton"``, ``"newton_exact"`` (each Newton system solved to
            rounding with a fresh Hessian: steps depend on the iterate alone),
            ``"lbfgs"``, ``"prox_newton"`` or ``"fista"``.
        max_iter: iteration limit ``>= 0`` (default 100 for (proximal) Newton, 1000 for
            L-BFGS, 10000 for FISTA; 0 returns the starting point).
        tol: gradient tolerance (default ``1e-8`` in float64, ``1e-4`` in float32).
        coef_init: starting coefficients, shaped as ``coef`` (a warm start; default zeros).
        intercept_init: starting intercept, shaped as ``intercept`` (default zero).
        verbose: when ``> 0``, each iteration prints (``jax.debug.print``, so also under
            ``jit`` on any backend) its number, the objective ``F / sum(s)`` and the
            stopping quantity ``max |grad|``.

    Returns:
        A :class:`LogisticResult` ``(coef, intercept, n_iter, converged)``.

    Raises:
        TypeError: ``X`` is not floating point, or ``y`` holds floats instead of class labels.
        ValueError: a single class, labels that are not ``0..K-1``, NaN/Inf in ``X``, a negative
            ``lam``, or bad ``sample_weight`` (at trace time when traced: via
            ``equinox.error_if``).

    Warns:
        ConvergenceWarning: (eager calls only) ``converged`` is False.

    Examples:
        >>> import jax, jax.numpy as jnp, jaxl2
        >>> X = jnp.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 2.0], [1.0, 2.0]])
        >>> y = jnp.array([0, 0, 1, 1, 0])
        >>> res = jaxl2.logistic_regression(X, y, lam=0.5)
        >>> res.coef.round(4), res.intercept.round(4), bool(res.converged)
        (Array([1.0311, 0.154 ], dtype=float32), Array(-2.1152, dtype=float32), True)
        >>> fit = jax.vmap(lambda lam: jaxl2.logistic_regression(X, y, lam).coef)
        >>> fit(jnp.array([0.1, 1.0, 10.0])).shape
        (3, 2)
        >>> lasso = jaxl2.logistic_regression(X, y, lam=1.0, l1_ratio=1.0)  # exact zeros
        >>> [round(float(c), 3) for c in lasso.coef]
        [1.119, 0.0]

    References:
        scikit-learn ``LogisticRegression`` (lbfgs/newton-cg objective); Nocedal & Wright,
        *Numerical Optimization* (2006), ch. 7 (Newton-CG, Eisenstat-Walker forcing terms).
    """
    l1_ratio = check_in_range(l1_ratio, "l1_ratio", 0.0, 1.0)
    ck.check_scalar(l1_ratio, "l1_ratio")
    l1 = not is_concrete(l1_ratio) or float(l1_ratio) > 0
    X, y, s, k, solver, max_iter, tol = _prepare(
        X, y, sample_weight, n_classes, solver, tol, max_iter, l1=l1
    )
    lam = ck.check_lam(lam)
    ck.check_scalar(lam, "lam", " or use jaxl2.logistic_path")
    theta0 = _init(coef_init, intercept_init, X.shape[1], k, bool(fit_intercept), X.dtype)
    coef, intercept, n_iter, ok = _fit(
        X,
        y,
        s,
        lam,
        l1_ratio,
        tol,
        max_iter,
        theta0,
        n_classes=k,
        fit_intercept=bool(fit_intercept),
        solver=solver,
        path=False,
        verbose=bool(verbose),
    )
    if verbose:
        jax.effects_barrier()  # every progress line printed before returning
    _glm.warn_if_not_converged(ok, "logistic_regression", max_iter)
    return LogisticResult(coef, intercept, n_iter, ok)


def logistic_path(
    X: Matrix,
    y: ArrayLike,
    lams: ArrayLike,
    *,
    fit_intercept: bool = True,
    sample_weight: ArrayLike | None = None,
    n_classes: int | None = None,
    solver: str = "auto",
    max_iter: int | None = None,
    tol: float | jax.Array | None = None,
) -> LogisticPathResult:
    r"""L2-regularized logistic regression along a path of penalties, warm-started.

    Solves, for each ``lam`` in ``lams``, the problem of :func:`logistic_regression`

    .. math:: \min_{W, b} \sum_i s_i \, \ell(y_i, x_i^\top W + b) + \mathrm{lam} \cdot \|W\|^2

    going from the strongest penalty to the weakest, each solve starting from the previous
    solution and reusing its Hessian as the preconditioner of the next Newton steps. Results
    come back in the order of ``lams``, with one convergence flag per penalty. Equals a loop of
    ``sklearn.linear_model.LogisticRegression(C=1 / (2 * lam))``.

    Args:
        X: ``(n, p)`` floating-point features.
        y: ``(n,)`` integer class labels ``0..K-1``.
        lams: ``(K_lams,)`` penalties ``>= 0`` in any order.
        fit_intercept: fit an unpenalized intercept.
        sample_weight: ``(n,)`` non-negative weights.
        n_classes: K, needed when ``y`` is traced.
        solver: ``"auto"``, ``"newton"`` or ``"lbfgs"``.
        max_iter: iteration limit per penalty (default 100 for Newton, 1000 for L-BFGS).
        tol: gradient tolerance (default ``1e-8`` in float64, ``1e-4`` in float32).

    Returns:
        A :class:`LogisticPathResult` ``(lams, coef, intercept, n_iter, converged)``.

    Raises:
        TypeError: ``X`` is not floating point, or ``y`` holds floats.
        ValueError: bad labels, NaN/Inf, a negative penalty, ``lams`` not 1-D.

    Warns:
        ConvergenceWarning: (eager calls only) some penalty did not converge.

    Examples:
        >>> import jax.numpy as jnp, numpy as np, jaxl2
        >>> X = jnp.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 2.0], [1.0, 2.0]])
        >>> y = jnp.array([0, 0, 1, 1, 0])
        >>> path = jaxl2.logistic_path(X, y, jnp.array([10.0, 1.0, 0.1]))
        >>> np.asarray(path.coef[:, 0]).round(3), path.converged.all().item()
        (array([0.103, 0.678, 2.234], dtype=float32), True)

    References:
        Friedman, Hastie & Tibshirani, "Regularization Paths for Generalized Linear Models via
        Coordinate Descent", J. Stat. Softw. 33 (2010) (warm starts along a path);
        scikit-learn ``LogisticRegression`` (lbfgs) at ``C = 1 / (2 lam)``.
    """
    X, y, s, k, solver, max_iter, tol = _prepare(
        X, y, sample_weight, n_classes, solver, tol, max_iter, solvers=("auto", "newton", "lbfgs")
    )
    lams = ck.check_lams(lams)
    coef, intercept, n_iter, ok = _fit(
        X,
        y,
        s,
        lams,
        0.0,
        tol,
        max_iter,
        None,
        n_classes=k,
        fit_intercept=bool(fit_intercept),
        solver=solver,
        path=True,
    )
    _glm.warn_if_not_converged(ok, "logistic_path", max_iter)
    lams = jnp.asarray(lams).astype(coef.dtype)
    return LogisticPathResult(lams, coef, intercept, n_iter, ok)
