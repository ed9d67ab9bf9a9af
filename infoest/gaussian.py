"""Gaussian closed forms and their plug-in estimators.

For Z ~ N(μ, Σ) in d dimensions (all values in nats):

- entropy            H(Z)     = ½ log det(2πe Σ)
- mutual information I(X;Y)   = ½ [log det Σ_X + log det Σ_Y − log det Σ_XY]
- conditional MI     I(X;Y|Z) = ½ [log det Σ_XZ + log det Σ_YZ − log det Σ_Z − log det Σ_XYZ]
- total correlation  TC       = Σ_i H(X_i) − H(X)
- dual total corr.   DTC      = H(X) − Σ_i H(X_i | X_−i)
- O-information      Ω        = TC − DTC   (Rosas et al., "Quantifying high-order
  interdependencies via multivariate extensions of the mutual information", PRE 100, 2019)

The ``*_from_cov`` functions are pure functions of a covariance matrix (``jit``/``vmap``/``grad``
ready); the sample estimators plug in the sample covariance, optionally shrunk towards a scaled
identity: Σ̂ = (1 − s) S + s (tr S / d) I with ``shrinkage=s`` in [0, 1] (a traced value).
Log-determinants use ``slogdet``, never ``log(det(·))``.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from infoest import _checks
from infoest._estimate import Estimate, make_estimate
from infoest._registry import register
from infoest.ops.special import gaussian_entropy_constant

__all__ = [
    "logdet",
    "entropy_from_cov",
    "mutual_information_from_cov",
    "conditional_mutual_information_from_cov",
    "total_correlation_from_cov",
    "dual_total_correlation_from_cov",
    "o_information_from_cov",
    "sample_covariance",
    "entropy",
    "mutual_information",
    "conditional_mutual_information",
]


def logdet(cov: Array) -> Array:
    """log det of a symmetric positive-definite matrix (via ``slogdet``)."""
    return jnp.linalg.slogdet(cov)[1]


def _block(cov: Array, idx: np.ndarray) -> Array:
    return cov[np.ix_(idx, idx)]


def entropy_from_cov(cov: Array) -> Array:
    """H = ½ log det(2πe Σ) in nats."""
    d = cov.shape[-1]
    return gaussian_entropy_constant(d) + 0.5 * logdet(cov)


def mutual_information_from_cov(cov: Array, dx: int) -> Array:
    """I(X;Y) for the joint covariance of (X, Y) with X the first ``dx`` coordinates."""
    d = cov.shape[-1]
    ix, iy = np.arange(dx), np.arange(dx, d)
    return 0.5 * (logdet(_block(cov, ix)) + logdet(_block(cov, iy)) - logdet(cov))


def conditional_mutual_information_from_cov(cov: Array, dx: int, dy: int) -> Array:
    """I(X;Y|Z) for the joint covariance of (X, Y, Z), blocks of sizes dx, dy, rest."""
    d = cov.shape[-1]
    ix, iy, iz = np.arange(dx), np.arange(dx, dx + dy), np.arange(dx + dy, d)
    ld_z = logdet(_block(cov, iz)) if iz.size else 0.0
    return 0.5 * (
        logdet(_block(cov, np.concatenate([ix, iz])))
        + logdet(_block(cov, np.concatenate([iy, iz])))
        - ld_z
        - logdet(cov)
    )


def _groups(sizes: Sequence[int] | None, d: int) -> list[np.ndarray]:
    sizes = [1] * d if sizes is None else list(sizes)
    if sum(sizes) != d:
        raise ValueError(f"`sizes` {tuple(sizes)} do not add up to the dimension {d}")
    bounds = np.cumsum([0, *sizes])
    return [np.arange(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def total_correlation_from_cov(cov: Array, sizes: Sequence[int] | None = None) -> Array:
    """TC = Σ_i H(X_i) − H(X); ``sizes`` gives the dimension of each variable (default 1s)."""
    groups = _groups(sizes, cov.shape[-1])
    return 0.5 * (sum(logdet(_block(cov, g)) for g in groups) - logdet(cov))


def dual_total_correlation_from_cov(cov: Array, sizes: Sequence[int] | None = None) -> Array:
    """DTC = H(X) − Σ_i H(X_i | X_−i) = Σ_i H(X_−i) − (m − 1) H(X)."""
    d = cov.shape[-1]
    groups = _groups(sizes, d)
    m = len(groups)
    rest = [np.setdiff1d(np.arange(d), g) for g in groups]
    return 0.5 * (sum(logdet(_block(cov, r)) for r in rest) - (m - 1) * logdet(cov))


def o_information_from_cov(cov: Array, sizes: Sequence[int] | None = None) -> Array:
    """Ω = TC − DTC (positive: redundancy-dominated; negative: synergy-dominated)."""
    return total_correlation_from_cov(cov, sizes) - dual_total_correlation_from_cov(cov, sizes)


def sample_covariance(z: Array, shrinkage=0.0) -> Array:
    """Unbiased sample covariance of ``z: (n, d)``, shrunk towards (tr S / d) I by ``shrinkage``."""
    zc = z - z.mean(axis=0)
    s = zc.T @ zc / (z.shape[0] - 1)
    d = s.shape[0]
    target = jnp.trace(s) / d * jnp.eye(d, dtype=s.dtype)
    shrinkage = jnp.asarray(shrinkage, dtype=s.dtype)
    return (1.0 - shrinkage) * s + shrinkage * target


@jax.jit
def _entropy(x, shrinkage):
    return entropy_from_cov(sample_covariance(x, shrinkage))


@register("entropy", "gaussian", differentiable=True)
def entropy(x, *, shrinkage=0.0) -> Estimate:
    """Plug-in Gaussian entropy ½ log det(2πe Σ̂) of ``x: (n, d)``, in nats.

    Exact for Gaussian data up to sampling error; an upper bound on the entropy of any
    distribution with the same covariance.
    """
    x = _checks.as_samples(x, "x")
    return make_estimate(_entropy(x, shrinkage), method="gaussian")


@jax.jit
def _mi(x, y, shrinkage):
    cov = sample_covariance(jnp.concatenate([x, y], axis=1), shrinkage)
    return mutual_information_from_cov(cov, x.shape[1])


@register("mutual_information", "gaussian", differentiable=True)
def mutual_information(x, y, *, shrinkage=0.0) -> Estimate:
    """Plug-in Gaussian MI ½ [log det Σ̂_X + log det Σ̂_Y − log det Σ̂_XY] in nats.

    Equals −½ Σ_k log(1 − ρ_k²) over the sample canonical correlations ρ_k; a lower bound on
    the MI of any distribution with the same covariance.
    """
    x, y = _checks.paired_samples((x, "x"), (y, "y"))
    return make_estimate(_mi(x, y, shrinkage), method="gaussian")


@jax.jit
def _cmi(x, y, z, shrinkage):
    cov = sample_covariance(jnp.concatenate([x, y, z], axis=1), shrinkage)
    return conditional_mutual_information_from_cov(cov, x.shape[1], y.shape[1])


@register("conditional_mutual_information", "gaussian", differentiable=True)
def conditional_mutual_information(x, y, z, *, shrinkage=0.0) -> Estimate:
    """Plug-in Gaussian CMI I(X;Y|Z) from the blocks of the sample covariance, in nats."""
    x, y, z = _checks.paired_samples((x, "x"), (y, "y"), (z, "z"))
    return make_estimate(_cmi(x, y, z, shrinkage), method="gaussian")
