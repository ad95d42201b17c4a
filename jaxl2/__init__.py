"""jaxl2: L2 regularization and its relatives for JAX.

Every objective is ``data term + lam * penalty``; each public docstring writes its objective
or update rule out. Public names live here only; modules whose names start with ``_`` are
private.
"""

__version__ = "0.1.0"

__all__: list[str] = []
