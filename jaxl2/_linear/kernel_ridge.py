"""Kernel ridge with exact leave-one-out and GCV over a λ path, from one eigendecomposition.

With ``K = Q diag(e) Qᵀ`` the dual coefficients are ``α(lam) = Q diag(1/(e + lam)) Qᵀ y`` and the
hat matrix is ``K (K + lam I)⁻¹``, so ``1 − hᵢᵢ = lam Σⱼ Qᵢⱼ²/(eⱼ + lam)`` and the exact LOO
residual is ``αᵢ / [(K + lam I)⁻¹]ᵢᵢ`` (the lam cancels): the dual form of
:mod:`jaxl2._ridge_path`, which is reused here with Q in place of U.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks as ck
from .._checks import check_choice
from .._typing import ArrayLike, Devices
from . import ridge_chunks as ch
from . import ridge_data as rd
from . import ridge_many as rm
from . import ridge_path as rp
from . import ridge_shard as rs
from .ridge import eigh_cutoff

KERNELS = ("linear", "poly", "polynomial", "rbf")


def check_kernel_params(
    kernel: str, gamma: Any, degree: Any, coef0: Any, p: int
) -> tuple[str, float, int, float]:
    """(kernel, gamma, degree, coef0) checked, with gamma's default 1/p."""
    check_choice(kernel, "kernel", KERNELS)
    kernel = "poly" if kernel == "polynomial" else kernel
    if gamma is None:
        gamma = 1.0 / p
    if not ck.is_concrete(gamma):
        raise TypeError(
            "gamma is a static kernel parameter (a Python float): it cannot be traced under "
            f"jit, vmap or grad, got {gamma!r}."
        )
    if isinstance(gamma, (np.ndarray, jax.Array)) and gamma.shape == ():
        gamma = gamma.item()  # a concrete 0-d array, e.g. jnp.asarray(0.5)
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float, np.floating, np.integer)):
        raise TypeError(f"gamma must be a positive float or None, got {gamma!r}.")
    if not (np.isfinite(gamma) and gamma > 0):
        raise ValueError(
            f"gamma (the kernel's inverse bandwidth) must be a positive finite float, "
            f"got {gamma!r}."
        )
    degree = ck.check_int(degree, "degree")
    if isinstance(coef0, bool) or not isinstance(coef0, (int, float, np.floating, np.integer)):
        raise TypeError(f"coef0 must be a float, got {coef0!r}.")
    if not np.isfinite(coef0):
        raise ValueError(f"coef0 must be finite, got {coef0!r}.")
    return kernel, float(gamma), int(degree), float(coef0)


@functools.partial(jax.jit, static_argnames=("kernel", "degree"))
def _kernel(A, B, *, kernel, gamma, degree, coef0):
    G = ch.rdot(A, B)
    if kernel == "linear":
        return G
    if kernel == "poly":
        return (gamma * G + coef0) ** degree
    sq = jnp.sum(jnp.square(A), 1)[:, None] + jnp.sum(jnp.square(B), 1)[None, :] - 2 * G
    return jnp.exp(-gamma * jnp.maximum(sq, 0))


def kernel_matrix(
    X: ArrayLike,
    Z: ArrayLike | None = None,
    *,
    kernel: str = "rbf",
    gamma: float | None = None,
    degree: int = 3,
    coef0: float = 1.0,
) -> jax.Array:
    r"""The kernel matrix ``k(xᵢ, zⱼ)`` with scikit-learn's kernel conventions.

    - ``"linear"``: ``xᵀz``;
    - ``"poly"`` (``"polynomial"``): ``(gamma·xᵀz + coef0)^degree``;
    - ``"rbf"``: ``exp(−gamma·‖x − z‖²)``;

    with ``gamma`` defaulting to ``1/p`` (``sklearn.metrics.pairwise``).

    Args:
        X: ``(n, p)``; Z: ``(m, p)`` or None for X itself.
        kernel, gamma, degree, coef0: the kernel and its parameters; ``gamma > 0``.

    Returns:
        ``(n, m)`` kernel matrix in X's dtype.

    Raises:
        ValueError: an unknown kernel, ``gamma ≤ 0`` (a negative bandwidth), a non-positive
            degree, or Z without X's features.
        TypeError: a ``gamma`` traced under jit, vmap or grad (the kernel's parameters are
            static; a concrete 0-d array is taken as a float).

    Examples:
        >>> import jax.numpy as jnp
        >>> import jaxl2
        >>> X = jnp.array([[0.0, 0.0], [1.0, 0.0]])
        >>> print(jaxl2.kernel_matrix(X, kernel="rbf", gamma=1.0).round(4))
        [[1.     0.3679]
         [0.3679 1.    ]]
    """
    X = ck.check_design(X)
    dtype = ck.float_dtypes(X)[0]
    X = X.astype(dtype)
    Z = X if Z is None else ck.check_design(Z, "Z").astype(dtype)
    if Z.shape[1] != X.shape[1]:
        raise ValueError(f"Z must have the {X.shape[1]} features of X, got shape {Z.shape}.")
    kernel, gamma, degree, coef0 = check_kernel_params(kernel, gamma, degree, coef0, X.shape[1])
    return _kernel(X, Z, kernel=kernel, gamma=gamma, degree=degree, coef0=coef0)


