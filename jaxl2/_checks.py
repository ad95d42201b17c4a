"""Argument checks: the one place where every solver, estimator and transform checks its input.

Each mistake has one behaviour and one wording, wherever it is made:

* a type that cannot be meant (a float for a count, a string for a rate) is a ``TypeError``;
* a value of the right type outside its range is a ``ValueError``;
* both name the argument and show the value it got.

Problems of structure (shapes, trees, dtypes, unknown strings) are raised at trace time as
``ValueError``/``TypeError`` naming the argument. Problems of value (a negative or NaN lambda,
NaN data) are raised at once when the value is concrete; when it is traced (inside ``jit`` or
``vmap``) they go through :func:`equinox.error_if`, which raises at run time with the same
message. Set ``EQX_ON_ERROR=nan`` to turn such run-time errors into NaNs instead. The sweeps
(``jaxl2.sweep``, ``train_sweep``, ``SweepTrainer``) trace under :func:`callback_free_checks`:
there a failed check gives NaN in that member and the other members go on.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, overload

import equinox as eqx
import jax
import jax.core  # jax.core.Tracer: the submodule is not an attribute of jax in its stubs
import jax.numpy as jnp
import numpy as np
from jax.experimental import sparse as jsparse

if TYPE_CHECKING:
    from jax.typing import ArrayLike, DTypeLike

_CALLBACK_FREE = contextvars.ContextVar("jaxl2_callback_free_checks", default=False)
_CHECK_MESSAGES: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "jaxl2_check_messages", default=None
)


@contextlib.contextmanager
def callback_free_checks(messages: list[str] | None = None) -> Iterator[None]:
    """Within this context, checks of traced values add no host callback to the program: a
    failed check turns the checked value into NaN (as ``EQX_ON_ERROR=nan``) instead of raising.

    The sweeps trace their programs in it, after checking on the host what can be checked
    there (each member's hyperparameters): JAX's persistent compilation cache does not store
    programs with host callbacks, and a member whose check fails is marked non-finite while
    the others go on. ``messages``, when given, receives the message of every check traced
    in the context (once each), so that a caller can say which checks may have failed; without
    it, an enclosing context's list receives them.
    """
    token = _CALLBACK_FREE.set(True)
    sink = _CHECK_MESSAGES.set(_CHECK_MESSAGES.get() if messages is None else messages)
    try:
        yield
    finally:
        _CHECK_MESSAGES.reset(sink)
        _CALLBACK_FREE.reset(token)


def traced_callback_free(fn: Callable) -> Callable:
    """``fn`` traced (or run) inside :func:`callback_free_checks`."""

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with callback_free_checks():
            return fn(*args, **kwargs)

    return wrapped


def error_if(x: Any, pred: Any, msg: str) -> Any:
    """:func:`equinox.error_if`, or under :func:`callback_free_checks` ``x`` with NaN where
    ``pred`` holds anywhere (integer arrays are returned as they are)."""
    if not _CALLBACK_FREE.get():
        return eqx.error_if(x, pred, msg)
    messages = _CHECK_MESSAGES.get()
    if messages is not None and msg not in messages:
        messages.append(msg)
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.inexact):
        return x
    return jnp.where(jnp.any(pred), jnp.asarray(jnp.nan, x.dtype), x)


def is_concrete(x: Any) -> bool:
    """True when ``x`` holds a value now (not a tracer inside jit/vmap/grad)."""
    return not any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(x))


def _where(index: tuple[int, ...]) -> str:
    # pyright narrows `index` to tuple[()] in the inner branch, not seeing `index == ()` above.
    return "" if index == () else f" at index {index if len(index) > 1 else index[0]}"  # pyright: ignore[reportGeneralTypeIssues]


def _is_real(value: Any) -> bool:
    """Whether a concrete value is a real number or array (floats or integers, not bools)."""
    try:
        return np.asarray(value).dtype.kind in "fiu"
    except (TypeError, ValueError):
        return False


def check_real(value: Any, name: str) -> None:
    """Raises ``TypeError`` naming ``name`` when a concrete value is not a real number/array."""
    if value is None:
        raise TypeError(f"{name} must be a real number or array, got None.")
    if is_concrete(value) and not _is_real(value):
        raise TypeError(f"{name} must be a real number or array, got {value!r}.")


def check_scalar(value: Any, name: str, alternative: str = "") -> None:
    """Raises ``ValueError`` naming ``name`` when ``value`` is not a scalar (vmap for several;
    ``alternative`` names another way, e.g. ``" or use jaxl2.logistic_path"``)."""
    if np.ndim(value) != 0:
        raise ValueError(
            f"{name} must be a scalar, got shape {np.shape(value)}; for several values, "
            f"jax.vmap over {name}{alternative}."
        )


def check_transformation(tx: Any, what: str, example: str) -> None:
    """Raises ``TypeError`` unless ``tx`` has optax's ``init`` and ``update``.

    ``what`` starts the message (``"inner must be"``), ``example`` shows a valid value.
    """
    if not (callable(getattr(tx, "init", None)) and callable(getattr(tx, "update", None))):
        raise TypeError(
            f"{what} an optax.GradientTransformation, e.g. {example}; got {tx!r} "
            f"({type(tx).__name__})."
        )


def check_nonnegative(value: Any, name: str, *, allow_inf: bool = True) -> Any:
    """Checks that a scalar or array is >= 0 and not NaN; returns it (use the return value).

    Concrete values raise ``ValueError`` now, naming ``name``, the value and, for arrays, the
    index of the first offending entry. Traced values are checked at run time.
    """
    if value is None:
        raise ValueError(f"{name} must be a non-negative number, got None.")
    if is_concrete(value):
        check_real(value, name)
        arr = np.asarray(value)
        bad = np.isnan(arr) | (arr < 0)
        if not allow_inf:
            bad |= np.isinf(arr)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0]) if arr.ndim else ()
            raise ValueError(
                f"{name} must be non-negative and "
                + ("not NaN" if allow_inf else "finite")
                + f", got {arr[idx].item()!r}{_where(idx)}"
                + (f" (in {name}={value!r})" if arr.ndim else "")
                + "."
            )
        return value
    arr = jnp.asarray(value)
    bad = jnp.isnan(arr) | (arr < 0)
    if not allow_inf:
        bad = bad | jnp.isinf(arr)
    return error_if(
        arr, bad, f"{name} must be non-negative and not NaN (a traced value was negative or NaN)."
    )


def check_finite(x: Any, name: str) -> Any:
    """Checks that an array holds no NaN or Inf; returns it (use the return value).

    A concrete JAX array is first tested by one reduction on its own device (no copy to the
    host); only when that fails is it searched for the first bad entry, to name it.
    """
    if is_concrete(x):
        if isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jnp.inexact):
            # run now even inside a trace: an array closed over by a jitted function (gamma in
            # jit(vmap(lambda X, y: tikhonov(X, y, 1.0, gamma)))) would give a traced bool
            with jax.ensure_compile_time_eval():
                finite = bool(_all_finite(x))
            if finite:
                return x
        arr = np.asarray(x)
        if np.issubdtype(arr.dtype, np.inexact):
            bad = ~np.isfinite(arr)
            if bad.any():
                idx = tuple(int(i) for i in np.argwhere(bad)[0])
                raise ValueError(
                    f"{name} must be finite, but {name}[{', '.join(map(str, idx))}] = "
                    f"{arr[idx].item()!r} ({int(bad.sum())} non-finite entries in all)."
                )
        return x
    arr = jnp.asarray(x)
    if not jnp.issubdtype(arr.dtype, jnp.inexact):
        return arr
    return error_if(
        arr, ~jnp.isfinite(arr), f"{name} must be finite (a traced value held NaN or Inf)."
    )


@jax.jit
def _all_finite(x: jax.Array) -> jax.Array:
    # x·0 is 0 for finite entries and NaN otherwise, so one sum answers without overflow; it
    # avoids the n × p boolean temporary that all(isfinite(x)) allocates on XLA:CPU.
    return jnp.isfinite(jnp.sum(x * 0))


def check_in_range(value: Any, name: str, low: float, high: float) -> Any:
    """Checks ``low <= value <= high`` (and not NaN); returns it (use the return value)."""
    if value is None:
        raise ValueError(f"{name} must be a number in [{low}, {high}], got None.")
    if is_concrete(value):
        arr = np.asarray(value)
        if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise TypeError(f"{name} must be a number in [{low}, {high}], got {value!r}.")
        bad = np.isnan(arr) | (arr < low) | (arr > high)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0]) if arr.ndim else ()
            raise ValueError(
                f"{name} must lie in [{low}, {high}], got {arr[idx].item()!r}{_where(idx)}."
            )
        return value
    arr = jnp.asarray(value)
    bad = jnp.isnan(arr) | (arr < low) | (arr > high)
    return error_if(arr, bad, f"{name} must lie in [{low}, {high}] (a traced value did not).")


def check_choice(value: Any, name: str, choices: Iterable[str]) -> str:
    """Checks that ``value`` is one of ``choices``; returns it."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}.")
    return value


