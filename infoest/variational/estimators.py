"""Neural MI estimators: train a critic on one part of the data, evaluate a bound on the rest.

``mutual_information(x, y, bound=..., key=...)`` does everything in **one compiled call**:
standardise x and y, split off ``eval_fraction`` as held-out data, train the critic with
[`infoest.train.fit`][infoest.train.fit] (a ``lax.scan``; minibatches drawn inside), then evaluate
the bound on
*all* held-out pairs without forming the n×n score matrix
([`critic_stats`][infoest.variational.bounds.critic_stats]). Because it is one pure function, it can
be
``jax.vmap``-ed over keys (seeds), datasets of one shape, or τ / learning rate.

The fuller API separates the two stages: [`fit_critic`][infoest.variational.estimators.fit_critic]
returns a [`CriticFit`][infoest.variational.estimators.CriticFit]
(the trained critic, the standardisation and the training record) and
[`evaluate`][infoest.variational.estimators.evaluate] applies
it to new data.

========== ============================ ===========================================
``bound``  trained on                   reported (held-out)
========== ============================ ===========================================
``smile``  JS (f-GAN)                   clipped DV, ``tau`` (default 5)
``mine``   DV, moving-average gradient  DV
``dv``     DV                           DV
``nwj``    NWJ                          NWJ
``infonce`` InfoNCE                     InfoNCE over all held-out pairs (≤ log n_eval)
``js``     JS (f-GAN)                   NWJ of the critic 1 + f
========== ============================ ===========================================

Defaults of [`mutual_information`][infoest.variational.estimators.mutual_information]: joint critic
(ReLU MLP (16, 8) on concat(x, y), bmi's
architecture), batch 256, at most 2 000 Adam steps at lr 1e-3, half the data held out. Every
100 steps the bound itself is evaluated on all pairs of a fixed set of ``eval_size`` = 1 024
held-out rows (≈10⁶ pairs, so successive values differ by training, not by sampling noise);
training stops after 5 evaluations without improvement and the best evaluated critic is kept,
then evaluated on all held-out pairs. See ``docs/variational.md`` for the accuracy on
5+5-dimensional Gaussians (within 10 % for every bound). A separable critic (two (64, 64)
MLPs to 32 features) overfits the 2 500 training rows of n = 5 000 within a few hundred steps
and peaks 7–11 % low there, which is why it is not the default.
For the ``bmi`` benchmark protocol pass ``critic="joint", hidden=(16, 8),
learning_rate=0.1, steps=10_000, eval_every=250, patience=2, select="best"``; for the SMILE
protocol ``critic="separable", hidden=(256, 256, 256), batch_size=64, learning_rate=5e-4``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from infoest._checks import check_choice, check_positive_int, is_concrete, paired_samples
from infoest._estimate import Estimate, Status, make_estimate
from infoest._registry import register
from infoest.train import FitResult, fit
from infoest.variational import bounds
from infoest.variational.critics import make_critic

__all__ = ["BOUNDS", "CriticFit", "fit_critic", "evaluate", "mutual_information"]

BOUNDS = ("smile", "mine", "dv", "nwj", "infonce", "js")
_SELECT = ("last", "best")


class CriticFit(eqx.Module):
    """A trained critic with what is needed to apply it to new data.

    Attributes:
        critic: the trained critic (acts on standardised data).
        x_mean, x_std, y_mean, y_std: the standardisation fitted on the training data
            (zeros/ones when ``standardize=False``).
        tau: the SMILE clip used for reporting.
        training: the [`FitResult`][infoest.train.FitResult] (``train_aux`` is the bound's value at
            every step).
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


def _report(bound: str, stats: bounds.ScoreStats) -> Array:
    """The value a bound reports (MINE reports DV; SMILE's clip lives in ``stats``)."""
    if bound in ("mine", "dv"):
        return bounds.dv(stats)
    if bound == "smile":
        return bounds.smile(stats)
    return {"nwj": bounds.nwj, "infonce": bounds.infonce, "js": bounds.js}[bound](stats)


