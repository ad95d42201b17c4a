"""jaxl2: L2 regularization and its relatives for JAX.

Every objective is ``data term + lam * penalty``; each public docstring writes its objective
or update rule out. Public names live here only; modules whose names start with ``_`` are
private.
"""

__version__ = "0.1.0"

__all__: list[str] = []

# --- ridge (issue 3) ---
from ._bayes_ridge import BayesianRidgeResult as BayesianRidgeResult
from ._bayes_ridge import bayesian_ridge as bayesian_ridge
from ._ridge import RidgeResult as RidgeResult
from ._ridge import ridge as ridge
from ._ridge import tikhonov as tikhonov
from ._ridge_path import RidgePath as RidgePath
from ._ridge_path import ridge_path as ridge_path
from ._ridge_tune import TuneResult as TuneResult
from ._ridge_tune import tune_ridge as tune_ridge

__all__ += [
    "BayesianRidgeResult",
    "RidgePath",
    "RidgeResult",
    "TuneResult",
    "bayesian_ridge",
    "ridge",
    "ridge_path",
    "tikhonov",
    "tune_ridge",
]