def first_leaf_not(kind: Any, tree: Any, flags: Iterable[Any] | None = None) -> Any:
    """``(where, dtype)`` of the first leaf of ``tree`` whose dtype is not a ``kind``
    (``jnp.floating``, ``jnp.inexact``), skipping leaves whose flag is ``False``; else None."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    flags = [True] * len(leaves) if flags is None else list(flags)
    for (path, leaf), flag in zip(leaves, flags, strict=True):
        dtype = jnp.result_type(leaf)
        if flag is not False and not jnp.issubdtype(dtype, kind):
            return jax.tree_util.keystr(path) or "(the array itself)", dtype
    return None


def check_floating(x: Any, name: str) -> None:
    """Raises ``TypeError`` naming ``name`` when a leaf of ``x`` is not floating point."""
    bad = first_leaf_not(jnp.floating, x)
    if bad is not None:
        raise TypeError(
            f"{name} must have floating-point leaves, but leaf {bad[0]} has dtype {bad[1]}. "
            f"Cast it first, e.g. jax.tree.map(lambda x: x.astype(jnp.float32), {name})."
        )


def check_same_structure(tree: Any, reference: Any, name: str, reference_name: str) -> None:
    """Raises ``ValueError`` naming ``name`` when two trees differ in structure or shapes."""
    t1, t2 = jax.tree.structure(tree), jax.tree.structure(reference)
    if t1 != t2:
        raise ValueError(
            f"{name} must have the same tree structure as {reference_name}.\n"
            f"  {name} structure:   {t1}\n  {reference_name} structure: {t2}"
        )
    for (path, a), b in zip(
        jax.tree_util.tree_flatten_with_path(tree)[0], jax.tree.leaves(reference), strict=True
    ):
        if jnp.shape(a) != jnp.shape(b):
            raise ValueError(
                f"{name} must have the same leaf shapes as {reference_name}, but at "
                f"{jax.tree_util.keystr(path)} {name} has shape {jnp.shape(a)} and "
                f"{reference_name} has shape {jnp.shape(b)}."
            )


def at_least_float32(dtype: Any) -> Any:
    """``dtype`` if it is a float of 32 bits or more, else float32 (for bf16/f16 accumulation).

    Written without ``jnp.promote_types``, which refuses bf16 with float32 under strict promotion.
    """
    dtype = jnp.dtype(dtype)
    return dtype if jnp.finfo(dtype).bits >= 32 else jnp.dtype(jnp.float32)


def widest_float(dtypes: Iterable[Any]) -> Any:
    """The widest of several floating dtypes (ties keep the first), without promotion rules."""
    return max((jnp.dtype(d) for d in dtypes), key=lambda d: jnp.finfo(d).bits)


def broadcast_prefix(tree: Any, params: Any, name: str) -> Any:
    """Broadcasts ``tree`` (the structure of ``params`` or a prefix of it) to ``params``' structure.

    Raises ``ValueError`` naming ``name`` and showing both structures when it is not a prefix.
    """
    try:
        return jax.tree.map(lambda t, sub: jax.tree.map(lambda _: t, sub), tree, params)
    except ValueError:
        raise ValueError(
            f"{name} does not match the structure of params (it must equal it or be a prefix "
            f"of it).\n  {name} structure:   {jax.tree.structure(tree)}\n"
            f"  params structure: {jax.tree.structure(params)}"
        ) from None


# ----------------------------------------------------------------------------- numbers


@overload
def check_int(
    value: Any,
    name: str,
    minimum: int | None = 1,
    *,
    allow_none: Literal[False] = False,
    hint: str = "",
) -> int: ...


@overload
def check_int(
    value: Any, name: str, minimum: int | None = 1, *, allow_none: Literal[True], hint: str = ""
) -> int | None: ...


def check_int(
    value: Any, name: str, minimum: int | None = 1, *, allow_none: bool = False, hint: str = ""
) -> int | None:
    """An integer ``>= minimum`` (a Python or numpy int, not a bool); returns it as ``int``.

    A value of another type raises ``TypeError``, a value below ``minimum`` ``ValueError`` (as
    scikit-learn's ``check_scalar`` does); both name ``name`` and show the value. ``minimum=None``
    checks the type only; ``allow_none`` lets ``None`` through; ``hint`` is added after the rule.
    """
    if value is None and allow_none:
        return None
    if minimum is None:
        what = "an integer"
    elif minimum == 1:
        what = "a positive integer"
    elif minimum == 0:
        what = "a non-negative integer"
    else:
        what = f"an integer >= {minimum}"
    what += (" or None" if allow_none else "") + hint
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be {what}, got {value!r}.")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be {what}, got {value!r}.")
    return int(value)


def check_tol(tol: Any, name: str = "tol") -> float | jax.Array:
    """A stopping tolerance: a real scalar, finite and ``>= 0``; returns it (a concrete value as
    given, a Python or numpy real scalar; a traced one as a JAX array).

    A concrete value that is not a real scalar raises ``TypeError``; a negative, NaN or infinite
    one ``ValueError``. A traced value is checked at run time.
    """
    if is_concrete(tol):
        if isinstance(tol, bool) or np.ndim(tol) != 0 or not _is_real(tol):
            raise TypeError(f"{name} must be a non-negative number, got {tol!r}.")
        if not (np.isfinite(tol) and tol >= 0):
            raise ValueError(f"{name} must be a non-negative number, got {tol!r}.")
        return tol
    return check_nonnegative(tol, name, allow_inf=False)


# ----------------------------------------------------------------------------- data


def leading_length(data: Any, name: str) -> int:
    """The common leading (example) length of a pytree of arrays; ``ValueError`` naming every
    leaf's length when they differ or one is a scalar."""
    leaves = jax.tree.leaves(data)
    if not leaves:
        raise ValueError(f"{name} is empty: give an array or a pytree of arrays, e.g. (X, y).")
    first = {np.shape(x)[0] if np.ndim(x) else None for x in leaves}
    if len(first) == 1:  # the common case, checked cheaply every step
        (length,) = first
        if length == 0:  # a mean over no examples is NaN: every member would look diverged
            raise ValueError(f"{name} has no examples (its leading axis has length 0).")
        if length is not None:
            return length
    lengths = {
        f"{name}{jax.tree_util.keystr(p)}": np.shape(x)[0] if np.ndim(x) else None
        for p, x in jax.tree_util.tree_flatten_with_path(data)[0]
    }
    listing = ", ".join(f"{k}: {v}" for k, v in lengths.items())
    raise ValueError(
        f"{name} must be a pytree of arrays sharing their leading (example) axis, got {listing}."
    )


def host_array(x: Any) -> Any:
    """A concrete input as a numpy array (no eager JAX op, so nothing compiles per shape before
    the one jitted solver); a traced input as it is."""
    if is_concrete(x) and not isinstance(x, np.ndarray):
        return np.asarray(x)
    return x


def default_float() -> Any:
    """float64 when jax x64 is on, else float32."""
    return jax.dtypes.canonicalize_dtype(jnp.float64)


# Half-precision inputs are solved in float32 (LAPACK has no half-precision kernels) and the
# results cast back, so the caller's dtype is preserved.
_HALF = (jnp.float16, jnp.bfloat16)


def float_dtypes(*arrays: Any) -> tuple[Any, Any]:
    """(compute dtype, output dtype): the first floating input's dtype, else the default."""
    for a in arrays:
        if a is not None and jnp.issubdtype(jnp.result_type(a), jnp.floating):
            out = jnp.result_type(a)
            break
    else:
        out = default_float()
    compute = jnp.dtype(jnp.float32) if out in _HALF else out
    return compute, out


@overload
def check_design(
    X: jsparse.BCOO,
    name: str = "X",
    *,
    floating: bool = False,
    host: bool = False,
    finite: bool = False,
) -> jsparse.BCOO: ...


@overload
def check_design(
    X: ArrayLike,
    name: str = "X",
    *,
    floating: bool = False,
    host: Literal[False] = False,
    finite: bool = False,
) -> jax.Array: ...


@overload
def check_design(
    X: ArrayLike,
    name: str = "X",
    *,
    floating: bool = False,
    host: Literal[True],
    finite: bool = False,
) -> np.ndarray | jax.Array: ...


def check_design(
    X: Any, name: str = "X", *, floating: bool = False, host: bool = False, finite: bool = False
) -> jsparse.BCOO | np.ndarray | jax.Array:
    """A 2-D design matrix ``(n_samples, n_features)`` with at least one of each; returned.

    ``floating=True`` refuses an integer matrix (``TypeError``) instead of leaving the cast to
    the caller; ``host=True`` keeps a concrete input on the host (see :func:`host_array`), else it
    becomes a JAX array; ``finite=True`` checks its values with :func:`check_finite` (the ridge
    solvers do that in :func:`check_xy`, after the cast). A ``jax.experimental.sparse.BCOO``
    matrix is returned as it is (its stored values checked): the solvers use only products.
    """
    if isinstance(X, jsparse.BCOO):
        if floating and not jnp.issubdtype(X.dtype, jnp.floating):
            raise TypeError(f"{name} must be a floating-point matrix, got dtype {X.dtype}.")
        if X.ndim != 2 or X.n_batch != 0 or X.n_dense != 0:
            raise ValueError(
                f"{name} must be a 2-D BCOO matrix without batch or dense dimensions, got "
                f"shape {X.shape} (n_batch={X.n_batch}, n_dense={X.n_dense})."
            )
        if finite:
            # Inside jit the check is an error_if on the returned data: keep that data, or the
            # check is dead code and NaN passes (a sparse ridge then returned zeros).
            data = check_finite(X.data, f"{name}.data")
            if data is not X.data:
                X = jsparse.BCOO(
                    (data, X.indices),
                    shape=X.shape,
                    indices_sorted=X.indices_sorted,
                    unique_indices=X.unique_indices,
                )
        return X
    X = host_array(X) if host else jnp.asarray(X)
    if floating and not jnp.issubdtype(X.dtype, jnp.floating):
        raise TypeError(
            f"{name} must be a floating-point array, got dtype {X.dtype}. "
            f"Cast it first, e.g. {name}.astype(jnp.float32)."
        )
    if X.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_samples, n_features), got shape {X.shape}."
        )
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} must have at least one sample and one feature, got {X.shape}.")
    return check_finite(X, name) if finite else X


