"""Renamed public names stay importable, with a DeprecationWarning that names the new one."""

import jax.numpy as jnp
import pytest

import jaxl2


@pytest.mark.parametrize(
    ("old", "new"),
    [("RidgePath", "RidgePathResult"), ("KernelRidgePath", "KernelRidgePathResult")],
)
def test_old_result_name_warns_and_is_the_new_class(old, new):
    with pytest.warns(DeprecationWarning, match=f"jaxl2.{old} is deprecated; use jaxl2.{new}"):
        cls = getattr(jaxl2, old)
    assert cls is getattr(jaxl2, new)
    assert old not in jaxl2.__all__ and new in jaxl2.__all__


def test_old_name_works_with_from_import_and_isinstance():
    with pytest.warns(DeprecationWarning, match="RidgePathResult"):
        from jaxl2 import RidgePath
    X = jnp.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    y = jnp.array([1.0, 2.0, 3.0])
    path = jaxl2.ridge_path(X, y, jnp.array([0.1, 1.0]))
    assert isinstance(path, RidgePath)
    assert type(path).__name__ == "RidgePathResult"


def test_unknown_attribute_still_raises():
    with pytest.raises(AttributeError, match="no attribute 'NoSuchName'"):
        jaxl2.NoSuchName  # noqa: B018
