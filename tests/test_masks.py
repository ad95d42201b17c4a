"""Masks on real Flax (NNX, linen), Equinox and plain pytrees, including stacked layers."""

import equinox as eqx
import flax.linen as linen
import jax
import jax.numpy as jnp
import optax
import pytest
from flax import nnx

import jaxl2
from jaxl2.masks import by_path, describe, path_to_str, resolve, weights


def _by_path(tree, mask_tree):
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {path_to_str(p): m for (p, _), m in zip(flat, jax.tree.leaves(mask_tree), strict=True)}


class _LinenNet(linen.Module):
    @linen.compact
    def __call__(self, tokens):
        x = linen.Embed(10, 8)(tokens)
        x = linen.Dense(8)(x)
        x = linen.LayerNorm()(x)
        x = linen.BatchNorm(use_running_average=True)(x)
        x = linen.Conv(4, (3,))(x)
        return linen.RMSNorm()(x)


def test_weights_on_linen():
    variables = _LinenNet().init(jax.random.key(0), jnp.zeros((2, 5), jnp.int32))
    got = _by_path(variables["params"], weights(variables["params"]))
    assert got == {
        "BatchNorm_0/bias": False,
        "BatchNorm_0/scale": False,
        "Conv_0/bias": False,
        "Conv_0/kernel": True,
        "Dense_0/bias": False,
        "Dense_0/kernel": True,
        "Embed_0/embedding": True,
        "LayerNorm_0/bias": False,
        "LayerNorm_0/scale": False,
        "RMSNorm_0/scale": False,
    }


class _Block(linen.Module):
    @linen.compact
    def __call__(self, x, _):
        y = linen.Dense(8)(linen.LayerNorm()(x))
        return x + y, None


class _Scanned(linen.Module):
    @linen.compact
    def __call__(self, x):
        scan = linen.scan(
            _Block, variable_axes={"params": 0}, split_rngs={"params": True}, length=3
        )
        x, _ = scan()(x, None)
        return x


def test_weights_on_scanned_linen_layers_where_bias_is_2d():
    params = _Scanned().init(jax.random.key(0), jnp.zeros((2, 8)))["params"]
    flat = {path_to_str(p): x.shape for p, x in jax.tree_util.tree_flatten_with_path(params)[0]}
    assert flat["Scan_Block_0/Dense_0/bias"] == (3, 8)  # stacked: a 2-D bias
    assert flat["Scan_Block_0/LayerNorm_0/scale"] == (3, 8)
    got = _by_path(params, weights(params))
    assert got == {
        "Scan_Block_0/Dense_0/bias": False,
        "Scan_Block_0/Dense_0/kernel": True,
        "Scan_Block_0/LayerNorm_0/bias": False,
        "Scan_Block_0/LayerNorm_0/scale": False,
    }


class _NNXNet(nnx.Module):
    def __init__(self, rngs):
        self.embed = nnx.Embed(10, 8, rngs=rngs)
        self.linear = nnx.Linear(8, 8, rngs=rngs)
        self.norm = nnx.LayerNorm(8, rngs=rngs)
        self.bn = nnx.BatchNorm(8, rngs=rngs)
        self.rms = nnx.RMSNorm(8, rngs=rngs)
        self.out = nnx.Linear(8, 2, rngs=rngs)


_NNX_EXPECTED = {
    "bn/bias": False,
    "bn/scale": False,
    "embed/embedding": True,
    "linear/bias": False,
    "linear/kernel": True,
    "norm/bias": False,
    "norm/scale": False,
    "out/bias": False,
    "out/kernel": True,
    "rms/scale": False,
}


def test_weights_on_nnx_state_with_value_keys():
    model = _NNXNet(nnx.Rngs(0))
    state = nnx.state(model, nnx.Param)
    raw_paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(state)[0]]
    assert any(p.endswith(".value") for p in raw_paths)  # the trap: paths end in `value`
    assert _by_path(state, weights(state)) == _NNX_EXPECTED
    pure = nnx.as_pure(state)
    assert _by_path(pure, weights(pure)) == _NNX_EXPECTED


