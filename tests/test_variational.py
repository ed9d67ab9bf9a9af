"""Neural MI estimators (infoest.variational): accuracy, transformations, failure modes."""

from __future__ import annotations

import logging
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import compute_jit

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


# ----------------------------------------------------------------------------- configuration


def test_config_is_one_module_with_static_ints_and_traced_floats():
    cfg = var.VariationalConfig()
    assert (cfg.bound, cfg.critic, cfg.hidden, cfg.steps, cfg.patience) == (
        "smile", "joint", (16, 8), 2000, 5)
    dynamic, static = eqx.partition(cfg, eqx.is_array)
    assert {type(v) for v in jax.tree_util.tree_leaves(dynamic)} <= {jax.Array,
                                                                      type(jnp.zeros(()))}
    assert len(jax.tree_util.tree_leaves(dynamic)) == 3  # learning_rate, tau, mine_rate
    assert cfg.replace(hidden=[4]).hidden == (4,)
    resolved = cfg.resolve(100)
    assert resolved.batch_size == 100 and resolved.eval_every == 100
    with pytest.raises(ValueError, match="mine_rate"):
        var.VariationalConfig(mine_rate=2.0)
    with pytest.raises(TypeError, match="unknown option"):
        var.mutual_information(*_gaussian(128), key=jax.random.PRNGKey(0), stepz=3)


def test_config_object_and_keywords_agree():
    x, y = _gaussian(256)
    cfg = var.VariationalConfig(critic="separable", hidden=(8,), embed_dim=4, steps=20,
                                batch_size=32, select="last", patience=None, bound="nwj")
    a = var.mutual_information(x, y, key=jax.random.PRNGKey(0), config=cfg)
    b = var.mutual_information(x, y, key=jax.random.PRNGKey(0), critic="separable",
                               hidden=(8,), embed_dim=4, steps=20, batch_size=32,
                               select="last", patience=None, bound="nwj")
    assert float(a) == float(b) and a.method == "nwj"


# ----------------------------------------------------------------------------- trust


TINY = dict(critic="joint", hidden=(4,), steps=20, batch_size=16, select="last", patience=None)


@pytest.mark.parametrize("method", ["smile", "mine", "nwj", "infonce", "dv"])
def test_exploding_learning_rates_are_flagged_diverged(method):
    # learning_rate 1e6 gave smile -196676, mine -1.7e13, dv -2.1e10 with status ok before.
    x, y = _gaussian(256)
    rates = jnp.array([1e6, 1e30])
    est = jax.vmap(lambda lr: infoest.mutual_information(
        x, y, method=method, key=jax.random.PRNGKey(0), learning_rate=lr, throw=False,
        **TINY))(rates)
    np.testing.assert_array_equal(est.status, [infoest.Status.DIVERGED] * 2)
    assert np.isnan(est.value).all()


def test_divergence_raises_by_default():
    with pytest.raises(infoest.EstimationError, match="diverged"):
        infoest.mutual_information(*_gaussian(256), method="smile", key=jax.random.PRNGKey(0),
                                   learning_rate=1e6, **TINY)


@pytest.mark.parametrize("lr", [float("nan"), -1.0, float("inf")])
def test_invalid_learning_rate_raises_naming_it(lr):
    with pytest.raises(ValueError, match="learning_rate"):
        infoest.mutual_information(*_gaussian(128), method="smile", key=jax.random.PRNGKey(0),
                                   learning_rate=lr, **TINY)


def test_evaluate_reports_stderr_and_status():
    x, y = _gaussian(512)
    fitted = var.fit_critic(x, y, key=jax.random.PRNGKey(0), **dict(FAST, steps=100))
    new = var.evaluate(fitted, *_gaussian(400, seed=7))
    assert bool(new.ok) and np.isfinite(float(new.stderr)) and float(new.stderr) > 0


def _coverage(bound, replicates, n=500, rho=0.5):
    """Fraction of replicates (data and training key drawn anew, one vmapped call) whose
    value ± 1.96 stderr covers I = -log(1 - rho^2)/2 (one pair of standard normals)."""
    truth = -0.5 * math.log(1 - rho**2)
    kw = dict(critic="joint", hidden=(16, 8), steps=200, batch_size=64, learning_rate=5e-3,
              eval_every=25, eval_size=256, patience=None, select="best", throw=False)

    def one(k):
        kx, ky, kf = jax.random.split(k, 3)
        xr = jax.random.normal(kx, (n, 1))
        yr = rho * xr + math.sqrt(1 - rho**2) * jax.random.normal(ky, (n, 1))
        e = var.mutual_information(xr, yr, key=kf, bound=bound, **kw)
        return e.value, e.stderr

    v, s = compute_jit(jax.vmap(one))(jax.random.split(jax.random.PRNGKey(42), replicates))
    v, s = np.asarray(v), np.asarray(s)
    return float(np.mean(np.abs(v - truth) <= 1.96 * s)), float(np.std(v) / np.mean(s))


def test_stderr_coverage_smile_small():
    """100 replicates at n = 500 (MI 0.144 nats, bias about half a stderr): the 200-replicate
    runs cover 0.88-0.92 (docs/variational.md); a band of 0.80-1.00 leaves 2.5 binomial sd
    (0.03 at p = 0.9) below, and the spread of the values must match the mean stderr."""
    cover, ratio = _coverage("smile", 100)
    assert 0.80 <= cover <= 1.0, cover
    assert 0.75 < ratio < 1.33, ratio


@pytest.mark.slow
@pytest.mark.parametrize("bound", ["smile", "mine", "nwj", "infonce", "dv"])
def test_stderr_coverage_full(bound):
    cover, ratio = _coverage(bound, 200)
    assert 0.85 <= cover <= 0.99, cover
    assert 0.8 < ratio < 1.25, ratio
