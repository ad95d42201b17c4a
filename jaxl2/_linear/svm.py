"""L2-regularized linear support vector machine (squared hinge), binary and one-vs-rest."""

from __future__ import annotations

import functools
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp

from .. import _checks as ck
from .._checks import check_choice
from .._typing import ArrayLike
from . import glm as _glm
from . import ridge_data as rd


class SVMResult(NamedTuple):
    """A fitted linear SVM.

    Attributes:
        coef: ``(p,)`` for two classes (positive scores mean class 1), ``(K, p)`` one-vs-rest.
        intercept: a scalar or ``(K,)`` (zero without an intercept).
        n_iter: Newton (or L-BFGS) iterations, one per binary problem.
        converged: one flag per binary problem.
    """

    coef: jax.Array
    intercept: jax.Array
    n_iter: jax.Array
    converged: jax.Array


@functools.partial(jax.jit, static_argnames=("n_classes", "fit_intercept", "solver"))
def _fit(X, y, s, lam, tol, max_iter, *, n_classes, fit_intercept, solver):
    dtype = X.dtype
    y = jnp.asarray(y).astype(jnp.int32)
    classes = jnp.arange(n_classes, dtype=jnp.int32) if n_classes > 2 else jnp.ones(1, jnp.int32)
    # One binary problem per column: +1 for the class, -1 for the rest.
    signs = jnp.where(y[None, :] == classes[:, None], 1.0, -1.0).astype(dtype)
    s, lam, tol = (jnp.asarray(a).astype(dtype) for a in (s, lam, tol))

    def solve(t):
        prob = _glm.Problem(X, t[:, None], s, _glm.SquaredHinge, fit_intercept, False)
        return _glm.solve(prob, lam, tol, max_iter, solver)

    # one class at a time on CPU: see rd.map_unbatched (batched LAPACK calls deadlock jaxlib 0.10)
    theta, n_iter, ok = rd.map_unbatched(solve, signs)  # theta: (classes, d, 1)
    coef, intercept = _glm.split(theta, X.shape[1], fit_intercept)
    coef, intercept = coef[..., 0], intercept[..., 0]  # (classes, p): scikit-learn's layout
    if n_classes == 2:
        coef, intercept, n_iter, ok = coef[0], intercept[0], n_iter[0], ok[0]  # pyright: ignore[reportIndexIssue]
    return coef, intercept, n_iter, ok


def linear_svm(
    X: ArrayLike,
    y: ArrayLike,
    lam: ArrayLike,
    *,
    loss: Literal["squared_hinge"] = "squared_hinge",
    fit_intercept: bool = False,
    sample_weight: ArrayLike | None = None,
    n_classes: int | None = None,
    solver: str = "auto",
    max_iter: int | None = None,
    tol: float | jax.Array | None = None,
) -> SVMResult:
    r"""L2-regularized linear SVM with the squared hinge loss; one-vs-rest for K >= 3 classes.

    For two classes (``t_i = +1`` for class 1, ``-1`` for class 0) minimizes

    .. math:: F(w, b) = \sum_i s_i \max(0, 1 - t_i (x_i^\top w + b))^2
              + \mathrm{lam} \cdot \|w\|^2

    and for K >= 3 classes solves one such problem per class (that class against the rest).
    Without an intercept this equals
    ``sklearn.svm.LinearSVC(C=1 / (2 * lam), loss="squared_hinge", fit_intercept=False)``.
    With ``fit_intercept=True`` the intercept ``b`` is not penalized (``LinearSVC`` penalizes
    its intercept through ``intercept_scaling``; the two agree as that scaling grows).

    The loss is piecewise quadratic, so Newton's method with its generalized Hessian
    (Keerthi & DeCoste 2005) converges in a few steps; the solver, tolerance and ``jit``/``vmap``
    behaviour are those of :func:`logistic_regression`.

    Args:
        X: ``(n, p)`` floating-point features.
        y: ``(n,)`` integer class labels ``0..K-1``.
        lam: penalty ``lam >= 0``.
        loss: ``"squared_hinge"`` (the only loss; the hinge itself is not differentiable).
        fit_intercept: fit an unpenalized intercept.
        sample_weight: ``(n,)`` non-negative weights ``s``.
        n_classes: K, needed when ``y`` is traced.
        solver: ``"auto"``, ``"newton"`` or ``"lbfgs"``.
        max_iter: iteration limit (default 100 for Newton, 1000 for L-BFGS).
        tol: tolerance on ``max |grad F| / sum(s)`` (default ``1e-8`` float64, ``1e-4`` float32).

    Returns:
        An :class:`SVMResult` ``(coef, intercept, n_iter, converged)``.

    Raises:
        TypeError: ``X`` not floating point, or ``y`` holds floats.
        ValueError: bad labels, NaN/Inf, a negative ``lam``, an unknown ``loss``.

    Warns:
        ConvergenceWarning: (eager calls only) some binary problem did not converge.

    Examples:
        >>> import jax.numpy as jnp, jaxl2
        >>> X = jnp.array([[1.0, 2.0], [2.0, 0.5], [-1.0, -1.5], [-2.0, 0.5], [0.5, -2.0]])
        >>> y = jnp.array([1, 1, 0, 0, 0])
        >>> res = jaxl2.linear_svm(X, y, lam=0.5)
        >>> res.coef.round(4), bool(res.converged)
        (Array([0.5455, 0.5455], dtype=float32), True)

    References:
        Keerthi & DeCoste, "A Modified Finite Newton Method for Fast Solution of Large Scale
        Linear SVMs", JMLR 6 (2005); scikit-learn ``LinearSVC`` (liblinear).
    """
    check_choice(loss, "loss", ("squared_hinge",))
    check_choice(solver, "solver", ("auto", "newton", "lbfgs"))
    X = ck.check_design(X, floating=True, host=True, finite=True)
    n, p = X.shape
    y, k = ck.check_labels(y, X.shape, n_classes)
    s = ck.check_sample_weight(sample_weight, n, ones_dtype=X.dtype)
    lam = ck.check_lam(lam)
    ck.check_scalar(lam, "lam")
    solver = _glm.choose_solver(solver, p + 1)
    if max_iter is None:
        max_iter = 100 if solver == "newton" else 1000
    max_iter = ck.check_int(max_iter, "max_iter")
    tol = ck.check_tol(_glm.default_tol(X.dtype) if tol is None else tol)
    coef, intercept, n_iter, ok = _fit(
        X,
        y,
        s,
        lam,
        tol,
        max_iter,
        n_classes=k,
        fit_intercept=bool(fit_intercept),
        solver=solver,
    )
    _glm.warn_if_not_converged(ok, "linear_svm", max_iter)
    return SVMResult(coef, intercept, n_iter, ok)
