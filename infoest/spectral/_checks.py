"""Argument checks shared by the spectral family (run before any work)."""

from __future__ import annotations

import jax
import numpy as np

from infoest._checks import check_choice

UNITS = ("nats", "bits")


def check_positive(value, name: str, *, minimum_exclusive: float = 0.0) -> None:
    """A continuous hyperparameter: scalar; when concrete, finite and > ``minimum_exclusive``."""
    if isinstance(value, str):
        raise TypeError(f"`{name}` must be a number, got the string {value!r}")
    if np.ndim(value) != 0:
        raise ValueError(f"`{name}` must be a scalar, got shape {np.shape(value)}")
    if not isinstance(value, jax.core.Tracer):
        v = float(value)
        if not (np.isfinite(v) and v > minimum_exclusive):
            raise ValueError(f"`{name}` must be finite and > {minimum_exclusive}, got {v}")


def check_units(units: str) -> str:
    return check_choice(units, "units", UNITS)
