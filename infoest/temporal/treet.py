"""TREET: transfer entropy as a difference of two Donsker–Varadhan bounds with transformer critics.

Luxembourg, Tsur & Permuter, "TREET: TRansfer Entropy Estimation via Transformers"
(arXiv 2402.06919; IEEE Access 2025), the DINE construction (Tsur et al., arXiv 2203.14743) with
the recurrent critic replaced by a transformer. With memory m and a fixed reference density P̃
for Y_t (uniform on the data's range),

    D_XY = D(P_{Y_t, Y⁻, X⁻} ‖ P̃ ⊗ P_{Y⁻, X⁻}),   D_Y = D(P_{Y_t, Y⁻} ‖ P̃ ⊗ P_{Y⁻}),
    TE   = D_XY − D_Y = I(Y_t; X⁻ | Y⁻)           (the reference terms cancel),

each KL estimated by its DV bound D ≥ E_P[T] − log E_{P̃⊗P_past}[e^T] with its own critic T: one
sees the target window (y_{t−m}, …, y_t), the other the tokens (y_s, x_{s−u}) of the same window.
Both critics are
[`infoest.nn.transformer.CausalTransformer`][infoest.nn.transformer.CausalTransformer] read at the
last position;
the reference term evaluates them on the real window with only the last y replaced by a draw
from P̃ (the "fixed past" trick: causal attention keeps every past key and value real).
Training maximises DV_Y + DV_XY with Adam through the library's driver
[`infoest.train.fit`][infoest.train.fit]
(one compiled ``lax.scan``); the estimate is DV_XY − DV_Y on all windows. Nats.

With ``delay=0`` the source window includes x_t: the directed information rate
I(X^t → Y_t | Y^{t−1}) used for channel capacity (Gaussian channel with feedback).
The series are standardised first by `infoest.ops.standardize` (TE is invariant to affine
maps of each series); a constant source or target gives TE = 0 exactly (stderr 0).

**stderr** ([dv_stderr][infoest.temporal.treet.dv_stderr]): the delta-method (influence
function) standard error of DV_XY − DV_Y over the evaluation windows, with the windows'
serial dependence accounted for by batch means over contiguous blocks. It covers the
sampling variance of the windows and the reference draws given the trained critics, not the
critics' training noise or the bias (coverage: `docs/transfer_entropy.md`, "Error bars").

**Status**: `Status.DIVERGED` when training diverged: a non-finite loss or gradient, a
non-finite critic weight, or a DV term beyond `EXPLODE · (1 + log n)` nats for n windows (a
DV-type bound cannot support more than O(log n) nats from n samples; McAllester & Stratos,
AISTATS 2020).
"""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from infoest import _checks
from infoest._estimate import Estimate, Status, make_estimate
from infoest._registry import register
from infoest.nn.transformer import stacked_transformers
from infoest.ops.special import logmeanexp
from infoest.ops.standardize import is_constant, standardize
from infoest.temporal import _common
from infoest.temporal.config import TREETConfig
from infoest.temporal.embedding import embed
from infoest.train import fit

__all__ = ["TREETConfig", "transfer_entropy", "windows", "critic_scores", "dv_terms",
           "dv_stderr", "make_critics"]

#: a DV term beyond EXPLODE · (1 + log n) nats marks the training as diverged
EXPLODE = 10.0
#: at most this many blocks (batch means) in the stderr
MAX_BLOCKS = 50
MIN_N = 16


def windows(y_now, y_past, x_past, history: int):
    """Chronological token windows from an embedding with l = history + 1 source lags.

    Returns ``(y_seq, x_seq)`` of shapes (n, m + 1, d_y) and (n, m + 1, d_x): y_{t−m}..y_t and
    x_{t−u−m}..x_{t−u}.
    """
    n, dy = y_now.shape
    y_seq = jnp.concatenate([y_past.reshape(n, history, dy)[:, ::-1], y_now[:, None]], axis=1)
    x_seq = x_past.reshape(n, history + 1, -1)[:, ::-1]
    return y_seq, x_seq


