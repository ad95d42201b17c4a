"""Shared fixtures for the test suite."""

import os

import jax
import pytest

CI = os.environ.get("CI", "").lower() == "true"
SLOW = os.environ.get("JAXL2_SLOW") == "1"


@pytest.fixture(autouse=True)
def _dtype_promotion(request):
    """Strict dtype promotion, unless the test is marked ``standard_promotion`` (see conftest.py)."""
    strict = request.node.get_closest_marker("standard_promotion") is None
    with jax.numpy_dtype_promotion("strict" if strict else "standard"):
        yield


@pytest.fixture
def x64():
    """Runs the test with 64-bit floats enabled (``jax.enable_x64``), restoring the setting."""
    with jax.enable_x64(True):
        yield


def pytest_collection_modifyitems(config, items):
    skip_slow = pytest.mark.skip(reason="slow test: set JAXL2_SLOW=1 to run it")
    for item in items:
        if "slow" in item.keywords and not SLOW:
            item.add_marker(skip_slow)
