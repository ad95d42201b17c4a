"""Weight decay beyond AdamW: CPR, weight norm control (AdamWN) and spectral decay.

Each transform here goes in an ``optax.chain`` AFTER a complete optimizer (its learning-rate
scaling included) and subtracts its decay from the update, as ``torch.optim.AdamW`` subtracts
``lr · λ · w`` after the Adam step:

    optax.chain(optax.adam(lr), jaxl2.weight_norm_control(λ, target_norm, learning_rate=lr))

With ``learning_rate=`` the decay is multiplied by ``lr_t`` (AdamW's convention); without it the
decay is not (CPR's default, and "independent" decay). Every rule acts on one leaf (one matrix)
at a time: its norm, bound, multiplier or singular vectors are per leaf.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import masks as _masks
from ._checks import (
    at_least_float32,
    broadcast_prefix,
    check_choice,
    check_floating,
    check_nonnegative,
    check_rate,
    check_same_structure,
    is_concrete,
    widest_float,
)
from ._transforms import _adam
from ._typing import ArrayLike, DTypeLike, MaskLike, Params, ScalarOrSchedule

_HIGHEST = jax.lax.Precision.HIGHEST  # f32 products in f32 on TPU/GPU (not bf16 or TF32)

_NO_PARAMS = (
    "params: this weight decay needs the current parameters; call update(updates, state, params)."
)

KAPPA_INITS = ("uniform", "dependent", "warm_start", "inflection_point")


class CPRState(NamedTuple):
    """State of :func:`cpr`: per-leaf bound, Lagrange multiplier and inflection-point detector.

    ``kappa`` holds the bound ``κ`` on ``‖W‖²`` of each leaf (0 while it is not yet set),
    ``kappa_set`` whether it is set, ``lagmul`` the multiplier ``λ``. ``ema``, ``prev_reg`` and
    ``prev_grad`` are the smoothed ``‖W‖²``, its previous value and its previous rate of change
    used by ``kappa_init="inflection_point"``. Leaves the mask leaves out keep zeros.
    """

    count: jax.Array
    kappa: Any
    kappa_set: Any
    lagmul: Any
    ema: Any
    prev_reg: Any
    prev_grad: Any


class WeightNormControlState(NamedTuple):
    """State of :func:`weight_norm_control`: the step count and each leaf's initial norm."""

    count: jax.Array
    initial_norm: Any


class SpectralDecayState(NamedTuple):
    """State of :func:`spectral_decay`: per leaf, the power iteration's right singular vector.

    ``v`` is the current estimate of ``v₁`` (shape ``(n,)`` for a leaf reshaped to an
    ``m × n`` matrix; shape ``(0,)`` for a skipped leaf: fewer than two dimensions, or left out
    by the mask), ``sigma`` the estimate of ``σ₁`` at the last step (0 for skipped leaves).
    """

    count: jax.Array
    v: Any
    sigma: Any


# --------------------------------------------------------------------------- helpers


def _is_schedule(x: Any) -> bool:
    return callable(x) and jax.tree.leaves(x) == [x]


def _value_at(value: Any, name: str) -> Callable[[jax.Array], Any]:
    """``count -> value`` for a number, an array or a schedule, checked to be >= 0."""
    if value is None:
        raise ValueError(f"{name} must be a non-negative number, array or schedule; got None.")
    check_rate(value, name, per_leaf=False)
    if _is_schedule(value):
        return lambda count: check_nonnegative(value(count), f"{name} (the value of the schedule)")
    if is_concrete(value):
        check_nonnegative(value, name)
        return lambda count: value
    return lambda count: check_nonnegative(value, name)


def _coef_at(learning_rate: Any) -> Callable[[jax.Array], Any]:
    """The multiplier of the decay: ``lr_t`` when a learning rate is given, else 1."""
    if learning_rate is None:
        return lambda count: 1.0
    return _value_at(learning_rate, "learning_rate")


def _leaf_flags(mask: Any, params: Any, what: str) -> list[bool]:
    """One Python bool per leaf; element-wise masks are refused (the rules are per matrix)."""
    if isinstance(mask, str):
        _masks.resolve(mask, {})
    flags = jax.tree.leaves(_masks.resolve(mask, params))
    for f in flags:
        if not isinstance(f, bool):
            raise TypeError(
                f"mask: {what} acts on whole leaves (a norm or a singular value per matrix), so "
                "each mask leaf must be a bool, not an element-wise boolean array."
            )
    return flags


def _check_updates(updates: Any, params: Any) -> None:
    if params is None:
        raise ValueError(_NO_PARAMS)
    check_floating(params, "params")
    if len(jax.tree.leaves(updates)) != len(jax.tree.leaves(params)):
        check_same_structure(updates, params, "updates", "params")


def _f32(dtype: Any) -> Any:
    return at_least_float32(jnp.dtype(dtype))


def _sq_norm(x: Any, dt: Any = None) -> jax.Array:
    """``‖x‖²`` (Frobenius) as a scalar of dtype ``dt`` (default: at least float32), in one pass.

    The one place where CPR, weight norm control and spectral decay reduce a leaf. A product
    ``x · x`` fused into one reduction reads ``x`` once; XLA fuses it with the elementwise op
    that makes ``x`` (``W + u``, say) when that op has no other user.
    """
    x = jnp.asarray(x)
    x = x.astype(_f32(x.dtype) if dt is None else dt)
    return jnp.sum(x * x)


def _norm(x: Any, dt: Any = None) -> jax.Array:
    return jnp.sqrt(_sq_norm(x, dt))


