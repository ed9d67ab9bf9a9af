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

__all__ = ["MINDE_TERMS", "minde_integrand", "kl_integrand", "soi_integrand", "monte_carlo"]

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
                weights: Array | None = None):
    """Importance-sampled ∫ estimates of ``integrand`` over the samples ``x0: (n, D)``.

    Each of ``mc_iter`` passes draws a fresh (t, ε) per sample, t ~ q(t) stratified over the
    samples ([`sde.sample_time`][infoest.score.sde.sample_time]); contributions are weighted by
    [`sde.is_weight`][infoest.score.sde.is_weight].
    Returns (mean, stderr) of the per-sample averages, each with the trailing shape of the
    integrand. With ``weights: (n,)`` the mean is the weighted one, Σ w_i g_i / Σ w_i (a
    Bayesian-bootstrap replicate), and the stderr that of this ratio to first order.
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

    per_sample = jax.lax.map(one_pass, jax.random.split(key, mc_iter)).mean(0)
    w = jnp.ones((n,), dtype) if weights is None else weights.astype(dtype) / weights.mean()
    w = w.reshape((n,) + (1,) * (per_sample.ndim - 1))
    mean = (w * per_sample).mean(0)
    stderr = (w * (per_sample - mean)).std(0, ddof=1) / jnp.sqrt(jnp.asarray(n, dtype))
    return mean, stderr
