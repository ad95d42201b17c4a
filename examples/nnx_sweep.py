"""A weight-decay sweep for a Flax NNX model with BatchNorm and Dropout, trained by
jaxl2.SweepTrainer: K members, one per λ, updated together in one compiled step per mini-batch.

Each member keeps its own parameters, BatchNorm statistics, dropout RNG stream and AdamW state
(jaxl2.adamw: w ← w − lr·(m̂/(√v̂+ε) + λ·w), on the weight matrices only). Evaluation runs in
eval mode (dropout off, running statistics).

    python examples/nnx_sweep.py        # JAXL2_EXAMPLE_SIZE=tiny: a few seconds
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

import jaxl2

TINY = os.environ.get("JAXL2_EXAMPLE_SIZE") == "tiny"
EPOCHS, BATCH, LAMS = (
    (2, 64, [0.0, 0.1, 1.0]) if TINY else (30, 32, [0.0, 0.01, 0.1, 0.3, 1.0, 3.0])
)

X, y = load_breast_cancer(return_X_y=True)
X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
mean, std = X_train.mean(0), X_train.std(0)
X_train, X_val = (
    ((X_train - mean) / std).astype(np.float32),
    ((X_val - mean) / std).astype(np.float32),
)
y_train, y_val = y_train.astype(np.int32), y_val.astype(np.int32)


class Net(nnx.Module):
    """Linear → BatchNorm → relu → Dropout → Linear."""

    def __init__(self, *, rngs: nnx.Rngs):
        self.hidden = nnx.Linear(X.shape[1], 64, rngs=rngs)
        self.norm = nnx.BatchNorm(64, rngs=rngs)
        self.drop = nnx.Dropout(0.3, rngs=rngs)
        self.out = nnx.Linear(64, 2, rngs=rngs)

    def __call__(self, x):
        return self.out(self.drop(jax.nn.relu(self.norm(self.hidden(x)))))


def loss(model, batch):
    x, y = batch
    return optax.softmax_cross_entropy_with_integer_labels(model(x), y).mean()


def accuracy(model, batch):
    x, y = batch
    return jnp.mean(jnp.argmax(model(x), -1) == y)


trainer = jaxl2.SweepTrainer(
    lambda rngs: Net(rngs=rngs),
    loss,
    lambda lam: jaxl2.adamw(3e-3, weight_decay=lam, mask="weights"),
    np.array(LAMS, np.float32),
)
state = trainer.init()
rng = np.random.default_rng(0)
for _ in range(EPOCHS):
    order = rng.permutation(len(y_train))
    for start in range(0, len(order) - BATCH + 1, BATCH):  # full batches: one compiled step
        rows = order[start : start + BATCH]
        state, losses = trainer.step(state, (X_train[rows], y_train[rows]))

scores = trainer.evaluate(state, (X_val, y_val), metrics={"accuracy": accuracy})
print(f"{'λ':>6} {'val loss':>9} {'val acc':>8}")
for lam, val_loss, acc in zip(LAMS, scores["loss"], scores["accuracy"], strict=True):
    print(f"{lam:>6g} {float(val_loss):>9.4f} {float(acc):>8.3f}")
k = int(np.argmin(scores["loss"]))
model = trainer.model(state, k)  # an nnx.Module in eval mode
print(f"best λ = {LAMS[k]:g}: validation accuracy {float(accuracy(model, (X_val, y_val))):.3f}")
