"""Per-column standardisation with one rule for constant columns, safe at extreme scales."""

from __future__ import annotations

import jax.numpy as jnp
from jax import Array


def column_scale(a: Array) -> Array:
    """Standard deviation of each column of ``a: (n, d)``, computed without overflow.

    Columns are first divided by their largest absolute deviation from the mean, so data
    at 1e±30 in float32 give the same result as unit-scale data. A constant column has
    scale 0.
    """
    centred = a - jnp.mean(a, axis=0)
    peak = jnp.max(jnp.abs(centred), axis=0)
    safe = jnp.where(peak > 0, peak, 1.0)
    return peak * jnp.std(centred / safe, axis=0)


def standardize(a: Array) -> Array:
    """``(a − mean) / std`` per column; a constant column becomes all zeros.

    The one zero-variance rule of infoest: a constant column carries no information, so it
    is mapped to 0 (never divided by 0, never NaN). Robust to overflow (`column_scale`).
    """
    centred = a - jnp.mean(a, axis=0)
    peak = jnp.max(jnp.abs(centred), axis=0)
    unit = centred / jnp.where(peak > 0, peak, 1.0)
    sd = jnp.std(unit, axis=0)
    return jnp.where(sd > 0, unit / jnp.where(sd > 0, sd, 1.0), 0.0).astype(a.dtype)


def is_constant(a: Array) -> Array:
    """True when every column of ``a: (n, d)`` is constant (the variable carries no
    information; MI, CMI, TE with it are 0)."""
    return jnp.all(jnp.max(a, axis=0) == jnp.min(a, axis=0))
