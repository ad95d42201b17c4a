"""``verbose``: solver progress printed from inside the compiled loop (jax.debug.print)."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import logsumexp
from sklearn.datasets import load_iris

import jaxl2
from jaxl2.sklearn import LogisticRegression

LINE = re.compile(r"jaxl2 (\w+): iter (\d+)  objective (\S+)  max\|grad\| (\S+)")


def _objective(model, X, y):
    """scikit-learn's scale: mean softmax loss + ‖W‖²/(2 C n) + l1 part (uniform weights)."""
    Z = X @ model.coef_.T + model.intercept_
    loss = np.mean(logsumexp(Z, axis=1) - Z[np.arange(len(y)), y])
    l1 = model.l1_ratio or 0.0
    W = model.coef_
    pen = ((1 - l1) * 0.5 * np.sum(W * W) + l1 * np.sum(np.abs(W))) / model.C
    return loss + pen / len(y)


@pytest.mark.parametrize(
    ("solver", "options", "name"),
    # (Newton's lines are checked under jit below: "auto" runs it.)
    [("lbfgs", {}, "lbfgs"), ("saga", {"l1_ratio": 0.5}, "prox_newton")],
)
def test_sklearn_verbose_prints_each_iteration(capsys, solver, options, name):
    X, y = load_iris(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    model = LogisticRegression(solver=solver, verbose=1, max_iter=200, **options).fit(X, y)
    out = capsys.readouterr().out
    lines = [LINE.fullmatch(line) for line in out.splitlines() if line.startswith(f"jaxl2 {name}")]
    assert lines and all(lines), out
    assert len(lines) == int(model.n_iter_[0])
    assert out.splitlines()[0].startswith(f"jaxl2 LogisticRegression: solver '{solver}'")
    assert f"converged after {model.n_iter_[0]} iterations" in out.splitlines()[-1]
    values = [float(m.group(3)) for m in lines]
    assert values[-1] < values[0]
    # Each line is the objective after that step: the last one is the fit's.
    np.testing.assert_allclose(values[-1], _objective(model, X, y), rtol=1e-6)
    assert float(lines[-1].group(4)) <= model.tol


def test_verbose_zero_prints_nothing(capsys):
    X, y = load_iris(return_X_y=True)
    LogisticRegression(max_iter=500).fit(X, y)
    assert capsys.readouterr().out == ""


def test_logistic_regression_verbose_under_jit(capsys):
    X, y = load_iris(return_X_y=True)
    Xj, yj = jnp.asarray(X, jnp.float32), jnp.asarray(y)

    @jax.jit
    def fit(X, y):
        return jaxl2.logistic_regression(X, y, 1.0, n_classes=3, verbose=1, max_iter=4)

    res = fit(Xj, yj)
    jax.effects_barrier()
    lines = [LINE.fullmatch(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == int(res.n_iter) == 4 and all(lines)
    assert [int(m.group(2)) for m in lines] == [1, 2, 3, 4]
