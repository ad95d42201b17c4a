"""Many-target solvers sharded over devices by targets (``devices=``), on four faked CPU devices.

References: the same solvers unsharded (themselves checked against brute-force refits,
scikit-learn and himalaya in tests/test_many_targets.py), in float64 to 1e-10.
"""

from pathlib import Path

import jax
import numpy as np
import pytest

import jaxl2
from tests._subprocess import run_on_faked_devices

ROOT = Path(__file__).resolve().parents[1]

COMMON = """
import jax
jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
import jaxl2
from jaxl2._linear import ridge_shard as rs
assert len(jax.devices()) == 4, jax.devices()
rng = np.random.default_rng(0)

def same(got, want):
    for a, b in zip(got, want, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10, atol=1e-12)

def along_targets(a, axis):
    spec = tuple(a.sharding.spec) + (None,) * (a.ndim - len(a.sharding.spec))
    return isinstance(a.sharding, NamedSharding) and spec[axis] is not None and all(
        s is None for i, s in enumerate(spec) if i != axis)
"""

RIDGE_SCRIPT = (
    COMMON
    + """
lams = np.logspace(-2, 3, 6)
# primal and dual; 30 targets: not a multiple of 4 (nor of 3), padded then trimmed
for (n, p), devices, batch, select in [((40, 12), 4, None, "loo"),
                                       ((10, 16), jax.devices()[:3], 5, "gcv")]:
    X = rng.standard_normal((n, p))
    Y = rng.standard_normal((n, 30))
    got = jaxl2.ridge_path(X, Y, lams, keep="best", select=select, targets_batch=batch,
                           devices=devices)
    want = jaxl2.ridge_path(X, Y, lams, keep="best", select=select)
    same(got, want)
    assert got.coef.shape == (30, p) and got.gcv.shape == (6, 30)
    if devices == 4:  # the estimator's path: the same compiled program
        from jaxl2.sklearn import RidgeCV
        est = RidgeCV(alphas=lams, alpha_per_target=True, devices=4).fit(X, Y)
        ref = RidgeCV(alphas=lams, alpha_per_target=True).fit(X, Y)
        np.testing.assert_allclose(est.alpha_, ref.alpha_)
        np.testing.assert_allclose(est.best_score_, ref.best_score_, rtol=1e-10)
        np.testing.assert_allclose(est.coef_, ref.coef_, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(est.intercept_, ref.intercept_, rtol=1e-9, atol=1e-12)

# T a multiple of 4: the outputs stay sharded along targets, on a 2 × 2 mesh too.
X = rng.standard_normal((40, 12))
Y = rng.standard_normal((40, 32))
want = jaxl2.ridge_path(X, Y, lams, keep="best")
mesh = Mesh(np.array(jax.devices()).reshape(2, 2), ("a", "b"))
got = jaxl2.ridge_path(X, Y, lams, keep="best", devices=mesh, targets_batch=12)
same(got, want)
for a, axis in [(got.coef, 0), (got.intercept, 0), (got.loo_mse, 1), (got.gcv, 1),
                (got.best_index, 0), (got.best_lam, 0)]:
    assert along_targets(a, axis), (a.shape, a.sharding)
    assert a.sharding.mesh == mesh

# A Y that arrives sharded along targets is solved where it lies (its own mesh, no copy).
tmesh = Mesh(np.array(jax.devices()), ("t",))
Ys = jax.device_put(jnp.asarray(Y), NamedSharding(tmesh, P(None, "t")))
tm = rs.resolve(None, Ys)
assert tm is not None and tm.mesh == tmesh and rs.place_targets(Ys, tm)[0] is Ys
got = jaxl2.ridge_path(X, Ys, lams, keep="best", targets_batch=4)
same(got, want)
assert got.coef.sharding.mesh == tmesh and along_targets(got.coef, 0)
# ... a Y sharded some other way (by rows) is not taken for a target sharding
Yr = jax.device_put(jnp.asarray(Y), NamedSharding(tmesh, P("t", None)))
assert rs.resolve(None, Yr) is None

# inside jax.jit too (a traced Y has no .sharding to look at: it is constrained instead)
got = jax.jit(lambda X, Y: jaxl2.ridge_path(X, Y, lams, keep="best", devices=4))(X, Y)
same(got, want)
for a, axis in [(got.coef, 0), (got.intercept, 0), (got.loo_mse, 1), (got.gcv, 1),
                (got.best_index, 0), (got.best_lam, 0)]:  # sharded, as outside jit
    assert along_targets(a, axis), (a.shape, a.sharding)
bands = [list(range(6)), list(range(6, 12))]
banded = lambda X, Y, d: jaxl2.banded_ridge(X, Y, bands, jnp.array([0.5, 3.0]), devices=d)
same(jax.jit(lambda X, Y: banded(X, Y, 4))(X, Y), banded(X, Y, None))

try:
    jaxl2.ridge_path(X, Y, lams, keep="best", devices=5)
except ValueError as e:
    assert "devices=5 asks for more devices than exist: JAX sees 4 cpu" in str(e), e
else:
    raise AssertionError("devices=5 did not raise")
import time
print("SHARDED RIDGE OK", time.process_time())
"""
)

