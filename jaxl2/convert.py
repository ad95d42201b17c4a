"""Conversions between jaxl2's one λ convention and everybody else's.

jaxl2 writes every objective as ``data term + lam · penalty`` with an unnormalized data term
(``Σ sᵢ·lossᵢ``, a sum, not a mean) and an unhalved penalty (``lam · ‖w‖²``). Each function here
states the peer's objective and the formula that maps it. All of them work on Python floats,
NumPy arrays and JAX arrays (also under ``jit``); concrete inputs are validated.

| peer                                      | relation                                   |
|-------------------------------------------|--------------------------------------------|
| scikit-learn ``Ridge(alpha)``             | ``lam = alpha``                            |
| scikit-learn ``LogisticRegression(C)``    | ``lam = 1 / (2 C)``                        |
| torch / optax ``weight_decay`` (coupled)  | ``lam = weight_decay / 2``                 |
| Keras ``L2(l2)``                          | ``lam = l2``                               |
| glmnet ``λ, α`` (gaussian)                | ``lam = N λ (1 + α)``, ``ρ = 2α / (1 + α)``|
| scikit-learn ``ElasticNet(alpha, l1_ratio)`` | as glmnet gaussian                      |
| Gaussian prior                            | ``lam = σ²_noise / σ²_prior``              |
"""

from __future__ import annotations

from typing import Any, Literal

from ._checks import check_choice, check_in_range, check_nonnegative, is_concrete
from ._typing import ArrayLike

__all__ = [
    "alpha_to_lam",
    "lam_to_alpha",
    "c_to_lam",
    "lam_to_c",
    "weight_decay_to_lam",
    "lam_to_weight_decay",
    "keras_l2_to_lam",
    "lam_to_keras_l2",
    "keras_l1l2_to_lam",
    "glmnet_to_lam",
    "lam_to_glmnet",
    "sklearn_enet_to_lam",
    "lam_to_sklearn_enet",
    "normalized_weight_decay",
    "convert_decay",
    "ema_timescale",
    "weight_decay_from_timescale",
    "prior_to_lam",
    "lam_to_prior_variance",
    "transfer_weight_decay",
    "ema_timescale_fraction",
    "transfer_weight_decay_budget",
    "transfer_width",
]


def _positive(x: Any, name: str) -> Any:
    check_nonnegative(x, name, allow_inf=False)
    if is_concrete(x):
        import numpy as np

        arr = np.asarray(x)
        if (arr == 0).any():
            raise ValueError(f"{name} must be > 0, got {x!r}.")
    return x


def _epochs(batch_size: Any, n_train: Any, neither: str) -> tuple[Any, Any] | None:
    """``(batch_size, n_train)``, both checked ``> 0``, or None when neither is given.

    One given without the other raises ``ValueError(neither)`` (the caller's wording).
    """
    if (batch_size is None) != (n_train is None):
        raise ValueError(neither)
    if batch_size is None or n_train is None:
        return None
    return _positive(batch_size, "batch_size"), _positive(n_train, "n_train")


def alpha_to_lam(alpha: ArrayLike) -> ArrayLike:
    """scikit-learn ``Ridge(alpha)`` → jaxl2 ridge ``lam``: ``lam = alpha``.

    Both minimize ``Σ sᵢ (yᵢ − xᵢᵀw − b)² + alpha · ‖w‖²`` (unnormalized squared error, intercept
    unpenalized), so the numbers are the same. scikit-learn's ``alpha`` is already jaxl2's ``lam``
    for ridge; this exists so that code converting from any peer reads the same way.

    Args:
        alpha: scikit-learn's ``alpha`` ``≥ 0``: a number or an array (traced values pass through).

    Returns:
        ``lam``, the same value (and type) as ``alpha``.

    Examples:
        >>> from jaxl2 import convert
        >>> convert.alpha_to_lam(1.5)
        1.5
    """
    check_nonnegative(alpha, "alpha")
    return alpha


def lam_to_alpha(lam: ArrayLike) -> ArrayLike:
    """jaxl2 ridge ``lam`` → scikit-learn ``Ridge(alpha)``: ``alpha = lam``.

    The same number (see :func:`alpha_to_lam`); this exists so that code converting to any peer
    reads the same way.

    Args:
        lam: jaxl2's ridge strength ``≥ 0``: a number or an array.

    Returns:
        scikit-learn's ``alpha``, the same value (and type) as ``lam``.

    Examples:
        >>> from jaxl2 import convert
        >>> convert.lam_to_alpha(2.0)
        2.0
    """
    check_nonnegative(lam, "lam")
    return lam


