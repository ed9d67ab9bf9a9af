"""One conformance suite run over every registered estimator.

A method registered in any family is picked up here automatically, so a new estimator cannot
land without: a finite scalar ``Estimate`` with a finite ``stderr``; jit == eager; vmap ==
loop; determinism for a fixed key; float32 and float64; ``key=`` and ``throw=`` accepted;
the table of bad, degenerate and extreme inputs of ``contract_cases.py`` eagerly and under
``jax.jit`` (error type and a message naming the problem, or the defined answer); per-element
status under ``vmap`` with bad elements in the batch; ``jax.grad`` finite for methods
registered ``differentiable=True`` and a one-line ``TypeError`` naming the method for the
others; no recompilation when a continuous hyperparameter changes. Every test runs under
``jax.numpy_dtype_promotion("strict")``.

Cost: each method is compiled about three times here (eager, ``jit``, one ``jit(vmap)``
over a batch holding two good data sets and every same-shape row of the table); the other
rows reuse those compilations or fail at trace time. Trained (stochastic) methods run the
value rows only under ``vmap`` (one compilation) plus the learning-rate rows.

Known gaps are listed in the ``PENDING`` tables below as ``xfail(strict=True)`` keyed by
``"quantity:method"``: when a family lands the fix, its entry XPASSes, which fails, and the
entry must be deleted. Never skip silently.
"""

from __future__ import annotations

import functools
import inspect
import math
import re

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import inputs_for
from contract_cases import (
    NAN_MESSAGE,
    cases_for,
    expected_value,
    learning_rate_of,
    takes_learning_rate,
    tolerance,
)

import infoest
from infoest._estimate import Status
from infoest._registry import methods

ALL = methods()
API = {
    "entropy": infoest.entropy,
    "mutual_information": infoest.mutual_information,
    "conditional_mutual_information": infoest.conditional_mutual_information,
    "o_information": infoest.o_information,
    "transfer_entropy": infoest.transfer_entropy,
}


def mid(m) -> str:
    return f"{m.quantity}:{m.name}"


# ----------------------------------------------------------------------------- known gaps
# Delete an entry when its family lands the fix (the strict xfail then XPASSes and fails).

#: test -> {"quantity:method": reason}
PENDING: dict[str, dict[str, str]] = {
    "test_finite_stderr": {
    },
    "test_vmap_equals_loop": {
    },
    "test_float64": {
    },
    "test_no_recompile": {
    },
    "test_grad": {
    },
    "test_value_rows_eager": {
    },
    "test_value_rows_under_vmap": {
    },
    "test_error_rows_eager": {
    },
    "test_error_rows_under_jit": {
    },
    "test_learning_rate_rows": {
    },
}


def _mark(test: str, key: str, extra: str = ""):
    reasons = PENDING.get(test, {})
    for k in (f"{key}|{extra}", key):
        if k in reasons:
            return [pytest.mark.xfail(strict=True, reason=reasons[k])]
    return []


def per_method(test: str, selected=None):
    chosen = [m for m in ALL if selected is None or selected(m)]
    return [pytest.param(m, id=mid(m), marks=_mark(test, mid(m))) for m in chosen]


def per_case(test: str, rows, selected=None):
    """(method, case) pairs; PENDING keys: ``"quantity:method|case"`` or ``"quantity:method"``."""
    out = []
    for m in ALL:
        if selected is not None and not selected(m):
            continue
        for case in cases_for(m):
            if rows(m, case):
                out.append(pytest.param(m, case, id=f"{mid(m)}|{case.name}",
                                        marks=_mark(test, mid(m), case.name)))
    return out


@pytest.fixture(autouse=True)
def _strict_promotion():
    """The suite runs with strict dtype promotion: no silent float64/int mixing. (The
    training driver runs optax's own update under standard promotion: Adam's bias correction
    computes ``float ** int32`` inside optax.)"""
    with jax.numpy_dtype_promotion("strict"):
        yield


# ----------------------------------------------------------------------------- calls


def _kwargs(m, key=None, **extra):
    kwargs = dict(m.test_kwargs)
    kwargs.update(extra)
    if m.stochastic or key is not None:
        kwargs["key"] = jax.random.PRNGKey(0) if key is None else key
    return kwargs


def _call(m, data, key=None, **extra):
    return API[m.quantity](*data, method=m.name, **_kwargs(m, key, **extra))


def _n(m):
    return max(m.min_samples, 64)


