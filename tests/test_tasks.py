"""Ground-truth tasks: exact values against the reference tables, samplers against their laws."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import infoest
from infoest import tasks
from infoest.tasks import distributions as D

KEY = jax.random.PRNGKey(0)

# ground_truth.md §9 (BMI v1 base tasks) and classical.md §2 (Student-t), 4 decimals.
BMI_BASE = {
    "1v1-normal-0.75": 0.4133,
    "1v1-additive-0.1": 1.7094,
    "1v1-additive-0.75": 0.3333,
    "student-identity-1-1-1": 0.2242,
    "multinormal-dense-2-2-0.5": 0.2939,
    "multinormal-dense-3-3-0.5": 0.4133,
    "multinormal-dense-5-5-0.5": 0.5928,
    "multinormal-dense-25-25-0.5": 1.2922,
    "multinormal-dense-50-50-0.5": 1.6243,
    "multinormal-sparse-2-2-2-2.0": 1.0217,
    "multinormal-sparse-3-3-2-2.0": 1.0217,
    "multinormal-sparse-5-5-2-2.0": 1.0217,
    "multinormal-sparse-25-25-2-2.0": 1.0217,
    "student-identity-2-2-1": 0.4319,
    "student-identity-2-2-2": 0.1931,
    "student-identity-3-3-2": 0.2909,
    "student-identity-3-3-3": 0.1787,
    "student-identity-5-5-2": 0.4482,
    "student-identity-5-5-3": 0.2985,
}


@pytest.mark.parametrize(("dims", "value"), [
    ((1, 1, 1), 0.2242), ((2, 2, 1), 0.4319), ((2, 2, 2), 0.1931), ((3, 3, 2), 0.2909),
    ((3, 3, 3), 0.1787), ((5, 5, 2), 0.4482), ((5, 5, 3), 0.2985),
])
def test_student_identity_truth_matches_table(dims, value):
    assert D.student_t(*dims).value == pytest.approx(value, abs=1e-4)


def test_student_entropy_matches_scipy():
    for d, df in [(1, 1.0), (2, 3.0), (5, 2.5)]:
        expected = stats.multivariate_t(loc=np.zeros(d), shape=np.eye(d), df=df).entropy()
        assert D.student_t_entropy_closed_form(d, df) == pytest.approx(expected, abs=1e-10)


def test_student_with_dispersion_adds_gaussian_part():
    omega = np.array([[1.0, 0.6], [0.6, 1.0]])
    task = D.student_t(1, 1, 3.0, dispersion=omega)
    assert task.value == pytest.approx(-0.5 * np.log(1 - 0.36) + D.student_t(1, 1, 3.0).value,
                                       abs=1e-12)


def _base_name(name: str) -> str:
    """The BMI base task of a (possibly repeatedly) transformed task id."""
    while name not in BMI_BASE:
        if name == "1v1-bimodal-0.75":
            return "1v1-normal-0.75"
        name = name.split("-", 1)[1]
    return name


def test_bmi_v1_names_and_truths():
    v1 = tasks.bmi_v1()
    by_name = {t.name: t.value for t in v1}
    assert len(by_name) == len(v1) == 40
    for name, value in BMI_BASE.items():
        assert by_name[name] == pytest.approx(value, abs=1e-4), name
    for name, value in by_name.items():  # transformed variants keep their base's truth
        assert value == pytest.approx(BMI_BASE[_base_name(name)], abs=1e-4), name
    new = {"1v1-bimodal-0.75", "wiggly-1v1-normal-0.75",
           "swissroll_x-normal_cdf-1v1-normal-0.75"}
    new |= {f"spiral-{p}multinormal-sparse-{d}-{d}-2-2.0" for p in ("", "normal_cdf-")
            for d in (3, 5, 25)}
    assert new <= set(by_name)
    assert len([t for t in tasks.all_tasks("mutual_information") if t.name in by_name]) == 40


def _same_order(base, mapped):
    """Every column of ``mapped`` is a non-decreasing function of the same column of ``base``."""
    base, mapped = np.asarray(base, np.float64), np.asarray(mapped, np.float64)
    for c in range(base.shape[1]):
        order = np.argsort(base[:, c], kind="stable")
        assert np.all(np.diff(mapped[order, c]) >= 0), c


def test_bimodal_and_wiggly_are_increasing_maps_of_the_binormal():
    # Invariance argument: the maps are strictly increasing, so I(X;Y) is the binormal's.
    from infoest.tasks import bmi

    z = bmi.bivariate_normal(0.75).sample(KEY, 4000)
    for task in (bmi.bimodal(0.75), bmi.wiggly(bmi.bivariate_normal(0.75))):
        mapped = task.sample(KEY, 4000)
        for a, b in zip(z, mapped, strict=True):
            _same_order(a, b)
    grid = jnp.linspace(-8.0, 8.0, 20001)
    for fn in (bmi.wiggly_x, bmi.wiggly_y, bmi.bimodal_icdf_x, bmi.bimodal_icdf_y):
        assert float(jnp.min(jnp.diff(fn(grid)))) > 0, fn.__name__
    # the inverse CDF inverts the mixture CDF, and the margins follow the mixture
    u = jnp.linspace(0.001, 0.999, 999)
    t = bmi.mixture_quantile(jax.scipy.special.ndtri(u), *bmi.BIMODAL_X)
    cdf = 0.3 * stats.norm.cdf(np.asarray(t)) + 0.7 * stats.norm.cdf(np.asarray(t) - 5.0)
    np.testing.assert_allclose(cdf, u, atol=2e-6)
    x, _ = bmi.bimodal(0.75).sample(KEY, 4000)
    mix_cdf = lambda v: 0.3 * stats.norm.cdf(v) + 0.7 * stats.norm.cdf(v - 5.0)  # noqa: E731
    assert stats.kstest(np.asarray(x).ravel(), mix_cdf).pvalue > 0.01


def test_spiral_and_swiss_roll_are_invertible():
    # Invariance argument: both maps have an explicit inverse on the sampled points.
    from infoest.tasks import bmi

    for base in (D.multinormal_sparse(3, 3), D.transformed(D.multinormal_sparse(5, 5),
                                                           D.normal_cdf)):
        (x0, y0), (x1, y1) = base.sample(KEY, 2000), bmi.spiral(base).sample(KEY, 2000)
        dx, dy = x0.shape[1], y0.shape[1]
        assert not np.allclose(x0, x1, atol=0.05)
        np.testing.assert_allclose(bmi.spiral_map(x1, (0, 1), -1.0 / dx), x0, atol=1e-4)
        np.testing.assert_allclose(bmi.spiral_map(y1, (1, 2), -1.0 / dy), y0, atol=1e-4)
    uniform = D.transformed(D.bivariate_normal(0.75), D.normal_cdf)
    (u, v), (roll, v1) = uniform.sample(KEY, 2000), bmi.swiss_roll(uniform).sample(KEY, 2000)
    assert roll.shape == (2000, 2)
    recovered = (21.0 * jnp.linalg.norm(roll, axis=1) / (1.5 * jnp.pi) - 1.0) / 2.0
    np.testing.assert_allclose(recovered, u[:, 0], atol=1e-5)
    np.testing.assert_array_equal(v, v1)
    with pytest.raises(ValueError, match="dy >= 3"):
        bmi.spiral(D.multinormal_sparse(2, 2))
    with pytest.raises(ValueError, match="one-dimensional"):
        bmi.swiss_roll(D.multinormal_sparse(2, 2))


def test_new_bmi_tasks_large_n_estimate():
    # A numerical check of the truth beside the invariance argument: KSG on the 1x1 maps
    # and on the Swiss roll, at n = 10 000.
    from infoest.tasks import bmi

    for task in (bmi.bimodal(0.75), bmi.wiggly(bmi.bivariate_normal(0.75))):
        x, y = task.sample(KEY, 10_000)
        est = infoest.mutual_information(x, y, method="ksg", k=4)
        assert float(est.value) == pytest.approx(task.value, abs=0.03), task.name
    task = bmi.swiss_roll(D.transformed(D.bivariate_normal(0.75), D.normal_cdf))
    x, y = task.sample(KEY, 10_000)
    assert float(infoest.mutual_information(x, y, method="ksg", k=4).value) == pytest.approx(
        task.value, abs=0.05)


def test_closed_forms_of_other_quantities():
    assert D.bivariate_normal(0.5).value == pytest.approx(0.143841, abs=1e-6)
    assert D.gaussian_chain(0.5).value == pytest.approx(0.111572, abs=1e-6)
    assert D.gaussian_chain(0.0).value == pytest.approx(0.0, abs=1e-12)
    red3 = D.gaussian_o_information(np.full((3, 3), 0.7) + 0.3 * np.eye(3))
    assert red3.value == pytest.approx(0.2438, abs=1e-4)  # ground_truth.md §5
    cov = np.array([[2.0, 0.3, 0.1], [0.3, 1.0, 0.2], [0.1, 0.2, 0.5]])
    expected = stats.multivariate_normal(np.zeros(3), cov).entropy()
    assert D.gaussian_entropy(cov).value == pytest.approx(expected, abs=1e-10)
    assert D.uniform_entropy(3, 2.0).value == pytest.approx(3 * np.log(2.0))


def _cov(a):
    return np.cov(np.asarray(a, dtype=np.float64), rowvar=False)


def test_multinormal_sample_covariance():
    task = D.multinormal_dense(3, 2, 0.5)
    x, y = task.sample(KEY, 40_000)
    assert x.shape == (40_000, 3) and y.shape == (40_000, 2)
    target = np.full((5, 5), 0.5) + 0.5 * np.eye(5)
    np.testing.assert_allclose(_cov(jnp.concatenate([x, y], axis=1)), target, atol=0.03)


def test_chain_and_oinfo_sample_covariance():
    x, y, z = D.gaussian_chain(0.5).sample(KEY, 40_000)
    est = infoest.gaussian.conditional_mutual_information(x, y, z)
    assert float(est) == pytest.approx(0.111572, abs=0.01)
    task = D.gaussian_o_information(np.eye(6) * 0.5 + 0.5, sizes=(2, 2, 2))
    (variables,) = task.sample(KEY, 1000)
    assert [v.shape for v in variables] == [(1000, 2)] * 3


@pytest.mark.parametrize("task", [D.multinormal_dense(5, 5), D.multinormal_sparse(5, 5)],
                         ids=lambda t: t.name)
def test_gaussian_plugin_recovers_truth(task):
    x, y = task.sample(KEY, 40_000)
    assert float(infoest.gaussian.mutual_information(x, y)) == pytest.approx(task.value,
                                                                             abs=0.01)


def test_student_sampler_radial_law():
    # ‖Z‖²/d of a d-dim t with identity dispersion follows F(d, ν).
    d, df = 4, 3.0
    x, y = D.student_t(2, 2, df).sample(KEY, 5000)
    r2 = np.sum(np.concatenate([x, y], axis=1) ** 2, axis=1) / d
    assert stats.kstest(r2, stats.f(d, df).cdf).pvalue > 0.01


def test_additive_uniform_and_normal_cdf_margins():
    eps = 0.1
    x, y = D.additive_uniform(eps).sample(KEY, 5000)
    noise = np.asarray(y - x)
    assert np.all(np.abs(noise) <= eps + 1e-6)
    assert stats.kstest(noise.ravel(), stats.uniform(-eps, 2 * eps).cdf).pvalue > 0.01
    u, v = D.transformed(D.bivariate_normal(0.75), D.normal_cdf).sample(KEY, 5000)
    assert stats.kstest(np.asarray(u).ravel(), "uniform").pvalue > 0.01
    assert stats.spearmanr(u.ravel(), v.ravel()).statistic > 0.6


def test_transforms_and_standardisation():
    base = D.bivariate_normal(0.75)
    (x0, _), (x1, _) = base.sample(KEY, 100), D.transformed(base, D.half_cube).sample(KEY, 100)
    np.testing.assert_allclose(x1, x0 * np.sqrt(np.abs(x0)), rtol=1e-6)
    xs, _ = D.standardized(D.multinormal_dense(2, 2)).sample(KEY, 500)
    np.testing.assert_allclose(xs.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(xs.std(axis=0), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="entropy"):
        D.transformed(D.uniform_entropy(), D.asinh)


def test_samplers_are_pure_and_vmappable():
    task = D.multinormal_dense(1, 1, 0.5)
    a, b = task.sample(KEY, 50), task.sample(KEY, 50)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], task.sample(jax.random.PRNGKey(1), 50)[0])
    xs, ys = jax.vmap(lambda k: task.sample(k, 50))(jax.random.split(KEY, 3))
    assert xs.shape == (3, 50, 1)
    np.testing.assert_array_equal(xs[0], task.sample(jax.random.split(KEY, 3)[0], 50)[0])


def test_bad_parameters_raise():
    with pytest.raises(ValueError, match="rho"):
        D.bivariate_normal(1.0)
    with pytest.raises(ValueError, match="positive definite"):
        D.multinormal(np.ones((2, 2)), 1)
    with pytest.raises(ValueError, match="n_interacting"):
        D.multinormal_sparse(2, 2, n_interacting=3)
    with pytest.raises(ValueError, match="at least 3"):
        D.gaussian_o_information(np.eye(2))


def test_discovery():
    full, quick = tasks.all_tasks(), tasks.all_tasks(quick=True)
    assert len({t.name for t in full}) == len(full)
    for module in tasks.MODULES:
        mine = getattr(module, "tasks", lambda quick: [])(quick=True)
        for q in {(t.quantity, t.measure) for t in mine}:  # a method meets its measure only
            assert 1 <= sum((t.quantity, t.measure) == q for t in mine) <= 2, (module.__name__, q)
    assert {t.quantity for t in tasks.all_tasks("entropy")} == {"entropy"}
    assert tasks.get("1v1-normal-0.75").value == pytest.approx(0.413339, abs=1e-6)
    with pytest.raises(ValueError, match="unknown task"):
        tasks.get("no-such-task")
    assert all(isinstance(t, tasks.Task) for t in quick)


def test_spectral_tasks_truths_and_pairing():
    from infoest import bench
    from infoest.tasks import spectral as S

    found = {t.name: t for t in S.tasks(quick=True)}
    assert {t.measure for t in found.values()} == {"von-neumann", "diffusion", "matrix-renyi"}
    key = jax.random.PRNGKey(3)
    x, = found["matrix-subspace-8-in-64"].sample(key, 400)
    est = infoest.entropy(x, method="matrix")
    assert abs(float(est.value) - np.log(8)) < 8 / 400  # bias ≈ −k / (2n)
    # cluster tasks: exact at the tasks' bandwidth, wrong (far off) for Shannon estimators
    for name, method in [("dse-clusters-4", "dse"), ("renyi-clusters-4", "renyi")]:
        x, = found[name].sample(key, 200)
        value = infoest.entropy(x, method=method, sigma=S.SIGMA).value
        assert float(value) == pytest.approx(np.log(4), abs=1e-4)  # float32
    x, y = found["renyi-mi-clusters-4"].sample(key, 200)
    value = infoest.mutual_information(x, y, method="matrix", sigma=S.SIGMA).value
    assert float(value) == pytest.approx(np.log(4), abs=1e-4)
    x, labels = found["dsmi-clusters-4"].sample(key, 200)
    value = infoest.mutual_information(x, labels, method="dsmi", sigma=S.SIGMA, key=key).value
    assert float(value) == pytest.approx(np.log(4), abs=1e-4)
    # the runner pairs methods and tasks of the same quantity and measure only
    pairs = bench.plan(bench.select_methods(["entropy:*", "mutual_information:*"]),
                       bench.select_tasks(quick=True))
    assert pairs and all(m.measure == t.measure and m.quantity == t.quantity for m, t in pairs)
    assert {(m.name, t.name) for m, t in pairs if m.name == "dse"} == {("dse", "dse-clusters-4")}
    assert all(t.measure == "shannon" for m, t in pairs if m.name in ("kl", "ksg", "gaussian"))
