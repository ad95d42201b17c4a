"""Masks on real Flax (NNX, linen), Equinox and plain pytrees, including stacked layers."""

import equinox as eqx
import flax.linen as linen
import jax
import jax.numpy as jnp
import numpy as np
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


# --- Issue 10: roles, not layer names -------------------------------------------------------


class _Misnamed(nnx.Module):
    """Linear layers with norm-like names, norm layers with innocuous names, and model state."""

    def __init__(self, rngs):
        self.fc_after_norm = nnx.Linear(3, 4, rngs=rngs)
        self.ln_proj = nnx.Linear(4, 4, rngs=rngs)
        self.gn = nnx.Linear(4, 4, rngs=rngs)
        self.proj = nnx.LayerNorm(4, rngs=rngs)
        self.dense = nnx.GroupNorm(4, num_groups=2, rngs=rngs)
        self.head = nnx.BatchNorm(4, rngs=rngs)
        self.drop = nnx.Dropout(0.1, rngs=rngs)

    def __call__(self, x):
        x = self.proj(self.fc_after_norm(x))
        x = self.dense(self.gn(self.ln_proj(x)))
        return self.drop(self.head(x))


_MISNAMED_PARAMS = {
    "dense/bias": False,
    "dense/scale": False,
    "fc_after_norm/bias": False,
    "fc_after_norm/kernel": True,
    "gn/bias": False,
    "gn/kernel": True,
    "head/bias": False,
    "head/scale": False,
    "ln_proj/bias": False,
    "ln_proj/kernel": True,
    "proj/bias": False,
    "proj/scale": False,
}


def test_weights_on_nnx_by_role_not_layer_name():
    model = _Misnamed(nnx.Rngs(0))
    params = nnx.state(model, nnx.Param)
    assert _by_path(params, weights(params)) == _MISNAMED_PARAMS
    pure = nnx.as_pure(params)  # what nnx.Optimizer hands to optax: no types at all
    assert _by_path(pure, weights(pure)) == _MISNAMED_PARAMS
    # The module itself (types visible) and its whole state: model state is never decayed.
    state_flags = _by_path(nnx.state(model), weights(nnx.state(model)))
    module_flags = _by_path(model, weights(model))
    for got in (state_flags, module_flags):
        assert {k: v for k, v in got.items() if k in _MISNAMED_PARAMS} == _MISNAMED_PARAMS
        others = {k: v for k, v in got.items() if k not in _MISNAMED_PARAMS}
        assert set(others) == {"head/mean", "head/var", "drop/rngs/count", "drop/rngs/key"}
        assert not any(others.values())


@pytest.mark.standard_promotion
def test_nnx_optimizer_decays_misnamed_linears_only():
    model = _Misnamed(nnx.Rngs(0))
    before = jax.tree.map(np.asarray, nnx.as_pure(nnx.state(model, nnx.Param)))
    opt = nnx.Optimizer(model, jaxl2.adamw(0.1, weight_decay=0.5, mask="weights"), wrt=nnx.Param)
    opt.update(model, jax.tree.map(jnp.zeros_like, nnx.state(model, nnx.Param)))
    after = jax.tree.map(np.asarray, nnx.as_pure(nnx.state(model, nnx.Param)))
    flat_before = _by_path(before, jax.tree.leaves(before))
    flat_after = _by_path(after, jax.tree.leaves(after))
    for path, decayed in _MISNAMED_PARAMS.items():
        factor = 1 - 0.1 * 0.5 if decayed else 1.0  # zero gradients: w ← w − lr·λ·w
        np.testing.assert_allclose(flat_after[path], flat_before[path] * factor, rtol=1e-6)


def test_weights_on_stacked_nnx_layers():
    @nnx.vmap(in_axes=0, out_axes=0)
    def make(key):
        return nnx.Linear(3, 4, rngs=nnx.Rngs(key))

    stacked = make(jax.random.split(jax.random.key(0), 5))
    state = nnx.state(stacked, nnx.Param)
    assert jax.tree.leaves(state)[0].shape == (5, 4)  # the bias is 2-D
    expected = {"bias": False, "kernel": True}
    assert _by_path(stacked, weights(stacked)) == expected  # by type
    assert _by_path(state, weights(state)) == expected  # by name


