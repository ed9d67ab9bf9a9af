r"""Variational lower bounds on mutual information, as pure functions of critic scores.

A batch of B paired samples $(x_i, y_i)$ and a critic $f$ give the score matrix
$S_{ij} = f(x_i, y_j)$: positives (samples of $P_{XY}$) on the diagonal, negatives
(samples of $P_X \otimes P_Y$) off it. $\mathrm{lme}_{i \ne j}$ is the log-mean-exp
over the $B(B-1)$ off-diagonal entries. All values in nats.

Each bound's value (maximised in training unless stated):

- `dv`: $\bar S_{ii} - \mathrm{lme}_{i\ne j} S_{ij}$ (Donsker–Varadhan).
- `mine`: value DV; the gradient of the partition term uses a moving average of
  $\mathrm{mean}\,e^{S_{ij}}$ across batches (Belghazi et al., 2018, §3.2).
- `nwj`: $1 + \overline{(S_{ii} - 1)} - \exp \mathrm{lme}_{i\ne j}(S_{ij} - 1)$
  (Nguyen–Wainwright–Jordan, MINE-f); optimal critic $1 + \log r$.
- `infonce`: $\log B + \overline{S_{ii} - \mathrm{logsumexp}_j S_{ij}}$ (CPC; the diagonal is
  in the logsumexp); never exceeds $\log B$, the *log-batch cap*.
- `js`: trains the f-GAN Jensen–Shannon objective
  $\overline{-\mathrm{softplus}(-S_{ii})} - \overline{\mathrm{softplus}(S_{ij})}$ (optimal
  critic $\log r$), reports `nwj(S + 1)`.
- `smile`: trains JS, reports the clipped DV
  $\bar S_{ii} - \mathrm{lme}_{i\ne j}\,\mathrm{clip}(S_{ij}, -\tau, \tau)$ (Song & Ermon,
  2020); $\tau=\infty$ gives DV.

Each function returns one scalar whose **value** is the MI estimate and whose **gradient** is
the training gradient (via ``stop_gradient``), so ``-bound(S)`` is the loss for every bound.
Everything needs exactly one B×B score matrix, or a `ScoreStats` built without ever
forming it (`critic_stats`, memory linear in B, for large evaluation sets).

References: Song & Ermon, "Understanding the Limitations of Variational Mutual Information
Estimators", ICLR 2020 (arXiv:1910.06222); Belghazi et al., "Mutual Information Neural
Estimation", ICML 2018 (arXiv:1801.04062); Poole et al., "On Variational Bounds of Mutual
Information", ICML 2019 (arXiv:1905.06922).

Note: the ``js`` value differs from the SMILE reference code, which reports ``nwj(S)`` for the
JS-trained critic; at the JS optimum ``S = log r`` that is $I - e^{-1}$, whereas
``nwj(S + 1)`` is tight.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import Array
from jax.scipy.special import logsumexp

__all__ = [
    "ScoreStats",
    "score_stats",
    "critic_stats",
    "score_matrix",
    "dv",
    "mine",
    "nwj",
    "infonce",
    "js",
    "js_objective",
    "smile",
]

_sg = jax.lax.stop_gradient


class ScoreStats(NamedTuple):
    """Per-row sufficient statistics of a B×B score matrix; every bound is a function of them.

    Attributes:
        diag: ``(B,)`` the positives $S_{ii}$.
        lse_off: ``(B,)`` $\\log\\sum_{j\\ne i} e^{S_{ij}}$.
        lse_off_clipped: ``(B,)`` the same of $\\mathrm{clip}(S_{ij}, -\\tau, \\tau)$
            (τ fixed when the stats were built).
        lse_all: ``(B,)`` $\\log\\sum_j e^{S_{ij}}$ (diagonal included).
        softplus_off: ``(B,)`` $\\sum_{j\\ne i} \\mathrm{softplus}(S_{ij})$.
    """

    diag: Array
    lse_off: Array
    lse_off_clipped: Array
    lse_all: Array
    softplus_off: Array

    @property
    def batch_size(self) -> int:
        return self.diag.shape[0]


def _row_stats(row: Array, i: Array, tau: Array) -> ScoreStats:
    """Statistics of row ``i`` of the score matrix."""
    off = jnp.arange(row.shape[0]) != i
    neg_inf = jnp.array(-jnp.inf, row.dtype)
    clipped = jnp.clip(row, -tau, tau)
    return ScoreStats(
        diag=row[i],
        lse_off=logsumexp(jnp.where(off, row, neg_inf)),
        lse_off_clipped=logsumexp(jnp.where(off, clipped, neg_inf)),
        lse_all=logsumexp(row),
        softplus_off=jnp.sum(jnp.where(off, jax.nn.softplus(row), 0.0)),
    )


def _check_square(scores: Array) -> Array:
    scores = jnp.asarray(scores)
    if scores.ndim != 2 or scores.shape[0] != scores.shape[1] or scores.shape[0] < 2:
        raise ValueError(
            f"`scores` must be a square (B, B) score matrix with B >= 2, got {scores.shape}"
        )
    return scores


def score_stats(scores: Array, *, tau: float | Array = jnp.inf) -> ScoreStats:
    """`ScoreStats` of a full ``(B, B)`` score matrix (clip ``tau`` for SMILE)."""
    scores = _check_square(scores)
    tau = jnp.asarray(tau, scores.dtype)
    return jax.vmap(_row_stats, in_axes=(0, 0, None))(scores, jnp.arange(scores.shape[0]), tau)


def score_matrix(critic: Any, x: Array, y: Array) -> Array:
    """``S[i, j] = critic(x[i], y[j])``: uses ``critic.scores(x, y)`` when the critic has it
    (e.g. separable critics: one matmul), otherwise vmaps ``critic(x_i, y_j)`` over all pairs."""
    scores = getattr(critic, "scores", None)
    if scores is not None:
        return scores(x, y)
    return jax.vmap(lambda xi: jax.vmap(lambda yj: critic(xi, yj))(y))(x)


def critic_stats(
    critic: Any,
    x: Array,
    y: Array,
    *,
    tau: float | Array = jnp.inf,
    chunk_size: int = 64,
) -> ScoreStats:
    """`ScoreStats` of ``score_matrix(critic, x, y)`` without forming the matrix.

    Rows are computed ``chunk_size`` at a time (``lax.map``), each rematerialised in the
    backward pass (``jax.checkpoint``), so memory is O(B · chunk_size) instead of O(B²) in both
    the forward and the gradient computation. Same values as ``score_stats(score_matrix(...))``
    up to float reassociation.
    """
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"`x` and `y` need the same batch size, got {x.shape[0]}, {y.shape[0]}")
    dtype = jnp.result_type(x, y)
    tau = jnp.asarray(tau, dtype)

    @jax.checkpoint
    def row(args):
        i, xi = args
        s = score_matrix(critic, xi[None], y)[0]
        return _row_stats(s, i, tau)

    return jax.lax.map(row, (jnp.arange(x.shape[0]), x), batch_size=chunk_size)


def _stats(scores, tau=jnp.inf) -> ScoreStats:
    return scores if isinstance(scores, ScoreStats) else score_stats(scores, tau=tau)


def _lme_off(lse_rows: Array) -> Array:
    b = lse_rows.shape[0]
    return logsumexp(lse_rows) - math.log(b * (b - 1))


def dv(scores: Array | ScoreStats) -> Array:
    """Donsker–Varadhan bound $\\bar S_{ii} - \\mathrm{lme}_{i\\ne j} S_{ij}$ (nats).

    Tight for the critic $\\log r + c$ (any constant c); its minibatch gradient is biased
    (the ratio of minibatch means), which `mine` corrects.
    """
    st = _stats(scores)
    return jnp.mean(st.diag) - _lme_off(st.lse_off)


def nwj(scores: Array | ScoreStats) -> Array:
    """NWJ / MINE-f bound ``1 + mean_i(S_ii - 1) - exp(lme_{i≠j}(S_ij - 1))``, i.e.
    E_P[f] − e⁻¹ E_Q[e^f] (nats); tight for the critic f = 1 + log r. Unbiased gradients, but
    variance growing like e^I (Song & Ermon, 2020)."""
    st = _stats(scores)
    return jnp.mean(st.diag) - jnp.exp(_lme_off(st.lse_off) - 1.0)


def infonce(scores: Array | ScoreStats) -> Array:
    """InfoNCE / CPC bound $\\log B + \\overline{S_{ii} - \\mathrm{logsumexp}_j S_{ij}}$.

    The diagonal enters the logsumexp, so each term is ≤ 0 and the bound never exceeds
    $\\log B$ (the log-batch cap: 4.159 nats for B = 64). Low variance, but biased low once
    the true MI approaches $\\log B$.
    """
    st = _stats(scores)
    return math.log(st.batch_size) + jnp.mean(st.diag - st.lse_all)


def js_objective(scores: Array | ScoreStats) -> Array:
    """f-GAN Jensen–Shannon objective (Nowozin et al., 2016)
    ``mean_i(-softplus(-S_ii)) - mean_{i≠j}(softplus(S_ij))``, maximised by the critic
    log r. Not an MI value; it is the training signal of `js` and `smile`."""
    st = _stats(scores)
    b = st.batch_size
    return jnp.mean(-jax.nn.softplus(-st.diag)) - jnp.sum(st.softplus_off) / (b * (b - 1))


def _value_with_grad_of(value: Array, surrogate: Array) -> Array:
    """``value`` forward, ``surrogate``'s gradient backward."""
    return surrogate + _sg(value - surrogate)


