"""The one result type returned by every estimator: a value, its standard error and a status."""

from __future__ import annotations

import enum
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.scipy.special import ndtri


class Status(enum.IntEnum):
    """Why an estimate can or cannot be trusted (`Estimate.status`, int32 per element).

    ``OK`` (0) is the only trustworthy code. Every other code comes with ``value = NaN``
    (or the documented limit, e.g. ``-inf`` for the entropy of a constant) and, unless the
    estimator was called with ``throw=False``, an error naming the cause.
    """

    OK = 0
    NONFINITE_INPUT = 1  #: the data contain NaN or inf
    TOO_FEW_SAMPLES = 2  #: fewer samples than the method needs (raised at trace time)
    DEGENERATE = 3  #: the quantity is not finite for this data (e.g. entropy of a constant)
    DIVERGED = 4  #: training produced a non-finite or exploding loss, bound or gradient
    NOT_CONVERGED = 5  #: an iterative solver did not converge
    NONFINITE_RESULT = 6  #: the computation overflowed or produced NaN from finite data


#: One line per `Status` code, used in error messages and ``repr``.
STATUS_TEXT = {
    Status.OK: "ok",
    Status.NONFINITE_INPUT: "non-finite input (NaN or inf in the data)",
    Status.TOO_FEW_SAMPLES: "too few samples",
    Status.DEGENERATE: "degenerate data",
    Status.DIVERGED: "training diverged",
    Status.NOT_CONVERGED: "solver did not converge",
    Status.NONFINITE_RESULT: "non-finite result from finite data",
}


def status_text(code) -> str:
    """The description of one status code (a Python or NumPy integer)."""
    return STATUS_TEXT.get(Status(int(code)), f"unknown status {int(code)}")


class Estimate(eqx.Module):
    """An information estimate, in nats unless ``units`` says otherwise.

    ``Estimate`` is an equinox Module, hence a PyTree: it passes through ``jax.jit``
    and ``jax.vmap`` like an array, and under ``vmap`` every field gains the batch axis.

    Attributes:
        value: the estimate (a JAX scalar, or a batch of them under ``vmap``).
        stderr: standard error of ``value``: the sampling standard deviation of the
            estimator at this sample size (it does not cover the estimator's bias). How it
            is computed is documented per estimator. NaN only where ``status`` is not ok.
        status: `Status` code (int32, one per element under ``vmap``); 0 is ok.
        diagnostics: per-family extras (training curve, p-value, spectrum size, ...), a dict
            of arrays.
        method: name of the estimator that produced it (static metadata).
        units: ``"nats"`` (default) or ``"bits"``.

    ``print(e)`` shows ``value ± stderr units``; ``format(e, ".3f")`` formats the value;
    [`ci`][infoest._estimate.Estimate.ci] gives a normal-theory confidence interval.
    """

    value: Array
    stderr: Array
    status: Array
    diagnostics: dict[str, Any] = eqx.field(default_factory=dict)
    method: str = eqx.field(static=True, default="")
    units: str = eqx.field(static=True, default="nats")

    def __float__(self) -> float:
        return float(self.value)

    def __format__(self, spec: str) -> str:
        if not spec:
            return str(self)
        return format(float(self.value), spec)

    def __repr__(self) -> str:
        value = np.asarray(self.value)
        name = f", method={self.method!r}" if self.method else ""
        if value.ndim == 0:
            stderr, code = float(np.asarray(self.stderr)), int(np.asarray(self.status))
            state = "" if code == 0 else f", status={Status(code).name}"
            return f"Estimate({float(value):.4g} ± {stderr:.2g} {self.units}{name}{state})"
        codes = np.asarray(self.status)
        finite = value[np.isfinite(value)]
        summary = (f"mean {finite.mean():.4g}, range [{finite.min():.4g}, {finite.max():.4g}]"
                   if finite.size else "no finite values")
        bad = int(np.count_nonzero(codes))
        return (f"Estimate(shape={value.shape}, {summary} {self.units}{name}, "
                f"{bad} not ok)")

    __str__ = __repr__

    @property
    def ok(self) -> Array:
        """Boolean array: True where ``status`` is `Status.OK`."""
        return self.status == Status.OK

    def ci(self, level: float = 0.95) -> tuple[Array, Array]:
        """Normal-theory interval ``value ∓ z_{(1+level)/2} · stderr`` (sampling error only)."""
        z = ndtri(jnp.asarray(0.5 + 0.5 * level, jnp.result_type(self.value)))
        return self.value - z * self.stderr, self.value + z * self.stderr

    def to_bits(self) -> Estimate:
        """The same estimate expressed in bits (value and stderr divided by ln 2)."""
        if self.units == "bits":
            return self
        scale = jnp.log(2.0).astype(jnp.result_type(self.value))
        return Estimate(self.value / scale, self.stderr / scale, self.status, self.diagnostics,
                        self.method, "bits")


def make_estimate(
    value: Array,
    stderr: Array | None = None,
    *,
    status: Array | int | None = None,
    method: str = "",
    units: str = "nats",
    **diagnostics: Any,
) -> Estimate:
    """Build an [`Estimate`][infoest._estimate.Estimate]; a missing ``stderr`` is NaN, a missing
    ``status`` is ok."""
    value = jnp.asarray(value)
    if not jnp.issubdtype(value.dtype, jnp.inexact):
        value = value.astype(jnp.float32)
    if stderr is None:
        stderr = jnp.full_like(value, jnp.nan)
    if status is None:
        status = jnp.zeros(value.shape, jnp.int32)
    status = jnp.broadcast_to(jnp.asarray(status, jnp.int32), value.shape)
    return Estimate(value, jnp.asarray(stderr, dtype=value.dtype), status, diagnostics,
                    method, units)