def c_to_lam(C: ArrayLike) -> ArrayLike:  # noqa: N803 - scikit-learn's name
    """scikit-learn ``C`` (``LogisticRegression``, ``LinearSVC``) → jaxl2 ``lam = 1 / (2 C)``.

    scikit-learn minimizes ``C · Σ sᵢ lossᵢ + ½ ‖w‖²``; dividing by ``C`` gives
    ``Σ sᵢ lossᵢ + (1 / (2C)) · ‖w‖²``.

    ``C = inf`` (scikit-learn's "no penalty") gives ``lam = 0``.

    Args:
        C: scikit-learn's inverse strength ``> 0`` (``inf`` allowed): a number or an array.

    Returns:
        ``lam = 1 / (2 C)``.

    Raises:
        ValueError: ``C`` is not > 0, or is NaN.

    Examples:
        >>> from jaxl2 import convert
        >>> convert.c_to_lam(0.5)
        1.0
        >>> convert.c_to_lam(float("inf"))
        0.0
    """
    check_nonnegative(C, "C")
    if is_concrete(C):
        import numpy as np

        if (np.asarray(C) == 0).any():
            raise ValueError(f"C must be > 0, got {C!r} (C = inf means no penalty: lam = 0).")
    return 1.0 / (2.0 * C)


def lam_to_c(lam: ArrayLike) -> ArrayLike:
    """jaxl2 ``lam`` → scikit-learn ``C = 1 / (2 lam)``.

    Args:
        lam: jaxl2's strength ``> 0``: a number or an array.

    Returns:
        scikit-learn's ``C = 1 / (2 lam)``.

    Raises:
        ValueError: ``lam`` is not > 0 (``lam = 0`` is ``C = ∞``: no penalty).

    Examples:
        >>> from jaxl2 import convert
        >>> convert.lam_to_c(1.0)
        0.5
    """
    _positive(lam, "lam")
    return 1.0 / (2.0 * lam)


def weight_decay_to_lam(weight_decay: ArrayLike) -> ArrayLike:
    """torch / optax coupled ``weight_decay`` → penalty ``lam = weight_decay / 2``.

    ``torch.optim.SGD(weight_decay=r)`` adds ``r · w`` to the gradient, which is the gradient of
    ``(r / 2) · ‖w‖² = l2(w, r / 2)``. (For decoupled decay, AdamW, there is no penalty
    equivalent under an adaptive optimizer; see :func:`convert_decay`.)

    Args:
        weight_decay: the coupled rate ``r ≥ 0`` of ``torch.optim.SGD`` (or
            ``optax.add_decayed_weights`` before a non-adaptive optimizer).

    Returns:
        ``lam = weight_decay / 2``.

    Examples:
        >>> from jaxl2 import convert
        >>> convert.weight_decay_to_lam(1e-4)
        5e-05
    """
    check_nonnegative(weight_decay, "weight_decay")
    return weight_decay / 2.0


def lam_to_weight_decay(lam: ArrayLike) -> ArrayLike:
    """Penalty ``lam`` → torch / optax coupled ``weight_decay = 2 · lam``.

    Args:
        lam: jaxl2's penalty strength ``≥ 0``.

    Returns:
        the coupled ``weight_decay = 2 · lam``.

    Examples:
        >>> from jaxl2 import convert
        >>> convert.lam_to_weight_decay(5e-05)
        0.0001
    """
    check_nonnegative(lam, "lam")
    return 2.0 * lam


def keras_l2_to_lam(l2: ArrayLike) -> ArrayLike:
    """Keras ``regularizers.L2(l2)`` → ``lam = l2`` (Keras adds ``l2 · Σ w²`` to the loss).

    Keras averages the data loss over the batch, so relative to a summed data term of ``n``
    points the strength is ``n · l2``; the penalty itself is the same number. This exists so that
    code converting from any peer reads the same way.

    Args:
        l2: the ``l2`` factor of ``keras.regularizers.L2`` (``≥ 0``).

    Returns:
        ``lam``, the same value (and type) as ``l2``.

    Examples:
        >>> from jaxl2 import convert
        >>> convert.keras_l2_to_lam(0.01)
        0.01
    """
    check_nonnegative(l2, "l2")
    return l2


def lam_to_keras_l2(lam: ArrayLike) -> ArrayLike:
    """``lam`` → Keras ``regularizers.L2(l2=lam)``.

    The same number (see :func:`keras_l2_to_lam`); this exists so that code converting to any
    peer reads the same way.

    Args:
        lam: jaxl2's penalty strength ``≥ 0``.

    Returns:
        Keras's ``l2``, the same value (and type) as ``lam``.

    Examples:
        >>> from jaxl2 import convert
        >>> convert.lam_to_keras_l2(0.01)
        0.01
    """
    check_nonnegative(lam, "lam")
    return lam


