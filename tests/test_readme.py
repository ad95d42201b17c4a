"""Every ```python block of README.md runs, prints what the README says it prints, and computes
what the README says it computes (checked against the references it names: optax, scikit-learn,
finite differences).

Each block runs in a fresh subprocess (so that figures, x64 flags or device settings in one
block cannot leak into the suite), followed by its check code in the same namespace; the
selected blocks start together, a few at a time (see ``tests/_concurrent.py``).
"""

from __future__ import annotations

import ast
import os
import re
import sys
from pathlib import Path

import pytest

from tests._concurrent import Children, selected

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def _penalties(out: list[str]) -> None:
    assert float(out[0]) == pytest.approx(0.12, rel=1e-6)  # "0.01 · Σ kernel² = 0.12"
    assert ast.literal_eval(out[1]) == pytest.approx((0.00025, 0.2), rel=1e-12)
    assert float(out[2]) == pytest.approx(0.01)  # λ·(n/n') with τ in epochs fixed: 0.1 / 10
    describe = "\n".join(out[3:])
    assert re.search(r"dense/kernel\s+\(4, 3\)\s+float32\s+yes", describe)
    assert "decayed: 1 of 4 leaves, 12 of 21 parameters" in describe


_PENALTIES_CHECK = """
import numpy as np
p0 = {"dense": {"kernel": jnp.ones((4, 3)), "bias": jnp.zeros(3)},
      "LayerNorm_0": {"scale": jnp.ones(3), "bias": jnp.zeros(3)}}
g = jax.tree.map(lambda x: jnp.linspace(-1.0, 2.0, x.size).reshape(x.shape), p0)
def two_steps(t):
    s = t.init(p0)
    u, s = t.update(g, s, p0)
    u, s = t.update(g, s, optax.apply_updates(p0, u))
    return u
# jaxl2.adamw gives optax.adamw's numbers bit for bit
ref = two_steps(optax.adamw(1e-3, weight_decay=1e-2, mask=jaxl2.masks.weights))
for a, b in zip(jax.tree.leaves(two_steps(tx)), jax.tree.leaves(ref), strict=True):
    assert np.array_equal(a, b), (a, b)
# timescale=10_000 steps at lr 1e-3 is weight_decay 0.1
tau, wd = two_steps(tx_tau), two_steps(jaxl2.adamw(1e-3, weight_decay=0.1, mask="weights"))
for a, b in zip(jax.tree.leaves(tau), jax.tree.leaves(wd), strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-12)
# the penalty's gradient is 2·lam·w on the kernel only
grad = jax.grad(lambda p: jaxl2.l2(p, 0.01, mask="weights"))(p0)
np.testing.assert_allclose(grad["dense"]["kernel"], 0.02)
assert not grad["dense"]["bias"].any() and not grad["LayerNorm_0"]["scale"].any()
"""


def _sweep(out: list[str]) -> None:
    assert out[-1] == "[2. 1.]"  # argmin_w Σ (t − w·x)² + lam·w² at lam = 0 and 14
    assert out[0].split() == [
        "weight_decay",
        "train_accuracy",
        "val_accuracy",
        "gap_accuracy",
        "weight_norm",
    ]
    assert sum(line.rstrip().endswith("*") for line in out) == 1  # the best λ marked
    assert out[-2].startswith("Best(index=")


_SWEEP_CHECK = """
import math
assert Path("lambda_sweep.png").read_bytes()[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
val_loss = np.asarray(result.final("val_loss"))
best = result.best()
assert len(val_loss) == 16 and best.value == np.nanmin(val_loss)   # lowest validation loss
assert math.isclose(best.hparams["weight_decay"],
                    float(np.logspace(-2, 2, 16).astype(np.float32)[best.index]), rel_tol=1e-6)
acc = np.asarray(result.final("val_accuracy"))
gap = np.asarray(result.final("gap_accuracy"))
np.testing.assert_allclose(gap, np.asarray(result.final("train_accuracy")) - acc, atol=1e-6)
norms = np.asarray(result.final("weight_norm"))
assert norms[-1] < norms[0]   # stronger decay, smaller weights
"""
_SWEEP_PRELUDE = "from pathlib import Path\n"


def _trainer(out: list[str]) -> None:
    acc, best = re.fullmatch(r"\[([^\]]*)\] \[([^\]]*)\]", out[-1]).groups()
    assert len(acc.split()) == 8 and len(best.split()) == 8
    assert all(0.5 < float(a) <= 1 for a in acc.split())
    assert all(0 <= int(s) <= 100 for s in best.split())  # 5 epochs of 20 batches


_TRAINER_CHECK = """
assert isinstance(best_model, nnx.Module)
assert np.asarray(losses).shape == (8,) and np.isfinite(np.asarray(losses)).all()
# evaluation runs in eval mode: the same accuracies twice (no dropout)
again = trainer.evaluate(state, (X[1300:], y[1300:]), metrics={"accuracy": accuracy})
np.testing.assert_array_equal(np.asarray(again["accuracy"]), np.asarray(val["accuracy"]))
"""


def _halving(out: list[str]) -> None:
    kept, spent = re.fullmatch(r"(\[.*\]) (\d+) member-steps of 810", out[0]).groups()
    kept = ast.literal_eval(kept)
    assert [len(k) for k in kept] == sorted((len(k) for k in kept), reverse=True)
    assert 0 < int(spent) < 810  # fewer member-steps than training all 9 to the end


_HALVING_CHECK = """
assert len(sh.rungs[0]["kept"]) == 3 and sh.member_steps < 9 * 90
# the schedule PBT found, replayed in a plain run, reaches the loss PBT recorded
np.testing.assert_allclose(pbt.replay()["loss"], pbt.records["loss"][pbt.best], rtol=1e-4)
"""


