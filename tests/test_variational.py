"""Neural MI estimators (infoest.variational): accuracy, transformations, failure modes."""

from __future__ import annotations

import logging
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import infoest
from infoest import variational as var
from infoest.train import STATUS

RHO = 0.8
TRUTH = -math.log(1 - RHO**2)  # two independent pairs with correlation 0.8: 1.0217 nats
FAST = dict(critic="separable", hidden=(16,), embed_dim=8, steps=300, batch_size=64,
            learning_rate=5e-3, select="last", patience=None)


def _gaussian(n=1000, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    y = RHO * x + math.sqrt(1 - RHO**2) * rng.normal(size=(n, 2))
    return x.astype(dtype), y.astype(dtype)


# The defaults' held-out selection at test size: the bound on all pairs of 256 held-out rows
# every 25 steps, the best critic kept.
SELECTED = dict(critic="joint", hidden=(16, 8), steps=300, batch_size=64, learning_rate=5e-3,
                eval_every=25, eval_size=256, patience=None, select="best")


@pytest.mark.parametrize("method", ["smile", "mine", "nwj", "infonce", "dv"])
def test_estimate_close_to_truth(method):
    x, y = _gaussian()
    est = infoest.mutual_information(x, y, method=method, key=jax.random.PRNGKey(0), **SELECTED)
    assert est.method == method and est.units == "nats"
    assert int(est.diagnostics["train_status"]) == STATUS["completed"]
    assert est.diagnostics["train_curve"].shape == (300,)
    assert est.diagnostics["eval_curve"].shape == (12,)
    assert abs(float(est) - TRUTH) < 0.15 * TRUTH, float(est)


def test_independent_data_gives_about_zero():
    x, _ = _gaussian(seed=1)
    _, y = _gaussian(seed=2)
    est = var.mutual_information(x, y, key=jax.random.PRNGKey(0), **FAST)
    assert abs(float(est)) < 0.1


def test_smile_with_infinite_tau_is_dv_and_infonce_is_capped():
    x, y = _gaussian()
    fitted = var.fit_critic(x, y, bound="smile", tau=jnp.inf, key=jax.random.PRNGKey(0),
                            critic="separable", hidden=(16,), embed_dim=8, steps=100,
                            batch_size=64)
    xs, ys = _gaussian(200, seed=3)
    smile = var.evaluate(fitted, xs, ys)
    dv = var.evaluate(fitted, xs, ys, bound="dv")
    np.testing.assert_allclose(float(smile), float(dv), rtol=1e-6)
    assert float(var.evaluate(fitted, xs[:8], ys[:8], bound="infonce")) <= math.log(8) + 1e-6


def test_fit_then_evaluate_on_new_data():
    x, y = _gaussian(2000)
    fitted = var.fit_critic(x, y, bound="dv", key=jax.random.PRNGKey(1), **FAST)
    assert isinstance(fitted, var.CriticFit) and fitted.training.train_loss.shape == (300,)
    new = var.evaluate(fitted, *_gaussian(1000, seed=5))
    assert abs(float(new) - TRUTH) < 0.15 * TRUTH
    # the estimate transforms with the data: shifting/scaling x is undone by standardisation
    x2, y2 = _gaussian(1000, seed=5)
    shifted = var.evaluate(fitted, x2, y2)
    np.testing.assert_allclose(float(shifted), float(new), rtol=1e-6)


def test_vmap_over_seeds_equals_separate_fits():
    x, y = _gaussian(256)
    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    kwargs = dict(critic="separable", hidden=(8,), embed_dim=4, steps=30, batch_size=32,
                  select="last", patience=None)

    def one(k):
        return var.mutual_information(x, y, key=k, **kwargs).value

    batched = jax.vmap(one)(keys)
    looped = [float(one(k)) for k in keys]
    np.testing.assert_allclose(batched, looped, rtol=1e-4, atol=1e-5)
    assert len(set(np.round(looped, 5))) == 4  # the seeds really differ


def test_vmap_over_tau_is_one_call():
    x, y = _gaussian(256)
    taus = jnp.array([0.02, 0.5, jnp.inf])
    run = jax.vmap(lambda t: var.mutual_information(
        x, y, tau=t, key=jax.random.PRNGKey(0), critic="separable", hidden=(8,), embed_dim=4,
        steps=30, batch_size=32, select="last", patience=None).value)
    values = np.asarray(run(taus))
    assert values.shape == (3,) and np.all(np.isfinite(values))
    looped = [float(run(t[None])[0]) for t in taus]
    np.testing.assert_allclose(values, looped, rtol=1e-4, atol=1e-6)
    assert len(set(values.tolist())) == 3  # the clip really acts at small τ


def test_compiles_once_for_two_datasets_of_one_shape(caplog):
    kwargs = dict(critic="joint", hidden=(4,), steps=10, batch_size=16, select="last",
                  patience=None)
    (x1, y1), (x2, y2) = _gaussian(128, seed=0), _gaussian(128, seed=1)
    var.mutual_information(x1, y1, key=jax.random.PRNGKey(0), **kwargs)
    with jax.log_compiles(True), caplog.at_level(logging.WARNING):
        caplog.clear()
        est = var.mutual_information(x2, y2, key=jax.random.PRNGKey(1), learning_rate=0.01,
                                     tau=2.0, **kwargs)
        est.value.block_until_ready()
    compiles = [r for r in caplog.records if "Compiling" in r.getMessage()]
    assert compiles == [], [r.getMessage()[:120] for r in compiles]


class _NaNCritic(eqx.Module):
    w: jax.Array

    def __call__(self, x, y):
        return jnp.log(-jnp.abs(self.w * jnp.sum(x * y)) - 1.0)  # log of a negative: NaN


def test_nan_loss_raises_or_is_flagged():
    x, y = _gaussian(128)
    critic = _NaNCritic(jnp.ones(()))
    kwargs = dict(key=jax.random.PRNGKey(0), critic=critic, steps=10, batch_size=16,
                  select="last", patience=None)
    with pytest.raises(Exception, match="NaN/inf"):
        var.mutual_information(x, y, **kwargs).value.block_until_ready()
    est = var.mutual_information(x, y, throw=False, **kwargs)
    assert np.isnan(float(est))
    assert int(est.diagnostics["train_status"]) == STATUS["nonfinite"]
    assert int(est.diagnostics["steps_run"]) == 0


def test_user_critic_module():
    x, y = _gaussian()
    critic = var.ConcatCritic(2, 2, (16,), key=jax.random.PRNGKey(3))
    est = var.mutual_information(x, y, key=jax.random.PRNGKey(0), critic=critic, steps=300,
                                 batch_size=64, learning_rate=5e-3)
    assert abs(float(est) - TRUTH) < 0.2 * TRUTH


def test_flax_critic_adapter():
    nn = pytest.importorskip("flax.linen")

    class Critic(nn.Module):
        @nn.compact
        def __call__(self, x, y):
            return nn.Dense(1)(nn.relu(nn.Dense(16)(jnp.concatenate([x, y]))))[0]

    x, y = _gaussian()
    critic = var.FlaxCritic.init(Critic(), 2, 2, key=jax.random.PRNGKey(0))
    est = var.mutual_information(x, y, key=jax.random.PRNGKey(0), critic=critic, steps=300,
                                 batch_size=64, learning_rate=5e-3)
    assert abs(float(est) - TRUTH) < 0.2 * TRUTH


def test_early_stopping_and_best_selection():
    x, y = _gaussian(512)
    est = var.mutual_information(x, y, key=jax.random.PRNGKey(0), eval_every=10, patience=2,
                                 select="best", critic="separable", hidden=(8,), embed_dim=4,
                                 steps=400, batch_size=32)
    steps_run = int(est.diagnostics["steps_run"])
    assert int(est.diagnostics["train_status"]) in (STATUS["completed"], STATUS["early_stopped"])
    assert 0 < int(est.diagnostics["best_step"]) <= steps_run <= 400
    assert est.diagnostics["eval_curve"].shape == (40,)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(bound="nope"), ValueError, "bound"),
        (dict(batch_size=10_000), ValueError, "batch_size"),
        (dict(eval_fraction=1.0), ValueError, "eval_fraction"),
        (dict(critic="resnet"), ValueError, "critic"),
        (dict(critic=3), TypeError, "critic"),
        (dict(tau=-1.0), ValueError, "tau"),
        (dict(learning_rate=0.0), ValueError, "learning_rate"),
        (dict(steps=0), ValueError, "steps"),
        (dict(hidden=(8, 2.5)), TypeError, "hidden"),
        (dict(patience=3, eval_every=10_000), ValueError, "eval_every"),
        (dict(select="max"), ValueError, "select"),
    ],
)
def test_bad_arguments_raise_before_work(kwargs, exc, match):
    x, y = _gaussian(128)
    with pytest.raises(exc, match=match):
        var.mutual_information(x, y, key=jax.random.PRNGKey(0), **kwargs)


def test_staircase_loss_gradient_survives_an_overflowing_unselected_bound():
    """examples/smile_staircase.py trains every bound in one program with a traced bound index.
    NWJ's exp overflows on large scores; its zero cotangent times inf must not turn the
    selected bound's gradient into NaN (it did: 0 · inf through the stacked values)."""
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).parents[1] / "examples" / "smile_staircase.py"
    spec = importlib.util.spec_from_file_location("smile_staircase", path)
    staircase = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(staircase)

    class Fixed(eqx.Module):
        s: jax.Array

        def scores(self, x, y):
            return self.s

    critic = Fixed(jnp.eye(8) * 300.0 + 100.0)  # off-diagonal 100: exp(100 - 1) overflows
    for name in ("smile", "infonce", "mine"):
        which = jnp.array(staircase._BOUNDS.index(name))
        grad = jax.grad(lambda c, w=which: staircase.loss(
            c, (None, None, 0), None, jnp.array(-jnp.inf), w, jnp.array(5.0))[0])(critic)
        assert bool(jnp.all(jnp.isfinite(grad.s))), name