def js(scores: Array | ScoreStats) -> Array:
    """Trains on `js_objective`; reports ``nwj(S + 1)``, the NWJ bound of the critic
    $1 + f$ (tight at the JS optimum $f = \\log r$)."""
    st = _stats(scores)
    value = jnp.mean(st.diag) + 1.0 - jnp.exp(_lme_off(st.lse_off))
    return _value_with_grad_of(value, js_objective(st))


def smile(scores: Array | ScoreStats, *, tau: float | Array = 5.0) -> Array:
    """SMILE (Song & Ermon, 2020): trains on `js_objective`, reports the clipped DV
    $\\bar S_{ii} - \\mathrm{lme}_{i\\ne j}\\,\\mathrm{clip}(S_{ij}, -\\tau, \\tau)$
    (equivalently $\\log\\mathbb E_Q\\,\\mathrm{clip}(e^f, e^{-\\tau}, e^\\tau)$).

    Clipping bounds the variance of the partition estimate by
    $(e^\\tau - e^{-\\tau})^2/(4n)$ at the cost of bias; ``tau=inf`` is DV evaluation of a
    JS-trained critic. ``tau`` is traced (sweeps don't recompile). For a `ScoreStats`
    input the clip is the one it was built with and ``tau`` is not used.
    """
    st = _stats(scores, tau)
    value = jnp.mean(st.diag) - _lme_off(st.lse_off_clipped)
    return _value_with_grad_of(value, js_objective(st))