class _LinenMisnamed(linen.Module):
    @linen.compact
    def __call__(self, x, train: bool = False):
        x = linen.Dense(4, name="fc_after_norm")(x)
        x = linen.LayerNorm(name="proj")(x)
        x = linen.Dense(4, name="ln_proj")(x)
        x = linen.Dense(4, name="gn")(x)
        x = linen.GroupNorm(num_groups=2, name="dense")(x)
        return linen.BatchNorm(use_running_average=not train, name="head")(x)


def test_weights_on_linen_by_role_not_layer_name():
    variables = _LinenMisnamed().init(jax.random.key(0), jnp.zeros((2, 3)))
    params = variables["params"]
    assert _by_path(params, weights(params)) == _MISNAMED_PARAMS
    # a whole `variables` dict: batch statistics are not parameters
    got = _by_path(variables, weights(variables))
    assert got["params/gn/kernel"] is True and got["params/proj/scale"] is False
    assert got["batch_stats/head/mean"] is False and got["batch_stats/head/var"] is False
    text = describe(variables)
    assert text.splitlines()[0].split() == ["path", "type", "shape", "dtype", "decayed"]
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines()[1:-2]}
    assert rows["batch_stats/head/mean"] == ["batch_stats", "(4,)", "float32", "no"]
    assert rows["params/gn/kernel"] == ["params", "(4,", "4)", "float32", "yes"]
    n_params = sum(x.size for x in jax.tree.leaves(params))
    kernels = 3 * 4 + 4 * 4 + 4 * 4
    assert f"decayed: 3 of 12 leaves, {kernels} of {n_params} parameters" in text
    assert text.splitlines()[-1] == (
        "not parameters (not counted): 2 leaves, 8 values (batch_stats: 2)"
    )


class _EqxMisnamed(eqx.Module):
    fc_after_norm: eqx.nn.Linear
    ln_proj: eqx.nn.Linear
    gn: eqx.nn.Linear
    proj: eqx.nn.LayerNorm
    dense: eqx.nn.GroupNorm
    weighted: eqx.nn.WeightNorm
    spectral: eqx.nn.SpectralNorm

    def __init__(self, key):
        k = jax.random.split(key, 5)
        self.fc_after_norm = eqx.nn.Linear(3, 4, key=k[0])
        self.ln_proj = eqx.nn.Linear(4, 4, key=k[1])
        self.gn = eqx.nn.Linear(4, 4, key=k[2])
        self.proj = eqx.nn.LayerNorm(4)
        self.dense = eqx.nn.GroupNorm(2, 4)
        self.weighted = eqx.nn.WeightNorm(eqx.nn.Linear(4, 4, key=k[3]))
        self.spectral = eqx.nn.SpectralNorm(eqx.nn.Linear(4, 4, key=k[4]), "weight", key=k[4])


def test_weights_on_equinox_by_role_not_layer_name():
    params = eqx.filter(_EqxMisnamed(jax.random.key(0)), eqx.is_array)
    got = _by_path(params, weights(params))
    assert got == {
        "fc_after_norm/weight": True,
        "fc_after_norm/bias": False,
        "ln_proj/weight": True,
        "ln_proj/bias": False,
        "gn/weight": True,
        "gn/bias": False,
        "proj/weight": False,  # a LayerNorm called "proj": its 1-D "weight" is a scale
        "proj/bias": False,
        "dense/weight": False,
        "dense/bias": False,
        # a weight norm's layer is a Linear (decayed); its magnitude g (shape (4, 1)) is a scale
        "weighted/layer/weight": True,
        "weighted/layer/bias": False,
        "weighted/g": False,
        # a spectral norm's layer is decayed; its power-iteration vectors are state
        "spectral/layer/weight": True,
        "spectral/layer/bias": False,
        "spectral/uv_index/init/0": False,
        "spectral/uv_index/init/1": False,
    }
    text = describe(params)
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines()[1:]}
    assert rows["spectral/uv_index/init/0"] == ["State", "(4,)", "float32", "no"]
    assert rows["weighted/g"] == ["-", "(4,", "1)", "float32", "no"]
    assert text.splitlines()[-1] == "not parameters (not counted): 2 leaves, 8 values (State: 2)"


