"""Exact duplicate rows of a sample (ties in the joint space).

Used by the kNN estimators, which assume a continuous distribution: an exact copy of a row
has probability 0 there, so copies mean atoms (discrete or mixed data) or repeated rows
(bootstrap resamples, concatenated data), and the neighbour counts read every copy as a
zero-distance neighbour.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import Array

__all__ = ["duplicate_rows"]


def duplicate_rows(*arrays: Array) -> Array:
    """n − (number of distinct rows) of the joint rows of ``arrays`` (each ``(n, d_i)``).

    0 when every row is distinct; n/2 for a sample concatenated with itself; n − 1 when all
    rows are equal. One lexicographic sort of the rows (O(d n log n)), int32, jit/vmap-able.
    Rows are compared exactly (−0.0 equals 0.0).
    """
    joint = jnp.concatenate([a.reshape(a.shape[0], -1) for a in arrays], axis=1)
    n, d = joint.shape
    order = jnp.lexsort(tuple(joint[:, c] for c in reversed(range(d))))
    s = joint[order]
    same = jnp.all(s[1:] == s[:-1], axis=1)
    return jnp.sum(same, dtype=jnp.int32) if n > 1 else jnp.zeros((), jnp.int32)
