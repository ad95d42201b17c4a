"""Every public name is importable from ``jaxl2`` and documented."""

import inspect

import jaxl2


def _public(module):
    return sorted(n for n in getattr(module, "__all__", dir(module)) if not n.startswith("_"))


def test_all_is_defined_and_importable():
    assert jaxl2.__all__, "jaxl2.__all__ is empty"
    for name in jaxl2.__all__:
        assert hasattr(jaxl2, name), name


def test_every_public_name_has_a_docstring():
    missing = []
    for name in _public(jaxl2):
        obj = getattr(jaxl2, name)
        if inspect.ismodule(obj):
            for sub in _public(obj):
                member = getattr(obj, sub)
                if callable(member) and not (member.__doc__ or "").strip():
                    missing.append(f"{name}.{sub}")
            continue
        if callable(obj) and not (obj.__doc__ or "").strip():
            missing.append(name)
    assert not missing, f"public names without a docstring: {missing}"


def test_every_public_function_has_an_example():
    missing = []
    for name in _public(jaxl2):
        obj = getattr(jaxl2, name)
        if inspect.isfunction(obj) and ">>>" not in (obj.__doc__ or ""):
            missing.append(name)
    assert not missing, f"public functions without a doctest example: {missing}"