def _good(m, seed=0):
    return inputs_for(m.quantity, _n(m), seed=seed)


def _per_method_cache(fn):
    """Cache by ``"quantity:method"`` (a ``Method`` holds dicts, so it is not hashable)."""
    store = {}

    @functools.wraps(fn)
    def cached(m):
        if mid(m) not in store:
            store[mid(m)] = fn(m)
        return store[mid(m)]

    return cached


@_per_method_cache
def _jitted(m):
    """One jitted ``throw=True`` callable per method, shared by every test that uses jit."""
    return jax.jit(lambda *a: _call(m, a))


@_per_method_cache
def _eager_estimate(m):
    """The eager estimate on the good data (strict promotion, like every test here)."""
    return _call(m, _good(m))


def _eager(m) -> float:
    return float(_eager_estimate(m).value)


#: Trained methods run this subset of the batchable rows (each row is one more training run).
TRAINED_BATCH = ("nan", "inf in last argument", "constant variable", "+1e4", "x1e30", "x1e-30",
                 "entropy x1e30", "entropy x1e-30")


def in_batch(m, case) -> bool:
    return case.batchable and (not m.stochastic or case.name in TRAINED_BATCH)


@_per_method_cache
def _batch(m):
    """One ``jit(vmap)`` call, ``throw=False``: good seeds 0 and 1, then each batchable row."""
    good = _good(m)
    cases = [c for c in cases_for(m) if in_batch(m, c)]
    members = [good, _good(m, seed=1)] + [c.make(m, [np.array(a) for a in good]) for c in cases]
    with jax.numpy_dtype_promotion("standard"):  # only stacking the inputs
        stacked = [np.stack(arrs) for arrs in zip(*members, strict=True)]
    est = jax.jit(jax.vmap(lambda *a: _call(m, a, throw=False)))(*stacked)
    index = {c.name: 2 + i for i, c in enumerate(cases)}
    return est, index


def _element(est, i):
    return float(est.value[i]), int(est.status[i])


# ----------------------------------------------------------------------------- basics


@pytest.mark.parametrize("m", per_method("test_returns_finite_scalar_estimate"))
def test_returns_finite_scalar_estimate(m):
    est = _eager_estimate(m)
    assert isinstance(est, infoest.Estimate)
    assert est.value.shape == () and est.status.shape == ()
    assert est.value.dtype == jnp.float32
    assert int(est.status) == Status.OK
    assert np.isfinite(float(est))


@pytest.mark.parametrize("m", per_method("test_finite_stderr"))
def test_finite_stderr(m):
    est = _eager_estimate(m)
    stderr = float(est.stderr)
    assert math.isfinite(stderr) and stderr >= 0, f"{mid(m)}: stderr {stderr}"


