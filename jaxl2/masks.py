"""Masks: which parameters a penalty or a weight decay applies to.

A mask is anything that says, for each leaf of a params pytree, whether it is decayed:

- ``None``: every leaf;
- ``"weights"`` or :data:`weights`: weight matrices, kernels and embeddings, never biases,
  normalization parameters or non-parameter state, decided by role (module type, variable type,
  the leaf's own name and rank), never by the name a user gave a layer;
- :func:`by_path`: regular expressions on the ``/``-joined key path;
- a callable ``params -> bool pytree`` (it must depend only on structure, shapes or paths: optax
  evaluates masks on the updates as well as on the params);
- a pytree of bools with the structure of the params, or a prefix of it (``{"encoder": False,
  "head": True}``). A leaf may also be a boolean array broadcastable to its parameter, which
  decays only the selected entries. Keys are matched by name, so a plain dict also fits an
  ``nnx.State``, and a mask computed on ``nnx.state(model)`` (paths ending in ``value``) also fits
  the pure trees ``nnx.Optimizer`` hands to optax. A key that params lack raises, naming it.

A computed mask (``"weights"``, :func:`by_path`, a callable) that selects no leaf of a non-empty
params tree warns with :class:`EmptyMaskWarning`, as does a :func:`by_path` pattern that matches
no path; an explicit bool pytree (``mask=False``) is taken as meant.

The masks built here are :class:`Mask` objects: plain callables that work as the ``mask`` of any
optax transform (``optax.adamw(..., mask=jaxl2.masks.weights)``), and that survive
``optax.inject_hyperparams``, which otherwise mistakes every callable argument for a schedule
(optax issue #1373). Wrap your own callable in :class:`Mask` to get the same behaviour, or pass
``static_args=("mask",)`` to ``optax.inject_hyperparams``.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, TypeGuard

import jax
import jax.core  # jax.core.Tracer: the submodule is not an attribute of jax in its stubs
import jax.numpy as jnp
import numpy as np

from ._checks import broadcast_prefix
from ._typing import MaskLike, Params

__all__ = [
    "Mask",
    "InjectedMask",
    "EmptyMaskWarning",
    "weights",
    "by_path",
    "describe",
    "resolve",
    "path_to_str",
]

_DictKey, _SequenceKey, _GetAttrKey = (
    jax.tree_util.DictKey,
    jax.tree_util.SequenceKey,
    jax.tree_util.GetAttrKey,
)
# A trailing key that only unwraps a variable container (Flax NNX ``Variable.value``).
_WRAPPER_KEYS = frozenset({"value", "raw_value"})
# A leaf's own name that marks a bias, a normalization scale/offset or a running statistic, never
# decayed whatever its rank: flax ("bias", "scale"), haiku ("b", "offset"), keras ("gamma",
# "beta"), PyTorch state dicts ("bias_ih_l0", "running_mean").
_NO_DECAY_NAME = re.compile(r"^(bias|b|scale|offset|gamma|beta|(running_)?(mean|var))(_.*|\d*)$")
# A bias has one axis fewer than its layer's weight in every standard layer (Dense, DenseGeneral,
# attention, Conv, LSTM), so a bias sibling of rank r + 1 tells that the layer is stacked r times
# (scan, vmap). Scales are left out: a variational layer's "loc" and "scale" share a shape.
_BIAS_NAME = re.compile(r"^(bias|b)(_.*|\d*)$")
# flax linen's variable collections, when a whole ``variables`` dict is passed.
_LINEN_COLLECTIONS = frozenset(
    {"params", "batch_stats", "cache", "intermediates", "losses", "perturbations"}
)
_NNX, _EQX = "flax.nnx", "equinox"
# Module types whose parameters are never decayed (normalization layers), by library.
_NORM_TYPES = (
    (_NNX, ("LayerNorm", "BatchNorm", "RMSNorm", "GroupNorm", "InstanceNorm")),
    (_EQX, ("nn.LayerNorm", "nn.BatchNorm", "nn.RMSNorm", "nn.GroupNorm")),
)
# Module types whose own parameters have known roles: the attributes listed are decayed, the
# others (biases, a weight norm's scale ``g``) are not. Submodules keep their own roles.
_WEIGHT_TYPES = (
    (_NNX, ("Linear", "LinearGeneral", "Einsum", "Conv", "ConvTranspose"), ("kernel",)),
    (_NNX, ("Embed",), ("embedding",)),
    (_NNX, ("WeightNorm", "SpectralNorm"), ()),
    (_EQX, ("nn.Linear", "nn.Conv", "nn.ConvTranspose", "nn.Embedding"), ("weight",)),
    (_EQX, ("nn.GRUCell", "nn.LSTMCell"), ("weight_ih", "weight_hh")),
    (_EQX, ("nn.WeightNorm", "nn.SpectralNorm"), ()),
)


class EmptyMaskWarning(UserWarning):
    """Warned when a computed mask, or a :func:`by_path` pattern, selects no leaf of the params.

    A mask that selects nothing turns weight decay (or a penalty) off without a word, usually
    because of a typo in a pattern or a model whose parameters :data:`weights` does not see as
    weight matrices. Turn it into an error with ``warnings.simplefilter("error",
    EmptyMaskWarning)``, or silence it once you mean it.

    Examples:
        >>> import warnings, jax.numpy as jnp, jaxl2
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     _ = jaxl2.masks.by_path(include="^head/")({"body": {"kernel": jnp.ones((2, 2))}})
        >>> caught[0].category.__name__
        'EmptyMaskWarning'
    """


def _classes(module: str, names: Sequence[str]) -> tuple[type, ...]:
    # Only libraries the user already imported can have built the tree: no import here.
    out = []
    for name in names:
        obj: Any = sys.modules.get(module)
        for part in name.split("."):
            obj = getattr(obj, part, None)
        if isinstance(obj, type):
            out.append(obj)
    return tuple(out)


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


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def _is_float(x: Any) -> bool:
    if hasattr(x, "dtype"):
        try:
            return bool(jnp.issubdtype(x.dtype, jnp.inexact))
        except TypeError:  # extended dtypes (PRNG keys)
            return False
    return isinstance(x, (float, complex))


class _Context(NamedTuple):
    kind: str | None = None  # variable type: nnx Variable class, "State", a linen collection
    is_param: bool = True
    module: type | None = None  # innermost enclosing nnx / Equinox module
    module_depth: int = 0  # length of that module's path


@dataclasses.dataclass(frozen=True)
class _Leaf:
    keys: tuple[str, ...]  # the path as strings, a trailing ``value`` dropped
    value: Any
    kind: str | None
    is_param: bool
    module: type | None
    attr: str | None  # the leaf's attribute in ``module``


def _leaves(tree: Any) -> list[_Leaf]:
    """Every leaf of ``tree`` in ``jax.tree.leaves`` order, with what the tree says about it."""
    modules = _classes(_NNX, ("Module",)) + _classes(_EQX, ("Module",))
    variables = _classes(_NNX, ("Variable",))
    param_types = _classes(_NNX, ("Param",))
    states = _classes(_EQX, ("nn.StateIndex", "nn.State"))
    typed = modules + variables + states
    out: list[_Leaf] = []

    def visit(node: Any, prefix: tuple[Any, ...], ctx: _Context) -> None:
        if isinstance(node, states):  # before modules: an Equinox StateIndex is a Module
            ctx = ctx._replace(kind="State", is_param=False)
        elif isinstance(node, modules):
            ctx = ctx._replace(module=type(node), module_depth=len(prefix))
        elif isinstance(node, variables):
            is_param = isinstance(node, param_types)
            ctx = ctx._replace(kind=type(node).__name__, is_param=is_param)
        is_child = lambda x: x is not node and isinstance(x, typed)  # noqa: E731
        for path, x in jax.tree_util.tree_flatten_with_path(node, is_leaf=is_child)[0]:
            if is_child(x):
                visit(x, prefix + tuple(path), ctx)
                continue
            keys = tuple(_path_keys(prefix + tuple(path)))
            depth = ctx.module_depth
            attr = keys[depth] if ctx.module is not None and len(keys) > depth else None
            out.append(_Leaf(keys, x, ctx.kind, ctx.is_param and _is_float(x), ctx.module, attr))

    visit(tree, (), _Context())
    if (
        isinstance(tree, Mapping)
        and "params" in tree
        and len(tree) > 1
        and set(tree) <= _LINEN_COLLECTIONS
    ):
        out = [
            dataclasses.replace(
                leaf, kind=leaf.keys[0], is_param=leaf.is_param and leaf.keys[0] == "params"
            )
            for leaf in out
        ]
    return out


def _roles() -> tuple[tuple[type, ...], list[tuple[tuple[type, ...], tuple[str, ...]]]]:
    norms = sum((_classes(lib, names) for lib, names in _NORM_TYPES), ())
    weight_types = [(_classes(lib, names), attrs) for lib, names, attrs in _WEIGHT_TYPES]
    return norms, [(c, a) for c, a in weight_types if c]


def _stack_depths(leaves: list[_Leaf]) -> dict[tuple[str, ...], int]:
    depths: dict[tuple[str, ...], int] = {}
    for leaf in leaves:
        if leaf.is_param and leaf.keys and _BIAS_NAME.match(leaf.keys[-1].lower()):
            d = max(len(_shape(leaf.value)) - 1, 0)
            parent = leaf.keys[:-1]
            depths[parent] = min(depths.get(parent, d), d)
    return depths


def _weights_fn(params: Any) -> Any:
    leaves = _leaves(params)
    norms, weight_types = _roles()
    depths = _stack_depths(leaves)

    def decays(leaf: _Leaf) -> bool:
        if not leaf.is_param:
            return False
        if leaf.module is not None:
            if issubclass(leaf.module, norms):
                return False
            for classes, attrs in weight_types:
                if issubclass(leaf.module, classes):
                    return leaf.attr in attrs
        if leaf.keys and _NO_DECAY_NAME.match(leaf.keys[-1].lower()):
            return False
        return len(_shape(leaf.value)) >= 2 + depths.get(leaf.keys[:-1], 0)

    flags = [decays(leaf) for leaf in leaves]
    return jax.tree.unflatten(jax.tree.structure(params), flags)


def _selects_nothing(flags: Any, params: Any) -> bool:
    """Whether a mask's output selects no leaf while params has a parameter leaf."""
    if not any(leaf.is_param for leaf in _leaves(params)):
        return False
    for m in jax.tree.leaves(flags):
        if isinstance(m, jax.core.Tracer):
            return False  # element-wise and traced: cannot tell, assume it selects.
        if isinstance(m, (bool, np.bool_)):
            if m:
                return False
        elif not hasattr(m, "dtype") or np.any(np.asarray(m)):
            return False
    return True