def test_weights_on_equinox_modules():
    class Net(eqx.Module):
        embed: eqx.nn.Embedding
        mlp: eqx.nn.MLP
        norm: eqx.nn.LayerNorm
        rms: eqx.nn.RMSNorm
        conv: eqx.nn.Conv1d

    k = jax.random.split(jax.random.key(0), 3)
    net = Net(
        eqx.nn.Embedding(10, 4, key=k[0]),
        eqx.nn.MLP(4, 2, 8, 2, key=k[1]),
        eqx.nn.LayerNorm(4),
        eqx.nn.RMSNorm(4),
        eqx.nn.Conv1d(4, 4, 3, key=k[2]),
    )
    params = eqx.filter(net, eqx.is_array)
    got = _by_path(params, weights(params))
    assert got["norm/weight"] is False and got["norm/bias"] is False  # 1-D "weight" of a norm
    assert got["rms/weight"] is False
    assert got["embed/weight"] is True
    assert got["conv/weight"] is True and got["conv/bias"] is False
    assert got["mlp/layers/0/weight"] is True and got["mlp/layers/0/bias"] is False


def test_weights_on_stacked_equinox_layers():
    keys = jax.random.split(jax.random.key(0), 3)
    linears = eqx.filter_vmap(lambda k: eqx.nn.Linear(4, 4, key=k))(keys)
    norms = eqx.filter_vmap(lambda _: eqx.nn.LayerNorm(4))(keys)
    params = eqx.filter({"linears": linears, "norms": norms}, eqx.is_array)
    got = _by_path(params, weights(params))
    assert got == {
        "linears/bias": False,  # shape (3, 4)
        "linears/weight": True,
        "norms/bias": False,
        "norms/weight": False,  # a stacked LayerNorm scale is 2-D: recognised by type
    }


def test_weights_on_plain_list_and_dict():
    params = [
        jnp.ones((3, 2)),
        jnp.ones(2),
        {"w": jnp.ones((2, 3, 2)), "b": jnp.ones((2, 3))},  # a Linear stacked twice
        # Issue 10 changed this case: a 2-D bias says "stacked once", so a 2-D sibling is a
        # stacked vector (a stacked PyTorch-style norm weight), not a matrix: not decayed.
        {"weight": jnp.ones((2, 3)), "bias": jnp.ones((2, 3))},
        jnp.float32(1.0),
    ]
    assert weights(params) == [
        True,
        False,
        {"w": True, "b": False},
        {"weight": False, "bias": False},
        False,
    ]


def test_by_path_include_exclude():
    params = {
        "encoder": {"attn": {"kernel": jnp.ones((2, 2))}, "mlp": {"kernel": jnp.ones((2, 2))}},
        "head": {"kernel": jnp.ones((2, 1))},
    }
    m = by_path(include="kernel", exclude=["attn", "^head"])
    assert _by_path(params, m(params)) == {
        "encoder/attn/kernel": False,
        "encoder/mlp/kernel": True,
        "head/kernel": False,
    }
    assert all(jax.tree.leaves(by_path()(params)))
    with pytest.raises(ValueError, match=r"exclude holds an invalid regular expression '\('"):
        by_path(exclude="(")


def test_by_path_on_nnx_state_ignores_value_key():
    state = nnx.state(_NNXNet(nnx.Rngs(0)), nnx.Param)
    m = by_path(include=r"kernel$")
    got = _by_path(state, m(state))
    assert got["linear/kernel"] and got["out/kernel"] and not got["linear/bias"]


def test_describe_table():
    params = {"dense": {"kernel": jnp.ones((3, 4)), "bias": jnp.zeros(4)}, "emb": jnp.ones((5, 2))}
    text = describe(params, "weights")
    lines = text.splitlines()
    assert lines[0].split() == ["path", "shape", "dtype", "decayed"]
    assert "dense/kernel  (3, 4)  float32  yes" in text
    assert lines[-1] == "decayed: 2 of 3 leaves, 22 of 26 parameters (84.6%)"
    partial = describe({"w": jnp.ones((2, 2))}, {"w": jnp.array([[True, False], [True, False]])})
    assert "2/4" in partial


