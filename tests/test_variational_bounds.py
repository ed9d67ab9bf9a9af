"""Variational bounds vs a numpy re-implementation on fixed score matrices."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import logsumexp as np_lse

from infoest.variational import bounds
from infoest.variational.critics import ConcatCritic, SeparableCritic

B = 12


def _scores(seed=0, scale=2.0, diag=1.5):
    rng = np.random.default_rng(seed)
    return scale * rng.normal(size=(B, B)) + diag * np.eye(B)


def _off(s):
    return s[~np.eye(len(s), dtype=bool)]


def _softplus(a):
    return np.logaddexp(0.0, a)


def np_dv(s):
    return np.mean(np.diag(s)) - (np_lse(_off(s)) - np.log(_off(s).size))


def np_nwj(s):
    return 1.0 + np.mean(np.diag(s) - 1.0) - np.mean(np.exp(_off(s) - 1.0))


def np_infonce(s):
    return np.log(len(s)) + np.mean(np.diag(s) - np_lse(s, axis=1))


def np_js_objective(s):
    return np.mean(-_softplus(-np.diag(s))) - np.mean(_softplus(_off(s)))


def np_smile(s, tau):
    off = np.clip(_off(s), -tau, tau)
    return np.mean(np.diag(s)) - (np_lse(off) - np.log(off.size))


CASES = [
    ("dv", bounds.dv, np_dv),
    ("nwj", bounds.nwj, np_nwj),
    ("infonce", bounds.infonce, np_infonce),
    ("js", bounds.js, lambda s: np_nwj(s + 1.0)),
    ("js_objective", bounds.js_objective, np_js_objective),
    ("smile5", lambda s: bounds.smile(s, tau=5.0), lambda s: np_smile(s, 5.0)),
    ("smile1", lambda s: bounds.smile(s, tau=1.0), lambda s: np_smile(s, 1.0)),
    ("mine", lambda s: bounds.mine(s, jnp.log(2.0))[0], np_dv),
]


@jax.jit
def _all_bounds(s):
    """Every bound of one score matrix, from the matrix and from its ScoreStats (one compile)."""
    from_matrix = {name: fn(s) for name, fn, _ in CASES}
    stats5, stats1 = bounds.score_stats(s, tau=5.0), bounds.score_stats(s, tau=1.0)
    from_stats = {name: fn(stats1 if name == "smile1" else stats5) for name, fn, _ in CASES}
    return from_matrix, from_stats


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bounds_match_numpy(seed):
    s = _scores(seed)
    from_matrix, from_stats = _all_bounds(jnp.asarray(s, jnp.float32))
    for name, _, ref in CASES:
        expected = ref(s)
        np.testing.assert_allclose(float(from_matrix[name]), expected, rtol=2e-5, atol=2e-5,
                                   err_msg=name)
        np.testing.assert_allclose(float(from_stats[name]), expected, rtol=2e-5, atol=2e-5,
                                   err_msg=f"{name} (ScoreStats)")


def test_float64():
    with jax.enable_x64(True):
        s = _scores(3)
        from_matrix, _ = _all_bounds(jnp.asarray(s))
        for name, _, ref in CASES:
            assert from_matrix[name].dtype == jnp.float64
            np.testing.assert_allclose(float(from_matrix[name]), ref(s), rtol=1e-12,
                                       err_msg=name)


def test_infonce_never_exceeds_log_batch():
    infonce = jax.jit(bounds.infonce)
    for seed in range(5):
        s = _scores(seed, diag=50.0)  # a near-perfect critic
        value = float(infonce(jnp.asarray(s, jnp.float32)))
        assert value <= math.log(B) + 1e-6
        assert value > math.log(B) - 0.01
    big = jnp.asarray(30.0 * np.eye(64), jnp.float32)
    assert float(jax.jit(bounds.infonce)(big)) <= math.log(64) + 1e-6  # float32 rounding
    assert math.log(64) == pytest.approx(4.158883, abs=1e-6)


def test_dv_dominates_nwj_and_smile_inf_is_dv():
    @jax.jit
    def values(s):
        return (bounds.dv(s), bounds.nwj(s), bounds.smile(s, tau=jnp.inf),
                bounds.smile(s, tau=1.0))

    for seed in range(5):
        dv, nwj, smile_inf, smile_1 = values(jnp.asarray(_scores(seed), jnp.float32))
        assert float(dv) >= float(nwj)
        np.testing.assert_allclose(float(smile_inf), float(dv), rtol=1e-6)
        assert float(smile_1) != pytest.approx(float(dv))


def test_js_and_smile_train_on_the_js_gradient():
    s = jnp.asarray(_scores(4), jnp.float32)
    g_obj, g_js, g_smile = jax.jit(lambda a: (
        jax.grad(bounds.js_objective)(a),
        jax.grad(bounds.js)(a),
        jax.grad(lambda b: bounds.smile(b, tau=2.0))(a),
    ))(s)
    np.testing.assert_allclose(g_js, g_obj, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(g_smile, g_obj, rtol=1e-6, atol=1e-8)


def test_mine_gradient_uses_the_moving_average():
    s = _scores(5)
    off = ~np.eye(B, dtype=bool)
    mean_exp = np.mean(np.exp(s[off]))
    rate, ma = 0.1, 2.0
    ma_new = (1 - rate) * ma + rate * mean_exp
    expected = np.where(off, -np.exp(s) / (B * (B - 1) * ma_new), 1.0 / B)

    @jax.jit
    def run(a):
        grad, log_ma = jax.grad(lambda b: bounds.mine(b, jnp.log(ma), rate=rate), has_aux=True)(a)
        # first batch (log_ma = -inf): the average is the batch itself, the gradient is DV's
        g0 = jax.grad(lambda b: bounds.mine(b, -jnp.inf)[0])(a)
        return grad, log_ma, g0, jax.grad(bounds.dv)(a)

    grad, log_ma, g0, g_dv = run(jnp.asarray(s, jnp.float32))
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(float(log_ma), np.log(ma_new), rtol=1e-6)
    np.testing.assert_allclose(g0, g_dv, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("kind", ["joint", "separable"])
def test_critic_stats_match_the_matrix_in_value_and_gradient(kind):
    key = jax.random.PRNGKey(0)
    kx, ky, kc = jax.random.split(key, 3)
    x, y = jax.random.normal(kx, (40, 3)), jax.random.normal(ky, (40, 2))
    critic = (ConcatCritic(3, 2, (8, 4), key=kc) if kind == "joint"
              else SeparableCritic(3, 2, (8,), 4, key=kc))

    def via_matrix(c):
        return bounds.smile(bounds.score_matrix(c, x, y), tau=2.0)

    def via_stats(c):
        return bounds.smile(bounds.critic_stats(c, x, y, tau=2.0, chunk_size=8))

    @jax.jit
    def run(c):
        pairs = jax.vmap(lambda a: jax.vmap(lambda b: c(a, b))(y))(x)
        values = via_matrix(c), via_stats(c)
        return pairs, bounds.score_matrix(c, x, y), values, jax.grad(via_matrix)(c), jax.grad(
            via_stats)(c)

    full, fast, both, ga, gb = run(critic)
    np.testing.assert_allclose(fast, full, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(both[1], both[0], rtol=1e-5)
    for a, b in zip(jax.tree_util.tree_leaves(ga), jax.tree_util.tree_leaves(gb), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_bounds_jit_and_vmap():
    s = jnp.asarray(np.stack([_scores(i) for i in range(3)]), jnp.float32)
    taus = jnp.array([1.0, 2.0, 5.0])
    out = jax.jit(jax.vmap(lambda a, t: bounds.smile(a, tau=t)))(s, taus)
    expected = [np_smile(np.asarray(s[i], float), float(taus[i])) for i in range(3)]
    np.testing.assert_allclose(out, expected, rtol=2e-5)


def test_non_square_scores_raise():
    with pytest.raises(ValueError, match="scores"):
        jax.jit(bounds.dv)(jnp.zeros((3, 4)))
    with pytest.raises(ValueError, match="scores"):
        jax.jit(bounds.nwj)(jnp.zeros((5,)))
