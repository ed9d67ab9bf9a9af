"""SΩI: O-information (and TC, DTC, S-information, ∂Ω) from diffusion scores.

Bounoua, Franzese, Michiardi, "SΩI: Score-based O-INFORMATION Estimation", ICML 2024
(arXiv 2402.05667). For variables X = (X_1..X_k), one forward draw x_t of all of them and the
scores of one amortised network ([`infoest.score.network`][infoest.score.network]), in nats:

    TC  = ∫ ½β E‖s_X(x_t) − [s_{X_1}(x¹_t), …, s_{X_k}(xᵏ_t)]‖² dt
    DTC = ∫ ½β E‖s_X(x_t) − [s_{X_1|X_−1}(x¹_t | x⁻¹_0), …, s_{X_k|X_−k}(xᵏ_t | x⁻ᵏ_0)]‖² dt
    Ω = TC − DTC,   S = TC + DTC,   ∂_iΩ = Ω(X) − Ω(X_−i).

2k + 1 scores (joint, marginals, full conditionals) from one network trained with per-sample
random masks; with ``gradient=True`` the training masks also cover the k leave-one-out joints
and the k(k−1) conditionals X_j | X_−ij, and Ω(X_−i) is estimated from the same network.
Data are standardised per column (Ω, TC, DTC are invariant to it).

Training and accuracy. Every term is a mean of squared differences of two network outputs:
uncorrelated network error adds to TC and DTC, a network that under-fits the dependence
(scores pulled toward the product of marginals) subtracts; Ω = TC − DTC cancels part of
either. Three details decide the accuracy (measured on red [3, 3, 4], ρ = 0.5, dim 10 (100
inputs), n = 100k, width 192, batch 256, lr 1e-3, 6k steps, against the exact Gaussian scores
on 5 000 samples; "error energy" = Z·½E‖ε̂_net − ε̂_exact‖², in nats):

- time weights bounded by Z below t_ε ([`sde.is_weight`][infoest.score.sde.is_weight]; the reference
code does the
  same): the unbounded ratio (weights up to 2·10⁴) added +5.4 nats to TC from the 5 % of draws
  with t < 10⁻³;
- the loss summed over the diffused coordinates (SΩI's reference loss), not divided by their
  number: the division weighted the 100-coordinate joint score ~19x less per coordinate than
  the marginals/conditionals — joint error energy 59 → 18 nats;
- the Gaussian skip ε̂ = σ(t) x_t + network (``gaussian_skip=True``,
  [`infoest.score.network`][infoest.score.network]): error energies joint / Σ marginals / Σ
  conditionals 15.4 /
  5.7 / 13.4 → 3.3 / 0.08 / 5.6 nats; TC 18.1 → 10.3, DTC 22.9 → 7.0 (truth 12.7, 8.8).

With all three, ``examples/soi_synthetic.py`` at 30k steps (77 of the paper's 500 epochs;
n = 100k, lr 1e-3, mc_iter 2 over the 100k samples), ρ = 0.5:

- red, dim 10: Ω 3.02 vs 3.93 (−23 %), TC 10.82 vs 12.75, DTC 7.80 vs 8.82 (before these
  fixes: Ω 2.11, TC 31.2, DTC 29.1);
- syn, dim 10: Ω −1.64 vs −2.17 (sign right, −24 % in magnitude), TC 11.72 vs 13.27, DTC
  13.37 vs 15.45;
- red, dim 1: Ω 0.354 vs 0.393 (−10 %), TC 1.222 vs 1.275, DTC 0.868 vs 0.882 (before: +23 %);
- syn, dim 1: Ω −0.162 vs −0.217 (sign right, −25 % in magnitude), TC 1.269 vs 1.327, DTC
  1.431 vs 1.545.

What remained at dim 10 was under-fitting: TC and DTC 10–15 % low, the network's joint
score pulled toward the product of marginals (the paper reports 3–5 % low after 195k steps
with its transformer). At 6k steps lr 1e-2 (the paper's MLP jobs) was much worse (TC 5.3).
Regressing the same network on the exact Gaussian noise predictions (no ε noise) separated
capacity from estimation noise; four training/architecture choices, now the defaults, then
cut the error (red, dim 10, ρ = 0.5, width 192, 6k steps, 5 000 evaluation samples; error
energies joint / Σ conditionals in nats):

- a 5 % warmup and cosine decay of the learning rate to 0 (``schedule="cosine"``);
- ε̂ = σ(t)(x_t + network) (``sigma_out``): the plain skip left an O(1) ε-error at t < 0.03
  that added +2.4 nats of spurious TC (it had hidden part of the joint's under-fit);
- adaLN time modulation (``film``): with exact targets, error energies 0.36 / 0.51 → 0.06 /
  0.08 and Ω 3.13 → 3.85; with the real (noisy) loss 2.47 / 3.29 → 2.10 / 2.80;
- more training on the joint (``joint_share=0.6``, ``marginal_share=0.04``; the paper's
  rule gives 1/7 and 1/7, and the marginals are already near-exact with the skip): 2.10 /
  2.80 → 0.79 / 1.17 — the conditionals improve too although they get fewer draws, Ω 1.50 →
  2.34 at 6k steps.

Not helpful at 6k steps: peak lr 2e-3 with the cosine (0.95 / 1.40); drawing t from
q'(t) ∝ β/σ with importance weights to lower the gradient noise (1.66 / 2.29).

With these defaults ``examples/soi_synthetic.py`` (n = 100k, batch 256, mc_iter 2), red,
dim 10, ρ = 0.5: 30k steps (77 epochs, 1 318 s on 2 shared cores): Ω 3.37 ± 0.04 vs 3.93
(−14 %), TC 12.36 vs 12.75 (−3 %), DTC 8.99 vs 8.82 (+2 %); 45k steps (115 epochs,
1 809 s): Ω 3.70 ± 0.04 (−5.9 %, within the 10 % target), TC 12.50 (−1.9 %), DTC 8.80
(−0.2 %). The remaining error is estimation noise of the conditional scores (adds to DTC)
and the joint's residual under-fit (lowers TC); both shrink with training. (One seed each;
the synergistic system was not re-run with these defaults.)
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from infoest._estimate import Estimate, make_estimate
from infoest._registry import register
from infoest.score.integrals import monte_carlo, soi_integrand
from infoest.score.masks import soi_mask_probs, soi_masks, var_index
from infoest.score.minde import _common, auto_ema, standardize
from infoest.score.network import denoiser, train_score_net

__all__ = ["o_information", "default_width"]


def default_width(dim: int) -> int:
    """SΩI's MLP width rule: 128 if D ≤ 50, 192 if D ≤ 100, else 256."""
    return 128 if dim <= 50 else 192 if dim <= 100 else 256