def _loss(bound: str, tau: Array, rate: Array):
    """The training loss ``-bound`` in the [`infoest.train.fit`][infoest.train.fit] contract."""
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


def _config(n_train: int, *, bound, critic, hidden, embed_dim, steps, batch_size, standardize,
            eval_every, patience, select, progress, throw, eval_size=1024,
            chunk_size=64) -> dict[str, Any]:
    """Validate the static configuration (Python values; raises before any work)."""
    check_choice(bound, "bound", BOUNDS)
    check_choice(select, "select", _SELECT)
    steps = check_positive_int(steps, "steps")
    if batch_size is None:
        batch_size = min(256, n_train)
    batch_size = check_positive_int(batch_size, "batch_size", minimum=2)
    if batch_size > n_train:
        raise ValueError(f"`batch_size`={batch_size} exceeds the {n_train} training samples")
    if (select == "best" or patience is not None) and eval_every is None:
        eval_every = max(steps // 20, 1)
    if eval_every is not None:
        eval_every = check_positive_int(eval_every, "eval_every")
        if eval_every > steps:
            raise ValueError(f"`eval_every`={eval_every} exceeds `steps`={steps}")
    if patience is not None:
        patience = check_positive_int(patience, "patience")
        if eval_every is None:
            raise ValueError("`patience` (early stopping) needs `eval_every`")
    if isinstance(critic, str):
        check_choice(critic, "critic", ("joint", "separable"))
        hidden = tuple(check_positive_int(h, "hidden") for h in hidden)
        embed_dim = check_positive_int(embed_dim, "embed_dim")
    elif not callable(critic):
        raise TypeError("`critic` must be 'joint', 'separable' or a callable critic module, "
                        f"got {type(critic).__name__}")
    eval_size = check_positive_int(eval_size, "eval_size", minimum=2)
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    return dict(bound=bound, critic=critic if isinstance(critic, str) else None,
                hidden=hidden, embed_dim=embed_dim, steps=steps, batch_size=batch_size,
                standardize=bool(standardize), eval_every=eval_every, patience=patience,
                select=select, progress=bool(progress), throw=bool(throw),
                eval_size=eval_size, chunk_size=chunk_size)


def fit_critic(
    x,
    y,
    *,
    bound: str = "smile",
    key: Array,
    critic: str | eqx.Module = "joint",
    hidden: Sequence[int] = (16, 8),
    embed_dim: int = 32,
    steps: int = 2000,
    batch_size: int | None = None,
    learning_rate: float | Array = 1e-3,
    tau: float | Array = 5.0,
    mine_rate: float | Array = 0.1,
    standardize: bool = True,
    eval_data: tuple[Array, Array] | None = None,
    eval_every: int | None = None,
    eval_size: int = 1024,
    patience: int | None = None,
    select: str = "last",
    chunk_size: int = 64,
    progress: bool = False,
    throw: bool = True,
) -> CriticFit:
    """Train a critic on all of ``(x, y)`` by maximising ``bound``; see
    [`mutual_information`][infoest.variational.estimators.mutual_information]
    for the arguments. ``eval_data=(x_ev, y_ev)`` enables held-out monitoring (``eval_every``,
    ``patience``, ``select="best"``; the metric is the bound on all pairs of the first
    ``eval_size`` rows of ``eval_data``). Apply the result to new data with
    [`evaluate`][infoest.variational.estimators.evaluate]."""
    x, y = paired_samples((x, "x"), (y, "y"))
    if eval_data is not None:
        ex, ey = paired_samples((eval_data[0], "eval_data[0]"), (eval_data[1], "eval_data[1]"))
        eval_data = (ex.astype(x.dtype), ey.astype(x.dtype))
    elif eval_every is not None or patience is not None or select == "best":
        raise ValueError("held-out monitoring (`eval_every`, `patience`, `select='best'`) "
                         "needs `eval_data`")
    config = _config(x.shape[0], bound=bound, critic=critic, hidden=hidden, embed_dim=embed_dim,
                     steps=steps, batch_size=batch_size, standardize=standardize,
                     eval_every=eval_every, patience=patience, select=select,
                     progress=progress, throw=throw, eval_size=eval_size, chunk_size=chunk_size)
    hyper = _hyper(x.dtype, learning_rate, tau, mine_rate)
    user_critic = None if isinstance(critic, str) else critic
    return _fit_critic(x, y, eval_data, key, user_critic, hyper, config)


def _hyper(dtype, learning_rate, tau, mine_rate) -> dict[str, Array]:
    for name, v in (("learning_rate", learning_rate), ("tau", tau), ("mine_rate", mine_rate)):
        if is_concrete(v) and not float(np.asarray(v)) > 0:
            raise ValueError(f"`{name}` must be > 0, got {v}")
    return {"learning_rate": jnp.asarray(learning_rate, dtype), "tau": jnp.asarray(tau, dtype),
            "mine_rate": jnp.asarray(mine_rate, dtype)}


def _fit_critic_impl(x, y, eval_data, key, critic, hyper, config) -> CriticFit:
    bound = config["bound"]
    init_key, fit_key = jax.random.split(key)
    if config["standardize"]:
        mx, sx = jnp.mean(x, 0), jnp.std(x, 0) + jnp.finfo(x.dtype).tiny
        my, sy = jnp.mean(y, 0), jnp.std(y, 0) + jnp.finfo(y.dtype).tiny
    else:
        mx, sx = jnp.zeros(x.shape[1], x.dtype), jnp.ones(x.shape[1], x.dtype)
        my, sy = jnp.zeros(y.shape[1], y.dtype), jnp.ones(y.shape[1], y.dtype)
    if critic is None:
        critic = make_critic(config["critic"], x.shape[1], y.shape[1], hidden=config["hidden"],
                             embed_dim=config["embed_dim"], key=init_key, dtype=x.dtype)
    data = ((x - mx) / sx, (y - my) / sy)
    eval_fn = None
    if eval_data is not None:
        m = min(config["eval_size"], eval_data[0].shape[0])
        eval_data = ((eval_data[0][:m] - mx) / sx, (eval_data[1][:m] - my) / sy)
        tau, chunk = hyper["tau"], config["chunk_size"]

        def eval_fn(c, ev, k):
            """Minus the reported bound on all m² held-out pairs (one fixed set of rows)."""
            del k
            return -_report(bound, bounds.critic_stats(c, *ev, tau=tau, chunk_size=chunk))
    is_mine = bound == "mine"
    training = fit(
        _loss(bound, hyper["tau"], hyper["mine_rate"]),
        critic,
        data,
        key=fit_key,
        steps=config["steps"],
        batch_size=config["batch_size"],
        learning_rate=hyper["learning_rate"],
        eval_data=eval_data,
        eval_every=config["eval_every"],
        eval_fn=eval_fn,
        patience=config["patience"],
        keep_best=config["select"] == "best",
        state=jnp.array(-jnp.inf, x.dtype) if is_mine else None,
        progress=config["progress"],
        throw=config["throw"],
    )
    return CriticFit(training.model, mx, sx, my, sy, hyper["tau"], training, bound)


_fit_critic = eqx.filter_jit(_fit_critic_impl)


def evaluate(fitted: CriticFit, x, y, *, bound: str | None = None,
             chunk_size: int = 64) -> Estimate:
    """The bound of a trained critic on new data ``(x, y)``, over *all* n² pairs.

    Memory is linear in n (rows are computed ``chunk_size`` at a time). ``bound`` defaults to
    the one ``fitted`` was trained for (its reported value: DV for ``"mine"``, clipped DV for
    ``"smile"``); InfoNCE here is capped at log n, not log batch_size.
    """
    x, y = paired_samples((x, "x"), (y, "y"))
    bound = fitted.bound if bound is None else check_choice(bound, "bound", BOUNDS)
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    value = _evaluate(fitted, x.astype(fitted.x_mean.dtype), y.astype(fitted.x_mean.dtype),
                      bound, chunk_size)
    return make_estimate(value, status=_status(fitted.training), method=bound,
                         **_diagnostics(fitted.training))


def _evaluate_impl(fitted, x, y, bound, chunk_size):
    xs, ys = fitted.standardize(x, y)
    stats = bounds.critic_stats(fitted.critic, xs, ys, tau=fitted.tau, chunk_size=chunk_size)
    return _report(bound, stats)


_evaluate = eqx.filter_jit(_evaluate_impl)


def _diagnostics(tr: FitResult) -> dict[str, Array]:
    return dict(train_curve=tr.train_aux, eval_curve=-tr.eval_loss, train_status=tr.status,
                steps_run=tr.steps_run, best_step=tr.best_step)


def _status(tr: FitResult) -> Array:
    return jnp.where(tr.failed, Status.DIVERGED, Status.OK)


def mutual_information(
    x,
    y,
    *,
    bound: str = "smile",
    key: Array,
    critic: str | eqx.Module = "joint",
    hidden: Sequence[int] = (16, 8),
    embed_dim: int = 32,
    steps: int = 2000,
    batch_size: int | None = None,
    learning_rate: float | Array = 1e-3,
    tau: float | Array = 5.0,
    mine_rate: float | Array = 0.1,
    eval_fraction: float = 0.5,
    standardize: bool = True,
    eval_every: int | None = None,
    eval_size: int = 1024,
    patience: int | None = 5,
    select: str = "best",
    chunk_size: int = 64,
    progress: bool = False,
    throw: bool = True,
) -> Estimate:
    """Variational estimate of I(X;Y) in nats: train a critic, evaluate a bound on held-out data.

    Args:
        x, y: paired samples ``(n, dx)``, ``(n, dy)``.
        bound: ``"smile"`` (default), ``"mine"``, ``"dv"``, ``"nwj"``, ``"infonce"``, ``"js"``;
            see [`infoest.variational.bounds`][infoest.variational.bounds].
        key: PRNG key (split, critic initialisation, minibatches).
        critic: ``"joint"`` (MLP on concat(x, y); default), ``"separable"`` (g(x)ᵀh(y)), or your own
            critic module ``critic(x_i, y_j) -> scalar`` (initialised; acts on standardised
            data when ``standardize``).
        hidden: hidden widths of the built-in critic (static).
        embed_dim: embedding size of the separable critic.
        steps: training steps (static). batch_size: minibatch size (default
            ``min(256, n_train)``); the B×B score matrix of each step uses B² pairs.
        learning_rate: Adam learning rate (traced). tau: SMILE clip (traced).
        mine_rate: weight of the new batch in MINE's moving average (traced); 0.1 as in
            bmi and the SMILE code (Belghazi et al.'s community port used 0.01).
        eval_fraction: fraction of samples held out to evaluate the bound.
        standardize: z-score x and y (MI is invariant) with the statistics of all samples.
        eval_every, eval_size, patience, select: held-out monitoring during training: every
            ``eval_every`` steps (default ``steps // 20``) evaluate the bound on all pairs of
            the first ``eval_size`` held-out rows (a fixed set), stop after ``patience``
            evaluations without improvement (``None``: never), return the ``"best"`` or the
            ``"last"`` critic. ``"best"`` selects on held-out rows that also enter the final
            value, a small upward bias (bmi does the same, with a noisier metric).
        chunk_size: rows per chunk in the held-out evaluation (memory vs speed).
        progress: tqdm progress bar of the training loop.
        throw: raise if training diverges (NaN/inf loss); with ``False`` the value is NaN and
            ``diagnostics["train_status"]`` is 2.

    Returns:
        [`Estimate`][infoest.Estimate] with ``stderr`` NaN and diagnostics ``train_curve`` (bound on
        each training batch), ``eval_curve``, ``status`` (`infoest.train.STATUS`),
        ``steps_run``, ``best_step``.
    """
    x, y = paired_samples((x, "x"), (y, "y"))
    n = x.shape[0]
    if not 0.0 < float(eval_fraction) < 1.0:
        raise ValueError(f"`eval_fraction` must lie in (0, 1), got {eval_fraction}")
    n_eval = int(n * eval_fraction)
    if n_eval < 2 or n - n_eval < 2:
        raise ValueError(f"`eval_fraction`={eval_fraction} of n={n} leaves too few samples")
    config = _config(n - n_eval, bound=bound, critic=critic, hidden=hidden, embed_dim=embed_dim,
                     steps=steps, batch_size=batch_size, standardize=standardize,
                     eval_every=eval_every, patience=patience, select=select,
                     progress=progress, throw=throw, eval_size=eval_size, chunk_size=chunk_size)
    chunk_size = config["chunk_size"]
    hyper = _hyper(x.dtype, learning_rate, tau, mine_rate)
    user_critic = None if isinstance(critic, str) else critic
    value, training = _estimate(x, y, key, user_critic, hyper, config, n_eval, chunk_size)
    return make_estimate(value, status=_status(training), method=bound,
                         **_diagnostics(training))


@eqx.filter_jit
def _estimate(x, y, key, critic, hyper, config, n_eval, chunk_size):
    split_key, key = jax.random.split(key)
    perm = jax.random.permutation(split_key, x.shape[0])
    x, y = x[perm], y[perm]
    if config["standardize"]:  # statistics of all samples, before the split (as bmi)
        x = (x - jnp.mean(x, 0)) / (jnp.std(x, 0) + jnp.finfo(x.dtype).tiny)
        y = (y - jnp.mean(y, 0)) / (jnp.std(y, 0) + jnp.finfo(y.dtype).tiny)
    held_out = (x[:n_eval], y[:n_eval])
    cfg = dict(config, standardize=False)
    fitted = _fit_critic_impl(
        x[n_eval:], y[n_eval:], held_out if cfg["eval_every"] else None, key, critic, hyper, cfg
    )
    value = _evaluate_impl(fitted, *held_out, config["bound"], chunk_size)
    value = jnp.where(fitted.training.failed, jnp.nan, value)
    return value, fitted.training


_TEST_KWARGS = dict(steps=10, hidden=(4,), embed_dim=4, batch_size=16, select="last", patience=None)
#: ``infoest bench`` settings: a small separable critic trained long enough to be meaningful
#: on the quick tasks (2+2 dims, n = 1 000: 500 training pairs), a few seconds per run on CPU
#: (mostly compilation). Fixed length, last critic: no held-out monitoring to compile.
_BENCH_KWARGS = dict(critic="separable", steps=300, hidden=(32,), embed_dim=8, learning_rate=5e-3,
                     select="last", patience=None)


def _register(name: str, doc: str):
    def estimator(x, y, *, key: Array, **kwargs: Any) -> Estimate:
        return mutual_information(x, y, bound=name, key=key, **kwargs)

    estimator.__name__ = name
    estimator.__qualname__ = name
    estimator.__doc__ = (
        f"{doc}\n\n``infoest.mutual_information(x, y, method={name!r}, key=...)``: "
        f"`infoest.variational.mutual_information` with ``bound={name!r}``; all its "
        "keyword arguments apply."
    )
    register("mutual_information", name, stochastic=True, differentiable=False,
             test_kwargs=_TEST_KWARGS, bench_kwargs=_BENCH_KWARGS, min_samples=64)(estimator)
    return estimator


smile = _register("smile", "SMILE (Song & Ermon, 2020): JS-trained critic, clipped-DV value.")
mine = _register("mine", "MINE (Belghazi et al., 2018): DV with moving-average gradients.")
nwj = _register("nwj", "NWJ / MINE-f bound (Nguyen, Wainwright & Jordan, 2010).")
infonce = _register("infonce", "InfoNCE / CPC bound (van den Oord et al., 2018), ≤ log n_eval.")
dv = _register("dv", "Donsker–Varadhan bound with a neural critic.")
