"""Root pytest configuration: applies to tests/ and to the doctests in jaxl2/.

JAX is made strict (no implicit dtype or rank promotion) so that the library never relies on
promotion rules that differ between user settings; pyproject.toml turns warnings into errors.
"""

import os

import jax

jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")

# Small problem sizes in CI and under `make test`; JAXL2_SLOW=1 runs the larger cases too.
os.environ.setdefault("JAXL2_NOTEBOOK_SIZE", "small")
