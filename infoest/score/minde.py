"""MINDE: mutual information and entropy from diffusion scores.

Franzese, Bounoua, Michiardi, "MINDE: Mutual Information Neural Diffusion Estimation",
ICLR 2024 (arXiv 2310.09031). One amortised score network
([`infoest.score.network`][infoest.score.network]) is
trained on the standardised samples; the estimates are importance-sampled integrals of
score differences over the VP SDE ([`infoest.score.integrals`][infoest.score.integrals]), in nats:

- MINDE-C:    I = ∫ ½β E‖s_{X|Y}(x_t | y_0) − s_X(x_t)‖² dt
- MINDE-C(σ): I = ∫ ½β E[‖s_{X|Y} − s_ref‖² − ‖s_X − s_ref‖²] dt   (= H(X) − H(X|Y))
- MINDE-J:    I = ∫ ½β E‖s_{XY}(x_t, y_t) − [s_{X|Y}(x_t | y_0), s_{Y|X}(y_t | x_0)]‖² dt
- MINDE-J(σ): I = ∫ ½β E[‖s_{X|Y} − s_ref‖² + ‖s_{Y|X} − s_ref‖² − ‖s_{XY} − s_ref‖²] dt
- entropy:    H(X) = (d/2) log 2πe − ∫ ½β E‖s_X − s_ref‖² dt + Σ_j log std_j

with the reference N(0, I), s_ref(x_t) = −x_t (the KL of the diffused data to it vanishes at
T = 1 up to e^{−10}); the last term of H undoes the per-column standardisation
(standardised data have ½E‖x_0‖² = d/2, so the reference part is the entropy of N(0, I_d)).
The σ variants follow the corrected formulas of the authors' code (commit 612d6f7).

Estimates are computed on the training samples with fresh (t, ε) draws (``mc_iter`` passes);
``stderr`` is the Monte-Carlo standard error of that average (it ignores training noise).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from infoest import _checks
from infoest._estimate import Estimate, make_estimate
from infoest._registry import register
from infoest.score.integrals import MINDE_TERMS, kl_integrand, minde_integrand, monte_carlo
from infoest.score.masks import minde_masks, var_index
from infoest.score.network import denoiser, train_score_net

__all__ = ["mutual_information", "entropy", "standardize", "auto_ema"]

_TEST = dict(steps=4, batch_size=32, width=8, mc_iter=1)
#: ``infoest bench``: a short but meaningful run (n = 1000-5000 samples, ≈10 s per task on CPU)
_BENCH = dict(steps=2000, batch_size=128, mc_iter=4)


def standardize(z):
    """Per-column standardisation; returns (z_std, log std per column)."""
    mean = z.mean(0)
    sd = z.std(0)
    sd = jnp.where(sd > 0, sd, 1.0)
    return (z - mean) / sd, jnp.log(sd)


def auto_ema(ema_decay, steps: int):
    """EMA decay: the given value, or min(0.999, 1 − 10/steps) so short runs still average."""
    return min(0.999, 1.0 - 10.0 / steps) if ema_decay is None else ema_decay


def _gauss(d: int, dtype):
    """Entropy of N(0, I_d): (d/2) log(2πe)."""
    return jnp.asarray(0.5 * d * np.log(2 * np.pi * np.e), dtype)


def _common(steps, batch_size, width, mc_iter, eval_batch):
    steps = _checks.check_positive_int(steps, "steps")
    batch_size = _checks.check_positive_int(batch_size, "batch_size")
    if width is not None:
        width = _checks.check_positive_int(width, "width")
    mc_iter = _checks.check_positive_int(mc_iter, "mc_iter")
    if eval_batch is not None:
        eval_batch = _checks.check_positive_int(eval_batch, "eval_batch")
    return steps, batch_size, width, mc_iter, eval_batch


@functools.partial(jax.jit, static_argnames=("sizes", "masks_key", "steps", "batch_size",
                                             "width", "mc_iter", "eval_batch"))
def _minde_core(z, key, learning_rate, ema_decay, *, sizes, masks_key, steps, batch_size,
                width, mc_iter, eval_batch):
    index = var_index(sizes)
    masks = minde_masks(masks_key) if masks_key in ("c", "j") else np.ones((1, 1), np.int32)
    z, log_sd = standardize(z)
    kfit, kest = jax.random.split(key)
    net, result = train_score_net(z, index, masks, key=kfit, steps=steps,
                                  batch_size=batch_size, learning_rate=learning_rate,
                                  width=width, ema_decay=ema_decay)
    den = denoiser(net, index)
    if masks_key in ("c", "j"):
        integrand = minde_integrand(den, index, masks_key)
    else:
        integrand = kl_integrand(den, index)
    mean, se = monte_carlo(integrand, z, kest, mc_iter=mc_iter, batch_size=eval_batch)
    return mean, se, log_sd, result.train_loss


@register("mutual_information", "minde", stochastic=True, test_kwargs=_TEST,
          bench_kwargs=_BENCH)
def mutual_information(x, y, *, key, variant: str = "c", sigma: bool = False,
                       steps: int = 10_000, batch_size: int = 128, learning_rate=1e-3,
                       width: int | None = None, ema_decay=None, mc_iter: int = 10,
                       eval_batch: int | None = 4096) -> Estimate:
    """MINDE estimate of I(X;Y) in nats (Franzese et al., ICLR 2024).

    Args:
        x, y: paired samples ``(n, dx)``, ``(n, dy)``.
        key: PRNG key (network initialisation, training, Monte-Carlo draws).
        variant: ``"c"`` (conditional: s_{X|Y} vs s_X) or ``"j"`` (joint vs conditionals).
        sigma: use the σ-reference form (difference of entropies against N(0, I)).
        steps, batch_size: training length and minibatch size (the paper trains 300–500
            epochs of 100k samples with batch 128/256; the default is a CPU-friendly 10k steps).
        learning_rate: Adam learning rate (traced; paper: 1e-3 for d ≤ 5, 2e-3 above).
        width: network width h (default by dimension, see
            [`network.default_width`][infoest.score.network.default_width]).
        ema_decay: EMA decay of the weights used at estimation (default min(0.999, 1−10/steps)).
        mc_iter: Monte-Carlo passes over the samples, each with fresh (t, ε) per sample.
        eval_batch: samples per chunk at estimation (memory bound); ``None``: all at once.

    Returns:
        [`Estimate`][infoest.score.minde.Estimate] with ``value`` the chosen variant, ``stderr`` the
        Monte-Carlo
        error, and diagnostics ``mi``/``mi_sigma`` (both forms), ``entropy`` (H(X) for
        ``"c"``, H(X, Y) for ``"j"``, the by-product) and ``train_loss``.
    """
    x, y = _checks.paired_samples((x, "x"), (y, "y"))
    _checks.check_choice(variant, "variant", ("c", "j"))
    if not isinstance(sigma, bool):
        raise TypeError(f"`sigma` must be a bool, got {type(sigma).__name__}")
    steps, batch_size, width, mc_iter, eval_batch = _common(steps, batch_size, width, mc_iter,
                                                            eval_batch)
    sizes = (x.shape[1], y.shape[1])
    z = jnp.concatenate([x, y], axis=1)
    dtype = z.dtype
    mean, se, log_sd, loss = _minde_core(
        z, key, jnp.asarray(learning_rate, dtype), jnp.asarray(auto_ema(ema_decay, steps), dtype),
        sizes=sizes, masks_key=variant, steps=steps, batch_size=batch_size, width=width,
        mc_iter=mc_iter, eval_batch=eval_batch)
    terms = dict(zip(MINDE_TERMS[variant], range(3), strict=True))
    pick = terms["mi_sigma"] if sigma else terms["mi"]
    # Entropy by-product: standardised data have ½E‖x_0‖² = d/2 exactly.
    d = sizes[0] if variant == "c" else sum(sizes)
    ent = _gauss(d, dtype) - mean[terms[f"h_{'x' if variant == 'c' else 'xy'}_kl"]] + (
        log_sd[:d].sum())
    return make_estimate(mean[pick], se[pick], method="minde", mi=mean[terms["mi"]],
                         mi_sigma=mean[terms["mi_sigma"]], entropy=ent, train_loss=loss)


@register("entropy", "minde", stochastic=True, test_kwargs=_TEST,
          bench_kwargs=_BENCH)
def entropy(x, *, key, steps: int = 10_000, batch_size: int = 128, learning_rate=1e-3,
            width: int | None = None, ema_decay=None, mc_iter: int = 10,
            eval_batch: int | None = 4096) -> Estimate:
    """MINDE entropy H(X) in nats: Gaussian reference minus the score-matching KL.

    H(X) = (d/2) log 2πe − ∫ ½β E‖s_X(x_t) − s_ref(x_t)‖² dt + Σ_j log std_j for the
    standardised data (Franzese et al., ICLR 2024, §3.1). Options as in
    [`mutual_information`][infoest.score.minde.mutual_information]; ``stderr`` is the Monte-Carlo
    error of the KL term.
    """
    x = _checks.as_samples(x, "x")
    steps, batch_size, width, mc_iter, eval_batch = _common(steps, batch_size, width, mc_iter,
                                                            eval_batch)
    dtype = x.dtype
    mean, se, log_sd, loss = _minde_core(
        x, key, jnp.asarray(learning_rate, dtype), jnp.asarray(auto_ema(ema_decay, steps), dtype),
        sizes=(x.shape[1],), masks_key="h", steps=steps, batch_size=batch_size, width=width,
        mc_iter=mc_iter, eval_batch=eval_batch)
    return make_estimate(_gauss(x.shape[1], dtype) - mean[0] + log_sd.sum(), se[0], method="minde",
                         kl=mean[0], train_loss=loss)
