r"""Neural MI estimators: train a critic on one part of the data, evaluate a bound on the rest.

`mutual_information(x, y, bound=..., key=...)` does everything in **one compiled call**:
standardise x and y, split off `eval_fraction` as held-out data, train the critic with
[fit][infoest.train.fit] (a `lax.scan`; minibatches drawn inside), then evaluate the bound on
*all* held-out pairs without forming the $n \times n$ score matrix
([critic_stats][infoest.variational.bounds.critic_stats]). It can be `jax.vmap`-ed over keys,
datasets of one shape, or $\tau$ / learning rate; under `vmap` the fits run in groups
([batched_fits][infoest.train.batched_fits]: one after another on CPU).

The fuller API separates the two stages: [fit_critic][infoest.variational.fit_critic] returns a
[CriticFit][infoest.variational.CriticFit] and [evaluate][infoest.variational.evaluate]
applies it to new data. Every option lives in
[VariationalConfig][infoest.variational.config.VariationalConfig] (one place for defaults); the
functions take `config=` and/or its fields as keywords.

| `bound` | trained on | reported (held-out) |
|---|---|---|
| `smile` | JS (f-GAN) | clipped DV, `tau` (default 5) |
| `mine` | DV, moving-average gradient | DV |
| `dv` | DV | DV |
| `nwj` | NWJ | NWJ |
| `infonce` | InfoNCE | InfoNCE over all held-out pairs ($\le \log n_\text{eval}$) |
| `js` | JS (f-GAN) | NWJ of the critic $1 + f$ |

**Error bar.** `stderr` is the spread of the same bound over `stderr_blocks` (20) disjoint
blocks of held-out rows, each evaluated on its own pairs: with block values $v_1..v_K$,
$\mathrm{stderr} = \mathrm{sd}(v_k)/\sqrt K$. It covers the sampling variance of the held-out
evaluation (and, through the blocks, of the critic's fit to the data it sees), not the bias of
an under-trained critic or of the bound (InfoNCE's $\log n$ cap). Coverage of
value ± 1.96·stderr is measured in `docs/variational.md` ("Error bars").

**Divergence.** `status` is `Status.DIVERGED` when training hit a non-finite loss, gradient or
parameter, when a training bound left $\pm$[sane_limit][infoest.variational.config.sane_limit]
of the batch, or when the held-out value is not finite or leaves $\pm$ the sane limit of the
held-out pairs; the registered methods then raise (or return NaN with `throw=False`).

Defaults: joint critic (ReLU MLP (16, 8) on concat(x, y), bmi's architecture), batch 256, at
most 2 000 Adam steps at lr 1e-3, half the data held out, held-out monitoring every 100 steps
on all pairs of `eval_size` = 1 024 held-out rows, stop after 5 evaluations without
improvement, keep the best critic. For the `bmi` benchmark protocol pass
`critic="joint", hidden=(16, 8), learning_rate=0.1, steps=10_000, eval_every=250, patience=2,
select="best"`; for the SMILE protocol `critic="separable", hidden=(256, 256, 256),
batch_size=64, learning_rate=5e-4`.

References: Song & Ermon, ICLR 2020 (arXiv:1910.06222); Belghazi et al., ICML 2018
(arXiv:1801.04062); Poole et al., ICML 2019 (arXiv:1905.06922).
"""

from __future__ import annotations

import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import Array

from infoest._checks import check_choice, check_positive_int, paired_samples
from infoest._estimate import Estimate, Status, make_estimate
from infoest._registry import register
from infoest.ops.standardize import column_scale
from infoest.train import FitResult, batched_fits, diverged, fit
from infoest.variational import bounds
from infoest.variational.config import BOUNDS, VariationalConfig, sane_limit
from infoest.variational.critics import make_critic

__all__ = ["BOUNDS", "CriticFit", "VariationalConfig", "evaluate", "fit_critic",
           "mutual_information"]


