"""Wrap a value in nats as an [`Estimate`][infoest.Estimate] in the requested units."""

from __future__ import annotations

from infoest._estimate import Estimate, make_estimate


def estimate(value, stderr=None, *, method: str, units: str = "nats", **diagnostics) -> Estimate:
    est = make_estimate(value, stderr, method=method, **diagnostics)
    return est.to_bits() if units == "bits" else est
