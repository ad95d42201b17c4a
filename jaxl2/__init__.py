"""jaxl2: L2 regularization and its relatives for JAX.

Every objective is ``data term + lam * penalty``; each public docstring writes its objective
or update rule out. Public names live here only; modules whose names start with ``_`` are
private.
"""

__version__ = "0.1.0"

__all__: list[str] = []

# --- sweeps (issue 6) ---
from ._devices import use_cpu_cores as use_cpu_cores
from ._sweep import PartialSweep as PartialSweep
from ._sweep import SweepError as SweepError
from ._sweep import grid as grid
from ._sweep import sweep as sweep

__all__ += ["use_cpu_cores", "sweep", "grid", "SweepError", "PartialSweep"]
