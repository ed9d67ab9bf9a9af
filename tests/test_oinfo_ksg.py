"""KSG O-information: the one-search formula, the Gaussian-reference bias correction, and
constant variables (issue #14.5; docs/classical.md, "KSG O-information")."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import user_codegen_jit
from scipy import special

import infoest
from infoest import gaussian, knn, multivariate_knn
from infoest.tasks import blocks

# XLA's default emitters, as the eager calls compared with it round: with the suite's classic
# emitters (conftest.py) this program rounds TC differently, Ω 4e-5 from the eager value on
# the data of test_surrogates_option (float64 -0.221194, classic -0.221186, default and
# eager -0.221144), and that test asks eager == jit to 1e-5
_measures = user_codegen_jit(multivariate_knn.corrected_measures,
                             static_argnames=("sizes", "k", "surrogates"))


def _omega(x, *, surrogates=4, seed=0, sizes=None):
    sizes = (1,) * x.shape[1] if sizes is None else sizes
    return float(_measures(jnp.asarray(x), jax.random.PRNGKey(seed), sizes=sizes, k=4,
                           surrogates=surrogates)[2])


def _h_t(d, df):
    """Entropy of a d-dimensional standard Student-t (identity dispersion), nats."""
    a, b = 0.5 * df, 0.5 * (df + d)
    return (special.gammaln(a) - special.gammaln(b) + 0.5 * d * np.log(df * np.pi)
            + b * (special.digamma(b) - special.digamma(a)))


def _student(cov, df, n, seed):
    """Multivariate t with dispersion ``cov`` and its exact Ω: the Gaussian Ω of ``cov``
    plus (m − 2) h(m) + m h(1) − m h(m − 1) (marginals of a t are t with the same ν)."""
    m = cov.shape[0]
    rng = np.random.default_rng(seed)
    g = rng.normal(size=(n, m)) @ np.linalg.cholesky(cov).T
    x = (g * np.sqrt(df / rng.chisquare(df, size=(n, 1)))).astype(np.float32)
    truth = float(gaussian.o_information_from_cov(cov)) + (m - 2) * _h_t(m, df) \
        + m * _h_t(1, df) - m * _h_t(m - 1, df)
    return x, truth


@functools.cache
def _syn6(n, seed):
    task = blocks.block_system([("syn", 6, 0.9)])
    return np.asarray(task.sample(jax.random.PRNGKey(seed), n)[0]), task.value


def test_two_variables_are_ksg_mi():
    # m = 2: TC = DTC = KSG MI (algorithm 1) exactly, Ω = 0
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3)).astype(np.float32)
    x[:, 2] += x[:, 0]
    u = knn.prepare(jnp.asarray(x))[0]
    tc, dtc, omega, s = multivariate_knn.one_search_measures(u, sizes=(1, 2), k=4)
    mi = float(knn.ksg_mi_core(u[:, :1], u[:, 1:], k=4, backend="brute"))
    assert float(tc) == pytest.approx(mi, abs=1e-5)
    assert float(dtc) == pytest.approx(mi, abs=1e-5)
    assert abs(float(omega)) < 1e-5 and float(s) == pytest.approx(2 * mi, abs=2e-5)


def test_synergy_block_within_15_percent():
    # syn6(ρ = 0.9), Ω = −0.929. n = 1 000: the corrected estimate reads −0.88 ± 0.04 over
    # seeds; the uncorrected one-search estimate −0.32 and the estimator before session 6
    # −0.4 (both fail the 15 % band).
    x, truth = _syn6(1000, 0)
    assert _omega(x) == pytest.approx(truth, rel=0.15)
    assert _omega(x, surrogates=0) > 0.6 * truth  # the bias the correction removes


def test_non_gaussian_t_within_15_percent():
    # a multivariate t (ν = 5) with the syn6(0.9) dispersion: Ω = −0.873 in closed form,
    # the Gaussian estimator (which sees only the correlation) reads ≈ −0.93 and the
    # uncorrected one-search kNN ≈ −0.26
    x, truth = _student(blocks.block_cov([("syn", 6, 0.9)]), 5.0, 1000, seed=1)
    assert truth == pytest.approx(-0.8730, abs=1e-3)
    assert _omega(x) == pytest.approx(truth, rel=0.15)


def test_constant_variable_drops_out():
    # Ω(X with a constant variable) = Ω(X without it), wherever it sits, vector variables
    # too (the surrogates' draws do not move either: they are keyed by active column)
    x, _ = _syn6(400, 1)
    const = np.full((400, 2), 2.5, np.float32)
    plain = np.concatenate([x[:, :2], x[:, 2:]], 1)
    with_const = np.concatenate([x[:, :2], const, x[:, 2:]], 1)
    a = _measures(jnp.asarray(plain), jax.random.PRNGKey(0), sizes=(2, 1, 1, 2), k=4,
                  surrogates=4)
    b = _measures(jnp.asarray(with_const), jax.random.PRNGKey(0), sizes=(2, 2, 1, 1, 2), k=4,
                  surrogates=4)
    np.testing.assert_allclose(np.asarray(b), np.asarray(a), atol=2e-5)
    # two informative variables left: Ω = 0, TC = their MI; none left: everything 0
    two = _measures(jnp.asarray(np.concatenate([x[:, :1], const, x[:, 1:2]], 1)),
                    jax.random.PRNGKey(0), sizes=(1, 1, 1, 1), k=4, surrogates=4)
    assert abs(float(two[2])) < 1e-5 and float(two[0]) > 0.05
    flat = infoest.o_information(np.full((100, 5), 0.5, np.float32), method="ksg")
    assert float(flat) == 0.0 and float(flat.diagnostics["tc"]) == 0.0


def test_surrogates_option():
    x, _ = _syn6(200, 2)
    raw = infoest.o_information(x, method="ksg", surrogates=0)
    assert float(raw) == pytest.approx(_omega(x, surrogates=0), abs=1e-5)
    with pytest.raises(ValueError, match="surrogates"):
        infoest.o_information(x, method="ksg", surrogates=-1)


SOI_SYSTEMS = [
    ("red [3,3,4] 0.5", [("red", 3, 0.5), ("red", 3, 0.5), ("red", 4, 0.5)]),
    ("red [3,3,4] 0.9", [("red", 3, 0.9), ("red", 3, 0.9), ("red", 4, 0.9)]),
    ("syn [3,3,4] 0.5", [("syn", 3, 0.5), ("syn", 3, 0.5), ("syn", 4, 0.5)]),
    ("syn [3,3,4] 0.9", [("syn", 3, 0.9), ("syn", 3, 0.9), ("syn", 4, 0.9)]),
    ("syn3 0.7", [("syn", 3, 0.7)]),
    ("syn6 0.9", [("syn", 6, 0.9)]),
]


@pytest.mark.slow
@pytest.mark.parametrize("name,system", SOI_SYSTEMS, ids=[s[0] for s in SOI_SYSTEMS])
def test_soi_systems_within_15_percent_n5000(name, system):
    # the bias, i.e. the mean over 3 data sets: on syn [3,3,4] 0.5 (Ω = −0.217) one data
    # set's sd (0.025) is close to 15 % of the truth (docs/classical.md)
    task = blocks.block_system(system)
    values = [float(infoest.o_information(task.sample(jax.random.PRNGKey(s), 5000)[0],
                                          method="ksg")) for s in range(3)]
    assert np.mean(values) == pytest.approx(task.value, rel=0.15), (name, values)
