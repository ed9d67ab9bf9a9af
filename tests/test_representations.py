"""infoest.representations: layer stacking, several estimators per call, per-class DSMI,
label matrix MI (closed forms from ../shared/reference/spectral.md §7)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from infoest import representations as rep
from infoest import spectral


def _layers(seed=0, n=120):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(n, 7)).astype(np.float32),
            rng.normal(size=(n, 3, 2, 2)).astype(np.float32),
            rng.normal(size=(n, 2)).astype(np.float32)]


def test_stack_layers_pads_with_zero_columns():
    layers = _layers()
    stack, widths = rep.stack_layers(layers)
    assert stack.shape == (3, 120, 12)
    np.testing.assert_array_equal(np.asarray(widths), [7, 12, 2])
    np.testing.assert_array_equal(np.asarray(stack[0, :, 7:]), 0.0)
    np.testing.assert_allclose(np.asarray(stack[1]), layers[1].reshape(120, 12))
    assert rep.stack_layers(layers, width=20)[0].shape == (3, 120, 20)
    with pytest.raises(ValueError, match="width"):
        rep.stack_layers(layers, width=5)
    with pytest.raises(ValueError, match="different numbers of samples"):
        rep.stack_layers([layers[0], layers[2][:10]])


def test_layer_estimates_match_per_layer_calls_and_padding_is_exact():
    layers = _layers(1)[:2]
    stack, _ = rep.stack_layers(layers)
    estimators = {
        "dse": lambda z, k: spectral.dse(z, sigma="median"),
        "matrix": lambda z, k: spectral.matrix_entropy(z),
        "dsmi": lambda z, k: rep.class_dsmi(z, jnp.arange(120) % 3, n_classes=3,
                                            max_class_size=40, key=k, sigma=2.0),
    }
    key = jax.random.PRNGKey(3)
    out = jax.jit(lambda s: rep.layer_estimates(s, estimators, key=key))(stack)
    assert out["dse"].value.shape == (2,)
    for layer, raw in enumerate(layers):
        flat = raw.reshape(120, -1)
        np.testing.assert_allclose(out["dse"].value[layer],
                                   spectral.dse(flat, sigma="median").value, rtol=2e-5)
        np.testing.assert_allclose(out["matrix"].value[layer],
                                   spectral.matrix_entropy(flat).value, rtol=2e-5)
    # layer 0 is padded from 7 to 12 columns; its own key is fold_in(fold_in(key, 0), 2)
    one = rep.class_dsmi(layers[0], jnp.arange(120) % 3, n_classes=3, max_class_size=40,
                         key=jax.random.fold_in(jax.random.fold_in(key, 0), 2), sigma=2.0)
    np.testing.assert_allclose(out["dsmi"].value[0], one.value, rtol=1e-4, atol=1e-6)


def test_ragged_layers_grouped_by_width_and_shared_bandwidth():
    """A list of layers is grouped by width (no padding: exact also for width-dependent
    conventions), results come back in layer order with layer l's key fold_in(key, l), and
    ``sigma=`` resolves one bandwidth per layer that every estimator receives."""
    layers = _layers(2)  # widths 7, 12, 2
    layers.append(np.random.default_rng(5).normal(size=(120, 7)).astype(np.float32))
    assert rep.width_groups(layers) == [[0, 3], [1], [2]]
    labels = jnp.arange(120) % 3
    estimators = {
        "dse": lambda z, k, s: spectral.dse(z, sigma=s),
        "sigma": lambda z, k, s: s,
        "log_d": lambda z, k, s: spectral.matrix_entropy(z, normalize="log_d").value,
        "dsmi": lambda z, k, s: rep.class_dsmi(z, labels, n_classes=3, max_class_size=40,
                                               key=k, sigma=s),
    }
    key = jax.random.PRNGKey(4)
    out = jax.jit(lambda ls: rep.layer_estimates(ls, estimators, key=key, sigma="median"))(
        layers)
    assert out["dse"].value.shape == (4,)
    for layer, raw in enumerate(layers):
        flat = raw.reshape(120, -1)
        np.testing.assert_allclose(out["sigma"][layer],
                                   np.sqrt(np.median(_pair_sq(flat)) / 2), rtol=1e-5)
        np.testing.assert_allclose(out["dse"].value[layer],
                                   spectral.dse(flat, sigma="median").value, rtol=2e-5)
        np.testing.assert_allclose(out["log_d"][layer], spectral.matrix_entropy(
            flat, normalize="log_d").value, rtol=2e-5)
        one = rep.class_dsmi(flat, labels, n_classes=3, max_class_size=40, sigma="median",
                             key=jax.random.fold_in(jax.random.fold_in(key, layer), 3))
        np.testing.assert_allclose(out["dsmi"].value[layer], one.value, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="different numbers of samples"):
        rep.layer_estimates([layers[0], layers[2][:10]], estimators)


def _pair_sq(x):
    d2 = ((x[:, None, :].astype(np.float64) - x[None, :, :]) ** 2).sum(-1)
    return d2[np.triu_indices(len(x), 1)]


def _clusters(c, m, d=5, spread=1e-3, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(c), m)
    z = rng.normal(size=(c, d))[labels] * 50 + spread * rng.normal(size=(c * m, d))
    return z.astype(np.float32), labels


def test_class_dsmi_tight_separated_clusters_is_log_c():
    # conditional DSE = 0 (one tight cluster), size-matched marginal of m rows out of 4
    # far-apart clusters of m: all four occupied (P ≈ 1 - 4·(3/4)^25·...), DSE = log 4.
    z, labels = _clusters(4, 25)
    e = rep.class_dsmi(z, labels, n_classes=4, max_class_size=25, key=jax.random.PRNGKey(0),
                       sigma=1.0)
    assert abs(float(e.value) - np.log(4)) < 0.01
    np.testing.assert_allclose(np.asarray(e.diagnostics["conditional"]), 0.0, atol=2e-3)


def test_class_dsmi_agrees_with_spectral_dsmi_and_vanishes_for_independent_labels():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 200)
    z = rng.normal(size=(200, 6)).astype(np.float32)
    z[:, 0] += 1.5 * labels
    ours = rep.class_dsmi(z, labels, n_classes=4, max_class_size=200,
                          key=jax.random.PRNGKey(1), sigma=1.5, num_repetitions=20)
    ref = spectral.dsmi(z, labels, key=jax.random.PRNGKey(2), sigma=1.5, num_repetitions=20)
    # both average 20 random marginal subsets (Monte-Carlo stderr ≈ 0.006 each)
    assert abs(float(ours.value) - float(ref.value)) < 0.03
    assert float(ours.value) > 0.1
    for c in range(2):  # the conditional terms are exactly the DSE of each class
        np.testing.assert_allclose(ours.diagnostics["conditional"][c],
                                   spectral.dse(z[labels == c], sigma=1.5).value, rtol=1e-4)
    indep = rep.class_dsmi(z, rng.permutation(labels), n_classes=4, max_class_size=200,
                           key=jax.random.PRNGKey(1), sigma=1.5, num_repetitions=20)
    assert abs(float(indep.value)) < 4 * float(indep.stderr) + 0.02
    assert np.isfinite(float(indep.stderr)) and float(indep.stderr) > 0


def test_label_matrix_mi_closed_forms_and_gradient():
    # label kernel eigenvalues = class proportions (0.5, 0.3, 0.2): S_1 = 1.029653 nats;
    # z = far-apart tight class clusters gives A_Z = A_Y, so I = S(A_Y).
    labels = np.tile(np.repeat([0, 1, 2], [5, 3, 2]), 10)
    z = (np.eye(3)[labels] * 100 + 1e-3 * np.random.default_rng(0).normal(size=(100, 3)))
    e = rep.label_matrix_mi(z.astype(np.float32), labels, sigma=1.0, alpha=1.0)
    np.testing.assert_allclose(float(e.value), 1.029653, atol=2e-4)
    const = rep.label_matrix_mi(np.ones((100, 3), np.float32), labels, sigma=1.0)
    np.testing.assert_allclose(float(const.value), 0.0, atol=1e-5)
    zr = jnp.asarray(np.random.default_rng(1).normal(size=(100, 3)), jnp.float32)
    g = jax.grad(lambda a: rep.label_matrix_mi(a, labels).value)(zr)
    assert bool(jnp.all(jnp.isfinite(g))) and float(jnp.abs(g).sum()) > 0


@pytest.mark.parametrize("n", [2, 3, 40, 41])
def test_median_bandwidth_is_the_exact_median_with_its_gradient(n):
    """The bisection median (shared by every kernel estimator) equals the sort-based
    median, ties and even counts included, and passes the same gradient."""
    from infoest.ops import kernels

    rng = np.random.default_rng(n)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    if n > 3:  # (with two points a zero distance is the median: σ = 1 by the rule)
        x[1] = x[0]  # a zero distance
        x[3:6] = x[2]  # tied distances
    d2 = _pair_sq(x)
    np.testing.assert_allclose(float(kernels.median_bandwidth(jnp.asarray(x))),
                               np.sqrt(np.median(d2) / 2), rtol=1e-6)

    def by_sort(a):
        iu = jnp.triu_indices(n, k=1)
        return jnp.sqrt(jnp.median(kernels.sq_distances(a)[iu]) / 2)

    # gradient on tie-free data (with tied medians both are valid, differently split)
    x = jnp.asarray(rng.normal(size=(n, 3)), jnp.float32)
    np.testing.assert_allclose(np.asarray(jax.grad(kernels.median_bandwidth)(x)),
                               np.asarray(jax.grad(by_sort)(x)), atol=1e-6)


def _label_mi_replicates(n, reps, sigma, seed=0):
    """``reps`` data sets of a 3-class Gaussian mixture (class means 1.5 apart on a
    triangle, unit covariance in 2-d), drawn and estimated in one vmapped call."""
    means = 1.5 / np.sqrt(3) * jnp.asarray([[1.0, 0.0], [-0.5, 0.866], [-0.5, -0.866]])

    def one(key):
        ky, kz = jax.random.split(key)
        y = jax.random.randint(ky, (n,), 0, 3)
        z = means[y] + jax.random.normal(kz, (n, 2))
        e = rep.label_matrix_mi(z, y, sigma=sigma)
        return e.value, e.stderr

    keys = jax.random.split(jax.random.PRNGKey(seed), reps)
    value, stderr = jax.jit(jax.vmap(one))(keys)
    return np.asarray(value), np.asarray(stderr)


def _coverage_of_mean(value, stderr):
    """Share of the intervals value ± 1.96 stderr covering the replicates' mean (the
    estimator's expectation at this n: its bias is not what the stderr measures), and
    sd / mean stderr."""
    centre = value.mean()
    return float(np.mean(np.abs(value - centre) <= 1.96 * stderr)), float(
        value.std(ddof=1) / stderr.mean())


@pytest.mark.parametrize("sigma", [1.0, "median"])
def test_label_matrix_mi_stderr_is_calibrated(sigma):
    # 100 replicates at n = 100. A calibrated stderr covers ≈ 0.95 (0.935 for the jackknife's
    # 19 degrees of freedom); a Binomial(100, 0.94) count is below 85 with probability
    # ≈ 5e-4. A stderr half the true spread covers ≈ 0.67 and gives sd / stderr ≈ 2, one
    # twice too large covers ≈ 1.0 with sd / stderr ≈ 0.5: both fail the ratio band (the
    # ratio's own standard error at 100 replicates is ≈ 0.07).
    value, stderr = _label_mi_replicates(100, 100, sigma)
    assert np.all(np.isfinite(stderr)) and np.all(stderr > 0)
    cover, ratio = _coverage_of_mean(value, stderr)
    assert 0.85 <= cover <= 1.0, cover
    assert 0.75 <= ratio <= 1.3, ratio


@pytest.mark.slow
@pytest.mark.parametrize("sigma", [1.0, "median"])
def test_label_matrix_mi_stderr_is_calibrated_200(sigma):
    value, stderr = _label_mi_replicates(200, 200, sigma, seed=1)
    cover, ratio = _coverage_of_mean(value, stderr)
    assert 0.90 <= cover <= 0.99, cover
    assert 0.85 <= ratio <= 1.15, ratio


def test_one_decomposition_stderr_paths_equal_the_reverse_pass():
    """The closed-form influence stderrs of DSE (`stderr_method="influence"`) and of the
    matrix entropy (one eigh shared with the value) equal the reverse pass through a second
    decomposition that they replaced, and the value's gradient is unchanged."""
    from infoest.ops.kernels import gaussian_affinity
    from infoest.ops.spectral import gram_eigvalsh, spectrum_entropy
    from infoest.spectral._dse import _spectrum
    from infoest.spectral._matrix import _prepare, _weighted_spectrum
    from infoest.spectral._stderr import influence_stderr

    rng = np.random.default_rng(3)
    z = jnp.asarray(rng.normal(size=(100, 4)), jnp.float32)
    sigma, t = 0.7, 2.5
    ref = influence_stderr(lambda w, d: spectral.dse_from_spectrum(_spectrum(d, w), t),
                           gaussian_affinity(z, sigma))
    e = spectral.dse(z, sigma=sigma, t=t, stderr_method="influence")
    np.testing.assert_allclose(float(e.stderr), float(ref), rtol=1e-4)
    np.testing.assert_allclose(float(e.value), float(spectral.dse(z, sigma=sigma, t=t).value),
                               rtol=1e-6)
    # (jit: the unused jackknife stderr is dropped, not computed eagerly)
    grads = [jax.jit(jax.grad(lambda a, m=m: spectral.dse(a, sigma=sigma, t=t,
                                                          stderr_method=m).value))(z)
             for m in ("influence", "jackknife")]
    np.testing.assert_allclose(np.asarray(grads[0]), np.asarray(grads[1]), atol=1e-5)

    x = jnp.asarray(rng.normal(size=(100, 12)) * np.linspace(0.2, 3, 12), jnp.float32)
    u = _prepare(x, True, True)
    for alpha in (1.0, 2.0):
        ref = influence_stderr(lambda w, d, a=alpha: spectrum_entropy(_weighted_spectrum(d, w), a),
                               u)
        e = spectral.matrix_entropy(x, alpha=alpha)
        np.testing.assert_allclose(float(e.stderr), float(ref), rtol=1e-4)
        np.testing.assert_allclose(float(e.value),
                                   float(spectrum_entropy(gram_eigvalsh(u), alpha)), rtol=1e-6)
    g = jax.grad(lambda a: spectral.matrix_entropy(a).value)(x)
    g_ref = jax.grad(lambda a: spectrum_entropy(gram_eigvalsh(_prepare(a, True, True))))(x)
    np.testing.assert_allclose(np.asarray(g), np.asarray(g_ref), atol=1e-6)
