"""jaxl2.cross_validate against scikit-learn's cross_val_score on the same folds."""

import json

import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.model_selection import cross_val_score

import jaxl2


def fit_ridge(lam, X, y):
    """argmin_{w, b} Σ (y − Xw − b)² + lam·‖w‖² (intercept unpenalized), closed form."""
    xm, ym = X.mean(0), y.mean()
    Xc, yc = X - xm[None, :], y - ym
    w = jnp.linalg.solve(Xc.T @ Xc + lam * jnp.eye(X.shape[1], dtype=X.dtype), Xc.T @ yc)
    return w, ym - xm @ w


def neg_mse(params, X, y):
    w, b = params
    return -jnp.mean((X @ w + b - y) ** 2)


def test_scores_equal_sklearn_ridge_on_the_same_folds(x64):
    X, y = load_diabetes(return_X_y=True)
    X, y = X[:203], y[:203]  # 203 rows, 5 folds of 40: 3 rows left over stay in training
    lams = np.array([1e-3, 1e-2, 0.1, 1.0, 10.0])
    cv = jaxl2.cross_validate(fit_ridge, neg_mse, X, y, lams, folds=5, seed=3)
    assert cv.scores.shape == (5, 5) and cv.test_index.shape == (5, 40)
    assert len(np.unique(cv.test_index)) == 200  # disjoint held-out folds
    splits = [(np.setdiff1d(np.arange(203), test), test) for test in cv.test_index]
    expected = np.stack(
        [
            cross_val_score(Ridge(alpha=lam), X, y, cv=splits, scoring="neg_mean_squared_error")
            for lam in lams
        ]
    )
    np.testing.assert_allclose(cv.scores, expected, rtol=1e-8)
    np.testing.assert_allclose(cv.mean, expected.mean(1), rtol=1e-8)
    np.testing.assert_allclose(cv.std, expected.std(1), rtol=1e-8)
    assert cv.best_index == int(np.argmax(expected.mean(1)))
    assert cv.best().hparams == {"hparam": pytest.approx(lams[cv.best_index])}
    assert cv.table().splitlines()[2 + cv.best_index].endswith("*")


def test_lower_is_better_and_pytree_hparams():
    X = np.linspace(0, 1, 30, dtype=np.float32)[:, None]
    y = (2 * X[:, 0]).astype(np.float32)

    def fit(h, X, y):
        return jnp.sum(X[:, 0] * y) / (jnp.sum(X[:, 0] ** 2) + h["lam"])

    def mse(w, X, y):
        return jnp.mean((X[:, 0] * w - y) ** 2)

    grid = jaxl2.grid(lam=np.array([10.0, 0.0, 1.0], np.float32))
    cv = jaxl2.cross_validate(fit, mse, X, y, grid, folds=3, greater_is_better=False)
    assert cv.best().index == 1 and cv.best().hparams == {"lam": 0.0}


def test_cross_validate_bad_inputs():
    X, y = np.ones((6, 2), np.float32), np.ones(6, np.float32)
    lams = np.array([0.1], np.float32)
    with pytest.raises(ValueError, match="folds must satisfy 2 <= folds <= n = 6, got folds=7"):
        jaxl2.cross_validate(fit_ridge, neg_mse, X, y, lams, folds=7)
    with pytest.raises(ValueError, match="folds must satisfy 2 <= folds"):
        jaxl2.cross_validate(fit_ridge, neg_mse, X, y, lams, folds=1)
    with pytest.raises(TypeError, match="folds must be an integer"):
        jaxl2.cross_validate(fit_ridge, neg_mse, X, y, lams, folds=2.5)
    with pytest.raises(ValueError, match=r"X and y must have the same number of rows"):
        jaxl2.cross_validate(fit_ridge, neg_mse, X, y[:5], lams)


def test_info_and_checkpoint_fingerprint_from_the_settings(tmp_path):
    from jaxl2._sweep import cv as _cv

    X = np.linspace(0, 1, 12, dtype=np.float32)[:, None]
    y = (3 * X[:, 0]).astype(np.float32)

    def fit(lam, X, y):  # argmin_w Σ (y − w·x)² + lam·w²
        return jnp.sum(X[:, 0] * y) / (jnp.sum(X[:, 0] ** 2) + lam)

    def mse(w, X, y):
        return jnp.mean((X[:, 0] * w - y) ** 2)

    def mae(w, X, y):
        return jnp.mean(jnp.abs(X[:, 0] * w - y))

    lams = np.array([0.0, 1.0, 10.0], np.float32)
    options = dict(folds=3, strategy="chunked", batch_size=2, checkpoint_dir=tmp_path)
    cv = jaxl2.cross_validate(fit, mse, X, y, lams, **options)
    assert (cv.info.chosen, cv.info.width, cv.info.members, cv.info.loaded) == ("vmap", 2, 3, 0)
    again = jaxl2.cross_validate(fit, mse, X, y, lams, **options)
    assert again.info.chosen is None and again.info.loaded == 3  # loaded, nothing ran
    np.testing.assert_array_equal(again.scores, cv.scores)
    np.testing.assert_allclose(cv.scores[0], 0.0, atol=1e-10)  # λ = 0 fits y = 3x exactly
    # the fingerprint names fit_fn and score_fn, without renaming any function
    manifest = json.loads((tmp_path / "sweep.json").read_text())
    assert manifest["signature"]["fn"] == (
        f"jaxl2.cross_validate[fit_fn={__name__}.{fit.__qualname__}, "
        f"score_fn={__name__}.{mse.__qualname__}]"
    )
    assert _cv._member_fn(fit, mse).__qualname__.endswith("_member_fn.<locals>.member")
    with pytest.raises(ValueError, match=r"holds a different sweep.*fn's name or settings"):
        jaxl2.cross_validate(fit, mae, X, y, lams, **options)
    with pytest.raises(TypeError, match=r"unknown keyword argument\(s\) \['return_info'\]"):
        jaxl2.cross_validate(fit, mse, X, y, lams, return_info=True)
