"""scikit-learn-compatible estimators (needs the optional ``scikit-learn`` extra).

``Ridge`` and ``RidgeCV`` follow scikit-learn's API and pass its ``check_estimator``; see
``jaxl2._sklearn_ridge`` for how float64 data is handled when JAX's x64 mode is off.
"""

from ._sklearn_ridge import Ridge as Ridge
from ._sklearn_ridge import RidgeCV as RidgeCV

__all__ = ["Ridge", "RidgeCV"]
