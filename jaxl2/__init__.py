"""jaxl2: L2 regularization and its relatives for JAX.

Every objective is ``data term + lam · penalty``; each public docstring writes its objective or
update rule out. Public names live here only; modules whose names start with ``_`` are private.
"""

from . import convert as convert
from . import masks as masks

# --- penalties and optax transforms (foundation, issue 2) ---
from ._diagnostics import Equilibrium as Equilibrium
from ._diagnostics import WeightNorms as WeightNorms
from ._diagnostics import equilibrium as equilibrium
from ._diagnostics import weight_norms as weight_norms
from ._penalties import elastic_net as elastic_net
from ._penalties import l1 as l1
from ._penalties import l2 as l2
from ._penalties import penalized as penalized
from ._transforms import DecoupledState as DecoupledState
from ._transforms import WeightDecayState as WeightDecayState
from ._transforms import adam_l2 as adam_l2
from ._transforms import adamw as adamw
from ._transforms import coupled as coupled
from ._transforms import decoupled as decoupled
from ._transforms import sgdw as sgdw
from ._transforms import weight_decay as weight_decay

__version__ = "0.1.0"

__all__ = [
    "convert",
    "masks",
    # foundation
    "l2",
    "l1",
    "elastic_net",
    "penalized",
    "weight_decay",
    "coupled",
    "decoupled",
    "adamw",
    "sgdw",
    "adam_l2",
    "WeightDecayState",
    "DecoupledState",
    "weight_norms",
    "WeightNorms",
    "equilibrium",
    "Equilibrium",
]

# --- sweeps (issue 6) ---
from ._cv import CVResult as CVResult
from ._cv import cross_validate as cross_validate
from ._devices import use_cpu_cores as use_cpu_cores
from ._results import Best as Best
from ._results import SweepResult as SweepResult
from ._sweep import PartialSweep as PartialSweep
from ._sweep import SweepError as SweepError
from ._sweep import grid as grid
from ._sweep import sweep as sweep
from ._train import train_sweep as train_sweep

__all__ += ["use_cpu_cores", "sweep", "grid", "SweepError", "PartialSweep"]
__all__ += ["train_sweep", "SweepResult", "Best", "cross_validate", "CVResult"]
