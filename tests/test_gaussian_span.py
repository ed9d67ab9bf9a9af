"""Gaussian MI/CMI/TE with exactly dependent columns (the span rule of `gaussian.plugin`).

A column that the conditioning set (and its own variable's earlier columns) spans carries no
information: it is dropped before the log-dets, so the estimate equals the one without it,
and both agree with the closed form of the reduced covariance.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import infoest
from infoest import gaussian

#: (x, y1, y2) with a strong partial correlation of x and y2 given y1.
COV = np.array([[1.0, 0.3, 0.7], [0.3, 1.0, 0.2], [0.7, 0.2, 1.0]])


def _closed(cov, order, dx, dy):
    idx = np.asarray(order)
    return float(gaussian.conditional_mutual_information_from_cov(
        jnp.asarray(cov[np.ix_(idx, idx)]), dx, dy))


def _draw(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    return rng.multivariate_normal(np.zeros(3), COV, size=n).astype(np.float32)


def test_cmi_given_a_column_of_y_equals_the_reduced_cmi_and_the_closed_form():
    d = _draw()
    x, y = d[:, :1], d[:, 1:]
    full = infoest.conditional_mutual_information(x, y, y[:, :1], method="gaussian")
    reduced = infoest.conditional_mutual_information(x, y[:, 1:], y[:, :1], method="gaussian")
    assert full.ok
    np.testing.assert_allclose(float(full.value), float(reduced.value), rtol=1e-5)
    truth = _closed(COV, (0, 2, 1), 1, 1)  # I(x; y2 | y1) = 0.27 nats
    assert truth > 0.2
    assert abs(float(full.value) - truth) < 4 * float(full.stderr)
    # a spanned column does not count in the chi^2 term of the error bar either
    np.testing.assert_allclose(float(full.stderr), float(reduced.stderr), rtol=1e-4)


def test_spanned_conditioning_and_variable_columns():
    d = _draw(seed=1)
    x, y1, y2 = d[:, :1], d[:, 1:2], d[:, 2:]
    want = float(infoest.conditional_mutual_information(x, y2, y1, method="gaussian").value)
    # a duplicated conditioning column, and a column of y that is a sum of y2 and z
    got = infoest.conditional_mutual_information(
        x, np.concatenate([y2, y2 + 2 * y1], 1), np.concatenate([y1, -y1], 1),
        method="gaussian")
    assert got.ok
    np.testing.assert_allclose(float(got.value), want, rtol=1e-4)
    # y a linear function of z: nothing left to learn
    zero = infoest.conditional_mutual_information(x, y1 - 3 * y2, d[:, 1:], method="gaussian")
    assert zero.ok and abs(float(zero.value)) < 1e-6


def test_mi_drops_collinear_columns_inside_a_variable():
    d = _draw(seed=2)
    x, y = d[:, :1], d[:, 1:]
    want = float(infoest.mutual_information(x, y, method="gaussian").value)
    got = infoest.mutual_information(x, np.concatenate([y, y[:, :1] - y[:, 1:]], 1),
                                     method="gaussian")
    np.testing.assert_allclose(float(got.value), want, rtol=1e-5)
    truth = _closed(COV, (0, 1, 2), 1, 2)
    assert abs(want - truth) < 4 * float(got.stderr)


def test_shared_exact_component_is_infinite_and_flagged():
    d = _draw(seed=3)
    x, y = d[:, :1], d[:, 1:]
    est = infoest.conditional_mutual_information(
        x, np.concatenate([y[:, 1:], x + y[:, :1]], 1), y[:, :1], method="gaussian",
        throw=False)
    assert int(est.status) == int(infoest.Status.DEGENERATE)
    with pytest.raises(infoest.EstimationError, match="degenerate"):
        infoest.conditional_mutual_information(x, x, y, method="gaussian")


def test_transfer_entropy_from_a_copy_of_the_target_is_zero():
    rng = np.random.default_rng(4)
    e = rng.normal(size=1000).astype(np.float32)
    y = np.zeros_like(e)
    for t in range(1, y.size):  # AR(1)
        y[t] = 0.8 * y[t - 1] + e[t]
    est = infoest.transfer_entropy(y, y, method="gaussian", history=2)
    assert est.ok and abs(float(est.value)) < 1e-6


def test_span_rule_under_jit_vmap_and_grad():
    d = jnp.asarray(_draw(n=500, seed=5))
    x, y = d[:, :1], d[:, 1:]
    f = jax.jit(lambda a, b: infoest.conditional_mutual_information(
        a, b, b[:, :1], method="gaussian").value)
    np.testing.assert_allclose(f(x, y), infoest.conditional_mutual_information(
        x, y[:, 1:], y[:, :1], method="gaussian").value, rtol=1e-5)
    batch = jax.vmap(f)(jnp.stack([x, 2 * x]), jnp.stack([y, y]))
    np.testing.assert_allclose(batch[0], batch[1], rtol=1e-5)
    g = jax.grad(f)(x, y)
    assert np.all(np.isfinite(np.asarray(g)))


def test_shrinkage_keeps_every_column():
    d = _draw(n=500, seed=6)
    x, y = d[:, :1], d[:, 1:]
    est = infoest.conditional_mutual_information(x, y, y[:, :1], method="gaussian",
                                                 shrinkage=0.1)
    assert est.ok and np.isfinite(float(est.value))


@pytest.mark.parametrize("x64", [False, True])
def test_spanned_columns_tolerance(x64):
    """An exact copy or sum is spanned; a partial correlation of 0.999 is not."""
    with jax.enable_x64(x64):
        dtype = jnp.float64 if x64 else jnp.float32
        rng = np.random.default_rng(7)
        a = rng.normal(size=(20000, 2))
        cols = np.stack([a[:, 0], a[:, 1], a[:, 0] + a[:, 1],
                         a[:, 0] + 0.045 * rng.normal(size=a.shape[0])], 1)
        _, r = gaussian.correlation(jnp.asarray(cols, dtype))
        rtol = gaussian.SPAN_RTOL_EPS * jnp.finfo(dtype).eps
        dropped = gaussian.spanned_columns(r, (0, 1, 2), rtol)
        np.testing.assert_array_equal(dropped, [False, False, True])
        near = gaussian.spanned_columns(r, (0, 3), rtol)  # partial R^2 = 0.998
        np.testing.assert_array_equal(near, [False, False])