def check_target_shape(
    y: Any, x_shape: tuple[int, ...], *, multi: bool, name: str = "y", x_name: str = "X"
) -> None:
    """Raises ``ValueError`` unless ``y`` is ``(n,)`` (or ``(n, t)``, t >= 1, with ``multi``)."""
    shape = jnp.shape(y)
    if len(shape) not in ((1, 2) if multi else (1,)):
        rule = "1-D (n_samples,)" + (" or 2-D (n_samples, n_targets)" if multi else "")
        raise ValueError(f"{name} must be {rule}, got shape {shape}.")
    if shape[0] != x_shape[0]:
        raise ValueError(
            f"{x_name} and {name} must have the same number of samples, but {x_name} has shape "
            f"{tuple(x_shape)} and {name} has shape {shape}."
        )
    if len(shape) == 2 and shape[1] == 0:
        raise ValueError(f"{name} must have at least one target, got shape {shape}.")


def check_target(y: Any, x_shape: tuple[int, ...], name: str = "y") -> Any:
    """A finite real 1-D target matching ``X`` (kept on the host; cast inside the solver)."""
    y = host_array(y)
    if not (jnp.issubdtype(y.dtype, jnp.floating) or jnp.issubdtype(y.dtype, jnp.integer)):
        raise TypeError(f"{name} must be real numbers, got dtype {y.dtype}.")
    check_target_shape(y, x_shape, multi=False, name=name)
    return check_finite(y, name)


