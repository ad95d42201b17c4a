"""SweepTrainer: K members trained at once by one compiled step, fed from any data source."""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from typing import Any, Literal, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from .._checks import check_int, check_transformation, leading_length, traced_callback_free
from .._typing import ArrayLike, ArrayTree, Devices
from .devices import enable_compilation_cache
from .results import metric_mode
from .sweep import _host_hparams, _resolve_devices
from .util import Pending, background, new_cache, pending_specs, resolve
from .util import cache_get as _cache_get

MSG_UNCALLED_OPTIMIZER = (
    "optimizer={name} was passed uncalled: the trainer calls optimizer(h) with each member's "
    "hyperparameters, so h would become the learning rate. Pass a function of h, e.g. "
    "optimizer=lambda h: jaxl2.adamw(1e-3, weight_decay=h)."
)
MSG_GENERATOR = (
    "{name} is a {kind}, but {where} needs a pytree of arrays with a leading example axis. {fix}"
)
MSG_MODE = (
    "monitor={monitor!r}: cannot tell whether it is minimized or maximized. Pass "
    "mode='min' (a loss or error) or mode='max' (an accuracy or score)."
)
MSG_SCHEDULE = """\
Per-member schedules: ``h`` is traced, so optax constructors that branch on a Python value
(``optax.warmup_cosine_decay_schedule(0.0, h["lr"], ...)`` raises TracerBoolConversionError)
must be built with unit peak and scaled: ``lr = lambda t: h["lr"] * unit(t)`` with
``unit = optax.warmup_cosine_decay_schedule(0.0, 1.0, 100, 1000)``."""


class TrainerState(NamedTuple):
    """The state of K members of a :class:`SweepTrainer`, each leaf stacked on a leading axis K.

    Attributes:
        params: the optimized parameters (``nnx.Param`` values as a pure dict for NNX models;
            the floating-point leaves of the functional form).
        model_state: what is carried but not optimized: RNG streams, batch statistics, integer
            leaves (``nnx`` non-``Param`` state; the functional form's ``model_state``).
        opt_state: the optimizer states.
        key: per-member PRNG keys (functional form: ``loss_fn``'s ``key`` is
            ``fold_in(key, step)``).
        step: ``(K,)`` optimizer steps each member has taken.
        active: ``(K,)`` bool, members still updating (False once stopped early or diverged).
        diverged: ``(K,)`` bool, members frozen because their loss or parameters became
            non-finite.
        best: ``(params, model_state)`` at each member's best record (``restore_best=True``),
            else None.
        best_value: ``(K,)`` the best monitored value so far (``±inf`` before the first record).
        best_step: ``(K,)`` the step of the best record (−1 before the first).
        wait: ``(K,)`` records since the last improvement.

    Examples:
        >>> import jax.numpy as jnp, optax, jaxl2
        >>> trainer = jaxl2.SweepTrainer(
        ...     lambda key: jnp.zeros(2), lambda w, b: jnp.sum((w - b) ** 2),
        ...     lambda lr: optax.sgd(lr), jnp.array([0.1, 0.2, 0.3]))
        >>> state = trainer.init()
        >>> state.params.shape, state.step, state.active
        ((3, 2), Array([0, 0, 0], dtype=int32), Array([ True,  True,  True], dtype=bool))
    """

    params: Any
    model_state: Any
    opt_state: Any
    key: jax.Array
    step: jax.Array
    active: jax.Array
    diverged: jax.Array
    best: Any
    best_value: jax.Array
    best_step: jax.Array
    wait: jax.Array


# ----------------------------------------------------------------------------- checks

_CONTAINERS = frozenset({tuple, list, dict})  # batch types that are never iterators


def _is_key(x: Any) -> bool:
    return hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def _is_array(x: Any) -> bool:
    return isinstance(x, (jax.Array, np.ndarray, np.generic))


def check_batch(batch: Any, name: str, where: str) -> int:
    """The common leading length of a batch's leaves; clear errors for generators and ragged
    leaves."""
    if isinstance(batch, Iterator) or inspect.isgenerator(batch):
        kind = "generator" if inspect.isgenerator(batch) else f"iterator ({type(batch).__name__})"
        raise TypeError(
            MSG_GENERATOR.format(
                name=name,
                kind=kind,
                where=where,
                fix="Draw one batch from it (batch = next(it)) and pass that.",
            )
        )
    leaves = jax.tree.leaves(batch)
    if not leaves:
        raise ValueError(f"{name} is empty: give a pytree of arrays, e.g. (X, y).")
    first = {np.shape(x)[0] if np.ndim(x) else None for x in leaves}
    if len(first) == 1 and None not in first and 0 not in first:  # the common case, cheap
        # None was ruled out on this line's condition.
        return first.pop()  # pyright: ignore[reportReturnType]
    return leading_length(batch, name)  # names ragged leaves, and an empty batch


def _feature_shapes(batch: Any) -> Any:
    return jax.tree.map(lambda x: (tuple(np.shape(x)[1:]), np.result_type(x).kind), batch)


def check_like(data: Any, reference: Any, name: str, reference_name: str) -> None:
    """Raises ValueError unless ``data`` has the structure and feature shapes of
    ``reference``."""
    got = jax.tree_util.tree_flatten_with_path(_feature_shapes(data), is_leaf=_is_shape)[0]
    want = jax.tree_util.tree_flatten_with_path(_feature_shapes(reference), is_leaf=_is_shape)[0]
    if [p for p, _ in got] != [p for p, _ in want] or [s[0] for _, s in got] != [
        s[0] for _, s in want
    ]:
        show = lambda f: ", ".join(f"{jax.tree_util.keystr(p)}: {s[0]}" for p, s in f)  # noqa: E731
        raise ValueError(
            f"{name} must have the structure and feature shapes of {reference_name} "
            f"(all but the leading example axis); got {{{show(got)}}}, expected "
            f"{{{show(want)}}}."
        )


