"""Each conversion checked by behaviour: the peer's fitted model or update rule equals ours."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from sklearn.linear_model import ElasticNet, LogisticRegression, Ridge

import jaxl2
from jaxl2 import convert


def _regression(n=40, p=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    y = X @ rng.normal(size=p) + 0.3 * rng.normal(size=n)
    return X, y


def test_sklearn_ridge_alpha(x64):
    X, y = _regression()
    alpha = 3.0
    lam = convert.alpha_to_lam(alpha)
    Xc, yc = X - X.mean(0), y - y.mean()
    w = np.linalg.solve(Xc.T @ Xc + lam * np.eye(X.shape[1]), Xc.T @ yc)  # argmin Σr² + lam‖w‖²
    np.testing.assert_allclose(Ridge(alpha=alpha).fit(X, y).coef_, w, rtol=1e-10)
    assert convert.lam_to_alpha(lam) == alpha


def test_sklearn_logistic_c(x64):
    X, y = _regression()
    yb = (y > 0).astype(float)
    C = 0.7
    clf = LogisticRegression(C=C, tol=1e-12, max_iter=10_000).fit(X, yb)
    lam = convert.c_to_lam(C)

    def objective(wb):
        z = X @ wb[:-1] + wb[-1]
        return jnp.sum(jnp.logaddexp(0.0, z) - yb * z) + jaxl2.l2(wb[:-1], lam)

    grad = jax.grad(objective)(jnp.concatenate([clf.coef_[0], clf.intercept_]))
    assert float(jnp.max(jnp.abs(grad))) < 1e-6  # sklearn's solution is our optimum
    assert convert.lam_to_c(lam) == pytest.approx(C)


def test_torch_weight_decay_is_half_lam(x64):
    w = jnp.array([1.0, -2.0, 0.5])
    rate = 0.2
    tx = jaxl2.coupled(optax.sgd(0.1), rate)  # torch.optim.SGD(weight_decay=rate)
    u, _ = tx.update(jnp.zeros(3), tx.init(w), w)
    grad_pen = jax.grad(jaxl2.l2)(w, convert.weight_decay_to_lam(rate))
    np.testing.assert_allclose(u, -0.1 * grad_pen, rtol=1e-14)
    assert convert.lam_to_weight_decay(convert.weight_decay_to_lam(rate)) == rate


def test_keras():
    w = jnp.array([[1.0, -2.0], [0.5, 3.0]])
    # Keras: L2(l2)(w) = l2 * sum(square(w))
    np.testing.assert_allclose(
        jaxl2.l2(w, convert.keras_l2_to_lam(0.01)), 0.01 * float(jnp.sum(w**2)), rtol=1e-6
    )
    assert convert.lam_to_keras_l2(0.01) == 0.01


def _glmnet_gaussian(beta, b0, X, y, lam, alpha):
    r = y - X @ beta - b0
    return 0.5 * np.mean(r**2) + lam * (
        (1 - alpha) / 2 * np.sum(beta**2) + alpha * np.sum(np.abs(beta))
    )


def _ours(beta, b0, X, y, lam, rho):
    r = y - X @ beta - b0
    return np.sum(r**2) + lam * (rho * np.sum(np.abs(beta)) + (1 - rho) * np.sum(beta**2))


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_glmnet_gaussian_objectives_are_proportional(alpha):
    X, y = _regression()
    n = len(y)
    lam, rho = convert.glmnet_to_lam(0.05, n, alpha)
    rng = np.random.default_rng(1)
    for _ in range(5):
        beta, b0 = rng.normal(size=X.shape[1]), rng.normal()
        # ours = 2N · glmnet at every point, so both have the same minimizer
        np.testing.assert_allclose(
            _ours(beta, b0, X, y, lam, rho),
            2 * n * _glmnet_gaussian(beta, b0, X, y, 0.05, alpha),
            rtol=1e-12,
        )
    back = convert.lam_to_glmnet(lam, n, rho)
    np.testing.assert_allclose(back, (0.05, alpha), rtol=1e-12)


def test_glmnet_binomial_matches_sklearn_c():
    n, lam_glmnet = 200, 0.01
    lam, rho = convert.glmnet_to_lam(lam_glmnet, n, family="binomial")
    # scikit-learn's documented glmnet equivalence: C = 1 / (λ N)
    assert rho == 0.0
    assert lam == pytest.approx(convert.c_to_lam(1.0 / (lam_glmnet * n)))
    np.testing.assert_allclose(convert.lam_to_glmnet(lam, n, family="binomial"), (lam_glmnet, 0.0))


def test_sklearn_elastic_net(x64):
    X, y = _regression(n=60, p=6)
    X = X - X.mean(0)
    y = y - y.mean()
    alpha, l1 = 0.05, 0.4
    enet = ElasticNet(
        alpha=alpha, l1_ratio=l1, fit_intercept=False, tol=1e-14, max_iter=100_000
    ).fit(X, y)
    lam, rho = convert.sklearn_enet_to_lam(alpha, l1, len(y))
    w = enet.coef_
    # KKT conditions of Σr² + lam(ρ‖w‖₁ + (1 − ρ)‖w‖²) at sklearn's solution
    grad_smooth = -2 * X.T @ (y - X @ w) + 2 * lam * (1 - rho) * w
    nz = w != 0
    np.testing.assert_allclose(grad_smooth[nz], -lam * rho * np.sign(w[nz]), atol=1e-8)
    assert np.all(np.abs(grad_smooth[~nz]) <= lam * rho + 1e-8)
    np.testing.assert_allclose(
        convert.lam_to_sklearn_enet(lam, rho, len(y)), (alpha, l1), rtol=1e-12
    )


def test_keras_l1l2():
    lam, rho = convert.keras_l1l2_to_lam(0.01, 0.03)
    w = jnp.array([1.0, -2.0])
    np.testing.assert_allclose(jaxl2.elastic_net(w, lam, rho), 0.01 * 3 + 0.03 * 5, rtol=1e-6)


def test_normalized_weight_decay():
    # λ = λ_norm · √(b / (B·T)); the paper's CIFAR-10 setting: b = 128, B = 50 000, T = 100
    assert convert.normalized_weight_decay(0.05, 128, 50_000, 100) == pytest.approx(
        0.05 * np.sqrt(128 / 5e6)
    )
    # doubling the epochs divides λ by √2
    ratio = convert.normalized_weight_decay(
        0.05, 128, 50_000, 200
    ) / convert.normalized_weight_decay(0.05, 128, 50_000, 100)
    assert ratio == pytest.approx(1 / np.sqrt(2))


@pytest.mark.standard_promotion
def test_convert_decay_gives_identical_steps(x64):
    params = jnp.array([1.0, -2.0, 3.0])
    grads = jnp.array([0.1, 0.2, -0.3])
    lr = 1e-2
    updates = {}
    for mode in ("lr", "schedule", "constant"):
        rate = convert.convert_decay(0.1, from_mode="lr", to_mode=mode, learning_rate=lr)
        tx = jaxl2.adamw(lr, weight_decay=rate, mode=mode)
        updates[mode], _ = tx.update(grads, tx.init(params), params)
    np.testing.assert_allclose(updates["schedule"], updates["lr"], rtol=1e-14)
    np.testing.assert_allclose(updates["constant"], updates["lr"], rtol=1e-14)
    # at a point of a schedule: lr_t = 1e-3, lr_0 = 1e-2
    r = convert.convert_decay(
        0.5, from_mode="schedule", to_mode="lr", learning_rate=1e-3, base_learning_rate=1e-2
    )
    assert 1e-3 * r == pytest.approx((1e-3 / 1e-2) * 0.5)


def test_ema_timescale_by_simulation():
    lr, rate = 0.01, 0.5
    tau = convert.ema_timescale(lr, rate)
    tx = jaxl2.decoupled(optax.sgd(lr), rate, learning_rate=lr)
    w = jnp.ones(1)
    state = tx.init(w)
    for _ in range(int(tau)):
        u, state = tx.update(jnp.zeros(1), state, w)
        w = w + u
    assert float(w[0]) == pytest.approx(np.exp(-1), rel=0.01)  # decays by e in τ steps
    assert convert.weight_decay_from_timescale(tau, lr) == pytest.approx(rate)
    epochs = convert.ema_timescale(lr, rate, batch_size=50, n_train=1000)
    assert epochs == pytest.approx(tau * 50 / 1000)
    assert convert.weight_decay_from_timescale(
        epochs, lr, batch_size=50, n_train=1000
    ) == pytest.approx(rate)


def test_gaussian_prior_map_is_ridge(x64):
    X, y = _regression()
    noise, prior = 0.09, 2.0
    # MAP: maximize −‖y − Xw‖²/(2σ²_noise) − ‖w‖²/(2σ²_prior)
    w_map = np.linalg.solve(X.T @ X / noise + np.eye(X.shape[1]) / prior, X.T @ y / noise)
    lam = convert.prior_to_lam(noise, prior)
    np.testing.assert_allclose(
        np.linalg.solve(X.T @ X + lam * np.eye(X.shape[1]), X.T @ y), w_map, rtol=1e-10
    )
    assert convert.lam_to_prior_variance(lam, noise) == pytest.approx(prior)


def test_bad_input():
    with pytest.raises(ValueError, match=r"C must be > 0, got 0"):
        convert.c_to_lam(0)
    with pytest.raises(ValueError, match=r"C must be non-negative and not NaN, got -1"):
        convert.c_to_lam(-1)
    with pytest.raises(ValueError, match=r"alpha must lie in \[0.0, 1.0\], got 2"):
        convert.glmnet_to_lam(0.1, 10, alpha=2)
    with pytest.raises(ValueError, match="family must be one of"):
        convert.glmnet_to_lam(0.1, 10, family="poisson")
    with pytest.raises(ValueError, match="to_mode must be one of"):
        convert.convert_decay(0.1, from_mode="lr", to_mode="decoupled", learning_rate=0.1)
    with pytest.raises(ValueError, match="pass both batch_size and n_train"):
        convert.ema_timescale(0.1, 0.1, batch_size=10)
    with pytest.raises(ValueError, match=r"lam must be non-negative and not NaN, got nan"):
        convert.lam_to_weight_decay(float("nan"))
