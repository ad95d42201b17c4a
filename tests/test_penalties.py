"""Penalties: values and gradients against the formulas (numpy), Keras' definitions, and hypothesis."""

import functools
import os

import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxl2


def _tree(seed=0, dtype=jnp.float32):
    rng = np.random.default_rng(seed)
    return {
        "dense": {
            "kernel": jnp.asarray(rng.normal(size=(3, 4)), dtype),
            "bias": jnp.asarray(rng.normal(size=4), dtype),
        },
        "layers": [jnp.asarray(rng.normal(size=(2, 2)), dtype)],
    }


def _np_leaves(tree):
    return [np.asarray(x, np.float64) for x in jax.tree.leaves(tree)]


def test_l2_l1_elastic_net_values_match_formulas():
    params = _tree()
    leaves = _np_leaves(params)
    sq = sum(np.sum(w**2) for w in leaves)
    ab = sum(np.sum(np.abs(w)) for w in leaves)
    np.testing.assert_allclose(jaxl2.l2(params, 0.3), 0.3 * sq, rtol=1e-6)
    np.testing.assert_allclose(jaxl2.l1(params, 0.3), 0.3 * ab, rtol=1e-6)
    np.testing.assert_allclose(
        jaxl2.elastic_net(params, 0.3, 0.25), 0.3 * (0.25 * ab + 0.75 * sq), rtol=1e-6
    )


def test_keras_formulas():
    # Keras: L2(l2)(x) = l2 * sum(square(x)); L1(l1)(x) = l1 * sum(abs(x));
    # L1L2(l1, l2)(x) = l1 * sum(abs(x)) + l2 * sum(square(x)).
    w = np.random.default_rng(1).normal(size=(5, 3)).astype(np.float32)
    np.testing.assert_allclose(
        jaxl2.l2(jnp.asarray(w), 0.01), 0.01 * np.sum(np.square(w)), rtol=1e-6
    )
    np.testing.assert_allclose(jaxl2.l1(jnp.asarray(w), 0.02), 0.02 * np.sum(np.abs(w)), rtol=1e-6)
    lam, rho = jaxl2.convert.keras_l1l2_to_lam(0.02, 0.01)
    np.testing.assert_allclose(
        jaxl2.elastic_net(jnp.asarray(w), lam, rho),
        0.02 * np.sum(np.abs(w)) + 0.01 * np.sum(w**2),
        rtol=1e-6,
    )


def test_center_and_mask():
    params = _tree()
    center = jax.tree.map(lambda x: x + 1.0, params)
    # every leaf is exactly 1 away from its centre
    n = sum(x.size for x in jax.tree.leaves(params))
    np.testing.assert_allclose(jaxl2.l2(params, 2.0, center=center), 2.0 * n, rtol=1e-6)
    np.testing.assert_allclose(jaxl2.l1(params, 2.0, center=center), 2.0 * n, rtol=1e-6)
    w = np.asarray(params["dense"]["kernel"], np.float64)
    np.testing.assert_allclose(
        jaxl2.l2(params, 1.0, mask="weights"),
        np.sum(w**2) + np.sum(np.asarray(params["layers"][0]) ** 2),
        rtol=1e-6,
    )
    only_kernel = {"dense": {"kernel": True, "bias": False}, "layers": False}
    np.testing.assert_allclose(jaxl2.l2(params, 1.0, mask=only_kernel), np.sum(w**2), rtol=1e-6)
    elementwise = {
        "dense": {"kernel": jnp.arange(12).reshape(3, 4) < 4, "bias": False},
        "layers": False,
    }
    np.testing.assert_allclose(
        jaxl2.l2(params, 1.0, mask=elementwise), np.sum(w[0] ** 2), rtol=1e-6
    )


def test_gradients_exact():
    params = _tree()
    center = jax.tree.map(lambda x: 0.5 * x + 0.1, params)
    g = jax.grad(jaxl2.l2)(params, 0.7, center=center)
    expected = jax.tree.map(lambda w, c: 2 * 0.7 * (w - c), params, center)
    for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    g1 = jax.grad(jaxl2.l1)(params, 0.7)
    for a, w in zip(jax.tree.leaves(g1), jax.tree.leaves(params), strict=True):
        np.testing.assert_allclose(a, 0.7 * np.sign(w), rtol=1e-6)


