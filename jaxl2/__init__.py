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

# --- classifiers (issue 5) ---
from . import prox as prox  # noqa: E402
from ._enet import ElasticNetPathResult as ElasticNetPathResult  # noqa: E402
from ._enet import elastic_net_path as elastic_net_path  # noqa: E402
from ._enet import lasso_path as lasso_path  # noqa: E402
from ._glm import ConvergenceWarning as ConvergenceWarning  # noqa: E402
from ._logistic import LogisticPathResult as LogisticPathResult  # noqa: E402
from ._logistic import LogisticResult as LogisticResult  # noqa: E402
from ._logistic import logistic_path as logistic_path  # noqa: E402
from ._logistic import logistic_regression as logistic_regression  # noqa: E402
from ._prox_transform import ProximalState as ProximalState  # noqa: E402
from ._prox_transform import proximal as proximal  # noqa: E402
from ._svm import SVMResult as SVMResult  # noqa: E402
from ._svm import linear_svm as linear_svm  # noqa: E402

__all__ += [
    "prox",
    "ConvergenceWarning",
    "ElasticNetPathResult",
    "elastic_net_path",
    "lasso_path",
    "LogisticPathResult",
    "LogisticResult",
    "logistic_path",
    "logistic_regression",
    "ProximalState",
    "proximal",
    "SVMResult",
    "linear_svm",
]

# --- ridge (issue 3) ---
from ._bayes_ridge import BayesianRidgeResult as BayesianRidgeResult  # noqa: E402
from ._bayes_ridge import bayesian_ridge as bayesian_ridge  # noqa: E402
from ._ridge import RidgeResult as RidgeResult  # noqa: E402
from ._ridge import ridge as ridge  # noqa: E402
from ._ridge import tikhonov as tikhonov  # noqa: E402
from ._ridge_path import RidgePath as RidgePath  # noqa: E402
from ._ridge_path import ridge_path as ridge_path  # noqa: E402
from ._ridge_tune import TuneResult as TuneResult  # noqa: E402
from ._ridge_tune import tune_ridge as tune_ridge  # noqa: E402

__all__ += [
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

# --- sweeps (issue 6) ---
from ._cv import CVResult as CVResult  # noqa: E402
from ._cv import cross_validate as cross_validate  # noqa: E402
from ._devices import use_cpu_cores as use_cpu_cores  # noqa: E402
from ._results import Best as Best  # noqa: E402
from ._results import SweepResult as SweepResult  # noqa: E402
from ._sweep import PartialSweep as PartialSweep  # noqa: E402
from ._sweep import SweepError as SweepError  # noqa: E402
from ._sweep import grid as grid  # noqa: E402
from ._sweep import sweep as sweep  # noqa: E402
from ._train import train_sweep as train_sweep  # noqa: E402

__all__ += ["use_cpu_cores", "sweep", "grid", "SweepError", "PartialSweep"]
__all__ += ["train_sweep", "SweepResult", "Best", "cross_validate", "CVResult"]