def _safe_div(x: Any, d: jax.Array) -> jax.Array:
    """``x / d`` where ``d > 0``, ``x`` unchanged where ``d == 0`` (no NaN, no division by 0)."""
    return x / jnp.where(d > 0, d, jnp.ones_like(d))


def _subtract(u: Any, step: jax.Array, dt: Any) -> jax.Array:
    """``u − step`` computed in ``dt``, returned in ``u``'s dtype (each rule's last op)."""
    return (jnp.asarray(u).astype(dt) - step).astype(jnp.result_type(u))


def _factor(coef: Any, rate: Any, dt: Any) -> jax.Array:
    """``c_t · rate_t`` as a scalar of dtype ``dt``."""
    return jnp.asarray(coef, dt) * jnp.asarray(rate, dt)


# CPR's leaves are taken in groups of at least this many bytes of W' = W + u (float32: 1M
# entries); see _InOrder.
_CPR_GROUP_BYTES = 1 << 22


class _InOrder:
    """Makes each group of leaves' ``W'`` wait for the previous group's ``‖W'‖²``: bounded temps.

    CPR needs ``W' = W + u`` in memory (``‖W'‖²`` comes before the step that reads ``W'`` again),
    one temporary per constrained matrix. Nothing orders the leaves, and XLA:CPU's scheduler
    (concurrency-optimized) computes every leaf's ``W'`` before any reduction, so all of them
    live at once: 40 MB on a 10M-parameter model, one allocation that glibc serves by ``mmap``
    (above its 32 MiB threshold) and unmaps when freed, so each step page-faults it in again
    (9.8k faults per step: the step took 2.1× AdamW's time, not the 1.4× of its bytes). Taking
    the leaves in groups of about :data:`_CPR_GROUP_BYTES`, each after the previous group's
    norms are known, keeps two or three groups' ``W'`` alive (12 MB there, reused without
    faults) at no cost in bytes; the step then takes 1.4× AdamW's CPU time. A single matrix of
    more than about 4M float32 entries still has a temporary above the threshold there.

    The order is a data dependence that changes no value: ``W`` in ``W + u`` is multiplied by
    ``1 + 0·[any previous R < 0]``, exactly 1 (an indicator is 0 or 1, never NaN, and XLA does
    not fold a float product by 0). On ``W``, not on ``W + u``: a product there split XLA:CPU's
    fusion (62 B per parameter, not 56). GPUs and TPUs run the leaves' kernels one after
    another anyway; there too the order only bounds the memory the temporaries take.
    """

    def __init__(self, group_bytes: int) -> None:
        self.group_bytes = group_bytes
        self.done: jax.Array | None = None  # any R < 0 over the groups already closed
        self.group: list[jax.Array] = []
        self.nbytes = 0

    def after(self, x: jax.Array) -> jax.Array:
        """``x``, computed only after the previous groups' reductions."""
        if self.done is None:
            return x
        return x * (1 + self.done.astype(x.dtype) * 0)

    def add(self, reg: jax.Array, nbytes: int) -> None:
        """Records one leaf's ``R``; closes the group once it holds ``group_bytes``."""
        self.group.append(reg < 0)
        self.nbytes += nbytes
        if self.nbytes >= self.group_bytes:
            self.done = functools.reduce(jnp.logical_or, self.group)
            self.group, self.nbytes = [], 0


def _map_flagged(
    fn: Callable[..., tuple[Any, ...]], flags: list[bool], updates: Any, params: Any, *trees: Any
) -> list[Any]:
    """Applies ``fn(u, w, *state_leaves) -> (u_new, *state_leaves_new)`` leaf by leaf.

    Leaves whose flag is False pass through unchanged (update and state alike). Returns one
    tree per output of ``fn``, each with the structure of ``updates``. The rules here are per
    leaf (a norm, a bound or singular vectors per matrix), so each leaf's update is written as
    one function: XLA fuses its elementwise ops with the leaf's reduction.
    """
    u_leaves, treedef = jax.tree.flatten(updates)
    columns = [treedef.flatten_up_to(t) for t in (params, *trees)]
    rows = []
    for u, w, *state, on in zip(u_leaves, *columns, flags, strict=True):
        rows.append(fn(u, w, *state) if on else (u, *state))
    return [jax.tree.unflatten(treedef, list(col)) for col in zip(*rows, strict=True)]


def _adam_then(
    learning_rate: ScalarOrSchedule, adam: tuple, decay: Callable[[], Any]
) -> optax.GradientTransformationExtraArgs:
    """``chain(optax.adam(learning_rate, *adam), decay())``, ``learning_rate`` checked first.

    The shared shape of adamcpr and adamwn; ``adam`` is ``(b1, b2, eps, eps_root, mu_dtype,
    nesterov)``, and ``decay`` builds the second transform (after the Adam one, as before).
    """
    check_rate(learning_rate, "learning_rate", per_leaf=False)
    return optax.chain(_adam(learning_rate, *adam), decay())


# --------------------------------------------------------------------------- CPR


def _check_kappa(kappa: Any, kappa_init: str) -> None:
    if kappa_init in ("uniform", "dependent") and kappa is None:
        what = "the bound on ‖W‖²" if kappa_init == "uniform" else "the factor k in κ = k·‖W₀‖²"
        raise ValueError(f"kappa_init={kappa_init!r} needs kappa ({what}), e.g. kappa=1.0.")
    if kappa is None:
        return
    for path, leaf in jax.tree_util.tree_flatten_with_path(kappa)[0]:
        if is_concrete(leaf):
            arr = np.asarray(leaf)
            if np.isnan(arr).any() or (arr < 0).any():
                raise ValueError(
                    f"kappa{jax.tree_util.keystr(path)} must be a non-negative bound on ‖W‖² "
                    f"(CPR constrains ‖W‖² ≤ κ), got {leaf!r}."
                )


