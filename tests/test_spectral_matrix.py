"""Matrix entropy (von Neumann of the covariance) and matrix-based Rényi-α entropy / MI."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import infoest
from infoest import spectral
from infoest.ops.kernels import label_gram


@pytest.fixture(autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield


def test_isotropic_gaussian_bias_is_d_over_2n():
    # VNE convention (no centring, unit rows): S = log d − d/(2n) + O(n^-2)
    d, n = 16, 1000
    z = np.random.default_rng(0).normal(size=(n, d))
    s = float(spectral.matrix_entropy(z, center=False).value)
    assert abs((np.log(d) - s) - d / (2 * n)) < 1.5e-3


def test_subspace_entropy_and_effective_rank():
    rng = np.random.default_rng(1)
    k, d, n = 8, 128, 8000
    basis, _ = np.linalg.qr(rng.normal(size=(d, k)))
    z = rng.normal(size=(n, k)) @ basis.T
    est = infoest.entropy(z, method="matrix")
    assert abs(float(est) - np.log(k)) < 3e-3
    assert abs(float(est.diagnostics["effective_rank"]) - k) < 0.03
    for conv in ("entropy", "rankme", "participation"):
        assert abs(float(spectral.effective_rank(z, convention=conv)) - k) < 0.1


def test_effective_rank_conventions_differ_on_uneven_spectrum():
    rng = np.random.default_rng(2)
    q, _ = np.linalg.qr(rng.normal(size=(200, 4)))
    z = q @ np.diag([4.0, 2.0, 1.0, 0.5]) * np.sqrt(200)
    r = [float(spectral.effective_rank(z, convention=c, center=False, normalize_rows=False))
         for c in ("entropy", "rankme", "participation")]
    s2 = np.array([16.0, 4.0, 1.0, 0.25]) / 21.25
    np.testing.assert_allclose(r[0], np.exp(-np.sum(s2 * np.log(s2))), rtol=1e-8)
    np.testing.assert_allclose(r[2], 1 / np.sum(s2**2), rtol=1e-8)
    assert len({round(v, 3) for v in r}) == 3


def test_centred_small_n_is_bounded_by_log_n_minus_1():
    z = np.random.default_rng(3).normal(size=(20, 512))
    s = float(spectral.matrix_entropy(z).value)
    assert 2.85 < s <= np.log(19) + 1e-9
    assert float(spectral.matrix_entropy(z, normalize="log_d").value) == pytest.approx(
        s / np.log(512))


def test_truncated_entropy():
    z = np.random.default_rng(4).normal(size=(100, 6))
    full = float(spectral.matrix_entropy(z).value)
    assert float(spectral.truncated_entropy(z, k=6).value) == pytest.approx(full, abs=1e-12)
    assert float(spectral.truncated_entropy(z, k=2).value) < full
    with pytest.raises(ValueError, match="`k`"):
        spectral.truncated_entropy(z, k=7)


def test_diff_erank_sign():
    rng = np.random.default_rng(5)
    noisy = rng.normal(size=(300, 32))
    compressed = noisy[:, :4] @ rng.normal(size=(4, 32))
    assert float(spectral.diff_erank(noisy, compressed)) > 10


def test_vmap_over_stack_of_layers_equals_loop():
    layers = np.random.default_rng(6).normal(size=(8, 64, 24)) * np.arange(1, 25)
    fn = jax.jit(jax.vmap(lambda z: spectral.matrix_entropy(z).value))
    loop = [float(spectral.matrix_entropy(z).value) for z in layers]
    np.testing.assert_allclose(np.asarray(fn(jnp.asarray(layers))), loop, rtol=1e-10)


@pytest.mark.parametrize("case", ["n<d", "duplicated rows"])
def test_gradients_finite_in_degenerate_cases(case):
    rng = np.random.default_rng(7)
    z = rng.normal(size=(10, 40)) if case == "n<d" else np.repeat(rng.normal(size=(6, 5)), 4, 0)
    z = jnp.asarray(z)
    fns = [
        lambda z: spectral.matrix_entropy(z).value,
        lambda z: spectral.matrix_entropy(z, center=False, alpha=2.0).value,
        lambda z: spectral.renyi_entropy(z, alpha=1.0).value,
        lambda z: spectral.renyi_entropy(z, kernel="linear").value,
        # n = 10 < d = 40 saturates the joint Gram matrix (DEGENERATE; the value is kept)
        lambda z: spectral.matrix_mutual_information(z, z[:, :3], throw=False).value,
    ]
    for f in fns:
        g = np.asarray(jax.grad(f)(z))
        assert np.all(np.isfinite(g)) and np.any(g != 0)


def test_renyi_alpha2_frobenius_and_monotone_in_alpha():
    x = np.random.default_rng(8).normal(size=(150, 3))
    eig = float(spectral.renyi_entropy(x, alpha=2.0).value)
    fro = float(spectral.renyi_entropy(x, alpha=2.0, solver="frobenius").value)
    assert eig == pytest.approx(fro, abs=1e-10)
    s = [float(spectral.renyi_entropy(x, alpha=a).value) for a in (0.5, 1.0, 1.01, 2.0, 5.0)]
    assert all(a > b for a, b in zip(s, s[1:], strict=False))
    assert abs(s[1] - s[2]) < 0.01 * s[1]
    assert 0 < s[-1] and s[0] < np.log(150)
    with pytest.raises(ValueError, match="frobenius"):
        spectral.renyi_entropy(x, alpha=1.5, solver="frobenius")


def test_renyi_float32_matches_float64_reference():
    """Gaussian-kernel spectra have a long tail of small real eigenvalues that float32 must keep
    (a rank-style m · eps cut-off lost 0.1-0.2 % here)."""
    x = np.random.default_rng(0).normal(size=(400, 3))
    d2 = ((x[:, None] - x[None]) ** 2).sum(-1)
    a = np.exp(-d2 / 2.0)
    lam = np.clip(np.linalg.eigvalsh(a / np.trace(a)), 0, None)
    ref = np.log((lam**1.01).sum()) / (1 - 1.01)
    with jax.enable_x64(False):
        ours = float(spectral.renyi_entropy(x.astype(np.float32), sigma=1.0).value)
    assert ours == pytest.approx(ref, rel=1e-4)


def test_renyi_bandwidth_limits():
    x = np.random.default_rng(9).normal(size=(40, 2))
    for a in (0.5, 1.0, 2.0):
        assert float(spectral.renyi_entropy(x, alpha=a, sigma=1e-3).value) == pytest.approx(
            np.log(40), abs=1e-9)
        # α < 1 weighs the O(σ⁻²) eigenvalues most: tolerance scales accordingly
        tol = 1e-4 if a < 1 else 1e-7
        assert abs(float(spectral.renyi_entropy(x, alpha=a, sigma=1e5).value)) < tol


def test_label_kernel_entropy_is_shannon_of_class_proportions():
    y = jnp.array([0, 0, 0, 0, 0, 1, 1, 1, 2, 2])
    k = label_gram(y, jnp.float64)
    assert float(spectral.gram_entropy(k, 1.0)) == pytest.approx(1.029653, abs=1e-6)
    p = np.array([0.5, 0.3, 0.2])
    for a in (0.5, 2.0, 3.0):
        expected = np.log(np.sum(p**a)) / (1 - a)
        assert float(spectral.gram_entropy(k, a)) == pytest.approx(expected, abs=1e-10)


def test_matrix_mi_constant_kernel_is_zero_and_joint_bounds():
    rng = np.random.default_rng(10)
    x = rng.normal(size=(80, 2))
    y = x[:, :1] + 0.5 * rng.normal(size=(80, 1))
    const = np.ones((80, 1))
    assert abs(float(infoest.mutual_information(x, const, method="matrix"))) < 1e-10
    sx = float(spectral.renyi_entropy(x).value)
    sy = float(spectral.renyi_entropy(y).value)
    sxy = float(spectral.joint_renyi_entropy(x, y).value)
    assert max(sx, sy) <= sxy <= sx + sy
    mi = float(infoest.mutual_information(x, y, method="matrix"))
    assert mi == pytest.approx(sx + sy - sxy, abs=1e-10) and mi > 0.1


def test_hyperparameter_sweep_does_not_recompile():
    from infoest.spectral._matrix import _entropy
    from infoest.spectral._renyi import _entropy as _renyi
    x = jnp.asarray(np.random.default_rng(11).normal(size=(30, 3)))
    spectral.matrix_entropy(x, alpha=0.5)
    spectral.renyi_entropy(x, alpha=0.5, sigma=0.5)
    before = _entropy._cache_size(), _renyi._cache_size()
    for a in (0.7, 1.0, 2.0, 3.0):
        spectral.matrix_entropy(x, alpha=a)
        spectral.renyi_entropy(x, alpha=a, sigma=a)
    assert (_entropy._cache_size(), _renyi._cache_size()) == before


def test_bad_hyperparameters_raise_naming_them():
    x = np.random.default_rng(12).normal(size=(30, 3))
    for kwargs, name in [({"alpha": 0.0}, "alpha"), ({"alpha": -1.0}, "alpha"),
                         ({"kernel": "rbf"}, "kernel"), ({"sigma": -2.0}, "sigma"),
                         ({"sigma": "silverman"}, "sigma"), ({"units": "dits"}, "units")]:
        with pytest.raises(ValueError, match=name):
            spectral.renyi_entropy(x, **kwargs)
    with pytest.raises(ValueError, match="normalize"):
        spectral.matrix_entropy(x, normalize="log2")
    with pytest.raises(ValueError, match="convention"):
        spectral.effective_rank(x, convention="roy")


def test_matrix_mi_saturated_joint_gram_is_degenerate():
    """n < d: the joint entropy hits its log n ceiling, so I_α ≥ S(A) + S(B) − log n for any
    data; independent and identical N(0, I_30) pairs at n = 24 read 1.89 and 1.92 nats.
    Flagged (value kept with throw=False); low-intrinsic-dimension layers at n = 300 and
    width 1 024 (the representation use) and low-dimensional data are not."""
    rng = np.random.default_rng(7)
    x, y = (rng.normal(size=(24, 30)).astype(np.float32) for _ in range(2))
    for other in (y, x):
        est = infoest.mutual_information(x, other, method="matrix", throw=False)
        assert int(est.status) == infoest.Status.DEGENERATE
        floor = float(est.diagnostics["ceiling_floor"])
        assert 1.5 < floor <= float(est.value) < 2.0
    with pytest.raises(infoest.EstimationError, match="saturated at its log n ceiling"):
        infoest.mutual_information(x, y, method="matrix")
    t = rng.normal(size=(300, 10))
    h1 = np.maximum(t @ rng.normal(size=(10, 1024)) / np.sqrt(10), 0)
    h2 = np.tanh(h1 @ rng.normal(size=(1024, 1024)) / np.sqrt(1024))
    for a, b in ((h1, h2), (t[:100, :2], t[:100, :2] + rng.normal(size=(100, 2)))):
        est = infoest.mutual_information(a.astype(np.float32), b.astype(np.float32),
                                         method="matrix")
        assert est.ok and float(est.value) > float(est.diagnostics["ceiling_floor"]) >= 0
