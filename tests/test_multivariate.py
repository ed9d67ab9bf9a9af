"""TC, DTC, O-information, S-information: Gaussian closed form, KSG, gradient, multiplets."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import infoest
from infoest import gaussian, multivariate
from infoest.tasks import blocks


def _sample(cov, n, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, cov.shape[0])) @ np.linalg.cholesky(cov).T).astype(np.float32)


RED = blocks.redundant_block(3, 0.7)
SYN = blocks.synergistic_block(3, 0.9)


def test_block_truths_match_reference():
    # score_based.md §8, Ω per unit dim
    assert blocks.block_system([("red", 3, 0.5)] * 2 + [("red", 4, 0.5)]).value == (
        pytest.approx(0.3930, abs=1e-4))
    assert blocks.block_system([("syn", 3, 0.5)] * 2 + [("syn", 4, 0.5)]).value == (
        pytest.approx(-0.2171, abs=1e-4))
    assert blocks.block_system([("red", 3, 0.7), ("syn", 3, 0.7)]).value == (
        pytest.approx(0.0476, abs=1e-4))
    assert blocks.block_system([("syn", 6, 0.9)]).value == pytest.approx(-0.9290, abs=1e-4)
    task = blocks.block_system([("red", 3, 0.5)], dim=2)
    (variables,) = task.sample(jax.random.PRNGKey(0), 10)
    assert len(variables) == 3 and variables[0].shape == (10, 2)
    assert task.value == pytest.approx(2 * 0.0849, abs=1e-4)


def test_gaussian_closed_form_equals_brute_force_entropy_sums():
    x = _sample(blocks.block_cov([("red", 3, 0.6), ("syn", 3, 0.8)]), 3000)
    variables = [x[:, :2], x[:, 2:3], x[:, 3:]]  # vector-valued: sizes (2, 1, 3)
    brute = multivariate.from_entropies(variables, lambda z: gaussian.entropy(z).value)
    for name, fn in [("o_information", multivariate.o_information),
                     ("tc", multivariate.total_correlation),
                     ("dtc", multivariate.dual_total_correlation),
                     ("s_information", multivariate.s_information)]:
        assert float(fn(variables, method="gaussian")) == pytest.approx(float(brute[name]),
                                                                         abs=2e-4)
    # S = Σ_i I(X_i; X_−i)
    z = np.concatenate(variables, axis=1)
    s = sum(float(gaussian.mutual_information(z[:, c], np.delete(z, c, axis=1)))
            for c in [[0, 1], [2], [3, 4, 5]])
    assert float(multivariate.s_information(variables)) == pytest.approx(s, abs=2e-4)


def test_gaussian_estimate_close_to_truth_and_entry_point():
    task = blocks.block_system([("red", 3, 0.7), ("syn", 3, 0.7)])
    (x,) = task.sample(jax.random.PRNGKey(1), 20_000)
    est = infoest.o_information(x, method="gaussian")
    assert float(est) == pytest.approx(task.value, abs=0.02)
    assert float(est.diagnostics["tc"] - est.diagnostics["dtc"]) == pytest.approx(float(est))
    cop = infoest.o_information(x, method="gaussian", copula=True)
    assert float(cop) == pytest.approx(task.value, abs=0.03)


def test_gaussian_gradient_identity_and_grad():
    x = _sample(blocks.block_cov([("red", 3, 0.7), ("syn", 3, 0.7)]), 4000, seed=2)
    grad = np.asarray(multivariate.o_information_gradient(x).value)
    cov = np.cov(x, rowvar=False)
    k = cov.shape[0]

    def mi(a, b):
        idx = np.r_[a, b]
        return float(gaussian.mutual_information_from_cov(cov[np.ix_(idx, idx)], len(a)))

    for i in range(k):  # ∂_iΩ = (2 − k) I(X_i; X_−i) + Σ_{j≠i} I(X_i; X_−ij)
        rest = [j for j in range(k) if j != i]
        expect = (2 - k) * mi([i], rest) + sum(
            mi([i], [m for m in rest if m != j]) for j in rest)
        assert grad[i] == pytest.approx(expect, abs=1e-3)
    # differentiable with respect to the data
    g = jax.grad(lambda z: infoest.o_information(z, method="gaussian").value)(jnp.asarray(x))
    assert g.shape == x.shape and bool(jnp.all(jnp.isfinite(g)))


def test_multiplets_table_matches_single_calls():
    x = _sample(blocks.block_cov([("red", 3, 0.6), ("syn", 3, 0.8)]), 2000)
    table = multivariate.o_information_multiplets(x, orders=(3, 4))
    assert len(table) == 20 + 15
    for m in [(0, 1, 2), (3, 4, 5), (0, 2, 4, 5)]:
        single = float(infoest.o_information(x[:, list(m)], method="gaussian"))
        assert float(table[m]) == pytest.approx(single, abs=1e-4)
    d = table.to_dict()
    assert list(d)[:2] == list(itertools.combinations(range(6), 3))[:2]
    assert d[(0, 1, 2)] > 0.1 and d[(3, 4, 5)] < -0.1


def test_ksg_sign_redundant_and_synergistic():
    red = infoest.o_information(_sample(RED, 2000, seed=3), method="ksg", k=4)
    syn = infoest.o_information(_sample(SYN, 2000, seed=4), method="ksg", k=4)
    truth_red = float(gaussian.o_information_from_cov(RED))
    truth_syn = float(gaussian.o_information_from_cov(SYN))
    assert float(red) > 0.5 * truth_red
    assert float(syn) < 0.5 * truth_syn
    assert float(red) == pytest.approx(truth_red, abs=0.1)
    assert float(syn) == pytest.approx(truth_syn, abs=0.15)


def test_ksg_multiplets_match_single_call():
    x = _sample(blocks.block_cov([("red", 3, 0.6), ("syn", 3, 0.8)]), 400)
    table = multivariate.o_information_multiplets(x[:, :4], orders=(3,), method="ksg", k=3)
    single = float(infoest.o_information(x[:, [0, 1, 3]], method="ksg", k=3))
    assert float(table[(0, 1, 3)]) == pytest.approx(single, abs=1e-4)


def test_bad_variables():
    x = _sample(RED, 100)
    with pytest.raises(ValueError, match="variables"):
        infoest.o_information([x[:, :1], x[:-3, 1:]], method="gaussian")
    with pytest.raises(TypeError, match="variables"):
        infoest.o_information({"a": x}, method="gaussian")
    with pytest.raises(ValueError, match="at least 2"):
        infoest.o_information(x[:, :1], method="gaussian")
    with pytest.raises(ValueError, match="orders"):
        multivariate.o_information_multiplets(x, orders=(4,))
    with pytest.raises(ValueError, match="method"):
        multivariate.total_correlation(x, method="nope")
