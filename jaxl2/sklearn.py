"""scikit-learn estimators backed by jaxl2's solvers (needs ``scikit-learn``).

``import jaxl2`` does not import this module (nor scikit-learn); import it explicitly:
``from jaxl2.sklearn import LogisticRegression, Ridge, RidgeCV``.
"""

from ._linear.sklearn_banded import BandedRidgeCV as BandedRidgeCV
from ._linear.sklearn_banded import KernelRidgeCV as KernelRidgeCV
from ._linear.sklearn_logistic import LogisticRegression as LogisticRegression
from ._linear.sklearn_ridge import Ridge as Ridge
from ._linear.sklearn_ridge import RidgeCV as RidgeCV

__all__ = ["BandedRidgeCV", "KernelRidgeCV", "LogisticRegression", "Ridge", "RidgeCV"]
