"""Type aliases for jaxl2's public signatures, after optax's ``optax.Params`` and friends.

Only annotations use these; nothing here is checked at run time.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import jax
import optax
from jax.typing import ArrayLike as ArrayLike
from jax.typing import DTypeLike as DTypeLike
from optax import Params as Params
from optax import ScalarOrSchedule as ScalarOrSchedule

if TYPE_CHECKING:
    from jax.experimental.sparse import BCOO
    from jax.sharding import Mesh

__all__ = [
    "ArrayLike",
    "ArrayTree",
    "DTypeLike",
    "Data",
    "Devices",
    "Matrix",
    "MaskLike",
    "Params",
    "PathLike",
    "ScalarOrSchedule",
]

# A pytree of arrays that is not a model's parameters (hyperparameter grids, batches).
ArrayTree: TypeAlias = optax.Params
# What a ``mask=`` argument accepts (see :mod:`jaxl2.masks`): None (every leaf), ``"weights"``, a
# bool or a pytree of bools (or of bool arrays), or a callable ``params -> bool pytree``.
MaskLike: TypeAlias = None | str | bool | optax.Params | Callable[[optax.Params], Any]
# A design matrix: dense, or a ``jax.experimental.sparse.BCOO`` where the solver says so.
Matrix: TypeAlias = "ArrayLike | BCOO"
# Training data: a pytree of arrays (one batch), an iterable of such batches, or a callable.
Data: TypeAlias = optax.Params | Iterable[optax.Params] | Callable[..., Any]
# Devices to shard a sweep's members over: a count, a list of devices or a mesh.
# (``jax.Device`` is bound by assignment in ``jax/__init__.py``; pyright takes it for a variable.)
Devices: TypeAlias = "int | Sequence[jax.Device] | Mesh | None"  # pyright: ignore[reportInvalidTypeForm]
PathLike: TypeAlias = str | os.PathLike[str]
