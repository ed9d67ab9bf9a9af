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

import jax

from infoest import _checks
from infoest._estimate import Estimate, make_estimate
from infoest._registry import register
from infoest.knn import _check_options, ksg_cmi_core, prepare
from infoest.temporal import _common

__all__ = ["transfer_entropy", "te_from_embedding"]


def te_from_embedding(y_now, y_past, x_past, *, k=4, norm="max", theiler=0, backend="auto"):
    """KSG TE I(Y_t; X⁻ | Y⁻) of embedded arrays (no standardisation, no jitter)."""
    return ksg_cmi_core(y_now, x_past, y_past, k=k, norm=norm, theiler=theiler,
                        backend=backend)


@functools.partial(jax.jit, static_argnames=("lags", "k", "norm", "theiler", "standardize",
                                             "backend", "surrogates", "surrogate", "block",
                                             "batch_size"))
def _run(x, y, jitter, key, *, lags, k, norm, theiler, standardize, backend, surrogates,
         surrogate, block, batch_size):
    k_noise, k_sur = (None, None) if key is None else tuple(jax.random.split(key))
    if jitter is None:
        k_noise = None
    x, y = prepare(x, y, standardize=standardize, jitter=0.0 if jitter is None else jitter,
                   key=k_noise)
    core = functools.partial(te_from_embedding, k=k, norm=norm, theiler=theiler,
                             backend=backend)
    return _common.run(core, x, y, lags, key=k_sur, surrogates=surrogates,
                       surrogate=surrogate, block=block, batch_size=batch_size)


@register("transfer_entropy", "ksg", min_samples=64, test_kwargs={"k": 3})
def transfer_entropy(source, target, *, history=1, source_history=None, delay=1, tau=1,
                     source_tau=1, k=4, norm="max", theiler=0, standardize=True, jitter=0.0,
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
        jitter: scale of Gaussian noise added after standardising to break ties (needs
            ``key``; JIDT/IDTxl add 1e-8, in float32 use ≥ 1e-6). Default 0 (off).
        key: PRNG key for the jitter and the surrogates.
        surrogates: number S of surrogates of the source history (0: no test), all evaluated
            by one vmapped call; ``surrogate``: ``"shuffle"``, ``"block"`` or ``"shift"``;
            ``block``: block length; ``surrogate_batch``: evaluate the surrogates in chunks
            of this size (bounds memory of the brute-force backend).
        backend: neighbour search ``"auto"`` | ``"brute"`` | ``"tree"``
            ([`infoest.ops.neighbors`][infoest.ops.neighbors]).

    Returns:
        Estimate; with surrogates, diagnostics ``p_value``, ``null_mean``, ``null_std``,
        ``t_score``, ``effective_te`` (estimate − null mean) and the ``null`` values.
    """
    x, y, lags, surrogates = _common.prepare(
        source, target, history=history, source_history=source_history, delay=delay, tau=tau,
        source_tau=source_tau, surrogates=surrogates, surrogate=surrogate, block=block, key=key)
    k = _check_options(lags.n_rows(x.shape[0]), k, norm=norm, backend=backend, jitter=jitter,
                       key=key, theiler=theiler)
    if surrogate_batch is not None:
        _checks.check_positive_int(surrogate_batch, "surrogate_batch")
    value, diag = _run(x, y, None if key is None else jitter, key, lags=lags, k=k, norm=norm,
                       theiler=theiler, standardize=bool(standardize), backend=backend,
                       surrogates=surrogates, surrogate=surrogate, block=block,
                       batch_size=surrogate_batch)
    return make_estimate(value, method="ksg", **diag)
