"""Options of the score-based estimators: one `final` equinox Module per estimator.

[MINDEConfig][infoest.score.config.MINDEConfig] (MINDE, Franzese et al., ICLR 2024) and
[SOIConfig][infoest.score.config.SOIConfig] (SΩI, Bounoua et al., ICML 2024) hold every
training and estimation option in one place, with its default. Shape-setting and structural
options (steps, batch size, width, Monte-Carlo passes, architecture switches) are static
fields; continuous ones (learning rate, EMA decay, mask shares) are arrays, so a new value
neither recompiles nor prevents `jax.vmap` over it:

    cfg = SOIConfig(steps=2000)
    jax.vmap(lambda s: soi.o_information(z, key=key, config=cfg, joint_share=s))(shares)

Concrete values are validated when the Module is built (a `ValueError` naming the option);
traced values cannot be, and a learning rate that makes training diverge is reported by the
estimate's status instead (`Status.DIVERGED`).

This module also holds the divergence test shared by both estimators,
[training_diverged][infoest.score.config.training_diverged].
"""

from __future__ import annotations

import dataclasses
import functools
from typing import final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from infoest import _checks
from infoest._checks import resolve_config as resolve

__all__ = ["MINDEConfig", "SOIConfig", "resolve", "ema_decay", "training_diverged",
           "network_options", "check_dimension", "training_steps", "EXPLODE",
           "AUTO_NETWORK_MAX_DIM", "MAX_STEPS", "MAX_EPOCHS"]

#: Training has diverged when its late loss exceeds EXPLODE × the loss of predicting ε̂ = 0,
#: or an estimate exceeds EXPLODE × the largest value a bounded predictor can give.
EXPLODE = 10.0


def _positive_int(name: str):
    return functools.partial(_checks.check_positive_int, name=name)


def _optional_positive_int(name: str):
    def convert(value):
        return None if value is None else _checks.check_positive_int(value, name)
    return convert


def _flag(name: str):
    def convert(value):
        if not isinstance(value, bool | np.bool_):
            raise TypeError(f"`{name}` must be a bool, got {type(value).__name__}")
        return bool(value)
    return convert


def _optional_flag(name: str):
    flag = _flag(name)

    def convert(value):
        return None if value is None else flag(value)
    return convert


#: MINDE's default training length: at most MAX_STEPS steps and MAX_EPOCHS passes over n.
MAX_STEPS, MAX_EPOCHS = 10_000, 256


