"""Shared plumbing of the TE estimators: argument checks and the embed → core → surrogates run."""

from __future__ import annotations

from collections.abc import Callable

from jax import Array

from infoest import _checks
from infoest.temporal.embedding import Lags, check_lags, embed, embedding_indices
from infoest.temporal.surrogates import check_surrogate_args, with_significance


def prepare(source, target, *, history, source_history, delay, tau, source_tau,
            surrogates, surrogate, block, key, min_rows: int = 2):
    """Validate series and options (before any work); returns ``(x, y, lags, surrogates)``."""
    x, y = _checks.paired_samples((source, "source"), (target, "target"))
    lags = check_lags(history, source_history, delay, tau, source_tau)
    embedding_indices(x.shape[0], lags)  # raises when the series is too short
    n = lags.n_rows(x.shape[0])
    if n < min_rows:
        raise ValueError(
            f"the embedding leaves {n} rows from {x.shape[0]} time points; at least {min_rows} "
            "are needed by this estimator"
        )
    surrogates = check_surrogate_args(surrogates, surrogate, key, block)
    return x, y, lags, surrogates


def run(core: Callable[[Array, Array, Array], Array], x: Array, y: Array, lags: Lags, *,
        key, surrogates: int, surrogate: str, block, batch_size=None):
    """Embed, evaluate ``core(y_now, y_past, x_past)`` and, if asked, its surrogate null.

    Returns ``(value, diagnostics)``; meant to be called inside the estimator's jitted function.
    """
    y_now, y_past, x_past = embed(x, y, lags)
    if not surrogates:
        return core(y_now, y_past, x_past), {}
    out = with_significance(core, y_now, y_past, x_past, key=key, surrogates=surrogates,
                            kind=surrogate, block=block, batch_size=batch_size)
    return out.pop("value"), out
