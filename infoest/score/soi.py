r"""SΩI: O-information (and TC, DTC, S-information, ∂Ω) from diffusion scores.

Bounoua, Franzese, Michiardi, "SΩI: Score-based O-INFORMATION Estimation", ICML 2024
(arXiv 2402.05667). For variables $X = (X_1, \dots, X_k)$, one forward draw $x_t$ of all of
them and the scores of one amortised network (`infoest.score.network`), in nats:

$$TC = \int_0^1 \tfrac12\beta(t)\,E\|s_X(x_t) - [s_{X_1}(x^1_t), \dots,
s_{X_k}(x^k_t)]\|^2 dt$$

$$DTC = \int_0^1 \tfrac12\beta(t)\,E\|s_X(x_t) - [s_{X_1|X_{-1}}(x^1_t | x^{-1}_0),
\dots, s_{X_k|X_{-k}}(x^k_t | x^{-k}_0)]\|^2 dt$$

$\Omega = TC - DTC$, $S = TC + DTC$, $\partial_i\Omega = \Omega(X) - \Omega(X_{-i})$.

2k + 1 scores (joint, marginals, full conditionals) come from one network trained with
per-sample random masks; with `gradient=True` the training masks also cover the k
leave-one-out joints and the k(k − 1) conditionals $X_j | X_{-ij}$, and $\Omega(X_{-i})$ is
estimated from the same network. Data are standardised per column (Ω, TC, DTC are invariant
to it). The options, their defaults and what each changes are in
[SOIConfig][infoest.score.config.SOIConfig]; the measurements behind the defaults (time
weights, loss normalisation, Gaussian skip, σ-scaled output, adaLN, cosine schedule, mask
shares) are in `docs/score.md`.

**stderr**: the standard deviation over the n rows of the per-row Ω integrand (averaged over
`mc_iter` (t, ε) draws), over $\sqrt n$: sampling variance given the trained network plus
Monte-Carlo noise; not the training noise or the bias (coverage: `docs/score.md`).

**Status**: `Status.DIVERGED` when training diverged
([training_diverged][infoest.score.config.training_diverged]: a non-finite or exploding
loss, non-finite weights, an estimated term out of bounds, a learning rate that is not
finite and positive), or when the trained network's integrand is the same for every sample
(stderr exactly 0 on data with more than two informative variables: a network that no
longer depends on its input). Concrete invalid options raise `ValueError` when
[SOIConfig][infoest.score.config.SOIConfig] is built.

**Degenerate data**: constant columns are replaced by independent noise (Ω is additive over
independent subsystems, `infoest.score.data`); with at most two non-constant variables
Ω = 0 exactly (Ω of two variables is 0), as is ∂Ω.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from infoest._estimate import Estimate, Status, make_estimate
from infoest._registry import register
from infoest.multivariate import as_variables
from infoest.score import sde
from infoest.score.config import (
    SOIConfig,
    check_dimension,
    ema_decay,
    resolve,
    training_diverged,
)
from infoest.score.data import prepare
from infoest.score.integrals import monte_carlo, soi_integrand
from infoest.score.masks import soi_mask_probs, soi_masks, var_index
from infoest.score.network import denoiser, train_score_net

__all__ = ["o_information", "default_width", "SOIConfig"]

MIN_N = 16
#: The array (traced) fields of `SOIConfig`: a new value neither recompiles nor blocks vmap.
CONTINUOUS = ("learning_rate", "ema_decay", "joint_share", "marginal_share")


def default_width(dim: int) -> int:
    """SΩI's MLP width rule: 128 if D ≤ 50, 192 if D ≤ 100, else 256."""
    return 128 if dim <= 50 else 192 if dim <= 100 else 256


def subsets(k: int, gradient: bool) -> np.ndarray:
    """The full set of variables, then (``gradient``) each leave-one-out subset."""
    rows = [np.ones(k, bool)]
    if gradient:
        rows.extend(~np.eye(k, dtype=bool))
    return np.stack(rows)