def _ridge(out: list[str]) -> None:
    best_lam, loo = (float(v) for v in out[0].split())
    assert 1e-3 <= best_lam <= 1e3 and loo > 0


_RIDGE_CHECK = """
import numpy as np
from sklearn.linear_model import BayesianRidge, Ridge, RidgeCV
Xn, yn = np.asarray(X), np.asarray(y)
sk = Ridge(alpha=3.0).fit(Xn, yn)
np.testing.assert_allclose(fit.coef, sk.coef_, rtol=1e-8, atol=1e-10)
np.testing.assert_allclose(fit.intercept, sk.intercept_, rtol=1e-8, atol=1e-10)
cv = RidgeCV(alphas=np.logspace(-3, 3, 50)).fit(Xn, yn)
np.testing.assert_allclose(path.best_lam, cv.alpha_, rtol=1e-8)
np.testing.assert_allclose(path.loo_mse[path.best_index], -cv.best_score_, rtol=1e-8)
br = BayesianRidge().fit(Xn, yn)
np.testing.assert_allclose(bayes.coef, br.coef_, rtol=1e-6)
np.testing.assert_allclose(bayes.ridge_lam, br.lambda_ / br.alpha_, rtol=1e-6)
assert tuned.value <= path.loo_mse.min()   # the Newton steps refine the grid's best
loo = lambda t: float(jaxl2.ridge_path(X, y, jnp.exp(jnp.asarray([t]))).loo_mse[0])
np.testing.assert_allclose(slope, (loo(1e-4) - loo(-1e-4)) / 2e-4, rtol=1e-5)
"""


def _classifiers(out: list[str]) -> None:
    counts = [int(c) for c in out[0].strip("[]").split()]
    assert len(counts) == 5 and counts[0] == 0  # no coefficient is non-zero at lam_max


_CLASSIFIERS_CHECK = """
import jax, numpy as np
from sklearn.linear_model import LogisticRegression, lasso_path as sk_lasso_path
sk = LogisticRegression(C=1 / (2 * 1.0), tol=1e-10, max_iter=10_000).fit(X, y)
coef = np.asarray(fit.coef).ravel()
# float32 (x64 off in this block): relative to the norm
assert np.linalg.norm(coef - sk.coef_.ravel()) <= 1e-3 * np.linalg.norm(sk.coef_), coef
assert bool(fit.converged) and bool(np.asarray(path.converged).all())
Xc, yc = Xd - Xd.mean(0), yd - yd.mean()
alphas, sk_coefs, _ = sk_lasso_path(Xc, yc, alphas=100)
np.testing.assert_allclose(lasso.lams, 2 * len(yd) * alphas, rtol=1e-5)  # lam = 2·n·alpha
np.testing.assert_array_equal((np.asarray(lasso.coef) != 0).sum(1)[:20], (sk_coefs != 0).sum(0)[:20])
# the proximal step leaves exact zeros: |w| ≤ lr·lam = 1e-3 goes to 0, the rest shrinks by it
p = {"kernel": jnp.array([[5e-4, -2e-3], [0.5, 1.0]])}
u, _ = tx.update(jax.tree.map(jnp.zeros_like, p), tx.init(p), p)
np.testing.assert_allclose(optax.apply_updates(p, u)["kernel"], [[0.0, -1e-3], [0.499, 0.999]],
                           rtol=1e-5, atol=0)
"""

# marker (a string in exactly one block) -> (what its printed lines must be, check code run after
# the block in its namespace, code run before it)
CHECKS = {
    'jaxl2.l2(params, 0.01, mask="weights")': (_penalties, _PENALTIES_CHECK, ""),
    "jaxl2.sweep(ridge_1d": (_sweep, _SWEEP_CHECK, _SWEEP_PRELUDE),
    "class Net(nnx.Module)": (_trainer, _TRAINER_CHECK, ""),
    "jaxl2.successive_halving(": (_halving, _HALVING_CHECK, ""),
    "jaxl2.ridge_path(X, y, jnp.logspace(-3, 3, 50))": (_ridge, _RIDGE_CHECK, ""),
    "jaxl2.lasso_path(Xd, yd)": (_classifiers, _CLASSIFIERS_CHECK, ""),
}


def _checks_of(block: str) -> tuple:
    found = [check for marker, check in CHECKS.items() if marker in block]
    assert len(found) <= 1, "a README block matches two checks"
    return found[0] if found else (None, "", "")


def test_readme_has_examples():
    assert len(BLOCKS) >= 1


def test_every_check_has_its_block():
    """Each check finds exactly one README block (a renamed example must keep its check)."""
    for marker in CHECKS:
        assert sum(marker in block for block in BLOCKS) == 1, marker


@pytest.fixture(scope="module")
def ran(request, tmp_path_factory):
    """Runs the selected blocks, a few at a time, each in its own directory."""

    def command(index):
        _, check_code, prelude = _checks_of(BLOCKS[index])
        code = prelude + BLOCKS[index] + "\n# --- test_readme's checks ---\n" + check_code
        return {
            "args": [sys.executable, "-c", code],
            "cwd": tmp_path_factory.mktemp(f"block{index}"),
            "capture_output": True,
            "text": True,
            "timeout": 600,
            "env": {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)},
        }

    children = Children(selected(request, "index"), command)
    yield children.result
    children.close()


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block(index, ran):
    block = BLOCKS[index]
    check_output = _checks_of(block)[0]
    proc = ran(index)
    assert proc.returncode == 0, f"README block {index} failed:\n{block}\n{proc.stderr[-3000:]}"
    if check_output is not None:
        check_output(proc.stdout.splitlines())