def test_weights_on_plain_dicts_by_leaf_name_and_rank():
    params = {
        # PyTorch-style names: a 1-D "weight" is a norm scale, a 2-D one a matrix
        "fc_after_norm": {"weight": jnp.ones((4, 3)), "bias": jnp.ones(4)},
        "proj": {"weight": jnp.ones(4), "bias": jnp.ones(4)},
        "lstm": {"weight_ih_l0": jnp.ones((8, 3)), "bias_ih_l0": jnp.ones(8)},
        "bn": {"running_mean": jnp.ones(4), "running_var": jnp.ones(4)},
        # stacked (scanned) layers: the bias's extra axis is a stacking axis
        "layers": {
            "norm": {"weight": jnp.ones((6, 4)), "bias": jnp.ones((6, 4))},
            "fc": {"weight": jnp.ones((6, 4, 4)), "bias": jnp.ones((6, 4))},
        },
        # names that tell nothing: the rank decides
        "pos": jnp.ones((1, 5, 4)),
        "temperature": jnp.float32(1.0),
        "steps": jnp.int32(3),
    }
    assert _by_path(params, weights(params)) == {
        "bn/running_mean": False,
        "bn/running_var": False,
        "fc_after_norm/bias": False,
        "fc_after_norm/weight": True,
        "layers/fc/bias": False,
        "layers/fc/weight": True,
        "layers/norm/bias": False,
        "layers/norm/weight": False,
        "lstm/bias_ih_l0": False,
        "lstm/weight_ih_l0": True,
        "pos": True,
        "proj/bias": False,
        "proj/weight": False,
        "steps": False,
        "temperature": False,
    }


def test_describe_nnx_state_shows_variable_types_and_counts_only_params():
    state = nnx.state(_Misnamed(nnx.Rngs(0)))
    text = describe(state)
    lines = text.splitlines()
    assert lines[0].split() == ["path", "type", "shape", "dtype", "decayed"]
    rows = {line.split()[0]: line.split()[1] for line in lines[1:-2]}
    assert rows["gn/kernel"] == "Param" and rows["head/mean"] == "BatchStat"
    assert rows["drop/rngs/count"] == "RngCount" and rows["drop/rngs/key"] == "RngKey"
    params = nnx.state(_Misnamed(nnx.Rngs(0)), nnx.Param)
    n = sum(x.size for x in jax.tree.leaves(params))
    assert lines[-2] == f"decayed: 3 of 12 leaves, 44 of {n} parameters ({100 * 44 / n:.1f}%)"
    assert lines[-1] == (
        "not parameters (not counted): 4 leaves, 10 values (BatchStat: 2, RngCount: 1, RngKey: 1)"
    )
    # the Param-only state gives the same counts, and no extra line
    assert describe(params).splitlines()[-1] == lines[-2]


def test_describe_equinox_state_counts_no_parameters_and_does_not_warn():
    make = eqx.nn.make_with_state(eqx.nn.BatchNorm)
    _, state = make(4, "batch", mode="batch")
    text = describe(state)  # only model state: nothing to decay, nothing to warn about
    assert text.splitlines()[-2] == "decayed: 0 of 0 leaves, 0 of 0 parameters (0.0%)"
    assert text.splitlines()[-1] == "not parameters (not counted): 3 leaves, 9 values (State: 3)"


def test_describe_plain_tree_with_integer_leaf():
    text = describe({"w": jnp.ones((2, 2)), "step": jnp.int32(0)})
    assert text.splitlines()[0].split() == ["path", "type", "shape", "dtype", "decayed"]
    assert text.splitlines()[-2] == "decayed: 1 of 1 leaves, 4 of 4 parameters (100.0%)"
    assert text.splitlines()[-1] == "not parameters (not counted): 1 leaves, 1 values (int32: 1)"


# --- Issue 10: masks that select nothing, keys that do not match ----------------------------


