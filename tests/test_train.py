"""Tests of the shared compiled training driver ``infoest.train.fit``."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

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


def _counting_loss():
    """(loss, traces): the MSE loss, appending to ``traces`` each time it is traced."""
    traces = []

    def loss(model, batch, key):
        traces.append(1)
        return _mse(model, batch, key)[0]

    return loss, traces


def test_compiles_once_for_same_shapes():
    loss, traces = _counting_loss()

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


# ----------------------------------------------------------------------------- the pieces

from infoest.train import (  # noqa: E402
    Hyper,
    Objective,
    Plan,
    diverged,
    evaluate,
    init,
    next_rows,
    step,
)


def _hyper(**kw):
    base = dict(learning_rate=jnp.float32(0.1), min_delta=jnp.float32(0.0),
                max_loss=jnp.float32(jnp.inf), ema_decay=None)
    return Hyper(**{**base, **kw})


def _guarded_sgd(lr=0.1):
    return optax.apply_if_finite(optax.sgd(lr), max_consecutive_errors=10**6)


def test_step_applies_sgd_and_rejects_a_nan_or_exploding_loss():
    def quad(w, batch, key, st):
        return jnp.sum((w - batch) ** 2), (None, st)

    plan = Plan(steps=3)
    opt = _guarded_sgd()
    s0 = init(jnp.zeros(2), opt, plan=plan)
    s1, (loss, _) = step(s0, jnp.ones(2), KEY, objective=quad, optimizer=opt, hyper=_hyper())
    np.testing.assert_allclose(s1.params, [0.2, 0.2])  # w - 0.1 * 2 (w - 1)
    assert float(loss) == 2.0 and bool(s1.active) and int(s1.steps_run) == 1
    s2, _ = step(s1, jnp.array([jnp.nan, 1.0]), KEY, objective=quad, optimizer=opt,
                 hyper=_hyper())
    np.testing.assert_allclose(s2.params, s1.params)
    assert not bool(s2.active) and int(s2.status) == STATUS["nonfinite"]
    s3, _ = step(s1, jnp.full(2, 100.0), KEY, objective=quad, optimizer=opt,
                 hyper=_hyper(max_loss=jnp.float32(1e3)))
    np.testing.assert_allclose(s3.params, s1.params)
    assert int(s3.status) == STATUS["exploded"] and int(s3.steps_run) == 1


def test_next_rows_is_an_epoch_permutation():
    plan = Plan(steps=10, batch_size=4, n_train=10)
    s = init(jnp.zeros(1), optax.sgd(0.1), plan=plan)
    rows = []
    for i in range(2):
        s, r = next_rows(s, jnp.int32(i), KEY, plan)
        rows.append(np.asarray(r))
    seen = np.concatenate(rows)
    assert len(set(seen.tolist())) == 8 and seen.max() < 10  # distinct rows in one epoch
    s, r = next_rows(s, jnp.int32(2), KEY, plan)  # a new epoch: a new permutation
    assert not np.array_equal(np.asarray(r), rows[0])


def test_evaluate_counts_patience_and_keeps_the_best():
    plan = Plan(steps=10, eval_every=1, patience=2, keep_best=True)
    s = init(jnp.float32(0.0), optax.sgd(0.1), plan=plan)
    for i, (w, metric) in enumerate([(1.0, 3.0), (2.0, 1.0), (3.0, 2.0), (4.0, 1.5)]):
        s = dataclasses.replace(s, params=jnp.float32(w))
        s, value = evaluate(s, jnp.int32(i), lambda p, st, m=metric: jnp.float32(m),
                            hyper=_hyper(), plan=plan)
    assert float(s.best_eval) == 1.0 and int(s.best_step) == 2 and float(s.best) == 2.0
    assert not bool(s.active) and int(s.status) == STATUS["early_stopped"]


def test_objective_adapts_the_three_loss_forms():
    static = None
    plain = Objective(lambda m, b, k: m * b, static, False)
    with_aux = Objective(lambda m, b, k: (m * b, {"a": b}), static, False)
    stateful = Objective(lambda m, b, k, s: (m * b, None, s + 1), static, True)
    assert plain(2.0, 3.0, KEY, None) == (6.0, (None, None))
    assert with_aux(2.0, 3.0, KEY, None)[1][0] == {"a": 3.0}
    assert stateful(2.0, 3.0, KEY, 4)[1][1] == 5


def test_exploding_loss_is_diverged():
    def loss(model, batch, key):
        return _mse(model, batch, key)[0] * 1e6

    res = fit(loss, MODEL, _line(), key=KEY, steps=20, batch_size=16, max_loss=10.0,
              throw=False)
    assert int(res.status) == STATUS["exploded"] and bool(diverged(res)) and res.diverged
    assert int(res.steps_run) == 0


def test_diverged_sees_a_nonfinite_ema():
    res = fit(_mse, MODEL, _line(), key=KEY, steps=5, batch_size=16, ema_decay=0.5)
    assert not bool(diverged(res))
    bad = eqx.tree_at(lambda r: r.ema_model.weight, res, res.ema_model.weight * jnp.nan)
    assert bool(diverged(bad))


@pytest.mark.parametrize("lr", [float("nan"), -1.0, 0.0, float("inf")])
def test_bad_learning_rate_raises_naming_it(lr):
    with pytest.raises(ValueError, match="learning_rate"):
        fit(_mse, MODEL, _line(), key=KEY, steps=5, batch_size=16, learning_rate=lr)


def test_optimizer_constructor_and_reused_instance_do_not_recompile():
    loss, traces = _counting_loss()

    for lr in (0.01, 0.02):
        fit(loss, MODEL, _line(), key=KEY, steps=5, batch_size=16, optimizer=optax.sgd,
            learning_rate=lr)
    first = len(traces)
    fit(loss, MODEL, _line(), key=KEY, steps=5, batch_size=16, optimizer=optax.sgd,
        learning_rate=0.5)
    assert len(traces) == first
    opt = optax.adam(1e-3)
    fit(loss, MODEL, _line(), key=KEY, steps=5, batch_size=16, optimizer=opt)
    second = len(traces)
    fit(loss, MODEL, _line(seed=3), key=KEY, steps=5, batch_size=16, optimizer=opt)
    assert len(traces) == second
    fit(loss, MODEL, _line(), key=KEY, steps=5, batch_size=16, optimizer=_Momentum(0.9))
    third = len(traces)
    fit(loss, MODEL, _line(), key=KEY, steps=5, batch_size=16, optimizer=_Momentum(0.9),
        learning_rate=0.3)
    assert len(traces) == third > second


class _Momentum(eqx.Module):
    """A configured optimiser constructor that hashes by value."""

    momentum: float = eqx.field(static=True)

    def __call__(self, learning_rate):
        return optax.sgd(learning_rate, momentum=self.momentum)


def test_vmap_of_fits_closing_over_batched_values():
    # The online sampler closes over a batched slope; fits run one after another on CPU.
    def one(slope):
        def sample(key, step):
            x = jax.random.normal(key, (32, 1))
            return x, slope * x

        return fit(_mse, MODEL, sample, key=KEY, steps=200, learning_rate=0.05).model.weight

    slopes = jnp.array([1.0, -2.0, 3.0])
    np.testing.assert_allclose(jax.vmap(one)(slopes)[:, 0, 0], slopes, atol=0.02)


_SHARDED = """
import jax, jax.numpy as jnp, numpy as np, equinox as eqx
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
from infoest.train import fit
assert jax.device_count() == 4
rng = np.random.default_rng(0)
x = jnp.asarray(rng.normal(size=(512, 3)), jnp.float32)
y = x @ jnp.asarray([[1.0], [-2.0], [0.5]]) + 0.1
model = eqx.nn.MLP(3, 1, 16, 1, key=jax.random.PRNGKey(0))
def loss(m, batch, key):
    return jnp.mean((jax.vmap(m)(batch[0]) - batch[1]) ** 2)
mesh = Mesh(np.array(jax.devices()), ("data",))
rows = NamedSharding(mesh, P("data"))
one = fit(loss, model, (x, y), key=jax.random.PRNGKey(1), steps=50, batch_size=64)
xs, ys = jax.device_put(x, rows), jax.device_put(y, rows)
par = fit(loss, model, (xs, ys), key=jax.random.PRNGKey(1), steps=50, batch_size=64,
          sharding=rows)
np.testing.assert_allclose(par.train_loss, one.train_loss, rtol=2e-4, atol=1e-6)
np.testing.assert_allclose(par.model.layers[0].weight, one.model.layers[0].weight, rtol=1e-3,
                           atol=1e-5)
print("OK", float(one.train_loss[-1]))
"""


def test_data_parallel_fit_equals_one_device():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
           "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", _SHARDED], env=env, timeout=300,
                         capture_output=True, text=True)
    assert out.returncode == 0 and "OK" in out.stdout, out.stderr[-2000:]
