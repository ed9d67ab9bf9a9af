"""Matrix entropy of a representation: von Neumann entropy of its trace-normalised covariance.

For z: (n, d), optionally centred over rows and with rows scaled to unit L2 norm,
ρ = zᵀz / tr(zᵀz) (d × d, PSD, trace 1) and

    S(ρ) = −Σ_i λ_i log λ_i   (nats; λ = eigenvalues of ρ, 0 log 0 = 0).

- centre + unit rows: matrix entropy of Wei et al. ("Diff-eRank: A Novel Rank-Based Metric for
  Evaluating Large Language Models", NeurIPS 2024), the LLM convention;
- no centring + unit rows: VNE (Kim et al., "VNE: An Effective Method for Improving Deep
  Representation by Manipulating Eigenvalue Distribution", CVPR 2023).

0 ≤ S ≤ log min(n, d) (log(n − 1) after centring). The spectrum comes from the smaller of the
d × d covariance and the n × n Gram matrix (identical non-zero spectra).
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
from jax import Array

from infoest import _checks
from infoest._estimate import Estimate, Status
from infoest._registry import register
from infoest.ops.kernels import unit_rows
from infoest.ops.spectral import eigvalsh_psd, gram_eigvalsh, spectrum_entropy
from infoest.spectral._checks import check_positive, check_units
from infoest.spectral._stderr import covariance_influence, influence_stderr
from infoest.spectral._units import estimate

__all__ = [
    "covariance_spectrum",
    "matrix_entropy",
    "effective_rank",
    "diff_erank",
    "truncated_entropy",
]

NORMALIZATIONS = (None, "log_d", "log_n", "max")
RANK_CONVENTIONS = ("entropy", "rankme", "participation")


def _prepare(z: Array, center: bool, normalize_rows: bool) -> Array:
    """Centre, then unit rows or a global rescaling by max |z| (the measure is scale
    invariant; the rescaling keeps zᵀz finite for data at 1e±30 in float32)."""
    if center:
        z = z - jnp.mean(z, axis=0)
    if normalize_rows:
        return unit_rows(z)
    peak = jax.lax.stop_gradient(jnp.max(jnp.abs(z)))  # scale invariant: exact
    return z / jnp.where(peak > 0, peak, 1.0)


def _weighted_spectrum(u: Array, w: Array) -> Array:
    """Spectrum of Σ_j w_j u_j u_jᵀ (d ≤ n) or of the Gram matrix √w_i u_i·u_j √w_j."""
    n, d = u.shape
    if d <= n:
        return eigvalsh_psd((u * w[:, None]).T @ u)
    v = u * jnp.sqrt(w)[:, None]
    return eigvalsh_psd(v @ v.T)


def covariance_spectrum(z: Array, *, center: bool = True, normalize_rows: bool = True) -> Array:
    """Eigenvalues (ascending, length min(n, d)) of ρ = zᵀz / tr(zᵀz) after preprocessing."""
    lam = gram_eigvalsh(_prepare(z, center, normalize_rows))
    total = jnp.sum(lam)
    return lam / jnp.where(total > 0, total, 1.0)


def _normalizer(kind, n: int, d: int) -> float:
    return {None: 1.0, "log_d": math.log(d), "log_n": math.log(n),
            "max": math.log(min(n, d))}[kind]


@partial(jax.jit, static_argnames=("center", "normalize_rows"))
def _entropy(z, alpha, center, normalize_rows):
    """Value, influence-function stderr (`infoest.spectral._stderr`) and the status.

    The influence is taken over the prepared rows u_j (the centring's own influence, zero
    for symmetric distributions, is left out)."""
    u = _prepare(z, center, normalize_rows)

    def entropy(w, u, alpha):
        return spectrum_entropy(_weighted_spectrum(u, w), alpha)

    if u.shape[1] <= u.shape[0]:  # d × d side: value and stderr from one eigh
        value, stderr = covariance_influence(u, lambda lam: spectrum_entropy(lam, alpha))
    else:
        value = spectrum_entropy(gram_eigvalsh(u), alpha)
        stderr = influence_stderr(lambda w, d: entropy(w, *d), (u, alpha))
    # zero covariance: all rows identical (centred), or all rows 0 (uncentred)
    z0 = jax.lax.stop_gradient(z)
    empty = jnp.all(jnp.max(z0, 0) == jnp.min(z0, 0)) if center else jnp.all(z0 == 0)
    failed = jnp.isnan(value) | jnp.isnan(stderr)
    status = jnp.where(failed, Status.NOT_CONVERGED,
                       jnp.where(empty, Status.DEGENERATE, Status.OK))
    return jnp.where(empty, 0.0, value), jnp.where(empty, 0.0, stderr), status


def _checked(z, name="z"):
    z = _checks.as_samples(z, name)
    if z.shape[1] < 2 and z.shape[0] < 2:  # pragma: no cover - as_samples already needs n >= 2
        raise ValueError(f"`{name}` is too small")
    return z


@register("entropy", "matrix", differentiable=True, min_samples=16, min_n=8,
          measure="von-neumann", center=False)  # centring is the `center` option here
def matrix_entropy(
    z,
    *,
    alpha=1.0,
    center: bool = True,
    normalize_rows: bool = True,
    normalize: str | None = None,
    units: str = "nats",
) -> Estimate:
    """Matrix (von Neumann) entropy of the trace-normalised covariance of ``z: (n, d)``.

    S = −Σ λ_i log λ_i over the eigenvalues of ρ = zᵀz / tr(zᵀz) (after optional centring and
    row L2-normalisation; module docstring). ``alpha`` ≠ 1 gives the matrix Rényi entropy
    log(Σ λ_i^α) / (1 − α) of the same ρ (traced). This is a spectral *dispersion* measure
    (0 ≤ S ≤ log min(n, d)), not a differential entropy.

    Args:
        z: representation, shape (n, d).
        alpha: Rényi order (> 0; 1 = von Neumann), traced.
        center: subtract the row mean (Wei et al.; VNE uses ``False``).
        normalize_rows: scale every row to unit norm.
        normalize: divide by ``"log_d"`` (Wei et al. v1), ``"log_n"``, ``"max"``
            (log min(n, d), Skean et al. ICML 2025) or ``None``.
        units: ``"nats"`` or ``"bits"`` (ignored by a ``normalize`` ratio).

    Returns:
        `Estimate`, ``diagnostics["effective_rank"]`` = exp(S).

    Standard error: the influence-function (infinitesimal-jackknife) standard deviation of S
    at this n (`infoest.spectral._stderr`): one reverse pass through the eigenvalues of the
    weighted covariance Σ_j w_j u_j u_jᵀ at w = 1/n. It covers sampling variance, not the
    bias (≈ −rank/(2n)); at the isotropic maximum (all eigenvalues equal) the first-order
    term vanishes and it is ≈ 0. Measured coverage: docs/spectral.md, "Error bars".

    Degenerate data: all rows identical (zero covariance) have no spectrum; the value is 0
    with `Status.DEGENERATE` (an error unless ``throw=False``). Scale invariant: data at
    1e±30 give the unscaled value (rows are rescaled before squaring).
    """
    z = _checked(z)
    check_positive(alpha, "alpha")
    _checks.check_choice(normalize, "normalize", NORMALIZATIONS)
    check_units(units)
    s, stderr, status = _entropy(z, alpha, bool(center), bool(normalize_rows))
    scale = _normalizer(normalize, *z.shape)
    if normalize is not None:
        units = "nats"
    return estimate(s / scale, stderr / scale, method="matrix", units=units, status=status,
                    effective_rank=jnp.exp(s))


@partial(jax.jit, static_argnames=("convention", "center", "normalize_rows"))
def _erank(z, convention, center, normalize_rows):
    if convention == "rankme":
        zp = _prepare(z, center, normalize_rows)
        sv = jnp.sqrt(gram_eigvalsh(zp))
        p = sv / jnp.sum(sv) + 1e-7
        return jnp.exp(-jnp.sum(p * jnp.log(p)))
    lam = covariance_spectrum(z, center=center, normalize_rows=normalize_rows)
    if convention == "participation":
        return jnp.exp(spectrum_entropy(lam, 2.0))
    return jnp.exp(spectrum_entropy(lam, 1.0))


def effective_rank(
    z,
    *,
    convention: str = "entropy",
    center: bool = True,
    normalize_rows: bool = True,
) -> Array:
    """Effective rank of a representation ``z: (n, d)`` (a number in [1, min(n, d)], no units).

    Conventions (all equal k for k equal non-zero singular values, different otherwise):

    - ``"entropy"``: exp(S) of the covariance spectrum (Diff-eRank, Wei et al. 2024;
      Roy & Vetterli 2007 applied to λ = σ²);
    - ``"rankme"``: exp(−Σ p log p), p = σ_k / Σ σ + 1e-7 over singular values (Garrido et al.,
      "RankMe", ICML 2023);
    - ``"participation"``: tr(C)² / tr(C²) = exp(S₂).
    """
    z = _checked(z)
    _checks.check_choice(convention, "convention", RANK_CONVENTIONS)
    return _erank(z, convention, bool(center), bool(normalize_rows))


def diff_erank(z_reference, z, *, center: bool = True, normalize_rows: bool = True) -> Array:
    """Diff-eRank = eRank(z_reference) − eRank(z) (Wei et al., NeurIPS 2024).

    ``z_reference`` is the representation of the untrained model, ``z`` that of the trained
    one (same inputs); larger values mean more noise removed by training.
    """
    a = effective_rank(z_reference, center=center, normalize_rows=normalize_rows)
    b = effective_rank(z, center=center, normalize_rows=normalize_rows)
    return a - b


@partial(jax.jit, static_argnames=("k", "center", "normalize_rows"))
def _truncated(z, k, center, normalize_rows):
    lam = covariance_spectrum(z, center=center, normalize_rows=normalize_rows)
    top = jnp.sort(lam)[::-1][:k]
    pos = top > 0
    return -jnp.sum(jnp.where(pos, top * jnp.log(jnp.where(pos, top, 1.0)), 0.0))


def truncated_entropy(
    z,
    *,
    k: int,
    center: bool = True,
    normalize_rows: bool = True,
    normalize: str | None = None,
) -> Estimate:
    """Truncated matrix entropy −Σ_{i ≤ k} λ_i log λ_i over the top-k eigenvalues of ρ.

    Not renormalised over the top k (the UNComp convention, Xiong et al., "UNComp:
    Uncertainty-Aware Long-Context Compressor", 2024, which also divides by log d:
    ``normalize="log_d"``). With k ≥ rank it equals `matrix_entropy`.
    """
    z = _checked(z)
    k = _checks.check_positive_int(k, "k")
    if k > min(z.shape):
        raise ValueError(f"`k`={k} exceeds min(n, d) = {min(z.shape)}")
    _checks.check_choice(normalize, "normalize", NORMALIZATIONS)
    s = _truncated(z, k, bool(center), bool(normalize_rows))
    return estimate(s / _normalizer(normalize, *z.shape), method="truncated_matrix")