def _is_shape(x: Any) -> bool:
    return isinstance(x, tuple) and len(x) == 2 and isinstance(x[1], str)


def check_optimizer(optimizer: Any) -> None:
    if not callable(optimizer):
        raise TypeError(f"optimizer must be callable, got {type(optimizer).__name__}.")
    check_transformation_like = callable(getattr(optimizer, "init", None)) and callable(
        getattr(optimizer, "update", None)
    )
    if check_transformation_like:
        raise TypeError(
            "optimizer must be a function of the hyperparameters h returning an optax "
            "GradientTransformation, e.g. lambda h: jaxl2.adamw(1e-3, weight_decay=h); got "
            f"the transformation {optimizer!r} itself."
        )
    import jaxl2

    name = getattr(optimizer, "__name__", None)
    library = next(
        (lib for lib in (jaxl2, optax) if name and getattr(lib, name, None) is optimizer), None
    )
    if library is None:
        return  # a user's function of h (lambda lr: ... is a learning-rate sweep)
    try:
        first = next(iter(inspect.signature(optimizer).parameters))
    except (TypeError, ValueError, StopIteration):
        return
    if first in ("learning_rate", "lr", "inner"):
        raise TypeError(MSG_UNCALLED_OPTIMIZER.format(name=f"{library.__name__}.{name}"))


def resolve_mode(monitor: str, mode: str | None) -> str:
    """``mode`` if given (checked), else the direction that ``monitor``'s name makes
    unambiguous."""
    if mode is not None:
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}.")
        return mode
    guessed = metric_mode(monitor)
    if guessed is None:
        raise ValueError(MSG_MODE.format(monitor=monitor))
    return guessed