def keras_l1l2_to_lam(l1: ArrayLike, l2: ArrayLike) -> tuple[ArrayLike, ArrayLike]:
    """Keras ``L1L2(l1, l2)`` → ``(lam, l1_ratio)`` of :func:`jaxl2.elastic_net`.

    Keras adds ``l1 · Σ|w| + l2 · Σ w²`` = ``lam · (ρ Σ|w| + (1 − ρ) Σ w²)`` with ``lam = l1 + l2``
    and ``ρ = l1 / (l1 + l2)``.

    Args:
        l1: the ``l1`` factor of ``keras.regularizers.L1L2`` (``≥ 0``).
        l2: its ``l2`` factor (``≥ 0``); ``l1 + l2`` must be ``> 0``.

    Returns:
        ``(lam, l1_ratio)`` with ``lam = l1 + l2`` and ``l1_ratio = l1 / (l1 + l2)``.

    Raises:
        ValueError: a negative ``l1`` or ``l2``, or both 0.

    Examples:
        >>> from jaxl2 import convert
        >>> convert.keras_l1l2_to_lam(0.01, 0.03)
        (0.04, 0.25)
    """
    check_nonnegative(l1, "l1")
    check_nonnegative(l2, "l2")
    lam = l1 + l2
    _positive(lam, "l1 + l2")
    return lam, l1 / lam


def _enet_forward(
    lambda_: Any, mix: Any, n_samples: Any, half_loss: bool
) -> tuple[ArrayLike, ArrayLike]:
    # peer: (1/(2N))·RSS + λ·(α‖w‖₁ + (1−α)/2·‖w‖²)  [half_loss]  or  (1/N)·Σloss + same.
    # Multiply by 2N (or N): RSS + 2Nλα‖w‖₁ + Nλ(1−α)‖w‖², i.e. lam·ρ = 2Nλα, lam·(1−ρ) = Nλ(1−α).
    scale = 2.0 if half_loss else 1.0
    l1_part = scale * n_samples * lambda_ * mix
    l2_part = scale * n_samples * lambda_ * (1.0 - mix) / 2.0
    lam = l1_part + l2_part
    rho = 2.0 * mix / (1.0 + mix)
    return lam, rho


def _enet_inverse(
    lam: Any, rho: Any, n_samples: Any, half_loss: bool
) -> tuple[ArrayLike, ArrayLike]:
    scale = 2.0 if half_loss else 1.0
    mix = rho / (2.0 - rho)
    lambda_ = lam * (2.0 - rho) / (scale * n_samples)
    return lambda_, mix


def glmnet_to_lam(
    lambda_: ArrayLike,
    n_samples: ArrayLike,
    alpha: ArrayLike = 0.0,
    *,
    family: Literal["gaussian", "binomial", "multinomial"] = "gaussian",
) -> tuple[ArrayLike, ArrayLike]:
    """glmnet ``(λ, α)`` → jaxl2 ``(lam, l1_ratio)``.

    glmnet minimizes ``(1/N) Σ wᵢ ℓᵢ + λ · [(1 − α)/2 · ‖β‖² + α · ‖β‖₁]``, ``ℓ = ½ (y − ŷ)²`` for
    ``family="gaussian"`` and the negative log-likelihood for ``"binomial"``/``"multinomial"``.
    Multiplying by ``2N`` (gaussian) or ``N`` (logistic) gives jaxl2's
    ``Σ ℓ + lam · (ρ ‖β‖₁ + (1 − ρ) ‖β‖²)`` with

    - gaussian: ``lam = N λ (1 + α)``, ``ρ = 2α / (1 + α)`` (ridge, ``α = 0``: ``lam = N λ``);
    - binomial / multinomial: ``lam = N λ (1 + α) / 2``, same ``ρ`` (ridge: ``lam = N λ / 2``,
      which matches scikit-learn's ``C = 1 / (N λ)``).

    glmnet standardizes the columns of X by default and reports coefficients on the original
    scale: fit with ``jaxl2.ridge_path(..., standardize=True)`` for the same model. Its observation
    weights are normalized to sum to N.

    Args:
        lambda_: glmnet's ``lambda`` (scalar or array).
        n_samples: the number of observations ``N``.
        alpha: glmnet's mixing ``α`` in ``[0, 1]`` (0: ridge, 1: lasso).
        family: ``"gaussian"``, ``"binomial"`` or ``"multinomial"``.

    Returns:
        ``(lam, l1_ratio)``.

    Examples:
        >>> from jaxl2 import convert
        >>> convert.glmnet_to_lam(0.1, 100)
        (10.0, 0.0)
        >>> convert.glmnet_to_lam(0.1, 100, family="binomial")
        (5.0, 0.0)
    """
    check_nonnegative(lambda_, "lambda_")
    _positive(n_samples, "n_samples")
    check_in_range(alpha, "alpha", 0.0, 1.0)
    check_choice(family, "family", ("gaussian", "binomial", "multinomial"))
    return _enet_forward(lambda_, alpha, n_samples, half_loss=family == "gaussian")