def _warn_empty(what: str, params: Any, hint: str) -> None:
    n = sum(leaf.is_param for leaf in _leaves(params))
    warnings.warn(
        f"{what} selects no leaf of params ({n} parameter leaves): nothing is decayed or "
        f"penalized. {hint}",
        EmptyMaskWarning,
        stacklevel=3,
    )


_EMPTY_HINT = (
    "Pass mask=None to decay every leaf, or a bool pytree or jaxl2.masks.by_path(...) to choose "
    "(jaxl2.masks.describe(params, mask) shows what a mask selects)."
)


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
    ``mask=`` argument. A call that selects no leaf of a tree with parameter leaves warns
    with :class:`EmptyMaskWarning`.

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

    def __init__(
        self, fn: Callable[[Any], Any], name: str | None = None, *, _warn_if_empty: bool = True
    ):
        self._fn = fn
        self._name = name or getattr(fn, "__name__", "mask")
        self._warn_if_empty = _warn_if_empty

    def __call__(self, params: Params, **extra_args: Any) -> Any:
        if isinstance(params, MaskScheduleState):
            return InjectedMask(self)  # called by inject_hyperparams as a schedule.
        out = self._fn(params)
        if self._warn_if_empty and _selects_nothing(out, params):
            _warn_empty(f"mask {self!r}", params, _EMPTY_HINT)
        return out

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


