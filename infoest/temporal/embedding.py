"""Delay embedding of a source and a target series: the one embedding every TE method uses.

Transfer entropy (Schreiber, "Measuring information transfer", PRL 85, 461, 2000)

    T_{X→Y}(k, l, u) = I( Y_t ; X^{(l)}_{t−u} | Y^{(k)}_{t−1} )

with target history Y^{(k)}_{t−1} = (y_{t−1}, y_{t−1−τ_y}, …, y_{t−1−(k−1)τ_y}) and source
history X^{(l)}_{t−u} = (x_{t−u}, x_{t−u−τ_x}, …, x_{t−u−(l−1)τ_x}). The first usable (0-based)
time index is t₀ = max(1 + (k−1)τ_y, u + (l−1)τ_x), so a series of length T gives
n = T − t₀ embedded rows, row i belonging to time t₀ + i. Rows are consecutive in time, so a
Theiler window w (exclude rows |i − j| ≤ w) is a window over row indices.

Parameter names across libraries (infoest ↔ others):

| infoest | JIDT | IDTxl | infomeasure |
|---|---|---|---|
| ``history`` (k) | ``k`` | ``history_target`` | ``dest_hist_len`` |
| ``source_history`` (l) | ``l`` | ``history_source`` | ``src_hist_len`` |
| ``delay`` (u) | ``delay`` | ``source_target_delay`` | ``prop_time`` + 1 |
| ``tau`` (τ_y) | ``k_tau`` | ``tau_target`` | — |
| ``source_tau`` (τ_x) | ``l_tau`` | ``tau_source`` | — |

Index arrays are built with numpy from static integers, so the gather has static shapes and
the embedding jits and vmaps (a batch of series ``(B, T)`` or ``(B, T, d)`` under ``jax.vmap``).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from jax import Array

from infoest import _checks

__all__ = ["Lags", "embedding_indices", "embed", "check_lags"]


@dataclasses.dataclass(frozen=True)
class Lags:
    """The (static, hashable) embedding parameters of a transfer entropy.

    Attributes:
        history: target history length k ≥ 1.
        source_history: source history length l ≥ 1.
        delay: source–target delay u ≥ 0 (u = 0 includes x_t: directed information).
        tau: spacing τ_y of the target lags.
        source_tau: spacing τ_x of the source lags.
    """

    history: int = 1
    source_history: int = 1
    delay: int = 1
    tau: int = 1
    source_tau: int = 1

    @property
    def start(self) -> int:
        """t₀, the first time index with a complete embedding."""
        return max(
            1 + (self.history - 1) * self.tau,
            self.delay + (self.source_history - 1) * self.source_tau,
        )

    def n_rows(self, length: int) -> int:
        """Number of embedded rows of a series of ``length`` time points."""
        return length - self.start


def check_lags(history=1, source_history=None, delay=1, tau=1, source_tau=1) -> Lags:
    """Validate the embedding hyperparameters (Python ints) and return a
    [`Lags`][infoest.temporal.embedding.Lags].

    ``source_history=None`` means the same as ``history``.
    """
    history = _checks.check_positive_int(history, "history")
    source_history = history if source_history is None else source_history
    return Lags(
        history,
        _checks.check_positive_int(source_history, "source_history"),
        _checks.check_positive_int(delay, "delay", minimum=0),
        _checks.check_positive_int(tau, "tau"),
        _checks.check_positive_int(source_tau, "source_tau"),
    )


def embedding_indices(length: int, lags: Lags = Lags()) -> tuple[np.ndarray, ...]:
    """Time indices of the embedding of a series of ``length`` points.

    Returns ``(t, target_past, source_past)``: ``t`` of shape (n,), ``target_past`` (n, k) with
    column j = t − 1 − j·τ_y and ``source_past`` (n, l) with column j = t − u − j·τ_x, nearest lag
    first. Raises ``ValueError`` when the series is too short for the lags.
    """
    n = lags.n_rows(length)
    if n < 2:
        raise ValueError(
            f"series of length {length} is too short for history={lags.history}, "
            f"source_history={lags.source_history}, delay={lags.delay}, tau={lags.tau}, "
            f"source_tau={lags.source_tau}: at least {lags.start + 2} time points are needed"
        )
    t = np.arange(lags.start, length)
    target_past = t[:, None] - 1 - lags.tau * np.arange(lags.history)[None, :]
    source_past = t[:, None] - lags.delay - lags.source_tau * np.arange(lags.source_history)
    return t, target_past, source_past


def embed(source: Array, target: Array, lags: Lags = Lags()) -> tuple[Array, Array, Array]:
    """Embed ``source: (T, d_x)`` and ``target: (T, d_y)`` (1-D means d = 1).

    Returns ``(y_now, y_past, x_past)`` of shapes (n, d_y), (n, k·d_y), (n, l·d_x), lag-major
    (all coordinates of the nearest lag first). Pure gather: works under ``jit``/``vmap``/``grad``.
    """
    length = target.shape[0]
    if source.shape[0] != length:
        raise ValueError(
            f"`source` has {source.shape[0]} time points and `target` has {length}"
        )
    x = source.reshape(length, -1)
    y = target.reshape(length, -1)
    t, yi, xi = embedding_indices(length, lags)
    n = t.shape[0]
    return y[t], y[yi].reshape(n, -1), x[xi].reshape(n, -1)