class KernelRidgePathResult(NamedTuple):
    """Result of :func:`kernel_ridge_path`.

    Attributes:
        lams: ``(K,)`` the strengths.
        dual_coef: ``(n,)`` or ``(n, t)``: each target's ``α = (K + lam I)⁻¹ y`` at its best lam;
            predictions are ``kernel_matrix(X_new, X) @ dual_coef``.
        coef: linear kernel only, the primal ``w = Xᵀα`` (``(p,)`` or ``(t, p)``); else None.
        loo_mse: ``(K,)`` or ``(K, t)`` exact LOO MSE (None when ``select="gcv"``).
        gcv: ``(K,)`` or ``(K, t)``.
        best_index: ``()`` or ``(t,)``.
        best_lam: ``()`` or ``(t,)``.
    """

    lams: jax.Array
    dual_coef: jax.Array
    coef: jax.Array | None
    loo_mse: jax.Array | None
    gcv: jax.Array
    best_index: jax.Array
    best_lam: jax.Array


@functools.partial(jax.jit, static_argnames=("select",))
def _kernel_batch(dec: rp.Decomposition, Y: jax.Array, lams: jax.Array, *, select: str):
    n = Y.shape[0]
    C = ch.tdot(dec.U, Y)
    dec = dec._replace(C=C)
    filt = rp.filters(dec, lams)
    gcv = rp.gcv_from_rss(rm._gcv_rss(dec, Y, C, filt), n, dec.e, filt, False)
    loo = None
    if select == "loo":
        den = rp.loo_denominators(dec, filt, jnp.zeros((n,), Y.dtype))

        def one(k: jax.Array) -> jax.Array:
            f_k = rp.Filters(filt.inv[:, k, None], filt.lam[:, k, None], filt.null)
            num, _ = rp.loo_numerators(dec, Y, C, f_k)
            return jnp.mean(jnp.square(num / den[:, k, None]), axis=0)

        loo = jax.lax.map(one, jnp.arange(lams.shape[0]))
        crit = loo
    else:
        crit = gcv
    best = jnp.argmin(jnp.where(jnp.isnan(crit), jnp.inf, crit), axis=0)
    inv_best = jnp.take_along_axis(filt.inv, best[None, :], axis=1)
    return dec.U @ (inv_best * C), loo, gcv, best


def _shared_kernel_batch(shared: tuple, Y: jax.Array, *, select: str) -> tuple:
    """:func:`_kernel_batch` on ``shared = (decomposition, lams)``: the sharded step."""
    return _kernel_batch(shared[0], Y, shared[1], select=select)


@functools.partial(jax.jit, static_argnames=("kernel", "degree"))
def _kernel_eigh(X, *, kernel, gamma, degree, coef0):
    K = _kernel(X, X, kernel=kernel, gamma=gamma, degree=degree, coef0=coef0)
    e, Q = jnp.linalg.eigh(K)
    e = jnp.maximum(e, 0)
    n = X.shape[0]
    return rp.Decomposition(Q, Q * Q, e, jnp.zeros((n, 0), X.dtype), None, eigh_cutoff(e, n, n))


def _dual_path(dec, Y, lams, select, batch, mesh):
    """(dual coefficients (n, t), loo (K, t) or None, gcv (K, t), best (t,)) by target batches,
    sharded over ``mesh`` when given."""
    n, t = Y.shape
    if mesh is not None:
        return rs.run(
            _shared_kernel_batch,
            {"select": select},
            (dec, lams),
            Y,
            mesh,
            batch,
            lambda local: rm.default_batch(n, local),
            (1, 1 if select == "loo" else None, 1, 0),
        )
    outs = [
        _kernel_batch(dec, Y[:, s : s + batch], lams, select=select) for s in range(0, t, batch)
    ]
    A, loo, gcv, best = (list(parts) for parts in zip(*outs, strict=True))
    A, gcv, best = jnp.concatenate(A, 1), jnp.concatenate(gcv, 1), jnp.concatenate(best)
    loo = None if loo[0] is None else jnp.concatenate(loo, 1)
    return A, loo, gcv, best