def _check_steps(value: Any, name: str, minimum: int) -> None:
    if value is None or not is_concrete(value):
        return
    arr = np.asarray(value)
    if arr.ndim or arr.dtype.kind not in "iuf" or arr != np.round(arr) or arr < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")


def _check_cpr_args(
    kappa_init: str,
    kappa: Any,
    warm_start_steps: Any,
    mu: Any,
    reg_step_size: Any,
    reg_ema_decay: Any,
) -> None:
    """:func:`cpr`'s argument checks, all raised when the transform is built."""
    check_choice(kappa_init, "kappa_init", KAPPA_INITS)
    _check_kappa(kappa, kappa_init)
    if kappa_init == "warm_start":
        if warm_start_steps is None:
            raise ValueError(
                "kappa_init='warm_start' needs warm_start_steps (the step s at which κ = ‖W_s‖²)."
            )
        _check_steps(warm_start_steps, "warm_start_steps", 1)
    _check_steps(reg_step_size, "reg_step_size", 1)
    if is_concrete(mu):
        check_nonnegative(mu, "mu")
    if is_concrete(reg_ema_decay):
        v = float(np.asarray(reg_ema_decay))
        if not 0.0 <= v < 1.0:
            raise ValueError(f"reg_ema_decay must lie in [0, 1), got {reg_ema_decay!r}.")


def _cpr_initial_bounds(
    kappa_init: str, kappa: Any, params: Any, flags: list[bool], dts: list[Any]
) -> tuple[list[jax.Array], list[jax.Array]]:
    """Each leaf's bound ``κ`` and whether it is set, at ``init`` (see :func:`cpr`)."""
    leaves = jax.tree.leaves(params)
    if kappa_init not in ("uniform", "dependent"):
        return [jnp.zeros([], dt) for dt in dts], [jnp.asarray(False) for _ in leaves]
    if not jax.tree_util.treedef_is_leaf(jax.tree.structure(kappa)):
        k_leaves = jax.tree.leaves(broadcast_prefix(kappa, params, "kappa"))
    else:
        k_leaves = [kappa] * len(leaves)
    k_leaves = [
        jnp.asarray(k if is_concrete(k) else check_nonnegative(k, "kappa"), dt)
        for k, dt in zip(k_leaves, dts, strict=True)
    ]
    if kappa_init == "dependent":
        k_leaves = [k * _sq_norm(w) for k, w in zip(k_leaves, leaves, strict=True)]
    kappas = [k if f else jnp.zeros([], dt) for k, f, dt in zip(k_leaves, flags, dts, strict=True)]
    return kappas, [jnp.asarray(f) for f in flags]


def _cpr_bound(
    t: Any,
    reg: jax.Array,
    k: Any,
    is_set: Any,
    ema: Any,
    prev_reg: Any,
    prev_grad: Any,
    *,
    dt: Any,
    kappa_init: str,
    warm_start_steps: Any,
    reg_step_size: Any,
    reg_ema_decay: Any,
) -> tuple[Any, Any, Any, Any, Any, Any]:
    """One leaf's bound bookkeeping at step ``t`` given ``R = reg``: scalars only.

    Returns ``(κ, active, κ set, e, e_prev, r_prev)``; ``active`` says whether the multiplier
    and the constraint's step apply at this step (see :func:`cpr`'s ``kappa_init``).
    """
    if kappa_init == "inflection_point":
        delta = jnp.asarray(reg_step_size, jnp.int32)
        decay = jnp.asarray(reg_ema_decay, dt)
        sample = jnp.logical_not(is_set) & (t % delta == 0)
        ema_new = jnp.where(sample, decay * ema + (1.0 - decay) * reg, ema)
        rate = ema_new - prev_reg
        found = sample & (t > 3 * delta) & (prev_grad > rate)
        k_new = jnp.where(found, reg, k)
        prev_reg = jnp.where(sample & (t > delta), ema_new, prev_reg)
        prev_grad = jnp.where(sample & (t > 2 * delta), rate, prev_grad)
        return k_new, is_set, is_set | found, ema_new, prev_reg, prev_grad
    if kappa_init == "warm_start":
        s = jnp.asarray(warm_start_steps, jnp.int32)
        k_new = jnp.where(t == s, reg, k)
        return k_new, t > s, is_set | (t >= s), ema, prev_reg, prev_grad
    return k, jnp.asarray(True), is_set, ema, prev_reg, prev_grad


