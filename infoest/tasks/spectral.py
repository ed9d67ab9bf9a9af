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
import numpy as np
from scipy import integrate

from infoest.tasks._task import Task

__all__ = [
    "SIGMA",
    "subspace",
    "anisotropic",
    "separated_clusters",
    "shared_clusters",
    "gaussian_dse",
    "gaussian_renyi",
    "gaussian_renyi_mi",
    "tasks",
]

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


def _unit_row_spectrum(variances: np.ndarray) -> np.ndarray:
    """Eigenvalues of E[u uᵀ], u = z / ‖z‖, z ~ N(0, diag(variances)) (float64).

    With 1/‖z‖² = ∫₀^∞ exp(−s ‖z‖²) ds, E[z_i² / ‖z‖²] = v_i ∫₀^∞ (1 + 2 v_i s)⁻¹
    Π_j (1 + 2 v_j s)^{−1/2} ds; the off-diagonal terms vanish by symmetry.
    """
    v = np.asarray(variances, np.float64)

    def entry(i):
        def f(s):
            return v[i] / (1 + 2 * v[i] * s) * np.prod((1 + 2 * v * s) ** -0.5)

        return integrate.quad(f, 0, np.inf, epsabs=1e-13, epsrel=1e-12, limit=200)[0]

    return np.array([entry(i) for i in range(v.size)])


def anisotropic(variances=(8.0, 4.0, 2.0, 1.0, 0.5, 0.25), ambient: int = 16) -> Task:
    """N(0, diag(variances)) rotated into R^ambient by a fixed orthonormal basis; matrix
    entropy (centred, unit rows: the defaults of ``method="matrix"``) = −Σ λ log λ of the
    spectrum of E[u uᵀ] (`_unit_row_spectrum`, a 1-D integral, float64).

    Unlike `subspace` (the isotropic maximum, where the estimator's fluctuation is second
    order and its bias −k/(2n) dominates), an uneven spectrum has a first-order sampling
    error larger than the bias: the coverage task of the matrix entropy's stderr.
    """
    v = np.asarray(variances, np.float64)
    k = v.size
    if not 1 <= k <= ambient:
        raise ValueError(f"need 1 <= len(variances) <= ambient, got {k}, {ambient}")
    lam = _unit_row_spectrum(v)
    truth = float(-np.sum(lam * np.log(lam)))
    basis, _ = jnp.linalg.qr(jax.random.normal(jax.random.PRNGKey(23), (ambient, k)))
    scale = jnp.asarray(np.sqrt(v), jnp.float32)

    def sampler(key, n):
        return ((jax.random.normal(key, (n, k)) * scale) @ basis.T,)

    name = "matrix-anisotropic-" + "-".join(f"{x:g}" for x in v)
    return Task(name, "entropy", truth, sampler,
                {"variances": tuple(float(x) for x in v), "ambient": ambient},
                measure="von-neumann")


def _geometric_entropy(q: float, alpha: float = 1.0) -> float:
    """Entropy (nats) of p_j ∝ q^j, j = 0, 1, …: Shannon, or Rényi of order α."""
    if alpha == 1.0:
        return -math.log(1 - q) - q * math.log(q) / (1 - q)
    return (alpha * math.log(1 - q) - math.log(1 - q**alpha)) / (1 - alpha)


def _mehler_ratio(a: float, c: float) -> float:
    """Eigenvalue ratio of the Gaussian integral kernel exp(−a(x² + y²) + 2cxy) on L²(R)."""
    return c / (a + math.sqrt(a * a - c * c))


def gaussian_dse(dim: int = 3, sigma: float = 1.5, t: float = 1.0) -> float:
    """Population DSE (nats) of N(0, I_dim) at bandwidth σ: the n → ∞ limit.

    The symmetric diffusion operator of a Gaussian kernel on a Gaussian measure is again a
    Gaussian integral kernel; per dimension its eigenvalues are r^j (j ≥ 0, Mehler's
    formula) with a = 1/(2σ²) + 1/4 − 1/(4(σ² + 1)), c = 1/(2σ²), r = c / (a + √(a² − c²)),
    so DSE_t = dim · H(geometric(r^t)). Finite-n DSE approaches it from below, slowly
    (−0.14 nats at n = 500, dim = 3, σ = 1.5; docs/spectral.md).
    """
    a = 1 / (2 * sigma**2) + 0.25 - 1 / (4 * (sigma**2 + 1))
    r = _mehler_ratio(a, 1 / (2 * sigma**2))
    return dim * _geometric_entropy(r**t)


def _renyi_ratio(variance: float, sigma: float) -> float:
    """Eigenvalue ratio of the Gaussian kernel on N(0, variance) (Rasmussen & Williams,
    "Gaussian Processes for Machine Learning", 2006, §4.3.1)."""
    a, b = 1 / (4 * variance), 1 / (2 * sigma**2)
    return b / (a + b + math.sqrt(a * a + 2 * a * b))


def gaussian_renyi(dim: int = 2, sigma: float = 1.0, alpha: float = 1.01) -> float:
    """Population matrix Rényi-α entropy (nats) of N(0, I_dim), Gaussian kernel of width σ:
    dim · H_α(geometric(B)), B the Rasmussen–Williams eigenvalue ratio."""
    return dim * _geometric_entropy(_renyi_ratio(1.0, sigma), alpha)


def gaussian_renyi_mi(rho: float = 0.8, sigma: float = 1.0, alpha: float = 1.01) -> float:
    """Population matrix Rényi-α MI (nats) of a standard bivariate normal pair with
    correlation ρ: S(A) + S(B) − S(A ∘ B), where A ∘ B is the Gaussian kernel of the pair,
    whose principal axes have variances 1 ± ρ."""
    def s(var):
        return _geometric_entropy(_renyi_ratio(var, sigma), alpha)

    return 2 * s(1.0) - s(1 + rho) - s(1 - rho)


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
    found = [subspace(8, 64), anisotropic(), separated_clusters(4, measure="diffusion"),
             separated_clusters(4, measure="matrix-renyi"),
             shared_clusters(4, measure="matrix-renyi"), shared_clusters(4, measure="diffusion")]
    if not quick:
        found += [subspace(32, 128), anisotropic((4.0, 3.0, 2.0, 1.0), 8),
                  separated_clusters(8, measure="diffusion"),
                  separated_clusters(8, measure="matrix-renyi")]
    return found