@pytest.mark.parametrize("m", per_method("test_jit_equals_eager"))
def test_jit_equals_eager(m):
    jitted = _jitted(m)(*_good(m))
    np.testing.assert_allclose(float(jitted.value), _eager(m), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("m", per_method("test_vmap_equals_loop"))
def test_vmap_equals_loop(m):
    est, _ = _batch(m)
    looped = [_eager(m), float(_call(m, _good(m, seed=1)).value)]
    np.testing.assert_allclose(np.asarray(est.value[:2]), looped, rtol=1e-4, atol=1e-4)
    assert np.all(np.asarray(est.status[:2]) == Status.OK)


@pytest.mark.parametrize("m", per_method("test_deterministic_for_fixed_key"))
def test_deterministic_for_fixed_key(m):
    a, b = _call(m, _good(m)), _call(m, _good(m))
    assert float(a.value) == float(b.value)


@pytest.mark.parametrize("m", per_method("test_float64"))
def test_float64(m):
    with jax.enable_x64(True):
        data = inputs_for(m.quantity, _n(m), dtype=np.float64)
        est = _call(m, data)
        assert est.value.dtype == jnp.float64
        assert np.isfinite(float(est))


@pytest.mark.parametrize("m", per_method("test_key_and_throw_accepted"))
def test_key_and_throw_accepted(m):
    est = API[m.quantity](*_good(m), method=m.name, key=jax.random.PRNGKey(3), throw=False,
                          **m.test_kwargs)
    assert int(est.status) == Status.OK and np.isfinite(float(est.value))


@pytest.mark.parametrize("quantity", list(API))
def test_unknown_method_lists_valid_ones(quantity):
    data = inputs_for(quantity, 64)
    with pytest.raises(ValueError, match="valid methods"):
        API[quantity](*data, method="no-such-method")


# ----------------------------------------------------------------------------- bad inputs


def _error_rows(case):
    return case.expect == "error"


def _assert_names_problem(err, case, m, jitted=False):
    """The message names the problem; under ``jax.jit`` a value check is raised by equinox
    from a host callback, so its text carries an XLA ``INTERNAL`` prefix, but it must still
    hold the contract's own line (``method: `arg` contains NaN or inf``)."""
    text = str(err)
    assert re.search(case.match, text, re.I), \
        f"{case.name}: message does not name the problem: {text[:300]}"
    if jitted and case.traced:
        assert re.search(rf"{re.escape(m.name)}: `\w+(\[\d+\])?` {case.match}", text), text[:300]
    else:
        assert "INTERNAL" not in text and "CpuCallback" not in text, text[:300]


@pytest.mark.parametrize(("m", "case"),
                         per_case("test_error_rows_eager", lambda m, c: _error_rows(c)))
def test_error_rows_eager(m, case):
    data = case.make(m, [np.array(a) for a in _good(m)])
    with pytest.raises(case.exc) as info:
        _call(m, data)
    _assert_names_problem(info.value, case, m)
    first = str(info.value).strip().splitlines()[0]
    assert not re.search(r"\b_\w+\(\)", first), f"message names a private function: {first}"


@pytest.mark.parametrize(("m", "case"),
                         per_case("test_error_rows_under_jit",
                                  lambda m, c: _error_rows(c) and c.jittable))
def test_error_rows_under_jit(m, case):
    """Trace-time checks raise their own type; value checks raise from the compiled code."""
    data = case.make(m, [np.array(a) for a in _good(m)])
    # a value check raised by equinox from a host callback: XLA wraps it (type varies)
    expected = (RuntimeError, ValueError) if case.traced else case.exc
    with pytest.raises(expected) as info:
        jax.block_until_ready(_jitted(m)(*data))
    _assert_names_problem(info.value, case, m, jitted=True)


def test_filter_jit_shows_the_message_cleanly():
    """Under ``equinox.filter_jit`` the error is an ``EquinoxRuntimeError`` without XLA's
    ``INTERNAL`` wrapper, naming the method and the argument (the README's promise)."""
    x, y = inputs_for("mutual_information", 64)
    x[3, 0] = np.nan
    with pytest.raises(eqx.EquinoxRuntimeError) as info:
        eqx.filter_jit(lambda a, b: infoest.mutual_information(a, b, method="gaussian"))(x, y)
    text = str(info.value)
    assert "INTERNAL" not in text
    assert re.search(rf"^equinox.EquinoxRuntimeError: gaussian: `x` {NAN_MESSAGE}", text, re.M)


# ----------------------------------------------------------------------------- value rows


def _value_rows(case):
    return case.expect != "error" and learning_rate_of(case) is None


def _check_value(m, case, value, status, reference):
    """The defined answer of one row; a flagged status is accepted only where stated."""
    assert not (status == Status.OK and math.isnan(value)), f"{case.name}: silent NaN"
    want = expected_value(case, m, reference, _good(m))
    if case.expect == "defined":
        assert status != Status.OK or math.isfinite(value), f"{case.name}: {value} with ok"
        return
    if want is not None and not math.isfinite(want):  # entropy of a constant
        assert status == Status.DEGENERATE, f"{case.name}: status {status}, value {value}"
        assert value == want or math.isnan(value)
        return
    if case.expect == "zero" and m.quantity == "entropy" and status == Status.DEGENERATE:
        return  # a spectral entropy of constant data: 0 or flagged degenerate
    assert status == Status.OK, f"{case.name}: status {Status(status).name}"
    tol = tolerance(m, reference, case)
    if case.expect == "zero" and m.stochastic:  # a few-step bound may be as loose as on the
        low = -tol - abs(reference)              # good data, but must not invent information
        assert low <= value <= tol, f"{case.name}: {value} outside [{low:.3g}, {tol:.3g}]"
        return
    assert abs(value - want) <= tol, f"{case.name}: {value} vs {want} (tolerance {tol:.3g})"


def _eager_value_rows(case):
    return _value_rows(case) and not case.name.startswith("n < d")


@pytest.mark.parametrize(("m", "case"),
                         per_case("test_value_rows_eager", lambda m, c: _eager_value_rows(c),
                                  selected=lambda m: not m.stochastic))
def test_value_rows_eager(m, case):
    data = case.make(m, [np.array(a) for a in _good(m)])
    est = _call(m, data, throw=False)
    _check_value(m, case, float(est.value), int(est.status), _eager(m))


@pytest.mark.parametrize(("m", "case"),
                         per_case("test_value_rows_under_vmap", in_batch))
def test_value_rows_under_vmap(m, case):
    """Each batchable row as one element of a ``jit(vmap)`` batch that also holds good data."""
    est, index = _batch(m)
    value, status = _element(est, index[case.name])
    if case.expect == "error":  # a non-finite input: NaN and its status, others unharmed
        assert status == Status.NONFINITE_INPUT and math.isnan(value), (value, status)
        assert np.all(np.asarray(est.status[:2]) == Status.OK)
        return
    _check_value(m, case, value, status, _eager(m))


@pytest.mark.parametrize("m", per_method("test_learning_rate_rows", takes_learning_rate))
def test_learning_rate_rows(m):
    """Absurd learning rates end in a clear error or a flagged status, never ``ok``."""
    good = _good(m)
    for lr in (float("nan"), 1e30):
        try:
            est = _call(m, good, throw=False, learning_rate=lr)
        except (ValueError, TypeError, RuntimeError) as err:  # a clear error is an answer
            assert re.search(r"learning_rate|diverged", str(err)), str(err)[:300]
            continue
        assert int(est.status) != Status.OK, f"learning_rate={lr}: {est}"


# ----------------------------------------------------------------------------- grad


@pytest.mark.parametrize("m", per_method("test_grad"))
def test_grad(m):
    good = [jnp.asarray(a) for a in _good(m)]

    def value(first):
        return _call(m, [first, *good[1:]]).value

    if m.differentiable:
        grad = jax.grad(value)(good[0])
        assert grad.shape == good[0].shape and bool(jnp.all(jnp.isfinite(grad)))
        return
    with pytest.raises(TypeError) as info:
        jax.grad(value)(good[0])
    message = str(info.value).strip()
    assert len(message.splitlines()) == 1 and repr(m.name) in message, message[:300]


# ----------------------------------------------------------------------------- compilation


def _continuous(m) -> tuple[str, ...]:
    names = tuple(m.continuous or ())
    if not names and takes_learning_rate(m):
        names = ("learning_rate",)
    return names


def _new_values(default) -> tuple[float, float]:
    if not default:
        return 0.1, 0.2
    return 1.2 * default, 1.4 * default


def _default(m, name):
    if name in m.test_kwargs:
        return float(m.test_kwargs[name])
    param = inspect.signature(m.raw).parameters.get(name)
    return float(param.default) if param is not None and isinstance(param.default, float) \
        else 1e-3


class CompileCounter:
    """Counts XLA backend compilations while active (``jax.monitoring`` events)."""

    def __init__(self):
        self.count = 0
        self.active = False
        jax.monitoring.register_event_duration_secs_listener(self._listen)

    def _listen(self, event, duration, **kwargs):
        if self.active and event == "/jax/core/compile/backend_compile_duration":
            self.count += 1


COUNTER = CompileCounter()


def _hyper_params():
    out = []
    for m in ALL:
        for name in _continuous(m):
            out.append(pytest.param(m, name, id=f"{mid(m)}|{name}",
                                    marks=_mark("test_no_recompile", mid(m), name)))
    return out


@pytest.mark.parametrize(("m", "name"), _hyper_params())
def test_no_recompile(m, name):
    """Changing a continuous hyperparameter compiles nothing new, eagerly or under jit."""
    good = _good(m)
    a, b = _new_values(_default(m, name))
    key = jax.random.PRNGKey(0)  # accepted by every method (e.g. jitter needs one)
    _call(m, good, key=key, throw=False, **{name: a})
    COUNTER.count, COUNTER.active = 0, True
    try:
        _call(m, good, key=key, throw=False, **{name: b})
    finally:
        COUNTER.active = False
    assert COUNTER.count == 0, f"{name}: {COUNTER.count} compilation(s) for a new value"
    if not m.stochastic:  # a traced value must be accepted (no float() or Python branch on it)
        traced = jax.jit(lambda v: _call(m, good, key=key, throw=False, **{name: v}).value)
        jax.block_until_ready(traced(jnp.float32(b)))
