"""MINDE: Bayesian-bootstrap replicate networks (stderr), weighted loss and integrals, the
``method="neural"`` route (MINDE on normal scores of the ranks).

Accuracy on the 40 BMI tasks and the coverage of the replicate stderr are long runs
(``docs/bmi.md`` "Neural default", ``docs/score.md`` "Error bars"); the coverage check is
``test_replicate_stderr_coverage`` under ``slow``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import infoest
from infoest.score import integrals, masks, network
from infoest.score.gaussian_scores import gaussian_denoiser

TINY = dict(steps=30, batch_size=64, width=8, mc_iter=1)


def _gaussian_pair(n=256, rho=0.6, seed=0):
    return infoest.tasks.bivariate_normal(rho).sample(jax.random.PRNGKey(seed), n)


def test_weighted_loss_scales_with_the_weights():
    """The same key draws the same (t, ε, mask): weights 2 double the loss; weights that
    keep half the rows give the loss of those rows."""
    z = jax.random.normal(jax.random.PRNGKey(0), (64, 2))
    idx, m = masks.var_index((1, 1)), masks.minde_masks("c")
    net = network.ScoreNet(2, 2, 8, key=jax.random.PRNGKey(1))
    net = jax.tree_util.tree_map(lambda a: a + 0.1 if a.ndim == 2 else a, net)  # out != 0
    key = jax.random.PRNGKey(2)
    plain = network.score_loss(net, z, key, m, idx)
    doubled = network.score_loss(net, z, key, m, idx, weights=jnp.full((64,), 2.0))
    np.testing.assert_allclose(doubled, 2 * plain, rtol=1e-5)
    half = jnp.where(jnp.arange(64) < 32, 2.0, 0.0)
    weighted = network.score_loss(net, z, key, m, idx, weights=half)
    assert not np.isclose(float(weighted), float(plain), rtol=1e-3)


def test_weighted_monte_carlo_is_the_weighted_row_mean():
    """Weights 0/1 over rows give the estimate of the selected rows (same draws)."""
    cov = jnp.array([[1.0, 0.7], [0.7, 1.0]])
    idx = masks.var_index((1, 1))
    integrand = integrals.minde_integrand(gaussian_denoiser(cov, idx), idx, "c")
    x0 = jax.random.multivariate_normal(jax.random.PRNGKey(0), jnp.zeros(2), cov, (512,))
    key = jax.random.PRNGKey(1)
    w = (jnp.arange(512) % 2 == 0).astype(jnp.float32)
    weighted, _ = integrals.monte_carlo(integrand, x0, key, weights=w)
    # the same per-row values, averaged over the even rows by hand
    rows = jax.vmap(lambda i: integrals.monte_carlo(
        integrand, x0, key, weights=(jnp.arange(512) == i).astype(jnp.float32))[0])(
        jnp.arange(0, 512, 2))
    np.testing.assert_allclose(weighted, rows.mean(0), rtol=1e-4, atol=1e-6)


def test_replicates_give_their_mean_and_standard_deviation():
    x, y = _gaussian_pair()
    est = infoest.mutual_information(x, y, method="minde", key=jax.random.PRNGKey(3),
                                     replicates=3, **TINY)
    reps = np.asarray(est.diagnostics["replicates"])
    assert reps.shape == (3,) and np.all(np.isfinite(reps))
    assert np.ptp(reps) > 0  # different bootstrap weights and keys
    assert float(est.value) == pytest.approx(reps.mean(), rel=1e-5)
    assert float(est.stderr) == pytest.approx(reps.std(ddof=1), rel=1e-4)


def test_entropy_replicates_use_the_weighted_second_moment():
    """H per replicate = (d/2) log 2π + ½ E_w‖x‖² − KL + Σ log sd; the mean is the value."""
    x = jax.random.normal(jax.random.PRNGKey(4), (256, 2)) * jnp.array([1.0, 3.0])
    est = infoest.entropy(x, method="minde", key=jax.random.PRNGKey(5), replicates=4, **TINY)
    reps = np.asarray(est.diagnostics["replicates"])
    assert float(est.value) == pytest.approx(reps.mean(), rel=1e-5)
    assert float(est.stderr) == pytest.approx(reps.std(ddof=1), rel=1e-4)
    # a tiny network is near the reference: H near the Gaussian entropy of the data
    truth = np.log(2 * np.pi * np.e) + np.log(3.0)
    assert float(est.value) == pytest.approx(truth, abs=0.5)


@pytest.mark.parametrize("lr", [float("nan"), -1e-3])
def test_entropy_refuses_a_bad_learning_rate(lr):
    x = jax.random.normal(jax.random.PRNGKey(0), (64, 2))
    with pytest.raises(ValueError, match="learning_rate"):
        infoest.entropy(x, method="minde", key=jax.random.PRNGKey(1), learning_rate=lr,
                        **TINY)


def test_entropy_flags_a_traced_nan_learning_rate():
    x = jax.random.normal(jax.random.PRNGKey(0), (64, 2))

    @jax.jit
    def run(lr):
        return infoest.entropy(x, method="minde", key=jax.random.PRNGKey(1), throw=False,
                               learning_rate=lr, **TINY)

    est = run(jnp.float32(jnp.nan))
    assert int(est.status) == infoest.Status.DIVERGED and np.isnan(float(est.value))


def test_neural_route_is_minde_on_rank_normal_scores():
    """``method="neural"`` = MINDE with ``copula=True``: invariant (bit for bit, same key)
    under increasing maps of the columns, and equal to the explicit call."""
    x, y = _gaussian_pair(seed=1)
    key = jax.random.PRNGKey(6)
    est = infoest.mutual_information(x, y, method="neural", key=key, **TINY)
    mapped = infoest.mutual_information(jnp.exp(x), y**3 + y, method="neural", key=key,
                                        **TINY)
    explicit = infoest.mutual_information(x, y, method="minde", key=key, copula=True, **TINY)
    raw = infoest.mutual_information(jnp.exp(x), y, method="neural", key=key, copula=False,
                                     **TINY)
    assert est.method == "minde" and est.diagnostics["replicates"].shape == (1,)
    assert float(mapped.value) == pytest.approx(float(est.value), abs=1e-6)
    assert float(explicit.value) == pytest.approx(float(est.value), abs=1e-6)
    assert not np.isclose(float(raw.value), float(est.value), atol=1e-4)


@pytest.mark.slow
def test_replicate_stderr_coverage():
    """value ± 1.96·stderr covers the truth in 85–100 % of 100 replicates (bivariate normal
    ρ = 0.5, n = 500, 4 replicate networks of 1 500 steps); with 100 replicates a true 95 %
    coverage lands below 88 % with probability < 0.01."""
    rho, n, reps = 0.5, 500, 100
    task = infoest.tasks.bivariate_normal(rho)
    kd, ke = jax.random.split(jax.random.PRNGKey(0))

    def one(dk, ek):
        e = infoest.mutual_information(*task.sample(dk, n), method="minde", key=ek,
                                       steps=1500, mc_iter=4, replicates=4, throw=False)
        return e.value, e.stderr

    v, se = jax.jit(jax.vmap(one))(jax.random.split(kd, reps), jax.random.split(ke, reps))
    covered = np.abs(np.asarray(v) - task.value) <= 1.96 * np.asarray(se)
    assert 0.85 <= covered.mean() <= 1.0


@pytest.mark.parametrize("call, dim", [
    (lambda z, k: infoest.entropy(z[:, :40], method="minde", key=k), 40),
    (lambda z, k: infoest.mutual_information(z[:, :30], z[:, 30:], method="minde", key=k), 60),
    (lambda z, k: infoest.mutual_information(z[:, :30], z[:, 30:], method="neural", key=k), 60),
    (lambda z, k: infoest.o_information(z[:, :40], method="soi", key=k), 40),
])
def test_fewer_samples_than_dimensions_is_refused(call, dim):
    """n < D + 2: the samples span a subspace, the learned score is singular (H read −40
    nats against 56.8, MI 7.4 against 0 after 300 steps at n = 24): a ValueError naming
    n, D and the minimum, eagerly and under jit, before any training."""
    z = np.random.default_rng(7).normal(size=(24, 60)).astype(np.float32)
    key = jax.random.PRNGKey(0)
    msg = rf"n=24 samples in D={dim} dimensions: .* needs n >= D \+ 2 = {dim + 2}"
    with pytest.raises(ValueError, match=msg):
        call(z, key)
    with pytest.raises(ValueError, match=msg):
        jax.jit(call)(z, key)


@pytest.mark.parametrize("variant", ["c", "j"])
def test_pointwise_terms_give_the_delta_method_stderr(variant):
    """With the exact scores of a bivariate normal (ρ = 0.6), the per-sample denoising-bound
    differences average to I and to H, and their spread over samples, Monte-Carlo noise
    removed, is that of the influence functions: sd(pmi) = ρ, sd(−log p) = √(d/2) = 1. (The
    row spread of MINDE's own integrand is ≈ 0.45 ρ: the under-coverage this replaces.)"""
    rho, n = 0.6, 20_000
    cov = jnp.array([[1.0, rho], [rho, 1.0]])
    idx = masks.var_index((1, 1))
    den = gaussian_denoiser(cov, idx)
    x0 = jax.random.multivariate_normal(jax.random.PRNGKey(0), jnp.zeros(2), cov, (n,))
    key = jax.random.PRNGKey(1)
    mean, _, rows, mc_var = integrals.monte_carlo(integrals.pmi_integrand(den, idx, variant),
                                                  x0, key, mc_iter=4, rows=True)
    assert float(mean[0]) == pytest.approx(-0.5 * np.log(1 - rho**2), abs=0.03)
    se = float(integrals.row_stderr(rows, mc_var)[0])
    assert se * np.sqrt(n) == pytest.approx(rho, rel=0.1)
    raw = float(jnp.std(rows[:, 0]))  # with the Monte-Carlo noise: clearly larger
    assert raw > 1.2 * rho
    _, _, rows, mc_var = integrals.monte_carlo(integrals.nll_integrand(den, idx), x0, key,
                                               mc_iter=4, rows=True)
    nll = rows[:, 0] + 0.5 * jnp.sum(x0 * x0, axis=1) + np.log(2 * np.pi)
    h = 0.5 * np.log((2 * np.pi * np.e) ** 2 * (1 - rho**2))
    assert float(nll.mean()) == pytest.approx(h, abs=0.03)
    assert float(integrals.row_stderr(nll, mc_var[:, 0])) * np.sqrt(n) == pytest.approx(1.0,
                                                                                      rel=0.1)


def test_default_steps_cap_the_passes_over_the_samples():
    """10 000 steps from n = 5 000 up, at most 256 passes below (n = 1 000: 2 000 steps of
    128 rows); an explicit ``steps`` is kept."""
    from infoest.score.config import MINDEConfig, training_steps

    assert training_steps(MINDEConfig(), 5000).steps == 10_000
    assert training_steps(MINDEConfig(), 20_000).steps == 10_000
    assert training_steps(MINDEConfig(), 1000).steps == 2000
    assert training_steps(MINDEConfig(), 100).steps == 256  # batch clipped to n
    assert training_steps(MINDEConfig(steps=7), 1000).steps == 7