def lam_to_glmnet(
    lam: ArrayLike,
    n_samples: ArrayLike,
    l1_ratio: ArrayLike = 0.0,
    *,
    family: Literal["gaussian", "binomial", "multinomial"] = "gaussian",
) -> tuple[ArrayLike, ArrayLike]:
    """jaxl2 ``(lam, l1_ratio)`` → glmnet ``(λ, α)``; the inverse of :func:`glmnet_to_lam`.

    ``α = ρ / (2 − ρ)``; ``λ = lam (2 − ρ) / (2N)`` (gaussian) or ``lam (2 − ρ) / N`` (logistic).

    Args:
        lam: jaxl2's strength ``≥ 0``.
        n_samples: the number of observations ``N > 0``.
        l1_ratio: jaxl2's ``ρ`` in ``[0, 1]``.
        family: ``"gaussian"`` (glmnet halves the mean squared error), ``"binomial"`` or
            ``"multinomial"``.

    Returns:
        glmnet's ``(lambda, alpha)``.

    Examples:
        >>> from jaxl2 import convert
        >>> convert.lam_to_glmnet(10.0, 100)
        (0.1, 0.0)
    """
    check_nonnegative(lam, "lam")
    _positive(n_samples, "n_samples")
    check_in_range(l1_ratio, "l1_ratio", 0.0, 1.0)
    check_choice(family, "family", ("gaussian", "binomial", "multinomial"))
    return _enet_inverse(lam, l1_ratio, n_samples, half_loss=family == "gaussian")


def sklearn_enet_to_lam(
    alpha: ArrayLike, l1_ratio: ArrayLike, n_samples: ArrayLike
) -> tuple[ArrayLike, ArrayLike]:
    """scikit-learn ``ElasticNet(alpha, l1_ratio)`` (and ``Lasso``) → jaxl2 ``(lam, l1_ratio)``.

    scikit-learn minimizes ``1/(2n) ‖y − Xw‖² + alpha ρ_s ‖w‖₁ + ½ alpha (1 − ρ_s) ‖w‖²``;
    times ``2n``: ``‖y − Xw‖² + lam (ρ ‖w‖₁ + (1 − ρ) ‖w‖²)`` with
    ``lam = n · alpha · (1 + ρ_s)`` and ``ρ = 2 ρ_s / (1 + ρ_s)``. (With ``sample_weight``,
    scikit-learn rescales the weights to sum to ``n``.)

    Args:
        alpha: scikit-learn's ``alpha``.
        l1_ratio: scikit-learn's ``l1_ratio`` ``ρ_s`` in ``[0, 1]`` (``Lasso``: 1).
        n_samples: ``n``.

    Returns:
        ``(lam, l1_ratio)`` for :func:`jaxl2.elastic_net_path`.

    Examples:
        >>> from jaxl2 import convert
        >>> convert.sklearn_enet_to_lam(0.1, 0.5, 100)
        (15.0, 0.666...)
    """
    check_nonnegative(alpha, "alpha")
    check_in_range(l1_ratio, "l1_ratio", 0.0, 1.0)
    _positive(n_samples, "n_samples")
    return _enet_forward(alpha, l1_ratio, n_samples, half_loss=True)


def lam_to_sklearn_enet(
    lam: ArrayLike, l1_ratio: ArrayLike, n_samples: ArrayLike
) -> tuple[ArrayLike, ArrayLike]:
    """jaxl2 ``(lam, l1_ratio)`` → scikit-learn ``ElasticNet(alpha, l1_ratio)``.

    ``ρ_s = ρ / (2 − ρ)``, ``alpha = lam (2 − ρ) / (2n)``; the inverse of
    :func:`sklearn_enet_to_lam`.

    Args:
        lam: jaxl2's strength ``≥ 0``.
        l1_ratio: jaxl2's ``ρ`` in ``[0, 1]``.
        n_samples: the number of observations ``n > 0``.

    Returns:
        scikit-learn's ``(alpha, l1_ratio)``.

    Examples:
        >>> from jaxl2 import convert
        >>> convert.lam_to_sklearn_enet(15.0, 2 / 3, 100)
        (0.1, 0.5)
    """
    check_nonnegative(lam, "lam")
    check_in_range(l1_ratio, "l1_ratio", 0.0, 1.0)
    _positive(n_samples, "n_samples")
    return _enet_inverse(lam, l1_ratio, n_samples, half_loss=True)