def test_l1_subgradient_at_zero_is_zero():
    w = jnp.array([0.0, 1.0, -1.0])
    np.testing.assert_array_equal(jax.grad(jaxl2.l1)(w, 1.0), [0.0, 1.0, -1.0])
    np.testing.assert_array_equal(jax.grad(jaxl2.elastic_net)(w, 1.0, 1.0), [0.0, 1.0, -1.0])
    c = jnp.array([1.0, 1.0, 1.0])
    np.testing.assert_array_equal(
        jax.grad(lambda p: jaxl2.l1(p, 1.0, center=c))(w), [-1.0, 0.0, -1.0]
    )


def test_grad_wrt_lam_jit_and_vmap():
    params = _tree()
    sq = float(sum(np.sum(w**2) for w in _np_leaves(params)))
    np.testing.assert_allclose(
        jax.grad(jaxl2.l2, argnums=1)(params, jnp.float32(0.3)), sq, rtol=1e-6
    )
    lams = jnp.array([0.0, 0.1, 1.0], jnp.float32)
    out = jax.jit(jax.vmap(lambda lam: jaxl2.l2(params, lam)))(lams)
    np.testing.assert_allclose(out, np.asarray(lams) * sq, rtol=1e-6)
    ab = float(sum(np.sum(np.abs(w)) for w in _np_leaves(params)))
    out1 = jax.vmap(lambda lam: jaxl2.elastic_net(params, lam, 0.5))(lams)
    assert out1.shape == (3,)
    np.testing.assert_allclose(out1, np.asarray(lams) * (0.5 * ab + 0.5 * sq), rtol=1e-6)


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float32])
def test_dtypes_preserved(dtype):
    params = _tree(dtype=dtype)
    assert jaxl2.l2(params, 0.1).dtype == dtype
    assert jaxl2.l1(params, 0.1).dtype == dtype
    g = jax.grad(jaxl2.l2)(params, 0.1)
    assert all(x.dtype == dtype for x in jax.tree.leaves(g))
    # bf16 sums are accumulated in float32: close to the float64 value
    ref = 0.1 * sum(np.sum(np.asarray(x, np.float64) ** 2) for x in jax.tree.leaves(params))
    np.testing.assert_allclose(
        float(jaxl2.l2(params, 0.1)), ref, rtol=1e-2 if dtype == jnp.bfloat16 else 1e-6
    )


def test_float64(x64):
    params = _tree(dtype=jnp.float64)
    val = jaxl2.l2(params, 0.1)
    assert val.dtype == jnp.float64
    ref = 0.1 * sum(np.sum(np.asarray(x) ** 2) for x in jax.tree.leaves(params))
    np.testing.assert_allclose(val, ref, rtol=1e-14)


def test_penalized_adds_penalty_and_keeps_aux():
    params = _tree()

    def loss(p, x):
        return jnp.sum(p["dense"]["kernel"] @ x)

    def loss_aux(p, x):
        return loss(p, x), {"aux": 1}

    x = jnp.ones(4)
    leaves = _np_leaves(params)
    data_loss = float(np.sum(leaves[1] @ np.ones(4)))  # leaves: bias, kernel, layers[0]
    sq = sum(np.sum(w**2) for w in leaves)
    ab = sum(np.sum(np.abs(w)) for w in leaves)
    sq_weights = np.sum(leaves[1] ** 2) + np.sum(leaves[2] ** 2)  # mask="weights": ndim > 1
    f = jaxl2.penalized(loss, jaxl2.l2, 0.2, mask="weights")
    np.testing.assert_allclose(f(params, x), data_loss + 0.2 * sq_weights, rtol=1e-6)
    val, aux = jaxl2.penalized(loss_aux, "l1", 0.2)(params, x)
    np.testing.assert_allclose(val, data_loss + 0.2 * ab, rtol=1e-6)
    assert aux == {"aux": 1}
    np.testing.assert_allclose(
        jaxl2.penalized(loss, "l2", 0.2)(params, x), data_loss + 0.2 * sq, rtol=1e-6
    )
    enet = jaxl2.penalized(loss, functools.partial(jaxl2.elastic_net, l1_ratio=0.5), 0.2)
    np.testing.assert_allclose(enet(params, x), data_loss + 0.2 * (0.5 * ab + 0.5 * sq), rtol=1e-6)
    # and its gradient: the data term's plus 2 lam w on the masked leaves
    g = jax.grad(f)(params, x)
    np.testing.assert_allclose(g["dense"]["kernel"], np.ones((3, 4)) + 0.4 * leaves[1], rtol=1e-6)
    np.testing.assert_allclose(g["dense"]["bias"], 0.0)
    np.testing.assert_allclose(g["layers"][0], 0.4 * leaves[2], rtol=1e-6)
    assert f.__name__ == "loss"