class CriticFit(eqx.Module):
    """A trained critic with what is needed to apply it to new data.

    Attributes:
        critic: the trained critic (acts on standardised data).
        x_mean, x_std, y_mean, y_std: the standardisation fitted on the training data
            (zeros/ones when `standardize=False`).
        tau: the SMILE clip used for reporting.
        training: the [FitResult][infoest.train.FitResult] (`train_aux` is the bound's value
            at every step).
        bound: the bound's name (static).
    """

    critic: Any
    x_mean: Array
    x_std: Array
    y_mean: Array
    y_std: Array
    tau: Array
    training: FitResult
    bound: str = eqx.field(static=True)

    def standardize(self, x: Array, y: Array) -> tuple[Array, Array]:
        return (x - self.x_mean) / self.x_std, (y - self.y_mean) / self.y_std


def _options(config: VariationalConfig | None, critic: Any,
             options: dict[str, Any]) -> tuple[VariationalConfig, Any]:
    """The configuration (`config` with `options` applied) and the user critic module."""
    config = VariationalConfig() if config is None else config
    if critic is None:
        user = None
    elif isinstance(critic, str):
        options["critic"] = critic
        user = None
    elif callable(critic):
        user = critic
    else:
        raise TypeError("`critic` must be 'joint', 'separable' or a callable critic module, "
                        f"got {type(critic).__name__}")
    unknown = set(options) - set(VariationalConfig.__dataclass_fields__)
    if unknown:
        raise TypeError(f"unknown option(s) {sorted(unknown)}; see VariationalConfig")
    return config.replace(**options) if options else config, user


def _report(bound: str, stats: bounds.ScoreStats) -> Array:
    """The value a bound reports (MINE reports DV; SMILE's clip lives in `stats`)."""
    if bound in ("mine", "dv"):
        return bounds.dv(stats)
    if bound == "smile":
        return bounds.smile(stats)
    return {"nwj": bounds.nwj, "infonce": bounds.infonce, "js": bounds.js}[bound](stats)


def _loss(bound: str, tau: Array, rate: Array):
    """The training loss `-bound` in the [fit][infoest.train.fit] contract."""
    if bound == "mine":
        def loss(critic, batch, key, log_ma):
            del key
            value, log_ma = bounds.mine(bounds.score_matrix(critic, *batch), log_ma, rate=rate)
            return -value, value, log_ma
        return loss

    def loss(critic, batch, key):
        del key
        scores = bounds.score_matrix(critic, *batch)
        if bound == "smile":
            value = bounds.smile(scores, tau=tau)
        else:
            value = getattr(bounds, bound)(scores)
        return -value, value
    return loss


