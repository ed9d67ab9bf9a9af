"""TREET's options Module: validation, keyword overrides, and a traced learning rate."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import infoest
from infoest.tasks import processes
from infoest.temporal import TREETConfig, treet

SMALL = dict(steps=3, batch_size=16, width=4, ff_width=4)


def test_defaults_static_and_traced_fields():
    cfg = TREETConfig()
    assert (cfg.steps, cfg.batch_size, cfg.width, cfg.heads, cfg.ff_width, cfg.layers,
            cfg.draws) == (2000, 256, 32, 1, 64, 1, 1)
    # only the learning rate is a leaf: a new value is new data, not a new graph
    leaves = jax.tree_util.tree_leaves(cfg)
    assert len(leaves) == 1 and float(leaves[0]) == pytest.approx(2e-3)
    assert jax.tree_util.tree_structure(cfg) == jax.tree_util.tree_structure(
        dataclasses.replace(cfg, learning_rate=0.1))
    assert jax.tree_util.tree_structure(cfg) != jax.tree_util.tree_structure(
        dataclasses.replace(cfg, steps=10))


@pytest.mark.parametrize(("options", "error", "match"), [
    ({"steps": 0}, ValueError, "steps"),
    ({"width": 2.5}, TypeError, "width"),
    ({"learning_rate": -1.0}, ValueError, "learning_rate"),
    ({"learning_rate": float("nan")}, ValueError, "learning_rate"),
])
def test_bad_options_name_the_option(options, error, match):
    with pytest.raises(error, match=match):
        TREETConfig(**options)


def test_estimator_takes_config_and_keywords():
    x, y = processes.coupled_ar1().sample(jax.random.PRNGKey(0), 200)
    key = jax.random.PRNGKey(1)
    a = treet.transfer_entropy(x, y, key=key, history=1, config=TREETConfig(**SMALL))
    b = infoest.transfer_entropy(x, y, method="treet", key=key, history=1, **SMALL)
    c = treet.transfer_entropy(x, y, key=key, history=1,
                               config=TREETConfig(**{**SMALL, "steps": 50}), steps=3)
    np.testing.assert_allclose(float(a.value), float(b.value), rtol=1e-6)
    np.testing.assert_allclose(float(a.value), float(c.value), rtol=1e-6)
    with pytest.raises(TypeError, match="unknown option.*'hidden'"):
        treet.transfer_entropy(x, y, key=key, hidden=3)
    with pytest.raises(TypeError, match="TREETConfig"):
        treet.transfer_entropy(x, y, key=key, config={"steps": 3})


def test_learning_rate_vmaps():
    x, y = processes.coupled_ar1().sample(jax.random.PRNGKey(0), 200)
    key, cfg = jax.random.PRNGKey(1), TREETConfig(**SMALL)
    rates = jnp.array([1e-3, 2e-3])
    many = jax.vmap(lambda lr: treet.transfer_entropy(
        x, y, key=key, history=1, config=cfg, learning_rate=lr).value)(rates)
    one = treet.transfer_entropy(x, y, key=key, history=1, config=cfg, learning_rate=2e-3)
    np.testing.assert_allclose(float(many[1]), float(one.value), rtol=1e-4, atol=1e-6)
