"""Data preparation shared by the score-based estimators (MINDE, SΩI).

Columns are standardised by [infoest.ops.standardize][] (the library's one zero-variance
rule), and a constant column is then replaced by independent N(0, 1) noise drawn from the
estimator's key. A variable independent of all others carries no information: I(X; Y) and
Ω(X) are unchanged when one is added (Ω is additive over independent subsystems and Ω of
one variable is 0), and N(0, 1) is the input the score network predicts exactly (its score
is the Gaussian reference). Without this, a constant column diffuses to pure noise of
variance σ(t)², whose score −x_t/σ(t)² the network must learn near t = 0, adding noise to
every term.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array

from infoest.ops.standardize import column_scale, standardize

__all__ = ["prepare"]


def prepare(z: Array, key) -> tuple[Array, Array]:
    """``(z_std, log_scale)``: standardised columns (constant ones replaced by N(0, 1) noise)
    and the log standard deviation of each column (``-inf`` for a constant column)."""
    scale = column_scale(z)
    noise = jax.random.normal(key, z.shape, z.dtype)
    return jnp.where(scale > 0, standardize(z), noise), jnp.log(scale)