def test_resolve_prefix_and_elementwise():
    params = {"enc": {"w": jnp.ones((2, 2)), "b": jnp.ones(2)}, "dec": jnp.ones(3)}
    assert resolve({"enc": False, "dec": True}, params) == {
        "enc": {"w": False, "b": False},
        "dec": True,
    }
    assert resolve(True, params) == {"enc": {"w": True, "b": True}, "dec": True}
    assert resolve(None, params) == {"enc": {"w": True, "b": True}, "dec": True}


def test_resolve_errors_name_mask_and_show_structures():
    params = {"a": jnp.ones(2), "b": jnp.ones(3)}
    with pytest.raises(
        ValueError,
        match=r"(?s)mask does not match the structure of params.*mask structure:.*'c'.*params structure:.*'b'",
    ):
        resolve({"a": True, "c": False}, params)
    with pytest.raises(TypeError, match=r"mask leaves must be bools"):
        resolve({"a": 1.0, "b": True}, params)
    with pytest.raises(
        ValueError, match=r"mask must be None, 'weights', a callable or a bool pytree; got 'biases'"
    ):
        resolve("biases", params)
    with pytest.raises(
        ValueError, match=r"mask: a boolean array mask of shape \(3,\) does not broadcast"
    ):
        resolve({"a": jnp.ones(3, bool), "b": True}, params)


def test_equinox_module_of_bools_is_a_tree_not_a_function():
    mlp = eqx.nn.MLP(2, 2, 4, 1, key=jax.random.key(0))
    params = eqx.filter(mlp, eqx.is_array)
    mask = jax.tree.map(lambda x: x.ndim > 1, params)  # an eqx.nn.MLP (callable!) of bools
    assert callable(mask)
    got = resolve(mask, params)
    assert jax.tree.leaves(got) == [True, False, True, False]


@pytest.mark.standard_promotion
def test_mask_object_survives_inject_hyperparams():
    params = {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)}
    grads = jax.tree.map(jnp.zeros_like, params)
    tx = optax.inject_hyperparams(jaxl2.adamw)(learning_rate=0.1, weight_decay=0.5, mask=weights)
    state = tx.init(params)
    updates, state = jax.jit(tx.update)(grads, state, params)
    assert float(updates["kernel"][0, 0]) == pytest.approx(-0.05)  # −lr · rate · w
    assert float(updates["bias"][0]) == 0.0
    assert state.hyperparams["mask"].mask is weights
    # optax's own transforms accept jaxl2 masks; under inject_hyperparams with static_args
    tx1 = optax.adamw(0.1, weight_decay=0.5, mask=weights)
    u1, _ = tx1.update(grads, tx1.init(params), params)
    assert float(u1["bias"][0]) == 0.0 and float(u1["kernel"][0, 0]) == pytest.approx(-0.05)
    tx2 = optax.inject_hyperparams(optax.adamw, static_args="mask")(
        learning_rate=0.1, weight_decay=0.5, mask=weights
    )
    u2, _ = jax.jit(tx2.update)(grads, tx2.init(params), params)
    assert float(u2["bias"][0]) == 0.0 and float(u2["kernel"][0, 0]) == pytest.approx(-0.05)


@pytest.mark.standard_promotion
def test_plain_callable_mask_under_inject_hyperparams():
    params = {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)}
    grads = jax.tree.map(jnp.zeros_like, params)

    def fn(p):
        return jax.tree.map(lambda x: x.ndim > 1, p)

    # The optax trap, caught: the plain callable is called with the step count.
    tx = optax.inject_hyperparams(jaxl2.weight_decay)(
        rate=0.5, mask=lambda p: jax.tree.map(lambda x: jnp.asarray(x.ndim > 1), p)
    )
    state = tx.init(params)
    with pytest.raises(
        TypeError, match=r"inject_hyperparams called a plain callable mask.*static_args=\('mask',\)"
    ):
        jax.jit(tx.update)(grads, state, params)
    # The fixes: static_args, or wrapping it in Mask.
    for tx in (
        optax.inject_hyperparams(jaxl2.weight_decay, static_args=("mask",))(rate=0.5, mask=fn),
        optax.inject_hyperparams(jaxl2.weight_decay)(rate=0.5, mask=jaxl2.masks.Mask(fn)),
    ):
        updates, _ = jax.jit(tx.update)(grads, tx.init(params), params)
        assert float(updates["kernel"][0, 0]) == 0.5 and float(updates["bias"][0]) == 0.0
