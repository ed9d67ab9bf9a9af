"""Options of the trained transfer-entropy estimator (TREET), in one place.

[TREETConfig][infoest.temporal.config.TREETConfig] holds every training and architecture
option of [transfer_entropy][infoest.temporal.treet.transfer_entropy] with its default.
Shape-setting options (steps, batch size, transformer sizes, reference draws) are static
fields; the learning rate is an array, so a new value neither recompiles nor prevents
`jax.vmap` over it:

    cfg = TREETConfig(steps=500)
    jax.vmap(lambda lr: treet.transfer_entropy(x, y, key=key, config=cfg,
                                               learning_rate=lr).value)(rates)

The embedding options `history` and `delay` define the quantity (they are shared by every
transfer-entropy method) and stay keywords of the estimator. Concrete values are validated
when the Module is built (a `ValueError` or `TypeError` naming the option); a traced learning
rate that makes training diverge is reported by the estimate's status (`Status.DIVERGED`).
"""

from __future__ import annotations

import functools
from typing import final

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jax import Array

from infoest import _checks

__all__ = ["TREETConfig"]


def _positive_int(name: str):
    return functools.partial(_checks.check_positive_int, name=name)


def _array(value) -> Array:
    return jnp.asarray(value, dtype=jnp.result_type(float))


@final
class TREETConfig(eqx.Module):
    """Options of TREET (`infoest.temporal.treet`), with their defaults.

    Attributes:
        steps: Adam steps training both critics (static; one compiled `lax.scan`).
        batch_size: windows per minibatch, drawn with replacement (static).
        width, heads, ff_width, layers: transformer size (TREET's d_model, n_heads, d_ff and
            number of blocks; static).
        draws: reference draws per window in the log-mean-exp term (static).
        learning_rate: Adam learning rate (array: traced, finite and > 0).
    """

    steps: int = eqx.field(static=True, default=2000, converter=_positive_int("steps"))
    batch_size: int = eqx.field(static=True, default=256,
                                converter=_positive_int("batch_size"))
    width: int = eqx.field(static=True, default=32, converter=_positive_int("width"))
    heads: int = eqx.field(static=True, default=1, converter=_positive_int("heads"))
    ff_width: int = eqx.field(static=True, default=64, converter=_positive_int("ff_width"))
    layers: int = eqx.field(static=True, default=1, converter=_positive_int("layers"))
    draws: int = eqx.field(static=True, default=1, converter=_positive_int("draws"))
    learning_rate: Array = eqx.field(default=2e-3, converter=_array)

    def __check_init__(self):
        if _checks.is_concrete(self.learning_rate):
            lr = np.asarray(self.learning_rate)
            if not np.all(np.isfinite(lr) & (lr > 0)):
                raise ValueError(f"`learning_rate` must be finite and > 0, got {lr.tolist()}")
