"""jaxl2: L2 regularization and its relatives for JAX.

Every objective is ``data term + lam · penalty``; each public docstring writes its objective or
update rule out. Public names live here only; modules whose names start with ``_`` are private.
"""

from . import convert as convert
from . import masks as masks
from . import prox as prox
from ._decay_methods import CPRState as CPRState
from ._decay_methods import SpectralDecayState as SpectralDecayState
from ._decay_methods import WeightNormControlState as WeightNormControlState
from ._decay_methods import adamcpr as adamcpr
from ._decay_methods import adamwn as adamwn
from ._decay_methods import cpr as cpr
from ._decay_methods import describe_spectral_decay as describe_spectral_decay
from ._decay_methods import spectral_decay as spectral_decay
from ._decay_methods import weight_norm_control as weight_norm_control
from ._diagnostics import Equilibrium as Equilibrium
from ._diagnostics import WeightNorms as WeightNorms
from ._diagnostics import equilibrium as equilibrium
from ._diagnostics import weight_norms as weight_norms
from ._linear.banded_ridge import BandedTuneResult as BandedTuneResult
from ._linear.banded_ridge import banded_predict_split as banded_predict_split
from ._linear.banded_ridge import banded_ridge as banded_ridge
from ._linear.banded_ridge import r2_score_split as r2_score_split
from ._linear.banded_ridge import tune_banded_ridge as tune_banded_ridge
from ._linear.bayes_ridge import BayesianRidgeResult as BayesianRidgeResult
from ._linear.bayes_ridge import bayesian_ridge as bayesian_ridge
from ._linear.enet import ElasticNetPathResult as ElasticNetPathResult
from ._linear.enet import elastic_net_path as elastic_net_path
from ._linear.enet import lasso_path as lasso_path
from ._linear.glm import ConvergenceWarning as ConvergenceWarning
from ._linear.kernel_ridge import KernelRidgePathResult as KernelRidgePathResult
from ._linear.kernel_ridge import kernel_matrix as kernel_matrix
from ._linear.kernel_ridge import kernel_ridge_path as kernel_ridge_path
from ._linear.logistic import LogisticPathResult as LogisticPathResult
from ._linear.logistic import LogisticResult as LogisticResult
from ._linear.logistic import logistic_path as logistic_path
from ._linear.logistic import logistic_regression as logistic_regression
from ._linear.ridge import RidgeResult as RidgeResult
from ._linear.ridge import ridge as ridge
from ._linear.ridge import tikhonov as tikhonov
from ._linear.ridge_path import RidgePathResult as RidgePathResult
from ._linear.ridge_path import ridge_path as ridge_path
from ._linear.ridge_tune import TuneResult as TuneResult
from ._linear.ridge_tune import tune_ridge as tune_ridge
from ._linear.svm import SVMResult as SVMResult
from ._linear.svm import linear_svm as linear_svm
from ._penalties import elastic_net as elastic_net
from ._penalties import l1 as l1
from ._penalties import l2 as l2
from ._penalties import penalized as penalized
from ._prox_transform import ProximalState as ProximalState
from ._prox_transform import proximal as proximal
from ._sweep.cv import CVResult as CVResult
from ._sweep.cv import cross_validate as cross_validate
from ._sweep.devices import use_cpu_cores as use_cpu_cores
from ._sweep.population import HalvingResult as HalvingResult
from ._sweep.population import PBTResult as PBTResult
from ._sweep.population import hyperband as hyperband
from ._sweep.population import population_based_training as population_based_training
from ._sweep.population import successive_halving as successive_halving
from ._sweep.results import Best as Best
from ._sweep.results import SweepResult as SweepResult
from ._sweep.sweep import PartialSweep as PartialSweep
from ._sweep.sweep import SweepError as SweepError
from ._sweep.sweep import SweepInfo as SweepInfo
from ._sweep.sweep import SweepInterrupted as SweepInterrupted
from ._sweep.sweep import grid as grid
from ._sweep.sweep import sweep as sweep
from ._sweep.train import train_sweep as train_sweep
from ._sweep.trainer import SweepTrainer as SweepTrainer
from ._sweep.trainer import TrainerState as TrainerState
from ._sweep.util import clear_caches as clear_caches
from ._transforms import DecoupledState as DecoupledState
from ._transforms import WeightDecayState as WeightDecayState
from ._transforms import adam_l2 as adam_l2
from ._transforms import adams as adams
from ._transforms import adamw as adamw
from ._transforms import coupled as coupled
from ._transforms import decoupled as decoupled
from ._transforms import sgdw as sgdw
from ._transforms import weight_decay as weight_decay

__version__ = "0.1.0"

# Old names of renamed public objects: still importable, with a DeprecationWarning.
_DEPRECATED = {
    "RidgePath": ("RidgePathResult", RidgePathResult),
    "KernelRidgePath": ("KernelRidgePathResult", KernelRidgePathResult),
}


def __getattr__(name: str) -> object:
    if name in _DEPRECATED:
        new_name, obj = _DEPRECATED[name]
        import warnings

        warnings.warn(
            f"jaxl2.{name} is deprecated; use jaxl2.{new_name} (the same class).",
            DeprecationWarning,
            stacklevel=2,
        )
        return obj
    raise AttributeError(f"module 'jaxl2' has no attribute {name!r}")


__all__ = [
    # modules
    "convert",
    "masks",
    "prox",
    # penalties
    "l2",
    "l1",
    "elastic_net",
    "penalized",
    # optax transforms
    "weight_decay",
    "coupled",
    "decoupled",
    "adamw",
    "adams",
    "sgdw",
    "adam_l2",
    "WeightDecayState",
    "DecoupledState",
    "proximal",
    "ProximalState",
    # decay methods beyond AdamW
    "cpr",
    "adamcpr",
    "CPRState",
    "weight_norm_control",
    "adamwn",
    "WeightNormControlState",
    "spectral_decay",
    "SpectralDecayState",
    "describe_spectral_decay",
    # diagnostics
    "weight_norms",
    "WeightNorms",
    "equilibrium",
    "Equilibrium",
    # ridge
    "ridge",
    "RidgeResult",
    "ridge_path",
    "RidgePathResult",
    "tikhonov",
    "bayesian_ridge",
    "BayesianRidgeResult",
    "tune_ridge",
    "TuneResult",
    # many targets: banded and kernel ridge
    "banded_ridge",
    "tune_banded_ridge",
    "BandedTuneResult",
    "banded_predict_split",
    "r2_score_split",
    "kernel_ridge_path",
    "KernelRidgePathResult",
    "kernel_matrix",
    # classifiers and sparse paths
    "logistic_regression",
    "LogisticResult",
    "logistic_path",
    "LogisticPathResult",
    "linear_svm",
    "SVMResult",
    "elastic_net_path",
    "lasso_path",
    "ElasticNetPathResult",
    "ConvergenceWarning",
    # sweeps
    "sweep",
    "grid",
    "SweepInfo",
    "SweepError",
    "SweepInterrupted",
    "PartialSweep",
    "clear_caches",
    "train_sweep",
    "SweepTrainer",
    "successive_halving",
    "hyperband",
    "population_based_training",
    "HalvingResult",
    "PBTResult",
    "TrainerState",
    "SweepResult",
    "Best",
    "cross_validate",
    "CVResult",
    "use_cpu_cores",
]
