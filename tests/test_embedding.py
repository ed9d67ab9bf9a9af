"""Delay embedding: indices against hand-built examples, values, vmap, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from infoest.temporal.embedding import Lags, check_lags, embed, embedding_indices


def test_indices_one_step():
    t, yp, xp = embedding_indices(6, Lags(1, 1, 1))
    np.testing.assert_array_equal(t, [1, 2, 3, 4, 5])
    np.testing.assert_array_equal(yp, [[0], [1], [2], [3], [4]])
    np.testing.assert_array_equal(xp, [[0], [1], [2], [3], [4]])


def test_indices_hand_built():
    # k=2 lags spaced tau=2: y_{t-1}, y_{t-3};  l=2 lags spaced 3 after delay u=2: x_{t-2}, x_{t-5}
    lags = Lags(history=2, source_history=2, delay=2, tau=2, source_tau=3)
    assert lags.start == 5  # max(1 + 1*2, 2 + 1*3)
    t, yp, xp = embedding_indices(9, lags)
    np.testing.assert_array_equal(t, [5, 6, 7, 8])
    np.testing.assert_array_equal(yp, [[4, 2], [5, 3], [6, 4], [7, 5]])
    np.testing.assert_array_equal(xp, [[3, 0], [4, 1], [5, 2], [6, 3]])


def test_delay_zero_includes_present_source():
    t, _, xp = embedding_indices(5, Lags(1, 2, 0))
    np.testing.assert_array_equal(t, [1, 2, 3, 4])
    np.testing.assert_array_equal(xp, [[1, 0], [2, 1], [3, 2], [4, 3]])


def test_embed_values_vector_series():
    x = np.arange(20.0).reshape(10, 2)  # x_t = (2t, 2t + 1)
    y = 100.0 + np.arange(10.0)
    yn, yp, xp = embed(jnp.asarray(x), jnp.asarray(y), Lags(2, 2, 1))
    assert yn.shape == (8, 1) and yp.shape == (8, 2) and xp.shape == (8, 4)
    np.testing.assert_array_equal(yn[0], [102.0])
    np.testing.assert_array_equal(yp[0], [101.0, 100.0])
    np.testing.assert_array_equal(xp[0], [2.0, 3.0, 0.0, 1.0])  # lag-major: x_1 then x_0


def test_embed_vmap_equals_loop():
    rng = np.random.default_rng(0)
    xs = jnp.asarray(rng.normal(size=(4, 30, 2)))
    ys = jnp.asarray(rng.normal(size=(4, 30)))
    lags = Lags(3, 2, 2)
    batched = jax.vmap(lambda a, b: embed(a, b, lags))(xs, ys)
    for i in range(4):
        for got, want in zip(batched, embed(xs[i], ys[i], lags), strict=True):
            np.testing.assert_array_equal(got[i], want)


def test_too_short_and_bad_lags():
    with pytest.raises(ValueError, match="too short"):
        embedding_indices(4, Lags(3, 1, 1))
    with pytest.raises(ValueError, match="history"):
        check_lags(history=0)
    with pytest.raises(TypeError, match="delay"):
        check_lags(delay=1.5)
    with pytest.raises(ValueError, match="delay"):
        check_lags(delay=-1)
    assert check_lags(history=3).source_history == 3
