"""KSG transfer entropy: the Frenzel–Pompe conditional MI of the delay embedding.

TE_{X→Y} = I(Y_t; X⁻ | Y⁻) = ψ(k) + ⟨ψ(n_{y⁻} + 1) − ψ(n_{y_t, y⁻} + 1) − ψ(n_{x⁻, y⁻} + 1)⟩_t

(Frenzel & Pompe, PRL 99, 204101, 2007; the single joint-space search JIDT adopted): ε_t is the
max-norm distance to the k-th neighbour of (y_t, y⁻, x⁻) with self excluded, each n counts
points of a marginal subspace strictly closer than ε_t, and rows |t − t′| ≤ ``theiler`` are
excluded from the search and the counts. Computed by
[`infoest.knn.ksg_cmi_core`][infoest.knn.ksg_cmi_core] on the
embedding of [`infoest.temporal.embedding`][infoest.temporal.embedding] (one neighbour primitive for
the whole library,
[`infoest.ops.neighbors`][infoest.ops.neighbors]). Defaults as JIDT/IDTxl/infomeasure: k = 4,
max-norm,
algorithm 1. Estimates can be negative (bias near 0); a source that duplicates the target
history (TE(X→X)) biases the estimate negative. Nats.
"""

from __future__ import annotations

import functools
import math

import jax

from infoest import _checks, knn
from infoest._estimate import Estimate, make_estimate
from infoest._registry import register
from infoest.knn import ksg_cmi_core
from infoest.ops.ties import duplicate_rows
from infoest.temporal import _common
from infoest.temporal.embedding import embed

__all__ = ["transfer_entropy", "te_from_embedding"]


def te_from_embedding(y_now, y_past, x_past, *, k=4, norm="max", theiler=0, backend="auto"):
    """KSG TE I(Y_t; X⁻ | Y⁻) of embedded arrays (no standardisation, no jitter)."""
    return ksg_cmi_core(y_now, x_past, y_past, k=k, norm=norm, theiler=theiler,
                        backend=backend)


def serial_block(n: int, theiler: int = 0) -> int:
    """Block length of the half-samples of n embedded rows: ⌈n^{1/3}⌉ (the classic rate for
    block subsampling, Politis & Romano 1994), at least the Theiler window + 1."""
    return max(theiler + 1, math.ceil(n ** (1.0 / 3.0)))


@functools.partial(jax.jit, static_argnames=("lags", "k", "norm", "theiler", "standardize",
                                             "backend", "surrogates", "surrogate", "block",
                                             "batch_size"))
def _run(x, y, jitter, key, *, lags, k, norm, theiler, standardize, backend, surrogates,
         surrogate, block, batch_size):
    if key is None:
        k_noise, k_sur, k_sub = None, None, knn.subsample_key(None)
    else:
        k_noise, k_sur, k_sub = tuple(jax.random.split(key, 3))
        k_sub = knn.subsample_key(k_sub)
    constant = knn.any_constant(x, y)
    copies = duplicate_rows(*embed(x, y, lags))
    x, y = knn.prepare(x, y, standardize=standardize, jitter=jitter, key=k_noise)
    core = functools.partial(te_from_embedding, k=k, norm=norm, theiler=theiler,
                             backend=knn.value_backend(backend, x.dtype))
    value, diag = _common.run(core, x, y, lags, key=k_sur, surrogates=surrogates,
                              surrogate=surrogate, block=block, batch_size=batch_size)
    rows = embed(x, y, lags)
    halves = functools.partial(te_from_embedding, k=k, norm=norm, theiler=theiler,
                               backend=knn.stderr_backend(backend, x.dtype))
    stderr = knn.subsample_stderr(halves, rows, k_sub,
                                  block=serial_block(rows[0].shape[0], theiler))
    value, stderr, status, copies = knn.constant_or_ties(value, stderr, constant, copies)
    return value, stderr, status, dict(diag, duplicates=copies)


@register("transfer_entropy", "ksg", min_samples=64, test_kwargs={"k": 3}, min_n=8)
def transfer_entropy(source, target, *, history=1, source_history=None, delay=1, tau=1,
                     source_tau=1, k=4, norm="max", theiler=0, standardize=True, jitter=None,
                     key=None, surrogates=0, surrogate="shuffle", block=None,
                     surrogate_batch=None, backend="auto") -> Estimate:
    """KSG (Frenzel–Pompe) transfer entropy TE(source → target), in nats.

    Args:
        source, target: time series ``(T,)`` or ``(T, d)``, time on axis 0.
        history, source_history, delay, tau, source_tau: the embedding
            ([`infoest.temporal.embedding.check_lags`][infoest.temporal.embedding.check_lags];
            JIDT's k, l, delay, k_tau, l_tau).
        k: neighbour order (default 4, as JIDT/IDTxl/infomeasure).
        norm: ``"max"`` (default, the reference) or ``"euclidean"`` inside each variable.
        theiler: Theiler window over embedded rows (static; default 0 = self only).
        standardize: scale both series to zero mean, unit variance first (as JIDT).
        jitter: Gaussian noise, relative to each column's scale, added to break ties. None
            (default): 1e-6 when ``key`` is given, else none; a number needs ``key``
            (JIDT/IDTxl add 1e-8, which float32 cannot resolve).
        key: PRNG key for the jitter, the surrogates and the half-samples of the stderr
            (a fixed key for the half-samples when None).
        surrogates: number S of surrogates of the source history (0: no test), all evaluated
            by one vmapped call; ``surrogate``: ``"shuffle"``, ``"block"`` or ``"shift"``;
            ``block``: block length; ``surrogate_batch``: evaluate the surrogates in chunks
            of this size (bounds memory of the brute-force backend).
        backend: neighbour search ``"auto"`` | ``"brute"`` | ``"tree"``
            ([`infoest.ops.neighbors`][infoest.ops.neighbors]).

    stderr: delete-d jackknife over 20 half-samples made of blocks of ⌈n^{1/3}⌉ consecutive
    embedded rows (serial dependence kept inside blocks; [infoest.knn.subsample_stderr][]),
    in the same compiled call; sampling error only. A constant source or target gives exactly 0.
    Exact duplicate embedded rows (a repeated or discrete-valued series) give status
    DEGENERATE with ``diagnostics["duplicates"]`` = rows − distinct rows (see
    [infoest.knn][]; ``discrete="source"``/``"both"`` for discrete series).

    Returns:
        Estimate; with surrogates, diagnostics ``p_value``, ``null_mean``, ``null_std``,
        ``t_score``, ``effective_te`` (estimate − null mean) and the ``null`` values.
    """
    x, y, lags, surrogates = _common.prepare(
        source, target, history=history, source_history=source_history, delay=delay, tau=tau,
        source_tau=source_tau, surrogates=surrogates, surrogate=surrogate, block=block, key=key)
    n = lags.n_rows(x.shape[0])
    k = _checks.check_knn_options(n, k, norm=norm, backend=backend, jitter=jitter, key=key,
                                  theiler=theiler, block=serial_block(n, theiler))
    if surrogate_batch is not None:
        _checks.check_positive_int(surrogate_batch, "surrogate_batch")
    value, stderr, status, diag = _run(x, y, knn.resolve_jitter(jitter, key), key, lags=lags, k=k,
                               norm=norm, theiler=theiler, standardize=bool(standardize),
                               backend=backend, surrogates=surrogates, surrogate=surrogate,
                               block=block, batch_size=surrogate_batch)
    return make_estimate(value, stderr, status=status, method="ksg", **diag)