def subsets(k: int, gradient: bool) -> np.ndarray:
    """The full set of variables, then (``gradient``) each leave-one-out subset."""
    rows = [np.ones(k, bool)]
    if gradient:
        rows.extend(~np.eye(k, dtype=bool))
    return np.stack(rows)


@functools.partial(jax.jit, static_argnames=("sizes", "gradient", "steps", "batch_size",
                                             "width", "mc_iter", "eval_batch", "gaussian_skip",
                                             "sigma_out", "film", "schedule", "mask_shares"))
def _soi_core(z, key, learning_rate, ema_decay, *, sizes, gradient, steps, batch_size, width,
              mc_iter, eval_batch, gaussian_skip, sigma_out, film, schedule, mask_shares):
    k = len(sizes)
    index = var_index(sizes)
    z, _ = standardize(z)
    kfit, kest = jax.random.split(key)
    masks = soi_masks(k, gradient=gradient)
    net, result = train_score_net(z, index, masks, key=kfit, steps=steps, batch_size=batch_size,
                                  learning_rate=learning_rate, width=width, ema_decay=ema_decay,
                                  per_coordinate=False, gaussian_skip=gaussian_skip,
                                  sigma_out=sigma_out, film=film, schedule=schedule,
                                  mask_probs=soi_mask_probs(masks, *mask_shares))
    sets = jnp.asarray(subsets(k, gradient))
    base = soi_integrand(denoiser(net, index), index, sets)

    def integrand(x0, xt, t):
        tc_dtc = base(x0, xt, t)  # (s, 2)
        omega = tc_dtc[:, 0] - tc_dtc[:, 1]
        return jnp.concatenate([tc_dtc[0], omega[:1], omega[0] - omega[1:]])

    mean, se = monte_carlo(integrand, z, kest, mc_iter=mc_iter, batch_size=eval_batch)
    return mean, se, result.train_loss


@register("o_information", "soi", stochastic=True,
          test_kwargs=dict(steps=4, batch_size=32, width=8, mc_iter=1),
          bench_kwargs=dict(steps=2000, batch_size=256, mc_iter=4))
