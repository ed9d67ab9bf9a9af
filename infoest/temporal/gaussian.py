"""Gaussian (linear) transfer entropy: half the Granger log variance ratio.

TE_{X→Y} = ½ ln( det Σ(Y_t | Y⁻) / det Σ(Y_t | Y⁻, X⁻) ) = ½ F_{X→Y}
(Barnett, Barrett & Seth, "Granger causality and transfer entropy are equivalent for Gaussian
variables", PRL 103, 238701, 2009), computed as the Gaussian conditional MI I(Y_t; X⁻ | Y⁻) of the
sample covariance of the embedding (the residual covariances of the two OLS regressions with
intercept are the Schur complements of that covariance). Exact for linear-Gaussian processes, a
linear (Granger) approximation otherwise. Nats.

Analytic null (Barnett & Bossomaier, "Transfer entropy as a log-likelihood ratio", PRL 109,
138105, 2012): 2n·TÊ ~ χ²(q) with q = l·d_x·d_y; reported as ``diagnostics["chi2_p_value"]``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.scipy.special import gammaincc

from infoest._estimate import Estimate, make_estimate
from infoest._registry import register
from infoest.gaussian import (
    check_dimension,
    cmi_span,
    cmi_terms,
    conditional_mutual_information_from_cov,
    newey_west_lags,
    plugin,
    sample_covariance,
)
from infoest.temporal import _common
from infoest.temporal.embedding import embed

__all__ = ["transfer_entropy", "te_from_embedding"]


def te_from_embedding(y_now, y_past, x_past, shrinkage=0.0):
    """Gaussian TE I(Y_t; X⁻ | Y⁻) from embedded arrays (n, ·), via the sample covariance."""
    z = jnp.concatenate([y_now, x_past, y_past], axis=1)
    cov = sample_covariance(z, shrinkage)
    return conditional_mutual_information_from_cov(cov, y_now.shape[1], x_past.shape[1])


@functools.partial(jax.jit, static_argnames=("lags", "surrogates", "surrogate", "block"))
def _run(x, y, key, shrinkage, *, lags, surrogates, surrogate, block):
    core = lambda yn, yp, xp: te_from_embedding(yn, yp, xp, shrinkage)
    _, diag = _common.run(core, x, y, lags, key=key, surrogates=surrogates,
                          surrogate=surrogate, block=block)
    y_now, y_past, x_past = embed(x, y, lags)
    n = y_now.shape[0]
    q = x_past.shape[1] * y_now.shape[1]
    terms = cmi_terms(y_now.shape[1], x_past.shape[1], y_past.shape[1])
    value, stderr, status = plugin(jnp.concatenate([y_now, x_past, y_past], axis=1), terms,
                                   shrinkage, lags=newey_west_lags(n), dof=q,
                                   span=cmi_span(y_now.shape[1], x_past.shape[1],
                                                 y_past.shape[1]))
    diag["chi2_p_value"] = gammaincc(q / 2.0, n * jnp.maximum(value, 0.0))
    return value, stderr, status, diag


@register("transfer_entropy", "gaussian", differentiable=True, min_samples=16, min_n=4)
def transfer_entropy(source, target, *, history=1, source_history=None, delay=1, tau=1,
                     source_tau=1, shrinkage=0.0, surrogates=0, surrogate="shuffle",
                     block=None, key=None) -> Estimate:
    """Gaussian transfer entropy TE(source → target) in nats.

    Args:
        source, target: time series ``(T,)`` or ``(T, d)``, time on axis 0.
        history: target history k (lags y_{t−1}, …, y_{t−1−(k−1)τ}).
        source_history: source history l (default: ``history``).
        delay: source–target delay u ≥ 0 (source lags x_{t−u}, …).
        tau, source_tau: lag spacings of target and source.
        shrinkage: covariance shrinkage in [0, 1] (traced).
        surrogates: number S of surrogates for a permutation test (0: none); needs ``key``.
        surrogate: ``"shuffle"``, ``"block"`` or ``"shift"`` (see
            [`infoest.temporal.surrogates`][infoest.temporal.surrogates]); ``block`` sets the block
            length.
        key: PRNG key for the surrogates.

    The value is computed from the sample correlation of the embedding (scale invariant,
    overflow safe); a constant source or target gives 0, and so does a source whose past
    the target's past spans exactly (e.g. TE(X → X); span rule of
    [infoest.gaussian.plugin][]).

    stderr: delta method from the per-row influence function of the four log-dets
    ([infoest.gaussian.plugin][]) with the Newey–West long-run variance (bandwidth
    ⌊4 (n/100)^{2/9}⌋ rows), because the embedded rows are serially dependent, plus the
    second-order term l·d_x·d_y/(2n²); sampling error only. Needs n ≥ (embedding
    dimension) + 2 rows, or ``shrinkage`` > 0.

    Returns:
        Estimate with the TE; diagnostics ``chi2_p_value`` (analytic, 2n·TE ~ χ²(l·d_x·d_y))
        and, with surrogates, ``p_value``, ``null_mean``, ``null_std``, ``t_score``,
        ``effective_te`` and the ``null`` values.
    """
    x, y, lags, surrogates = _common.prepare(
        source, target, history=history, source_history=source_history, delay=delay, tau=tau,
        source_tau=source_tau, surrogates=surrogates, surrogate=surrogate, block=block, key=key)
    d = lags.history * y.shape[1] + lags.source_history * x.shape[1] + y.shape[1]
    check_dimension(lags.n_rows(x.shape[0]), d, shrinkage, "the embedded series")
    value, stderr, status, diag = _run(x, y, key, shrinkage, lags=lags, surrogates=surrogates,
                                       surrogate=surrogate, block=block)
    return make_estimate(value, stderr, status=status, method="gaussian", **diag)
