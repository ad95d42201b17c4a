"""Root pytest configuration: applies to tests/ and to the doctests in jaxl2/.

Rank promotion raises everywhere. Dtype promotion is strict inside every test under tests/
(an autouse fixture in tests/conftest.py) except those marked ``standard_promotion``: optax
0.2.8's Adam bias correction (``decay ** count``, a Python float to an int32 power) and its
schedules fail under strict promotion, so tests that run them, and the doctests (which show
``jaxl2.adamw``), use standard promotion. Every other test runs jaxl2 under strict promotion,
which keeps the library itself free of implicit promotions.
"""

import os

import jax

jax.config.update("jax_numpy_rank_promotion", "raise")

# Small problem sizes in the suite; `make notebooks` sets "full".
os.environ.setdefault("JAXL2_NOTEBOOK_SIZE", "small")
# No on-disk caches in the suite (sweep's remembered "auto" decisions, JAX's persistent
# compilation cache): each run starts cold, and nothing is written to the user's cache home.
os.environ.setdefault("JAXL2_CACHE_DIR", "off")
