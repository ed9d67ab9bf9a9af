"""The one compiled training driver shared by every neural estimator in infoest.

[`fit`][infoest.train.fit] trains an equinox model (any PyTree whose inexact arrays are parameters)
by
minimising a user loss with an optax optimiser. The whole run is **one** ``lax.scan`` over
steps: minibatches are drawn inside the compiled loop, early stopping is a mask (not a Python
``break``), the training curve comes back as arrays, and a NaN stops training and is reported.
Because nothing leaves the trace, a whole fit can be ``jax.jit``-ed, and ``jax.vmap``-ed over
PRNG keys, datasets, or continuous hyperparameters (a loss temperature, the learning rate):
16 seeds are one compiled call.

Contract
--------
``loss_fn(model, batch, key) -> loss`` or ``-> (loss, aux)``
    ``loss`` is a scalar to *minimise*; ``aux`` is any PyTree of arrays (e.g. the current MI
    estimate) that is recorded at every step in `FitResult.train_aux`.
    With explicit state (``fit(..., state=s0)``, e.g. MINE's moving average) the signature is
    ``loss_fn(model, batch, key, state) -> (loss, aux, new_state)``; ``aux`` may be ``None``.
``data``
    a PyTree of arrays sharing axis 0 (samples), e.g. ``(x, y)``, sampled in **epochs**: a
    random permutation of the ``n`` training rows is drawn once per epoch (every
    ``n // batch_size`` steps) and cut into consecutive minibatches of ``batch_size`` distinct
    rows ([`epoch_indices`][infoest.train.epoch_indices]; the ``n % batch_size`` rows left over wait
    for the next
    shuffle); or a callable ``data(key, step) -> batch`` that draws fresh samples every step
    (online training, e.g. the SMILE staircase).

    Why epochs: drawing a minibatch without replacement independently at every step
    (``jax.random.choice(replace=False)``, [`minibatch`][infoest.train.minibatch]) sorts all ``n``
    rows per step, an
    O(n log n) sort that cost more than the SMILE gradient itself on XLA CPU (10 ms of a 36 ms
    step, n = 5 000, batch 256); a per-epoch permutation costs O(batch log n) per step, keeps
    every batch free of repeated rows (a repeated row would put a positive pair among a
    critic's negatives), and visits every row once per epoch. The epoch boundary is a
    ``lax.cond`` on the step counter, which stays a real branch under ``vmap``.
``eval_fn(model, eval_data, key) -> scalar`` (optional)
    the held-out metric, **lower is better** (for an MI bound, pass minus the bound). It is
    called every ``eval_every`` steps with the same ``key`` each time, so successive values are
    comparable. The default averages ``loss_fn`` over ``eval_batches`` minibatches of the held-out
    data. Held-out data come from ``eval_data=`` or from splitting off ``eval_fraction`` of
    ``data`` (random split drawn from ``key``).

Early stopping: with ``patience=p`` training stops (every later step becomes a no-op, the
curve shows NaN) once ``p`` consecutive evaluations fail to improve the best value by more than
``min_delta``. ``keep_best=True`` returns the parameters of the best evaluation instead of the
last ones.

EMA: with ``ema_decay=β`` an exponential moving average ``ema ← β·ema + (1−β)·params`` is kept
(`FitResult.ema_model`); evaluation then uses the EMA model (as score models do).

NaN: a step whose loss or gradient is not finite is not applied; training stops with
``status == STATUS["nonfinite"]`` and the last finite parameters are returned. With
``throw=True`` (default) the fit then raises an ``EquinoxRuntimeError`` instead (under
``vmap``: if any member failed); pass ``throw=False`` to inspect `FitResult.status`.

Hyperparameters: ``steps``, ``batch_size``, ``eval_every``, ``eval_batches``, ``patience`` set
shapes or control flow and are Python ints. ``learning_rate``, ``ema_decay``, ``min_delta`` are
traced (Python floats are converted to arrays), so a sweep over them does not recompile and can
be vmapped. To vmap over any other optimiser hyperparameter, build the optimiser *inside* the
vmapped function (e.g. ``optax.inject_hyperparams(optax.adamw)(learning_rate=lr, ...)``).
Loss hyperparameters (a clip τ) are traced when the loss closes over a traced value, or when
``loss_fn`` is an `equinox.Partial` holding them as arrays.

Progress: ``progress=True`` shows a ``tqdm`` bar driven by ``jax.debug.callback`` about 100
times per run (off by default; under ``vmap`` all members update one bar to the same step).

Example::

    import equinox as eqx, jax, jax.numpy as jnp
    from infoest.train import fit

    def loss_fn(model, batch, key):
        x, y = batch
        return jnp.mean((jax.vmap(model)(x) - y) ** 2)

    model = eqx.nn.MLP(1, 1, 16, 2, key=jax.random.PRNGKey(0))
    result = fit(loss_fn, model, (x, y), key=jax.random.PRNGKey(1), steps=500, batch_size=64)
    result.model, result.train_loss            # trained model, (500,) curve
    # 8 seeds in one compiled call:
    runs = jax.vmap(lambda k: fit(loss_fn, model, (x, y), key=k, steps=500, batch_size=64))(
        jax.random.split(jax.random.PRNGKey(2), 8))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import Array

from infoest._checks import check_positive_int

__all__ = ["STATUS", "FitResult", "epoch_indices", "fit", "minibatch"]

#: Termination codes of `FitResult.status`.
STATUS = {"completed": 0, "early_stopped": 1, "nonfinite": 2}


class FitResult(eqx.Module):
    """Everything a [`fit`][infoest.train.fit] returns; a PyTree (under ``vmap`` every array gains
    the axis).

    Attributes:
        model: the trained model (the best evaluated one when ``keep_best=True``).
        ema_model: the exponential moving average of the parameters, or ``None``.
        state: the final user state (``None`` unless ``fit(state=...)``).
        train_loss: ``(steps,)`` loss at every step; NaN after training stopped.
        train_aux: the loss's ``aux`` at every step (leading axis ``steps``), or ``None``.
        eval_loss: ``(steps // eval_every,)`` held-out metric at each evaluation (NaN after
            stopping); empty without evaluation.
        eval_steps: ``(steps // eval_every,)`` the step count at each evaluation.
        best_step: step count of the best evaluation (0 if none).
        best_eval: the best held-out metric (``inf`` if none).
        steps_run: number of optimisation steps actually applied.
        status: termination code, see `STATUS`.
    """

    model: Any
    ema_model: Any
    state: Any
    train_loss: Array
    train_aux: Any
    eval_loss: Array
    eval_steps: Array
    best_step: Array
    best_eval: Array
    steps_run: Array
    status: Array

    @property
    def failed(self) -> Array:
        """True where training stopped on a non-finite loss or gradient."""
        return self.status == STATUS["nonfinite"]

    @property
    def stopped_early(self) -> Array:
        """True where early stopping ended training."""
        return self.status == STATUS["early_stopped"]


def epoch_indices(key: Array, n: int, batch_size: int) -> Array:
    """One epoch of minibatch row indices, ``(n // batch_size, batch_size)`` int32.

    A uniformly random permutation of ``range(n)`` cut into consecutive batches: the rows of a
    batch are distinct and each row appears at most once per epoch (the last
    ``n % batch_size`` rows of the permutation are dropped). [`fit`][infoest.train.fit] draws one
    per epoch.
    """
    per_epoch = n // batch_size
    perm = jax.random.permutation(key, n)
    return perm[: per_epoch * batch_size].reshape(per_epoch, batch_size).astype(jnp.int32)


def minibatch(data: Any, key: Array, batch_size: int) -> Any:
    """``batch_size`` rows of every array of ``data`` (shared axis 0), without replacement.

    One independent draw (it sorts all ``n`` rows); inside training loops prefer
    [`epoch_indices`][infoest.train.epoch_indices], which [`fit`][infoest.train.fit] uses.
    """
    n = jax.tree_util.tree_leaves(data)[0].shape[0]
    if batch_size == n:
        return data
    idx = jax.random.choice(key, n, (batch_size,), replace=False)
    return jax.tree_util.tree_map(lambda a: a[idx], data)


def _n_samples(data: Any, name: str) -> int:
    leaves = jax.tree_util.tree_leaves(data)
    if not leaves:
        raise ValueError(f"`{name}` holds no arrays")
    sizes = {np.shape(a)[0] if np.ndim(a) else None for a in leaves}
    if None in sizes or len(sizes) != 1:
        shapes = [tuple(np.shape(a)) for a in leaves]
        raise ValueError(f"every array of `{name}` needs the same axis-0 length; got {shapes}")
    return sizes.pop()


def fit(
    loss_fn: Callable[..., Any],
    model: Any,
    data: Any,
    *,
    key: Array,
    steps: int,
    batch_size: int | None = None,
    optimizer: optax.GradientTransformation | None = None,
    learning_rate: float | Array = 1e-3,
    eval_data: Any = None,
    eval_fraction: float = 0.0,
    eval_every: int | None = None,
    eval_fn: Callable[..., Array] | None = None,
    eval_batches: int = 1,
    patience: int | None = None,
    min_delta: float | Array = 0.0,
    keep_best: bool = False,
    ema_decay: float | Array | None = None,
    state: Any = None,
    filter_spec: Any = eqx.is_inexact_array,
    progress: bool = False,
    throw: bool = True,
) -> FitResult:
    """Train ``model`` by minimising ``loss_fn`` in one compiled ``lax.scan``.

    See the module docstring for the ``loss_fn``/``data``/``eval_fn`` contract.

    Args:
        loss_fn: ``loss_fn(model, batch, key)`` → ``loss`` or ``(loss, aux)`` (with ``state``:
            ``loss_fn(model, batch, key, state)`` → ``(loss, aux, new_state)``).
        model: the initial model, any PyTree (e.g. an equinox Module).
        data: PyTree of arrays with samples on axis 0, or ``data(key, step) -> batch``.
        key: PRNG key; drives the split, the minibatches and the ``key`` given to the loss.
        steps: number of optimisation steps (static).
        batch_size: rows per minibatch (static); required unless ``data`` is callable.
        optimizer: an optax transformation (default ``optax.adam(learning_rate)``).
        learning_rate: learning rate of the default optimiser (traced).
        eval_data: held-out PyTree for evaluation (exclusive with ``eval_fraction``).
        eval_fraction: fraction of ``data`` held out for evaluation, in ``[0, 1)``.
        eval_every: evaluate every this many steps (static); ``None``: no evaluation.
        eval_fn: ``eval_fn(model, eval_data, key) -> scalar``, lower is better.
        eval_batches: minibatches averaged by the default ``eval_fn``.
        patience: stop after this many evaluations without improvement; ``None``: never.
        min_delta: an evaluation must beat the best by more than this to count as improving.
        keep_best: return the parameters of the best evaluation as ``model``.
        ema_decay: keep an EMA of the parameters with this decay (traced); ``None``: none.
        state: initial explicit loss state (switches ``loss_fn`` to the 4-argument form).
        filter_spec: selects the trainable leaves (``eqx.partition``); default all inexact
            arrays.
        progress: show a tqdm progress bar.
        throw: raise if training hit a non-finite loss/gradient instead of flagging it.

    Returns:
        A [`FitResult`][infoest.train.FitResult].
    """
    steps = check_positive_int(steps, "steps")
    online = callable(data)
    if online:
        if batch_size is not None:
            check_positive_int(batch_size, "batch_size")
        if eval_fraction:
            raise ValueError("`eval_fraction` needs array `data`; pass `eval_data` instead")
    else:
        if batch_size is None:
            raise ValueError("`batch_size` is required when `data` is an array PyTree")
        batch_size = check_positive_int(batch_size, "batch_size")
        n = _n_samples(data, "data")
        if not 0.0 <= float(eval_fraction) < 1.0:
            raise ValueError(f"`eval_fraction` must lie in [0, 1), got {eval_fraction}")
        if eval_fraction and eval_data is not None:
            raise ValueError("pass either `eval_data` or `eval_fraction`, not both")
        n_eval = int(n * eval_fraction)
        if eval_fraction and n_eval < 1:
            raise ValueError(f"`eval_fraction`={eval_fraction} leaves no held-out sample of {n}")
        if batch_size > n - n_eval:
            raise ValueError(
                f"`batch_size`={batch_size} exceeds the {n - n_eval} training samples"
            )
    if eval_every is not None:
        eval_every = check_positive_int(eval_every, "eval_every")
        if eval_every > steps:
            raise ValueError(f"`eval_every`={eval_every} exceeds `steps`={steps}")
        if eval_data is None and not eval_fraction:
            raise ValueError("`eval_every` needs held-out data: `eval_data` or `eval_fraction`")
        if eval_data is not None and eval_fn is None:
            _n_samples(eval_data, "eval_data")
    if patience is not None:
        patience = check_positive_int(patience, "patience")
        if eval_every is None:
            raise ValueError("`patience` (early stopping) needs `eval_every`")
    if keep_best and eval_every is None:
        raise ValueError("`keep_best` needs `eval_every`")
    eval_batches = check_positive_int(eval_batches, "eval_batches")
    floats = [a for a in jax.tree_util.tree_leaves(model) if eqx.is_inexact_array(a)]
    dtype = jnp.result_type(*floats) if floats else jnp.result_type(float)
    hyper = {
        "learning_rate": jnp.asarray(learning_rate, dtype),
        "min_delta": jnp.asarray(min_delta, dtype),
        "ema_decay": None if ema_decay is None else jnp.asarray(ema_decay, dtype),
    }
    config = dict(
        steps=steps,
        batch_size=batch_size,
        eval_fraction=float(eval_fraction),
        eval_every=eval_every,
        eval_batches=eval_batches,
        patience=patience,
        keep_best=bool(keep_best),
        online=online,
        progress=bool(progress),
        throw=bool(throw),
    )
    return _fit(loss_fn, model, data, key, optimizer, eval_data, eval_fn, state, filter_spec,
                hyper, config)


@eqx.filter_jit
def _fit(loss_fn, model, data, key, optimizer, eval_data, eval_fn, state, filter_spec, hyper,
         config):
    steps = config["steps"]
    batch_size = config["batch_size"]
    eval_every = config["eval_every"]
    patience = config["patience"]
    stateful = state is not None
    ema_decay = hyper["ema_decay"]
    if optimizer is None:
        optimizer = optax.adam(hyper["learning_rate"])

    split_key, train_key, eval_key = jax.random.split(key, 3)
    shuffle_key = jax.random.fold_in(split_key, 1)
    per_epoch = None  # minibatches per epoch (array data)
    if config["online"]:
        train_data = None

        def draw(k, step, rows):
            del rows
            return data(k, step)
    else:
        train_data = data
        if config["eval_fraction"]:
            n = _n_samples(data, "data")
            n_eval = int(n * config["eval_fraction"])
            perm = jax.random.permutation(split_key, n)
            train_data = jax.tree_util.tree_map(lambda a: a[perm[n_eval:]], data)
            eval_data = jax.tree_util.tree_map(lambda a: a[perm[:n_eval]], data)

        n_train = _n_samples(train_data, "data")
        full_batch = batch_size == n_train
        per_epoch = None if full_batch else n_train // batch_size

        def draw(k, step, rows):
            del k, step
            if full_batch:
                return train_data
            return jax.tree_util.tree_map(lambda a: a[rows], train_data)

    def call_loss(params, static, batch, k, st):
        out = loss_fn(eqx.combine(params, static), batch, k, *((st,) if stateful else ()))
        if stateful:
            loss, aux, new_st = out
        elif isinstance(out, tuple):
            loss, aux = out
            new_st = None
        else:
            loss, aux, new_st = out, None, None
        return loss, (aux, new_st)

    params, static = eqx.partition(model, filter_spec)
    grad_fn = jax.value_and_grad(call_loss, has_aux=True)

    if eval_every is not None and eval_fn is None:
        # The default metric sees the same held-out minibatches at every evaluation (the key
        # is fixed), so draw them once, outside the loop.
        n_ev = _n_samples(eval_data, "eval_data")
        bs = min(batch_size, n_ev) if batch_size else n_ev
        eval_keys = jax.random.split(eval_key, config["eval_batches"])
        eval_batches = jax.vmap(lambda kk: minibatch(eval_data, jax.random.split(kk)[0], bs))(
            eval_keys)
        eval_loss_keys = jax.vmap(lambda kk: jax.random.split(kk)[1])(eval_keys)

    def metric(m, ev, k, st):
        if eval_fn is not None:
            return eval_fn(m, ev, k)
        p, s = eqx.partition(m, filter_spec)

        def one(batch, kl):
            return call_loss(p, s, batch, kl, st)[0]

        return jnp.mean(jax.vmap(one)(eval_batches, eval_loss_keys))

    if per_epoch is not None:
        epoch0 = jnp.zeros((per_epoch, batch_size), jnp.int32)
        rows0 = epoch0[0]
    else:
        epoch0 = rows0 = None

    # Shapes of loss and aux, to fill the curve with NaN on skipped steps.
    probe = jax.eval_shape(
        lambda p: call_loss(p, static, draw(train_key, jnp.int32(0), rows0), train_key, state),
        params,
    )
    loss_dtype = probe[0].dtype
    nan_aux = jax.tree_util.tree_map(lambda s: jnp.full(s.shape, jnp.nan, s.dtype)
                                     if jnp.issubdtype(s.dtype, jnp.inexact)
                                     else jnp.zeros(s.shape, s.dtype), probe[1][0])

    def tree_select(pred, a, b):
        return jax.tree_util.tree_map(lambda u, v: jnp.where(pred, u, v), a, b)

    carry0 = dict(
        params=params,
        opt_state=optimizer.init(params),
        ema=params if ema_decay is not None else None,
        best=params if config["keep_best"] else None,
        state=state,
        active=jnp.array(True),
        status=jnp.int32(STATUS["completed"]),
        steps_run=jnp.int32(0),
        best_eval=jnp.array(jnp.inf, loss_dtype),
        best_step=jnp.int32(0),
        bad_evals=jnp.int32(0),
        epoch=epoch0,
    )

    def train_step(c, batch, k):
        (loss, (aux, new_st)), grads = grad_fn(c["params"], static, batch, k, c["state"])
        updates, opt_state = optimizer.update(grads, c["opt_state"], c["params"])
        new_params = optax.apply_updates(c["params"], updates)
        finite = jnp.isfinite(loss) & jnp.all(jnp.asarray(
            [jnp.all(jnp.isfinite(g)) for g in jax.tree_util.tree_leaves(grads)] or [True]))
        c = dict(c)
        c["params"] = tree_select(finite, new_params, c["params"])
        c["opt_state"] = tree_select(finite, opt_state, c["opt_state"])
        if stateful:
            c["state"] = tree_select(finite, new_st, c["state"])
        if ema_decay is not None:
            c["ema"] = jax.tree_util.tree_map(
                lambda e, p: jnp.where(finite, ema_decay * e + (1 - ema_decay) * p, e),
                c["ema"], c["params"])
        c["active"] = finite
        c["status"] = jnp.where(finite, c["status"], STATUS["nonfinite"]).astype(jnp.int32)
        c["steps_run"] = c["steps_run"] + finite.astype(jnp.int32)
        return c, (loss.astype(loss_dtype), aux)

    def skip_step(c, batch, k):
        del batch, k
        return c, (jnp.array(jnp.nan, loss_dtype), nan_aux)

    def evaluate(c, step):
        current = c["ema"] if ema_decay is not None else c["params"]
        value = metric(eqx.combine(current, static), eval_data, eval_key, c["state"])
        value = value.astype(loss_dtype)
        value = jnp.where(c["active"], value, jnp.nan)
        improved = c["active"] & (value < c["best_eval"] - hyper["min_delta"])
        c = dict(c)
        c["best_eval"] = jnp.where(improved, value, c["best_eval"])
        c["best_step"] = jnp.where(improved, step + 1, c["best_step"]).astype(jnp.int32)
        c["bad_evals"] = jnp.where(improved, 0, c["bad_evals"] + 1).astype(jnp.int32)
        if config["keep_best"]:
            c["best"] = tree_select(improved, current, c["best"])
        if patience is not None:
            stop = c["active"] & (c["bad_evals"] >= patience)
            c["active"] = c["active"] & ~stop
            c["status"] = jnp.where(stop, STATUS["early_stopped"], c["status"]).astype(jnp.int32)
        return c, value

    tick = _progress_callback(steps) if config["progress"] else None
    tick_every = max(steps // 100, 1)

    def body(c, step):
        k = jax.random.fold_in(train_key, step)
        kb, kl = jax.random.split(k)
        rows = None
        if per_epoch is not None:
            within = step % per_epoch
            c = dict(c)
            c["epoch"] = jax.lax.cond(  # unbatched predicate: a real branch even under vmap
                within == 0,
                lambda: epoch_indices(jax.random.fold_in(shuffle_key, step // per_epoch),
                                      n_train, batch_size),
                lambda: c["epoch"],
            )
            rows = c["epoch"][within]
        batch = draw(kb, step, rows)
        c, (loss, aux) = jax.lax.cond(c["active"], train_step, skip_step, c, batch, kl)
        if eval_every is not None:
            c, ev = jax.lax.cond(
                (step + 1) % eval_every == 0,
                evaluate,
                lambda c, s: (c, jnp.array(jnp.nan, loss_dtype)),
                c, step,
            )
        else:
            ev = jnp.array(jnp.nan, loss_dtype)
        if tick is not None:
            jax.lax.cond(
                ((step + 1) % tick_every == 0) | (step + 1 == steps),
                lambda: jax.debug.callback(tick, step + 1, loss),
                lambda: None,
            )
        return c, (loss, aux, ev)

    c, (train_loss, train_aux, ev_curve) = jax.lax.scan(body, carry0, jnp.arange(steps))

    if eval_every is not None:
        eval_loss = ev_curve[eval_every - 1 :: eval_every]
        eval_steps = jnp.arange(eval_every, steps + 1, eval_every, dtype=jnp.int32)
    else:
        eval_loss = jnp.zeros((0,), loss_dtype)
        eval_steps = jnp.zeros((0,), jnp.int32)
    final = c["best"] if config["keep_best"] else c["params"]
    model_out = eqx.combine(final, static)
    ema_out = None if ema_decay is None else eqx.combine(c["ema"], static)
    if config["throw"]:
        model_out = eqx.error_if(
            model_out,
            c["status"] == STATUS["nonfinite"],
            "infoest.train.fit: the loss or its gradient became NaN/inf, training stopped. "
            "Lower the learning rate or check the loss; pass throw=False to get the partial "
            "FitResult (status == STATUS['nonfinite']).",
        )
    return FitResult(
        model=model_out,
        ema_model=ema_out,
        state=c["state"],
        train_loss=train_loss,
        train_aux=train_aux,
        eval_loss=eval_loss,
        eval_steps=eval_steps,
        best_step=c["best_step"],
        best_eval=c["best_eval"],
        steps_run=c["steps_run"],
        status=c["status"],
    )


def _progress_callback(total: int) -> Callable[[Any, Any], None]:
    """A host callback setting a tqdm bar to an absolute step (idempotent under vmap)."""
    from tqdm.auto import tqdm

    holder: dict[str, Any] = {"bar": None, "last": -1}

    def tick(step, loss):
        step = int(np.max(step))
        if step == holder["last"]:  # the same tick from another vmap member
            return
        holder["last"] = step
        bar = holder["bar"]
        if bar is not None and step < bar.n:  # a new run of a cached computation
            bar.close()
            bar = None
        if bar is None:
            bar = holder["bar"] = tqdm(total=total, desc="fit", leave=False)
        bar.n = step
        loss = np.asarray(loss, dtype=float)
        shown = f"{np.nanmean(loss):.4g}" if np.isfinite(loss).any() else "stopped"
        bar.set_postfix(loss=shown, refresh=False)
        bar.refresh()
        if step >= total:
            bar.close()
            holder["bar"] = None

    return tick