def _n_positional(fn: Callable) -> int | None:
    """2 or 4: how many positional arguments ``fn`` takes (None if it cannot be told)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    for n in (2, 4):
        try:
            sig.bind(*range(n))
        except TypeError:
            continue
        return n
    return None


# ----------------------------------------------------------------------------- models


def _split_leaves(tree: Any) -> tuple[Any, Any, Any]:
    """(trainable floating arrays, carried other arrays, static rest) of a functional params
    tree. Each part is the tree with the other leaves replaced by None."""
    leaves, treedef = jax.tree.flatten(tree)

    def kind(x: Any) -> str:
        if isinstance(x, Pending):
            return "train" if jnp.issubdtype(x.dtype, jnp.inexact) else "carry"
        if not _is_array(x) and not isinstance(x, (float, int)) or isinstance(x, bool):
            return "static"
        if isinstance(x, (float, int)):
            return "static"
        if jnp.issubdtype(x.dtype, jnp.inexact):
            return "train"
        return "carry"

    kinds = [kind(x) for x in leaves]
    parts = {
        k: treedef.unflatten([x if kk == k else None for x, kk in zip(leaves, kinds, strict=True)])
        for k in ("train", "carry", "static")
    }
    return parts["train"], parts["carry"], parts["static"]


def _combine(*trees: Any) -> Any:
    """Merges trees split by :func:`_split_leaves` (the first non-None leaf wins)."""

    def pick(*xs: Any) -> Any:
        return next((x for x in xs if x is not None), None)

    return jax.tree.map(pick, *trees, is_leaf=lambda x: x is None)


def _is_nnx_module(x: Any) -> bool:
    # An nnx.Module instance exists only once flax.nnx is imported: without it, nothing is
    # one, and importing flax here (about 0.4 s) would only slow a one-off functional sweep.
    nnx = sys.modules.get("flax.nnx")
    return nnx is not None and isinstance(x, nnx.Module)


def _wants_rngs(fn: Callable) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "rngs" in params


def _inference(params: Any) -> Any:
    """Equinox modules in inference mode (Dropout off, BatchNorm running statistics)."""
    if any(isinstance(x, eqx.Module) for x in jax.tree.leaves(params, is_leaf=_is_eqx)):
        return eqx.nn.inference_mode(params, value=True)
    return params


def _is_eqx(x: Any) -> bool:
    return isinstance(x, eqx.Module)


# The model's init program runs once per sweep and is dominated by random-number code
# (threefry) that XLA:CPU is slow to optimize: it compiles at LLVM optimization level 1
# instead of 3 (about 2x less compile time, the same values bit for bit; level 0 would round
# differently).
INIT_COMPILER_OPTIONS: dict[str, Any] = {"xla_backend_optimization_level": 1}
# model -> (compiled init program, its static output leaves); jaxl2.clear_caches() empties it.
_inits = new_cache()


def _build_traced(model: Callable, seed: ArrayLike) -> Any:
    """``model(jax.random.key(seed))`` as one compiled program, cached per model object (the
    seed is traced: one program whatever the seed); non-array leaves come back as they are.

    The program is traced and lowered here, then compiled and run in a background thread: the
    array leaves come back as :class:`~jaxl2._sweep.util.Pending` (shape and dtype now, value
    on demand), so that a sweep traces and compiles its own program meanwhile."""

    def build() -> tuple[Any, Any, Any]:
        static = []

        def arrays(s: jax.Array) -> Any:
            dynamic, rest = eqx.partition(model(jax.random.key(s)), eqx.is_array)
            static.append(rest)
            return dynamic

        arrays.__name__ = "model_init"  # names the program in jax_log_compiles
        lowered = jax.jit(arrays).lower(jax.ShapeDtypeStruct((), np.int32))
        options = INIT_COMPILER_OPTIONS if jax.default_backend() == "cpu" else None
        compiled = background(lambda: lowered.compile(compiler_options=options))
        return compiled, lowered.out_info, static[0]

    config = (jax.config.jax_enable_x64, str(jax.config.jax_default_prng_impl))  # pyright: ignore[reportAttributeAccessIssue]
    compiled, out_info, static = _cache_get(_inits, (model, config), build)

    running = background(lambda: compiled.result()(seed))  # after the compilation

    def outputs() -> list:
        try:
            out = running.result()
        except Exception:  # noqa: BLE001 - a compilation XLA refused: the same values eagerly
            out = eqx.partition(model(jax.random.key(seed)), eqx.is_array)[0]
        return jax.tree.leaves(out)

    get = functools.cache(outputs)  # one call, whichever leaf asks first
    leaves, treedef = jax.tree.flatten(out_info)
    pending = [
        Pending(x.shape, x.dtype, lambda i=i: get()[i], weak_type=x.weak_type)
        for i, x in enumerate(leaves)
    ]
    return eqx.combine(jax.tree.unflatten(treedef, pending), static)


def _build(model: Callable, seed: int) -> Any:
    """``model(jax.random.key(seed))``, traced as one program: run eagerly, each of its
    operations compiles on its own, which dominates the start of a one-off sweep. Non-array
    leaves come back as they are (``eqx.filter_jit``); a model that cannot be traced (Python
    control flow on values, host randomness through numpy arrays) or that builds an
    ``nnx.Module`` runs eagerly."""
    try:
        built = _build_traced(model, np.asarray(seed, np.int32))
    except Exception:  # noqa: BLE001 - whatever tracing refuses, the eager call tells apart
        built = None
    else:
        if not any(_is_nnx_module(x) for x in jax.tree.leaves(built, is_leaf=_is_nnx_module)):
            return built
    return model(jax.random.key(seed))


class _Model:
    """One member's pure functions for one model form (NNX, functional 2- or 4-argument)."""

    def __init__(self, model: Any, loss_fn: Callable, seed: int) -> None:
        if not callable(loss_fn):
            raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}.")
        if not (callable(model) or _is_nnx_module(model)):
            raise TypeError(
                "model must be an nnx.Module, a factory lambda rngs: Net(rngs=rngs), or "
                f"model(key) -> params; got {type(model).__name__}."
            )
        self.loss_fn = loss_fn
        self.nnx = False
        if _is_nnx_module(model):
            self._init_nnx(model)
            return
        if _wants_rngs(model):
            from flax import nnx

            self._init_nnx(model(rngs=nnx.Rngs(seed)))
            return
        built = _build(model, seed)
        if _is_nnx_module(built):
            self._init_nnx(built)
            return
        arity = _n_positional(loss_fn)
        if arity is None:
            raise TypeError(
                "loss_fn must take (params, batch) or (params, model_state, batch, key); could "
                f"not read the signature of {loss_fn!r}."
            )
        self.stateful = arity == 4
        if self.stateful:
            if not (isinstance(built, tuple) and len(built) == 2):
                raise TypeError(
                    "loss_fn takes (params, model_state, batch, key), so model(key) must return "
                    f"(params, model_state); got {type(built).__name__}."
                )
            params, model_state = built
        else:
            params, model_state = built, None
        train, carry, self.static = _split_leaves(params)
        if not jax.tree.leaves(train):
            raise ValueError("model(key) returned parameters without floating-point arrays.")
        # Pending leaves: the init program is still compiling (see _build_traced).
        self.start_raw = (train, (carry, model_state))

    @property
    def params0(self) -> Any:
        """The shared initial parameters (waits for the init program)."""
        return self._start()[0]

    @property
    def state0(self) -> Any:
        """The shared initial carried state (waits for the init program)."""
        return self._start()[1]

    def _start(self) -> tuple[Any, Any]:
        self.start_raw = resolve(self.start_raw)
        return self.start_raw

    def _init_nnx(self, module: Any) -> None:
        from flax import nnx

        self.nnx = True
        self.stateful = True
        module.train()
        self.graph_train, params, rest = nnx.split(module, nnx.Param, ...)
        module.eval()
        self.graph_eval = nnx.split(module, nnx.Param, ...)[0]
        module.train()
        self.param_treedef = jax.tree.structure(params)
        params0 = nnx.to_pure_dict(params)
        if jax.tree.structure(params0).num_leaves != self.param_treedef.num_leaves:
            raise ValueError("could not map the model's nnx.Param state to a pure dict.")
        self.start_raw = (params0, rest)

    # -- per member
    def member_state(self, state0: Any, index: jax.Array) -> Any:
        """The carried state for member ``index``: its own RNG streams (NNX)."""
        if not self.nnx:
            return state0

        def fold(x: Any) -> Any:
            if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
                return jax.random.fold_in(x, index)
            return x

        return jax.tree.map(fold, state0)

    def _module(self, params: Any, state: Any, train: bool) -> Any:
        from flax import nnx

        graph = self.graph_train if train else self.graph_eval
        param_state = jax.tree.unflatten(self.param_treedef, jax.tree.leaves(params))
        # Rebuild the Variables in the current trace (e.g. inside jax.grad): nnx refuses to
        # update a Variable made in an outer trace.
        state = jax.tree.unflatten(*reversed(jax.tree.flatten(state)))
        return nnx.merge(graph, param_state, state)

    def full_params(self, params: Any, state: Any) -> Any:
        """What ``loss_fn`` receives as params (functional form)."""
        return _combine(params, state[0], self.static)

    def loss(self, params: Any, state: Any, batch: Any, key: jax.Array) -> tuple:
        """Training mode: ``(loss, new_state)``."""
        if self.nnx:
            from flax import nnx

            module = self._module(params, state, train=True)
            loss = self.loss_fn(module, batch)
            return loss, nnx.split(module, nnx.Param, ...)[2]
        full = self.full_params(params, state)
        if self.stateful:
            loss, model_state = self.loss_fn(full, state[1], batch, key)
            return loss, (state[0], model_state)
        return self.loss_fn(full, batch), state

    def call_eval(self, fn: Callable, params: Any, state: Any, batch: Any) -> Any:
        """``fn`` (loss_fn or a metric) in evaluation mode; a ``(value, aux)`` return is
        unwrapped."""
        if self.nnx:
            out = fn(self._module(params, state, train=False), batch)
        else:
            full = _inference(self.full_params(params, state))
            out = fn(full, state[1], batch, None) if self.stateful else fn(full, batch)
        if isinstance(out, tuple) and len(out) == 2:
            out = out[0]
        return out

    def public_params(self, params: Any, state: Any) -> Any:
        return params if self.nnx else self.full_params(params, state)


