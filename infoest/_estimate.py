"""The one result type returned by every estimator."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax.numpy as jnp
from jax import Array


class Estimate(eqx.Module):
    """An information estimate, in nats unless ``units`` says otherwise.

    ``Estimate`` is an equinox Module, hence a PyTree: it passes through ``jax.jit``
    and ``jax.vmap`` like an array, and under ``vmap`` every field gains the batch axis.

    Attributes:
        value: the estimate (a JAX scalar, or a batch of them under ``vmap``).
        stderr: standard error of ``value`` where the estimator provides one, NaN otherwise.
        diagnostics: per-family extras (training curve, p-value, spectrum size, ...), a dict
            of arrays.
        method: name of the estimator that produced it (static metadata).
        units: ``"nats"`` (default) or ``"bits"``.
    """

    value: Array
    stderr: Array
    diagnostics: dict[str, Any] = eqx.field(default_factory=dict)
    method: str = eqx.field(static=True, default="")
    units: str = eqx.field(static=True, default="nats")

    def __float__(self) -> float:
        return float(self.value)

    def to_bits(self) -> Estimate:
        """The same estimate expressed in bits (value and stderr divided by ln 2)."""
        if self.units == "bits":
            return self
        scale = jnp.log(2.0).astype(jnp.result_type(self.value))
        return Estimate(
            self.value / scale, self.stderr / scale, self.diagnostics, self.method, "bits"
        )


def make_estimate(
    value: Array,
    stderr: Array | None = None,
    *,
    method: str = "",
    units: str = "nats",
    **diagnostics: Any,
) -> Estimate:
    """Build an :class:`Estimate`, filling a missing ``stderr`` with NaN of ``value``'s dtype."""
    value = jnp.asarray(value)
    if stderr is None:
        stderr = jnp.full_like(value, jnp.nan)
    return Estimate(value, jnp.asarray(stderr, dtype=value.dtype), diagnostics, method, units)
