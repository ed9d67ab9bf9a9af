"""Exact denoisers of a zero-mean Gaussian under the VP SDE (for testing the estimators).

For data N(0, Σ) diffused by the VP SDE, the density of the diffused coordinates S at time t
jointly with the clean conditioning coordinates C is Gaussian with covariance

    K = [[m² Σ_SS + σ² I, m Σ_SC], [m Σ_CS, Σ_CC]],

so the score of x_S given x_C is the S-block of −K⁻¹ v (v = [x_t^S, x_0^C]) and the optimal
noise prediction is ε̂ = −σ · score. Marginalised coordinates are given unit variance and no
correlation (they do not affect the S-block). Plugging this denoiser into the estimator
integrals must reproduce the Gaussian closed forms (reference test of MINDE / SΩI).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from infoest.score import sde
from infoest.score.masks import CONDITION, DIFFUSED

__all__ = ["gaussian_denoiser"]


def gaussian_denoiser(cov, index: np.ndarray, *, beta_min=sde.BETA_MIN, beta_max=sde.BETA_MAX):
    """The exact ``denoiser(x0, xt, t, mask) -> ε̂`` of N(0, ``cov``) (``index``: coord -> var)."""
    cov = jnp.asarray(cov)

    def denoiser(x0, xt, t, mask):
        cm = mask[index]
        diff = cm == DIFFUSED
        kept = diff | (cm == CONDITION)
        m = sde.mean_coef(t, beta_min, beta_max)
        s = sde.std(t, beta_min, beta_max)
        a = jnp.where(diff, m, 1.0).astype(xt.dtype)
        k = a[:, None] * cov.astype(xt.dtype) * a[None, :]
        k = jnp.where(kept[:, None] & kept[None, :], k, 0.0)
        eye = jnp.eye(xt.shape[0], dtype=xt.dtype)
        k = k + eye * jnp.where(diff, s**2, jnp.where(kept, 0.0, 1.0))[:, None]
        v = jnp.where(diff, xt, jnp.where(kept, x0, 0.0))
        eps = s * jnp.linalg.solve(k, v)
        return jnp.where(diff, eps, 0.0)

    return denoiser