def o_information(variables, *, key, gradient: bool = False, steps: int = 10_000,
                  batch_size: int = 256, learning_rate=1e-3, width: int | None = None,
                  ema_decay=None, mc_iter: int = 10, eval_batch: int | None = 1024,
                  gaussian_skip: bool = True, sigma_out: bool = True, film: bool = True,
                  schedule: str = "cosine", joint_share: float | None = 0.6,
                  marginal_share: float | None = 0.04) -> Estimate:
    """SΩI estimate of the O-information Ω = TC − DTC in nats (Bounoua et al., ICML 2024).

    Args:
        variables: an ``(n, k)`` array of k scalar variables, or a sequence of ``(n, d_i)``
            arrays (vector-valued variables); k ≥ 2.
        key: PRNG key (initialisation, training, Monte-Carlo draws).
        gradient: also estimate ∂_iΩ = Ω(X) − Ω(X_−i) (diagnostic ``gradient``, shape (k,)).
        steps, batch_size: training length and minibatch (the paper: 500 epochs of 100k
            samples, batch 256; the default is a CPU-friendly 10k steps).
        learning_rate: Adam learning rate (traced).
        width: network width (default [`default_width`][infoest.score.soi.default_width] of the
            total dimension).
        ema_decay: EMA decay of the weights used at estimation (default
            min(0.999, 1 − 10/steps)).
        mc_iter: Monte-Carlo passes with fresh (t, ε) per sample.
        eval_batch: samples per chunk at estimation; ``None``: all at once.
        gaussian_skip: parameterise ε̂ = σ(t) x_t + network on the diffused coordinates
            (the exact noise prediction of N(0, I) data; EDM-style preconditioning) instead of
            the paper's plain ε̂ = network (``False``). See the module docstring.
        sigma_out: with ``gaussian_skip``, ε̂ = σ(t) (x_t + network): the network predicts
            −score − x_t, which stays O(1) as t → 0 (EDM's c_out ∝ σ), instead of an
            ε-correction whose scale it must learn (``False``: ε̂ = σ(t) x_t + network).
        film: modulate the network's two inner normalisations by (scale, shift) of the time
            embedding (DiT's adaLN) besides the reference's additive time embedding.
        schedule: learning rate ``"cosine"`` (5 % linear warmup, cosine decay to 0),
            ``"linear"`` (warmup, linear decay) or ``"constant"`` (the paper).
        joint_share, marginal_share: probability of drawing the full-joint mask and total
            probability of the k marginal masks in training (the other masks share the rest
            by the paper's rule,
            [`infoest.score.masks.soi_mask_probs`][infoest.score.masks.soi_mask_probs]); ``None``:
            the
            paper's duplication rule (for k = 10: joint 1/7, marginals 1/7).

    Returns:
        [`Estimate`][infoest.score.soi.Estimate] of Ω with Monte-Carlo ``stderr``; diagnostics
        ``tc``, ``dtc``,
        ``s_information``, ``train_loss`` and (``gradient=True``) ``gradient``.
    """
    from infoest.multivariate import as_variables

    z, sizes = as_variables(variables)
    for name, flag in (("gradient", gradient), ("gaussian_skip", gaussian_skip),
                       ("sigma_out", sigma_out), ("film", film)):
        if not isinstance(flag, bool):
            raise TypeError(f"`{name}` must be a bool, got {type(flag).__name__}")
    steps, batch_size, width, mc_iter, eval_batch = _common(steps, batch_size, width, mc_iter,
                                                            eval_batch)
    width = default_width(z.shape[1]) if width is None else width
    dtype = z.dtype
    mean, se, loss = _soi_core(
        z, key, jnp.asarray(learning_rate, dtype), jnp.asarray(auto_ema(ema_decay, steps), dtype),
        sizes=sizes, gradient=gradient, steps=steps, batch_size=batch_size, width=width,
        mc_iter=mc_iter, eval_batch=eval_batch, gaussian_skip=gaussian_skip,
        sigma_out=sigma_out, film=film, schedule=schedule,
        mask_shares=(joint_share if joint_share is None else float(joint_share),
                     marginal_share if marginal_share is None else float(marginal_share)))
    tc, dtc, omega = mean[0], mean[1], mean[2]
    extra = {"gradient": mean[3:]} if gradient else {}
    return make_estimate(omega, se[2], method="soi", tc=tc, dtc=dtc, o_information=omega,
                         s_information=tc + dtc, train_loss=loss, **extra)

