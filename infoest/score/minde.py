"""MINDE: mutual information and entropy from diffusion scores.

Franzese, Bounoua, Michiardi, "MINDE: Mutual Information Neural Diffusion Estimation",
ICLR 2024 (arXiv 2310.09031). One amortised score network (`infoest.score.network`) is
trained on the standardised samples; the estimates are importance-sampled integrals of
score differences over the VP SDE (`infoest.score.integrals`), in nats:

- MINDE-C:
  $$I = \\int_0^1 \\tfrac12\\beta(t)\\,E\\|s_{X|Y}(x_t|y_0) - s_X(x_t)\\|^2 dt$$
- MINDE-C(σ), $H(X) - H(X|Y)$:
  $$I = \\int_0^1 \\tfrac12\\beta\\,E[\\|s_{X|Y} - s_{ref}\\|^2 - \\|s_X - s_{ref}\\|^2]\\,dt$$
- MINDE-J:
  $$I = \\int_0^1 \\tfrac12\\beta\\,E\\|s_{XY}(x_t, y_t) - [s_{X|Y}(x_t|y_0),
  s_{Y|X}(y_t|x_0)]\\|^2 dt$$
- MINDE-J(σ):
  $$I = \\int_0^1 \\tfrac12\\beta\\,E[\\|s_{X|Y} - s_{ref}\\|^2 + \\|s_{Y|X} -
  s_{ref}\\|^2 - \\|s_{XY} - s_{ref}\\|^2]\\,dt$$
- entropy:
  $$H(X) = \\tfrac d2 \\log 2\\pi e - \\int_0^1 \\tfrac12\\beta\\,E\\|s_X -
  s_{ref}\\|^2 dt + \\sum_j \\log \\mathrm{sd}_j$$

with the reference N(0, I), $s_{ref}(x_t) = -x_t$ (the KL of the diffused data to it vanishes
at T = 1 up to $e^{-10}$); the last term of H undoes the per-column standardisation. The σ
variants follow the corrected formulas of the authors' code (commit 612d6f7).

**stderr.** With one network (`replicates=1`, the default) `stderr` is the delta-method
standard error of a plug-in estimate, $\\mathrm{sd}[\\mathrm{pmi}(x, y)]/\\sqrt n$ for the MI
($\\mathrm{sd}[-\\log p(x)]/\\sqrt n$ for the entropy): an estimator fitted to its sample
fluctuates like a plug-in estimate, with the variance of its influence function. The
pointwise MI of each sample is read from the trained network as the difference of two
denoising bounds on −log p (exact for exact scores; Song et al., NeurIPS 2021; see
[pmi_integrand][infoest.score.integrals.pmi_integrand] and
[nll_integrand][infoest.score.integrals.nll_integrand]), averaged over the same `mc_iter`
(t, ε) draws as the estimate, and the Monte-Carlo part of its spread is removed
([row_stderr][infoest.score.integrals.row_stderr]); no extra network evaluation. The
Monte-Carlo variance of the estimate's own average over its (t, ε) draws is added. It
covers the sampling variance of the data and the Monte-Carlo noise, not the training noise
of the network nor the bias (under-training, heavy tails). (The spread over rows of
MINDE's own integrand, used before, is not the influence function and was ≈ 0.45 of the
sampling spread.) With
`replicates=S ≥ 2` (a [MINDEConfig][infoest.score.config.MINDEConfig] option) S networks
are trained, each on a Bayesian-bootstrap reweighting of the rows (Rubin, "The Bayesian
bootstrap", Ann. Statist. 9, 1981: weights $w_i = e_i/\\bar e$ with
$e_i \\sim \\mathrm{Exp}(1)$, applied to the training loss and to the estimation average),
in one vmapped call; the estimate is the mean of the S replicate estimates and `stderr`
their standard deviation, which also covers the training noise (conservative by it, as the
mean of S divides it by S), at S times the cost. Measured coverage: `docs/score.md`,
"Error bars", and `docs/coverage.md`.

**Status.** `Status.DIVERGED` when training diverged
([training_diverged][infoest.score.config.training_diverged]: a non-finite loss, gradient or
EMA weight, an exploding loss, or a term beyond any bounded predictor's reach).

**Too few samples for the dimension.** n < D + 2 (D = d_x + d_y, or d for the entropy) is
a `ValueError` ([check_dimension][infoest.score.config.check_dimension]): the samples then
span a subspace and the learned score is singular (at n = 24, D = 40: H −40 nats against
56.8 after 300 steps, MI 7.4 against 0 for D = 60).

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
from infoest.score.config import (
    MINDEConfig,
    check_dimension,
    ema_decay,
    network_options,
    resolve,
    training_diverged,
    training_steps,
)
from infoest.score.data import prepare
from infoest.score.integrals import (
    MINDE_TERMS,
    kl_integrand,
    minde_integrand,
    monte_carlo,
    nll_integrand,
    pmi_integrand,
    row_stderr,
)
from infoest.score.masks import minde_masks, var_index
from infoest.score.network import denoiser, train_score_net

__all__ = ["mutual_information", "entropy", "MINDEConfig"]

_TEST = dict(steps=4, batch_size=32, width=8, mc_iter=1)
#: ``infoest bench``: a short but meaningful run (n = 1000-5000 samples, ≈10 s per task on CPU)
_BENCH = dict(steps=2000, batch_size=128, mc_iter=4)
MIN_N = 16


def _entropy(kl, second, log_sd):
    """Per replicate H = (d/2) log 2π + ½ E_w‖x_0‖² − KL + Σ_j log sd_j for the KL ``(S,)``
    of the standardised (reweighted) data to N(0, I) and their second moments ``(S, d)``
    (each 1 without reweighting, giving (d/2) log 2πe)."""
    d = second.shape[1]
    return (0.5 * d * np.log(2 * np.pi) + 0.5 * second.sum(1) - kl + log_sd.sum()).astype(
        kl.dtype)


def _integrate(den, z, key, cfg: MINDEConfig, index, masks_key, w):
    """Monte-Carlo means of the terms and their stderrs. The stderr of the MI terms (of the
    KL for the entropy) is that of the influence function, the spread over samples of the
    pointwise MI (of −log p) with the Monte-Carlo noise removed (`integrals.row_stderr`),
    combined with the Monte-Carlo variance of the term's own average; the others are the
    plain spread over samples of their own integrand."""
    if masks_key in ("c", "j"):
        main, point = minde_integrand(den, index, masks_key), pmi_integrand(den, index,
                                                                             masks_key)
    else:
        main, point = kl_integrand(den, index), nll_integrand(den, index)

    def integrand(x0, xt, t):
        return jnp.concatenate([main(x0, xt, t), point(x0, xt, t)])

    mean, se, rows, mc_var = monte_carlo(integrand, z, key, mc_iter=cfg.mc_iter,
                                         batch_size=cfg.eval_batch, weights=w, rows=True)
    pointwise = rows[:, -1]
    if masks_key == "h":  # −log p = −log N(x; 0, I) + (log N(x; 0, I) − log p)
        pointwise = pointwise + 0.5 * jnp.sum(z * z, axis=1)
    influence = row_stderr(pointwise, mc_var[:, -1])
    # plus the Monte-Carlo noise of each term's own average over the (t, ε) draws
    own_mc = jnp.mean(mc_var[:, :-1], axis=0) / z.shape[0]
    k = 1 if masks_key == "h" else 2
    se = se[:-1].at[:k].set(jnp.sqrt(influence**2 + own_mc[:k]))
    return mean[:-1], se


def _replicate(z, key, cfg: MINDEConfig, index, masks, masks_key, weighted: bool):
    """One network: train on ``z`` (Bayesian-bootstrap weighted when ``weighted``) and
    integrate. Returns the terms' (mean, stderr over rows), the weighted second moment of
    every column, the training curve and a diverged flag."""
    kfit, kest, kw = jax.random.split(key, 3)
    dtype = z.dtype
    w = None
    if weighted:  # Rubin (1981): flat-Dirichlet weights, here with mean 1
        e = jax.random.exponential(kw, (z.shape[0],), dtype)
        w = e / e.mean()
    net, result = train_score_net(z, index, masks, key=kfit, steps=cfg.steps,
                                  batch_size=cfg.batch_size,
                                  learning_rate=cfg.learning_rate.astype(dtype),
                                  width=cfg.width, ema_decay=ema_decay(cfg, dtype),
                                  schedule=cfg.schedule, weights=w,
                                  **network_options(cfg, z.shape[1]))
    mean, se = _integrate(denoiser(net, index), z, kest, cfg, index, masks_key, w)
    second = jnp.mean(z * z if w is None else w[:, None] * z * z, axis=0)
    diverged = training_diverged(result, net, mean, learning_rate=cfg.learning_rate,
                                 loss_ref=2.0,
                                 value_ref=2.0 * sde.is_normaliser() * z.shape[1])
    return mean, se, second, result.train_loss, diverged


@eqx.filter_jit
def _minde_core(z, key, cfg: MINDEConfig, sizes, masks_key):
    """Train ``cfg.replicates`` networks and integrate; returns per replicate (leading axis)
    the terms' mean and row stderr and the columns' second moments, then the log column
    scales, the mean training curve and a diverged flag."""
    index = var_index(sizes)
    masks = minde_masks(masks_key) if masks_key in ("c", "j") else np.ones((1, 1), np.int32)
    knoise, krep = jax.random.split(key)
    z, log_sd = prepare(z, knoise)
    keys = jax.random.split(krep, cfg.replicates)
    weighted = cfg.replicates > 1

    def one(k):
        return _replicate(z, k, cfg, index, masks, masks_key, weighted)

    if weighted:
        mean, se, second, loss, diverged = jax.vmap(one)(keys)
    else:
        mean, se, second, loss, diverged = jax.tree_util.tree_map(
            lambda a: a[None], one(keys[0]))
    return mean, se, second, log_sd, loss.mean(0), jnp.any(diverged)


def _combine(values, row_se):
    """Estimate and stderr from per-replicate values ``(S, ...)``: their mean and standard
    deviation (S ≥ 2), or the row stderr of the single network (S = 1)."""
    if values.shape[0] == 1:
        return values[0], row_se[0]
    return values.mean(0), values.std(0, ddof=1)


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
        `Estimate` with ``value`` the chosen variant, ``stderr`` its standard error (module
        docstring: the spread of the replicate networks, or with one network the spread
        over rows), and diagnostics ``mi``/``mi_sigma`` (both forms), ``entropy`` (H(X)
        for ``"c"``, H(X, Y) for ``"j"``, the by-product), ``replicates`` (the chosen form
        per replicate network) and ``train_loss`` (mean over the replicates).
    """
    cfg = resolve(MINDEConfig, config, options)
    x, y = _checks.paired_samples((x, "x"), (y, "y"))
    _checks.check_choice(variant, "variant", ("c", "j"))
    if not isinstance(sigma, bool):
        raise TypeError(f"`sigma` must be a bool, got {type(sigma).__name__}")
    sizes = (x.shape[1], y.shape[1])
    check_dimension(x.shape[0], sum(sizes), "MINDE")
    cfg = training_steps(cfg, x.shape[0])
    z = jnp.concatenate([x, y], axis=1)
    mean, se, second, log_sd, loss, diverged = _minde_core(z, key, cfg, sizes, variant)
    terms = dict(zip(MINDE_TERMS[variant], range(3), strict=True))
    pick = terms["mi_sigma"] if sigma else terms["mi"]
    d = sizes[0] if variant == "c" else sum(sizes)
    kl = mean[:, terms[f"h_{'x' if variant == 'c' else 'xy'}_kl"]]
    ent = _entropy(kl, second[:, :d], log_sd[:d])
    # A constant variable: I = 0 exactly.
    const = jnp.all(jnp.isneginf(log_sd[:sizes[0]])) | jnp.all(jnp.isneginf(log_sd[sizes[0]:]))
    value, stderr = _combine(mean[:, pick], se[:, pick])
    value = jnp.where(const, 0.0, value).astype(z.dtype)
    stderr = jnp.where(const, 0.0, stderr).astype(z.dtype)
    return make_estimate(value, stderr, status=_status(diverged), method="minde",
                         mi=mean[:, terms["mi"]].mean(0),
                         mi_sigma=mean[:, terms["mi_sigma"]].mean(0), entropy=ent.mean(0),
                         replicates=mean[:, pick], train_loss=loss)