TUNE_SCRIPT = (
    COMMON
    + """
# kernel ridge (dual path) and banded ridge with fixed and per-target strengths
lams = np.logspace(-2, 3, 6)
Xb, Yb = rng.standard_normal((40, 12)), rng.standard_normal((40, 10))
Xk = rng.standard_normal((20, 3))
Yk = rng.standard_normal((20, 10))
same(jaxl2.kernel_ridge_path(Xk, Yk, lams, gamma=0.5, devices=4, targets_batch=4),
     jaxl2.kernel_ridge_path(Xk, Yk, lams, gamma=0.5))
groups = [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
same(jaxl2.banded_ridge(Xb, Yb, groups, np.array([0.5, 2.0, 10.0]), devices=4),
     jaxl2.banded_ridge(Xb, Yb, groups, np.array([0.5, 2.0, 10.0])))
per_target = rng.uniform(0.1, 5.0, (10, 3))
same(jaxl2.banded_ridge(Xb, Yb, groups, per_target, devices=4),
     jaxl2.banded_ridge(Xb, Yb, groups, per_target))

X = rng.standard_normal((30, 9))
Y = rng.standard_normal((30, 10))
groups = [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
for method in ["random", "gradient"]:
    got = jaxl2.tune_banded_ridge(X, Y, groups, method=method, n_iter=2, steps=3, devices=4,
                                  targets_batch=4)
    same(got, jaxl2.tune_banded_ridge(X, Y, groups, method=method, n_iter=2, steps=3))
Xl = rng.standard_normal((30, 4))
same(jaxl2.kernel_ridge_path(Xl, Y, np.logspace(-2, 2, 5), kernel="linear", devices=4),
     jaxl2.kernel_ridge_path(Xl, Y, np.logspace(-2, 2, 5), kernel="linear"))
print("SHARDED TUNE OK")
"""
)


def _run(script: str, marker: str) -> None:
    proc = run_on_faked_devices(script, marker, python_args=("-W", "error"))
    print(proc.stdout[-200:])


def test_ridge_path_and_ridgecv_sharded_by_targets_equal_unsharded():
    _run(RIDGE_SCRIPT, "SHARDED RIDGE OK")


@pytest.mark.slow
def test_kernel_and_banded_sharded_by_targets_equal_unsharded():
    _run(TUNE_SCRIPT, "SHARDED TUNE OK")


def test_devices_bad_input():
    X = np.ones((6, 2)) + np.arange(12.0).reshape(6, 2) ** 2
    Y = np.arange(18.0).reshape(6, 3)
    lams = np.array([0.1, 1.0])
    with pytest.raises(TypeError, match="devices must be a non-empty list of jax.Device"):
        jaxl2.ridge_path(X, Y, lams, keep="best", devices="gpu")
    with pytest.raises(ValueError, match="devices must be at least 1, got 0"):
        jaxl2.ridge_path(X, Y, lams, keep="best", devices=0)
    with pytest.raises(ValueError, match="asks for more devices than exist"):
        jaxl2.ridge_path(X, Y, lams, keep="best", devices=len(jax.devices()) + 1)
    with pytest.raises(ValueError, match="devices lists a device more than once"):
        jaxl2.ridge_path(X, Y, lams, keep="best", devices=[jax.devices()[0]] * 2)
    with pytest.raises(ValueError, match="apply to keep='best' only"):
        jaxl2.ridge_path(X, Y, lams, devices=1)
    with pytest.raises(TypeError, match="devices must be None, an int"):
        jaxl2.kernel_ridge_path(X, Y, lams, devices=2.5)
    with pytest.raises(TypeError, match="devices must be None, an int"):
        jaxl2.banded_ridge(X, Y, [[0], [1]], np.array([1.0, 2.0]), devices=object())


def test_one_device_is_the_unsharded_path(x64):
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((12, 3)), rng.standard_normal((12, 5))
    lams = np.logspace(-1, 1, 3)
    got = jaxl2.ridge_path(X, Y, lams, keep="best", devices=1)
    want = jaxl2.ridge_path(X, Y, lams, keep="best")
    np.testing.assert_allclose(np.asarray(got.coef), np.asarray(want.coef), rtol=1e-12)