weights = Mask(_weights_fn, "weights")
weights.__doc__ = """Decays kernels, weight matrices and embeddings; never biases or norm layers.

Decided by each leaf's role, never by the name a user gave a layer:

1. Only parameters: a Flax NNX ``Variable`` that is not an ``nnx.Param`` (``BatchStat``,
   ``RngKey``, ``RngCount``, ``Cache``...), an Equinox ``StateIndex``/``State``, a linen
   collection other than ``params`` (when a whole ``variables`` dict is passed) and any
   non-floating leaf (integers, PRNG keys) are never decayed.
2. The module type, where the tree carries it (an ``nnx.Module``, Equinox modules): the
   parameters of ``nnx.LayerNorm``/``BatchNorm``/``RMSNorm``/``GroupNorm``/``InstanceNorm`` and
   ``eqx.nn.LayerNorm``/``BatchNorm``/``RMSNorm``/``GroupNorm`` are not decayed; the ``kernel`` of
   ``nnx.Linear``/``LinearGeneral``/``Einsum``/``Conv``/``ConvTranspose``, the ``embedding`` of
   ``nnx.Embed``, the ``weight`` of ``eqx.nn.Linear``/``Conv*``/``ConvTranspose*``/``Embedding``
   and the ``weight_ih``/``weight_hh`` of ``eqx.nn.GRUCell``/``LSTMCell`` are, whatever their
   rank (stacked layers too), and these modules' other parameters (biases, a weight norm's
   scale) are not. Subclasses inherit the role.
3. Otherwise (plain dicts, linen params, ``nnx.State``, the pure trees ``nnx.Optimizer`` passes,
   other modules), the leaf's own name and rank: a bias, normalization scale/offset or running
   statistic by name (``bias``, ``b``, ``scale``, ``offset``, ``gamma``, ``beta``, ``mean``,
   ``var``, with suffixes such as ``bias_ih``) is not decayed; any other leaf (``kernel``,
   ``weight``, ``w``, ``embedding``, or a name that tells nothing) is decayed when it has at least
   2 dimensions, one more per stacking axis (scanned or vmapped layers): a layer is taken as
   stacked ``r`` times when its ``bias``/``b`` has rank ``r + 1``, since a standard layer's
   weight always has more axes than its bias.

Flax names its parameters by role (``kernel``, ``bias``, ``scale``, ``embedding``), so rule 3
is exact on linen and NNX trees whatever the layers are called. Where neither the type nor the
name tells, the rank decides: a 1-D ``weight`` in a PyTorch-style dict is not decayed, a
stacked norm ``weight`` of shape ``(L, d)`` with no ``bias`` sibling is; pass the Equinox or NNX
module itself (types visible), or a bool pytree or :func:`by_path`, for such trees. A call that
selects no leaf warns with :class:`EmptyMaskWarning`.

Examples:
    >>> import jax.numpy as jnp, jaxl2
    >>> params = {"Dense_0": {"kernel": jnp.ones((3, 4)), "bias": jnp.zeros(4)},
    ...           "LayerNorm_0": {"scale": jnp.ones(4), "bias": jnp.zeros(4)}}
    >>> jaxl2.masks.weights(params)
    {'Dense_0': {'bias': False, 'kernel': True}, 'LayerNorm_0': {'bias': False, 'scale': False}}
    >>> import jax, equinox as eqx
    >>> net = {"ln_proj": eqx.nn.Linear(4, 4, key=jax.random.key(0)),  # a Linear, by type
    ...        "proj": eqx.nn.LayerNorm(4)}                            # a norm, by type
    >>> jax.tree.leaves(jaxl2.masks.weights(eqx.filter(net, eqx.is_array)))
    [True, False, False, False]
"""


