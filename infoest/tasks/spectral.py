"""Ground truth for the spectral (matrix-based) measures.

Matrix, matrix-Rényi and diffusion spectral entropies are functionals of a covariance or
kernel spectrum, not differential entropies, so they get their own tasks; each task's
``measure`` names the functional its value refers to, and ``infoest bench`` runs a method only
on tasks of its quantity *and* measure (`infoest._registry.Method.measure`). Values are
in nats and exact in the limits stated (reference ``spectral.md`` §7):

- ``"von-neumann"`` (``entropy`` method ``"matrix"``): isotropic data on a k-dim subspace of
  R^D → S = log k (the sample covariance adds a bias ≈ −k / (2n));
- ``"diffusion"`` (DSE, DSMI) and ``"matrix-renyi"`` (Rényi entropy / matrix MI with a
  Gaussian kernel), at bandwidth σ = 1 (`SIGMA`, the methods' ``bench_kwargs``): k tight
  clusters (spread 10⁻⁴ σ) whose centres are 8√2 σ apart (cross-affinity e⁻⁶⁴; centres kept
  small so that float32 distances do not blur the clusters). The diffusion operator then has k
  unit eigenvalues and zeros (up to O(spread²)), so DSE = log k for every t; the normalised
  Gram matrix has the cluster proportions as eigenvalues (balanced labels i mod k: exactly 1/k
  when k divides n), so S_α = log k for every α; with y clustered by the same labels the
  matrix MI is log k + log k − log k = log k, and DSMI (size-matched subsets contain every
  cluster, each class is one point mass) is log k.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from infoest.tasks._task import Task

__all__ = ["SIGMA", "subspace", "separated_clusters", "shared_clusters", "tasks"]

#: The absolute bandwidth the cluster tasks are built for (cluster spread ≪ σ ≪ separation).
SIGMA = 1.0
_SPREAD, _SEPARATION = 1e-4, 8.0


def subspace(k: int = 8, ambient: int = 64) -> Task:
    """N(0, I_k) embedded in R^ambient by a fixed random orthonormal basis; matrix entropy
    (von Neumann entropy of the trace-normalised covariance) log k."""
    if not 1 <= k <= ambient:
        raise ValueError(f"need 1 <= k <= ambient, got k={k}, ambient={ambient}")
    basis, _ = jnp.linalg.qr(jax.random.normal(jax.random.PRNGKey(17), (ambient, k)))

    def sampler(key, n):
        return (jax.random.normal(key, (n, k)) @ basis.T,)

    return Task(f"matrix-subspace-{k}-in-{ambient}", "entropy", math.log(k), sampler,
                {"k": k, "ambient": ambient}, measure="von-neumann")


def _clusters(key, n: int, k: int, dim: int, offset: int = 0):
    """Balanced labels i mod k, points at centre ``separation · e_label`` plus tiny noise."""
    labels = jnp.arange(n) % k
    centres = _SEPARATION * jnp.eye(k, dim, offset)
    return centres[labels] + _SPREAD * jax.random.normal(key, (n, dim)), labels


def separated_clusters(k: int = 4, *, measure: str = "diffusion", dim: int = 8) -> Task:
    """k tight, far-apart, equally sized clusters in R^dim (k ≤ dim); DSE (``measure=
    "diffusion"``) or matrix Rényi entropy (``"matrix-renyi"``) log k at σ = `SIGMA`."""
    if not 2 <= k <= dim:
        raise ValueError(f"need 2 <= k <= dim, got k={k}, dim={dim}")
    prefix = {"diffusion": "dse", "matrix-renyi": "renyi"}[measure]

    def sampler(key, n):
        return (_clusters(key, n, k, dim)[0],)

    return Task(f"{prefix}-clusters-{k}", "entropy", math.log(k), sampler,
                {"k": k, "dim": dim, "sigma": SIGMA}, measure=measure)


def shared_clusters(k: int = 4, *, measure: str = "matrix-renyi", dim: int = 8) -> Task:
    """x in k tight separated clusters and y determined by the same labels: matrix Rényi MI
    (``measure="matrix-renyi"``, y clustered the same way in its own space) or DSMI
    (``"diffusion"``, y the integer labels) log k at σ = `SIGMA`."""
    if not 2 <= k <= dim:
        raise ValueError(f"need 2 <= k <= dim, got k={k}, dim={dim}")
    prefix = {"diffusion": "dsmi", "matrix-renyi": "renyi-mi"}[measure]

    def sampler(key, n):
        kx, ky = jax.random.split(key)
        x, labels = _clusters(kx, n, k, dim)
        if measure == "diffusion":
            return x, labels
        return x, _clusters(ky, n, k, dim, offset=1)[0]

    return Task(f"{prefix}-clusters-{k}", "mutual_information", math.log(k), sampler,
                {"k": k, "dim": dim, "sigma": SIGMA}, measure=measure)


def tasks(quick: bool = False) -> list[Task]:
    """The spectral ground-truth tasks (discovery protocol of `infoest.tasks`)."""
    found = [subspace(8, 64), separated_clusters(4, measure="diffusion"),
             separated_clusters(4, measure="matrix-renyi"),
             shared_clusters(4, measure="matrix-renyi"), shared_clusters(4, measure="diffusion")]
    if not quick:
        found += [subspace(32, 128), separated_clusters(8, measure="diffusion"),
                  separated_clusters(8, measure="matrix-renyi")]
    return found
