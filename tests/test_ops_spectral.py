"""Spectral primitives: Gram trick, safe entropy of spectra, Lanczos quadrature, deflated SLQ,
Gaussian affinities and the matrix-free diffusion operator."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from infoest.ops import kernels, spectral


@pytest.fixture(autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield


def test_gram_trick_matches_both_sides():
    rng = np.random.default_rng(0)
    for n, d in [(20, 50), (60, 7)]:
        z = rng.normal(size=(n, d))
        lam = np.asarray(spectral.gram_eigvalsh(jnp.asarray(z)))
        assert lam.shape == (min(n, d),)
        big = np.linalg.eigvalsh(z @ z.T if n > d else z.T @ z)
        np.testing.assert_allclose(np.sort(lam)[::-1], np.sort(big)[::-1][: min(n, d)],
                                   atol=1e-10)
        s1 = spectral.spectrum_entropy(lam)
        s2 = spectral.spectrum_entropy(jnp.clip(jnp.asarray(big), 0, None))
        np.testing.assert_allclose(float(s1), float(s2), atol=1e-12)


def test_spectrum_entropy_limits_and_zero_eigenvalues():
    lam = jnp.array([0.0, 0.0, 1.0, 1.0, 2.0])
    p = np.array([1, 1, 2]) / 4
    np.testing.assert_allclose(float(spectral.spectrum_entropy(lam)), -np.sum(p * np.log(p)))
    np.testing.assert_allclose(float(spectral.spectrum_entropy(lam, 2.0)),
                               -np.log(np.sum(p**2)))
    near = float(spectral.spectrum_entropy(lam, 1.0 + 1e-6))
    np.testing.assert_allclose(near, float(spectral.spectrum_entropy(lam)), atol=1e-5)
    for a in (0.5, 1.0, 3.0):
        g = jax.grad(lambda v, a=a: spectral.spectrum_entropy(v, a))(lam)
        assert np.all(np.isfinite(np.asarray(g)))


def test_frobenius_renyi2_equals_eigenvalues():
    rng = np.random.default_rng(1)
    a = jnp.asarray(np.exp(-rng.uniform(size=(30, 30))))
    a = a @ a.T
    via_eig = spectral.spectrum_entropy(spectral.eigvalsh_psd(a), 2.0)
    np.testing.assert_allclose(float(spectral.frobenius_renyi2(a)), float(via_eig), atol=1e-12)


def test_lanczos_quadrature_exact_with_full_steps():
    rng = np.random.default_rng(2)
    lam = rng.uniform(0.01, 1.0, size=12)
    q, _ = np.linalg.qr(rng.normal(size=(12, 12)))
    a = jnp.asarray(q @ np.diag(lam) @ q.T)
    v = jnp.asarray(rng.normal(size=(12, 3)))
    alpha, beta = spectral.lanczos(lambda x: a @ x, v, 12)
    theta, w = spectral.gauss_quadrature(alpha, beta)  # host eigh returns float32
    approx = jnp.sum(w * theta * jnp.log(theta), axis=1) * jnp.sum(v * v, axis=0)
    exact = np.einsum("nm,nk,km->m", np.asarray(v), q @ np.diag(lam * np.log(lam)) @ q.T,
                      np.asarray(v))
    np.testing.assert_allclose(np.asarray(approx), exact, rtol=1e-5)


def test_deflated_slq_traces():
    rng = np.random.default_rng(3)
    n = 300
    lam = np.concatenate([[1.0, 0.5, 0.3], rng.uniform(0.001, 0.01, size=n - 3)])
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    a = jnp.asarray(q @ np.diag(lam) @ q.T)
    fns = (lambda x: x, lambda x: x * spectral.safe_log(x))
    per, top = spectral.deflated_slq(lambda v: a @ v, fns, jax.random.PRNGKey(0), n=n,
                                     dtype=jnp.float64, rank=8, probes=16, steps=20)
    np.testing.assert_allclose(np.asarray(top[:3]), lam[:3], rtol=1e-5)
    est = np.asarray(per.mean(axis=0))
    exact = np.array([lam.sum(), np.sum(lam * np.log(lam))])
    np.testing.assert_allclose(est, exact, rtol=5e-3)


def test_symmetric_normalisation_has_diffusion_spectrum():
    rng = np.random.default_rng(4)
    x = jnp.asarray(rng.normal(size=(40, 3)))
    g = kernels.gaussian_affinity(x, 1.0)
    k, deg = kernels.symmetric_normalize(g)
    lam = np.sort(np.asarray(spectral.eigvalsh_psd(k)))
    p = np.asarray(g) / np.asarray(deg)[:, None]
    ref = np.sort(np.linalg.eigvals(p).real)
    np.testing.assert_allclose(lam, np.clip(ref, 0, None), atol=1e-10)
    assert abs(lam[-1] - 1.0) < 1e-12 and lam[0] >= 0


def test_matrix_free_diffusion_matvec_equals_dense():
    rng = np.random.default_rng(5)
    x = jnp.asarray(rng.normal(size=(50, 4)))
    v = jnp.asarray(rng.normal(size=(50, 3)))
    k, deg = kernels.symmetric_normalize(kernels.gaussian_affinity(x, 1.5))
    matvec, deg_mf = kernels.diffusion_matvec(x, 1.5, block_size=16)  # 50 = 3·16 + 2
    np.testing.assert_allclose(np.asarray(deg_mf), np.asarray(deg), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(matvec(v)), np.asarray(k @ v), atol=1e-12)


def test_bandwidth_rules():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(30, 5))
    d2 = ((x[:, None] - x[None]) ** 2).sum(-1)[np.triu_indices(30, 1)]
    np.testing.assert_allclose(float(kernels.bandwidth(jnp.asarray(x), "median")),
                               np.sqrt(np.median(d2) / 2), rtol=1e-12)
    np.testing.assert_allclose(float(kernels.bandwidth(jnp.asarray(3 * x), "median")),
                               3 * np.sqrt(np.median(d2) / 2), rtol=1e-12)
    assert float(kernels.bandwidth(jnp.asarray(x), "sqrt_dim")) == pytest.approx(np.sqrt(5))
    with pytest.raises(ValueError, match="sigma"):
        kernels.bandwidth(jnp.asarray(x), "silverman")
    for bad in (0.0, -1.0):
        with pytest.raises(ValueError, match="sigma"):
            kernels.check_sigma(bad)


def test_a_nan_eigenvalue_gives_a_nan_entropy_never_a_number():
    """A solver that fails on part of a spectrum returns NaN eigenvalues: every trace
    function must stay NaN (→ NOT_CONVERGED / NONFINITE_RESULT), for every α and t."""
    from infoest.ops.spectral import safe_log, safe_pow, spectrum_entropy
    from infoest.spectral._dse import dse_from_spectrum

    lam = jnp.array([0.5, jnp.nan, 0.2, 0.0, -1e-9])
    for alpha in (0.5, 1.0, 1.01, 2.0):
        assert np.isnan(float(spectrum_entropy(lam, alpha)))
    assert np.isnan(float(dse_from_spectrum(lam, 2.0)))
    assert np.isnan(float(safe_pow(jnp.float32(jnp.nan), 0.5)))
    assert np.isnan(float(safe_log(jnp.float32(jnp.nan))))
    good = jnp.array([0.5, 0.3, 0.2, 0.0, -1e-9])
    assert float(spectrum_entropy(good)) == pytest.approx(1.029653, abs=1e-6)
    assert float(safe_pow(jnp.float32(-1.0), 0.5)) == 0.0 == float(safe_log(jnp.float32(0.0)))
