"""Diffusion spectral entropy (exact and Lanczos solvers) and DSMI."""

from __future__ import annotations

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import infoest
from infoest import spectral


@pytest.fixture(autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield


def reference_dse_bits(x, sigma=10.0, t=1):
    """The reference algorithm (dse_dsmi 1.1, dense path) re-implemented in plain numpy."""
    d = np.sqrt(np.maximum(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1), 0))
    g = np.exp(-(d**2) / (2 * sigma**2)) / (sigma * np.sqrt(2 * np.pi))
    w = g.sum(axis=1)
    k = g / np.sqrt(np.outer(w, w))
    lam = np.abs(np.linalg.eigvalsh(k)) ** t
    p = lam / lam.sum() + np.finfo(float).eps
    return -np.sum(p * np.log2(p))


@pytest.mark.parametrize("t", [1, 2])
def test_parity_with_reference_algorithm(t):
    x = np.random.default_rng(0).uniform(size=(300, 256))
    ours = spectral.dse(x, sigma=10.0, t=float(t), units="bits")
    assert ours.units == "bits"
    assert float(ours.value) == pytest.approx(reference_dse_bits(x, 10.0, t), abs=1e-5)


def test_float32_keeps_the_small_real_eigenvalues():
    """The diffusion operator is full rank with a long tail of small eigenvalues; in float32 a
    rank-style cut-off (m · eps · λ_max) dropped them (−3.5 % here); rounding noise is far below."""
    x = np.random.default_rng(0).uniform(size=(400, 64))
    with jax.enable_x64(False):
        ours = spectral.dse(x.astype(np.float32), sigma=10.0, units="bits")
        assert ours.value.dtype == jnp.float32
    assert float(ours.value) == pytest.approx(reference_dse_bits(x, 10.0, 1), rel=1e-4)


def test_isolated_points_and_separated_clusters():
    rng = np.random.default_rng(1)
    far = rng.normal(size=(200, 5)) * 100.0
    for t in (1.0, 3.0):
        assert float(spectral.dse(far, sigma=1.0, t=t).value) == pytest.approx(np.log(200),
                                                                               abs=1e-9)
    centres = rng.normal(size=(7, 4)) * 100.0
    tight = np.repeat(centres, 20, axis=0) + 1e-5 * rng.normal(size=(140, 4))
    for t in (1.0, 2.0):
        assert float(spectral.dse(tight, sigma=1.0, t=t).value) == pytest.approx(np.log(7),
                                                                                 abs=1e-6)
    same = np.ones((50, 3))
    assert abs(float(spectral.dse(same, sigma=1.0).value)) < 1e-9


def test_bounds_monotone_in_t_and_units():
    x = np.random.default_rng(2).normal(size=(120, 6))
    lam = np.asarray(spectral.diffusion_spectrum(jnp.asarray(x), "median"))
    assert lam.min() >= 0 and lam.max() == pytest.approx(1.0, abs=1e-12)
    vals = [float(spectral.dse(x, t=t).value) for t in (0.5, 1.0, 2.0, 5.0)]
    assert all(a > b for a, b in zip(vals, vals[1:], strict=False))
    assert 0 < vals[-1] and vals[0] < np.log(120)
    nats = spectral.dse(x)
    assert float(spectral.dse(x, units="bits").value) == pytest.approx(float(nats.value)
                                                                        / np.log(2))


def test_dse_increases_with_intrinsic_dimension():
    rng = np.random.default_rng(3)
    n, ambient = 300, 64
    vals = []
    for d in (2, 8, 32, 64):
        z = np.zeros((n, ambient))
        z[:, :d] = rng.uniform(-1, 1, size=(n, d))
        z += 0.01 * rng.normal(size=z.shape)
        vals.append(float(spectral.dse(z, sigma=4.0).value))
    assert all(b > a + 0.5 for a, b in zip(vals, vals[1:], strict=False))
    assert vals[-1] < np.log(n)


def test_lanczos_solver_within_documented_error():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(500, 16))
    for t, kw in ((1.0, {}), (2.0, {"block_size": 200})):  # dense K; matrix-free blocks
        exact = float(spectral.dse(x, t=t).value)
        fast = spectral.dse(x, t=t, solver="lanczos", key=jax.random.PRNGKey(0), rank=48,
                            probes=16, steps=20, power_iters=2, **kw)
        err = abs(float(fast.value) - exact)
        assert err < 0.01 * exact
        assert err < 4 * float(fast.stderr) + 1e-3 * exact
    with pytest.raises(ValueError, match="key"):
        spectral.dse(x, solver="lanczos")


def test_gradient_finite_with_duplicated_rows():
    z = jnp.asarray(np.repeat(np.random.default_rng(5).normal(size=(10, 3)), 3, axis=0))
    for t in (0.5, 1.0, 2.0):
        g = np.asarray(jax.grad(lambda z, t=t: spectral.dse(z, t=t).value)(z))
        assert np.all(np.isfinite(g)) and np.any(g != 0)


