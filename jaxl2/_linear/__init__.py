"""The linear solvers.

Ridge (paths, many targets, bands, kernels), GLMs (logistic, SVM, elastic net), Bayesian ridge, and
the scikit-learn estimators built on them. Private: the public names are in ``jaxl2/__init__.py``
and ``jaxl2.sklearn``.
"""
