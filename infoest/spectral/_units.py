"""Wrap a value in nats as an `Estimate` in the requested units, with the family's status."""

from __future__ import annotations

import jax.numpy as jnp

from infoest._estimate import Estimate, Status, make_estimate


def estimate(value, stderr=None, *, method: str, units: str = "nats", status=None,
             **diagnostics) -> Estimate:
    """An `Estimate` of ``value`` (nats) converted to ``units``.

    Unless ``status`` is given, a NaN value or standard error (from finite data: the
    eigensolver failed, e.g. LAPACK did not converge) is `Status.NOT_CONVERGED`.
    """
    if status is None:
        value = jnp.asarray(value)
        failed = jnp.isnan(value) | (False if stderr is None else jnp.isnan(stderr))
        status = jnp.where(failed, Status.NOT_CONVERGED, Status.OK)
    est = make_estimate(value, stderr, status=status, method=method, **diagnostics)
    return est.to_bits() if units == "bits" else est
