"""Small, numerically careful special functions used across families."""

from __future__ import annotations

import math

import jax.numpy as jnp
from jax import Array
from jax.scipy.special import logsumexp


def logmeanexp(a: Array, axis=None) -> Array:
    """log(mean(exp(a))) computed stably through logsumexp."""
    a = jnp.asarray(a)
    size = a.size if axis is None else math.prod(a.shape[i] for i in _axes(axis))
    return logsumexp(a, axis=axis) - math.log(size)


def _axes(axis) -> tuple[int, ...]:
    return (axis,) if isinstance(axis, int) else tuple(axis)


def log_unit_ball_volume(d: int, norm: str = "max") -> float:
    """log V_d, the volume of the unit ball in R^d: 2^d for the max-norm,
    π^{d/2} / Γ(d/2 + 1) for the Euclidean norm."""
    if norm == "max":
        return d * math.log(2.0)
    if norm == "euclidean":
        return 0.5 * d * math.log(math.pi) - math.lgamma(0.5 * d + 1.0)
    raise ValueError(f"unknown `norm`={norm!r}; valid values: 'max', 'euclidean'")


def gaussian_entropy_constant(d: int) -> float:
    """(d/2) log(2πe): entropy of a d-dimensional Gaussian with unit covariance determinant."""
    return 0.5 * d * math.log(2.0 * math.pi * math.e)
