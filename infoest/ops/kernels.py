"""Affinities over samples, bandwidth rules and diffusion-operator normalisation.

Samples lie on axis 0 (``x: (n, d)``). Every function is pure and ``jit``/``vmap``/``grad``
ready; bandwidths are traced arrays, so sweeping σ never recompiles.

- Gaussian affinity      G_ij = exp(−‖x_i − x_j‖² / (2σ²))   (squared distances only: no sqrt,
  so gradients stay finite for duplicated rows)
- symmetric normalisation K = W^{−1/2} G W^{−1/2}, W = diag(G 1): similar to the random-walk
  diffusion operator P = W^{−1} G (same real spectrum, λ_max = 1 with eigenvector ∝ √(G 1))
- a matrix-free, row-blocked product ``K @ V`` that never stores the n × n matrix.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import Array

__all__ = [
    "BANDWIDTH_RULES",
    "sq_distances",
    "gaussian_affinity",
    "linear_gram",
    "label_gram",
    "median_bandwidth",
    "bandwidth",
    "symmetric_normalize",
    "diffusion_matvec",
]

BANDWIDTH_RULES = ("median", "sqrt_dim")


def sq_distances(x: Array, y: Array | None = None) -> Array:
    """Squared Euclidean distances ‖x_i − y_j‖², shape ``(n, m)``, clipped at 0."""
    y = x if y is None else y
    xx = jnp.sum(x * x, axis=1)
    yy = jnp.sum(y * y, axis=1)
    d2 = xx[:, None] + yy[None, :] - 2.0 * (x @ y.T)
    return jnp.maximum(d2, 0.0)


def gaussian_affinity(x: Array, sigma, y: Array | None = None) -> Array:
    """Gaussian affinity exp(−‖x_i − y_j‖² / (2σ²)); unit diagonal when ``y`` is None."""
    sigma = jnp.asarray(sigma, dtype=x.dtype)
    g = jnp.exp(-sq_distances(x, y) / (2.0 * sigma**2))
    if y is None:  # exact unit diagonal (rounding in the distance formula otherwise)
        g = jnp.fill_diagonal(g, 1.0, inplace=False)
    return g


def _safe_unit_rows(x: Array) -> Array:
    """Rows scaled to unit L2 norm; zero rows stay zero (gradient finite)."""
    sq = jnp.sum(x * x, axis=1, keepdims=True)
    pos = sq > 0
    return jnp.where(pos, x / jnp.sqrt(jnp.where(pos, sq, 1.0)), 0.0)


def linear_gram(x: Array, *, unit_diagonal: bool = True) -> Array:
    """Linear Gram matrix x xᵀ; with ``unit_diagonal`` the cosine kernel (rows L2-normalised)."""
    if unit_diagonal:
        x = _safe_unit_rows(x)
    return x @ x.T


def label_gram(labels: Array, dtype=jnp.float32) -> Array:
    """Label kernel K_ij = 1[y_i = y_j] of integer labels ``(n,)``."""
    labels = jnp.ravel(labels)
    return (labels[:, None] == labels[None, :]).astype(dtype)


def median_bandwidth(x: Array, *, max_points: int = 1000) -> Array:
    """Median heuristic σ = √(median_{i<j} ‖x_i − x_j‖² / 2).

    Over all pairs when n ≤ ``max_points``; otherwise over the pairs of ``max_points`` evenly
    strided rows (deterministic). With this σ the median pair has affinity e^{−1}, and the
    resulting estimates are invariant to rescaling the data. When the median distance is 0
    (e.g. constant data) σ = 1.
    """
    n = x.shape[0]
    stride = max(1, -(-n // max_points))
    xs = x[::stride]
    m = xs.shape[0]
    iu = jnp.triu_indices(m, k=1)
    med = jnp.median(sq_distances(xs)[iu])
    # All-equal points (median 0): any σ gives the all-ones kernel; use 1 to stay finite.
    return jnp.sqrt(jnp.where(med > 0, med, 2.0) / 2.0)


def bandwidth(x: Array, sigma) -> Array:
    """Resolve a bandwidth: a positive number (absolute, data units) or a rule name.

    Rules: ``"median"`` ([`median_bandwidth`][infoest.ops.kernels.median_bandwidth],
        scale-invariant) and ``"sqrt_dim"``
    (σ = √d, the paper's choice for standardised features).
    """
    if isinstance(sigma, str):
        if sigma == "median":
            return median_bandwidth(x)
        if sigma == "sqrt_dim":
            return jnp.sqrt(jnp.asarray(x.shape[1], dtype=x.dtype))
        valid = ", ".join(repr(r) for r in BANDWIDTH_RULES)
        raise ValueError(f"unknown `sigma`={sigma!r}; give a positive number or one of {valid}")
    return jnp.asarray(sigma, dtype=x.dtype)


def check_sigma(sigma) -> None:
    """Validate a bandwidth argument before any work (concrete numbers must be > 0)."""
    if isinstance(sigma, str):
        if sigma not in BANDWIDTH_RULES:
            valid = ", ".join(repr(r) for r in BANDWIDTH_RULES)
            raise ValueError(f"unknown `sigma`={sigma!r}; give a positive number or one of {valid}")
        return
    if jnp.ndim(sigma) != 0:
        raise ValueError(f"`sigma` must be a scalar, got shape {jnp.shape(sigma)}")
    if not isinstance(sigma, jax.core.Tracer) and not float(sigma) > 0:
        raise ValueError(f"`sigma` must be > 0, got {float(sigma)}")


def symmetric_normalize(g: Array, mask: Array | None = None) -> tuple[Array, Array]:
    """K = W^{−1/2} G W^{−1/2} with W = diag(G 1); returns ``(K, degrees)``.

    With a boolean ``mask`` the rows/columns outside it are removed (set to 0), so K restricted
    to the mask is the operator of the sub-sample; masked rows contribute zero eigenvalues.
    """
    if mask is not None:
        m = mask.astype(g.dtype)
        g = g * m[:, None] * m[None, :]
    deg = jnp.sum(g, axis=1)
    pos = deg > 0
    inv_sqrt = jnp.where(pos, 1.0 / jnp.sqrt(jnp.where(pos, deg, 1.0)), 0.0)
    return g * inv_sqrt[:, None] * inv_sqrt[None, :], deg


def _blocked(x: Array, block_size: int, fn: Callable[[Array, Array], Array]) -> Array:
    """Apply ``fn(row_block, rows_valid)`` over row blocks of ``x`` and stack the results."""
    n = x.shape[0]
    nb = -(-n // block_size)
    pad = nb * block_size - n
    xp = jnp.pad(x, ((0, pad), (0, 0)))
    valid = jnp.arange(nb * block_size) < n
    out = jax.lax.map(
        lambda a: fn(*a),
        (xp.reshape(nb, block_size, -1), valid.reshape(nb, block_size)),
    )
    return out.reshape(nb * block_size, *out.shape[2:])[:n]


def diffusion_matvec(
    x: Array, sigma, *, block_size: int = 512
) -> tuple[Callable[[Array], Array], Array]:
    """Matrix-free product with the symmetric diffusion operator K of a Gaussian affinity.

    Returns ``(matvec, degrees)``: ``matvec(V)`` computes ``K @ V`` for ``V: (n, m)`` by
    recomputing ``block_size`` rows of G at a time, so memory is O(block_size · n + n m),
    never O(n²); cost per product O(n² (d + m)). Multiply many vectors at once to amortise
    the kernel evaluation.
    """
    sigma = jnp.asarray(sigma, dtype=x.dtype)
    sq = jnp.sum(x * x, axis=1)
    scale = 1.0 / (2.0 * sigma**2)

    def rows(xb: Array) -> Array:
        d2 = jnp.sum(xb * xb, axis=1)[:, None] + sq[None, :] - 2.0 * (xb @ x.T)
        return jnp.exp(-jnp.maximum(d2, 0.0) * scale)

    ones = jnp.ones((x.shape[0], 1), x.dtype)
    deg = _blocked(x, block_size, lambda xb, ok: rows(xb) @ ones)[:, 0]
    inv_sqrt = 1.0 / jnp.sqrt(deg)

    def matvec(v: Array) -> Array:
        w = v * inv_sqrt[:, None]
        out = _blocked(x, block_size, lambda xb, ok: rows(xb) @ w)
        return out * inv_sqrt[:, None]

    return matvec, deg