MSG_FLOAT_LABELS = (
    "{name} must hold class labels as integers 0..K-1 (or booleans), got dtype {dtype}. "
    "Floating-point targets are ambiguous (a regression target is not a class label): cast "
    "them with y.astype(int) if they are class indices, or encode arbitrary labels with "
    "np.unique(y, return_inverse=True)[1], or use jaxl2.sklearn.LogisticRegression, which "
    "accepts any labels."
)


def check_labels(
    y: Any, x_shape: tuple[int, ...], n_classes: int | None, name: str = "y"
) -> tuple[Any, int]:
    """Checks integer class labels ``0..K-1`` matching ``X`` and returns ``(y, K)``.

    ``K`` comes from ``n_classes`` or, when ``y`` is concrete, from its values (all of
    ``0..K-1`` must occur). Traced labels need ``n_classes`` and are range-checked at run time.
    """
    y = host_array(y)
    if not (jnp.issubdtype(y.dtype, jnp.integer) or jnp.issubdtype(y.dtype, jnp.bool_)):
        raise TypeError(MSG_FLOAT_LABELS.format(name=name, dtype=y.dtype))
    check_target_shape(y, x_shape, multi=False, name=name)
    n_classes = check_int(n_classes, "n_classes", 2, allow_none=True)
    if is_concrete(y):
        values = np.unique(np.asarray(y).astype(np.int64))
        if values.size < 2:
            raise ValueError(
                f"{name} holds a single class ({values[0] if values.size else 'none'}); a "
                "classifier needs at least two classes."
            )
        k = n_classes if n_classes is not None else int(values[-1]) + 1
        missing = np.setdiff1d(np.arange(k), values)
        if values[0] < 0 or values[-1] >= k or missing.size:
            raise ValueError(
                f"{name} must hold class indices 0..K-1 with every class present (K = {k}); "
                f"got the labels {values.tolist()}. Encode arbitrary labels with "
                "np.unique(y, return_inverse=True)[1]."
            )
        return y, k
    if n_classes is None:
        raise ValueError(
            f"{name} is traced (inside jit or vmap), so the number of classes cannot be read "
            "from it: pass n_classes=K as a static Python int."
        )
    yi = jnp.asarray(y).astype(jnp.int32)
    bad = (yi < 0) | (yi >= n_classes)
    msg = f"{name} must hold class indices in 0..{n_classes - 1}."
    return eqx.error_if(yi, bad, msg), n_classes


