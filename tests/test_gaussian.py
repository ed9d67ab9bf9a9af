"""Gaussian closed forms against independent numpy/scipy computations."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import infoest
from infoest import gaussian


def _random_spd(d, seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(d, d))
    return a @ a.T + 0.5 * np.eye(d)


@pytest.fixture(autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield


@pytest.mark.parametrize("seed", range(3))
def test_entropy_matches_scipy(seed):
    cov = _random_spd(5, seed)
    expected = stats.multivariate_normal(mean=np.zeros(5), cov=cov).entropy()
    np.testing.assert_allclose(float(gaussian.entropy_from_cov(jnp.asarray(cov))), expected,
                               rtol=0, atol=1e-6)


def _h(cov):
    return 0.5 * np.log(np.linalg.det(2 * np.pi * np.e * cov))


@pytest.mark.parametrize("seed", range(3))
def test_mi_cmi_match_entropy_sums(seed):
    cov = _random_spd(6, seed)
    dx, dy = 2, 3
    x, y, z = np.arange(dx), np.arange(dx, dx + dy), np.arange(dx + dy, 6)
    sub = lambda idx: cov[np.ix_(idx, idx)]  # noqa: E731
    mi = _h(sub(x)) + _h(sub(np.r_[y, z])) - _h(cov)
    got = gaussian.mutual_information_from_cov(jnp.asarray(cov), dx)
    np.testing.assert_allclose(float(got), mi, atol=1e-6)
    cmi = _h(sub(np.r_[x, z])) + _h(sub(np.r_[y, z])) - _h(sub(z)) - _h(cov)
    got = gaussian.conditional_mutual_information_from_cov(jnp.asarray(cov), dx, dy)
    np.testing.assert_allclose(float(got), cmi, atol=1e-6)


def test_bivariate_mi_reference_values():
    for rho, truth in [(0.5, 0.143841), (0.75, 0.413339), (0.8, 0.510826)]:
        cov = jnp.array([[1.0, rho], [rho, 1.0]])
        np.testing.assert_allclose(float(gaussian.mutual_information_from_cov(cov, 1)), truth,
                                   atol=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_o_information_matches_brute_force_entropy_sums(seed):
    sizes = (1, 2, 2)
    cov = _random_spd(5, seed)
    groups = [np.arange(0, 1), np.arange(1, 3), np.arange(3, 5)]
    sub = lambda idx: cov[np.ix_(idx, idx)]  # noqa: E731
    h_all = _h(cov)
    tc = sum(_h(sub(g)) for g in groups) - h_all
    rest = [np.setdiff1d(np.arange(5), g) for g in groups]
    dtc = h_all - sum(h_all - _h(sub(r)) for r in rest)
    c = jnp.asarray(cov)
    np.testing.assert_allclose(float(gaussian.total_correlation_from_cov(c, sizes)), tc, atol=1e-6)
    np.testing.assert_allclose(float(gaussian.dual_total_correlation_from_cov(c, sizes)), dtc,
                               atol=1e-6)
    np.testing.assert_allclose(float(gaussian.o_information_from_cov(c, sizes)), tc - dtc,
                               atol=1e-6)


def test_sample_estimators_match_plugin_numpy():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(500, 4)) @ np.linalg.cholesky(_random_spd(4, 1)).T
    s = np.cov(z, rowvar=False)
    np.testing.assert_allclose(float(infoest.entropy(z, method="gaussian")), _h(s), atol=1e-6)
    mi = _h(s[:2, :2]) + _h(s[2:, 2:]) - _h(s)
    got = infoest.mutual_information(z[:, :2], z[:, 2:], method="gaussian")
    np.testing.assert_allclose(float(got), mi, atol=1e-6)


def test_shrinkage_moves_towards_scaled_identity():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(50, 3))
    y = x + rng.normal(size=(50, 3))
    full = float(infoest.mutual_information(x, y, method="gaussian", shrinkage=1.0))
    np.testing.assert_allclose(full, 0.0, atol=1e-10)  # identity covariance: no dependence
    none = float(infoest.mutual_information(x, y, method="gaussian"))
    half = float(infoest.mutual_information(x, y, method="gaussian", shrinkage=0.5))
    assert 0.0 < half < none


def test_gradient_is_finite():
    rng = np.random.default_rng(3)
    x = jnp.asarray(rng.normal(size=(100, 2)))
    y = x + jnp.asarray(rng.normal(size=(100, 2)))
    g = jax.grad(lambda a: infoest.mutual_information(a, y, method="gaussian").value)(x)
    assert np.all(np.isfinite(np.asarray(g)))
