"""Tests of the shared compiled training driver ``infoest.train.fit``."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from infoest.train import STATUS, fit


def _line(n=256, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 1)).astype(np.float32)
    y = (2.0 * x + 1.0 + 0.01 * rng.normal(size=(n, 1))).astype(np.float32)
    return jnp.asarray(x), jnp.asarray(y)


def _mse(model, batch, key):
    del key
    x, y = batch
    loss = jnp.mean((jax.vmap(model)(x) - y) ** 2)
    return loss, {"mse": loss}


MODEL = eqx.nn.Linear(1, 1, key=jax.random.PRNGKey(0))
KEY = jax.random.PRNGKey(1)


def test_fits_a_line_and_records_the_curve():
    res = fit(_mse, MODEL, _line(), key=KEY, steps=300, batch_size=32, learning_rate=0.05)
    np.testing.assert_allclose(res.model.weight, [[2.0]], atol=0.02)
    np.testing.assert_allclose(res.model.bias, [1.0], atol=0.02)
    assert res.train_loss.shape == (300,)
    assert res.train_aux["mse"].shape == (300,)
    assert float(res.train_loss[-1]) < 1e-2 < float(res.train_loss[0])
    assert int(res.status) == STATUS["completed"] and int(res.steps_run) == 300
    assert res.ema_model is None and res.eval_loss.shape == (0,)


def test_vmap_over_keys_equals_separate_fits():
    keys = jax.random.split(KEY, 4)
    data = _line()

    def one(k):
        return fit(_mse, MODEL, data, key=k, steps=50, batch_size=16, learning_rate=0.05)

    batched = jax.vmap(one)(keys)
    for i in range(4):
        single = one(keys[i])
        np.testing.assert_allclose(batched.train_loss[i], single.train_loss, rtol=1e-5)
        np.testing.assert_allclose(batched.model.weight[i], single.model.weight, rtol=1e-5)


def test_vmap_over_learning_rate_and_datasets():
    data = jax.tree_util.tree_map(lambda *a: jnp.stack(a), _line(seed=0), _line(seed=1))
    lrs = jnp.array([0.05, 0.001])

    def one(d, lr):
        return fit(_mse, MODEL, d, key=KEY, steps=100, batch_size=16, learning_rate=lr)

    res = jax.vmap(one)(data, lrs)
    assert float(res.train_loss[0, -1]) < 0.1 < float(res.train_loss[1, -1])
    single = one(_line(seed=1), jnp.float32(0.001))
    np.testing.assert_allclose(res.train_loss[1], single.train_loss, rtol=1e-5)


def test_compiles_once_for_same_shapes():
    traces = []

    def loss(model, batch, key):
        traces.append(1)
        return _mse(model, batch, key)[0]

    for seed in (0, 1):
        fit(loss, MODEL, _line(seed=seed), key=KEY, steps=20, batch_size=16,
            learning_rate=0.01 * (seed + 1))
    n_first = len(traces)
    fit(loss, MODEL, _line(seed=2), key=KEY, steps=20, batch_size=16, learning_rate=0.5)
    assert len(traces) == n_first > 0


def test_early_stopping_is_a_mask():
    # The held-out metric never improves after the first evaluation.
    res = fit(_mse, MODEL, _line(), key=KEY, steps=200, batch_size=16, eval_fraction=0.25,
              eval_every=10, patience=3, eval_fn=lambda m, d, k: jnp.float32(1.0))
    assert int(res.status) == STATUS["early_stopped"]
    assert int(res.steps_run) == 40 and int(res.best_step) == 10
    assert np.isfinite(res.train_loss[:40]).all() and np.isnan(res.train_loss[40:]).all()
    assert res.eval_loss.shape == (20,) and np.isnan(res.eval_loss[4:]).all()
    np.testing.assert_array_equal(res.eval_steps[:3], [10, 20, 30])


def test_default_eval_uses_held_out_loss_and_keep_best():
    # Training drives w to 6; the held-out metric (w - 3)^2 is best half way.
    model = jnp.zeros(())

    def loss(w, batch, key):
        return (w - 6.0) ** 2 + 0.0 * jnp.sum(batch)

    res = fit(loss, model, jnp.zeros((64, 1)), key=KEY, steps=100, batch_size=8,
              optimizer=optax.sgd(0.01), eval_every=1, eval_data=jnp.zeros((8, 1)),
              eval_fn=lambda w, d, k: (w - 3.0) ** 2, keep_best=True)
    assert abs(float(res.model) - 3.0) < 0.1
    assert 1 <= int(res.best_step) < 100
    default = fit(loss, model, jnp.zeros((64, 1)), key=KEY, steps=30, batch_size=8,
                  optimizer=optax.sgd(0.01), eval_every=10, eval_fraction=0.5)
    expected = [36.0 * 0.98 ** (2 * t) for t in (10, 20, 30)]  # (w_t - 6)^2 under SGD
    np.testing.assert_allclose(default.eval_loss, expected, rtol=1e-4)


def test_ema_of_parameters():
    res = fit(_mse, MODEL, _line(), key=KEY, steps=100, batch_size=16, learning_rate=0.05,
              ema_decay=0.0)
    np.testing.assert_allclose(res.ema_model.weight, res.model.weight)
    frozen = fit(_mse, MODEL, _line(), key=KEY, steps=100, batch_size=16, learning_rate=0.05,
                 ema_decay=1.0)
    np.testing.assert_allclose(frozen.ema_model.weight, MODEL.weight)


def test_explicit_state_is_threaded():
    def loss(model, batch, key, count):
        value, aux = _mse(model, batch, key)
        return value, aux, count + 1

    res = fit(loss, MODEL, _line(), key=KEY, steps=37, batch_size=16, state=jnp.int32(0))
    assert int(res.state) == 37


def test_online_data_sees_the_step():
    def sample(key, step):
        x = jax.random.normal(key, (32, 1))
        return x, 2.0 * x + step.astype(jnp.float32) * 0.0 + 1.0

    res = fit(_mse, MODEL, sample, key=KEY, steps=300, learning_rate=0.05)
    np.testing.assert_allclose(res.model.weight, [[2.0]], atol=0.02)


def _nan_after(step0):
    def sample(key, step):
        x = jax.random.normal(key, (16, 1))
        bad = jnp.where(step >= step0, jnp.nan, 0.0)
        return x, 2.0 * x + bad
    return sample


def test_nan_stops_and_is_reported():
    res = fit(_mse, MODEL, _nan_after(5), key=KEY, steps=50, throw=False)
    assert bool(res.failed) and int(res.status) == STATUS["nonfinite"]
    assert int(res.steps_run) == 5
    assert np.isnan(res.train_loss[5:]).all() and np.isfinite(res.train_loss[:5]).all()
    assert np.isfinite(res.model.weight).all()
    with pytest.raises(Exception, match="NaN/inf"):
        fit(_mse, MODEL, _nan_after(5), key=KEY, steps=50)


def test_progress_bar_runs_under_vmap(capsys):
    keys = jax.random.split(KEY, 2)
    res = jax.vmap(lambda k: fit(_mse, MODEL, _line(), key=k, steps=20, batch_size=16,
                                 progress=True))(keys)
    assert res.train_loss.shape == (2, 20)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(batch_size=1000), "batch_size"),
        (dict(batch_size=16, eval_every=10), "held-out"),
        (dict(batch_size=16, patience=2), "eval_every"),
        (dict(batch_size=16, eval_fraction=1.5), "eval_fraction"),
        (dict(batch_size=16, eval_every=500, eval_fraction=0.2), "eval_every"),
        (dict(), "batch_size"),
    ],
)
def test_bad_configuration_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fit(_mse, MODEL, _line(), key=KEY, steps=100, **kwargs)


def test_mismatched_data_raises():
    x, y = _line()
    with pytest.raises(ValueError, match="axis-0"):
        fit(_mse, MODEL, (x, y[:-1]), key=KEY, steps=10, batch_size=8)
    with pytest.raises(TypeError, match="steps"):
        fit(_mse, MODEL, (x, y), key=KEY, steps=10.0, batch_size=8)