def test_weights_selecting_nothing_warns():
    linear_model = {"w": jnp.ones(3), "b": jnp.float32(0.0)}  # no matrix at all
    with pytest.warns(jaxl2.masks.EmptyMaskWarning, match=r"Mask\(weights\) selects no leaf"):
        assert weights(linear_model) == {"w": False, "b": False}
    with pytest.warns(jaxl2.masks.EmptyMaskWarning, match="pass mask=None|Pass mask=None"):
        jaxl2.l2(linear_model, 0.1, mask="weights")
    assert issubclass(jaxl2.masks.EmptyMaskWarning, UserWarning)


def test_empty_params_and_explicit_false_do_not_warn():
    assert weights({}) == {}
    params = {"w": jnp.ones((2, 2))}
    assert resolve(False, params) == {"w": False}  # said explicitly: taken as meant
    assert resolve({"w": False}, params) == {"w": False}


def test_by_path_pattern_that_matches_nothing_warns():
    params = {"encoder": {"kernel": jnp.ones((2, 2))}, "head": {"kernel": jnp.ones((2, 1))}}
    with pytest.warns(
        jaxl2.masks.EmptyMaskWarning,
        match=r"pattern\(s\) '\^encodr/' match no leaf path.*'encoder/kernel'.*selects no leaf",
    ):
        assert by_path(include="^encodr/")(params) == {
            "encoder": {"kernel": False},
            "head": {"kernel": False},
        }
    with pytest.warns(
        jaxl2.masks.EmptyMaskWarning, match=r"pattern\(s\) 'haed' match no leaf.*typo"
    ):
        by_path(exclude="haed")(params)  # still selects both kernels: a likely typo
    with pytest.warns(jaxl2.masks.EmptyMaskWarning, match="selects no leaf"):
        by_path(include="kernel", exclude="kernel")(params)


@pytest.mark.standard_promotion
def test_plain_callable_selecting_nothing_warns_in_transform():
    params = {"w": jnp.ones((2, 2))}
    tx = jaxl2.adamw(0.1, weight_decay=0.1, mask=lambda p: jax.tree.map(lambda _: False, p))
    with pytest.warns(jaxl2.masks.EmptyMaskWarning, match=r"mask \(a callable\) selects no leaf"):
        tx.init(params)


@pytest.mark.parametrize(
    "make",
    [
        lambda m: jaxl2.adamw(0.1, weight_decay=0.1, mask=m),
        lambda m: jaxl2.sgdw(0.1, weight_decay=0.1, mask=m),
        lambda m: jaxl2.weight_decay(0.1, mask=m),
        lambda m: jaxl2.coupled(optax.sgd(0.1), 0.1, mask=m),
        lambda m: jaxl2.decoupled(optax.sgd(0.1), 0.1, learning_rate=0.1, mask=m),
    ],
)
def test_bool_dict_mask_with_unknown_key_raises_at_init(make):
    params = {"dense": {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)}, "norm": jnp.ones(2)}
    tx = make({"dense": {"kernel": True, "bais": False}, "norm": False})
    with pytest.raises(
        ValueError,
        match=r"(?s)mask does not match the structure of params: unknown key 'bais' at dense "
        r"\(params has 'bias', 'kernel' there\).*mask structure:.*params structure:",
    ):
        tx.init(params)
    tx = make({"dense": True})
    with pytest.raises(ValueError, match=r"no entry for key 'norm' at \(root\)"):
        tx.init(params)


def test_dict_mask_matches_nnx_state_and_pure_trees_by_key():
    model = _Misnamed(nnx.Rngs(0))
    state = nnx.state(model, nnx.Param)
    pure = nnx.as_pure(state)
    mask = {k: k.endswith("proj") for k in pure}  # a plain dict, prefix of both trees
    for tree in (state, pure):
        got = _by_path(tree, resolve(mask, tree))
        assert got["ln_proj/kernel"] and got["proj/scale"] and not got["gn/kernel"]
    # A mask computed on nnx.state (Variables of bools) fits the pure tree (jax #31256).
    from_state = weights(state)
    assert _by_path(pure, resolve(from_state, pure)) == _MISNAMED_PARAMS
    with pytest.raises(ValueError, match=r"unknown key 'ln_porj' at \(root\)"):
        resolve({**mask, "ln_porj": True}, pure)
