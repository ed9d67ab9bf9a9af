"""Degenerate and extreme data, and the invariances, of the classical estimators (float32).

Defined answers (docs/classical.md, "Degenerate data"): a constant variable carries no
information (MI, CMI, TE, its Ω contribution: 0); the entropy of a constant is −∞ with
status DEGENERATE; scale-invariant quantities do not move under ×1e±30 or a 1e4 offset;
too few samples is a ValueError naming the minimum.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

import infoest
from infoest.tasks import processes

MI_METHODS = ("gaussian", "ksg")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2)).astype(np.float32)
    y = (x @ np.array([[0.8], [0.4]]) + 0.6 * rng.normal(size=(400, 1))).astype(np.float32)
    z = (0.5 * x[:, :1] + rng.normal(size=(400, 1))).astype(np.float32)
    return x, y, z


@pytest.fixture(scope="module")
def series():
    x, y = processes.coupled_ar1().sample(jax.random.PRNGKey(0), 600)
    return np.asarray(x[:, 0]), np.asarray(y[:, 0])


def _mi(method, *a, **kw):
    return float(infoest.mutual_information(*a, method=method, **kw))


@pytest.mark.parametrize("method", MI_METHODS)
def test_scale_and_offset_invariance(method, data):
    x, y, z = data
    ref = _mi(method, x, y)
    for s in (1e30, 1e-30):
        assert _mi(method, x * np.float32(s), y) == pytest.approx(ref, abs=2e-5)
        got = float(infoest.conditional_mutual_information(x, y * np.float32(s), z,
                                                           method=method))
        want = float(infoest.conditional_mutual_information(x, y, z, method=method))
        assert got == pytest.approx(want, abs=2e-5)
    shifted = (x + np.float32(1e4)).astype(np.float32)  # the data float32 can represent
    back = shifted - np.float32(1e4)  # exact (Sterbenz): the same points, translated
    # Centring rounds the two copies differently (≈ 1e-7 relative); a kNN count is a step
    # function of the data, so a few counts at exact ties may flip: one flip moves KSG by
    # ≈ 1/(n·n_x) ≈ 1e-4 here. The overflow this guards against moved it by nats.
    tol = 2e-5 if method == "gaussian" else 1e-3
    assert _mi(method, shifted, y) == pytest.approx(_mi(method, back, y), abs=tol)


@pytest.mark.parametrize("method", ("gaussian", "kl"))
def test_entropy_scales_by_log_a(method, data):
    x = data[0]
    ref = float(infoest.entropy(x, method=method))
    for s in (1e30, 1e-30):
        got = float(infoest.entropy(x * np.float32(s), method=method))
        assert got == pytest.approx(ref + 2 * np.log(np.float32(s)), abs=1e-3)


@pytest.mark.parametrize("method", MI_METHODS)
def test_permutation_of_samples(method, data):
    x, y, _ = data
    perm = np.random.default_rng(1).permutation(x.shape[0])
    assert _mi(method, x[perm], y[perm]) == pytest.approx(_mi(method, x, y), abs=1e-5)


def test_monotone_maps_with_copula(data):
    x, y, _ = data
    ref = _mi("ksg", x, y, copula=True)
    assert _mi("ksg", np.exp(x), y ** 3, copula=True) == ref
    assert abs(_mi("ksg", np.exp(x), y ** 3) - ref) > 1e-3  # without copula it moves


@pytest.mark.parametrize("method", MI_METHODS)
def test_constant_variable_gives_zero(method, data, series):
    x, y, z = data
    const = np.full((400, 1), 3.0, np.float32)
    assert _mi(method, x, const) == 0.0 or abs(_mi(method, x, const)) < 1e-6
    assert abs(float(infoest.conditional_mutual_information(const, y, z, method=method))) < 1e-6
    assert _mi(method, np.hstack([x, const]), y) == pytest.approx(_mi(method, x, y), abs=1e-4)
    s, t = series
    flat = np.full_like(t, 2.0)
    assert abs(float(infoest.transfer_entropy(flat, t, method=method))) < 1e-6
    assert abs(float(infoest.transfer_entropy(s, flat, method=method))) < 1e-6
    with_const = [x[:, :1], x[:, 1:], y, const]
    plain = float(infoest.o_information([x[:, :1], x[:, 1:], y], method=method))
    got = float(infoest.o_information(with_const, method=method))
    assert got == pytest.approx(plain, abs=1e-4)


@pytest.mark.parametrize("method", MI_METHODS)
def test_identical_rows(method):
    same = np.ones((100, 2), np.float32) * np.float32(7.5)
    assert abs(_mi(method, same, same[:, :1])) < 1e-6
    assert abs(float(infoest.conditional_mutual_information(same, same, same,
                                                            method=method))) < 1e-6


@pytest.mark.parametrize("method", ("gaussian", "kl"))
def test_entropy_of_constant_is_minus_inf(method):
    const = np.ones((100, 2), np.float32)
    est = infoest.entropy(const, method=method, throw=False)
    assert float(est) == -np.inf and int(est.status) == infoest.Status.DEGENERATE
    with pytest.raises(infoest.EstimationError, match="degenerate"):
        infoest.entropy(const, method=method)


def test_too_few_samples_name_the_minimum():
    rng = np.random.default_rng(2)
    with pytest.raises(ValueError, match="52"):
        infoest.mutual_information(rng.normal(size=(10, 25)), rng.normal(size=(10, 25)),
                                   method="gaussian")
    assert np.isfinite(float(infoest.mutual_information(
        rng.normal(size=(10, 25)), rng.normal(size=(10, 25)), method="gaussian",
        shrinkage=0.5)))
    with pytest.raises(ValueError, match="at least"):
        infoest.mutual_information(rng.normal(size=(2, 1)), rng.normal(size=(2, 1)),
                                   method="ksg")
    with pytest.raises(ValueError, match="at least 10"):
        infoest.mutual_information(rng.normal(size=(8, 1)), rng.normal(size=(8, 1)),
                                   method="ksg", k=4)
    with pytest.raises(ValueError, match="at least"):
        infoest.entropy(rng.normal(size=(2, 1)), method="gaussian")


def test_nested_list_is_one_array(data):
    x = np.hstack(data).astype(np.float64)
    want = float(infoest.o_information(x, method="gaussian"))
    assert float(infoest.o_information(x.tolist(), method="gaussian")) == pytest.approx(want)
    from infoest import multivariate

    z, sizes = multivariate.as_variables(x.tolist())
    assert z.shape == x.shape and sizes == (1,) * x.shape[1]


@pytest.mark.parametrize("method", MI_METHODS)
def test_stderr_is_finite_and_positive(method, data, series):
    x, y, z = data
    for est in (infoest.mutual_information(x, y, method=method),
                infoest.conditional_mutual_information(x, y, z, method=method),
                infoest.o_information([x[:, :1], x[:, 1:], y], method=method),
                infoest.transfer_entropy(*series, method=method)):
        assert np.isfinite(float(est.stderr)) and float(est.stderr) > 0