@dataclasses.dataclass(frozen=True, eq=True)
class _ByPath:
    include: tuple[str, ...] | None
    exclude: tuple[str, ...]

    def __call__(self, params: Any) -> Any:
        flat, treedef = jax.tree_util.tree_flatten_with_path(params)
        paths = [path_to_str(p) for p, _ in flat]
        hits = {
            p: [bool(re.search(p, s)) for s in paths] for p in (self.include or ()) + self.exclude
        }
        flags = [
            (self.include is None or any(hits[p][i] for p in self.include))
            and not any(hits[p][i] for p in self.exclude)
            for i in range(len(paths))
        ]
        if paths:
            self._warn(paths, hits, flags, params)
        return jax.tree.unflatten(treedef, flags)

    def _warn(self, paths: list[str], hits: dict[str, list[bool]], flags: list[bool], params: Any):
        unmatched = [p for p, h in hits.items() if not any(h)]
        if unmatched:
            shown = ", ".join(repr(s) for s in paths[:6]) + (", ..." if len(paths) > 6 else "")
            warnings.warn(
                f"by_path: pattern(s) {', '.join(map(repr, unmatched))} match no leaf path of "
                f"params (paths are /-joined, e.g. {shown}); "
                + ("the mask selects no leaf." if not any(flags) else "check for a typo."),
                EmptyMaskWarning,
                stacklevel=4,
            )
        elif not any(flags) and _selects_nothing(flags, params):
            _warn_empty(f"mask {self.__repr__()}", params, _EMPTY_HINT)


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
    :func:`path_to_str` writes them, e.g. ``"encoder/layers/0/attn/kernel"``. A pattern that
    matches no path of the params it is applied to, or a mask that selects no leaf, warns with
    :class:`EmptyMaskWarning` (a typo would otherwise turn decay off without a word).

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
    name = f"by_path(include={include!r}, exclude={exclude!r})"
    return Mask(_ByPath(inc, exc), name, _warn_if_empty=False)


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