def test_empty_and_none_leaves():
    assert float(jaxl2.l2({}, 1.0)) == 0.0
    params = {"a": jnp.ones(2), "b": None}
    np.testing.assert_allclose(jaxl2.l2(params, 1.0), 2.0)


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "fn", [jaxl2.l2, jaxl2.l1, functools.partial(jaxl2.elastic_net, l1_ratio=0.5)]
)
def test_negative_and_nan_lam_raise(fn):
    with pytest.raises(ValueError, match=r"lam must be non-negative and not NaN, got -0.1"):
        fn(jnp.ones(2), -0.1)
    with pytest.raises(ValueError, match=r"lam must be non-negative and not NaN, got nan"):
        fn(jnp.ones(2), float("nan"))


def test_traced_negative_lam_raises_at_run_time():
    with pytest.raises(Exception, match="lam must be non-negative"):
        jax.block_until_ready(jax.jit(lambda lam: jaxl2.l2(jnp.ones(2), lam))(jnp.float32(-1.0)))


def test_l1_ratio_out_of_range():
    with pytest.raises(ValueError, match=r"l1_ratio must lie in \[0.0, 1.0\], got 1.5"):
        jaxl2.elastic_net(jnp.ones(2), 1.0, 1.5)


def test_integer_params_raise():
    with pytest.raises(
        TypeError, match=r"params must have floating-point leaves.*\['a'\] has dtype int32"
    ):
        jaxl2.l2({"a": jnp.ones(2, jnp.int32)}, 1.0)


def test_mask_and_center_mismatch_raise():
    params = {"a": jnp.ones(2), "b": jnp.ones(3)}
    with pytest.raises(
        ValueError,
        match=r"(?s)mask does not match the structure of params.*mask structure.*params structure",
    ):
        jaxl2.l2(params, 1.0, mask={"a": True, "c": False})
    with pytest.raises(ValueError, match=r"(?s)center must have the same tree structure as params"):
        jaxl2.l2(params, 1.0, center={"a": jnp.ones(2)})
    with pytest.raises(
        ValueError, match=r"center must have the same leaf shapes as params.*\['b'\]"
    ):
        jaxl2.l2(params, 1.0, center={"a": jnp.ones(2), "b": jnp.ones(4)})


def test_penalized_bad_penalty_name():
    with pytest.raises(
        ValueError, match=r"penalty must be a penalty function or one of \['l1', 'l2'\]; got 'l3'"
    ):
        jaxl2.penalized(lambda p: 0.0, "l3", 1.0)
    with pytest.raises(ValueError, match="lam must be non-negative"):
        jaxl2.penalized(lambda p: 0.0, "l2", -1.0)


# ----------------------------------------------------------------------------- properties

# Each example traces jax.grad afresh (~0.2 s): fewer under CI (2 cores), all 40 with JAXL2_SLOW=1.
_EXAMPLES = (
    15 if os.environ.get("CI", "").lower() == "true" and os.environ.get("JAXL2_SLOW") != "1" else 40
)
_arrays = hnp.arrays(
    np.float64,
    hnp.array_shapes(min_dims=1, max_dims=2, max_side=5),
    elements=st.floats(-100, 100, allow_nan=False, width=64),
)


@settings(max_examples=_EXAMPLES, deadline=None)
@given(w=_arrays, c_shift=st.floats(-3, 3), lam=st.floats(0, 10))
def test_property_l2_gradient_is_two_lam_w_minus_c(w, c_shift, lam):
    with jax.enable_x64(True):
        wj = jnp.asarray(w)
        cj = wj * 0.5 + c_shift
        g = jax.grad(jaxl2.l2)(wj, lam, center=cj)
        np.testing.assert_allclose(g, 2 * lam * (w - (w * 0.5 + c_shift)), rtol=1e-12, atol=1e-12)


@settings(max_examples=_EXAMPLES, deadline=None)
@given(w=_arrays, lam=st.floats(0, 10), rho=st.floats(0, 1))
def test_property_elastic_net_interpolates(w, lam, rho):
    with jax.enable_x64(True):
        wj = jnp.asarray(w)
        expected = lam * (rho * np.abs(w).sum() + (1 - rho) * (w**2).sum())
        np.testing.assert_allclose(
            jaxl2.elastic_net(wj, lam, rho), expected, rtol=1e-10, atol=1e-10
        )