def critic_scores(critics, y_seq, x_seq, y_ref):
    """Scores ``(2, 1 + draws, b)`` of the stacked critics (y-critic, xy-critic).

    Row 0 of axis 1 is the real windows, rows 1.. the windows with the last y replaced by the
    reference draws ``y_ref: (draws, b, d_y)``. Both critics share one architecture (the
    y-critic's source inputs are zeros), so they are one vmapped network: one graph to compile.
    """
    drawn = jnp.broadcast_to(y_seq, (y_ref.shape[0], *y_seq.shape)).at[:, :, -1].set(y_ref)
    y_all = jnp.concatenate([y_seq[None], drawn])
    x_all = jnp.broadcast_to(x_seq, (y_all.shape[0], *x_seq.shape))
    tokens = jnp.stack([jnp.concatenate([y_all, jnp.zeros_like(x_all)], axis=-1),
                        jnp.concatenate([y_all, x_all], axis=-1)])
    return eqx.filter_vmap(lambda c, t: c(t))(critics, tokens)


def dv_terms(critics, y_seq, x_seq, y_ref):
    """``(DV_Y, DV_XY)``: the DV bounds mean T(real) − log mean exp T(drawn) of both critics on
    a batch of windows, with reference draws ``y_ref: (draws, b, d_y)`` for the last y."""
    scores = critic_scores(critics, y_seq, x_seq, y_ref)
    dv = scores[:, 0].mean(axis=-1) - logmeanexp(scores[:, 1:], axis=(1, 2))
    return dv[0], dv[1]


def dv_influence(scores):
    """Per-window influence values ``(n,)`` of DV_XY − DV_Y from the critic scores
    ``(2, 1 + draws, n)`` of [critic_scores][infoest.temporal.treet.critic_scores].

    For DV = mean_i a_i − log mean_{d,i} e^{r_{d,i}} the influence of window i is
    (a_i − ā) − (mean_d e^{r_{d,i}} / mean_{d,i} e^{r_{d,i}} − 1) (delta method).
    """
    real, ref = scores[:, 0], scores[:, 1:]
    e = jnp.exp(ref - jax.lax.stop_gradient(ref.max(axis=(1, 2), keepdims=True)))
    per_window = e.mean(axis=1)  # (2, n)
    psi = (real - real.mean(axis=-1, keepdims=True)
           - (per_window / per_window.mean(axis=-1, keepdims=True) - 1.0))
    return psi[1] - psi[0]