class _NoKeys(Exception):
    """A path holds a key kind that cannot be looked up by name (``FlattenedIndexKey``)."""


def _key_value(key: Any) -> Any:
    if isinstance(key, _DictKey):
        return key.key
    if isinstance(key, _SequenceKey):
        return key.idx
    if isinstance(key, _GetAttrKey):
        return key.name
    raise _NoKeys


def _is_leaf(node: Any) -> bool:
    treedef = jax.tree.structure(node)
    return treedef.num_nodes == 1 and treedef.num_leaves == 1


def _children(node: Any) -> dict[Any, Any]:
    # One level of the tree, by key value: a dict key, an attribute or an index matches the same
    # key of any node type (a dict mask on an nnx.State, an Equinox module, a Variable).
    flat = jax.tree_util.tree_flatten_with_path(node, is_leaf=lambda x: x is not node)[0]
    return {_key_value(p[0]): child for p, child in flat if len(p) == 1}


def _unwrap(node: Any) -> Any:
    # A mask computed on an nnx.State holds Variables of bools; params may be the pure tree.
    flat = jax.tree_util.tree_flatten_with_path(node)[0]
    if len(flat) == 1:
        path, leaf = flat[0]
        if path and all(isinstance(k, _GetAttrKey) and k.name in _WRAPPER_KEYS for k in path):
            return leaf
    return node


def _where(keys: Sequence[Any]) -> str:
    return "/".join(str(k) for k in keys) or "(root)"


def _structure_error(name: str, mask: Any, params: Any, detail: str) -> ValueError:
    return ValueError(
        f"{name} does not match the structure of params: {detail} (it must equal params' "
        f"structure or be a prefix of it; keys are matched by name).\n"
        f"  {name} structure:   {jax.tree.structure(mask)}\n"
        f"  params structure: {jax.tree.structure(params)}"
    )


def _check_known_keys(mask: Any, params: Any, name: str) -> None:
    """Raises naming the first key of ``mask`` that ``params`` does not have."""
    is_empty = lambda x: x is not params and not jax.tree.leaves(x)  # noqa: E731
    ends = jax.tree_util.tree_flatten_with_path(params, is_leaf=is_empty)[0]
    terminals = {tuple(_key_value(k) for k in p): is_empty(x) for p, x in ends}
    prefixes = {()} | {t[:i] for t in terminals for i in range(len(t) + 1)}
    for path, _ in jax.tree_util.tree_flatten_with_path(mask)[0]:
        path = list(path)
        while path and isinstance(path[-1], _GetAttrKey) and path[-1].name in _WRAPPER_KEYS:
            path.pop()
        keys = tuple(_key_value(k) for k in path)
        if keys in prefixes or any(terminals.get(keys[:i]) for i in range(len(keys))):
            continue
        j = max(i for i in range(len(keys)) if keys[:i] in prefixes)
        there = sorted({repr(t[j]) for t in prefixes if len(t) > j and t[:j] == keys[:j]})
        has = f"params has {', '.join(there)} there" if there else "params has a leaf there"
        raise _structure_error(
            name, mask, params, f"unknown key {keys[j]!r} at {_where(keys[:j])} ({has})"
        )