def normalized_weight_decay(
    lam_norm: ArrayLike, batch_size: ArrayLike, n_train: ArrayLike, epochs: ArrayLike
) -> ArrayLike:
    """Loshchilov & Hutter's normalized weight decay: ``rate = lam_norm · √(b / (B · T))``.

    ``b`` is the batch size, ``B`` the number of training points and ``T`` the number of epochs;
    the paper found ``lam_norm ≈ 0.025–0.05`` good across budgets. The result is the paper's
    ``λ`` (their Algorithm 2 decay, :func:`jaxl2.decoupled` with ``mode="schedule"``).

    Args:
        lam_norm: the normalized decay ``λ_norm ≥ 0``.
        batch_size: the batch size ``b > 0``.
        n_train: the number of training points ``B > 0``.
        epochs: the number of epochs ``T > 0``.

    Returns:
        the rate ``lam_norm · √(b / (B · T))``.

    Examples:
        >>> from jaxl2 import convert
        >>> round(convert.normalized_weight_decay(0.05, 128, 50_000, 100), 6)
        0.000253

    References:
        Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019, Appendix B.1.
    """
    check_nonnegative(lam_norm, "lam_norm")
    for v, n in ((batch_size, "batch_size"), (n_train, "n_train"), (epochs, "epochs")):
        _positive(v, n)
    return lam_norm * (batch_size / (n_train * epochs)) ** 0.5


_DECAY_MODES = ("lr", "schedule", "constant")


def convert_decay(
    rate: ArrayLike,
    *,
    from_mode: Literal["lr", "schedule", "constant"],
    to_mode: Literal["lr", "schedule", "constant"],
    learning_rate: ArrayLike,
    base_learning_rate: ArrayLike | None = None,
) -> ArrayLike:
    """The decay rate giving the same per-step decay in another mode of :func:`jaxl2.decoupled`.

    The weight shrinks by ``d · (w − c)`` per step, with ``d = lr_t · rate`` (``"lr"``, PyTorch /
    optax AdamW), ``d = (lr_t / lr_0) · rate`` (``"schedule"``, Loshchilov & Hutter's ``η_t λ``) or
    ``d = rate`` (``"constant"``). This returns the rate in ``to_mode`` with the same ``d`` at
    ``lr_t = learning_rate`` and ``lr_0 = base_learning_rate`` (default ``learning_rate``). At a
    constant learning rate ``lr``: ``rate_schedule = rate_constant = lr · rate_lr``.

    Args:
        rate: the decay rate in ``from_mode`` (``≥ 0``).
        from_mode: ``"lr"``, ``"schedule"`` or ``"constant"``: the mode ``rate`` is given in.
        to_mode: the mode to convert to (same choices).
        learning_rate: ``lr_t``, the learning rate at which the decays match (``> 0``).
        base_learning_rate: ``lr_0`` of ``"schedule"`` (default ``learning_rate``).

    Returns:
        the rate in ``to_mode`` giving the same per-step decay ``d``.

    Examples:
        >>> from jaxl2 import convert
        >>> convert.convert_decay(0.1, from_mode="lr", to_mode="constant", learning_rate=1e-3)
        0.0001
    """
    check_choice(from_mode, "from_mode", _DECAY_MODES)
    check_choice(to_mode, "to_mode", _DECAY_MODES)
    check_nonnegative(rate, "rate")
    lr = _positive(learning_rate, "learning_rate")
    lr0 = lr if base_learning_rate is None else _positive(base_learning_rate, "base_learning_rate")
    per_unit = {"lr": lr, "schedule": lr / lr0, "constant": 1.0}
    return rate * per_unit[from_mode] / per_unit[to_mode]