def test_sigma_and_t_sweeps_do_not_recompile():
    from infoest.spectral._dse import _exact
    z = jnp.asarray(np.random.default_rng(6).normal(size=(40, 3)))
    spectral.dse(z, sigma=1.0, t=1.0)
    before = _exact._cache_size()
    for s, t in [(0.5, 2.0), (2.0, 3.0), (3.0, 0.7)]:
        spectral.dse(z, sigma=s, t=t)
    assert _exact._cache_size() == before
    sweep = jax.vmap(lambda s: spectral.dse(z, sigma=s).value)(jnp.array([0.5, 1.0, 2.0]))
    assert np.all(np.diff(np.asarray(sweep)) < 0)  # larger σ, smoother kernel, lower DSE


def test_subsampling_and_bad_arguments():
    x = np.random.default_rng(7).normal(size=(100, 3))
    est = spectral.dse(x, max_n=50, key=jax.random.PRNGKey(0))
    assert 0 < float(est.value) < np.log(50)
    for kwargs, name in [({"t": 0.0}, "t"), ({"sigma": 0.0}, "sigma"),
                         ({"solver": "cheb"}, "solver"), ({"max_n": 50}, "key"),
                         ({"rank": 1.5}, "rank")]:
        with pytest.raises((ValueError, TypeError), match=name):
            spectral.dse(x, **kwargs)


def _clusters(rng, k=3, per=40, dim=4):
    centres = rng.normal(size=(k, dim)) * 100.0
    labels = np.repeat(np.arange(k), per)
    return centres[labels] + 1e-5 * rng.normal(size=(k * per, dim)), labels


def test_dsmi_tight_clusters_is_log_k_and_random_labels_zero():
    rng = np.random.default_rng(8)
    z, labels = _clusters(rng)
    key = jax.random.PRNGKey(0)
    mi = infoest.mutual_information(z, labels, method="dsmi", key=key, sigma=1.0)
    assert float(mi) == pytest.approx(np.log(3), abs=1e-4)
    shuffled = rng.permutation(labels)
    assert abs(float(spectral.dsmi(z, shuffled, key=key, sigma=1.0).value)) < 0.05
    # arbitrary label values and bits
    bits = spectral.dsmi(z, labels * 7 + 3, key=key, sigma=1.0, units="bits")
    assert float(bits.value) == pytest.approx(np.log2(3), abs=1e-4)


def test_dsmi_continuous_y_binning_and_clustering():
    rng = np.random.default_rng(9)
    z, labels = _clusters(rng)
    codes = np.asarray(spectral.bin_labels(jnp.asarray(labels + 0.1 * rng.uniform(size=120)),
                                           3))
    np.testing.assert_array_equal(codes, labels)
    y = np.eye(3)[labels] * 50 + rng.normal(size=(120, 3))
    found = np.asarray(spectral.spectral_clusters(jnp.asarray(y), 3))
    for c in range(3):  # every blob is one cluster, blobs are distinct clusters
        assert len(set(found[labels == c])) == 1
    assert len(set(found)) == 3
    key = jax.random.PRNGKey(1)
    mi = spectral.dsmi(z, y, key=key, sigma=1.0, n_clusters=3)
    assert float(mi.value) == pytest.approx(np.log(3), abs=1e-4)


def test_dsmi_traced_labels_need_n_classes():
    z, labels = _clusters(np.random.default_rng(10), per=20)
    key = jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match="n_classes"):
        jax.jit(lambda z, y: spectral.dsmi(z, y, key=key, sigma=1.0).value)(z, labels)
    f = jax.jit(lambda z, y: spectral.dsmi(z, y, key=key, sigma=1.0, n_classes=3).value)
    assert float(f(z, labels)) == pytest.approx(np.log(3), abs=1e-4)


SHARDED = r"""
import jax, numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P
from infoest import spectral
from infoest.ops import kernels
assert len(jax.devices()) == 4
mesh = jax.make_mesh((4,), ("rows",))
z = np.random.default_rng(0).normal(size=(512, 6)).astype(np.float32)
zs = jax.device_put(z, NamedSharding(mesh, P("rows")))
key = jax.random.PRNGKey(3)
one = spectral.dse(z, solver="lanczos", key=key, sigma=1.5, rank=32)
many = spectral.dse(zs, solver="lanczos", key=key, sigma=1.5, rank=32)
assert abs(float(one.value) - float(many.value)) < 1e-4 * float(one.value), (one, many)
assert abs(float(one.stderr) - float(many.stderr)) < 0.05 * float(one.stderr)
# the products: row-sharded over the 4 devices and equal to the dense operator's
auto, axis = kernels.row_sharding(zs)
x = jax.device_put(zs, NamedSharding(auto, P(axis)))
v = np.random.default_rng(1).normal(size=(512, 3)).astype(np.float32)
out = jax.jit(lambda x, v: kernels.sharded_diffusion_matvec(x, 1.5, auto, axis,
                                                            block_size=32)[0](v))(x, v)
k, _ = kernels.symmetric_normalize(kernels.gaussian_affinity(z, 1.5))
np.testing.assert_allclose(np.asarray(out), np.asarray(k @ v), rtol=2e-4, atol=2e-5)
assert len(out.sharding.device_set) == 4 and out.sharding.spec[0] == "rows"
print("ok")
"""


def test_lanczos_on_row_sharded_samples_equals_one_device():
    flags = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
    run = subprocess.run([sys.executable, "-c", SHARDED], env={**os.environ, "XLA_FLAGS": flags},
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0 and "ok" in run.stdout, run.stderr[-3000:]
