"""One conformance suite run over every registered estimator.

A method registered in any family is picked up here automatically: jit == eager, vmap over a
batch equals a Python loop, determinism for a fixed key, float32 and float64, and the table of
bad inputs (each must raise before any work starts).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import inputs_for

import infoest
from infoest._registry import methods

ALL = methods()
IDS = [f"{m.quantity}:{m.name}" for m in ALL]
API = {
    "entropy": infoest.entropy,
    "mutual_information": infoest.mutual_information,
    "conditional_mutual_information": infoest.conditional_mutual_information,
    "o_information": infoest.o_information,
    "transfer_entropy": infoest.transfer_entropy,
}


def _call(m, data, key=None, **extra):
    kwargs = dict(m.test_kwargs)
    kwargs.update(extra)
    if m.stochastic:
        kwargs["key"] = jax.random.PRNGKey(0) if key is None else key
    return API[m.quantity](*data, method=m.name, **kwargs)


def _n(m):
    return max(m.min_samples, 64)


@pytest.mark.parametrize("m", ALL, ids=IDS)
def test_returns_finite_scalar_estimate(m):
    est = _call(m, inputs_for(m.quantity, _n(m)))
    assert isinstance(est, infoest.Estimate)
    assert est.value.shape == ()
    assert est.value.dtype == jnp.float32
    assert np.isfinite(float(est))


@pytest.mark.parametrize("m", ALL, ids=IDS)
def test_jit_equals_eager(m):
    data = inputs_for(m.quantity, _n(m))
    eager = _call(m, data)
    jitted = jax.jit(lambda *a: _call(m, a))(*data)
    np.testing.assert_allclose(float(jitted.value), float(eager.value), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("m", ALL, ids=IDS)
def test_vmap_equals_loop(m):
    batch = [inputs_for(m.quantity, _n(m), seed=s) for s in range(3)]
    stacked = [np.stack(arrs) for arrs in zip(*batch, strict=True)]
    vmapped = jax.vmap(lambda *a: _call(m, a))(*stacked)
    looped = [float(_call(m, data).value) for data in batch]
    assert vmapped.value.shape == (3,)
    np.testing.assert_allclose(np.asarray(vmapped.value), looped, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("m", ALL, ids=IDS)
def test_deterministic_for_fixed_key(m):
    data = inputs_for(m.quantity, _n(m))
    a, b = _call(m, data), _call(m, data)
    assert float(a.value) == float(b.value)


@pytest.mark.parametrize("m", ALL, ids=IDS)
def test_float64(m):
    with jax.enable_x64(True):
        data = inputs_for(m.quantity, _n(m), dtype=np.float64)
        est = _call(m, data)
        assert est.value.dtype == jnp.float64
        assert np.isfinite(float(est))


def _bad_inputs(m):
    """(description, data, exception type) rows of the bad-input table for one method."""
    n = _n(m)
    good = inputs_for(m.quantity, n)
    rows = []
    nan = [a.copy() for a in good]
    nan[0] = nan[0].copy()
    nan[0].reshape(-1)[3] = np.nan
    rows.append(("nan", nan, ValueError))
    inf = [a.copy() for a in good]
    inf[-1].reshape(-1)[5] = np.inf
    rows.append(("inf", inf, ValueError))
    rows.append(("int", [good[0].astype(np.int32), *good[1:]], TypeError))
    rows.append(("bool", [good[0] > 0, *good[1:]], TypeError))
    rows.append(("complex", [good[0].astype(np.complex64), *good[1:]], TypeError))
    rows.append(("rank3", [good[0].reshape(1, *good[0].shape[:1], -1), *good[1:]], ValueError))
    if len(good) > 1:
        rows.append(("mismatched n", [good[0][:-3], *good[1:]], ValueError))
    return rows


@pytest.mark.parametrize("m", ALL, ids=IDS)
def test_bad_input_raises_naming_the_problem(m):
    for desc, data, exc in _bad_inputs(m):
        with pytest.raises(exc):
            _call(m, data)
        del desc


@pytest.mark.parametrize("m", ALL, ids=IDS)
def test_shape_errors_raise_under_jit(m):
    good = inputs_for(m.quantity, _n(m))
    if len(good) < 2:
        bad = [good[0].reshape(1, *good[0].shape[:1], -1)]
    else:
        bad = [good[0][:-3], *good[1:]]
    with pytest.raises(ValueError):
        jax.jit(lambda *a: _call(m, a))(*bad)


@pytest.mark.parametrize("quantity", list(API))
def test_unknown_method_lists_valid_ones(quantity):
    data = inputs_for(quantity, 64)
    with pytest.raises(ValueError, match="valid methods"):
        API[quantity](*data, method="no-such-method")