def cpr(
    kappa_init: Literal[
        "uniform", "dependent", "warm_start", "inflection_point"
    ] = "inflection_point",
    kappa: ArrayLike | None = None,
    *,
    warm_start_steps: int | None = None,
    mu: ArrayLike = 1.0,
    learning_rate: ScalarOrSchedule | None = None,
    mask: MaskLike = None,
    reg_step_size: int = 200,
    reg_ema_decay: ArrayLike = 0.9,
) -> optax.GradientTransformationExtraArgs:
    """Constrained parameter regularization (CPR): keep ``‖W‖² ≤ κ`` per matrix, not decay it.

    Placed after a complete optimizer, whose update ``u`` it receives. For each leaf ``W`` (one
    matrix) at step ``t = 1, 2, ...``, with ``W' = W + u`` (the parameters after the optimizer's
    step), ``R = ‖W'‖²`` and ``n`` the number of entries of ``W``:

    - ``λ ← max(0, λ + (mu / n) · (R − κ))`` (the Lagrange multiplier's ascent step),
    - ``u ← u − c_t · λ · ∇R(W') = u − 2 c_t λ W'``, with ``c_t = lr_t`` when ``learning_rate``
      is given and ``c_t = 1`` otherwise (the paper's and the official code's default).

    So a matrix is left alone while it satisfies its bound and is pulled back, ever harder, while
    it exceeds it. How ``κ`` is set (``kappa_init``, the paper's initialisations):

    - ``"uniform"`` (Kappa-K): ``κ = kappa`` for every leaf (a pytree of per-leaf bounds, or a
      prefix of the params, also works);
    - ``"dependent"`` (Kappa-kI₀): ``κ = kappa · ‖W₀‖²`` from the initial parameters;
    - ``"warm_start"`` (Kappa-Iₛ): no regularization for ``s = warm_start_steps`` steps; at step
      ``s``, ``κ = ‖W'_s‖²``; regularized from step ``s + 1`` on;
    - ``"inflection_point"`` (Kappa-I_p, AdaCPR, no hyperparameter): every ``reg_step_size``
      steps ``Δ``, until ``κ`` is set, ``e ← d·e + (1 − d)·R`` (``d = reg_ema_decay``) and
      ``r = e − e_prev``; once ``t > 3Δ`` and the rate ``r`` falls below its previous value (the
      inflection point of ``R`` over training) the bound is set to ``κ = R``; the leaf is
      regularized from the next step on.

    The multiplier step ``mu / n``, the warm-start and inflection-point bookkeeping and the
    order (optimizer step, then the constraint on the updated weights) follow the authors'
    implementation (``pytorch_cpr.AdamCPR``, ``reg_function="l2"``, its single-tensor path). That
    code's multi-tensor path regularizes with a placeholder bound of 1000 before the inflection
    point is found; here a leaf is not regularized before its bound is set.

    Args:
        kappa_init: ``"uniform"``, ``"dependent"``, ``"warm_start"`` or ``"inflection_point"``.
        kappa: the bound (``"uniform"``) or the factor ``k`` (``"dependent"``); a non-negative
            number, array or pytree. Unused by the other two.
        warm_start_steps: ``s`` for ``"warm_start"`` (an integer >= 1).
        mu: the multiplier's step size ``μ`` before the division by ``n`` (default 1, as the
            authors' ``kappa_update``).
        learning_rate: when given (a float or schedule: the optimizer's), the constraint's step
            is multiplied by ``lr_t`` (the authors' ``reg_by_lr=True``).
        mask: which leaves are constrained (None: all; ``"weights"``: matrices, no biases or
            normalization parameters, as the authors' parameter grouping). Whole leaves only.
        reg_step_size: ``Δ`` for ``"inflection_point"``.
        reg_ema_decay: ``d`` for ``"inflection_point"``.

    Returns:
        An ``optax.GradientTransformationExtraArgs`` whose state is :class:`CPRState` (read
        ``state.kappa`` and ``state.lagmul`` to see each matrix's bound and multiplier).

    Raises:
        ValueError: an unknown ``kappa_init``; a negative or NaN ``kappa`` (traced values raise
            at run time); ``kappa`` missing for ``"uniform"``/``"dependent"``;
            ``warm_start_steps`` missing or < 1 for ``"warm_start"``; ``update`` without params.
        TypeError: integer params; an element-wise mask.

    Examples:
        >>> import jax.numpy as jnp, optax, jaxl2
        >>> tx = optax.chain(optax.sgd(0.0), jaxl2.cpr("uniform", kappa=1.0))
        >>> params = {"w": jnp.full((2, 2), 1.0)}  # ‖W‖² = 4 > κ = 1
        >>> state = tx.init(params)
        >>> updates, state = tx.update({"w": jnp.zeros((2, 2))}, state, params)
        >>> state[1].lagmul["w"]  # max(0, 0 + (1/4)·(4 − 1))
        Array(0.75, dtype=float32)
        >>> updates["w"][0, 0]  # −2 · 0.75 · 1
        Array(-1.5, dtype=float32)

    References:
        Franke, Hefenbrock, Koehler & Hutter, "Improving Deep Learning Optimization through
        Constrained Parameter Regularization", NeurIPS 2024 (arXiv 2311.09058), Algorithm 1 and
        Section 4; github.com/automl/CPR.
    """
    _check_cpr_args(kappa_init, kappa, warm_start_steps, mu, reg_step_size, reg_ema_decay)
    coef_at = _coef_at(learning_rate)
    if isinstance(mask, str):
        _masks.resolve(mask, {})

    def init_fn(params: Any) -> CPRState:
        check_floating(params, "params")
        flags = _leaf_flags(mask, params, "cpr")
        leaves, treedef = jax.tree.flatten(params)
        dts = [_f32(jnp.result_type(w)) for w in leaves]
        kappas, is_set = _cpr_initial_bounds(kappa_init, kappa, params, flags, dts)
        # Fresh zeros for each field: shared buffers could not be donated to a jitted step.
        zeros = lambda: jax.tree.unflatten(treedef, [jnp.zeros([], dt) for dt in dts])  # noqa: E731
        return CPRState(
            count=jnp.zeros([], jnp.int32),
            kappa=jax.tree.unflatten(treedef, kappas),
            kappa_set=jax.tree.unflatten(treedef, is_set),
            lagmul=zeros(),
            ema=zeros(),
            prev_reg=zeros(),
            prev_grad=zeros(),
        )

    bound = functools.partial(
        _cpr_bound,
        kappa_init=kappa_init,
        warm_start_steps=warm_start_steps,
        reg_step_size=reg_step_size,
        reg_ema_decay=reg_ema_decay,
    )

    def update_fn(updates: Any, state: CPRState, params: Any = None, **extra_args: Any):
        del extra_args
        _check_updates(updates, params)
        flags = _leaf_flags(mask, params, "cpr")
        t = optax.safe_increment(state.count)
        coef = coef_at(state.count)
        in_order = _InOrder(_CPR_GROUP_BYTES)

        def leaf(u, w, k, is_set, lam, ema, prev_reg, prev_grad):  # noqa: ANN001, ANN202
            dt = _f32(jnp.result_type(w))
            w_new = in_order.after(jnp.asarray(w).astype(dt)) + jnp.asarray(u).astype(dt)
            reg = _sq_norm(w_new)
            in_order.add(reg, w_new.size * w_new.dtype.itemsize)
            k_new, active, is_set, ema, prev_reg, prev_grad = bound(
                t, reg, k, is_set, ema, prev_reg, prev_grad, dt=dt
            )
            mu_n = jnp.asarray(mu, dt) / float(np.prod(jnp.shape(w)))
            lam_new = jnp.where(active, jnp.maximum(lam + mu_n * (reg - k), 0.0), lam)
            # 0 while inactive (λ is 0 before the bound is set, and the step with it)
            scale = jnp.where(active, 2.0 * jnp.asarray(coef, dt) * lam_new, jnp.zeros((), dt))
            # u − scale·W' written as (W' − W) − scale·W': the last op then reads W' and W only,
            # so XLA fuses the inner optimizer's step u into W' instead of writing u to memory
            # too (a 10M-parameter adamcpr step: 3.4× AdamW's before, 2.1× after; 1.4× with
            # _InOrder). W' − W is u up to the rounding of W + u, so W + update is
            # W'·(1 − scale), the authors' in-place arithmetic. W' itself must be in memory:
            # ‖W'‖² is needed before the step (in_order bounds how many leaves' W' are alive at
            # once: see _InOrder).
            # (Recomputing W' from p, m, v inside the reduction instead moves 52 B/param, not
            # 56, and keeps no temporary, but XLA:CPU then runs that reduction as a scalar
            # loop, or with its YNN fusion materializes the scalars' broadcasts: slower.)
            u_new = ((w_new - jnp.asarray(w).astype(dt)) - scale * w_new).astype(jnp.result_type(u))
            return u_new, k_new, is_set, lam_new, ema, prev_reg, prev_grad

        u, *fields = _map_flagged(
            leaf, flags, updates, params, state.kappa, state.kappa_set, state.lagmul,
            state.ema, state.prev_reg, state.prev_grad,
        )  # fmt: skip
        # optax.safe_increment is annotated to return ArrayLike; it returns an Array.
        return u, CPRState(t, *fields)  # pyright: ignore[reportArgumentType]

    # optax types `update` as TransformUpdateFn over OptState; ours takes its own state type.
    return optax.GradientTransformationExtraArgs(init_fn, update_fn)  # pyright: ignore[reportArgumentType]