def check_sample_weight(
    sample_weight: Any, n: int, dtype: Any = None, *, ones_dtype: Any = None
) -> Any:
    """Sample weights: ``None``, a scalar (every sample that weight, as in scikit-learn) or a
    ``(n,)`` array; non-negative, finite, not all zero.

    ``None`` stays ``None`` (host ones of ``ones_dtype`` when that is given). Without ``dtype``
    the weights are returned as given (host numpy when concrete, cast inside the solver); with
    it, as a JAX array of that dtype.
    """
    if sample_weight is None:
        return None if ones_dtype is None else np.ones((n,), ones_dtype)
    sw = host_array(sample_weight)
    xp = np if isinstance(sw, np.ndarray) else jnp
    if xp.ndim(sw) == 0:
        sw = xp.broadcast_to(sw, (n,))
    if sw.shape != (n,):
        raise ValueError(
            f"sample_weight must be a scalar or have shape (n_samples,) = ({n},), got shape "
            f"{sw.shape}."
        )
    sw = check_nonnegative(sw, "sample_weight", allow_inf=False)
    if is_concrete(sw) and not np.any(np.asarray(sw) > 0):
        raise ValueError("sample_weight must have at least one positive entry; all are zero.")
    return sw if dtype is None else jnp.asarray(sw).astype(dtype)


