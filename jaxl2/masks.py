"""Masks: which parameters a penalty or a weight decay applies to.

A mask is anything that says, for each leaf of a params pytree, whether it is decayed:

- ``None``: every leaf;
- ``"weights"`` or :data:`weights`: weight matrices, kernels and embeddings, never biases or
  normalization scales and offsets;
- :func:`by_path`: regular expressions on the ``/``-joined key path;
- a callable ``params -> bool pytree`` (it must depend only on structure, shapes or paths: optax
  evaluates masks on the updates as well as on the params);
- a pytree of bools with the structure of the params, or a prefix of it (``{"encoder": False,
  "head": True}``). A leaf may also be a boolean array broadcastable to its parameter, which
  decays only the selected entries.

The masks built here are :class:`Mask` objects: plain callables that work as the ``mask`` of any
optax transform (``optax.adamw(..., mask=jaxl2.masks.weights)``), and that survive
``optax.inject_hyperparams``, which otherwise mistakes every callable argument for a schedule
(optax issue #1373). Wrap your own callable in :class:`Mask` to get the same behaviour, or pass
``static_args=("mask",)`` to ``optax.inject_hyperparams``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._checks import broadcast_prefix

__all__ = ["Mask", "InjectedMask", "weights", "by_path", "describe", "resolve", "path_to_str"]

# A trailing key that only unwraps a variable container (Flax NNX ``Variable.value``).
_WRAPPER_KEYS = frozenset({"value", "raw_value"})
# Key names of parameters that are never decayed by `weights`, whatever their rank: biases
# (also haiku's "b", PyTorch-style "bias_ih"), and normalization scales/offsets under names
# used by flax ("scale", "bias"), haiku/keras ("scale", "offset", "gamma", "beta").
_NO_DECAY_NAME = re.compile(r"^(bias|b|scale|offset|gamma|beta)(_.*|\d*)$")
# Path components that name a normalization layer: LayerNorm_0, layer_norm, ln_f, ln1, bn2,
# rms_norm, GroupNorm, norm1, final_norm... but not "normal".
_NORM_COMPONENT = re.compile(r"norm(?!al)|^(ln|bn|gn)(_?[a-z0-9]*)?$", re.IGNORECASE)


def _key_to_str(key: Any) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(key, attr):
            return str(getattr(key, attr))
    return str(key)


def _path_keys(path: Sequence[Any]) -> list[str]:
    keys = [_key_to_str(k) for k in path]
    while keys and keys[-1] in _WRAPPER_KEYS:
        keys.pop()
    return keys


def path_to_str(path: Sequence[Any]) -> str:
    """The ``/``-joined key path of a leaf, as :func:`by_path` and :func:`describe` use it.

    A trailing ``value`` key (Flax NNX variables) is dropped, so a path reads the same on an
    ``nnx.State`` and on the pure dict that ``nnx.Optimizer`` hands to optax.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from jaxl2.masks import path_to_str
        >>> params = {"layers": [{"kernel": jnp.ones((2, 2))}]}
        >>> [path_to_str(p) for p, _ in jax.tree_util.tree_flatten_with_path(params)[0]]
        ['layers/0/kernel']
    """
    return "/".join(_path_keys(path))


def _is_norm_module(x: Any) -> bool:
    # Equinox (and Flax NNX module) normalization layers: decided by type, since Equinox calls
    # a LayerNorm's scale "weight", the same name as a Linear's matrix.
    if isinstance(x, (dict, list, tuple)) or hasattr(x, "shape") or x is None:
        return False
    return bool(re.search(r"norm(?!al)", type(x).__name__, re.IGNORECASE))


class MaskScheduleState(NamedTuple):
    """State of a :class:`Mask` seen as an optax stateful schedule (it holds nothing)."""


class Mask:
    """A callable mask ``params -> bool pytree`` that ``optax.inject_hyperparams`` does not break.

    ``optax.inject_hyperparams`` treats every callable argument as a schedule and would call a
    mask with the step count (optax #1373), silently turning weight decay off. A :class:`Mask`
    also implements optax's ``StatefulSchedule`` protocol: injected into a jaxl2 transform it
    comes back as itself (held in ``state.hyperparams`` as a leaf-free token). For optax's own
    transforms under ``inject_hyperparams``, pass ``static_args=("mask",)``. Outside
    ``inject_hyperparams`` a :class:`Mask` is an ordinary callable, accepted by every optax
    ``mask=`` argument.

    Examples:
        >>> import jax.numpy as jnp, optax, jaxl2
        >>> mask = jaxl2.masks.Mask(lambda p: {"w": True, "b": False})
        >>> params = {"w": jnp.ones((2, 2)), "b": jnp.ones(2)}
        >>> mask(params)
        {'w': True, 'b': False}
        >>> injected = optax.inject_hyperparams(jaxl2.adamw)
        >>> tx = injected(learning_rate=0.1, weight_decay=0.5, mask=mask)
        >>> state = tx.init(params)
        >>> state.hyperparams["mask"].mask is mask
        True
    """

    def __init__(self, fn: Callable[[Any], Any], name: str | None = None):
        self._fn = fn
        self._name = name or getattr(fn, "__name__", "mask")

    def __call__(self, params: Any, **extra_args: Any) -> Any:
        if isinstance(params, MaskScheduleState):
            return InjectedMask(self)  # called by inject_hyperparams as a schedule.
        return self._fn(params)

    # optax.StatefulSchedule protocol (see the class docstring).
    def init(self) -> MaskScheduleState:
        """The (empty) state ``optax.inject_hyperparams`` keeps for this stateful "schedule"."""
        return MaskScheduleState()

    def update(self, state: MaskScheduleState, **extra_args: Any) -> MaskScheduleState:
        """Returns ``state`` unchanged: a mask does not change over steps."""
        del extra_args
        return state

    def __repr__(self) -> str:
        return f"Mask({self._name})"


@jax.tree_util.register_static
@dataclasses.dataclass(frozen=True)
class InjectedMask:
    """A :class:`Mask` as ``optax.inject_hyperparams`` stores it: a pytree with no leaves."""

    mask: Mask

    def __call__(self, params: Any) -> Any:
        return self.mask(params)


def _weights_fn(params: Any) -> Any:
    def leaf_rule(path: Sequence[Any], leaf: Any) -> Any:
        if _is_norm_module(leaf):
            return jax.tree.map(lambda _: False, leaf)
        keys = _path_keys(path)
        if any(_NORM_COMPONENT.search(k) for k in keys[:-1]):
            return False
        if keys and _NO_DECAY_NAME.match(keys[-1].lower()):
            return False
        return jnp.ndim(leaf) >= 2

    return jax.tree_util.tree_map_with_path(leaf_rule, params, is_leaf=_is_norm_module)


weights = Mask(_weights_fn, "weights")
weights.__doc__ = """Decays weight matrices, kernels and embeddings; never biases or norm layers.

A leaf is decayed when it has ``ndim >= 2``, its name is not a bias/scale/offset name
(``bias``, ``b``, ``scale``, ``offset``, ``gamma``, ``beta``) and no component of its path names a
normalization layer (``LayerNorm_0``, ``norm1``, ``ln_f``, ``bn``, ``RMSNorm``...). Equinox
normalization modules are recognised by type (their scale is called ``weight`` and is 1-D).
Because it looks at names as well as ranks, it is right on stacked (scanned) layers, where a
bias has ``ndim == 2``. Works on Flax NNX ``State`` (paths ending in ``value``), the pure dicts
``nnx.Optimizer`` passes to optax, linen param dicts, Equinox modules, plain dicts and lists.

Examples:
    >>> import jax.numpy as jnp, jaxl2
    >>> params = {"Dense_0": {"kernel": jnp.ones((3, 4)), "bias": jnp.zeros(4)},
    ...           "LayerNorm_0": {"scale": jnp.ones(4), "bias": jnp.zeros(4)}}
    >>> jaxl2.masks.weights(params)
    {'Dense_0': {'bias': False, 'kernel': True}, 'LayerNorm_0': {'bias': False, 'scale': False}}
"""


@dataclasses.dataclass(frozen=True, eq=True)
class _ByPath:
    include: tuple[str, ...] | None
    exclude: tuple[str, ...]

    def __call__(self, params: Any) -> Any:
        def rule(path: Sequence[Any], _: Any) -> bool:
            s = path_to_str(path)
            inc = self.include is None or any(re.search(p, s) for p in self.include)
            return inc and not any(re.search(p, s) for p in self.exclude)

        return jax.tree_util.tree_map_with_path(rule, params)


def _patterns(value: str | Sequence[str] | None, name: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        patterns = (value,)
    elif isinstance(value, (list, tuple)) and all(isinstance(p, str) for p in value):
        patterns = tuple(value)
    else:
        raise TypeError(f"{name} must be a str or a sequence of str (regexes), got {value!r}.")
    for p in patterns:
        try:
            re.compile(p)
        except re.error as err:
            raise ValueError(f"{name} holds an invalid regular expression {p!r}: {err}") from None
    return patterns


def by_path(
    include: str | Sequence[str] | None = None, exclude: str | Sequence[str] | None = None
) -> Mask:
    """A mask from regular expressions on each leaf's ``/``-joined key path.

    A leaf is decayed when its path matches one of ``include`` (any path, when ``include`` is
    None) and none of ``exclude``. Patterns use :func:`re.search`; paths are written as
    :func:`path_to_str` writes them, e.g. ``"encoder/layers/0/attn/kernel"``.

    Args:
        include: a pattern or list of patterns; None selects every leaf.
        exclude: a pattern or list of patterns removed from the selection.

    Returns:
        A :class:`Mask`.

    Raises:
        ValueError: a pattern is not a valid regular expression.

    Examples:
        >>> import jax.numpy as jnp, jaxl2
        >>> params = {"encoder": {"kernel": jnp.ones((2, 2))}, "head": {"kernel": jnp.ones((2, 1))}}
        >>> jaxl2.masks.by_path(include="kernel", exclude="^head/")(params)
        {'encoder': {'kernel': True}, 'head': {'kernel': False}}
    """
    inc = _patterns(include, "include")
    exc = _patterns(exclude, "exclude") or ()
    return Mask(_ByPath(inc, exc), f"by_path(include={include!r}, exclude={exclude!r})")


_MASK_HINT = (
    "A mask is None, 'weights', a callable params -> bool pytree, or a pytree of bools with the "
    "structure of params (or a prefix of it)."
)


def _check_mask_leaf(m: Any, leaf: Any) -> Any:
    if isinstance(m, (bool, np.bool_)):
        return bool(m)
    if isinstance(m, jax.core.Tracer) and jnp.ndim(m) == 0:
        raise TypeError(
            "mask has a traced scalar where a bool was expected. This usually means "
            "optax.inject_hyperparams called a plain callable mask as if it were a schedule "
            "(optax #1373): wrap the callable in jaxl2.masks.Mask, or pass "
            "static_args=('mask',) to optax.inject_hyperparams."
        )
    if hasattr(m, "dtype") and jnp.issubdtype(m.dtype, jnp.bool_):
        if jnp.ndim(m) == 0 and not isinstance(m, jax.core.Tracer):
            return bool(m)
        try:
            jnp.broadcast_shapes(jnp.shape(m), jnp.shape(leaf))
        except ValueError:
            raise ValueError(
                f"mask: a boolean array mask of shape {jnp.shape(m)} does not broadcast to its "
                f"parameter of shape {jnp.shape(leaf)}."
            ) from None
        return m
    raise TypeError(f"mask leaves must be bools (or boolean arrays), got {m!r}. {_MASK_HINT}")


def resolve(mask: Any, params: Any, *, name: str = "mask") -> Any:
    """Turns any accepted mask into a pytree of bools with exactly the structure of ``params``.

    Args:
        mask: None, ``"weights"``, a callable, a :class:`Mask`, a bool, or a bool pytree (a prefix
            of ``params`` is broadcast).
        params: the parameters (or updates) the mask applies to.
        name: the argument name used in error messages.

    Returns:
        A pytree with the structure of ``params`` whose leaves are Python bools (or boolean
        arrays, for element-wise masks).

    Raises:
        ValueError: the mask's tree does not match ``params``; the message shows both structures.
        TypeError: a mask leaf is not a bool.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxl2.masks import resolve
        >>> resolve({"enc": False}, {"enc": {"w": jnp.ones(2), "b": jnp.ones(2)}})
        {'enc': {'b': False, 'w': False}}
    """
    if mask is None:
        return jax.tree.map(lambda _: True, params)
    if isinstance(mask, str):
        if mask != "weights":
            raise ValueError(
                f"{name} must be None, 'weights', a callable or a bool pytree; got {mask!r}."
            )
        mask = weights
    if _is_function_mask(mask):
        mask = mask(params)
    return jax.tree.map(_check_mask_leaf, broadcast_prefix(mask, params, name), params)


def _is_function_mask(mask: Any) -> bool:
    # An Equinox module of bools is callable too (its __call__ is the model's forward pass), so
    # only a callable that is not itself a pytree of values is called (optax #1373).
    if isinstance(mask, (Mask, InjectedMask)):
        return True
    return callable(mask) and jax.tree.leaves(mask) == [mask]


def describe(params: Any, mask: Any = "weights") -> str:
    """A readable table of which parameters a mask decays.

    One row per leaf (path, shape, dtype, decayed: ``yes``, ``no`` or ``k/n`` for an element-wise
    mask), then the counts of leaves and parameters decayed.

    Args:
        params: a params pytree (Flax, Equinox, plain dicts...).
        mask: any mask accepted by :func:`resolve` (default ``"weights"``).

    Returns:
        The table, as a string (print it).

    Examples:
        >>> import jax.numpy as jnp, jaxl2
        >>> params = {"dense": {"kernel": jnp.ones((3, 4)), "bias": jnp.zeros(4)}}
        >>> print(jaxl2.masks.describe(params))
        path          shape   dtype    decayed
        dense/bias    (4,)    float32  no
        dense/kernel  (3, 4)  float32  yes
        decayed: 1 of 2 leaves, 12 of 16 parameters (75.0%)
    """
    resolved = resolve(mask, params)
    rows, n_leaves, n_decayed_leaves, n_params, n_decayed = [], 0, 0, 0, 0
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    for (path, leaf), m in zip(flat, jax.tree.leaves(resolved), strict=True):
        size = int(np.prod(jnp.shape(leaf)))
        if isinstance(m, bool):
            k, label = (size if m else 0), ("yes" if m else "no")
        else:
            k = int(np.sum(np.broadcast_to(np.asarray(m), jnp.shape(leaf))))
            label = f"{k}/{size}"
        n_leaves += 1
        n_params += size
        n_decayed += k
        n_decayed_leaves += k > 0
        rows.append(
            (
                path_to_str(path) or "(root)",
                str(tuple(jnp.shape(leaf))),
                str(jnp.result_type(leaf)),
                label,
            )
        )
    header = ("path", "shape", "dtype", "decayed")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    ]
    pct = 100.0 * n_decayed / n_params if n_params else 0.0
    lines.append(
        f"decayed: {n_decayed_leaves} of {n_leaves} leaves, {n_decayed:,} of {n_params:,} "
        f"parameters ({pct:.1f}%)"
    )
    return "\n".join(lines)