def mine(
    scores: Array | ScoreStats, log_ma: Array, *, rate: float | Array = 0.01
) -> tuple[Array, Array]:
    """MINE (Belghazi et al., 2018): DV value, bias-corrected gradient; state explicit.

    The DV gradient $\\mathbb E_P\\nabla f - \\mathbb E_Q[e^f\\nabla f]/\\mathbb E_Q e^f$ is
    estimated with the denominator replaced by an exponential moving average ``ma`` of the
    minibatch means $\\overline{e^{S_{ij}}}$, kept in log space:
    ``log_ma ← logaddexp(log(1-rate) + log_ma, log(rate) + lme)`` (initialise with ``-inf``:
    the first batch then sets it). Returns ``(value, new_log_ma)``: the value is DV, its
    gradient is ``mean_i ∇S_ii − exp(lme − log_ma) ∇lme``.
    """
    st = _stats(scores)
    lme = _lme_off(st.lse_off)
    rate = jnp.asarray(rate, lme.dtype)
    log_ma = jnp.asarray(log_ma, lme.dtype)
    blended = jnp.logaddexp(jnp.log1p(-rate) + log_ma, jnp.log(rate) + _sg(lme))
    new_log_ma = jnp.where(jnp.isneginf(log_ma), _sg(lme), blended)
    value = jnp.mean(st.diag) - lme
    surrogate = jnp.mean(st.diag) - _sg(jnp.exp(lme - new_log_ma)) * lme
    return _value_with_grad_of(value, surrogate), new_log_ma
