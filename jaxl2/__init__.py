"""jaxl2: L2 regularization and its relatives for JAX.

Every objective is ``data term + lam * penalty``; each public docstring writes its objective
or update rule out. Public names live here only; modules whose names start with ``_`` are
private.
"""

__version__ = "0.1.0"

__all__: list[str] = []

# --- classifiers (issue 5) ---
from ._enet import ElasticNetPathResult as ElasticNetPathResult  # noqa: E402
from ._enet import elastic_net_path as elastic_net_path  # noqa: E402
from ._enet import lasso_path as lasso_path  # noqa: E402
from ._glm import ConvergenceWarning as ConvergenceWarning  # noqa: E402
from ._logistic import LogisticPathResult as LogisticPathResult  # noqa: E402
from ._logistic import LogisticResult as LogisticResult  # noqa: E402
from ._logistic import logistic_path as logistic_path  # noqa: E402
from ._logistic import logistic_regression as logistic_regression  # noqa: E402
from ._svm import SVMResult as SVMResult  # noqa: E402
from ._svm import linear_svm as linear_svm  # noqa: E402

__all__ += [
    "ConvergenceWarning",
    "ElasticNetPathResult",
    "elastic_net_path",
    "lasso_path",
    "LogisticPathResult",
    "LogisticResult",
    "logistic_path",
    "logistic_regression",
    "SVMResult",
    "linear_svm",
]