def kernel_ridge_path(
    X: ArrayLike,
    y: ArrayLike,
    lams: ArrayLike,
    *,
    kernel: str = "rbf",
    gamma: float | None = None,
    degree: int = 3,
    coef0: float = 1.0,
    select: str = "loo",
    targets_batch: int | None = None,
    devices: Devices = None,
) -> KernelRidgePathResult:
    r"""Kernel ridge over K strengths with exact leave-one-out / GCV; each target's best kept.

    For each ``lam`` minimizes ``Σᵢ (yᵢ − f(xᵢ))² + lam·‖f‖²_H`` over the kernel's function space,
    i.e. ``α = (K + lam I)⁻¹ y`` and ``f(x) = Σᵢ αᵢ k(x, xᵢ)`` (scikit-learn's
    ``KernelRidge(alpha=lam)``: no intercept). One eigendecomposition ``K = Q diag(e) Qᵀ`` serves
    every strength and target:

    - ``loo_mse``: exact leave-one-out ``(1/n) Σᵢ (αᵢ / [(K + lam I)⁻¹]ᵢᵢ)²``;
    - ``gcv``: ``(1/n)‖y − ŷ‖² / (1 − tr(A)/n)²`` with ``tr(A) = Σⱼ eⱼ/(eⱼ + lam)``.

    Each target keeps only its dual coefficients at its own best strength (by ``select``), so
    memory is ``O(n² + n·t + K·t)``. The linear kernel on data with more samples than
    features is solved in the primal by :func:`jaxl2.ridge_path` (``keep="best"``; the same
    numbers, with ``p × p`` instead of ``n × n`` work); ``dual_coef`` is then ``(y − Xw)/lam``.

    Args:
        X: ``(n, p)`` training inputs (dtype kept). y: ``(n,)`` or ``(n, t)`` targets.
        lams: ``(K,)`` strengths ``> 0``.
        kernel, gamma, degree, coef0: see :func:`kernel_matrix`.
        select: ``"loo"`` or ``"gcv"``: the criterion that picks each target's strength (with
            ``"gcv"`` no residual matrices are formed and ``loo_mse`` is None).
        targets_batch: targets per batch (bounded memory); with ``devices``, over all devices.
        devices: shard the targets over devices (an int, a list of devices or a
            ``jax.sharding.Mesh``), as :func:`jaxl2.ridge_path` does: the kernel's
            eigendecomposition is replicated, y and the per-target outputs are sharded along
            targets; a y already sharded along its targets is used where it lies.

    Returns:
        :class:`KernelRidgePathResult`.

    Raises:
        ValueError: ``lams`` not > 0, bad kernel parameters (e.g. ``gamma ≤ 0``), NaN targets,
            shapes that disagree.
        TypeError: a ``gamma`` traced under jit, vmap or grad (it is static).

    Examples:
        >>> import jax
        >>> import jax.numpy as jnp
        >>> import jaxl2
        >>> X = jax.random.uniform(jax.random.PRNGKey(0), (40, 1), minval=-3, maxval=3)
        >>> y = jnp.sin(X[:, 0])
        >>> path = jaxl2.kernel_ridge_path(X, y, jnp.logspace(-4, 1, 6), gamma=1.0)
        >>> print(path.best_lam, path.loo_mse[path.best_index] < 1e-4)
        0.0001 True

    References:
        Saunders, Gammerman & Vovk (1998), *Ridge regression learning algorithm in dual
        variables*; Cawley & Talbot (2004), *Fast exact leave-one-out cross-validation of sparse
        least-squares support vector machines*; scikit-learn ``KernelRidge``.
    """
    check_choice(select, "select", ("loo", "gcv"))
    X, Y, _, y_was_1d, out_dtype, traced = ck.check_xy(X, y, None)
    n, p = X.shape
    if n < 2:
        raise ValueError(f"kernel_ridge_path needs at least 2 samples, got n_samples = {n}.")
    kernel, gamma, degree, coef0 = check_kernel_params(kernel, gamma, degree, coef0, p)
    lams = ck.check_lams(lams, X.dtype)
    if ck.is_concrete(lams) and bool(jnp.any(lams <= 0)):
        raise ValueError(f"lams must be > 0 for kernel ridge, got {np.asarray(lams).tolist()}.")
    t = Y.shape[1]
    mesh = rs.resolve(devices, Y)
    if mesh is None:
        batch = rm.check_batch(targets_batch, n, t)
    else:
        batch = ck.check_int(targets_batch, "targets_batch", allow_none=True)
    coef = None
    if kernel == "linear" and n > p:
        from .ridge_path import ridge_path

        path = ridge_path(
            X,
            Y,
            lams,
            fit_intercept=False,
            keep="best",
            select=select,
            targets_batch=batch,
            devices=devices,
        )
        coef, loo, gcv, best = path.coef, path.loo_mse, path.gcv, path.best_index
        A = (Y - X @ coef.T) / lams[best][None, :]
    else:
        rm.warn_constant(Y, None, "kernel_ridge_path")
        if mesh is not None:
            X = jnp.asarray(rs.replicate(X, mesh))
        dec = _kernel_eigh(X, kernel=kernel, gamma=gamma, degree=degree, coef0=coef0)
        A, loo, gcv, best = _dual_path(dec, Y, lams, select, batch, mesh)
        if kernel == "linear":
            coef = ch.tdot(A, X)
    A, best, best_lam = rd.guard_finite((A, best, lams[best]), traced, "kernel_ridge_path")
    if y_was_1d:
        A, best, best_lam, gcv = A[:, 0], best[0], best_lam[0], gcv[:, 0]
        loo = None if loo is None else loo[:, 0]
        coef = None if coef is None else coef[0]

    def cast(a: Any) -> Any:  # keeps None for the fields that may be None (loo_mse, coef)
        return None if a is None else a.astype(out_dtype)

    return KernelRidgePathResult(
        cast(lams),
        cast(A),
        cast(coef),
        cast(loo),
        cast(gcv),
        best,
        cast(best_lam),
    )
