"""Argument checks shared by every module.

Problems of structure (shapes, trees, dtypes, unknown strings) are raised at trace time as
``ValueError``/``TypeError`` naming the argument. Problems of value (a negative or NaN lambda,
NaN data) are raised at once when the value is concrete; when it is traced (inside ``jit`` or
``vmap``) they go through :func:`equinox.error_if`, which raises at run time with the same
message. Set ``EQX_ON_ERROR=nan`` to turn such run-time errors into NaNs instead (for example to
let a sweep keep its other members).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import equinox as eqx
import jax
import jax.core  # jax.core.Tracer: the submodule is not an attribute of jax in its stubs
import jax.numpy as jnp
import numpy as np

_CALLBACK_FREE = contextvars.ContextVar("jaxl2_callback_free_checks", default=False)


@contextlib.contextmanager
def callback_free_checks() -> Iterator[None]:
    """Within this context, checks of traced values add no host callback to the program: a
    failed check turns the checked value into NaN (as ``EQX_ON_ERROR=nan``) instead of raising.

    The sweeps trace their programs in it, after checking on the host what can be checked
    there (each member's hyperparameters): JAX's persistent compilation cache does not store
    programs with host callbacks, and a member whose check fails is marked non-finite while
    the others go on.
    """
    token = _CALLBACK_FREE.set(True)
    try:
        yield
    finally:
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


def check_real(value: Any, name: str) -> None:
    """Raises ``TypeError`` naming ``name`` when a concrete value is not a real number/array."""
    if value is None:
        raise TypeError(f"{name} must be a real number or array, got None.")
    if is_concrete(value):
        try:
            kind = np.asarray(value).dtype.kind
        except (TypeError, ValueError):
            kind = "O"
        if kind not in "fiu":
            raise TypeError(f"{name} must be a real number or array, got {value!r}.")


def check_scalar(value: Any, name: str) -> None:
    """Raises ``ValueError`` naming ``name`` when ``value`` is not a scalar (vmap for several)."""
    if jnp.ndim(value) != 0:
        raise ValueError(
            f"{name} must be a scalar, got shape {jnp.shape(value)}; for several values, "
            f"jax.vmap over {name}."
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
    """Checks that an array holds no NaN or Inf; returns it (use the return value)."""
    if is_concrete(x):
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


def check_floating(x: Any, name: str) -> None:
    """Raises ``TypeError`` naming ``name`` when a leaf of ``x`` is not floating point."""
    leaves = jax.tree_util.tree_flatten_with_path(x)[0]
    for path, leaf in leaves:
        dtype = jnp.result_type(leaf)
        if not jnp.issubdtype(dtype, jnp.floating):
            where = jax.tree_util.keystr(path) or "(the array itself)"
            raise TypeError(
                f"{name} must have floating-point leaves, but leaf {where} has dtype {dtype}. "
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