def _broadcast(mask: Any, params: Any, name: str) -> Any:
    """``mask`` (params' structure or a prefix, matched by key) broadcast to params' leaves."""
    try:
        _check_known_keys(mask, params, name)
        flat, treedef = jax.tree_util.tree_flatten_with_path(params)
        cache: dict[int, dict[Any, Any]] = {}
        out = []
        for path, leaf in flat:
            node = mask
            for i, key in enumerate(path):
                if _is_leaf(node):
                    break
                if id(node) not in cache:
                    cache[id(node)] = _children(node)
                try:
                    node = cache[id(node)][_key_value(key)]
                except KeyError:
                    keys = [_key_value(k) for k in path]
                    raise _structure_error(
                        name, mask, params, f"no entry for key {keys[i]!r} at {_where(keys[:i])}"
                    ) from None
            node = _unwrap(node)
            if not _is_leaf(node):
                raise _structure_error(
                    name, mask, params, f"no bool for the leaf at {path_to_str(path) or '(root)'}"
                )
            out.append(_check_mask_leaf(node, leaf))
        return jax.tree.unflatten(treedef, out)
    except _NoKeys:
        return jax.tree.map(_check_mask_leaf, broadcast_prefix(mask, params, name), params)


def resolve(mask: MaskLike, params: Params, *, name: str = "mask") -> Any:
    """Turns any accepted mask into a pytree of bools with exactly the structure of ``params``.

    A bool pytree is matched to ``params`` by key (dict key, attribute or index), so a plain
    dict fits an ``nnx.State`` or an Equinox module with the same keys, and a mask computed on
    ``nnx.state(model)`` (Variables of bools) fits the pure tree of the same model. The
    transforms call it at ``init``, so a mask that does not fit the params raises there.

    Args:
        mask: None, ``"weights"``, a callable, a :class:`Mask`, a bool, or a bool pytree (a prefix
            of ``params`` is broadcast).
        params: the parameters (or updates) the mask applies to.
        name: the argument name used in error messages.

    Returns:
        A pytree with the structure of ``params`` whose leaves are Python bools (or boolean
        arrays, for element-wise masks).

    Raises:
        ValueError: the mask's tree does not match ``params``: the message names the unknown (or
            missing) key and where, and shows both structures.
        TypeError: a mask leaf is not a bool.

    Warns:
        EmptyMaskWarning: a callable mask (``"weights"``, :func:`by_path`, your own) selects no
            leaf of params that has parameter leaves (floating-point leaves that are not
            model state).

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxl2.masks import resolve
        >>> resolve({"enc": False}, {"enc": {"w": jnp.ones(2), "b": jnp.ones(2)}})
        {'enc': {'b': False, 'w': False}}
        >>> resolve({"enc": True, "dec": False}, {"enc": jnp.ones(2)})
        Traceback (most recent call last):
        ...
        ValueError: mask does not match the structure of params: unknown key 'dec' at (root) (params has 'enc' there) (it must equal params' structure or be a prefix of it; keys are matched by name).
          mask structure:   PyTreeDef({'dec': *, 'enc': *})
          params structure: PyTreeDef({'enc': *})
    """  # noqa: E501
    if mask is None:
        return jax.tree.map(lambda _: True, params)
    if isinstance(mask, str):
        if mask != "weights":
            raise ValueError(
                f"{name} must be None, 'weights', a callable or a bool pytree; got {mask!r}."
            )
        mask = weights
    if _is_function_mask(mask):
        plain = not isinstance(mask, (Mask, InjectedMask))
        mask = mask(params)
        if plain and _selects_nothing(mask, params):
            _warn_empty(f"{name} (a callable)", params, _EMPTY_HINT)
    return _broadcast(mask, params, name)


