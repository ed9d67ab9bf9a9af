"""SΩI options and training status (issues #12 and #15): traced continuous options, every
absurd learning rate flagged, the shared variable parser."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import infoest
from infoest import multivariate
from infoest.score import soi
from infoest.score.config import SOIConfig, ema_decay

SMALL = dict(steps=20, batch_size=32, width=8, mc_iter=1)


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    common = rng.normal(size=(n, 1))
    return jnp.asarray(0.8 * common + 0.6 * rng.normal(size=(n, 3)), jnp.float32)


def test_every_absurd_learning_rate_is_flagged_under_vmap():
    """1e6, 1e30, NaN, −1 and ∞ as traced values (which the config cannot check) all end
    DIVERGED with a NaN value; the good rate in the same batch is unharmed."""
    z = _data()
    lrs = jnp.asarray([1e-3, 1e6, 1e30, jnp.nan, -1.0, jnp.inf], jnp.float32)
    est = jax.jit(jax.vmap(lambda lr: soi.o_information(
        z, key=jax.random.PRNGKey(1), throw=False, learning_rate=lr, **SMALL)))(lrs)
    np.testing.assert_array_equal(est.status, [0, 4, 4, 4, 4, 4])
    assert np.isfinite(float(est.value[0])) and np.all(np.isnan(est.value[1:]))


@pytest.mark.parametrize("lr", [float("nan"), -1.0, 0.0, float("inf")])
def test_invalid_concrete_learning_rate_raises_naming_it(lr):
    with pytest.raises(ValueError, match="learning_rate"):
        soi.o_information(_data(), key=jax.random.PRNGKey(0), learning_rate=lr, **SMALL)


def test_mask_shares_must_leave_a_non_negative_rest():
    with pytest.raises(ValueError, match="joint_share` \\+ `marginal_share"):
        SOIConfig(joint_share=0.9, marginal_share=0.2)
    SOIConfig(joint_share=0.9, marginal_share=0.1)  # exactly 1: no conditionals, allowed


def test_short_runs_get_a_valid_ema_decay():
    """min(0.999, 1 − 10/steps) was negative below 10 steps (4 steps: −1.5, an EMA that
    amplifies the weights); it is clipped to 0 (no averaging)."""
    assert float(ema_decay(SOIConfig(steps=4), jnp.float32)) == 0.0
    assert float(ema_decay(SOIConfig(steps=20), jnp.float32)) == pytest.approx(0.5)
    assert float(ema_decay(SOIConfig(steps=50_000), jnp.float32)) == pytest.approx(0.999)


def test_a_constant_integrand_on_informative_data_is_flagged():
    """stderr exactly 0 with more than two informative variables: the network is dead."""
    status = soi.training_status(jnp.asarray([False, False, False, True]),
                                 jnp.asarray([False, True, False, False]),
                                 jnp.asarray([0.0, 0.0, 0.01, 0.01]))
    np.testing.assert_array_equal(status, [4, 0, 0, 4])


def test_soi_reads_variables_with_the_public_multivariate_parser():
    assert soi.as_variables is multivariate.as_variables
    z = _data()
    # a nested list is one (n, k) array, as for every other O-information method
    a = infoest.o_information(z.tolist(), method="soi", key=jax.random.PRNGKey(0), **SMALL)
    b = infoest.o_information(z, method="soi", key=jax.random.PRNGKey(0), **SMALL)
    assert float(a.value) == pytest.approx(float(b.value), abs=1e-5)
    with pytest.raises(ValueError, match="at least 2"):
        soi.o_information([z[:, :1]], key=jax.random.PRNGKey(0), **SMALL)