def _held_out_value(critic, xs, ys, tau, bound: str, chunk_size: int,
                    blocks: int) -> tuple[Array, Array]:
    """The bound on all $m^2$ held-out pairs and its stderr from `blocks` disjoint blocks.

    $\\mathrm{stderr} = \\mathrm{sd}(v_1..v_K)/\\sqrt K$ where $v_k$ is the bound on the
    pairs within block $k$ of $\\lfloor m/K \\rfloor$ rows ($K$ = `blocks`, at most $m/2$).
    """
    stats = bounds.critic_stats(critic, xs, ys, tau=tau, chunk_size=chunk_size)
    value = _report(bound, stats)
    m = xs.shape[0]
    k = max(2, min(blocks, m // 2))
    size = m // k

    def block(xb, yb):
        st = bounds.critic_stats(critic, xb, yb, tau=tau, chunk_size=min(chunk_size, size))
        return _report(bound, st)

    values = jax.vmap(block)(xs[: k * size].reshape(k, size, -1),
                             ys[: k * size].reshape(k, size, -1))
    return value, jnp.std(values, ddof=1) / math.sqrt(k)


def _status(training: FitResult, value: Array, pairs: int) -> Array:
    """`Status.DIVERGED` where training diverged (EMA included) or the value exploded."""
    bad = diverged(training) | ~jnp.isfinite(value) | (jnp.abs(value) > sane_limit(pairs))
    return jnp.where(bad, Status.DIVERGED, Status.OK).astype(jnp.int32)


def _diagnostics(tr: FitResult) -> dict[str, Array]:
    return dict(train_curve=tr.train_aux, eval_curve=-tr.eval_loss, train_status=tr.status,
                steps_run=tr.steps_run, best_step=tr.best_step)


def _standardizer(x: Array, y: Array, on: bool) -> tuple[Array, ...]:
    """Column means and standard deviations (zeros/ones when `on` is False)."""
    if not on:
        return (jnp.zeros(x.shape[1], x.dtype), jnp.ones(x.shape[1], x.dtype),
                jnp.zeros(y.shape[1], y.dtype), jnp.ones(y.shape[1], y.dtype))
    return jnp.mean(x, 0), _scale(x), jnp.mean(y, 0), _scale(y)


def _scale(a: Array) -> Array:
    """Column scale without under/overflow at 1e±30; 1 for a constant column."""
    s = column_scale(a)
    return jnp.where(s > 0, s, 1.0).astype(a.dtype)


def _train(x, y, eval_data, key, critic, config: VariationalConfig) -> CriticFit:
    """Train the critic on `(x, y)` (monitoring on `eval_data` when given); traced."""
    init_key, fit_key = jax.random.split(key)
    mx, sx, my, sy = _standardizer(x, y, config.standardize)
    dtype = x.dtype
    if critic is None:
        critic = make_critic(config.critic, x.shape[1], y.shape[1], hidden=config.hidden,
                             embed_dim=config.embed_dim, key=init_key, dtype=dtype)
    tau = config.tau.astype(dtype)
    eval_fn = None
    if eval_data is not None:
        m = min(config.eval_size, eval_data[0].shape[0])
        eval_data = ((eval_data[0][:m] - mx) / sx, (eval_data[1][:m] - my) / sy)

        def eval_fn(c, ev, k):
            """Minus the reported bound on all m² held-out pairs (one fixed set of rows)."""
            del k
            return -_report(config.bound, bounds.critic_stats(c, *ev, tau=tau,
                                                              chunk_size=config.chunk_size))
    b = config.batch_size
    training = fit(
        _loss(config.bound, tau, config.mine_rate.astype(dtype)), critic,
        ((x - mx) / sx, (y - my) / sy), key=fit_key, steps=config.steps, batch_size=b,
        learning_rate=config.learning_rate.astype(dtype), eval_data=eval_data,
        eval_every=config.eval_every, eval_fn=eval_fn, patience=config.patience,
        keep_best=config.select == "best", max_loss=sane_limit(b * (b - 1)),
        state=jnp.array(-jnp.inf, dtype) if config.bound == "mine" else None,
        progress=config.progress, throw=False)
    return CriticFit(training.model, mx, sx, my, sy, tau, training, config.bound)


def fit_critic(x, y, *, key: Array, config: VariationalConfig | None = None,
               critic: str | eqx.Module | None = None,
               eval_data: tuple[Array, Array] | None = None,
               **options: Any) -> CriticFit:
    """Train a critic on all of `(x, y)` by maximising `config.bound`.

    Options: `config` and/or the fields of
    [VariationalConfig][infoest.variational.config.VariationalConfig] as keywords.
    `eval_data=(x_ev, y_ev)` enables held-out monitoring (`eval_every`, `patience`,
    `select="best"`; the metric is the bound on all pairs of the first `eval_size` rows);
    without it the critic is trained for `steps` steps and the last one kept. Training does
    not raise on divergence: check `diverged(result.training)` or use
    [evaluate][infoest.variational.evaluate], whose status reports it.
    """
    x, y = paired_samples((x, "x"), (y, "y"))
    monitoring = {k for k in ("eval_every", "patience") if options.get(k) is not None}
    monitoring |= {"select"} if options.get("select") == "best" else set()
    config, user = _options(config, critic, options)
    if eval_data is not None:
        ex, ey = paired_samples((eval_data[0], "eval_data[0]"), (eval_data[1], "eval_data[1]"))
        eval_data = (ex.astype(x.dtype), ey.astype(x.dtype))
    elif monitoring:
        raise ValueError("held-out monitoring (`eval_every`, `patience`, `select='best'`) "
                         "needs `eval_data`")
    else:
        config = config.replace(eval_every=None, patience=None, select="last")
    config = config.resolve(x.shape[0])
    return _fit_critic(x, y, eval_data, key, user, config)


_fit_critic = eqx.filter_jit(_train)


def evaluate(fitted: CriticFit, x, y, *, bound: str | None = None, chunk_size: int = 64,
             stderr_blocks: int = 20) -> Estimate:
    """The bound of a trained critic on new data `(x, y)`, over *all* $n^2$ pairs, in nats.

    Memory is linear in n (rows are computed `chunk_size` at a time). `bound` defaults to
    the one `fitted` was trained for (its reported value: DV for `"mine"`, clipped DV for
    `"smile"`); InfoNCE here is capped at $\\log n$, not $\\log$ batch_size. `stderr` is the
    spread over `stderr_blocks` disjoint blocks of rows (see the module docstring); `status`
    is `DIVERGED` if training diverged or the value exploded (no exception is raised here).
    """
    x, y = paired_samples((x, "x"), (y, "y"))
    bound = fitted.bound if bound is None else check_choice(bound, "bound", BOUNDS)
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    stderr_blocks = check_positive_int(stderr_blocks, "stderr_blocks")
    dtype = fitted.x_mean.dtype
    value, stderr = _evaluate(fitted, x.astype(dtype), y.astype(dtype), bound, chunk_size,
                              stderr_blocks)
    n = x.shape[0]
    status = _status(fitted.training, value, n * (n - 1))
    return make_estimate(value, stderr, status=status, method=bound,
                         **_diagnostics(fitted.training))


@eqx.filter_jit
def _evaluate(fitted, x, y, bound, chunk_size, blocks):
    xs, ys = fitted.standardize(x, y)
    return _held_out_value(fitted.critic, xs, ys, fitted.tau, bound, chunk_size, blocks)


def mutual_information(x, y, *, key: Array, config: VariationalConfig | None = None,
                       critic: str | eqx.Module | None = None, **options: Any) -> Estimate:
    """Variational estimate of $I(X;Y)$ in nats: train a critic, evaluate a bound held out.

    Args:
        x, y: paired samples `(n, dx)`, `(n, dy)`.
        key: PRNG key (split, critic initialisation, minibatches).
        config: a [VariationalConfig][infoest.variational.config.VariationalConfig]; its
            fields may also be given (or overridden) as keywords, e.g. `bound="nwj"`,
            `steps=500`, `learning_rate=1e-2` (traced), `tau=2.0` (traced).
        critic: `"joint"`, `"separable"` (default: `config.critic`, `"joint"`), or your own
            critic module `critic(x_i, y_j) -> scalar` (initialised; acts on standardised
            data).

    The data are shuffled and z-scored (statistics of all samples, as bmi), `eval_fraction`
    is held out, the critic is trained on the rest with held-out monitoring (every
    `eval_every` steps, the bound on all pairs of the first `eval_size` held-out rows;
    `select="best"` selects on rows that also enter the final value, a small upward bias as
    in bmi), and the bound is evaluated on all held-out pairs.

    Returns:
        [Estimate][infoest.Estimate]: `value` (nats), `stderr` (spread over `stderr_blocks`
        disjoint held-out blocks, see the module docstring), `status` (`DIVERGED` on a
        non-finite or exploding loss, gradient, parameter or value; then `value` is NaN and,
        with `throw=True`, an error is raised), diagnostics `train_curve` (bound on each
        training batch), `eval_curve`, `train_status` (`infoest.train.STATUS`), `steps_run`,
        `best_step`.
    """
    x, y = paired_samples((x, "x"), (y, "y"))
    config, user = _options(config, critic, options)
    n = x.shape[0]
    n_eval = int(n * config.eval_fraction)
    if n_eval < 2 or n - n_eval < 2:
        raise ValueError(f"`eval_fraction`={config.eval_fraction} of n={n} leaves too few "
                         "samples")
    config = config.resolve(n - n_eval)
    value, stderr, status, diagnostics = _estimate(x, y, key, user, config, n_eval)
    return make_estimate(value, stderr, status=status, method=config.bound, **diagnostics)


def _estimate_impl(x, y, key, critic, config: VariationalConfig, n_eval: int):
    """Shuffle, standardise, split, train, evaluate; returns value, stderr, status, diag."""
    split_key, key = jax.random.split(key)
    perm = jax.random.permutation(split_key, x.shape[0])
    x, y = x[perm], y[perm]
    mx, sx, my, sy = _standardizer(x, y, config.standardize)
    x, y = (x - mx) / sx, (y - my) / sy
    held_out = (x[:n_eval], y[:n_eval])
    fitted = _train(x[n_eval:], y[n_eval:], held_out if config.monitored else None, key,
                    critic, config.replace(standardize=False))
    value, stderr = _held_out_value(fitted.critic, *held_out, fitted.tau, config.bound,
                                    config.chunk_size, config.stderr_blocks)
    status = _status(fitted.training, value, n_eval * (n_eval - 1))
    ok = status == Status.OK
    value = jnp.where(ok, value, jnp.nan)
    if config.throw:
        value = eqx.error_if(
            value, ~ok, "infoest.variational: training diverged (status DIVERGED: a NaN/inf "
            "or exploding loss, gradient or bound); lower `learning_rate`, or pass "
            "throw=False to get status and diagnostics")
    return value, jnp.where(ok, stderr, jnp.nan), status, _diagnostics(fitted.training)


@eqx.filter_jit
def _estimate(x, y, key, critic, config, n_eval):
    def run(x, y, key, critic, config):
        return _estimate_impl(x, y, key, critic, config, n_eval)
    return batched_fits(run, config.vmap_group)(x, y, key, critic, config)


_TEST_KWARGS = dict(steps=10, hidden=(4,), embed_dim=4, batch_size=16, select="last", patience=None)
#: `infoest bench` settings: a small separable critic trained long enough to be meaningful
#: on the quick tasks (2+2 dims, n = 1 000: 500 training pairs), a few seconds per run on CPU
#: (mostly compilation). Fixed length, last critic: no held-out monitoring to compile.
_BENCH_KWARGS = dict(critic="separable", steps=300, hidden=(32,), embed_dim=8, learning_rate=5e-3,
                     select="last", patience=None)


def _register(name: str, doc: str):
    def estimator(x, y, *, key: Array, **kwargs: Any) -> Estimate:
        # The registry's contract raises on a bad status (or returns NaN with throw=False).
        return mutual_information(x, y, key=key, **{**kwargs, "bound": name, "throw": False})

    estimator.__name__ = name
    estimator.__qualname__ = name
    estimator.__doc__ = (
        f"{doc}\n\n`infoest.mutual_information(x, y, method={name!r}, key=...)`: "
        f"[mutual_information][infoest.variational.mutual_information] with `bound={name!r}`; "
        "all its keyword arguments apply. `stderr`: spread of the bound over 20 disjoint "
        "held-out blocks; `status` DIVERGED on a non-finite or exploding fit.")
    register("mutual_information", name, stochastic=True, differentiable=False,
             test_kwargs=_TEST_KWARGS, bench_kwargs=_BENCH_KWARGS, min_samples=64)(estimator)
    return estimator


smile = _register("smile", "SMILE (Song & Ermon, 2020): JS-trained critic, clipped-DV value.")
mine = _register("mine", "MINE (Belghazi et al., 2018): DV with moving-average gradients.")
nwj = _register("nwj", "NWJ / MINE-f bound (Nguyen, Wainwright & Jordan, 2010).")
infonce = _register("infonce", "InfoNCE / CPC bound (van den Oord et al., 2018), ≤ log n_eval.")
dv = _register("dv", "Donsker–Varadhan bound with a neural critic.")