def training_steps(cfg, n: int):
    """``cfg`` with ``steps=None`` resolved for n samples: min(`MAX_STEPS`,
    ⌈`MAX_EPOCHS` · n / batch⌉) (batch clipped to n); an explicit ``steps`` is kept."""
    if cfg.steps is not None:
        return cfg
    batch = min(cfg.batch_size, n)
    return dataclasses.replace(cfg, steps=min(MAX_STEPS, -(-MAX_EPOCHS * n // batch)))


def check_dimension(n: int, dim: int, method: str) -> None:
    """Trace-time ``ValueError`` unless n ≥ D + 2 samples for a score network on D joint
    dimensions (the rule of the Gaussian estimators, `infoest.gaussian.check_dimension`).

    With fewer, the n samples span an affine subspace of at most n − 1 < D dimensions: their
    empirical distribution is singular in R^D, and a score network fitted to it learns that
    subspace, so the entropy runs to −∞ and an MI or O-information to arbitrary values as
    training proceeds (measured at n = 24, D = 40 or 60, independent N(0, I) data, 300
    steps: MINDE H −40 nats (truth 56.8), MINDE MI 7.4 (truth 0), SΩI Ω −24.8 (truth 0)).
    n just above D + 2 is allowed but still far from what these estimators need.
    """
    if n >= dim + 2:
        return
    raise ValueError(f"the data have n={n} samples in D={dim} dimensions: {method} needs "
                     f"n >= D + 2 = {dim + 2} (with fewer the samples span a subspace and the "
                     f"learned score is singular)")


#: MINDE's network options set to `None` are on up to this total dimension D.
AUTO_NETWORK_MAX_DIM = 10


def network_options(cfg, dim: int) -> dict:
    """The network switches of a `MINDEConfig` for data of total dimension ``dim``."""
    auto = dim <= AUTO_NETWORK_MAX_DIM
    return {name: auto if getattr(cfg, name) is None else getattr(cfg, name)
            for name in ("gaussian_skip", "sigma_out", "film")}


def _array(value):
    return jnp.asarray(value, dtype=jnp.result_type(float))


def _optional_array(value):
    return None if value is None else _array(value)


def _check_range(value, name: str, low: float, high: float, *, closed_high: bool) -> None:
    """ValueError unless ``low < value < high`` (``<= high`` when ``closed_high``), concrete
    values only (a traced value is left to the training status)."""
    if value is None or not _checks.is_concrete(value):
        return
    v = np.asarray(value)
    ok = np.all(np.isfinite(v) & (v > low) & ((v <= high) if closed_high else (v < high)))
    if not ok:
        bracket = "]" if closed_high else ")"
        raise ValueError(f"`{name}` must lie in ({low}, {high}{bracket}, got {v.tolist()}")


def _check_common(cfg) -> None:
    _check_range(cfg.learning_rate, "learning_rate", 0.0, np.inf, closed_high=False)
    if cfg.ema_decay is not None and _checks.is_concrete(cfg.ema_decay):
        v = np.asarray(cfg.ema_decay)
        if not np.all(np.isfinite(v) & (v >= 0) & (v < 1)):
            raise ValueError(f"`ema_decay` must lie in [0, 1), got {v.tolist()}")


SCHEDULES = ("constant", "cosine", "linear")


def _schedule(value):
    return _checks.check_choice(value, "schedule", SCHEDULES)


@final
class MINDEConfig(eqx.Module):
    """Options of MINDE (`infoest.score.minde`), with their defaults.

    Attributes:
        steps: training steps (static; the paper trains 300–500 epochs of 100k samples with
            batch 128/256). `None` (default): `training_steps`, the CPU-friendly
            `MAX_STEPS` = 10 000 but at most `MAX_EPOCHS` = 256 passes over the n samples
            (10 000 steps of 128 rows from n = 5 000 up; 2 000 at n = 1 000). More passes
            over few samples let the network learn the sample itself: at n = 1 000 with
            10 000 steps the BMI tasks with D ≥ 10 read +0.3 to +11 nats (`docs/bmi.md`).
        batch_size: minibatch size (static; clipped to n).
        width: network width h (static; `None`: 64 if D ≤ 10, 128 if D ≤ 50, else 256).
        mc_iter: Monte-Carlo passes over the samples at estimation, each with a fresh
            (t, ε) per sample (static).
        eval_batch: samples per chunk at estimation (memory bound; static); `None`: all.
        learning_rate: Adam learning rate (array; paper: 1e-3 for d ≤ 5, 2e-3 above).
        ema_decay: EMA decay of the weights used at estimation (array); `None`:
            min(0.999, 1 − 10/steps), so short runs still average.
        schedule: learning rate `"cosine"` (5 % warmup, cosine decay to 0; default: with
            a constant rate the EMA lags the still-learning network and MINDE read
            0.04–0.07 nats low on 1 × 1 BMI tasks, `docs/score.md`), `"linear"` or
            `"constant"` (the paper) (static).
        replicates: number of networks trained, each on a Bayesian-bootstrap reweighting of
            the samples (static); the estimate is their mean and `stderr` their standard
            deviation (module docstring of `infoest.score.minde`). 1: one network on the
            unweighted samples, `stderr` the delta-method one from the pointwise MI (it
            does not cover the training noise).
        gaussian_skip, sigma_out, film: the network's Gaussian skip, σ-scaled output and
            adaLN time modulation (`infoest.score.network`; static). `None` (default): on
            when D = d_x + d_y ≤ 10 (`AUTO_NETWORK_MAX_DIM`), off above. Measured on the BMI
            tasks at N = 5 000 (`docs/score.md`): they cut the error of the tasks with
            D ≤ 10, and made MINDE over-estimate at D = 50 and 100 (dense 50 × 50: +0.71
            against +0.11 with the paper's network).
    """

    steps: int | None = eqx.field(static=True, default=None,
                                  converter=_optional_positive_int("steps"))
    batch_size: int = eqx.field(static=True, default=128,
                                converter=_positive_int("batch_size"))
    replicates: int = eqx.field(static=True, default=1, converter=_positive_int("replicates"))
    gaussian_skip: bool | None = eqx.field(static=True, default=None,
                                           converter=_optional_flag("gaussian_skip"))
    sigma_out: bool | None = eqx.field(static=True, default=None,
                                       converter=_optional_flag("sigma_out"))
    film: bool | None = eqx.field(static=True, default=None, converter=_optional_flag("film"))
    width: int | None = eqx.field(static=True, default=None,
                                  converter=_optional_positive_int("width"))
    mc_iter: int = eqx.field(static=True, default=10, converter=_positive_int("mc_iter"))
    eval_batch: int | None = eqx.field(static=True, default=4096,
                                       converter=_optional_positive_int("eval_batch"))
    learning_rate: Array = eqx.field(default=1e-3, converter=_array)
    ema_decay: Array | None = eqx.field(default=None, converter=_optional_array)
    schedule: str = eqx.field(static=True, default="cosine", converter=_schedule)

    def __check_init__(self):
        _check_common(self)


@final
class SOIConfig(eqx.Module):
    """Options of SΩI (`infoest.score.soi`), with their defaults.

    Attributes:
        steps, batch_size, width, mc_iter, eval_batch, learning_rate, ema_decay: as in
            [MINDEConfig][infoest.score.config.MINDEConfig] (defaults: batch 256, width
            128 if D ≤ 50, 192 if D ≤ 100, else 256 (SΩI's rule), eval_batch 1024).
        gaussian_skip: ε̂ = σ(t) x_t + network on the diffused coordinates (the exact noise
            prediction of N(0, I) data; EDM's c_skip) instead of the paper's ε̂ = network.
        sigma_out: with `gaussian_skip`, ε̂ = σ(t)(x_t + network) (EDM's c_out ∝ σ).
        film: adaLN (scale, shift) modulation of the inner normalisations by the time
            embedding (DiT), besides the additive time embedding.
        schedule: learning rate `"cosine"` (5 % warmup, cosine decay to 0), `"linear"` or
            `"constant"` (the paper).
        joint_share, marginal_share: probability of the full-joint mask and total probability
            of the k marginal masks in training (arrays); `None`: the paper's duplication
            rule (for k = 10: 1/7 each).
    """

    steps: int = eqx.field(static=True, default=10_000, converter=_positive_int("steps"))
    batch_size: int = eqx.field(static=True, default=256,
                                converter=_positive_int("batch_size"))
    width: int | None = eqx.field(static=True, default=None,
                                  converter=_optional_positive_int("width"))
    mc_iter: int = eqx.field(static=True, default=10, converter=_positive_int("mc_iter"))
    eval_batch: int | None = eqx.field(static=True, default=1024,
                                       converter=_optional_positive_int("eval_batch"))
    gaussian_skip: bool = eqx.field(static=True, default=True, converter=_flag("gaussian_skip"))
    sigma_out: bool = eqx.field(static=True, default=True, converter=_flag("sigma_out"))
    film: bool = eqx.field(static=True, default=True, converter=_flag("film"))
    schedule: str = eqx.field(static=True, default="cosine", converter=_schedule)
    learning_rate: Array = eqx.field(default=1e-3, converter=_array)
    ema_decay: Array | None = eqx.field(default=None, converter=_optional_array)
    joint_share: Array | None = eqx.field(default=0.6, converter=_optional_array)
    marginal_share: Array | None = eqx.field(default=0.04, converter=_optional_array)

    def __check_init__(self):
        _check_common(self)
        _check_range(self.joint_share, "joint_share", 0.0, 1.0, closed_high=True)
        if self.marginal_share is not None and _checks.is_concrete(self.marginal_share):
            v = np.asarray(self.marginal_share)
            if not np.all(np.isfinite(v) & (v >= 0) & (v < 1)):
                raise ValueError(f"`marginal_share` must lie in [0, 1), got {v.tolist()}")
        shares = (self.joint_share, self.marginal_share)
        if all(s is not None and _checks.is_concrete(s) for s in shares):
            total = np.asarray(self.joint_share) + np.asarray(self.marginal_share)
            if np.any(total > 1.0 + 1e-6):
                raise ValueError("`joint_share` + `marginal_share` must be at most 1, got "
                                 f"{total.tolist()}")


def ema_decay(cfg, dtype) -> Array:
    """The EMA decay: the configured one, or min(0.999, 1 − 10/steps) (0, no averaging,
    below 10 steps)."""
    if cfg.ema_decay is None:
        return jnp.asarray(max(0.0, min(0.999, 1.0 - 10.0 / cfg.steps)), dtype)
    return cfg.ema_decay.astype(dtype)


def training_diverged(result, model, terms: Array, *, learning_rate, loss_ref,
                      value_ref) -> Array:
    """True when a score-network training run diverged (a traced bool).

    Diverged means any of: a learning rate that is not finite and positive (a traced one,
    which the config could not check: a negative rate ascends the loss); the driver stopped
    on a non-finite loss or gradient; a non-finite weight of the EMA model (the one
    evaluated); the mean loss of the last tenth of the steps above `EXPLODE · loss_ref`,
    where `loss_ref` bounds the loss of the trivial predictor ε̂ = 0 (training that ends
    worse than predicting nothing has diverged); an estimated term non-finite or above
    `EXPLODE · value_ref`, where `value_ref` bounds every term for a predictor with E‖ε̂‖² ≤
    D, which the exact one, E[ε | x_t], satisfies
    (Z ½E‖ε̂_a − ε̂_b‖² ≤ Z (E‖ε̂_a‖² + E‖ε̂_b‖²) ≤ 2 Z D).
    """
    leaves = jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_inexact_array))
    weights_ok = jnp.all(jnp.stack([jnp.all(jnp.isfinite(a)) for a in leaves]))
    loss = result.train_loss
    tail = loss[-max(1, loss.shape[0] // 10):]
    late = jnp.nanmean(jnp.where(jnp.isfinite(tail), tail, jnp.nan))
    loss_ok = ~(late > EXPLODE * loss_ref)  # all-NaN tail: stopped, flagged by `failed`
    terms_ok = jnp.all(jnp.abs(terms) <= EXPLODE * value_ref)  # False for NaN
    lr_ok = jnp.all(jnp.isfinite(learning_rate) & (learning_rate > 0))
    return result.failed | ~lr_ok | ~weights_ok | ~loss_ok | ~terms_ok
