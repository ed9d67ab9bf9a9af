"""Resampling standard errors of an estimate written as a function of sample weights:
the influence function (infinitesimal jackknife) and the delete-a-group jackknife, and the
median-rule bandwidth of a reduced sample (a shared layer: any family may use them).

An estimate θ = S(F̂) of the empirical distribution, written with sample weights w (w = 1/n:
the estimate itself), has the first-order expansion S(F̂) − S(F) ≈ (1/n) Σ_j IF(x_j) with
IF_j = ∂S/∂w_j − Σ_i w_i ∂S/∂w_i, so Var θ ≈ Σ_j IF_j² / (n (n − 1)) (Jaeckel's
infinitesimal jackknife; Efron, "The Jackknife, the Bootstrap and Other Resampling Plans",
SIAM 1982, ch. 6). The delete-a-group jackknife recomputes θ without each of B groups
(Shao & Wu, Ann. Statist. 17, 1989). How the spectral estimators use them, and where each is
calibrated: `infoest.spectral._stderr`, docs/spectral.md "Error bars".
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import Array

__all__ = ["influence_stderr", "influence_variance", "jackknife_stderr", "JACKKNIFE_GROUPS",
           "median_pairs", "rebandwidth"]

#: Groups of the delete-a-group jackknife (`jackknife_stderr`).
JACKKNIFE_GROUPS = 20
MEDIAN_MAX_POINTS = 1000  # `infoest.ops.kernels.median_bandwidth`'s default


def _no_tangent(fn: Callable, data):
    """``fn(data)`` with a zero derivative: an outer ``jax.grad`` of the estimate never
    differentiates the standard-error computation (which differentiates itself inside)."""

    @jax.custom_jvp
    def run(data):
        return fn(data)

    @run.defjvp
    def _jvp(primals, tangents):
        out = fn(*primals)
        return out, jnp.zeros_like(out)

    return run(data)


def influence_variance(weighted: Callable, data) -> Array:
    """Σ_j IF_j² / (n (n − 1)) for ``weighted(w, data)`` of sample weights ``w: (n,)``.

    ``data`` is a PyTree of arrays whose leading axis (of the first leaf) is n; the
    result carries no derivative with respect to it.
    """
    first = jax.tree_util.tree_leaves(data)[0]
    n, dtype = first.shape[0], first.dtype

    def variance(data):
        w = jnp.full((n,), 1.0 / n, dtype)
        g = jax.grad(weighted)(w, data)
        influence = g - jnp.sum(w * g)
        return jnp.sum(influence**2) / (n * (n - 1.0))

    return _no_tangent(variance, jax.lax.stop_gradient(data))


def influence_stderr(weighted: Callable, data) -> Array:
    """The square root of `influence_variance` (nats, like the estimate)."""
    return jnp.sqrt(influence_variance(weighted, data))


def jackknife_stderr(deleted: Callable, data, groups: int = JACKKNIFE_GROUPS) -> Array:
    """Delete-a-group jackknife standard error of an estimate θ (Shao & Wu, "A general theory
    for jackknife variance estimation", Ann. Statist. 17 (1989); Efron 1982, ch. 3).

    The n samples are split into B = ``groups`` interleaved groups (sample j in group
    j mod B); ``deleted(keep, data)`` is the estimate recomputed with the 0/1 sample weights
    ``keep`` (group b removed), and

        stderr² = (B − 1)/B · Σ_b (θ_(b) − θ̄)².

    Unlike the influence function it re-evaluates the whole estimator on each reduced
    sample, so it also carries the part of the variance that is not linear in the weights
    (and a data-driven bandwidth, when ``deleted`` recomputes it). B evaluations run one
    after the other (`jax.lax.map`: memory of one). The result has B − 1 degrees of
    freedom and carries no derivative with respect to ``data``.
    """
    first = jax.tree_util.tree_leaves(data)[0]
    n, dtype = first.shape[0], first.dtype
    b = min(groups, n)
    keep = (jnp.arange(n)[None, :] % b != jnp.arange(b)[:, None]).astype(dtype)

    def stderr(data):
        theta = jax.lax.map(lambda k: deleted(k, data), keep)
        return jnp.sqrt((b - 1.0) / b * jnp.sum((theta - jnp.mean(theta)) ** 2))

    return _no_tangent(stderr, jax.lax.stop_gradient(data))


def median_pairs(g: Array, max_points: int = MEDIAN_MAX_POINTS):
    """The pairs of `infoest.ops.kernels.median_bandwidth` (all pairs of its strided rows)
    as (q, i, j) sorted by q = ‖z_i − z_j‖²/σ² = −2 log G_ij (∞ where G underflows: far
    above the median, so the order is kept)."""
    n = g.shape[0]
    rows = jnp.arange(0, n, max(1, -(-n // max_points)))
    a, b = jnp.triu_indices(rows.shape[0], k=1)
    i, j = rows[a], rows[b]
    q = -2.0 * jnp.log(g[i, j])
    order = jnp.argsort(q)
    return q[order], i[order], j[order]


def _masked_median(pairs, keep: Array) -> Array:
    """Lower median of q over the pairs whose both samples are kept."""
    q, i, j = pairs
    count = jnp.cumsum(((keep[i] > 0) & (keep[j] > 0)).astype(jnp.int32))
    return q[jnp.searchsorted(count, (count[-1] + 1) // 2)]


def rebandwidth(g: Array, pairs, keep: Array) -> Array:
    """G at the median-rule σ of the kept samples: σ_keep² = σ² · r with r the ratio of the
    kept pairs' median q to all pairs' median q, so G_keep = G^(1/r)."""
    full, part = _masked_median(pairs, jnp.ones_like(keep)), _masked_median(pairs, keep)
    ok = (full > 0) & (part > 0) & jnp.isfinite(part)
    r = jnp.where(ok, part / jnp.where(ok, full, 1.0), 1.0)
    return jnp.exp(jnp.log(g) / r)