def adamcpr(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: DTypeLike | None = None,
    *,
    kappa_init: Literal[
        "uniform", "dependent", "warm_start", "inflection_point"
    ] = "inflection_point",
    kappa: ArrayLike | None = None,
    warm_start_steps: int | None = None,
    mu: ArrayLike = 1.0,
    reg_by_lr: bool = False,
    mask: MaskLike = None,
    reg_step_size: int = 200,
    reg_ema_decay: ArrayLike = 0.9,
    nesterov: bool = False,
) -> optax.GradientTransformationExtraArgs:
    """Adam with constrained parameter regularization: ``chain(optax.adam(...), cpr(...))``.

    Update rule: Adam's step ``u = −lr_t · m̂/(√v̂ + eps)``, then per leaf the CPR step of
    :func:`cpr` on ``W' = W + u``: ``λ ← max(0, λ + (mu/n)(‖W'‖² − κ))``,
    ``u ← u − 2 c λ W'`` (``c = lr_t`` if ``reg_by_lr`` else 1). The authors' ``AdamCPR``
    (``reg_function="l2"``, no AMSGrad).

    Args:
        learning_rate, b1, b2, eps, eps_root, mu_dtype, nesterov: as in ``optax.adam``.
        kappa_init, kappa, warm_start_steps, mu, mask, reg_step_size, reg_ema_decay: as in
            :func:`cpr`.
        reg_by_lr: multiply the constraint's step by the learning rate.

    Returns:
        An ``optax.GradientTransformationExtraArgs`` (``optax.chain``; ``state[1]`` is the
        :class:`CPRState`).

    Examples:
        >>> import jax.numpy as jnp, jaxl2
        >>> tx = jaxl2.adamcpr(0.1, kappa_init="uniform", kappa=1.0)
        >>> params = jnp.full((2, 2), 1.0)
        >>> updates, state = tx.update(jnp.ones((2, 2)), tx.init(params), params)
        >>> updates[0, 0]  # W' = 0.9: λ = (4·0.81 − 1)/4 = 0.56; −0.1 − 2·0.56·0.9
        Array(-1.108, dtype=float32)

    References:
        Franke et al., arXiv 2311.09058 (AdamCPR); github.com/automl/CPR.
    """
    return _adam_then(
        learning_rate,
        (b1, b2, eps, eps_root, mu_dtype, nesterov),
        lambda: cpr(
            kappa_init,
            kappa,
            warm_start_steps=warm_start_steps,
            mu=mu,
            learning_rate=learning_rate if reg_by_lr else None,
            mask=mask,
            reg_step_size=reg_step_size,
            reg_ema_decay=reg_ema_decay,
        ),
    )