def ema_timescale(
    learning_rate: ArrayLike,
    weight_decay: ArrayLike,
    *,
    batch_size: ArrayLike | None = None,
    n_train: ArrayLike | None = None,
) -> ArrayLike:
    """The EMA timescale of decoupled weight decay: ``τ_iter = 1 / (lr · rate)`` iterations.

    With AdamW-style decay the weights are an exponential moving average of recent updates with
    this timescale (Wang & Aitchison 2024). Given ``batch_size`` ``b`` and ``n_train`` ``N``, it is
    returned in epochs: ``τ_epoch = τ_iter · b / N``. Their finding: the best ``τ_epoch`` stays
    roughly constant as model and data grow, so at a fixed ``lr``, ``rate ∝ 1 / N``.

    Args:
        learning_rate: ``lr > 0``.
        weight_decay: the decoupled rate ``> 0`` (the PyTorch / optax AdamW convention: the
            weights shrink by ``lr · rate`` per step).
        batch_size: ``b``; with ``n_train``, the timescale is returned in epochs.
        n_train: ``N``, the number of training points.

    Returns:
        ``τ_iter = 1 / (lr · rate)`` iterations, or ``τ_iter · b / N`` epochs.

    Examples:
        >>> from jaxl2 import convert
        >>> convert.ema_timescale(1e-3, 0.1)
        10000.0
        >>> convert.ema_timescale(1e-3, 0.1, batch_size=100, n_train=50_000)
        20.0

    References:
        Wang & Aitchison, "How to set AdamW's weight decay as you scale model and dataset size",
        2024.
    """
    _positive(learning_rate, "learning_rate")
    _positive(weight_decay, "weight_decay")
    tau = 1.0 / (learning_rate * weight_decay)
    epochs = _epochs(
        batch_size,
        n_train,
        "ema_timescale: pass both batch_size and n_train (for epochs) or neither.",
    )
    if epochs is not None:
        tau = tau * epochs[0] / epochs[1]
    return tau


def weight_decay_from_timescale(
    tau: ArrayLike,
    learning_rate: ArrayLike,
    *,
    batch_size: ArrayLike | None = None,
    n_train: ArrayLike | None = None,
) -> ArrayLike:
    """The decay rate for an EMA timescale: ``rate = 1 / (lr · τ_iter)``; the inverse of
    :func:`ema_timescale` (``τ`` in epochs when ``batch_size`` and ``n_train`` are given,
    ``τ_iter = τ_epoch · N / b``).

    Args:
        tau: the timescale ``τ > 0``: iterations, or epochs when ``batch_size`` and ``n_train``
            are given.
        learning_rate: ``lr > 0``.
        batch_size: ``b``, to read ``tau`` in epochs.
        n_train: ``N``, the number of training points.

    Returns:
        the decoupled rate ``1 / (lr · τ_iter)``.

    Examples:
        >>> from jaxl2 import convert
        >>> convert.weight_decay_from_timescale(20.0, 1e-3, batch_size=100, n_train=50_000)
        0.1
    """
    _positive(tau, "tau")
    _positive(learning_rate, "learning_rate")
    epochs = _epochs(
        batch_size,
        n_train,
        "weight_decay_from_timescale: pass both batch_size and n_train (tau in epochs) or neither.",
    )
    if epochs is not None:
        tau = tau * epochs[1] / epochs[0]
    return 1.0 / (learning_rate * tau)


def prior_to_lam(noise_variance: ArrayLike, prior_variance: ArrayLike) -> ArrayLike:
    """Gaussian prior → ridge strength: ``lam = σ²_noise / σ²_prior``.

    With ``yᵢ = xᵢᵀw + εᵢ``, ``εᵢ ~ N(0, σ²_noise)`` and the prior ``w ~ N(0, σ²_prior I)``, the
    negative log-posterior is ``(1 / (2σ²_noise)) · [Σ (yᵢ − xᵢᵀw)² + (σ²_noise / σ²_prior) ‖w‖²]``
    plus a constant, so the MAP estimate is :func:`jaxl2.ridge` with this ``lam``.

    Args:
        noise_variance: ``σ²_noise > 0``.
        prior_variance: ``σ²_prior > 0``.

    Returns:
        ``lam = σ²_noise / σ²_prior``.

    Examples:
        >>> from jaxl2 import convert
        >>> convert.prior_to_lam(0.5, 2.0)
        0.25
    """
    check_nonnegative(noise_variance, "noise_variance")
    _positive(prior_variance, "prior_variance")
    return noise_variance / prior_variance


def lam_to_prior_variance(lam: ArrayLike, noise_variance: ArrayLike) -> ArrayLike:
    """Ridge strength → prior variance: ``σ²_prior = σ²_noise / lam``.

    Args:
        lam: the ridge strength ``> 0``.
        noise_variance: ``σ²_noise > 0``.

    Returns:
        ``σ²_prior = σ²_noise / lam``.

    Examples:
        >>> from jaxl2 import convert
        >>> convert.lam_to_prior_variance(0.25, 0.5)
        2.0
    """
    _positive(lam, "lam")
    check_nonnegative(noise_variance, "noise_variance")
    return noise_variance / lam


# λ transfer: move a tuned (lr, λ) of decoupled decay (lr-multiplied, torch/optax AdamW) to a new
# batch size, data-set size, training length or width.


def _new(value: Any, old: Any, name: str) -> Any:
    return old if value is None else _positive(value, name)