# ----------------------------------------------------------------------------- penalties


def check_lam(lam: Any, name: str = "lam") -> Any:
    """A finite non-negative penalty, scalar or array (kept on the host; cast in the solver)."""
    check_real(lam, name)
    return check_nonnegative(host_array(lam), name, allow_inf=False)


def check_lam_per_target(
    lam: Any, n_targets: int, y_was_1d: bool, dtype: Any, name: str = "lam"
) -> jax.Array:
    """A scalar, or a (t,) array of per-target strengths; >= 0 and not NaN (index named)."""
    check_real(lam, name)
    arr = jnp.asarray(lam)
    if arr.ndim > 1:
        raise ValueError(f"{name} must be a scalar or a 1-D array, got shape {arr.shape}.")
    if arr.ndim == 1 and arr.shape[0] not in (1, n_targets):
        raise ValueError(
            f"{name} has shape {arr.shape}: a per-target {name} needs one entry per target, "
            f"but y has {n_targets} target(s)" + (" (y is 1-D)." if y_was_1d else ".")
        )
    lam = check_nonnegative(lam, name)
    arr = jnp.asarray(lam).astype(dtype)
    if arr.ndim == 1 and arr.shape[0] == 1:
        arr = arr[0]
    return arr


@overload
def check_lams(lams: Any, dtype: None = None, name: str = "lams") -> np.ndarray | jax.Array: ...