# --------------------------------------------------------------------------- AdamWN


def weight_norm_control(
    rate: ScalarOrSchedule,
    target_norm: ScalarOrSchedule = 0.0,
    *,
    learning_rate: ScalarOrSchedule | None = None,
    mask: MaskLike = None,
    relative: bool = False,
    per: Literal["leaf", "global"] = "leaf",
) -> optax.GradientTransformationExtraArgs:
    """Weight norm control: decay each matrix toward a target norm instead of toward zero.

    Placed after a complete optimizer. For each leaf ``W`` with ``‖W‖`` its Frobenius norm
    (before the step, as AdamW decays ``w_{t−1}``) and ``r_t`` the target norm:

        ``u ← u − c_t · rate_t · (1 − r_t / ‖W‖) · W``,  ``c_t = lr_t`` (or 1 without
        ``learning_rate``),

    which moves the norm of ``W`` by ``c_t · rate_t · (r_t − ‖W‖)`` toward ``r_t`` along ``W``'s
    own direction: ``‖W − c λ (1 − r/‖W‖) W‖ = ‖W‖ − c λ (‖W‖ − r)``. With ``r = 0`` it is
    decoupled weight decay: ``chain(optax.adam(lr), weight_norm_control(λ, 0.0,
    learning_rate=lr))`` is AdamW (Loshchilov's AdamWN with target 0). A zero matrix is decayed
    as by AdamW (its direction is undefined).

    Args:
        rate: ``λ``: a non-negative float, array (traced is fine) or schedule.
        target_norm: ``r``: a non-negative float, array or schedule (a schedule lets the target
            follow training, as the paper suggests).
        learning_rate: the optimizer's learning rate (float or schedule); when given the decay
            is multiplied by ``lr_t`` (AdamW's convention).
        mask: which leaves are controlled (None: all; ``"weights"``). Whole leaves only.
        relative: if True the target of each leaf is ``target_norm · ‖W₀‖``, a multiple of its
            norm at ``init`` (stored in the state).
        per: ``"leaf"`` (each matrix has its own norm and target) or ``"global"`` (one norm
            ``‖W‖ = √(Σ ‖W_leaf‖²)`` over all controlled leaves, moved toward one target, the
            whole network's weight norm; with ``relative`` the target is a multiple of the
            initial global norm). Both equal AdamW at target 0.

    Returns:
        An ``optax.GradientTransformationExtraArgs`` whose state is
        :class:`WeightNormControlState`.

    Raises:
        ValueError: negative or NaN ``rate``, ``target_norm`` or ``learning_rate``; ``update``
            without params.
        TypeError: integer params; an element-wise mask.

    Examples:
        >>> import jax.numpy as jnp, optax, jaxl2
        >>> tx = jaxl2.weight_norm_control(0.5, target_norm=1.0)
        >>> params = jnp.array([3.0, 4.0])  # ‖W‖ = 5
        >>> updates, _ = tx.update(jnp.zeros(2), tx.init(params), params)
        >>> updates  # −0.5 · (1 − 1/5) · W: the norm moves from 5 to 5 − 0.5·(5 − 1) = 3
        Array([-1.2, -1.6], dtype=float32)

    References:
        Loshchilov, "Weight Norm Control", arXiv 2311.11446 (2023) (AdamWN; AdamW is its
        target-zero case).
    """
    check_choice(per, "per", ("leaf", "global"))
    rate_at = _value_at(rate, "rate")
    target_at = _value_at(target_norm, "target_norm")
    coef_at = _coef_at(learning_rate)
    if isinstance(mask, str):
        _masks.resolve(mask, {})

    def init_fn(params: Any) -> WeightNormControlState:
        check_floating(params, "params")
        norms = jax.tree.map(
            lambda w: _norm(w) if relative else jnp.zeros([], _f32(w.dtype)), params
        )
        return WeightNormControlState(count=jnp.zeros([], jnp.int32), initial_norm=norms)

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        _check_updates(updates, params)
        flags = _leaf_flags(mask, params, "weight_norm_control")
        coef, rate_t, target = coef_at(state.count), rate_at(state.count), target_at(state.count)
        g_norm = g_n0 = None
        if per == "global":
            on_w = [w for w, f in zip(jax.tree.leaves(params), flags, strict=True) if f]
            on_n0 = [
                n for n, f in zip(jax.tree.leaves(state.initial_norm), flags, strict=True) if f
            ]
            gdt = widest_float([_f32(jnp.result_type(w)) for w in on_w] or [jnp.float32])
            g_norm = jnp.sqrt(sum((_sq_norm(w, gdt) for w in on_w), jnp.zeros([], gdt)))
            g_n0 = jnp.sqrt(sum((jnp.square(n.astype(gdt)) for n in on_n0), jnp.zeros([], gdt)))

        def leaf(u, w, n0):  # noqa: ANN001, ANN202
            n0_in, dt = n0, _f32(jnp.result_type(w))
            wf = jnp.asarray(w).astype(dt)
            if per == "global":
                assert g_norm is not None and g_n0 is not None  # set above for per="global"
                norm, n0 = g_norm.astype(dt), g_n0.astype(dt)
            else:
                norm = _norm(wf)
            r = jnp.asarray(target, dt) * n0 if relative else jnp.asarray(target, dt)
            ratio = jnp.where(norm > 0, _safe_div(r, norm), 0)
            return _subtract(u, (_factor(coef, rate_t, dt) * (1 - ratio)) * wf, dt), n0_in

        out, _ = _map_flagged(leaf, flags, updates, params, state.initial_norm)
        new_state = WeightNormControlState(
            # optax.safe_increment is annotated to return ArrayLike; it returns an Array.
            count=optax.safe_increment(state.count),  # pyright: ignore[reportArgumentType]
            initial_norm=state.initial_norm,
        )
        return out, new_state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def adamwn(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: DTypeLike | None = None,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: MaskLike = None,
    *,
    nesterov: bool = False,
    target_norm: ScalarOrSchedule = 0.0,
    relative: bool = False,
    per: Literal["leaf", "global"] = "leaf",
) -> optax.GradientTransformationExtraArgs:
    """AdamWN: Adam with weight norm control (``optax.adamw``'s parameters, in its order).

    Update rule, per leaf ``W``: ``u = −lr_t · (m̂/(√v̂ + eps) + weight_decay · (1 − r_t/‖W‖) · W)``
    with ``r_t = target_norm`` (times ``‖W₀‖`` if ``relative``): ``chain(optax.adam(...),
    weight_norm_control(weight_decay, target_norm, learning_rate=learning_rate))``. With
    ``target_norm=0`` it equals ``optax.adamw`` (up to floating-point rounding).

    Args:
        learning_rate, b1, b2, eps, eps_root, mu_dtype, nesterov: as in ``optax.adamw``.
        weight_decay: ``λ`` (float, array or schedule).
        mask: which leaves are controlled (see :func:`weight_norm_control`).
        target_norm: ``r`` (float, array or schedule).
        relative: targets relative to each leaf's initial norm.
        per: ``"leaf"`` or ``"global"`` (see :func:`weight_norm_control`).

    Returns:
        An ``optax.GradientTransformationExtraArgs`` (an ``optax.chain``).

    Examples:
        >>> import jax.numpy as jnp, jaxl2
        >>> tx = jaxl2.adamwn(0.1, weight_decay=0.5, target_norm=1.0)
        >>> params = jnp.array([3.0, 4.0])
        >>> updates, _ = tx.update(jnp.zeros(2), tx.init(params), params)
        >>> updates.round(4)  # Adam's step is 0 for a zero gradient; −0.1 · 0.5 · (1 − 1/5) · W
        Array([-0.12, -0.16], dtype=float32)

    References:
        Loshchilov, "Weight Norm Control", arXiv 2311.11446 (2023).
    """
    return _adam_then(
        learning_rate,
        (b1, b2, eps, eps_root, mu_dtype, nesterov),
        lambda: weight_norm_control(
            weight_decay,
            target_norm,
            learning_rate=learning_rate,
            mask=mask,
            relative=relative,
            per=per,
        ),
    )