def _is_function_mask(mask: Any) -> TypeGuard[Callable[[Any], Any]]:
    # An Equinox module of bools is callable too (its __call__ is the model's forward pass), so
    # only a callable that is not itself a pytree of values is called (optax #1373).
    if isinstance(mask, (Mask, InjectedMask)):
        return True
    return callable(mask) and jax.tree.leaves(mask) == [mask]


def _dtype_str(x: Any) -> str:
    if hasattr(x, "dtype"):
        return str(x.dtype)
    if isinstance(x, (bool, int, float, complex)):
        return str(jnp.result_type(x))
    return type(x).__name__


def describe(params: Params, mask: MaskLike = "weights") -> str:
    """A readable table of which parameters a mask decays.

    One row per leaf (path, shape, dtype, decayed: ``yes``, ``no`` or ``k/n`` for an element-wise
    mask), then the counts of parameter leaves and parameters decayed. When the tree carries
    variable types (a Flax NNX ``State`` or module, Equinox state, a linen ``variables`` dict) or
    leaves that are not parameters, a ``type`` column shows each leaf's variable type (``Param``,
    ``BatchStat``, ``RngKey``, ``State``, ``batch_stats``, or ``-`` for a plain array) and only
    parameters (floating-point ``Param`` leaves, or plain floating-point arrays) are counted; the
    others are totalled on a last line.

    Args:
        params: a params pytree (Flax, Equinox, plain dicts...), or a whole model state.
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
        >>> from flax import nnx
        >>> class Net(nnx.Module):
        ...     def __init__(self, rngs):
        ...         self.gn = nnx.Linear(2, 3, rngs=rngs)  # a Linear called "gn"
        ...         self.bn = nnx.BatchNorm(3, rngs=rngs)
        >>> print(jaxl2.masks.describe(nnx.state(Net(nnx.Rngs(0)))))
        path       type       shape   dtype    decayed
        bn/bias    Param      (3,)    float32  no
        bn/mean    BatchStat  (3,)    float32  no
        bn/scale   Param      (3,)    float32  no
        bn/var     BatchStat  (3,)    float32  no
        gn/bias    Param      (3,)    float32  no
        gn/kernel  Param      (2, 3)  float32  yes
        decayed: 1 of 4 leaves, 6 of 15 parameters (40.0%)
        not parameters (not counted): 2 leaves, 6 values (BatchStat: 2)
    """
    resolved = resolve(mask, params)
    leaves = _leaves(params)
    typed = any(leaf.kind is not None or not leaf.is_param for leaf in leaves)
    rows, n_leaves, n_decayed_leaves, n_params, n_decayed = [], 0, 0, 0, 0
    others: dict[str, int] = {}
    n_other_values = 0
    for leaf, m in zip(leaves, jax.tree.leaves(resolved), strict=True):
        shape = _shape(leaf.value)
        size = int(np.prod(shape))
        if isinstance(m, bool):
            k, label = (size if m else 0), ("yes" if m else "no")
        else:
            k = int(np.sum(np.broadcast_to(np.asarray(m), shape)))
            label = f"{k}/{size}"
        kind = leaf.kind or "-"
        if leaf.is_param:
            n_leaves += 1
            n_params += size
            n_decayed += k
            n_decayed_leaves += k > 0
        else:
            key = kind if leaf.kind else _dtype_str(leaf.value)
            others[key] = others.get(key, 0) + 1
            n_other_values += size
        row = ["/".join(leaf.keys) or "(root)", str(shape), _dtype_str(leaf.value), label]
        rows.append(tuple(row[:1] + [kind] + row[1:]) if typed else tuple(row))
    header = (
        ("path", "type", "shape", "dtype", "decayed")
        if typed
        else ("path", "shape", "dtype", "decayed")
    )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    ]
    pct = 100.0 * n_decayed / n_params if n_params else 0.0
    lines.append(
        f"decayed: {n_decayed_leaves} of {n_leaves} leaves, {n_decayed:,} of {n_params:,} "
        f"parameters ({pct:.1f}%)"
    )
    if others:
        kinds = ", ".join(f"{k}: {c}" for k, c in sorted(others.items()))
        lines.append(
            f"not parameters (not counted): {sum(others.values())} leaves, "
            f"{n_other_values:,} values ({kinds})"
        )
    return "\n".join(lines)