def transfer_weight_decay(
    weight_decay: ArrayLike,
    learning_rate: ArrayLike,
    *,
    batch_size: ArrayLike,
    n_train: ArrayLike,
    new_batch_size: ArrayLike | None = None,
    new_n_train: ArrayLike | None = None,
    new_learning_rate: ArrayLike | None = None,
) -> ArrayLike:
    """The AdamW decay that keeps the EMA timescale in epochs, ``τ_epoch = B / (η λ N)``.

    Wang & Aitchison read AdamW's weights as an exponential moving average of recent updates
    with timescale ``τ_iter = 1/(η λ)`` iterations, ``τ_epoch = τ_iter · B / N`` epochs (``B``
    the batch size, ``N`` the training-set size), and found the best ``τ_epoch`` roughly constant
    as model and data grow. Holding it fixed gives

        ``λ' = λ · (η / η') · (B' / B) · (N / N')``.

    So at a fixed learning rate and batch size, ten times the data wants a tenth of the decay;
    doubling the batch doubles it. (Decay in the torch/optax convention, multiplied by ``η``;
    see :func:`ema_timescale`.)

    Args:
        weight_decay: the tuned ``λ``.
        learning_rate: the tuned ``η``.
        batch_size: ``B`` of the tuned run.
        n_train: ``N`` of the tuned run.
        new_batch_size, new_n_train, new_learning_rate: the new run's values (default: the
            same).

    Returns:
        The new ``λ'``.

    Examples:
        >>> from jaxl2 import convert
        >>> convert.transfer_weight_decay(0.1, 1e-3, batch_size=128, n_train=50_000,
        ...                               new_n_train=500_000)
        0.01
        >>> round(convert.transfer_weight_decay(0.1, 1e-3, batch_size=128, n_train=50_000,
        ...                                     new_batch_size=256, new_learning_rate=2e-3), 6)
        0.1

    References:
        Wang & Aitchison, "How to set AdamW's weight decay as you scale model and dataset
        size", arXiv 2405.13698 (2024), Section 3.
    """
    _positive(weight_decay, "weight_decay")
    lr, b, n = (
        _positive(learning_rate, "learning_rate"),
        _positive(batch_size, "batch_size"),
        _positive(n_train, "n_train"),
    )
    lr2 = _new(new_learning_rate, lr, "new_learning_rate")
    b2 = _new(new_batch_size, b, "new_batch_size")
    n2 = _new(new_n_train, n, "new_n_train")
    return weight_decay * (lr / lr2) * (b2 / b) * (n / n2)


def ema_timescale_fraction(
    learning_rate: ArrayLike,
    weight_decay: ArrayLike,
    *,
    batch_size: ArrayLike,
    n_samples: ArrayLike | None = None,
    steps: ArrayLike | None = None,
) -> ArrayLike:
    """The AdamW EMA timescale as a fraction of training: ``τ = B / (η λ D)``.

    ``D`` is the number of samples (or tokens, with ``B`` in tokens) seen in the whole run; with
    ``steps`` instead, ``D = steps · B`` and ``τ = 1 / (η λ · steps)``. ``τ = 1`` means the
    weights average over the whole run. Bergsma et al. verify that at a fixed model and data size
    the best ``λ`` grows linearly with ``B`` (``τ`` constant), and fit the best ``τ`` as a power
    law in the tokens-per-parameter ratio; :func:`transfer_weight_decay_budget` holds ``τ``.

    Args:
        learning_rate: ``η``.
        weight_decay: ``λ`` (torch/optax AdamW convention).
        batch_size: ``B``.
        n_samples: ``D``, the samples (or tokens) of the whole run; or give ``steps``.
        steps: the number of optimizer steps (``D = steps · B``).

    Returns:
        ``τ`` (dimensionless).

    Examples:
        >>> from jaxl2 import convert
        >>> convert.ema_timescale_fraction(1e-3, 0.1, batch_size=100, n_samples=1_000_000)
        1.0
        >>> convert.ema_timescale_fraction(1e-3, 0.1, batch_size=100, steps=5_000)
        2.0

    References:
        Bergsma et al., "Power Lines: Scaling Laws for Weight Decay and Batch Size in LLM
        Pre-training", arXiv 2505.13738 (2025), who verify that the best λ grows linearly
        with ``B`` at fixed model and data size and fit the best ``τ`` as a power law in the
        tokens-per-parameter ratio.
    """
    _positive(learning_rate, "learning_rate")
    _positive(weight_decay, "weight_decay")
    _positive(batch_size, "batch_size")
    d = _samples(n_samples, steps, batch_size, "n_samples", "steps")
    return batch_size / (learning_rate * weight_decay * d)


