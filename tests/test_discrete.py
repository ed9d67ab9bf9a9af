"""Discrete variables: Ross (labels), plug-in Miller–Madow, Gao mixed, CMI and TE.

Truths by numerical quadrature (Gaussian-mixture classes) or in closed form (channels).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import infoest
from infoest import discrete

P = np.array([0.5, 0.3, 0.2])
MU_1D = np.array([0.0, 1.5, 3.0])
MU_2D = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 1.5]])


def _mixture_mi_1d(p, mu, scale=1.0) -> float:
    """I(X; C) for x | c ~ N(μ_c, scale²), by quadrature on a fine grid."""
    g = np.linspace(mu.min() - 12 * scale, mu.max() + 12 * scale, 200_001)
    dens = p[:, None] * stats.norm.pdf(g[None, :], mu[:, None], scale)
    post = dens / np.maximum(dens.sum(0), 1e-300)
    integrand = np.sum(dens * np.log(np.maximum(post, 1e-300) / p[:, None]), axis=0)
    return float(np.trapezoid(integrand, g))


def _mixture_mi_2d(p, mu) -> float:
    """I(X; C) for x | c ~ N(μ_c, I₂), by quadrature on a 2-D grid (product trapezoid)."""
    g = np.linspace(-9.0, 11.0, 1201)
    gx, gy = np.meshgrid(g, g, indexing="ij")
    dens = np.stack([pc * stats.norm.pdf(gx - m[0]) * stats.norm.pdf(gy - m[1])
                     for pc, m in zip(p, mu, strict=True)])
    post = dens / np.maximum(dens.sum(0), 1e-300)
    integrand = np.sum(dens * np.log(np.maximum(post, 1e-300) / p[:, None, None]), axis=0)
    return float(np.trapezoid(np.trapezoid(integrand, g, axis=1), g))


def _classes(key, n, mu):
    kc, kx = jax.random.split(key)
    c = jax.random.choice(kc, len(P), (n,), p=jnp.asarray(P))
    x = jax.random.normal(kx, (n, mu.shape[1])) + jnp.asarray(mu, jnp.float32)[c]
    return x, c


def test_ross_gaussian_mixture_classes_within_0_03_at_5000():
    truth = _mixture_mi_2d(P, MU_2D)
    # the 2-D quadrature reduces to the 1-D one when the means differ along one axis only
    along_x = np.stack([MU_1D, np.zeros(3)], axis=1)
    assert _mixture_mi_2d(P, along_x) == pytest.approx(_mixture_mi_1d(P, MU_1D), abs=1e-6)
    x, c = _classes(jax.random.PRNGKey(0), 5000, MU_2D)
    est = infoest.mutual_information(x, c, discrete="y")
    assert est.method == "ross" and est.ok and 0 < float(est.stderr) < 0.03
    assert float(est.value) == pytest.approx(truth, abs=0.03)
    # labels as x: the same estimator with the roles swapped
    swapped = infoest.mutual_information(c, x, discrete="x")
    assert float(swapped.value) == pytest.approx(float(est.value), abs=1e-6)


def test_ross_agrees_with_scikit_learn():
    sklearn = pytest.importorskip("sklearn.feature_selection")
    rng = np.random.default_rng(1)
    c = rng.choice(3, 2000, p=P)
    x64 = (MU_1D[c] + rng.normal(size=2000))[:, None]  # float64: no ties between distances
    theirs = [sklearn.mutual_info_classif(x64, c, random_state=s)[0] for s in range(5)]
    # scikit-learn's seed-to-seed spread comes from its 1e-10 tie-breaking noise and is
    # ~0 here: in float64 the two agree to rounding.
    with jax.enable_x64(True):
        ours64 = float(infoest.mutual_information(jnp.asarray(x64), c, discrete="y").value)
    assert abs(ours64 - np.mean(theirs)) <= max(np.ptp(theirs), 1e-9)
    # in float32, rounding the standardised coordinates moves a few neighbour counts
    ours = float(infoest.mutual_information(x64.astype(np.float32), c, discrete="y").value)
    assert abs(ours - np.mean(theirs)) <= 2e-3
    truth = _mixture_mi_1d(P, MU_1D)
    assert ours == pytest.approx(truth, abs=0.05)


def test_ross_coverage_of_the_95_interval():
    # 100 replicates at n = 500 in one vmapped call: the band 85-100 % holds the nominal
    # 95 % with a binomial sd of 2.2 points (and the estimator's bias, ~0.007 nat here, is a
    # fifth of its stderr).
    truth = _mixture_mi_1d(P, MU_1D)
    keys = jax.random.split(jax.random.PRNGKey(2), 100)
    xs, cs = jax.vmap(lambda k: _classes(k, 500, MU_1D[:, None]))(keys)
    est = jax.vmap(lambda x, c: infoest.mutual_information(x, c, discrete="y"))(xs, cs)
    v, s = np.asarray(est.value), np.asarray(est.stderr)
    assert np.all(est.ok) and np.all(np.isfinite(s))
    coverage = np.mean(np.abs(v - truth) <= 1.96 * s)
    assert 0.85 <= coverage <= 1.0
    assert 0.7 < s.mean() / v.std() < 1.4  # the stderr matches the replicate spread


def _bsc(key, n, flip=0.1):
    kx, kn = jax.random.split(key)
    x = jax.random.bernoulli(kx, 0.5, (n,)).astype(jnp.int32)
    return x, x ^ jax.random.bernoulli(kn, flip, (n,)).astype(jnp.int32)


def test_plugin_miller_madow_exact_and_calibrated():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 4, 3000)
    y = (x + rng.integers(0, 3, 3000) * (rng.random(3000) < 0.4)) % 5
    est = infoest.mutual_information(x, y, discrete="both")
    kx, ky, kxy = len(set(x)), len(set(y)), len(set(zip(x, y, strict=True)))
    expected = metrics.mutual_info_score(x, y) + (kx + ky - kxy - 1) / (2 * 3000)
    assert float(est.value) == pytest.approx(expected, abs=1e-5)
    # binary symmetric channel: I = log 2 − h(0.1); coverage over 100 replicates, n = 500
    # (band 85-100 %: binomial sd 2.2 points around the nominal 95 %)
    truth = np.log(2) - stats.entropy([0.1, 0.9])
    xs, ys = jax.vmap(lambda k: _bsc(k, 500))(jax.random.split(jax.random.PRNGKey(3), 100))
    batch = jax.vmap(lambda a, b: infoest.mutual_information(a, b, discrete="both"))(xs, ys)
    v, s = np.asarray(batch.value), np.asarray(batch.stderr)
    assert abs(v.mean() - truth) < 0.008
    assert 0.85 <= np.mean(np.abs(v - truth) <= 1.96 * s) <= 1.0


def test_mixed_gao_on_discrete_continuous_data():
    rng = np.random.default_rng(1)
    # Gao et al. 2017, experiment I: X uniform on {0..4}, Y | X ~ U[X, X + 2]
    m, n = 5, 3000
    x = rng.integers(0, m, n)
    y = x + 2 * rng.random(n)
    truth = np.log(m) - (m - 1) * np.log(2) / m
    est = infoest.mutual_information(x.astype(np.float32), y.astype(np.float32),
                                     discrete="mixed")
    assert est.method == "mixed" and float(est.value) == pytest.approx(truth, abs=0.03)
    # all atoms (ρ = 0 everywhere): Gao equals the plug-in estimate without its correction
    xd = rng.integers(0, 4, n)
    yd = (xd + (rng.random(n) < 0.2)) % 4
    mixed = infoest.mutual_information(xd.astype(np.float32), yd.astype(np.float32),
                                       discrete="mixed")
    plugin = infoest.mutual_information(xd, yd, discrete="both")
    correction = (4 + 4 - 8 - 1) / (2 * n)
    assert float(mixed.value) == pytest.approx(float(plugin.value) - correction, abs=0.01)
    # ties break KSG (it reads > 5 nats on the same data), not Gao
    ksg = infoest.mutual_information(xd.astype(np.float32), yd.astype(np.float32),
                                     method="ksg", throw=False)
    assert float(ksg.value) > 2.0


def test_conditional_mi_with_discrete_variables():
    key = jax.random.PRNGKey(4)
    k1, k2, k3 = jax.random.split(key, 3)
    n = 3000
    # discrete Z: Y = ρ_z X + noise with ρ_0 = 0, ρ_1 = 0.8; I = ½ · (−½ log(1 − 0.64))
    z = jax.random.bernoulli(k1, 0.5, (n,)).astype(jnp.int32)
    x = jax.random.normal(k2, (n, 1))
    y = 0.8 * z[:, None] * x + jnp.where(z[:, None] == 1, 0.6, 1.0) * jax.random.normal(
        k3, (n, 1))
    truth = 0.5 * -0.5 * np.log(1 - 0.64)
    est = infoest.conditional_mutual_information(x, y, z, discrete="z")
    assert abs(float(est.value) - truth) < 3 * float(est.stderr) + 0.01 and est.ok
    # discrete Y (labels) with continuous X, Z: X = Z + N(μ_c, 1), so I(X; C | Z) = I(N(μ_c); C)
    zc = jax.random.normal(k1, (n, 1))
    xc, c = _classes(k2, n, MU_1D[:, None])
    est = infoest.conditional_mutual_information(xc + zc, c, zc, discrete="y")
    assert float(est.value) == pytest.approx(_mixture_mi_1d(P, MU_1D), abs=0.05)
    assert np.isfinite(float(est.stderr))
    # all discrete, Markov chain X -> Z -> Y: I(X;Y|Z) = 0 within its error bar
    rng = np.random.default_rng(2)
    xd = rng.integers(0, 3, n)
    zd = (xd + (rng.random(n) < 0.3)) % 3
    yd = (zd + (rng.random(n) < 0.3)) % 3
    est = infoest.conditional_mutual_information(xd, yd, zd, discrete="all")
    assert abs(float(est.value)) < 3 * float(est.stderr) + 0.002


def test_transfer_entropy_with_discrete_series():
    rng = np.random.default_rng(3)
    t = 4000
    source = rng.integers(0, 2, t)
    target = np.roll(source, 1) ^ (rng.random(t) < 0.1)  # y_t = x_{t-1} xor noise
    truth = np.log(2) - stats.entropy([0.1, 0.9])
    est = infoest.transfer_entropy(source, target, discrete="both")
    assert abs(float(est.value) - truth) < 3 * float(est.stderr)
    backwards = infoest.transfer_entropy(target, source, discrete="both")
    assert abs(float(backwards.value)) < 0.01
    # discrete source, continuous target: y_t = μ[x_{t-1}] + noise
    labels = rng.choice(3, t, p=P)
    target_c = (MU_1D[np.roll(labels, 1)] + rng.normal(size=t)).astype(np.float32)
    est = infoest.transfer_entropy(labels, target_c, discrete="source")
    assert float(est.value) == pytest.approx(_mixture_mi_1d(P, MU_1D), abs=0.05)


def test_integer_data_needs_the_discrete_option():
    x, c = _classes(jax.random.PRNGKey(5), 200, MU_1D[:, None])
    with pytest.raises(TypeError, match='discrete="y"'):
        infoest.mutual_information(x, c)
    with pytest.raises(TypeError, match="integer"):
        infoest.mutual_information(x, c.astype(jnp.float32), discrete="y")
    with pytest.raises(ValueError, match="cannot be combined"):
        infoest.mutual_information(x, c, method="ksg", discrete="y")
    with pytest.raises(ValueError, match="valid values"):
        infoest.mutual_information(x, c, discrete="labels")
    with pytest.raises(TypeError, match="floating-point"):
        infoest.mutual_information(c, c, discrete="y")
    with pytest.raises(ValueError, match="ties"):
        infoest.mutual_information(x, x, discrete="mixed", copula=True)
    # ranks: invariant under an increasing map of x
    ranked = infoest.mutual_information(jnp.exp(x), c, discrete="y", copula=True)
    plain = infoest.mutual_information(x, c, discrete="y", copula=True)
    assert float(ranked.value) == pytest.approx(float(plain.value), abs=1e-6)


def test_jit_vmap_and_status():
    x, c = _classes(jax.random.PRNGKey(6), 300, MU_1D[:, None])
    eager = infoest.mutual_information(x, c, discrete="y")
    jitted = jax.jit(lambda a, b: infoest.mutual_information(a, b, discrete="y"))(x, c)
    assert float(jitted.value) == pytest.approx(float(eager.value), abs=1e-6)
    xs = jnp.stack([x, x.at[0, 0].set(jnp.nan)])
    batch = jax.vmap(lambda a: infoest.mutual_information(a, c, discrete="y",
                                                          throw=False))(xs)
    assert list(np.asarray(batch.status)) == [0, int(infoest.Status.NONFINITE_INPUT)]
    assert np.isnan(np.asarray(batch.value)[1])
    ids, k = discrete.group_ids(jnp.array([[3, 1], [0, 2], [3, 1], [7, 7]]))
    assert int(k) == 3 and ids[0] == ids[2] and len(set(np.asarray(ids).tolist())) == 3


def test_readme_labels_example_runs(capsys):
    import re
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = re.search(r"^## Class labels and discrete data\n(.*?)(?=^## )", readme, re.M | re.S)
    (code,) = re.findall(r"```python\n(.*?)```", section.group(1), re.S)
    exec(compile(code, "README.md:labels", "exec"), {})
    printed = capsys.readouterr().out
    assert "Estimate(0.475 ± 0.011 nats, method='ross')" in printed
    truth = _mixture_mi_2d(np.full(3, 1 / 3), np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 1.5]]))
    assert 0.475 == pytest.approx(truth, abs=0.03)


@pytest.mark.slow
@pytest.mark.parametrize("n", [500, 2000])
def test_ross_and_mixed_coverage_full(n):
    # >= 200 replicates per method and size (one vmapped call each); nominal 95 %.
    truth = _mixture_mi_1d(P, MU_1D)
    keys = jax.random.split(jax.random.PRNGKey(7), 200)
    xs, cs = jax.vmap(lambda k: _classes(k, n, MU_1D[:, None]))(keys)
    for fn in (lambda x, c: infoest.mutual_information(x, c, discrete="y"),
               lambda x, c: infoest.mutual_information(
                   x, c.astype(jnp.float32), discrete="mixed")):
        est = jax.vmap(fn)(xs, cs)
        v, s = np.asarray(est.value), np.asarray(est.stderr)
        assert 0.90 <= np.mean(np.abs(v - truth) <= 1.96 * s) <= 0.995
