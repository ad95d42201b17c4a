"""The sweep engine: running many hyperparameter settings as one vmapped program (``sweep``), the
trainer and ``train_sweep`` on it, cross-validation, results, checkpoints, devices, the automatic
strategy choice, and the population methods (successive halving, Hyperband, PBT).
Private: the public names are in ``jaxl2/__init__.py``."""
