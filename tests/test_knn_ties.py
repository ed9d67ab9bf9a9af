"""Exact duplicate rows: KSG MI, CMI and TE flag them (status DEGENERATE, a count in the
diagnostics), because copies inflate the estimate and jitter does not remove that."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import infoest
from infoest import knn
from infoest.ops.ties import duplicate_rows

DEGENERATE = int(infoest.Status.DEGENERATE)


def _pair(n=200, rho=0.9, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 1))
    y = rho * x + np.sqrt(1 - rho**2) * rng.normal(size=(n, 1))
    return x.astype(np.float32), y.astype(np.float32)


def test_duplicate_rows_counts_surplus_copies():
    a = np.random.default_rng(1).normal(size=(30, 2)).astype(np.float32)
    assert int(duplicate_rows(a)) == 0
    assert int(duplicate_rows(np.concatenate([a, a, a[:5]]))) == 35
    assert int(duplicate_rows(np.ones((7, 3)))) == 6
    # equal in one array, different jointly: no duplicate
    assert int(duplicate_rows(np.ones((30, 1)), a)) == 0
    batch = jax.vmap(duplicate_rows)(jnp.stack([a, jnp.concatenate([a[:15], a[:15]])]))
    np.testing.assert_array_equal(batch, [0, 15])


def test_ksg_mi_of_a_sample_concatenated_with_itself_is_flagged():
    x, y = _pair()
    good = knn.mutual_information(x, y)
    assert good.ok and int(good.diagnostics["duplicates"]) == 0
    xd, yd = np.concatenate([x, x]), np.concatenate([y, y])
    with pytest.raises(infoest.EstimationError, match=r"duplicate rows.*discrete='mixed'"):
        knn.mutual_information(xd, yd)
    flagged = knn.mutual_information(xd, yd, throw=False)
    assert int(flagged.status) == DEGENERATE
    assert int(flagged.diagnostics["duplicates"]) == x.shape[0]
    # the value is kept, and it is inflated (n = 500, k = 4, rho = 0.9: 0.93 -> 1.06 nats;
    # docs/contract.md): why the status is not ok
    assert float(flagged.value) > float(good.value)
    # tie-breaking jitter does not hide the copies (they stay each other's neighbours)
    jittered = knn.mutual_information(xd, yd, key=jax.random.PRNGKey(0), throw=False)
    assert int(jittered.status) == DEGENERATE


def test_ksg_cmi_and_te_flag_duplicates_and_constants_stay_zero():
    x, y = _pair(seed=2)
    z = np.random.default_rng(3).normal(size=x.shape).astype(np.float32)
    xd, yd, zd = (np.concatenate([a, a]) for a in (x, y, z))
    cmi = knn.conditional_mutual_information(xd, yd, zd, throw=False)
    assert int(cmi.status) == DEGENERATE and int(cmi.diagnostics["duplicates"]) == 200
    assert knn.conditional_mutual_information(x, y, z).ok
    ones = np.ones_like(xd)
    zero = knn.mutual_information(ones, yd)  # a constant variable: 0, whatever the copies
    assert zero.ok and float(zero.value) == 0.0
    s = np.cumsum(np.random.default_rng(4).normal(size=150)).astype(np.float32)
    te = infoest.transfer_entropy(np.concatenate([s, s]), np.concatenate([s, s]) ** 3,
                                  method="ksg", k=3, throw=False)
    assert int(te.status) == DEGENERATE and int(te.diagnostics["duplicates"]) > 100


def test_duplicates_status_per_element_under_vmap():
    x, y = _pair(n=100, seed=5)
    xs = jnp.stack([x, jnp.concatenate([x[:50], x[:50]])])
    ys = jnp.stack([y, jnp.concatenate([y[:50], y[:50]])])
    est = jax.jit(jax.vmap(lambda a, b: knn.mutual_information(a, b, k=3, throw=False)))(xs, ys)
    np.testing.assert_array_equal(est.status, [0, DEGENERATE])
    np.testing.assert_array_equal(est.diagnostics["duplicates"], [0, 50])
    assert np.all(np.isfinite(np.asarray(est.value)))


def test_ksg_o_information_with_constant_variables_is_that_of_the_rest():
    """A constant variable adds 0 to every KSG term, so Ω is the O-information of the other
    variables (0 when fewer than three are left), never the ψ(1) terms of zero radii."""
    rng = np.random.default_rng(6)
    a = rng.normal(size=(120, 3)).astype(np.float32)
    rest = np.stack([a[:, 0], a[:, 0] + a[:, 1], a[:, 1] - a[:, 2]], axis=1)
    with_constant = np.concatenate([np.full((120, 1), 2.5, np.float32), rest], axis=1)
    want = infoest.o_information(rest, method="ksg", k=3)
    got = infoest.o_information(with_constant, method="ksg", k=3)
    assert got.ok and abs(float(want.value)) > 0.05
    np.testing.assert_allclose(float(got.value), float(want.value), rtol=1e-5, atol=1e-6)
    two = np.concatenate([np.ones((120, 2), np.float32), rest[:, :2]], axis=1)
    assert float(infoest.o_information(two, method="ksg", k=3).value) == 0.0
    assert float(infoest.o_information(np.ones((120, 3), np.float32), method="ksg",
                                       k=3).value) == 0.0


def test_ksg_o_information_flags_duplicated_rows():
    a = np.random.default_rng(7).normal(size=(60, 3)).astype(np.float32)
    assert infoest.o_information(a, method="ksg", k=3).ok
    est = infoest.o_information(np.concatenate([a, a]), method="ksg", k=3, throw=False)
    assert int(est.status) == DEGENERATE and int(est.diagnostics["duplicates"]) == 60
