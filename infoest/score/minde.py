"""MINDE: mutual information and entropy from diffusion scores.

Franzese, Bounoua, Michiardi, "MINDE: Mutual Information Neural Diffusion Estimation",
ICLR 2024 (arXiv 2310.09031). One amortised score network (`infoest.score.network`) is
trained on the standardised samples; the estimates are importance-sampled integrals of
score differences over the VP SDE (`infoest.score.integrals`), in nats:

- MINDE-C: $I = \\int_0^1 \\tfrac12\\beta(t)\\,E\\|s_{X|Y}(x_t|y_0) - s_X(x_t)\\|^2 dt$
- MINDE-C(σ): $I = \\int \\tfrac12\\beta\\,E[\\|s_{X|Y} - s_{ref}\\|^2 - \\|s_X - s_{ref}\\|^2] dt$
  $= H(X) - H(X|Y)$
- MINDE-J: $I = \\int \\tfrac12\\beta\\,E\\|s_{XY}(x_t, y_t) - [s_{X|Y}(x_t|y_0),
  s_{Y|X}(y_t|x_0)]\\|^2 dt$
- MINDE-J(σ): $I = \\int \\tfrac12\\beta\\,E[\\|s_{X|Y} - s_{ref}\\|^2 + \\|s_{Y|X} -
  s_{ref}\\|^2 - \\|s_{XY} - s_{ref}\\|^2] dt$
- entropy: $H(X) = \\tfrac d2 \\log 2\\pi e - \\int \\tfrac12\\beta\\,E\\|s_X - s_{ref}\\|^2 dt
  + \\sum_j \\log \\mathrm{sd}_j$

with the reference N(0, I), $s_{ref}(x_t) = -x_t$ (the KL of the diffused data to it vanishes
at T = 1 up to $e^{-10}$); the last term of H undoes the per-column standardisation. The σ
variants follow the corrected formulas of the authors' code (commit 612d6f7).

**stderr.** The estimate is the mean over the n training rows of a per-row integrand
(averaged over `mc_iter` fresh (t, ε) draws); `stderr` is the standard deviation of those
per-row values over $\\sqrt n$. It covers the sampling variance of the data given the trained
network and the Monte-Carlo noise of (t, ε); it does not cover the network's training noise
or its bias (measured coverage: `docs/score.md`, "Error bars").

**Status.** `Status.DIVERGED` when training diverged
([training_diverged][infoest.score.config.training_diverged]: a non-finite loss, gradient or
EMA weight, an exploding loss, or a term beyond any bounded predictor's reach).

**Degenerate data.** A constant column is replaced by independent noise (which leaves I
unchanged, `infoest.score.data`); when all of X or all of Y is constant, I = 0 exactly
(stderr 0). The entropy of data with a constant column is $-\\infty$ with
`Status.DEGENERATE`.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from infoest import _checks
from infoest._estimate import Estimate, Status, make_estimate
from infoest._registry import register
from infoest.score import sde
from infoest.score.config import MINDEConfig, ema_decay, resolve, training_diverged
from infoest.score.data import prepare
from infoest.score.integrals import MINDE_TERMS, kl_integrand, minde_integrand, monte_carlo
from infoest.score.masks import minde_masks, var_index
from infoest.score.network import denoiser, train_score_net

__all__ = ["mutual_information", "entropy", "MINDEConfig"]

_TEST = dict(steps=4, batch_size=32, width=8, mc_iter=1)
#: ``infoest bench``: a short but meaningful run (n = 1000-5000 samples, ≈10 s per task on CPU)
_BENCH = dict(steps=2000, batch_size=128, mc_iter=4)
MIN_N = 16


def _gauss(d: int, dtype):
    """Entropy of N(0, I_d): (d/2) log(2πe)."""
    return jnp.asarray(0.5 * d * np.log(2 * np.pi * np.e), dtype)


@eqx.filter_jit
def _minde_core(z, key, cfg: MINDEConfig, sizes, masks_key):
    """Train and integrate; returns (mean, stderr) of the terms, log column scales, the
    training curve and a diverged flag."""
    index = var_index(sizes)
    masks = minde_masks(masks_key) if masks_key in ("c", "j") else np.ones((1, 1), np.int32)
    kfit, kest, knoise = jax.random.split(key, 3)
    z, log_sd = prepare(z, knoise)
    dtype = z.dtype
    net, result = train_score_net(z, index, masks, key=kfit, steps=cfg.steps,
                                  batch_size=cfg.batch_size,
                                  learning_rate=cfg.learning_rate.astype(dtype),
                                  width=cfg.width, ema_decay=ema_decay(cfg, dtype),
                                  schedule=cfg.schedule)
    den = denoiser(net, index)
    if masks_key in ("c", "j"):
        integrand = minde_integrand(den, index, masks_key)
    else:
        integrand = kl_integrand(den, index)
    mean, se = monte_carlo(integrand, z, kest, mc_iter=cfg.mc_iter, batch_size=cfg.eval_batch)
    dim = z.shape[1]
    diverged = training_diverged(result, net, mean, learning_rate=cfg.learning_rate,
                                 loss_ref=2.0,
                                 value_ref=2.0 * sde.is_normaliser() * dim)
    return mean, se, log_sd, result.train_loss, diverged


def _status(diverged):
    return jnp.where(diverged, Status.DIVERGED, Status.OK).astype(jnp.int32)


@register("mutual_information", "minde", stochastic=True, test_kwargs=_TEST,
          bench_kwargs=_BENCH, min_n=MIN_N)
def mutual_information(x, y, *, key, variant: str = "c", sigma: bool = False,
                       config: MINDEConfig | None = None, **options) -> Estimate:
    """MINDE estimate of I(X;Y) in nats (Franzese et al., ICLR 2024).

    Args:
        x, y: paired samples ``(n, dx)``, ``(n, dy)``.
        key: PRNG key (network initialisation, training, Monte-Carlo draws).
        variant: ``"c"`` (conditional: s_{X|Y} vs s_X) or ``"j"`` (joint vs conditionals).
        sigma: use the σ-reference form (difference of entropies against N(0, I)).
        config: a [MINDEConfig][infoest.score.config.MINDEConfig] (default: its defaults).
        **options: any field of `MINDEConfig` (`steps`, `batch_size`, `width`, `mc_iter`,
            `eval_batch`, `learning_rate`, `ema_decay`, `schedule`), overriding `config`.

    Returns:
        `Estimate` with ``value`` the chosen variant, ``stderr`` its standard error over
        rows and (t, ε) draws (module docstring), and diagnostics ``mi``/``mi_sigma`` (both
        forms), ``entropy`` (H(X) for ``"c"``, H(X, Y) for ``"j"``, the by-product) and
        ``train_loss``.
    """
    cfg = resolve(MINDEConfig, config, options)
    x, y = _checks.paired_samples((x, "x"), (y, "y"))
    _checks.check_choice(variant, "variant", ("c", "j"))
    if not isinstance(sigma, bool):
        raise TypeError(f"`sigma` must be a bool, got {type(sigma).__name__}")
    sizes = (x.shape[1], y.shape[1])
    z = jnp.concatenate([x, y], axis=1)
    mean, se, log_sd, loss, diverged = _minde_core(z, key, cfg, sizes, variant)
    terms = dict(zip(MINDE_TERMS[variant], range(3), strict=True))
    pick = terms["mi_sigma"] if sigma else terms["mi"]
    # Entropy by-product: standardised data have ½E‖x_0‖² = d/2 exactly.
    d = sizes[0] if variant == "c" else sum(sizes)
    kl = mean[terms[f"h_{'x' if variant == 'c' else 'xy'}_kl"]]
    ent = _gauss(d, z.dtype) - kl + log_sd[:d].sum()
    # A constant variable: I = 0 exactly.
    const = jnp.all(jnp.isneginf(log_sd[:sizes[0]])) | jnp.all(jnp.isneginf(log_sd[sizes[0]:]))
    value = jnp.where(const, 0.0, mean[pick]).astype(z.dtype)
    stderr = jnp.where(const, 0.0, se[pick]).astype(z.dtype)
    return make_estimate(value, stderr, status=_status(diverged), method="minde",
                         mi=mean[terms["mi"]], mi_sigma=mean[terms["mi_sigma"]], entropy=ent,
                         train_loss=loss)


@register("entropy", "minde", stochastic=True, test_kwargs=_TEST,
          bench_kwargs=_BENCH, min_n=MIN_N)
def entropy(x, *, key, config: MINDEConfig | None = None, **options) -> Estimate:
    """MINDE entropy H(X) in nats: Gaussian reference minus the score-matching KL.

    $H(X) = \\tfrac d2 \\log 2\\pi e - \\int \\tfrac12\\beta E\\|s_X(x_t) - s_{ref}(x_t)\\|^2 dt
    + \\sum_j \\log \\mathrm{sd}_j$ for the standardised data (Franzese et al., ICLR 2024,
    §3.1). Options as in [mutual_information][infoest.score.minde.mutual_information];
    ``stderr`` is the standard error of the KL term over rows and (t, ε) draws. Data with a
    constant column: $-\\infty$ with `Status.DEGENERATE`.
    """
    cfg = resolve(MINDEConfig, config, options)
    x = _checks.as_samples(x, "x")
    mean, se, log_sd, loss, diverged = _minde_core(x, key, cfg, (x.shape[1],), "h")
    value = _gauss(x.shape[1], x.dtype) - mean[0] + log_sd.sum()
    status = jnp.where(jnp.isneginf(log_sd.sum()) & ~diverged, Status.DEGENERATE,
                       _status(diverged))
    return make_estimate(value, se[0], status=status, method="minde", kl=mean[0],
                         train_loss=loss)