@overload
def check_lams(lams: Any, dtype: DTypeLike, name: str = "lams") -> jax.Array: ...


def check_lams(lams: Any, dtype: Any = None, name: str = "lams") -> np.ndarray | jax.Array:
    """A grid of strengths: a non-empty 1-D array (a scalar is a grid of one), >= 0, finite.

    The first bad entry is named by its index. Returned on the host without ``dtype`` (cast in
    the solver), else as a JAX array of ``dtype``.
    """
    check_real(lams, name)
    lams = host_array(lams)
    if np.ndim(lams) == 0:
        lams = lams[None]
    if np.ndim(lams) != 1 or np.shape(lams)[0] == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {np.shape(lams)}.")
    lams = check_nonnegative(lams, name, allow_inf=False)
    return lams if dtype is None else jnp.asarray(lams).astype(dtype)


# ----------------------------------------------------------------------------- ridge data


class Validated(NamedTuple):
    """What :func:`check_xy` returns."""

    X: jax.Array  # (n, p) in the compute dtype
    Y: jax.Array  # (n, t)
    sw: jax.Array | None
    y_was_1d: bool
    out_dtype: Any
    traced: bool  # X or y traced: value checks are deferred to the solver's result


def check_xy(
    X: Any, y: Any, sample_weight: Any, *, x_name: str = "X", y_name: str = "y"
) -> Validated:
    """Checks shapes and (when concrete) values of X, y and sample_weight for a ridge solver.

    X, Y and sample_weight come back in the compute dtype (the dtype of X when it is floating;
    an integer X is cast, as scikit-learn's ``Ridge`` does).
    """
    X = check_design(X, x_name)
    y = jnp.asarray(y)
    compute, out = float_dtypes(X, y)
    check_target_shape(y, X.shape, multi=True, name=y_name, x_name=x_name)
    X, y = X.astype(compute), y.astype(compute)
    traced = not (is_concrete(X) and is_concrete(y))
    if not traced:
        X, y = check_finite(X, x_name), check_finite(y, y_name)
    Y = y[:, None] if y.ndim == 1 else y
    sw = check_sample_weight(sample_weight, X.shape[0], compute)
    return Validated(X, Y, sw, y.ndim == 1, out, traced)


# ----------------------------------------------------------------------------- rates

SWEEP_HINT = (
    "to try several values, build one optimizer per value inside jax.vmap (a function of the "
    "value), or use jaxl2.sweep / jaxl2.train_sweep with hparams=<the values>"
)


def is_schedule(x: Any) -> bool:
    return callable(x) and jax.tree.leaves(x) == [x]


def check_rate(rate: Any, name: str, params: Any = None, *, per_leaf: bool = True) -> None:
    """Raises ``ValueError`` unless ``rate`` is a scalar or a schedule (the transforms call it at
    construction, and again with ``params`` at ``init``).

    A ``(K,)`` array or a list of K rates is the usual way to ask for a sweep by mistake; it
    would otherwise fail at the first ``update`` with a broadcasting error (or, worse, broadcast
    against a parameter of length K). With ``per_leaf`` a pytree of rates is allowed, each leaf
    a scalar or a schedule; given ``params``, its structure must be theirs or a prefix of it.
    A traced rate (inside ``jax.vmap``: one member of a sweep) is a scalar and passes.
    """
    if rate is None:
        return
    if per_leaf and not jax.tree_util.treedef_is_leaf(jax.tree.structure(rate)):
        if params is not None:
            try:
                broadcast_prefix(rate, params, name)
            except ValueError as e:
                raise ValueError(
                    f"{e}\nA pytree of {name} gives one value per leaf of params; {SWEEP_HINT}."
                ) from None
        for path, r in jax.tree_util.tree_flatten_with_path(rate)[0]:
            check_rate(r, f"{name}{jax.tree_util.keystr(path)}", per_leaf=False)
        return
    if not is_schedule(rate) and np.ndim(rate) != 0:
        raise ValueError(
            f"{name} must be a scalar or a schedule, got shape {np.shape(rate)} "
            f"({name}={rate!r}); {SWEEP_HINT}."
        )
