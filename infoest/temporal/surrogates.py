"""Surrogate (permutation) tests for transfer entropy, all surrogates in one vmapped call.

A surrogate destroys the source → target dependence while keeping the marginal structure: the
rows of the *embedded* source history X⁻ are permuted relative to (Y_t, Y⁻) (Marschinski &
Kantz, "Analysing the information flow between financial time series", Eur. Phys. J. B 30,
2002; IDTxl's ``perm_type`` options):

- ``"shuffle"``: a uniformly random permutation of the rows;
- ``"block"``: blocks of ``block`` consecutive rows (default n // 10, IDTxl's ``block_size``)
  permuted as units, keeping the source's short-range autocorrelation; a remainder of fewer
  than ``block`` rows stays in place;
- ``"shift"``: a circular shift by a uniform offset in [n // 10, n − n // 10] (the whole source
  autocorrelation kept; a shift test in the sense of TRENTOOL).

Statistics from S surrogate values ν_1..ν_S of the estimator and the estimate v:
p = (1 + #{ν_s ≥ v}) / (S + 1), null mean and sd, t-score (v − mean) / sd and the
**effective TE** v − mean(ν) (Marschinski & Kantz 2002). All in nats.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import Array

from infoest import _checks

__all__ = ["SURROGATES", "surrogate_indices", "null_statistics", "with_significance"]

SURROGATES = ("shuffle", "block", "shift")


def surrogate_indices(key: Array, n: int, kind: str = "shuffle", block: int | None = None):
    """Row indices (n,) of one surrogate of an n-row embedding (see the module docstring)."""
    if kind == "shuffle":  # one sort of random 32-bit words (cheaper than random.permutation)
        return jnp.argsort(jax.random.bits(key, (n,), jnp.uint32))
    if kind == "block":
        size = max(1, n // 10) if block is None else block
        n_blocks = n // size
        order = jnp.argsort(jax.random.bits(key, (n_blocks,), jnp.uint32))
        i = jnp.arange(n)
        blk = jnp.minimum(i // size, n_blocks - 1)
        moved = order[blk] * size + i % size
        return jnp.where(i < n_blocks * size, moved, i)
    if kind == "shift":
        margin = max(1, n // 10)
        shift = jax.random.randint(key, (), margin, max(margin + 1, n - margin + 1))
        return (jnp.arange(n) + shift) % n
    raise ValueError(f"unknown `surrogate`={kind!r}; valid values: {SURROGATES}")


def null_statistics(value: Array, null: Array) -> dict[str, Array]:
    """p-value, null mean/sd, t-score and effective TE of ``value`` against ``null: (S,)``."""
    mean = null.mean()
    std = null.std(ddof=1)
    return {
        "p_value": ((1.0 + jnp.sum(null >= value)) / (null.shape[0] + 1.0)).astype(mean.dtype),
        "null_mean": mean,
        "null_std": std,
        "t_score": (value - mean) / std,
        "effective_te": value - mean,
    }


def check_surrogate_args(surrogates, surrogate, key, block=None) -> int:
    """Validate the surrogate options of a TE estimator; returns the surrogate count."""
    surrogates = _checks.check_positive_int(surrogates, "surrogates", minimum=0)
    _checks.check_choice(surrogate, "surrogate", SURROGATES)
    if block is not None:
        _checks.check_positive_int(block, "block")
    if surrogates == 1:
        raise ValueError("`surrogates` must be 0 (no test) or >= 2 (a null distribution)")
    if surrogates and key is None:
        raise ValueError("`surrogates` > 0 needs an explicit PRNG `key=`")
    return surrogates


def with_significance(
    core: Callable[[Array, Array, Array], Array],
    y_now: Array,
    y_past: Array,
    x_past: Array,
    *,
    key: Array,
    surrogates: int,
    kind: str = "shuffle",
    block: int | None = None,
    batch_size: int | None = None,
) -> dict[str, Array]:
    """Evaluate ``core(y_now, y_past, x_past_surrogate)`` on ``surrogates`` surrogates at once.

    The surrogates are evaluated by one ``jax.vmap`` (``jax.lax.map`` in chunks of
    ``batch_size`` when given, bounding memory) inside the caller's compiled program. Returns
    the null values under ``"null"`` and
    [`null_statistics`][infoest.temporal.surrogates.null_statistics] of ``core`` on the real data.
    """
    n = x_past.shape[0]
    keys = jax.random.split(key, surrogates)
    idx = jax.vmap(lambda k: surrogate_indices(k, n, kind, block))(keys)
    one = lambda i: core(y_now, y_past, x_past[i])
    null = jax.vmap(one)(idx) if batch_size is None else jax.lax.map(one, idx,
                                                                     batch_size=batch_size)
    value = core(y_now, y_past, x_past)
    return {"value": value, "null": null, **null_statistics(value, null)}