def _samples(n_samples: Any, steps: Any, batch_size: Any, n_name: str, s_name: str) -> Any:
    if (n_samples is None) == (steps is None):
        raise ValueError(f"pass exactly one of {n_name} and {s_name} (D = {s_name} · batch_size).")
    if n_samples is not None:
        return _positive(n_samples, n_name)
    return _positive(steps, s_name) * batch_size


def transfer_weight_decay_budget(
    weight_decay: ArrayLike,
    learning_rate: ArrayLike,
    *,
    batch_size: ArrayLike,
    n_samples: ArrayLike | None = None,
    steps: ArrayLike | None = None,
    new_batch_size: ArrayLike | None = None,
    new_n_samples: ArrayLike | None = None,
    new_steps: ArrayLike | None = None,
    new_learning_rate: ArrayLike | None = None,
) -> ArrayLike:
    """The AdamW decay that keeps ``τ = B / (η λ D)`` (the timescale as a fraction of training).

    ``λ' = λ · (η / η') · (B' / B) · (D / D')``, with ``D`` the samples (or tokens) of the whole
    run, or ``D = steps · B``. For a longer run at the same batch size and learning rate the
    decay shrinks in proportion: ``λ' = λ · steps / steps'``.

    Args:
        weight_decay: the tuned ``λ``.
        learning_rate: the tuned ``η``.
        batch_size: ``B`` of the tuned run.
        n_samples: ``D`` of the tuned run; or give ``steps``.
        steps: the tuned run's number of steps (``D = steps · B``).
        new_batch_size, new_learning_rate: the new run's values (default: the same).
        new_n_samples, new_steps: the new run's length (one of them, or neither: the same ``D``).

    Returns:
        The new ``λ'``.

    Examples:
        >>> from jaxl2 import convert
        >>> convert.transfer_weight_decay_budget(0.1, 1e-3, batch_size=64, steps=1_000,
        ...                                      new_steps=4_000)
        0.025
        >>> convert.transfer_weight_decay_budget(0.1, 1e-3, batch_size=64, n_samples=64_000,
        ...                                      new_batch_size=256)
        0.4

    References:
        Bergsma et al., "Power Lines: Scaling Laws for Weight Decay and Batch Size in LLM
        Pre-training", arXiv 2505.13738 (2025).
    """
    _positive(weight_decay, "weight_decay")
    lr = _positive(learning_rate, "learning_rate")
    b = _positive(batch_size, "batch_size")
    d = _samples(n_samples, steps, b, "n_samples", "steps")
    lr2 = _new(new_learning_rate, lr, "new_learning_rate")
    b2 = _new(new_batch_size, b, "new_batch_size")
    if new_n_samples is None and new_steps is None:
        d2 = d
    else:
        d2 = _samples(new_n_samples, new_steps, b2, "new_n_samples", "new_steps")
    return weight_decay * (lr / lr2) * (b2 / b) * (d / d2)


def transfer_width(
    learning_rate: ArrayLike, weight_decay: ArrayLike, *, width: ArrayLike, new_width: ArrayLike
) -> tuple[ArrayLike, ArrayLike]:
    """μP-style transfer of AdamW's ``(η, λ)`` for hidden matrices to a new width.

    ``η' = η · (d / d')`` and ``λ' = λ · √(d' / d)`` (``d`` the width, e.g. the hidden size).
    Fan et al. observe that in AdamW's steady state the top singular value of a matrix scales as
    ``√(η/λ) · d^0.75``; with μP's ``η ∝ 1/d`` for matrices, ``λ ∝ √d`` keeps it (the sublayer
    gain) the same across widths, so a ``(η, λ)`` tuned on a narrow proxy transfers. Apply it to
    the hidden weight matrices only: the paper trains vector-like parameters (biases, norm
    scales) at a width-independent ``η`` with ``λ = 0``.

    Args:
        learning_rate: the tuned ``η`` at ``width``.
        weight_decay: the tuned ``λ`` (torch/optax AdamW convention) at ``width``.
        width: the tuned model's width ``d``.
        new_width: the new width ``d'``.

    Returns:
        ``(η', λ')``.

    Examples:
        >>> from jaxl2 import convert
        >>> convert.transfer_width(1e-2, 0.1, width=256, new_width=1024)
        (0.0025, 0.2)

    References:
        Fan, Liu, Zhao, Yuan & Gu, "Robust Layerwise Scaling Rules by Proper Weight Decay
        Tuning", arXiv 2510.15262 (2025).
    """
    lr = _positive(learning_rate, "learning_rate")
    _positive(weight_decay, "weight_decay")
    d, d2 = _positive(width, "width"), _positive(new_width, "new_width")
    return lr * (d / d2), weight_decay * (d2 / d) ** 0.5