def dv_stderr(psi, window: int):
    """Batch-means standard error of the mean of the serially dependent ``psi: (n,)``.

    The windows are cut into B = clip(n // (4·window), 2, MAX_BLOCKS) contiguous blocks
    (each at least four window lengths, so neighbouring blocks share few overlapping
    windows); stderr = sd(block means) / sqrt(B).
    """
    n = psi.shape[0]
    blocks = int(np.clip(n // (4 * window), 2, MAX_BLOCKS))
    length = n // blocks
    means = psi[: blocks * length].reshape(blocks, length).mean(axis=1)
    return means.std(ddof=1) / np.sqrt(blocks)


def make_critics(in_size: int, key, *, width=32, heads=1, ff_width=64, layers=1, dtype=None):
    """The two TREET critics, stacked (a vmapped pair of `CausalTransformer`)."""
    return stacked_transformers(2, in_size, width, heads, ff_width, layers, key=key,
                                dtype=dtype)


def _diverged(result, dv, n_windows: int, learning_rate):
    """Non-finite loss/gradient (the driver's flag), weights or DV terms, an exploding
    DV term (beyond EXPLODE · (1 + log n) nats), or a traced learning rate that is not
    finite and positive."""
    lr_ok = jnp.all(jnp.isfinite(learning_rate) & (learning_rate > 0))
    leaves = jax.tree_util.tree_leaves(eqx.filter(result.model, eqx.is_inexact_array))
    weights_ok = jnp.all(jnp.stack([jnp.all(jnp.isfinite(a)) for a in leaves]))
    dv_ok = jnp.all(jnp.abs(jnp.stack(dv)) <= EXPLODE * (1.0 + np.log(n_windows)))
    return result.failed | ~lr_ok | ~weights_ok | ~dv_ok


@functools.partial(jax.jit, static_argnames=("lags",))
def _run(critics, x, y, key, cfg: TREETConfig, *, lags):
    steps, batch_size, draws = cfg.steps, cfg.batch_size, cfg.draws
    learning_rate = cfg.learning_rate.astype(x.dtype)
    y_seq, x_seq = windows(*embed(standardize(x), standardize(y), lags), lags.history)
    n, window, dy = y_seq.shape
    low, high = y_seq.min(axis=(0, 1)), y_seq.max(axis=(0, 1))
    k_fit, k_draw = jax.random.split(key)
    # All randomness of the run from one draw (each PRNG call site costs seconds of XLA
    # compile time on CPU): minibatch rows (with replacement) and reference samples.
    sizes = (steps * batch_size, steps * draws * batch_size * dy, draws * n * dy)
    u = jax.random.uniform(k_draw, (sum(sizes),), y_seq.dtype)
    u_idx, u_ref, u_eval = jnp.split(u, np.cumsum(sizes)[:-1])
    idx = jnp.minimum((u_idx * n).astype(jnp.int32), n - 1).reshape(steps, batch_size)
    ref = low + (high - low) * u_ref.reshape(steps, draws, batch_size, dy)

    def loss_fn(model, batch, k):
        dv_y, dv_xy = dv_terms(model, *batch)
        return -(dv_y + dv_xy), dv_xy - dv_y

    def draw(k, step):
        return y_seq[idx[step]], x_seq[idx[step]], ref[step]

    result = fit(loss_fn, critics, draw, key=k_fit, steps=steps, batch_size=batch_size,
                 learning_rate=learning_rate, throw=False)
    ref_eval = low + (high - low) * u_eval.reshape(draws, n, dy)
    scores = critic_scores(result.model, y_seq, x_seq, ref_eval)
    dv = scores[:, 0].mean(axis=-1) - logmeanexp(scores[:, 1:], axis=(1, 2))
    stderr = dv_stderr(dv_influence(scores), window)
    diag = {"dv_y": dv[0], "dv_xy": dv[1], "train_curve": result.train_aux,
            "train_status": result.status}
    return dv[1] - dv[0], stderr, _diverged(result, (dv[0], dv[1]), n, learning_rate), diag


@register("transfer_entropy", "treet", stochastic=True, min_samples=64, min_n=MIN_N,
          continuous=("learning_rate",),
          test_kwargs={"steps": 3, "batch_size": 16, "width": 4, "ff_width": 4},
          bench_kwargs={"steps": 500})
def transfer_entropy(source, target, *, key, history=5, delay=1,
                     config: TREETConfig | None = None, **options) -> Estimate:
    """TREET estimate of TE(source → target) (or, with ``delay=0``, directed information), nats.

    Args:
        source, target: time series ``(T,)`` or ``(T, d)``, time on axis 0.
        key: PRNG key (initialisation, minibatches, reference draws).
        history: memory m; the critics see windows of m + 1 time steps (target lags 1..m,
            source lags u..u+m).
        delay: source–target delay u ≥ 0 (0: x_t enters, directed information).
        config: a [TREETConfig][infoest.temporal.config.TREETConfig] (default: its defaults).
        **options: any field of `TREETConfig`, overriding `config`: `steps`, `batch_size`,
            `learning_rate` (Adam training of both critics, one compiled scan through
            [`infoest.train.fit`][infoest.train.fit]; `learning_rate` is traced), `width`,
            `heads`, `ff_width`, `layers` (transformer size), `draws` (reference draws per
            window).

    Returns:
        Estimate with its standard error ([dv_stderr][infoest.temporal.treet.dv_stderr])
        and diagnostics ``dv_y``, ``dv_xy`` (final DV terms), ``train_curve`` (per-step
        minibatch estimate) and ``train_status`` (the driver's code).
    """
    cfg = _checks.resolve_config(TREETConfig, config, options)
    x, y, lags, _ = _common.prepare(
        source, target, history=history, source_history=history + 1 if isinstance(
            history, int) else history, delay=delay, tau=1, source_tau=1, surrogates=0,
        surrogate="shuffle", block=None, key=key, min_rows=4)
    if key is None:
        raise ValueError("TREET is stochastic: pass an explicit PRNG `key=`")
    k_init, k_run = jax.random.split(key)
    critics = make_critics(x.shape[1] + y.shape[1], k_init, width=cfg.width, heads=cfg.heads,
                           ff_width=cfg.ff_width, layers=cfg.layers, dtype=x.dtype)
    value, stderr, diverged, diag = _run(critics, x, y, k_run, cfg, lags=lags)
    const = is_constant(x) | is_constant(y)  # TE with a constant series is 0
    value = jnp.where(const, 0.0, value).astype(x.dtype)
    stderr = jnp.where(const, 0.0, stderr).astype(x.dtype)
    status = jnp.where(diverged & ~const, Status.DIVERGED, Status.OK)
    return make_estimate(value, stderr, status=status, method="treet", **diag)