@eqx.filter_jit
def _soi_core(z, key, cfg: SOIConfig, sizes, gradient):
    """Train and integrate; returns (mean, stderr) of (TC, DTC, Ω, ∂Ω...), log column
    scales, the training curve and a diverged flag."""
    k = len(sizes)
    index = var_index(sizes)
    kfit, kest, knoise = jax.random.split(key, 3)
    z, log_sd = prepare(z, knoise)
    dtype = z.dtype
    masks = soi_masks(k, gradient=gradient)
    width = default_width(z.shape[1]) if cfg.width is None else cfg.width
    net, result = train_score_net(
        z, index, masks, key=kfit, steps=cfg.steps, batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate.astype(dtype), width=width,
        ema_decay=ema_decay(cfg, dtype), per_coordinate=False,
        gaussian_skip=cfg.gaussian_skip, sigma_out=cfg.sigma_out, film=cfg.film,
        schedule=cfg.schedule,
        mask_probs=soi_mask_probs(masks, cfg.joint_share, cfg.marginal_share))
    sets = jnp.asarray(subsets(k, gradient))
    base = soi_integrand(denoiser(net, index), index, sets)

    def integrand(x0, xt, t):
        tc_dtc = base(x0, xt, t)  # (s, 2)
        omega = tc_dtc[:, 0] - tc_dtc[:, 1]
        return jnp.concatenate([tc_dtc[0], omega[:1], omega[0] - omega[1:]])

    mean, se = monte_carlo(integrand, z, kest, mc_iter=cfg.mc_iter, batch_size=cfg.eval_batch)
    dim = z.shape[1]
    diverged = training_diverged(result, net, mean, learning_rate=cfg.learning_rate,
                                 loss_ref=2.0 * dim,
                                 value_ref=2.0 * sde.is_normaliser() * dim)
    return mean, se, log_sd, result.train_loss, diverged


def _informative(log_sd, sizes):
    """Number of variables with at least one non-constant column (traced int)."""
    bounds = np.cumsum([0, *sizes])
    alive = [~jnp.all(jnp.isneginf(log_sd[a:b])) for a, b in zip(bounds[:-1], bounds[1:],
                                                                   strict=True)]
    return jnp.sum(jnp.stack(alive).astype(jnp.int32))


def training_status(diverged, trivial, stderr) -> jax.Array:
    """`Status.DIVERGED` when training diverged, or when every sample's Ω integrand is the
    same (stderr exactly 0) although Ω is not trivially 0: the trained network no longer
    depends on its input (a dead network after an absurd learning rate); else `Status.OK`."""
    dead = ~trivial & (stderr == 0)
    return jnp.where(diverged | dead, Status.DIVERGED, Status.OK).astype(jnp.int32)


@register("o_information", "soi", stochastic=True, min_n=MIN_N, continuous=CONTINUOUS,
          test_kwargs=dict(steps=4, batch_size=32, width=8, mc_iter=1),
          bench_kwargs=dict(steps=2000, batch_size=256, mc_iter=4))
def o_information(variables, *, key, gradient: bool = False,
                  config: SOIConfig | None = None, **options) -> Estimate:
    """SΩI estimate of the O-information Ω = TC − DTC in nats (Bounoua et al., ICML 2024).

    Args:
        variables: an ``(n, k)`` array of k scalar variables, or a sequence of ``(n, d_i)``
            arrays (vector-valued variables); k ≥ 2.
        key: PRNG key (initialisation, training, Monte-Carlo draws).
        gradient: also estimate ∂_iΩ = Ω(X) − Ω(X_−i) (diagnostic ``gradient``, shape (k,)).
        config: a [SOIConfig][infoest.score.config.SOIConfig] (default: its defaults).
        **options: any field of `SOIConfig` (`steps`, `batch_size`, `width`, `mc_iter`,
            `eval_batch`, `gaussian_skip`, `sigma_out`, `film`, `schedule`,
            `learning_rate`, `ema_decay`, `joint_share`, `marginal_share`), overriding
            `config`. The continuous ones may be traced (vmapped) without recompiling.

    Returns:
        `Estimate` of Ω with its standard error (module docstring); diagnostics ``tc``,
        ``dtc``, ``s_information``, ``train_loss`` and (``gradient=True``) ``gradient``.
    """
    cfg = resolve(SOIConfig, config, options)
    if not isinstance(gradient, bool):
        raise TypeError(f"`gradient` must be a bool, got {type(gradient).__name__}")
    z, sizes = as_variables(variables)
    check_dimension(z.shape[0], z.shape[1], "SΩI")  # n >= D + 2 (`check_dimension`)
    mean, se, log_sd, loss, diverged = _soi_core(z, key, cfg, sizes, gradient)
    tc, dtc = mean[0], mean[1]
    trivial = _informative(log_sd, sizes) <= 2  # Ω of ≤ 2 informative variables is 0
    omega = jnp.where(trivial, 0.0, mean[2]).astype(z.dtype)
    stderr = jnp.where(trivial, 0.0, se[2]).astype(z.dtype)
    extra = {"gradient": jnp.where(trivial, 0.0, mean[3:])} if gradient else {}
    status = training_status(diverged, trivial, se[2])
    return make_estimate(omega, stderr, status=status, method="soi", tc=tc, dtc=dtc,
                         o_information=omega, s_information=tc + dtc, train_loss=loss,
                         **extra)