# ----------------------------------------------------------------------------- the trainer


class SweepTrainer:
    r"""Trains K members (one per hyperparameter setting) at once, one compiled step per batch.

    Each member k holds its parameters ``w_k``, its carried model state (RNG streams, batch
    statistics) and its optimizer state. :meth:`step` applies, for all members in one
    ``jit(vmap(...))`` program on a batch they share,

    ``g_k = ∇_w loss_fn(w_k, batch)``,  ``(u_k, s_k) = optimizer(h_k).update(g_k, s_k, w_k)``,
    ``w_k ← w_k + u_k``,

    so with ``optimizer=lambda lam: jaxl2.adamw(lr, weight_decay=lam)`` member k minimizes
    ``loss`` with decoupled decay ``w ← w − lr·(m̂/(√v̂ + ε) + λ_k·w)`` (Loshchilov & Hutter
    2019), and with :func:`jaxl2.adam_l2` Adam on ``loss + (λ_k/2)·‖w‖²``. All members start from
    the same initialization (``seed``), so they differ by their hyperparameters and their own
    RNG streams (dropout masks).

    Model forms:
      * **Flax NNX**: ``model`` is ``lambda rngs: Net(rngs=rngs)`` (a factory taking ``rngs``),
        a function ``key -> nnx.Module``, or a module. ``loss_fn(module, batch) -> loss`` is
        called in training mode. Only ``nnx.Param`` leaves are optimized (the optimizer sees
        them as a pure dict, so ``mask="weights"`` works); RNG streams and ``BatchStat``
        (BatchNorm running statistics) are carried per member; each member's ``Dropout``
        (built with ``rngs=rngs``) draws fresh masks every step from its own stream
        (the module's key folded with the member index). Evaluation uses the module in eval
        mode (``module.eval()``: dropout off, running statistics).
      * **Functional, stateless**: ``model(key) -> params`` and ``loss_fn(params, batch)``.
      * **Functional, stateful**: ``model(key) -> (params, model_state)`` and
        ``loss_fn(params, model_state, batch, key) -> (loss, model_state)`` (linen's
        ``mutable=["batch_stats"]``, Equinox's ``eqx.nn.State``). The form is read from
        ``loss_fn``'s signature: four positional arguments mean stateful. ``key`` is a fresh
        per-member key each step; in evaluation ``key`` is **None**: the signal for
        evaluation mode (no dropout, running statistics). Equinox modules in ``params``
        are also put in ``eqx.nn.inference_mode`` for evaluation.

      Only floating-point leaves are optimized; integer, boolean and PRNG-key leaves are
      carried unchanged (never cast, never differentiated); non-array leaves (activation
      functions of Equinox modules) are kept static.

    Per-member schedules: ``optimizer(h)`` is traced with each member's ``h``; any optax
    schedule of an array works. Constructors that branch on a Python value
    (``optax.warmup_cosine_decay_schedule(0.0, h["lr"], ...)``) must be written with a unit peak
    times ``h["lr"]``: ``unit = optax.warmup_cosine_decay_schedule(0.0, 1.0, 10, 100)``,
    ``optax.adam(lambda t: h["lr"] * unit(t))``.

    Early stopping: with ``monitor``, :meth:`record` takes each evaluation; a member that has
    not improved on its best value for ``patience`` records stops updating (frozen, ``active``
    False); with ``restore_best`` the parameters and model state of each member's best record
    are kept on the device (selected with ``jnp.where``) and returned by :meth:`params` and
    :meth:`model`. A member whose loss or parameters become non-finite is frozen before the
    bad update and marked ``diverged``; the others go on.

    Args:
        model: the model (see the forms above).
        loss_fn: ``loss_fn(module, batch)``, ``loss_fn(params, batch)`` or
            ``loss_fn(params, model_state, batch, key) -> (loss, model_state)``.
        optimizer: ``optimizer(h) -> optax.GradientTransformation`` from one member's
            hyperparameters (``h`` is traced).
        hparams: the K settings: an array ``(K,)`` or a pytree of them (see :func:`jaxl2.grid`).
        seed: seeds the initialization (shared) and the members' RNG streams (their own).
        devices: None (default device), an int, a list of devices or a ``Mesh``: the members
            are sharded over them (K must be a multiple of their number).
        monitor: the metric name :meth:`record` reads (e.g. ``"loss"``); needed for
            ``patience`` and ``restore_best``.
        mode: ``"min"`` or ``"max"`` for ``monitor``; default from the name when it is
            unambiguous (loss, error, nll, mse, perplexity: min; accuracy, f1, auc, r2: max).
        patience: records without improvement before a member stops (None: never).
        restore_best: keep each member's best parameters and return them.

    Raises:
        TypeError: non-callable ``model``/``loss_fn``/``optimizer``, an optax factory passed
            uncalled (``optimizer=jaxl2.adamw``), a generator passed as a batch.
        ValueError: bad ``hparams``, ``patience`` or ``restore_best`` without ``monitor``,
            ``mode`` missing for an ambiguous ``monitor``, ragged batches, evaluation data
            shaped unlike the training batches, a metric that is not a scalar.

    Examples:
        >>> import jax.numpy as jnp, numpy as np, optax, jaxl2
        >>> X = np.array([[1.0], [2.0], [3.0]], np.float32); y = 2 * X[:, 0]
        >>> def loss(w, batch):
        ...     xb, yb = batch
        ...     return jnp.mean((xb @ w - yb) ** 2)
        >>> trainer = jaxl2.SweepTrainer(
        ...     lambda key: jnp.zeros(1), loss,
        ...     lambda lam: jaxl2.coupled(optax.sgd(0.05), lam), jnp.array([0.0, 1.0]))
        >>> state = trainer.init()
        >>> for _ in range(100):  # any source of batches: a generator, a DataLoader, ...
        ...     state, losses = trainer.step(state, (X, y))
        >>> # SGD on mean((xw − y)²) + (lam/2)·w²: w = 2·mean(xy) / (2·mean(x²) + lam)
        >>> np.asarray(state.params[:, 0]).round(4)
        array([2.    , 1.8065], dtype=float32)
        >>> trainer.evaluate(state, (X, y))["loss"].round(4)
        Array([0.    , 0.1748], dtype=float32)

    References:
        PyTorch's model ensembling (``torch.func.stack_module_state`` + ``vmap``), Flax NNX's
        vmapped ensembles; early stopping as in Keras ``EarlyStopping``.
    """

    def __init__(
        self,
        model: Any,
        loss_fn: Callable,
        optimizer: Callable[[Any], optax.GradientTransformation],
        hparams: ArrayTree,
        *,
        seed: int = 0,
        devices: Devices = None,
        monitor: str | None = None,
        mode: Literal["min", "max"] | None = None,
        patience: int | None = None,
        restore_best: bool = False,
    ) -> None:
        check_optimizer(optimizer)
        check_int(seed, "seed", None)
        self.h, self.K = _host_hparams(hparams)
        check_int(patience, "patience", allow_none=True)
        if (patience is not None or restore_best) and monitor is None:
            raise ValueError(
                f"patience={patience!r}, restore_best={restore_best!r} need monitor=, the metric "
                "that early stopping reads (e.g. monitor='loss' with trainer.record(state, "
                "trainer.evaluate(state, val_data)))."
            )
        self.monitor = monitor
        self.mode = resolve_mode(monitor, mode) if monitor is not None else None
        self.patience = None if patience is None else int(patience)
        self.restore_best = bool(restore_best)
        self.seed = int(seed)
        self.optimizer = optimizer
        # JAX's persistent compilation cache, on for sweeps as for jaxl2.sweep (opt out with
        # JAXL2_COMPILATION_CACHE=0): before the model's init program compiles.
        enable_compilation_cache()
        self.form = _Model(model, loss_fn, self.seed)
        self.mesh = _resolve_devices(devices)
        if self.mesh is not None and self.K % self.mesh.devices.size:
            raise ValueError(
                f"devices: K = {self.K} members cannot be split evenly over "
                f"{self.mesh.devices.size} devices; use a K that is a multiple of it."
            )
        self._check_members_on_host()
        self._train_shapes = None
        self._checked_batches: set = set()
        self._compiled: dict[Hashable, Callable] = {}

    def _check_members_on_host(self, hparams: Any = None) -> None:
        """Builds ``optimizer(h_k)`` for every member from its concrete hyperparameters, so
        that value checks (a negative weight decay, a NaN learning rate) raise now, naming the
        value. The compiled programs are then traced under
        :func:`~jaxl2._checks.callback_free_checks`: no host callback in them (JAX's persistent
        compilation cache can store them), and a check that only fails at run time (a
        schedule's value) marks that member non-finite instead of stopping the others."""
        h = self.h if hparams is None else hparams
        for k in range(len(jax.tree.leaves(h)[0])):
            h_k = jax.tree.map(lambda a, k=k: a[k], h)
            try:
                self.tx(h_k)
            except (ValueError, TypeError) as error:
                cls = ValueError if isinstance(error, ValueError) else TypeError
                raise cls(f"hparams member {k} ({_show(h_k)}): {error}") from error
            except Exception:  # noqa: BLE001 - e.g. code that needs a jax array: checked traced
                return

    # -- one member's pure functions (train_sweep builds on them)
    def tx(self, h: Any) -> optax.GradientTransformation:
        tx = self.optimizer(h)
        check_transformation(
            tx, "optimizer(h) must return", "lambda h: jaxl2.adamw(1e-3, weight_decay=h)"
        )
        return tx

    @property
    def start(self) -> tuple[Any, Any]:
        """The shared initialization ``(params, model_state)``, passed to :meth:`member_init`
        as an argument (not baked into the compiled program as constants)."""
        return self.form.params0, self.form.state0

    def start_data(self) -> tuple[Any, Any]:
        """:attr:`start` with PRNG-key leaves as their raw ``uint32`` data (for code that takes
        only numeric arrays); :meth:`member_init` accepts either."""
        return resolve(self._start_data())

    def _start_data(self) -> tuple[Any, Any]:
        """:meth:`start_data` without waiting: leaves the model's init program is still
        computing are :class:`~jaxl2._sweep.util.Pending` (``run_sweep`` compiles the sweep's
        program from their shapes meanwhile)."""
        start = self._start_nowait()
        return jax.tree.map(lambda x: jax.random.key_data(x) if _is_key(x) else x, start)

    def _start_nowait(self) -> tuple[Any, Any]:
        """:attr:`start` as it stands, with :class:`~jaxl2._sweep.util.Pending` leaves where the
        model's init program is still computing, unless it holds PRNG keys (whose
        implementation is read from the values): then :attr:`start`, waiting."""
        start = self.form.start_raw
        return self.start if any(_is_key(x) for x in jax.tree.leaves(start)) else start

    def _wrap_keys(self, start: tuple[Any, Any]) -> tuple[Any, Any]:
        def wrap(x: Any, ref: Any) -> Any:
            if _is_key(ref) and not _is_key(x):
                return jax.random.wrap_key_data(x, impl=jax.random.key_impl(ref))
            return x

        return jax.tree.map(wrap, start, self._start_nowait())  # the dtypes only

    def member_init(self, h: Any, index: jax.Array, start: tuple[Any, Any]) -> TrainerState:
        """Member ``index``'s initial state (no leading K axis) from ``start``."""
        form = self.form
        start = self._wrap_keys(start)
        params = jax.tree.map(jnp.asarray, start[0])
        state = form.member_state(start[1], index)
        opt_state = self.tx(h).init(params)
        sign = 1.0 if self.mode != "max" else -1.0
        best = (params, state) if self.restore_best else None
        return TrainerState(
            params=params,
            model_state=state,
            opt_state=opt_state,
            key=jax.random.fold_in(jax.random.fold_in(jax.random.key(self.seed), 0x5EED), index),
            step=jnp.zeros((), jnp.int32),
            active=jnp.ones((), bool),
            diverged=jnp.zeros((), bool),
            best=best,
            best_value=jnp.asarray(sign * jnp.inf, jnp.float32),
            best_step=jnp.full((), -1, jnp.int32),
            wait=jnp.zeros((), jnp.int32),
        )

    def member_step(self, h: Any, s: TrainerState, batch: Any) -> tuple[TrainerState, jax.Array]:
        """One optimizer step of one member; frozen members keep their state."""
        new, go, ok, loss = self._member_candidate(h, s, batch)
        return self._member_commit(s, new, go, ok), loss

    def _member_candidate(self, h: Any, s: TrainerState, batch: Any) -> tuple:
        """The updated state of one member as if it went on, whether it goes on (``go``), whether
        its loss and new parameters are finite (``ok``) and its loss."""
        # loss_fn sees a key only in the functional four-argument form (NNX carries its own
        # RNG streams): no key derivation in the program otherwise.
        uses_key = self.form.stateful and not self.form.nnx
        key = jax.random.fold_in(s.key, s.step) if uses_key else None
        grad_fn = jax.value_and_grad(self.form.loss, has_aux=True)
        (loss, model_state), grads = grad_fn(s.params, s.model_state, batch, key)
        if jnp.shape(loss) != ():
            raise ValueError(f"loss_fn must return a scalar, got shape {jnp.shape(loss)}.")
        updates, opt_state = self.tx(h).update(grads, s.opt_state, s.params)
        params = optax.apply_updates(s.params, updates)
        ok = jnp.isfinite(loss)
        for leaf in jax.tree.leaves(params):
            # x − x is 0 where x is finite and NaN where it is not (inf − inf, NaN − NaN), and a
            # sum keeps the NaN: one fused pass reading the leaf. jnp.all(jnp.isfinite(x))
            # writes a bool array first and reduces it in two more passes (XLA:CPU).
            ok = ok & jnp.isfinite(jnp.sum(leaf - leaf))
        new = s._replace(params=params, model_state=model_state, opt_state=opt_state)
        return new, s.active & ok, ok, loss

    @staticmethod
    def _member_commit(
        s: TrainerState, new: TrainerState, go: jax.Array, ok: jax.Array, select: bool = True
    ) -> TrainerState:
        """``new`` where the member goes on, ``s`` where it is frozen (``select=False``: every
        member goes on, nothing to select)."""
        if select:

            def keep(a: Any, b: Any) -> Any:
                return jax.tree.map(lambda x, y: jnp.where(go, x, y), a, b)

            new = new._replace(
                params=keep(new.params, s.params),
                model_state=keep(new.model_state, s.model_state),
                opt_state=keep(new.opt_state, s.opt_state),
            )
        return new._replace(
            step=s.step + go.astype(jnp.int32),
            diverged=s.diverged | (s.active & ~ok),
            active=go,
        )

    # The fields the step reads and writes: the first seven of TrainerState, less the key where
    # loss_fn takes none. The others (early stopping's best records) pass by it on the host,
    # with no transfer or conversion per step. A plain tuple slice, so that the per-call work
    # on the host is two slices and one tuple.
    def _step_layout(self) -> tuple[int, ...]:
        uses_key = self.form.stateful and not self.form.nnx
        return (0, 1, 2, 3, 4, 5, 6) if uses_key else (0, 1, 2, 4, 5, 6)

    @property
    def _fields(self) -> tuple[str, ...]:
        """The names of the fields :meth:`step`'s program takes and returns, in order."""
        return tuple(TrainerState._fields[i] for i in self._step_layout())

    def _step_args(self, state: TrainerState) -> tuple:
        """The fields of ``state`` the step's program takes (see :meth:`_step_layout`)."""
        return state[:7] if len(self._step_layout()) == 7 else state[:3] + state[4:7]

    def _step_all(self, h: Any, core: tuple, batch: Any) -> tuple[tuple, jax.Array]:
        """All K members' step (the program behind :meth:`step`) on the step's fields. While
        every member goes on (the common case), the new state is taken as is; the per-leaf
        selection that keeps frozen members' state runs only when one is frozen (a ``cond``
        outside the vmap, so it is a real branch, not a select over every buffer).

        Its price (XLA:CPU, MLP 64-128-10, K = 16): the common branch copies the new
        parameters and optimizer state into the donated buffers, since a member's old state
        must live until its new parameters are known to be finite (3.7 MB of the 20.3 MB that
        branch's path reads and writes; a hand-written step without the check: 16.1 MB).
        Measured and slower or no better: a ``where`` without the ``cond`` (reads both states,
        writes one), no donation with a ``while_loop`` fix-up (fresh output buffers each step),
        and deciding first by recomputing the update, then writing in place (XLA then copies
        the old state, or the gradients into the loop's layout)."""
        layout = self._step_layout()
        fields: list[Any] = [None] * len(TrainerState._fields)
        for i, value in zip(layout, core, strict=True):
            fields[i] = value
        s = TrainerState(*fields)
        new, go, ok, loss = jax.vmap(self._member_candidate, in_axes=(0, 0, None))(h, s, batch)
        commit = jax.vmap(self._member_commit, in_axes=(0, 0, 0, 0, None))
        s = jax.lax.cond(
            jnp.all(go),
            lambda: commit(s, new, go, ok, False),
            lambda: commit(s, new, go, ok, True),
        )
        return tuple(s[i] for i in layout), loss

    def member_metrics(
        self, s: TrainerState, batch: Any, metrics: tuple[tuple[str, Callable], ...]
    ) -> dict[str, jax.Array]:
        """``{"loss", *metrics}`` of one member on one batch, in evaluation mode."""
        form = self.form
        out = {"loss": form.call_eval(form.loss_fn, s.params, s.model_state, batch)}
        for name, metric in metrics:
            out[name] = form.call_eval(metric, s.params, s.model_state, batch)
        for name, value in out.items():
            if jnp.shape(value) != ():
                what = "loss_fn" if name == "loss" else f"metrics[{name!r}]"
                raise ValueError(
                    f"{what} must return a scalar (one number per batch), got shape "
                    f"{jnp.shape(value)}; reduce it, e.g. with jnp.mean."
                )
        return {k: jnp.asarray(v) for k, v in out.items()}

    def member_record(self, s: TrainerState, value: jax.Array) -> TrainerState:
        """Early stopping bookkeeping for one member from one monitored ``value``."""
        value = jnp.asarray(value, jnp.float32)
        better = value < s.best_value if self.mode == "min" else value > s.best_value
        finite = jnp.isfinite(value)
        improved = s.active & finite & better
        best = s.best
        if best is not None:
            best = jax.tree.map(
                lambda b, c: jnp.where(improved, c, b), best, (s.params, s.model_state)
            )
        wait = jnp.where(improved, 0, s.wait + s.active.astype(jnp.int32))
        active = s.active & finite
        if self.patience is not None:
            active = active & (wait < self.patience)
        return s._replace(
            best=best,
            best_value=jnp.where(improved, value, s.best_value),
            best_step=jnp.where(improved, s.step, s.best_step),
            wait=wait,
            active=active,
            diverged=s.diverged | (s.active & ~finite),
        )

    def member_final(self, s: TrainerState) -> tuple[Any, Any]:
        """(params, model_state) to report: the best record's with ``restore_best``."""
        if s.best is None:
            return s.params, s.model_state
        have = s.best_step >= 0
        return jax.tree.map(lambda b, c: jnp.where(have, b, c), s.best, (s.params, s.model_state))

    # -- K members
    def _place(self, tree: Any) -> Any:
        if self.mesh is None:
            return tree
        sharding = NamedSharding(self.mesh, P(tuple(self.mesh.axis_names)))
        return jax.device_put(tree, sharding)

    def _program(self, name: Hashable, build: Callable[[], Callable]) -> Callable:
        if name not in self._compiled:
            self._compiled[name] = build()
        return self._compiled[name]

    def init(self) -> TrainerState:
        """The K members' initial state, stacked on a leading axis K (sharded over ``devices``).

        Returns:
            A :class:`TrainerState`.
        """
        init = self._program(
            "init",
            lambda: jax.jit(traced_callback_free(jax.vmap(self.member_init, in_axes=(0, 0, None)))),
        )
        index = np.arange(self.K, dtype=np.int32)  # numpy: no eager program to compile
        h, index = self._place((self.h, index))
        if self.mesh is None:  # on the device once, not transferred again at every step
            h = jax.device_put(h)
        self._h = h
        start = self.form.start_raw
        if self.mesh is None and any(isinstance(x, Pending) for x in jax.tree.leaves(start)):
            # Compiled from the shapes while the model's init program computes the values (in
            # a background thread); the call below then reuses the compiled program.
            init.lower(h, index, pending_specs(start)).compile()
        return init(h, index, self.start)

    def step(self, state: TrainerState, batch: Any) -> tuple[TrainerState, jax.Array]:
        """One optimizer step for every member on a shared ``batch``.

        One compiled program (cached per batch shape) runs all members; ``state``'s buffers
        are donated (do not reuse the ``state`` passed in). Nothing but the losses is meant
        to go to the host.

        Args:
            state: from :meth:`init` or a previous :meth:`step`.
            batch: a pytree of arrays with a leading example axis (numpy or jax).

        Returns:
            ``(state, losses)``: the new state and the ``(K,)`` training losses before the step
            (in training mode).
        """
        # Per call on the host: the batch's signature (structure, shapes, dtypes; its checks
        # ran on the first batch of that signature), two tuple slices and the compiled call
        # (JAX's C++ fast path). Nothing is validated, converted or copied per leaf, nothing
        # waits for the device: the losses come back as a device array.
        if type(batch) not in _CONTAINERS and isinstance(batch, Iterator):
            check_batch(batch, "batch", "SweepTrainer.step")  # raises: draw one batch
        try:
            leaves, treedef = jax.tree_util.tree_flatten(batch)
            signature = (treedef, *[(x.shape, x.dtype) for x in leaves])
        except AttributeError:  # a leaf that is not an array (or a generator): checked in full
            signature = None
        if signature is None or signature not in self._checked_batches:
            self._check_new_batch(batch, signature)
        if getattr(state[4], "is_deleted", bool)():  # the step counter, donated with the rest
            raise ValueError(
                "SweepTrainer.step: state was already passed to step (its buffers are donated "
                "to the new state); pass the state the previous step returned: "
                "state, losses = trainer.step(state, batch)."
            )
        program = self._step_program
        if program is None:
            program = self._build_step()
        if self._split7:
            core, losses = program(self._h, state[:7], batch)
            return TrainerState._make(core + state[7:]), losses
        core, losses = program(self._h, state[:3] + state[4:7], batch)
        return TrainerState._make(core[:3] + state[3:4] + core[3:] + state[7:]), losses

    def _check_new_batch(self, batch: Any, signature: Hashable) -> None:
        """The checks of a batch of a signature not seen before (all of them when it has
        none); remembered for up to 64 signatures."""
        check_batch(batch, "batch", "SweepTrainer.step")
        if signature is not None and len(self._checked_batches) < 64:
            self._checked_batches.add(signature)
        if self._train_shapes is None:
            self._train_shapes = batch

    _step_program: Callable | None = None

    def _build_step(self) -> Callable:
        """The compiled step (built once; its first call per batch shape compiles)."""
        program = self._program(
            "step", lambda: jax.jit(traced_callback_free(self._step_all), donate_argnums=(1,))
        )
        self._split7 = len(self._step_layout()) == 7
        self._hparams()
        self._step_program = program
        return program

    def _hparams(self) -> Any:
        if not hasattr(self, "_h"):
            self._h = self._place(self.h) if self.mesh is not None else jax.device_put(self.h)
        return self._h

    def record(self, state: TrainerState, metrics: Mapping[str, Any]) -> TrainerState:
        """Early stopping: updates each member's best value, best step, best parameters and
        patience from one evaluation (``metrics[monitor]``, shape ``(K,)``).

        Args:
            state: the current state.
            metrics: e.g. ``trainer.evaluate(state, val_data)``.

        Returns:
            The state, with ``active`` False for members that ran out of patience.
        """
        if self.monitor is None:
            raise ValueError("record needs monitor= on the SweepTrainer (e.g. monitor='loss').")
        if self.monitor not in metrics:
            raise KeyError(
                f"monitor={self.monitor!r} is not among the metrics given: {sorted(metrics)}."
            )
        record = self._program(
            "record",
            lambda: jax.jit(
                traced_callback_free(jax.vmap(self.member_record)), donate_argnums=(0,)
            ),
        )
        return record(state, jnp.asarray(metrics[self.monitor], jnp.float32))

    def evaluate(
        self,
        state: TrainerState,
        data: Any,
        metrics: Mapping[str, Callable] | None = None,
    ) -> dict[str, jax.Array]:
        """Every member's loss and metrics in evaluation mode (dropout off, running
        statistics).

        Args:
            state: the current state (not consumed).
            data: a pytree of arrays (one batch), or an iterable of such batches (a list, a
                generator, a DataLoader): each value is then the mean over examples, batches
                weighted by their size.
            metrics: ``{name: metric}`` called like ``loss_fn`` (``metric(module, batch)`` for
                NNX, ``metric(params, batch)`` or ``metric(params, model_state, batch, None)``)
                and returning a scalar (or ``(scalar, aux)``).

        Returns:
            ``{"loss": (K,), name: (K,) ...}`` as jax arrays.
        """
        items = tuple(sorted((metrics or {}).items()))
        for name, metric in items:
            if not callable(metric):
                raise TypeError(f"metrics[{name!r}] must be callable, got {type(metric).__name__}.")
        key = ("eval", items)
        program = self._program(
            key,
            lambda: jax.jit(
                traced_callback_free(
                    jax.vmap(lambda s, b: self.member_metrics(s, b, items), in_axes=(0, None))
                )
            ),
        )
        batches = _batches(data, "data")
        totals: dict[str, jax.Array] = {}
        count, first = 0, False
        for batch in batches:
            n = check_batch(batch, "data", "SweepTrainer.evaluate")
            if self._train_shapes is not None:
                check_like(batch, self._train_shapes, "data", "the training batches")
            values = program(state, batch)
            if count == 0:  # one batch is its own mean: no weighting, no eager programs
                totals, first = values, True
            else:
                if first:
                    totals, first = {k: v * count for k, v in totals.items()}, False
                totals = {k: totals[k] + v * n for k, v in values.items()}
            count += n
        if count == 0:
            raise ValueError("data holds no batch: give arrays or a non-empty iterable.")
        return totals if first else {k: v / count for k, v in totals.items()}

    def params(self, state: TrainerState, k: int) -> Any:
        """Member ``k``'s parameters as a pure pytree (the best record's with
        ``restore_best``)."""
        k = self._index(k)
        params, model_state = self.member_final(_member(state, k))
        return self.form.public_params(params, model_state)

    def model(self, state: TrainerState, k: int) -> Any:
        """Member ``k`` as an ``nnx.Module`` in eval mode (NNX models only)."""
        if not self.form.nnx:
            raise TypeError("model(state, k) is for NNX models; use params(state, k).")
        k = self._index(k)
        params, model_state = self.member_final(_member(state, k))
        return self.form._module(params, model_state, train=False)

    def _index(self, k: Any) -> int:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not -self.K <= k < self.K:
            raise IndexError(f"k must be a member index in [0, {self.K}), got {k!r}.")
        return int(k) % self.K


def _show(h: Any) -> str:
    """One member's hyperparameters, short: ``0.01`` or ``{'lr': 0.1, 'wd': 0.01}``."""
    shown = jax.tree.map(lambda x: np.asarray(x).tolist(), h)
    return repr(shown)


def _member(state: TrainerState, k: int) -> TrainerState:
    return jax.tree.map(lambda x: x[k], state)


def _batches(data: Any, name: str) -> Iterable:
    """An iterable of batches from arrays (one batch), an iterable, or a zero-arg callable."""
    if callable(data) and not _is_array(data):
        data = data()
    if isinstance(data, list) and all(_is_array(x) for x in data):
        return [data]  # a list of arrays is one batch, like a tuple
    if isinstance(data, (list, Iterator)) or inspect.isgenerator(data):
        return data
    if isinstance(data, Iterable) and not isinstance(data, (tuple, dict)) and not _is_array(data):
        return data
    return [data]
