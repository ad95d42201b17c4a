"""A weight-decay sweep for an MLP on scikit-learn's digits: `python -m jaxl2 demo` as a script.

Every λ trains in one compiled jaxl2.train_sweep with AdamW (jaxl2.adamw: w ← w − lr·(m̂/(√v̂+ε)
+ λ·w)), decaying the weight matrices only. Then Adam, Adam + L2 and AdamW are compared at the
best λ.

    python examples/demo.py [plot.png]        # JAXL2_EXAMPLE_SIZE=tiny: a few seconds
"""

import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import jaxl2

TINY = os.environ.get("JAXL2_EXAMPLE_SIZE") == "tiny"
K, STEPS, HIDDEN, LR = (4, 30, 16, 3e-3) if TINY else (16, 300, 128, 3e-3)

jaxl2.use_cpu_cores()  # one JAX device per core, before any JAX computation

X, y = load_digits(return_X_y=True)
X_train, X_val, y_train, y_val = train_test_split(
    (X / 16.0).astype(np.float32), y.astype(np.int32), test_size=0.3, random_state=0, stratify=y
)


def init(key):
    k1, k2 = jax.random.split(key)
    return {
        "hidden": {
            "kernel": jax.random.normal(k1, (64, HIDDEN)) * np.float32(np.sqrt(2 / 64)),
            "bias": jnp.zeros(HIDDEN),
        },
        "out": {
            "kernel": jax.random.normal(k2, (HIDDEN, 10)) * np.float32(np.sqrt(1 / HIDDEN)),
            "bias": jnp.zeros(10),
        },
    }


def logits(params, x):
    hidden = jax.nn.relu(x @ params["hidden"]["kernel"] + params["hidden"]["bias"])
    return hidden @ params["out"]["kernel"] + params["out"]["bias"]


def loss(params, batch):
    x, y = batch
    return optax.softmax_cross_entropy_with_integer_labels(logits(params, x), y).mean()


def accuracy(params, batch):
    x, y = batch
    return jnp.mean(jnp.argmax(logits(params, x), -1) == y)


def train(hparams, optimizer):
    return jaxl2.train_sweep(
        init,
        loss,
        (X_train, y_train),
        hparams=hparams,
        optimizer=optimizer,
        steps=STEPS,
        eval_data=(X_val, y_val),
        metrics={"accuracy": accuracy},
        norm_mask="weights",  # weight_norm: ‖W‖ over the kernels
    )


# lr·λ stays ≤ 0.3: a larger decoupled step would shrink the weights to nothing at once.
lams = np.logspace(-2, 2, K).astype(np.float32)
result = train(
    {"weight_decay": lams},
    lambda h: jaxl2.adamw(LR, weight_decay=h["weight_decay"], mask="weights"),
)
print(result.table(["train_accuracy", "val_accuracy", "val_loss", "weight_norm"]))
best = result.best("val_loss")
lam = float(best.hparams["weight_decay"])
print(f"best weight decay λ = {lam:.4g} (validation loss {best.value:.4f})")
if len(sys.argv) > 1:
    result.plot(["loss", "accuracy"], best="val_loss", path=sys.argv[1])
    print(f"wrote {sys.argv[1]}")

# coupled(adamw(lr, d), c) is Adam on g + c·w followed by − lr·d·w, so (c, d) = (0, 0) is Adam,
# (λ, 0) is jaxl2.adam_l2(lr, λ) and (0, λ) is jaxl2.adamw(lr, λ): three optimizers, one sweep.
zero = np.float32(0.0)
compare = train(
    {"coupled": np.array([zero, lam, zero]), "decoupled": np.array([zero, zero, lam])},
    lambda h: jaxl2.coupled(
        jaxl2.adamw(LR, weight_decay=h["decoupled"], mask="weights"), h["coupled"], mask="weights"
    ),
)
for k, name in enumerate(["Adam (no decay)", "Adam + L2", "AdamW"]):
    print(
        f"{name:<16} train acc {compare.final('train_accuracy')[k]:.3f}  "
        f"val acc {compare.final('val_accuracy')[k]:.3f}  ‖W‖ {compare.final('weight_norm')[k]:.2f}"
    )
