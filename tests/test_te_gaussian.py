"""Gaussian TE against closed forms, OLS Granger, surrogate and analytic significance."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import infoest
from infoest.tasks import processes
from infoest.temporal.surrogates import surrogate_indices

TRUTH = 0.5 * np.log(55 / 42)  # 0.134832, a = b = c = 0.5, unit noise, k = l = 1


@pytest.fixture(scope="module")
def ar_long():
    x, y = processes.coupled_ar1().sample(jax.random.PRNGKey(3), 20_000)
    return np.asarray(x[:, 0]), np.asarray(y[:, 0])


def test_closed_forms_and_lyapunov_match_reference_table():
    assert processes.coupled_ar1_te() == pytest.approx(0.134832, abs=1e-6)
    assert processes.coupled_ar1_te(history=None) == pytest.approx(0.134638, abs=1e-6)
    assert processes.coupled_ar1_te(0.7, -0.3, 0.4) == pytest.approx(0.126874, abs=1e-6)
    assert processes.coupled_ar1_te(0.5, 0.5, 0.5, 2, 0.5, None) == pytest.approx(0.378714, 1e-5)
    assert processes.coupled_ar1_te(history=3) == pytest.approx(0.134642, abs=1e-6)
    assert processes.coupled_ar1(0.9, 0.2, 1.0).value == pytest.approx(0.463479, abs=1e-6)
    assert abs(processes.coupled_ar1(reverse=True).value) < 1e-12


def test_feedback_capacities_match_reference():
    assert processes.feedback_capacity(1.0, 0.5, "ar") == pytest.approx(0.496815, abs=1e-6)
    assert processes.feedback_capacity(1.0, 0.5, "ma") == pytest.approx(0.546191, abs=1e-6)
    assert processes.feedback_capacity(0.01, 0.5, "ma") == pytest.approx(0.018909, abs=1e-6)
    # the linear feedback scheme's directed information converges to the capacity
    for noise in ("ar", "ma"):
        task = processes.feedback_channel(noise=noise, history=16)
        assert task.value == pytest.approx(task.params["capacity"], abs=1e-8)


def test_gaussian_te_recovers_ar1_truth(ar_long):
    x, y = ar_long
    est = infoest.transfer_entropy(x, y, method="gaussian")
    assert abs(float(est) - TRUTH) < 0.01
    assert float(est.diagnostics["chi2_p_value"]) < 1e-6
    back = infoest.transfer_entropy(y, x, method="gaussian")
    assert abs(float(back)) < 0.002


def test_gaussian_te_is_half_granger_log_variance_ratio(ar_long):
    x, y = (a[:3000].astype(np.float64) for a in ar_long)
    k = 2
    t = np.arange(k, len(y))
    ypast = np.stack([y[t - j] for j in range(1, k + 1)], 1)
    xpast = np.stack([x[t - j] for j in range(1, k + 1)], 1)
    ones = np.ones((len(t), 1))

    def resvar(design):
        beta, *_ = np.linalg.lstsq(design, y[t], rcond=None)
        return np.mean((y[t] - design @ beta) ** 2)

    granger = 0.5 * np.log(resvar(np.hstack([ones, ypast])) / resvar(np.hstack([ones, ypast,
                                                                                  xpast])))
    with jax.enable_x64(True):
        est = infoest.transfer_entropy(x, y, method="gaussian", history=k)
    np.testing.assert_allclose(float(est), granger, rtol=1e-8)


def test_surrogate_p_values(ar_long):
    x, y = (a[:4000] for a in ar_long)
    key = jax.random.PRNGKey(0)
    fwd = infoest.transfer_entropy(x, y, method="gaussian", surrogates=100, key=key)
    bwd = infoest.transfer_entropy(y, x, method="gaussian", surrogates=100, key=key)
    assert float(fwd.diagnostics["p_value"]) < 0.01
    assert float(bwd.diagnostics["p_value"]) > 0.05
    assert fwd.diagnostics["null"].shape == (100,)
    eff = fwd.diagnostics["effective_te"]
    np.testing.assert_allclose(eff, fwd.value - fwd.diagnostics["null"].mean(), rtol=1e-5)
    assert abs(float(fwd.diagnostics["null_mean"])) < 0.005
    est = infoest.transfer_entropy(x, y, method="gaussian", surrogates=20, key=key,
                                   surrogate="shift")
    assert float(est.diagnostics["p_value"]) == pytest.approx(1 / 21)


def test_surrogate_indices_are_permutations():
    key = jax.random.PRNGKey(1)
    for kind in ("shuffle", "block", "shift"):
        idx = np.asarray(surrogate_indices(key, 103, kind, 10 if kind == "block" else None))
        np.testing.assert_array_equal(np.sort(idx), np.arange(103))
        assert not np.array_equal(idx, np.arange(103))
    blk = np.asarray(surrogate_indices(key, 103, "block", 10))
    assert np.all(np.diff(blk[:100].reshape(10, 10), axis=1) == 1)  # blocks stay contiguous
    np.testing.assert_array_equal(blk[100:], [100, 101, 102])  # remainder in place


def test_vmap_with_surrogates_equals_loop(ar_long):
    xs = np.stack([ar_long[0][i * 500:(i + 1) * 500] for i in range(3)])
    ys = np.stack([ar_long[1][i * 500:(i + 1) * 500] for i in range(3)])
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    f = lambda a, b, k: infoest.transfer_entropy(a, b, method="gaussian", history=2,
                                                 surrogates=10, key=k)
    batch = jax.vmap(f)(xs, ys, keys)
    for i in range(3):
        one = f(xs[i], ys[i], keys[i])
        np.testing.assert_allclose(batch.value[i], one.value, rtol=1e-5)
        np.testing.assert_allclose(batch.diagnostics["null"][i], one.diagnostics["null"],
                                   rtol=1e-4, atol=1e-7)


def test_grad_through_gaussian_te(ar_long):
    x, y = (jnp.asarray(a[:1000]) for a in ar_long)
    g = jax.grad(lambda s: infoest.transfer_entropy(s * x, y, method="gaussian").value)(2.0)
    assert abs(float(g)) < 1e-3  # TE is scale invariant


def test_bad_options_raise():
    x = np.zeros(50, np.float32) + np.linspace(0, 1, 50, dtype=np.float32)
    with pytest.raises(ValueError, match="key"):
        infoest.transfer_entropy(x, x, method="gaussian", surrogates=10)
    with pytest.raises(ValueError, match="surrogate"):
        infoest.transfer_entropy(x, x, method="gaussian", surrogates=10, surrogate="x",
                                 key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="too short|needs at least"):
        infoest.transfer_entropy(x[:5], x[:5], method="gaussian", history=5)
    with pytest.raises(TypeError, match="history"):
        infoest.transfer_entropy(x, x, method="gaussian", history=2.0)
