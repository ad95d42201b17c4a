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

# --- ridge (issue 3) ---
# isort: split
from ._bayes_ridge import BayesianRidgeResult as BayesianRidgeResult
from ._bayes_ridge import bayesian_ridge as bayesian_ridge
from ._ridge import RidgeResult as RidgeResult
from ._ridge import ridge as ridge
from ._ridge import tikhonov as tikhonov
from ._ridge_path import RidgePath as RidgePath
from ._ridge_path import ridge_path as ridge_path
from ._ridge_tune import TuneResult as TuneResult
from ._ridge_tune import tune_ridge as tune_ridge

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
    # ridge (issue 3)
    "ridge",
    "RidgeResult",
    "ridge_path",
    "RidgePath",
    "tikhonov",
    "bayesian_ridge",
    "BayesianRidgeResult",
    "tune_ridge",
    "TuneResult",
]
