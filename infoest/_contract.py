"""The result contract every registered estimator obeys, applied once by the registry.

`apply_contract` wraps a family's estimator so that every ``method=`` shares one calling
convention and one failure policy (diffrax's ``throw``):

- **Inputs.** Nested Python lists become one array; float16/bfloat16 data are upcast to
  float32; a sequence of arrays (O-information's variables) is kept as a sequence. Each
  floating data array is centred per column: every quantity here is translation invariant,
  and centring first removes the float32 cancellation that large offsets cause in kernel
  and distance computations. Fewer samples than the method's ``min_n`` is a ``ValueError``
  at trace time naming the minimum.
- **Value checks inside compiled code.** Non-finite data set `Status.NONFINITE_INPUT`
  (the estimator then runs on zeros in their place, so a vmapped sweep is not poisoned); a
  non-finite value from finite data sets `Status.NONFINITE_RESULT`; the family may set
  its own status (training diverged, solver did not converge, degenerate data).
- **throw.** ``throw=True`` (default): any status other than ok raises, eagerly as a
  ``ValueError`` (bad input, before any work) or `EstimationError`, and under ``jax.jit``
  as ``equinox.EquinoxRuntimeError``; the first line names the method, the cause and the
  argument. ``throw=False``: the value is NaN where the status is not ok (``-inf`` for a
  documented degenerate limit) and `Estimate.status` says why, element by element.
- **key=** is accepted by every method (deterministic ones ignore it).
- **copula=True** (MI, CMI, TE) maps every column to normal scores of its ranks first
  ([infoest.ops.copula.copula_normalize][]): the quantity is invariant under monotone maps of
  each variable, and the estimators see Gaussian marginals. Methods with their own
  ``copula`` option receive it unchanged.
- **grad.** ``jax.grad`` through a method not registered ``differentiable=True`` raises a
  ``TypeError`` naming the method and the differentiable alternatives.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from infoest._estimate import STATUS_TEXT, Estimate, Status
from infoest.ops.copula import copula_normalize

#: The names of each quantity's positional data arguments, for messages.
DATA_ARGS = {
    "entropy": ("x",),
    "mutual_information": ("x", "y"),
    "conditional_mutual_information": ("x", "y", "z"),
    "o_information": ("variables",),
    "transfer_entropy": ("source", "target"),
}


#: Quantities invariant under a strictly increasing map of each column (``copula=True``).
RANK_INVARIANT = ("mutual_information", "conditional_mutual_information", "transfer_entropy")


class EstimationError(RuntimeError):
    """An estimate failed on concrete data (training diverged, solver failed, ...)."""


# ----------------------------------------------------------------------------- inputs


def _is_array(a) -> bool:
    return isinstance(a, jax.Array | np.ndarray)


def as_array(a, name: str):
    """One argument as an array: nested lists are read as one array, float16 upcast."""
    if not _is_array(a):
        try:
            a = np.asarray(a)
        except Exception as err:
            raise TypeError(f"`{name}` must be an array, got {type(a).__name__}") from err
        if a.dtype == object:
            raise TypeError(f"`{name}` could not be read as one numeric array (ragged or "
                            f"mixed nested sequence)")
    if jnp.issubdtype(a.dtype, jnp.floating) and jnp.finfo(a.dtype).bits < 32:
        return jnp.asarray(a, jnp.float32)
    return jnp.asarray(a)


def as_data(arg, name: str):
    """A data argument: an array, or a list/tuple of arrays (O-information variables)."""
    if isinstance(arg, list | tuple) and arg and all(_is_array(a) for a in arg):
        return tuple(as_array(a, f"{name}[{i}]") for i, a in enumerate(arg))
    return as_array(arg, name)


def _leaves(data, names) -> list[tuple[str, Any]]:
    out = []
    for arg, name in zip(data, names, strict=True):
        if isinstance(arg, tuple):
            out += [(f"{name}[{i}]", a) for i, a in enumerate(arg)]
        else:
            out.append((name, arg))
    return out


def _map_data(fn, data):
    return tuple(tuple(fn(a) for a in arg) if isinstance(arg, tuple) else fn(arg)
                 for arg in data)


def _is_float(a) -> bool:
    return jnp.issubdtype(a.dtype, jnp.floating)


def _prepare(a):
    """Zeros in place of non-finite entries, then per-column centring (floating data)."""
    if not _is_float(a):
        return a
    a = jnp.where(jnp.isfinite(a), a, jnp.zeros((), a.dtype))
    if a.ndim == 0:
        return a
    return a - jnp.mean(a, axis=0, keepdims=True)


def check_min_n(leaves, method: str, min_n: int) -> None:
    """Trace-time ``ValueError`` for a data argument that is not ``(n,)`` or ``(n, d)``, or
    that has fewer than ``min_n`` samples."""
    for name, a in leaves:
        if a.ndim > 2:
            raise ValueError(f"`{name}` must have shape (n_samples,) or (n_samples, "
                             f"n_features), got shape {tuple(a.shape)}; use jax.vmap for "
                             f"batches")
        n = a.shape[0] if a.ndim else 0
        if n < min_n:
            raise ValueError(f"`{name}` has {n} samples; method {method!r} needs at least "
                             f"{min_n}")


# ----------------------------------------------------------------------------- status


class Checks:
    """Value checks collected at trace time and evaluated inside compiled code.

    ``fail_if(pred, status, message)`` records the first failing reason; ``index`` is 0 when
    every check passed, else the position of the first failing reason in ``messages``.
    """

    def __init__(self, method: str):
        self.method = method
        self.messages: list[str] = [f"{method}: ok"]
        self.codes: list[int] = [int(Status.OK)]
        self.index = jnp.int32(0)

    def fail_if(self, pred, status: Status, message: str) -> None:
        self.messages.append(f"{self.method}: {message}")
        self.codes.append(int(status))
        position = len(self.messages) - 1
        self.index = jnp.where((self.index == 0) & pred, position, self.index)

    @property
    def status(self):
        return jnp.asarray(self.codes, jnp.int32)[self.index]


def _concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


def _raise_eagerly(checks: Checks, error: type[Exception]) -> None:
    """On concrete data, raise the first failing reason (any element of a batch) now."""
    if not _concrete(checks.index):
        return
    index = np.asarray(checks.index)
    if np.any(index != 0):
        raise error(checks.messages[int(index[index != 0].flat[0])])


def input_checks(leaves, method: str) -> Checks:
    """Non-finite entries in any floating data argument."""
    checks = Checks(method)
    for name, a in leaves:
        if _is_float(a):
            checks.fail_if(~jnp.all(jnp.isfinite(a)), Status.NONFINITE_INPUT,
                           f"`{name}` contains NaN or inf values ({STATUS_TEXT[1]})")
    return checks


#: Specific messages for a DEGENERATE status, keyed by a count in the diagnostics that says
#: why (checked before the generic "degenerate data").
DEGENERATE_REASONS = {
    "duplicates": "degenerate data: exact duplicate rows (diagnostics['duplicates'] counts "
                  "the surplus copies; throw=False keeps the value): kNN estimators assume "
                  "continuous data and read copies as zero-distance neighbours, inflating the "
                  "estimate. Remove repeated rows (e.g. bootstrap resamples); for data with "
                  "atoms use discrete='mixed' (Gao et al. 2017)",
    "zero_radius": "degenerate data: k or more exact copies of a sample (an atom; "
                   "diagnostics['zero_radius'] counts them): the differential entropy is -inf",
    "ceiling_floor": "degenerate data: the joint Gram matrix is saturated at its log n ceiling "
                     "(diagnostics['ceiling_floor'] = S(A) + S(B) - log n, the least value "
                     "any data give, exceeds half of min(S(A), S(B))), so the matrix MI "
                     "cannot resolve dependence at this n; use more samples, fewer "
                     "dimensions or a larger sigma (throw=False keeps the value)",
}


def result_checks(estimate: Estimate, method: str) -> Checks:
    """The family's own status (with a specific reason from ``DEGENERATE_REASONS`` where
    the diagnostics give one), then a non-finite value with an ok status."""
    checks = Checks(method)
    family = estimate.status
    for name, message in DEGENERATE_REASONS.items():
        count = estimate.diagnostics.get(name) if isinstance(estimate.diagnostics, dict) \
            else None
        if count is not None:
            checks.fail_if(jnp.any((family == Status.DEGENERATE) & (count > 0)),
                           Status.DEGENERATE, message)
    for code in Status:
        if code != Status.OK:
            checks.fail_if(jnp.any(family == code), code, STATUS_TEXT[code])
    checks.fail_if(~jnp.all(jnp.isfinite(estimate.value)), Status.NONFINITE_RESULT,
                   STATUS_TEXT[Status.NONFINITE_RESULT])
    return checks


def finish(estimate: Estimate, inputs: Checks, results: Checks, throw: bool) -> Estimate:
    """Merge input and result checks into ``status``; NaN failing values; raise if ``throw``."""
    bad_input = inputs.index != 0
    status = jnp.where(bad_input, inputs.status, results.status)
    keep = (status == Status.OK) | ((status == Status.DEGENERATE) & ~jnp.isnan(estimate.value))
    value = jnp.where(keep, estimate.value, jnp.nan).astype(estimate.value.dtype)
    stderr = jnp.where(status == Status.OK, estimate.stderr, jnp.nan).astype(value.dtype)
    if throw:
        _raise_eagerly(results, EstimationError)
        messages = inputs.messages + results.messages[1:]
        offset = len(inputs.messages) - 1
        index = jnp.where(bad_input, inputs.index,
                          jnp.where(results.index == 0, 0, results.index + offset))
        value = eqx.branched_error_if(value, index != 0, index, messages)
    return Estimate(value, stderr, status.astype(jnp.int32), estimate.diagnostics,
                    estimate.method, estimate.units)


# ----------------------------------------------------------------------------- grad


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def nondifferentiable(x, message: str):
    """Identity whose derivative raises ``TypeError(message)`` at trace time."""
    return x


@nondifferentiable.defjvp
def _nondifferentiable_jvp(message, primals, tangents):
    raise TypeError(message)


def _grad_message(method: str, quantity: str, alternatives: Sequence[str]) -> str:
    valid = ", ".join(repr(a) for a in alternatives) or "none"
    return (f"method {method!r} ({quantity}) is not differentiable; differentiable methods "
            f"for {quantity}: {valid}")


# ----------------------------------------------------------------------------- wrapper


def apply_contract(fn: Callable, *, quantity: str, name: str, min_n: int,
                   differentiable: bool, alternatives: Callable[[], Sequence[str]],
                   center: bool = True) -> Callable:
    """Wrap a family estimator with the shared calling convention and failure policy."""
    params = inspect.signature(fn).parameters
    takes_key, own_copula = "key" in params, "copula" in params
    names = DATA_ARGS[quantity]
    rank_invariant = quantity in RANK_INVARIANT

    @functools.wraps(fn)
    def estimator(*data, key=None, throw: bool = True, copula: bool = False,
                  **kwargs) -> Estimate:
        if len(data) != len(names):
            raise TypeError(f"{quantity} takes {len(names)} data argument(s) "
                            f"({', '.join(names)}), got {len(data)}")
        data = tuple(as_data(arg, n) for arg, n in zip(data, names, strict=True))
        leaves = _leaves(data, names)
        check_min_n(leaves, name, min_n)
        inputs = input_checks(leaves, name)
        if throw:
            _raise_eagerly(inputs, ValueError)
        data = _map_data(_prepare if center else _zero_nonfinite, data)
        if own_copula:
            kwargs["copula"] = copula
        elif copula:
            if not rank_invariant:
                raise ValueError(f"`copula=True` applies to {', '.join(RANK_INVARIANT)}, "
                                 f"not {quantity} (it is not invariant under monotone maps)")
            data = _map_data(lambda a: copula_normalize(a) if _is_float(a) else a, data)
        if not differentiable:
            message = _grad_message(name, quantity, alternatives())
            data = _map_data(lambda a: nondifferentiable(a, message) if _is_float(a) else a,
                             data)
        if takes_key:
            kwargs["key"] = key
        estimate = fn(*data, **kwargs)
        if not isinstance(estimate, Estimate):
            return estimate
        return finish(estimate, inputs, result_checks(estimate, name), bool(throw))

    estimator.__wrapped_estimator__ = fn
    return estimator


def _zero_nonfinite(a):
    if not _is_float(a):
        return a
    return jnp.where(jnp.isfinite(a), a, jnp.zeros((), a.dtype))