@register("entropy", "minde", stochastic=True, test_kwargs=_TEST,
          bench_kwargs=_BENCH, min_n=MIN_N)
def entropy(x, *, key, config: MINDEConfig | None = None, **options) -> Estimate:
    """MINDE entropy H(X) in nats: Gaussian reference minus the score-matching KL.

    $$H(X) = \\tfrac d2 \\log 2\\pi e - \\int_0^1 \\tfrac12\\beta\\,E\\|s_X(x_t) -
    s_{ref}(x_t)\\|^2 dt + \\sum_j \\log \\mathrm{sd}_j$$

    for the standardised data (Franzese et al., ICLR 2024, §3.1). Options as in
    [mutual_information][infoest.score.minde.mutual_information]; ``stderr`` as there (the
    spread of the replicate networks' estimates; module docstring). Data with a constant
    column: $-\\infty$ with `Status.DEGENERATE`.
    """
    cfg = resolve(MINDEConfig, config, options)
    x = _checks.as_samples(x, "x")
    check_dimension(*x.shape, "MINDE")
    cfg = training_steps(cfg, x.shape[0])
    mean, se, second, log_sd, loss, diverged = _minde_core(x, key, cfg, (x.shape[1],), "h")
    per_replicate = _entropy(mean[:, 0], second, log_sd)
    value, stderr = _combine(per_replicate, se[:, 0])
    status = jnp.where(jnp.isneginf(log_sd.sum()) & ~diverged, Status.DEGENERATE,
                       _status(diverged))
    return make_estimate(value, stderr, status=status, method="minde", kl=mean[:, 0].mean(0),
                         replicates=per_replicate, train_loss=loss)
