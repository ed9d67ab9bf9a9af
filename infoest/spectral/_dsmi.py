"""Diffusion spectral mutual information (DSMI).

Liao, Liu et al., arXiv:2312.04823, eq. for I_D and the reference ``dse_dsmi.dsmi``:

    I_D(Z; Y) = Σ_c (n_c / n) [ mean_r DSE(Z*_{c,r}) − DSE(Z | Y = c) ]

where Z | Y = c are the rows of class c and Z*_{c,r} (r = 1..R) random subsets of all rows of
the same size n_c. The size-matched marginal removes DSE's log n size dependence; DSMI can be
slightly negative and DSMI(Z; Z) ≠ DSE(Z).

Labels: integer ``y`` are classes as given; a continuous scalar ``y`` is min-max scaled and
cut into ``n_clusters`` equal-width bins; a continuous vector ``y`` is spectrally clustered
(k-nearest-neighbour connectivity, normalised-Laplacian embedding, deterministic
``cluster_qr`` assignment of Damle et al. 2019, as in the reference's scikit-learn call),
implemented in JAX so that DSMI stays jittable and vmappable.

Subsets are expressed as masks of one n × n affinity (the operator of a sub-sample is the
masked operator plus zero eigenvalues), so every shape is static.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from infoest import _checks
from infoest._estimate import Estimate
from infoest._registry import register
from infoest.ops.kernels import (
    bandwidth,
    check_sigma,
    gaussian_affinity,
    sq_distances,
    symmetric_normalize,
)
from infoest.spectral._checks import check_positive, check_units
from infoest.spectral._dse import _spectrum, dse_from_spectrum
from infoest.spectral._stderr import influence_variance
from infoest.spectral._units import estimate

__all__ = ["bin_labels", "spectral_clusters", "dsmi"]


def bin_labels(y: Array, n_bins: int) -> Array:
    """Equal-width bins of min-max scaled scalar ``y: (n,)`` → integer codes in [0, n_bins)."""
    lo, hi = jnp.min(y), jnp.max(y)
    scaled = (y - lo) / jnp.where(hi > lo, hi - lo, 1.0)
    return jnp.clip(jnp.floor(scaled * n_bins), 0, n_bins - 1).astype(jnp.int32)


@partial(jax.jit, static_argnames=("n_clusters", "n_neighbors"))
def spectral_clusters(y: Array, n_clusters: int, *, n_neighbors: int = 10) -> Array:
    """Spectral clustering of ``y: (n, d)`` into ``n_clusters`` integer codes.

    Affinity A = (C + Cᵀ)/2 with C the k-nearest-neighbour connectivity (self included);
    embedding: the top eigenvectors of D^{−1/2} A D^{−1/2} scaled by D^{−1/2}; assignment by
    ``cluster_qr`` (column-pivoted QR, no random restarts).
    """
    n = y.shape[0]
    k = min(n_neighbors, n)
    _, idx = jax.lax.top_k(-sq_distances(y), k)
    conn = jnp.zeros((n, n), y.dtype).at[jnp.arange(n)[:, None], idx].set(1.0)
    a = 0.5 * (conn + conn.T)
    k_sym, deg = symmetric_normalize(a)
    _, vecs = jnp.linalg.eigh(k_sym)
    maps = vecs[:, -n_clusters:] / jnp.sqrt(deg)[:, None]
    _, _, piv = jax.scipy.linalg.qr(maps.T, pivoting=True, mode="economic")
    ut, _, vt = jnp.linalg.svd(maps[piv[:n_clusters]].T)
    return jnp.argmax(jnp.abs(maps @ (ut @ vt)), axis=1).astype(jnp.int32)


def _dsmi_terms(w, g, codes, ranks, t, n_classes):
    """Per-class terms (W_c / W)[mean_r DSE(subset_r) − DSE(class c)] of the weighted sample
    and the Monte Carlo variance of each mean over the R size-matched subsets."""

    def entropy_of(weights):
        return dse_from_spectrum(_spectrum(g, weights), t)

    def per_class(args):
        c, class_ranks = args
        mask = (codes == c).astype(w.dtype)
        n_c = jnp.sum(codes == c)  # an int, like the ranks it is compared with
        cond = entropy_of(w * mask)
        marg = jax.lax.map(lambda r: entropy_of(w * (r < n_c).astype(w.dtype)), class_ranks)
        share = jnp.sum(w * mask) / jnp.sum(w)
        return share * (jnp.mean(marg) - cond), share**2 * jnp.var(marg) / marg.shape[0]

    return jax.lax.map(per_class, (jnp.arange(n_classes, dtype=codes.dtype), ranks))


@partial(jax.jit, static_argnames=("rule", "n_classes", "num_repetitions"))
def _dsmi(z, codes, sigma, t, key, rule, n_classes, num_repetitions):
    n = z.shape[0]
    sigma = bandwidth(z, rule) if rule else sigma
    g = gaussian_affinity(z, sigma)
    keys = jax.random.split(key, n_classes * num_repetitions)
    ranks = jax.vmap(lambda kk: jnp.argsort(jax.random.permutation(kk, n)))(keys)
    ranks = ranks.reshape(n_classes, num_repetitions, n)
    w = jnp.full((n,), 1.0 / n, z.dtype)
    terms, mc_var = _dsmi_terms(w, g, codes, ranks, t, n_classes)
    sampling = influence_variance(
        lambda w, d: jnp.sum(_dsmi_terms(w, d[0], codes, ranks, d[1], n_classes)[0]), (g, t))
    return jnp.sum(terms), jnp.sqrt(sampling + jnp.sum(mc_var)), sigma


def _labels(y, n_clusters, n_classes, n):
    """Integer codes in [0, C) and the static number of classes C."""
    if isinstance(y, list | tuple):
        y = np.asarray(y)
    dtype = np.dtype(y.dtype)
    if dtype == np.bool_ or np.issubdtype(dtype, np.integer):
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1:
            raise ValueError(f"integer labels `y` must have shape (n,), got {tuple(y.shape)}")
        if y.shape[0] != n:
            raise ValueError(
                f"mismatched sample counts on axis 0: `z` has {n}, `y` has {y.shape[0]}"
            )
        if _checks.is_concrete(y):
            values, codes = np.unique(np.asarray(y), return_inverse=True)
            if n_classes is not None and n_classes < values.size:
                raise ValueError(f"`n_classes`={n_classes} < number of labels {values.size}")
            return jnp.asarray(codes.ravel(), jnp.int32), n_classes or int(values.size)
        if n_classes is None:
            raise ValueError(
                "traced integer labels `y` need `n_classes` (labels in [0, n_classes))"
            )
        return y.astype(jnp.int32), n_classes
    y = _checks.as_samples(y, "y")
    if y.shape[0] != n:
        raise ValueError(f"mismatched sample counts on axis 0: `z` has {n}, `y` has {y.shape[0]}")
    if y.shape[1] == 1:
        return bin_labels(y[:, 0], n_clusters), n_clusters
    return spectral_clusters(jax.lax.stop_gradient(y), n_clusters), n_clusters


@register(
    "mutual_information",
    "dsmi",
    stochastic=True,
    min_samples=32,
    test_kwargs={"n_clusters": 3, "num_repetitions": 2},
    measure="diffusion",
    bench_kwargs={"n_clusters": 3, "num_repetitions": 2, "sigma": 1.0},  # infoest.tasks.spectral
)
def dsmi(
    z,
    y,
    *,
    key: Array,
    sigma="median",
    t=1.0,
    n_clusters: int = 10,
    n_classes: int | None = None,
    num_repetitions: int = 5,
    units: str = "nats",
) -> Estimate:
    """Diffusion spectral mutual information between ``z: (n, d)`` and labels ``y``.

    Args:
        z: representation, shape (n, d).
        y: integer class labels ``(n,)``; or continuous ``(n,)``/``(n, 1)`` (binned) or
            ``(n, d_y)`` (spectrally clustered), see module docstring.
        key: PRNG key for the random size-matched subsets.
        sigma: bandwidth (number, traced; or ``"median"`` / ``"sqrt_dim"``), computed once on
            all of ``z`` and shared by every subset. The reference default is 10.
        t: diffusion time (traced).
        n_clusters: number of bins / clusters for continuous ``y`` (static).
        n_classes: number of classes for integer labels under ``jit``/``vmap`` (labels must then
            lie in [0, n_classes)); inferred from concrete labels otherwise.
        num_repetitions: random subsets per class for the marginal term (reference: 5).
        units: ``"nats"`` or ``"bits"`` (the paper's unit).

    Cost: n_classes · (1 + num_repetitions) dense n × n eigenvalue problems (with vectors,
    for the standard error).

    Standard error: the influence-function variance of the whole weighted DSMI (every class
    and subset operator with sample weights; σ fixed; `infoest.spectral._stderr`) plus the
    Monte Carlo variance of the size-matched subset means, Σ_c (n_c/n)² Var_r / R.
    """
    z = _checks.as_samples(z, "z")
    n_clusters = _checks.check_positive_int(n_clusters, "n_clusters")
    num_repetitions = _checks.check_positive_int(num_repetitions, "num_repetitions")
    if n_classes is not None:
        n_classes = _checks.check_positive_int(n_classes, "n_classes")
    check_sigma(sigma)
    check_positive(t, "t")
    check_units(units)
    if key is None:
        raise ValueError("`key` is required (random size-matched subsets)")
    codes, n_classes = _labels(y, n_clusters, n_classes, z.shape[0])
    rule = sigma if isinstance(sigma, str) else None
    value, stderr, used = _dsmi(z, codes, 0.0 if rule else sigma, t, key, rule, n_classes,
                                num_repetitions)
    return estimate(value, stderr, method="dsmi", units=units, sigma=used)