# --------------------------------------------------------------------------- spectral decay


def _as_matrix(w: jax.Array) -> jax.Array:
    return jnp.reshape(w, (-1, jnp.shape(w)[-1]))


def _spectral_leaves(params: Any, mask: Any) -> list[bool]:
    flags = _leaf_flags(mask, params, "spectral_decay")
    return [f and jnp.ndim(w) >= 2 for f, w in zip(flags, jax.tree.leaves(params), strict=True)]


def spectral_decay(
    rate: ScalarOrSchedule,
    *,
    learning_rate: ScalarOrSchedule | None = None,
    mask: MaskLike = None,
    seed: int = 0,
) -> optax.GradientTransformationExtraArgs:
    """Spectral weight decay: shrink each matrix's largest singular value, not all its entries.

    Placed after a complete optimizer (``optax.contrib.muon``, for example). The penalty is
    ``½ rate · ‖W‖₂²`` (the squared spectral norm), whose gradient is ``σ₁ u₁ v₁ᵀ``:

        ``u ← u − c_t · rate_t · σ₁ u₁ v₁ᵀ``,  ``c_t = lr_t`` (or 1 without ``learning_rate``).

    ``σ₁, u₁, v₁`` come from power iteration carried in the state, one iteration per step from
    the previous step's vector (a warm start): ``x = W v``, ``u₁ = x/‖x‖``, ``y = Wᵀ u₁``,
    ``σ₁ = ‖y‖``, ``v ← y/σ₁``; so ``σ₁ u₁ v₁ᵀ = u₁ yᵀ``. As the weights change slowly, the
    estimate tracks the top singular triple (two matrix-vector products per matrix per step).

    Leaves with three or more dimensions are treated as the matrix ``W.reshape(-1, W.shape[-1])``
    (a convolution kernel ``(h, w, c_in, c_out)`` as ``(h·w·c_in) × c_out``, as Muon does).
    **Leaves with fewer than two dimensions (biases, norm scales, scalars) are skipped**: their
    updates pass through unchanged, and their state vector has shape ``(0,)``;
    :func:`describe_spectral_decay` lists which leaves are decayed and which are skipped.

    Args:
        rate: ``λ``: a non-negative float, array (traced is fine) or schedule.
        learning_rate: the optimizer's learning rate (float or schedule); when given the decay
            is multiplied by ``lr_t`` (AdamW's convention).
        mask: which leaves are decayed (None: every leaf with two or more dimensions;
            ``"weights"``). Whole leaves only.
        seed: seeds the random starting vectors of the power iteration.

    Returns:
        An ``optax.GradientTransformationExtraArgs`` whose state is :class:`SpectralDecayState`
        (``state.sigma`` holds each matrix's ``σ₁`` estimate).

    Raises:
        ValueError: a negative or NaN ``rate`` or ``learning_rate``; ``update`` without params.
        TypeError: integer params; an element-wise mask.

    Examples:
        >>> import jax, jax.numpy as jnp, optax, jaxl2
        >>> tx = optax.chain(optax.contrib.muon(0.0), jaxl2.spectral_decay(0.5))
        >>> params = {"w": jnp.diag(jnp.array([3.0, 1.0])), "b": jnp.zeros(2)}
        >>> state = tx.init(params)
        >>> step, zeros = jax.jit(tx.update), jax.tree.map(jnp.zeros_like, params)
        >>> for _ in range(10):  # zero gradients: only the decay
        ...     updates, state = step(zeros, state, params)
        >>> round(float(state[1].sigma["w"]), 4)  # σ₁ found by the power iteration
        3.0
        >>> updates["w"].round(4).tolist()  # −0.5 · σ₁ u₁ v₁ᵀ = −0.5 · 3 · e₁e₁ᵀ
        [[-1.5, -0.0], [-0.0, -0.0]]
        >>> bool((updates["b"] == 0).all())  # the bias (1-D) is skipped
        True

    References:
        Spectral norm regularization: Yoshida & Miyato, arXiv 1705.10941 (2017), which also
        uses one power iteration per step. The combination with Muon: Liu et al., "Muon is
        Scalable for LLM Training", arXiv 2502.16982 (decoupled decay with Muon).
    """
    rate_at = _value_at(rate, "rate")
    coef_at = _coef_at(learning_rate)
    if isinstance(mask, str):
        _masks.resolve(mask, {})

    def init_fn(params: Any) -> SpectralDecayState:
        check_floating(params, "params")
        on = _spectral_leaves(params, mask)
        leaves, treedef = jax.tree.flatten(params)
        vs, sigmas = [], []
        for i, (w, f) in enumerate(zip(leaves, on, strict=True)):
            dt = _f32(jnp.result_type(w))
            if not f:
                vs.append(jnp.zeros((0,), dt))
            else:
                v = jax.random.normal(jax.random.fold_in(jax.random.key(seed), i), (w.shape[-1],))
                vs.append((v / jnp.linalg.norm(v)).astype(dt))
            sigmas.append(jnp.zeros([], dt))
        return SpectralDecayState(
            count=jnp.zeros([], jnp.int32),
            v=jax.tree.unflatten(treedef, vs),
            sigma=jax.tree.unflatten(treedef, sigmas),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        _check_updates(updates, params)
        coef, rate_t = coef_at(state.count), rate_at(state.count)

        def leaf(u, w, v, s):  # noqa: ANN001, ANN202
            del s
            dt = _f32(jnp.result_type(w))
            m = _as_matrix(jnp.asarray(w).astype(dt))
            # one power iteration from the carried v: x = W v, u₁ = x/‖x‖, y = Wᵀ u₁ = u₁ᵀ W
            # (written as a vector-matrix product, which XLA:CPU runs as a BLAS call instead
            # of a strided reduction over the transpose), σ₁ = ‖y‖
            x = jnp.dot(m, v, precision=_HIGHEST)
            u1 = _safe_div(x, _norm(x))
            y = jnp.dot(u1, m, precision=_HIGHEST)
            sigma = _norm(y)
            v_new = jnp.where(sigma > 0, _safe_div(y, sigma), v)
            grad = jnp.outer(u1, y).reshape(jnp.shape(w))  # σ₁ u₁ v₁ᵀ
            return _subtract(u, _factor(coef, rate_t, dt) * grad, dt), v_new, sigma

        out, vs, sigmas = _map_flagged(
            leaf, _spectral_leaves(params, mask), updates, params, state.v, state.sigma
        )
        count = optax.safe_increment(state.count)
        # optax.safe_increment is annotated to return ArrayLike; it returns an Array.
        return out, SpectralDecayState(count, vs, sigmas)  # pyright: ignore[reportArgumentType]

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def describe_spectral_decay(params: Params, mask: MaskLike = None) -> str:
    """Which leaves :func:`spectral_decay` decays, as which matrix, and which it skips.

    One row per leaf: path, shape, and ``m×n`` (the matrix whose ``σ₁`` is decayed),
    ``skipped (fewer than 2 dims)`` or ``no (mask)``; then the count of decayed leaves.

    Args:
        params: a params pytree.
        mask: the ``mask`` given to :func:`spectral_decay`.

    Returns:
        The table, as a string (print it).

    Examples:
        >>> import jax.numpy as jnp, jaxl2
        >>> params = {"conv": jnp.ones((3, 3, 2, 4)), "bias": jnp.zeros(4)}
        >>> print(jaxl2.describe_spectral_decay(params))
        path  shape         spectral decay
        bias  (4,)          skipped (fewer than 2 dims)
        conv  (3, 3, 2, 4)  18×4
        decayed: 1 of 2 leaves
    """
    flags = _leaf_flags(mask, params, "spectral_decay")
    rows = []
    n_on = 0
    for (path, leaf), f in zip(jax.tree_util.tree_flatten_with_path(params)[0], flags, strict=True):
        shape = tuple(jnp.shape(leaf))
        if not f:
            label = "no (mask)"
        elif len(shape) < 2:
            label = "skipped (fewer than 2 dims)"
        else:
            label = f"{int(np.prod(shape[:-1]))}×{shape[-1]}"
            n_on += 1
        rows.append((_masks.path_to_str(path) or "(root)", str(shape), label))
    header = ("path", "shape", "spectral decay")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    ]
    lines.append(f"decayed: {n_on} of {len(rows)} leaves")
    return "\n".join(lines)


__all__ = [
    "cpr",
    "adamcpr",
    "CPRState",
    "weight_norm_control",
    "adamwn",
    "WeightNormControlState",
    "spectral_decay",
    "SpectralDecayState",
    "describe_spectral_decay",
]
