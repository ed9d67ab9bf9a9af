"""Transfer entropy between every ordered pair of channels of a recording ``(T, C)``."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from infoest import _checks
from infoest._estimate import Estimate
from infoest._registry import get

__all__ = ["te_matrix"]


def te_matrix(data, *, method: str = "gaussian", key=None, **kwargs: Any) -> Estimate:
    """TE between all ordered channel pairs: ``value[i, j]`` = TE(channel i → channel j), nats.

    The C(C − 1) pairs are evaluated by one ``jax.vmap`` of the ``method``'s estimator (so
    surrogate tests, ``surrogates=S``, run for every pair in the same compiled call); with a
    ``key``, each pair gets its own subkey. Diagnostics become (C, C) (or (C, C, S) for the
    surrogate null) arrays. The diagonal is 0 (self-transfer is not estimated).

    Args:
        data: recording ``(T, C)``, time on axis 0, C ≥ 2 scalar channels.
        method: a registered transfer-entropy method (``"gaussian"``, ``"ksg"``, ``"treet"``).
        key: PRNG key (needed for surrogates and stochastic methods).
        **kwargs: passed to the estimator (``history``, ``surrogates``, ``k``, ...).
    """
    data = _checks.as_samples(data, "data")
    channels = data.shape[1]
    if channels < 2:
        raise ValueError(f"`data` needs at least 2 channels (columns), got {channels}")
    fn = get("transfer_entropy", method).fn
    src, tgt = np.nonzero(~np.eye(channels, dtype=bool))
    pairs = len(src)
    if key is None:
        est = jax.vmap(lambda s, t: fn(s, t, **kwargs))(data[:, src].T, data[:, tgt].T)
    else:
        keys = jax.random.split(key, pairs)
        est = jax.vmap(lambda s, t, k: fn(s, t, key=k, **kwargs))(
            data[:, src].T, data[:, tgt].T, keys)

    def square(a):
        a = jnp.asarray(a)
        out = jnp.zeros((channels, channels, *a.shape[1:]), a.dtype)
        return out.at[src, tgt].set(a)

    return jax.tree.map(square, est)
