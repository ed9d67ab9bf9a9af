"""Score-difference integrands of MINDE and SΩI and their Monte-Carlo estimation.

Every estimator is ∫₀¹ ½ β(t) E‖s_a(x_t) − s_b(x_t)‖² dt for two scores a, b of the diffused
data (Franzese et al., "MINDE", ICLR 2024, §3; Bounoua et al., "SΩI", ICML 2024, §3). With the
noise parameterisation s = −ε̂/σ and t drawn from q(t) ∝ β/σ²
([`sde.sample_time`][infoest.score.sde.sample_time]), the
estimate is the mean over samples of ``is_weight(t) · ½‖ε̂_a − ε̂_b‖²``. The Gaussian
reference N(0, I) has s_ref(x_t) = −x_t, i.e. ε̂_ref = σ(t) x_t.

The integrand functions below act on one sample and a *denoiser* (see
[`infoest.score.masks`][infoest.score.masks]); [`monte_carlo`][infoest.score.integrals.monte_carlo]
draws (t, ε) per sample and averages.
All results are in nats.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from infoest.score import sde
from infoest.score.masks import CONDITION, DIFFUSED, MARGINAL

__all__ = ["MINDE_TERMS", "minde_integrand", "pmi_integrand", "nll_integrand", "kl_integrand",
           "soi_integrand", "monte_carlo", "row_stderr"]

#: names of the per-sample terms returned by `minde_integrand` for each variant
MINDE_TERMS = {
    "c": ("mi", "mi_sigma", "h_x_kl"),
    "j": ("mi", "mi_sigma", "h_xy_kl"),
}


def _sq(v, coords) -> Array:
    return 0.5 * jnp.sum(jnp.where(coords, v, 0.0) ** 2)


def minde_integrand(denoiser, index: np.ndarray, variant: str, *, beta_min=sde.BETA_MIN,
                    beta_max=sde.BETA_MAX):
    """Per-sample integrand of MINDE for (X, Y) = variables (0, 1).

    Returns a function ``(x0, xt, t) -> (3,)`` with, for ``variant="c"``:
    ½‖ε̂_{X|Y} − ε̂_X‖² (MINDE-C), ½[‖ε̂_{X|Y} − ε̂_ref‖² − ‖ε̂_X − ε̂_ref‖²] (MINDE-C(σ)) and
    ½‖ε̂_X − ε̂_ref‖² (the KL of X to N(0, I), for H(X)); for ``variant="j"``:
    ½‖ε̂_{XY} − [ε̂_{X|Y}, ε̂_{Y|X}]‖² (MINDE-J),
    ½[‖ε̂_{X|Y} − ε̂_ref‖² + ‖ε̂_{Y|X} − ε̂_ref‖² − ‖ε̂_{XY} − ε̂_ref‖²] (MINDE-J(σ)) and
    ½‖ε̂_{XY} − ε̂_ref‖² (KL of (X, Y) to N(0, I)). Conditionals use the clean other variable.
    """
    cx, cy = index == 0, index == 1

    def mask(*m):
        return jnp.array(m, dtype=jnp.int32)

    def integrand(x0, xt, t):
        ref = sde.std(t, beta_min, beta_max) * xt
        e_xy = denoiser(x0, xt, t, mask(DIFFUSED, CONDITION))
        if variant == "c":
            e_x = denoiser(x0, xt, t, mask(DIFFUSED, MARGINAL))
            kl_c, kl_m = _sq(e_xy - ref, cx), _sq(e_x - ref, cx)
            return jnp.stack([_sq(e_xy - e_x, cx), kl_c - kl_m, kl_m])
        e_yx = denoiser(x0, xt, t, mask(CONDITION, DIFFUSED))
        e_j = denoiser(x0, xt, t, mask(DIFFUSED, DIFFUSED))
        cond = jnp.where(cx, e_xy, e_yx)
        everything = jnp.ones_like(cx)
        kl_j = _sq(e_j - ref, everything)
        sigma = _sq(e_xy - ref, cx) + _sq(e_yx - ref, cy) - kl_j
        return jnp.stack([_sq(e_j - cond, everything), sigma, kl_j])

    return integrand


def pmi_integrand(denoiser, index: np.ndarray, variant: str, *, beta_min=sde.BETA_MIN,
                  beta_max=sde.BETA_MAX):
    """Per-sample integrand whose mean over (t, ε) is the pointwise MI of the sample.

    The denoising bound −log p(x_0) ≤ ∫ ½β E_ε‖s(x_t) − ∇log q(x_t|x_0)‖² dt + c (Song,
    Durkan, Murray & Ermon, "Maximum Likelihood Training of Score-Based Diffusion Models",
    NeurIPS 2021, Thm 1; c depends only on the diffused coordinates) is tight for every x_0
    when s is the true score. With ∇log q = −ε/σ, the difference of two such bounds on the
    same coordinates is, for ``variant="c"``,
    $$\\mathrm{pmi}(x, y) = \\log p(x|y) - \\log p(x) ≈ \\tfrac12\\|ε̂_X - ε\\|^2 -
    \\tfrac12\\|ε̂_{X|Y} - ε\\|^2$$
    and for ``"j"`` ½‖ε̂_{XY} − ε‖² − ½‖[ε̂_{X|Y}, ε̂_{Y|X}] − ε‖² (pmi = log p(x|y) +
    log p(y|x) − log p(x, y)), ε recovered from (x_0, x_t, t). Its mean over the samples is
    I (as MINDE's), and its spread over the samples is that of the influence function
    pmi − I of the MI, which the row spread of MINDE's own integrand (a squared norm, ≥ 0)
    is not. Returns a function ``(x0, xt, t) -> (1,)``.
    """
    cx = index == 0

    def mask(*m):
        return jnp.array(m, dtype=jnp.int32)

    def integrand(x0, xt, t):
        eps = (xt - sde.mean_coef(t, beta_min, beta_max) * x0) / sde.std(t, beta_min,
                                                                          beta_max)
        e_xy = denoiser(x0, xt, t, mask(DIFFUSED, CONDITION))
        if variant == "c":
            e_x = denoiser(x0, xt, t, mask(DIFFUSED, MARGINAL))
            return (_sq(e_x - eps, cx) - _sq(e_xy - eps, cx))[None]
        e_yx = denoiser(x0, xt, t, mask(CONDITION, DIFFUSED))
        e_j = denoiser(x0, xt, t, mask(DIFFUSED, DIFFUSED))
        everything = jnp.ones_like(cx)
        cond = jnp.where(cx, e_xy, e_yx)
        return (_sq(e_j - eps, everything) - _sq(cond - eps, everything))[None]

    return integrand


def nll_integrand(denoiser, index: np.ndarray, *, beta_min=sde.BETA_MIN,
                  beta_max=sde.BETA_MAX):
    """Per-sample integrand whose mean over (t, ε) is log N(x_0; 0, I) − log p(x_0).

    The difference of the denoising bounds (`pmi_integrand`) of the data's score and of the
    N(0, I) reference (ε̂_ref = σ x_t): ½‖ε̂ − ε‖² − ½‖ε̂_ref − ε‖², every variable
    diffused. Adding −log N(x_0; 0, I) = ½‖x_0‖² + (d/2) log 2π gives the pointwise −log p,
    whose spread over the samples is that of the entropy's influence function. Returns a
    function ``(x0, xt, t) -> (1,)``.
    """
    k = int(np.max(index)) + 1

    def integrand(x0, xt, t):
        s = sde.std(t, beta_min, beta_max)
        eps = (xt - sde.mean_coef(t, beta_min, beta_max) * x0) / s
        e = denoiser(x0, xt, t, jnp.full((k,), DIFFUSED, jnp.int32))
        everything = jnp.ones(x0.shape, bool)
        return (_sq(e - eps, everything) - _sq(s * xt - eps, everything))[None]

    return integrand


def kl_integrand(denoiser, index: np.ndarray, *, beta_min=sde.BETA_MIN, beta_max=sde.BETA_MAX):
    """Per-sample ½‖ε̂_X − ε̂_ref‖² with every variable diffused: the KL of the data to N(0, I).

    Returns a function ``(x0, xt, t) -> (1,)``.
    """
    k = int(np.max(index)) + 1

    def integrand(x0, xt, t):
        ref = sde.std(t, beta_min, beta_max) * xt
        e = denoiser(x0, xt, t, jnp.full((k,), DIFFUSED, jnp.int32))
        return _sq(e - ref, jnp.ones(x0.shape, bool))[None]

    return integrand


def soi_integrand(denoiser, index: np.ndarray, subsets: Array):
    """Per-sample TC and DTC integrands of SΩI for each row of ``subsets``.

    ``subsets: (s, k)`` booleans, the variables present (the others are marginalised). For
    a subset P, with one joint forward draw and conditionals on clean x_0:
    TC_P ↦ ½‖ε̂_P − [ε̂_{X_i}]_{i∈P}‖², DTC_P ↦ ½‖ε̂_P − [ε̂_{X_i|X_{P∖i}}]_{i∈P}‖².
    Returns a function ``(x0, xt, t) -> (s, 2)`` (columns TC, DTC).
    """
    k = subsets.shape[1]
    eye = jnp.eye(k, dtype=bool)
    index = jnp.asarray(index)

    def one_subset(x0, xt, t, present):
        coords = present[index]
        joint = denoiser(x0, xt, t, jnp.where(present, DIFFUSED, MARGINAL).astype(jnp.int32))

        def per_var(onehot):
            marg = jnp.where(onehot, DIFFUSED, MARGINAL).astype(jnp.int32)
            cond = jnp.where(onehot, DIFFUSED, jnp.where(present, CONDITION, MARGINAL))
            return (denoiser(x0, xt, t, marg), denoiser(x0, xt, t, cond.astype(jnp.int32)))

        marg, cond = jax.vmap(per_var)(eye)  # (k, D) each
        own = eye[:, index]  # (k, D): coordinate d belongs to variable i
        prod_m = jnp.sum(jnp.where(own, marg, 0.0), axis=0)
        prod_c = jnp.sum(jnp.where(own, cond, 0.0), axis=0)
        return jnp.stack([_sq(joint - prod_m, coords), _sq(joint - prod_c, coords)])

    def integrand(x0, xt, t):
        return jax.vmap(lambda p: one_subset(x0, xt, t, p))(subsets)

    return integrand


def monte_carlo(integrand, x0: Array, key, *, mc_iter: int = 1, batch_size: int | None = None,
                beta_min=sde.BETA_MIN, beta_max=sde.BETA_MAX, t_eps=sde.T_EPS,
                weights: Array | None = None, rows: bool = False):
    """Importance-sampled ∫ estimates of ``integrand`` over the samples ``x0: (n, D)``.

    Each of ``mc_iter`` passes draws a fresh (t, ε) per sample, t ~ q(t) stratified over the
    samples ([`sde.sample_time`][infoest.score.sde.sample_time]); contributions are weighted by
    [`sde.is_weight`][infoest.score.sde.is_weight].
    Returns (mean, stderr) of the per-sample averages, each with the trailing shape of the
    integrand. With ``weights: (n,)`` the mean is the weighted one, Σ w_i g_i / Σ w_i (a
    Bayesian-bootstrap replicate), and the stderr that of this ratio to first order.
    With ``rows=True`` also the per-sample averages ``(n, ...)`` and the Monte-Carlo
    variance of each, s_i² / mc_iter (s_i² the variance over its passes; 0 for one pass),
    from which [row_stderr][infoest.score.integrals.row_stderr] separates the spread of
    the samples from the noise of the (t, ε) draws.
    """
    n = x0.shape[0]
    dtype = x0.dtype

    def one_pass(k):
        kt, ke = jax.random.split(k)
        t = sde.sample_time(kt, (n,), stratified=True, beta_min=beta_min, beta_max=beta_max,
                            t_eps=t_eps, dtype=dtype)
        eps = jax.random.normal(ke, x0.shape, dtype)
        xt = sde.perturb(x0, t[:, None], eps, beta_min, beta_max)
        if batch_size is None or batch_size >= n:
            vals = jax.vmap(integrand)(x0, xt, t)
        else:
            vals = jax.lax.map(lambda a: integrand(*a), (x0, xt, t), batch_size=batch_size)
        w = sde.is_weight(t, beta_min=beta_min, beta_max=beta_max, t_eps=t_eps)
        return vals * w.reshape((n,) + (1,) * (vals.ndim - 1)).astype(dtype)

    passes = jax.lax.map(one_pass, jax.random.split(key, mc_iter))
    per_sample = passes.mean(0)
    w = jnp.ones((n,), dtype) if weights is None else weights.astype(dtype) / weights.mean()
    w = w.reshape((n,) + (1,) * (per_sample.ndim - 1))
    mean = (w * per_sample).mean(0)
    stderr = (w * (per_sample - mean)).std(0, ddof=1) / jnp.sqrt(jnp.asarray(n, dtype))
    if not rows:
        return mean, stderr
    mc_var = passes.var(0, ddof=1) / mc_iter if mc_iter > 1 else jnp.zeros_like(per_sample)
    return mean, stderr, per_sample, mc_var


def row_stderr(per_sample: Array, mc_var: Array) -> Array:
    """Standard error of the mean of n per-sample values with the Monte-Carlo noise removed.

    Each value ḡ_i is a sample's term g(x_i) plus the noise of its own (t, ε) draws, so
    Var_i(ḡ_i) = Var(g) + E[s_i²/K] (one-way random-effects ANOVA); the between-sample part
    is Var_i(ḡ_i) − mean_i(s_i²/K), floored at 0, and the stderr √(that / n). For a
    per-sample term whose spread is the estimator's influence function (the pointwise MI
    of `pmi_integrand`, the pointwise −log p of `nll_integrand`) this is the sampling
    (delta-method) standard error of the estimate.
    """
    n = per_sample.shape[0]
    between = jnp.var(per_sample, axis=0, ddof=1) - jnp.mean(mc_var, axis=0)
    return jnp.sqrt(jnp.maximum(between, 0.0) / n)
