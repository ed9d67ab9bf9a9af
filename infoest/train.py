r"""The one compiled training driver shared by every neural estimator in infoest.

[fit][infoest.train.fit] trains an equinox model (any PyTree whose inexact arrays are
parameters) by minimising a user loss with an optax optimiser. The whole run is **one**
`lax.scan` over steps: minibatches are drawn inside the compiled loop, early stopping is a mask
(not a Python `break`), the training curve comes back as arrays, and a diverging step stops
training and is reported. Because nothing leaves the trace, a whole fit can be `jax.jit`-ed
and `jax.vmap`-ed over PRNG keys, datasets or continuous hyperparameters.

The driver is built the diffrax way, from pieces that each work (and are tested) alone:

- [TrainState][infoest.train.TrainState]: the loop carry, one equinox Module (parameters,
  optimiser state, EMA, best parameters, early-stopping counters, epoch table, status);
- [init][infoest.train.init]: the state before step 0;
- [next_rows][infoest.train.next_rows]: the minibatch rows of one step (a fresh random
  permutation of the training rows every epoch);
- [step][infoest.train.step]: one guarded optimiser step;
- [evaluate][infoest.train.evaluate]: one held-out evaluation with early stopping and
  keep-best bookkeeping.

Contract
--------
`loss_fn(model, batch, key) -> loss` or `-> (loss, aux)`: `loss` is a scalar to *minimise*;
`aux` is any PyTree of arrays recorded at every step in `FitResult.train_aux`. With explicit
state (`fit(..., state=s0)`, e.g. MINE's moving average) the signature is
`loss_fn(model, batch, key, state) -> (loss, aux, new_state)`.

`data`: a PyTree of arrays sharing axis 0, sampled in **epochs** (a random permutation of the
`n` training rows per epoch, cut into `n // batch_size` minibatches of distinct rows; the
`n % batch_size` left over wait for the next shuffle), or a callable `data(key, step) -> batch`
drawing fresh samples every step (online training). Epochs instead of independent draws: a
draw without replacement sorts all `n` rows every step, which cost more than the SMILE
gradient itself on XLA CPU; a permutation per epoch costs O(batch log n) per step.

`eval_fn(model, eval_data, key) -> scalar` (optional): the held-out metric, **lower is
better**, called every `eval_every` steps with the same key. The default averages `loss_fn`
over `eval_batches` fixed minibatches of the held-out data (`eval_data=` or a random
`eval_fraction` of `data`).

Divergence. A step is rejected and training stops when the loss or a gradient is not finite
(`optax.apply_if_finite` guards the optimiser), when the updated parameters are not finite,
or when $|\mathrm{loss}| >$ `max_loss` (an exploding loss: a finite but absurd value).
`status` is then `STATUS["nonfinite"]` or `STATUS["exploded"]`, the last good parameters are
kept, and `throw=True` raises (`equinox.EquinoxRuntimeError`; under `vmap` if any member
failed). [diverged][infoest.train.diverged] tells both cases apart from a normal end, also
for the EMA weights.

Hyperparameters. Shape and control-flow settings (`steps`, `batch_size`, `eval_every`,
`eval_batches`, `patience`) are Python ints. `learning_rate`, `ema_decay`, `min_delta`,
`max_loss` are traced arrays: sweeping them neither recompiles nor blocks `vmap`.

Optimiser. `optimizer=None` is Adam at `learning_rate`. Pass an optax *constructor*
(`optimizer=optax.adamw`, any hashable callable `lr -> GradientTransformation`) to use another
optimiser at the traced `learning_rate`: it is built inside the compiled function, so new
learning rates do not recompile. For a configured optimiser (a schedule with a warmup length)
make the constructor an `equinox.Module` with static fields and `__call__(self, lr)`: it
hashes by value, so equal configurations share one compilation (a `lambda` or
`functools.partial` is a new object each time and recompiles). A `GradientTransformation`
*instance* (`optax.adam(1e-3)`) holds fresh closures each time it is built, so `jit` cannot
recognise it: every new instance compiles again. Build such an instance once and reuse the
same object, or pass a constructor.

Dtype promotion. The loss and its gradients follow the caller's promotion rule (the
conformance suite runs under `jax.numpy_dtype_promotion("strict")`); optax's own update runs
under standard promotion, since Adam's bias correction raises a float to the int32 step
count inside optax.

EMA: with `ema_decay=β` the average $\bar\theta \leftarrow \beta\bar\theta + (1-\beta)\theta$
(`optax.incremental_update`) is kept in `FitResult.ema_model`; evaluation then uses it.

Many devices. `sharding=` (a `jax.sharding.Sharding` over the batch axis) constrains every
minibatch with `jax.lax.with_sharding_constraint`: each device computes the loss of its rows
and XLA all-reduces the gradient inside the same `lax.scan` (data parallelism). The result
equals the single-device fit up to the order of the floating-point reduction.

Many fits at once. `jax.vmap` of a fit over keys or datasets runs in groups
([batched_fits][infoest.train.batched_fits]): on CPU one fit after another inside one compiled
`lax.map`, so each stops when it stops and its activations stay in cache; on an accelerator
`vmap_group` fits side by side.

Example:

```python
import equinox as eqx, jax, jax.numpy as jnp
from infoest.train import fit

def loss_fn(model, batch, key):
    x, y = batch
    return jnp.mean((jax.vmap(model)(x) - y) ** 2)

model = eqx.nn.MLP(1, 1, 16, 2, key=jax.random.PRNGKey(0))
result = fit(loss_fn, model, (x, y), key=jax.random.PRNGKey(1), steps=500, batch_size=64)
runs = jax.vmap(lambda k: fit(loss_fn, model, (x, y), key=k, steps=500, batch_size=64))(
    jax.random.split(jax.random.PRNGKey(2), 8))
```
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import Array
from jax.custom_batching import custom_vmap

from infoest._checks import check_positive_int, is_concrete
from infoest.ops import placement

__all__ = [
    "STATUS",
    "FitResult",
    "Objective",
    "Plan",
    "TrainState",
    "batched_fits",
    "diverged",
    "epoch_indices",
    "evaluate",
    "fit",
    "init",
    "minibatch",
    "next_rows",
    "step",
]

#: Termination codes of `FitResult.status`: a normal end, early stopping, a non-finite loss,
#: gradient or parameter, and an exploding loss ($|\mathrm{loss}| >$ `max_loss`).
STATUS = {"completed": 0, "early_stopped": 1, "nonfinite": 2, "exploded": 3}
_NEVER = np.iinfo(np.int32).max


def _tree_finite(tree: Any) -> Array:
    leaves = [jnp.all(jnp.isfinite(a)) for a in jax.tree_util.tree_leaves(tree)
              if eqx.is_inexact_array(a)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


def _select(pred: Array, a: Any, b: Any) -> Any:
    return jax.tree_util.tree_map(lambda u, v: jnp.where(pred, u, v), a, b)


class FitResult(eqx.Module):
    """Everything a [fit][infoest.train.fit] returns; a PyTree (under `vmap` every array gains
    the batch axis).

    Attributes:
        model: the trained model (the best evaluated one when `keep_best=True`).
        ema_model: the exponential moving average of the parameters, or `None`.
        state: the final user state (`None` unless `fit(state=...)`).
        train_loss: `(steps,)` loss at every step; NaN after training stopped.
        train_aux: the loss's `aux` at every step (leading axis `steps`), or `None`.
        eval_loss: `(steps // eval_every,)` held-out metric at each evaluation (NaN after
            stopping); empty without evaluation.
        eval_steps: `(steps // eval_every,)` the step count at each evaluation.
        best_step: step count of the best evaluation (0 if none).
        best_eval: the best held-out metric (`inf` if none).
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
        """True where training stopped on a non-finite or exploding loss or gradient."""
        return (self.status == STATUS["nonfinite"]) | (self.status == STATUS["exploded"])

    @property
    def stopped_early(self) -> Array:
        """True where early stopping ended training."""
        return self.status == STATUS["early_stopped"]

    @property
    def diverged(self) -> Array:
        """Same as [diverged][infoest.train.diverged]`(self)`."""
        return diverged(self)


def diverged(result: FitResult) -> Array:
    """True (per element under `vmap`) where a fit cannot be trusted: training stopped on a
    non-finite or exploding loss or gradient, or the returned model or EMA model holds a
    non-finite parameter. Estimators report it as `Status.DIVERGED`."""
    bad = result.failed
    for tree in (result.model, result.ema_model):
        leaves = [a for a in jax.tree_util.tree_leaves(tree) if eqx.is_inexact_array(a)]
        lead = bad.ndim
        for a in leaves:
            bad = bad | ~jnp.all(jnp.isfinite(a), axis=tuple(range(lead, a.ndim)))
    return bad


def epoch_indices(key: Array, n: int, batch_size: int) -> Array:
    """One epoch of minibatch row indices, `(n // batch_size, batch_size)` int32.

    A uniformly random permutation of `range(n)` cut into consecutive batches: the rows of a
    batch are distinct and each row appears at most once per epoch (the last
    `n % batch_size` rows of the permutation are dropped).
    """
    per_epoch = n // batch_size
    perm = jax.random.permutation(key, n)
    return perm[: per_epoch * batch_size].reshape(per_epoch, batch_size).astype(jnp.int32)


def minibatch(data: Any, key: Array, batch_size: int) -> Any:
    """`batch_size` rows of every array of `data` (shared axis 0), without replacement.

    One independent draw (it sorts all `n` rows); training loops use
    [epoch_indices][infoest.train.epoch_indices] instead.
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


# ----------------------------------------------------------------------------- pieces


class Plan(eqx.Module):
    """The static (shape- and control-flow-setting) configuration of one fit.

    `per_epoch` is the number of minibatches per epoch (`None`: online data or full batch).
    """

    steps: int = eqx.field(static=True)
    batch_size: int | None = eqx.field(static=True, default=None)
    n_train: int | None = eqx.field(static=True, default=None)
    eval_fraction: float = eqx.field(static=True, default=0.0)
    eval_every: int | None = eqx.field(static=True, default=None)
    eval_batches: int = eqx.field(static=True, default=1)
    patience: int | None = eqx.field(static=True, default=None)
    keep_best: bool = eqx.field(static=True, default=False)
    stateful: bool = eqx.field(static=True, default=False)
    has_ema: bool = eqx.field(static=True, default=False)
    progress: bool = eqx.field(static=True, default=False)
    throw: bool = eqx.field(static=True, default=True)

    @property
    def per_epoch(self) -> int | None:
        if self.n_train is None or self.batch_size in (None, self.n_train):
            return None
        return self.n_train // self.batch_size


class Hyper(eqx.Module):
    """The traced hyperparameters of one fit (arrays: sweeping them does not recompile)."""

    learning_rate: Array
    min_delta: Array
    max_loss: Array
    ema_decay: Array | None


class Objective(eqx.Module):
    """`loss_fn` in one calling convention: `(params, batch, key, user_state) ->
    (loss, (aux, new_user_state))`, with the non-trainable part `static` of the model."""

    loss_fn: Callable[..., Any]
    static: Any
    stateful: bool = eqx.field(static=True)

    def __call__(self, params, batch, key, user_state):
        model = eqx.combine(params, self.static)
        if self.stateful:
            loss, aux, new_state = self.loss_fn(model, batch, key, user_state)
        else:
            out = self.loss_fn(model, batch, key)
            loss, aux = out if isinstance(out, tuple) else (out, None)
            new_state = user_state
        return loss, (aux, new_state)


class TrainState(eqx.Module):
    """The carry of the training loop.

    Attributes:
        params: the trainable parameters (`eqx.partition(model, filter_spec)[0]`).
        opt_state: the optimiser state (`optax.apply_if_finite` around the optimiser).
        ema: the EMA of `params`, or `None`.
        best: the parameters of the best evaluation (`keep_best`), or `None`.
        user_state: the loss's explicit state, or `None`.
        epoch: `(per_epoch, batch_size)` rows of the current epoch, or `None`.
        active: False once training stopped (early, or on divergence).
        status: termination code (`STATUS`).
        steps_run: optimisation steps applied.
        best_eval, best_step, bad_evals: early-stopping bookkeeping.
    """

    params: Any
    opt_state: Any
    ema: Any
    best: Any
    user_state: Any
    epoch: Array | None
    active: Array
    status: Array
    steps_run: Array
    best_eval: Array
    best_step: Array
    bad_evals: Array


def init(params: Any, optimizer: optax.GradientTransformation, *, plan: Plan,
         user_state: Any = None, dtype: Any = jnp.float32) -> TrainState:
    """The state before step 0; `dtype` is the dtype of the loss (for `best_eval`)."""
    per_epoch = plan.per_epoch
    return TrainState(
        params=params,
        opt_state=optimizer.init(params),
        ema=params if plan.has_ema else None,
        best=params if plan.keep_best else None,
        user_state=user_state,
        epoch=None if per_epoch is None else jnp.zeros((per_epoch, plan.batch_size), jnp.int32),
        active=jnp.array(True),
        status=jnp.int32(STATUS["completed"]),
        steps_run=jnp.int32(0),
        best_eval=jnp.array(jnp.inf, dtype),
        best_step=jnp.int32(0),
        bad_evals=jnp.int32(0),
    )


def next_rows(state: TrainState, step_index: Array, key: Array,
              plan: Plan) -> tuple[TrainState, Array | None]:
    """The minibatch rows of step `step_index`: row `step % per_epoch` of the epoch table,
    which is redrawn ([epoch_indices][infoest.train.epoch_indices] with
    `fold_in(key, epoch)`) at the first step of every epoch. `None` rows for online or
    full-batch data. The redraw is a `lax.cond` on the (unbatched) step counter, so it stays a
    real branch under `vmap`."""
    per_epoch = plan.per_epoch
    if per_epoch is None:
        return state, None
    within = step_index % per_epoch
    epoch = jax.lax.cond(
        within == 0,
        lambda: epoch_indices(jax.random.fold_in(key, step_index // per_epoch), plan.n_train,
                              plan.batch_size),
        lambda: state.epoch,
    )
    return dataclasses.replace(state, epoch=epoch), epoch[within]


def step(state: TrainState, batch: Any, key: Array, *, objective: Objective,
         optimizer: optax.GradientTransformation, hyper: Hyper) -> tuple[TrainState, Any]:
    """One guarded optimiser step; returns the new state and `(loss, aux)`.

    The update is applied only if the loss is finite with $|\\mathrm{loss}| \\le$
    `hyper.max_loss`, every gradient is finite (the optimiser is wrapped in
    `optax.apply_if_finite`, which rejects non-finite updates; a non-finite or exploding loss
    is passed to it as a NaN gradient) and the new parameters are finite. Otherwise the state
    keeps its parameters, `active` becomes False and `status` says why.
    """
    (loss, (aux, new_user)), grads = jax.value_and_grad(objective, has_aux=True)(
        state.params, batch, key, state.user_state)
    exploded = jnp.abs(loss) > hyper.max_loss
    good_loss = jnp.isfinite(loss) & ~exploded
    grads = jax.tree_util.tree_map(lambda g: jnp.where(good_loss, g, jnp.nan), grads)
    # optax's own arithmetic (Adam's bias correction: float ** int32 step count) needs
    # standard promotion; the caller's loss and gradients above keep the caller's rule.
    with jax.numpy_dtype_promotion("standard"):
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
    ok = good_loss & opt_state.last_finite & _tree_finite(params)
    new = dict(
        params=_select(ok, params, state.params),
        opt_state=_select(ok, opt_state, state.opt_state),
        user_state=_select(ok, new_user, state.user_state),
        active=ok,
        status=jnp.where(ok, state.status, jnp.where(exploded, STATUS["exploded"],
                                                     STATUS["nonfinite"])).astype(jnp.int32),
        steps_run=state.steps_run + ok.astype(jnp.int32),
    )
    if state.ema is not None:
        ema = optax.incremental_update(new["params"], state.ema, 1 - hyper.ema_decay)
        new["ema"] = _select(ok, ema, state.ema)
    return dataclasses.replace(state, **new), (loss, aux)


def evaluate(state: TrainState, step_index: Array, metric: Callable[[Any, Any], Array], *,
             hyper: Hyper, plan: Plan) -> tuple[TrainState, Array]:
    """One held-out evaluation after step `step_index`; returns the state and the value.

    `metric(params, user_state)` is the held-out metric (lower is better) of the EMA
    parameters when there are any, else of the current ones. An evaluation improves when it
    beats the best so far by more than `hyper.min_delta`; `plan.patience` evaluations in a
    row without improvement stop training (status `early_stopped`); `plan.keep_best` keeps the
    best parameters. A stopped fit reports NaN and changes nothing.
    """
    current = state.ema if state.ema is not None else state.params
    value = metric(current, state.user_state).astype(state.best_eval.dtype)
    value = jnp.where(state.active, value, jnp.nan)
    improved = state.active & (value < state.best_eval - hyper.min_delta)
    bad_evals = jnp.where(improved, 0, state.bad_evals + 1).astype(jnp.int32)
    stop = jnp.array(False)
    if plan.patience is not None:
        stop = state.active & (bad_evals >= plan.patience)
    state = dataclasses.replace(
        state,
        best_eval=jnp.where(improved, value, state.best_eval),
        best_step=jnp.where(improved, step_index + 1, state.best_step).astype(jnp.int32),
        bad_evals=bad_evals,
        active=state.active & ~stop,
        status=jnp.where(stop, STATUS["early_stopped"], state.status).astype(jnp.int32),
        best=_select(improved, current, state.best) if plan.keep_best else state.best,
    )
    return state, value


# ----------------------------------------------------------------------------- assembly


def _build_optimizer(optimizer: Any, learning_rate: Array) -> optax.GradientTransformation:
    """Adam, a constructor called at the traced learning rate, or an instance; always wrapped
    in `optax.apply_if_finite` (a non-finite update is rejected and reported)."""
    if optimizer is None:
        inner = optax.adam(learning_rate)
    elif isinstance(optimizer, optax.GradientTransformation):
        inner = optimizer
    else:
        inner = optimizer(learning_rate)
    return optax.apply_if_finite(inner, max_consecutive_errors=_NEVER)


def _split(data: Any, eval_data: Any, key: Array, plan: Plan) -> tuple[Any, Any]:
    """Training and held-out data: a random `eval_fraction` of `data` held out, if asked."""
    if not plan.eval_fraction:
        return data, eval_data
    n = _n_samples(data, "data")
    n_eval = int(n * plan.eval_fraction)
    perm = jax.random.permutation(key, n)
    return (jax.tree_util.tree_map(lambda a: a[perm[n_eval:]], data),
            jax.tree_util.tree_map(lambda a: a[perm[:n_eval]], data))


def _drawer(data: Any, online: bool, sharding: Any) -> Callable[[Array, Array, Any], Any]:
    """`draw(key, step, rows) -> batch`, constrained to `sharding` when given."""
    def draw(k, step_index, rows):
        if online:
            batch = data(k, step_index)
        elif rows is None:
            batch = data
        else:
            batch = jax.tree_util.tree_map(lambda a: a[rows], data)
        spec = sharding
        if spec is None:  # samples sharded under `jax.set_mesh`: data-parallel steps
            spec = placement.minibatch_spec(jax.tree_util.tree_leaves(batch)[0].shape[0])
        if spec is not None:
            batch = jax.lax.with_sharding_constraint(batch, spec)
        return batch
    return draw


def _metric(objective: Objective, eval_fn: Any, eval_data: Any, key: Array,
            plan: Plan) -> Callable[[Any, Any], Array]:
    """`metric(params, user_state)`: `eval_fn` on the held-out data, or the loss averaged
    over `eval_batches` minibatches drawn once (the key is fixed, so they never change)."""
    if eval_fn is not None:
        return lambda p, st: eval_fn(eqx.combine(p, objective.static), eval_data, key)
    n_ev = _n_samples(eval_data, "eval_data")
    bs = min(plan.batch_size, n_ev) if plan.batch_size else n_ev
    keys = jax.random.split(key, plan.eval_batches)
    batches = jax.vmap(lambda kk: minibatch(eval_data, jax.random.split(kk)[0], bs))(keys)
    loss_keys = jax.vmap(lambda kk: jax.random.split(kk)[1])(keys)

    def metric(p, st):
        return jnp.mean(jax.vmap(lambda b, kl: objective(p, b, kl, st)[0])(batches, loss_keys))
    return metric


def _nan_like(tree: Any) -> Any:
    return jax.tree_util.tree_map(
        lambda s: jnp.full(s.shape, jnp.nan, s.dtype) if jnp.issubdtype(s.dtype, jnp.inexact)
        else jnp.zeros(s.shape, s.dtype), tree)


def _scan(objective, optimizer, hyper, plan, draw, metric, state0, keys, aux_shape):
    """The training loop: `plan.steps` iterations of next_rows, step, evaluate."""
    train_key, shuffle_key = keys
    skipped = (jnp.array(jnp.nan, state0.best_eval.dtype), _nan_like(aux_shape))
    no_eval = jnp.array(jnp.nan, state0.best_eval.dtype)
    tick = _progress_callback(plan.steps) if plan.progress else None

    def body(state, i):
        kb, kl = jax.random.split(jax.random.fold_in(train_key, i))
        state, rows = next_rows(state, i, shuffle_key, plan)
        batch = draw(kb, i, rows)
        state, (loss, aux) = jax.lax.cond(
            state.active,
            lambda s: step(s, batch, kl, objective=objective, optimizer=optimizer, hyper=hyper),
            lambda s: (s, skipped), state)
        loss = loss.astype(state.best_eval.dtype)
        ev = no_eval
        if plan.eval_every is not None:
            state, ev = jax.lax.cond((i + 1) % plan.eval_every == 0,
                                     lambda s: evaluate(s, i, metric, hyper=hyper, plan=plan),
                                     lambda s: (s, no_eval), state)
        if tick is not None:
            every = max(plan.steps // 100, 1)
            jax.lax.cond(((i + 1) % every == 0) | (i + 1 == plan.steps),
                         lambda: jax.debug.callback(tick, i + 1, loss), lambda: None)
        return state, (loss, aux, ev)

    return jax.lax.scan(body, state0, jnp.arange(plan.steps))


def _result(state: TrainState, static: Any, curves: tuple, plan: Plan) -> FitResult:
    train_loss, train_aux, ev_curve = curves
    if plan.eval_every is not None:
        eval_loss = ev_curve[plan.eval_every - 1 :: plan.eval_every]
        eval_steps = jnp.arange(plan.eval_every, plan.steps + 1, plan.eval_every,
                                dtype=jnp.int32)
    else:
        eval_loss = jnp.zeros((0,), train_loss.dtype)
        eval_steps = jnp.zeros((0,), jnp.int32)
    model = eqx.combine(state.best if plan.keep_best else state.params, static)
    if plan.throw:
        model = eqx.error_if(
            model, (state.status == STATUS["nonfinite"]) | (state.status == STATUS["exploded"]),
            "infoest.train.fit: training diverged (the loss or its gradient became NaN/inf, or "
            "|loss| exceeded `max_loss`). Lower `learning_rate` or check the loss; pass "
            "throw=False to get the partial FitResult (see infoest.train.diverged).")
    return FitResult(
        model=model,
        ema_model=None if state.ema is None else eqx.combine(state.ema, static),
        state=state.user_state, train_loss=train_loss, train_aux=train_aux,
        eval_loss=eval_loss, eval_steps=eval_steps, best_step=state.best_step,
        best_eval=state.best_eval, steps_run=state.steps_run, status=state.status)


def _fit_impl(loss_fn, model, data, key, optimizer, eval_data, eval_fn, user_state,
              filter_spec, hyper, plan, sharding):
    split_key, train_key, eval_key = jax.random.split(key, 3)
    online = callable(data)
    train_data, eval_data = (data, eval_data) if online else _split(data, eval_data,
                                                                     split_key, plan)
    params, static = eqx.partition(model, filter_spec)
    objective = Objective(loss_fn, static, plan.stateful)
    opt = _build_optimizer(optimizer, hyper.learning_rate)
    metric = (None if plan.eval_every is None
              else _metric(objective, eval_fn, eval_data, eval_key, plan))
    draw = _drawer(train_data, online, sharding)
    rows0 = None if online or plan.per_epoch is None else jnp.zeros((plan.batch_size,),
                                                                       jnp.int32)
    loss_shape, (aux_shape, _) = jax.eval_shape(
        lambda p: objective(p, draw(train_key, jnp.int32(0), rows0), train_key, user_state),
        params)
    state0 = init(params, opt, plan=plan, user_state=user_state, dtype=loss_shape.dtype)
    final, curves = _scan(objective, opt, hyper, plan, draw, metric, state0,
                          (train_key, jax.random.fold_in(split_key, 1)), aux_shape)
    return _result(final, static, curves, plan)


def batched_fits(fn: Callable[..., Any], group: int | None = None) -> Callable[..., Any]:
    """`fn` (a whole fit), with a `vmap` rule that runs the batch in groups of `group`.

    Under `jax.vmap` the wrapped function runs
    `jax.lax.map(fn, batch, batch_size=group)`: groups of `group` fits side by side,
    the groups one after another, all in one compiled call. `group=None` picks 1 on CPU (a
    fit after another: each stops when it stops, since `lax.cond` stays a real branch, and
    its activations stay in cache; a plain `vmap` of 16 SMILE fits was 1.8-3.6x slower than
    a Python loop over them) and the whole batch on an accelerator. Unbatched arguments are
    shared, not copied. Without `vmap` it is `fn`. Closed-over tracers are converted to
    arguments (`equinox.filter_closure_convert`), so `fn` may close over batched values.
    """
    def wrapped(*args):
        closed = eqx.filter_closure_convert(fn, *args)
        dyn, static = eqx.partition((closed, args), eqx.is_array)
        leaves, treedef = jax.tree_util.tree_flatten(dyn)
        out_dyn_leaves, out_info = _out_structure(closed, args)

        def call(flat):
            c, a = eqx.combine(jax.tree_util.tree_unflatten(treedef, flat), static)
            return jax.tree_util.tree_leaves(eqx.partition(c(*a), eqx.is_array)[0])

        @custom_vmap
        def run(flat):
            return call(flat)

        @run.def_vmap
        def rule(axis_size, in_batched, flat):
            where = [i for i, b in enumerate(in_batched[0]) if b]

            def one(batched):
                full = list(flat)
                for i, v in zip(where, batched, strict=True):
                    full[i] = v
                return call(full)
            size = _group(axis_size, group)
            out = jax.lax.map(one, [flat[i] for i in where],
                              batch_size=None if size == 1 else size)
            return out, [True] * len(out)

        out_leaves = run(leaves)
        return eqx.combine(jax.tree_util.tree_unflatten(out_info[0], out_leaves), out_info[1])
    return wrapped


def _out_structure(closed, args):
    shape = eqx.filter_eval_shape(closed, *args)
    is_struct = lambda x: isinstance(x, jax.ShapeDtypeStruct)  # noqa: E731
    dyn, static = eqx.partition(shape, is_struct)
    leaves, treedef = jax.tree_util.tree_flatten(dyn)
    return leaves, (treedef, static)


def _group(axis_size: int, group: int | None) -> int:
    if group is None:
        group = 1 if jax.default_backend() == "cpu" else axis_size
    return max(1, min(int(group), axis_size))


def _check_rate(value: Any, name: str, *, allow_zero: bool = False,
                upper: float | None = None) -> None:
    """A concrete continuous hyperparameter must be finite and positive (or in range)."""
    if value is None or not is_concrete(value):
        return
    v = np.asarray(value, dtype=float)
    low_ok = np.all(v >= 0) if allow_zero else np.all(v > 0)
    if not (np.all(np.isfinite(v)) and low_ok and (upper is None or np.all(v <= upper))):
        rng = f"in [0, {upper}]" if upper is not None else (
            ">= 0" if allow_zero else "a finite number > 0")
        raise ValueError(f"`{name}` must be {rng}, got {value}")


def _check_data(data, batch_size, eval_data, eval_fraction) -> tuple[int | None, int | None]:
    """Validate the data arguments; returns `(batch_size, n_train)` (`None`: online)."""
    if callable(data):
        if batch_size is not None:
            check_positive_int(batch_size, "batch_size")
        if eval_fraction:
            raise ValueError("`eval_fraction` needs array `data`; pass `eval_data` instead")
        return batch_size, None
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
        raise ValueError(f"`batch_size`={batch_size} exceeds the {n - n_eval} training samples")
    return batch_size, n - n_eval


def _check_eval(steps, eval_every, patience, keep_best, eval_data, eval_fraction, eval_fn):
    """Validate the held-out monitoring arguments; returns `(eval_every, patience)`."""
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
    return eval_every, patience


def _configure(model: Any, data: Any, o: dict[str, Any]) -> tuple[Plan, Hyper]:
    """Validate the options of [fit][infoest.train.fit] (before any work)."""
    steps = check_positive_int(o["steps"], "steps")
    batch_size, n_train = _check_data(data, o["batch_size"], o["eval_data"],
                                      o["eval_fraction"])
    eval_every, patience = _check_eval(steps, o["eval_every"], o["patience"], o["keep_best"],
                                       o["eval_data"], o["eval_fraction"], o["eval_fn"])
    if not isinstance(o["optimizer"], optax.GradientTransformation):
        _check_rate(o["learning_rate"], "learning_rate")
    _check_rate(o["ema_decay"], "ema_decay", allow_zero=True, upper=1.0)
    _check_rate(o["max_loss"], "max_loss")
    plan = Plan(steps=steps, batch_size=batch_size, n_train=n_train,
                eval_fraction=float(o["eval_fraction"]), eval_every=eval_every,
                eval_batches=check_positive_int(o["eval_batches"], "eval_batches"),
                patience=patience, keep_best=bool(o["keep_best"]), stateful=o["stateful"],
                has_ema=o["ema_decay"] is not None, progress=bool(o["progress"]),
                throw=bool(o["throw"]))
    floats = [a for a in jax.tree_util.tree_leaves(model) if eqx.is_inexact_array(a)]
    dtype = jnp.result_type(*floats) if floats else jnp.result_type(float)
    max_loss = jnp.inf if o["max_loss"] is None else o["max_loss"]
    hyper = Hyper(learning_rate=jnp.asarray(o["learning_rate"], dtype),
                  min_delta=jnp.asarray(o["min_delta"], dtype),
                  max_loss=jnp.asarray(max_loss, dtype),
                  ema_decay=None if o["ema_decay"] is None else jnp.asarray(o["ema_decay"], dtype))
    return plan, hyper


def fit(
    loss_fn: Callable[..., Any],
    model: Any,
    data: Any,
    *,
    key: Array,
    steps: int,
    batch_size: int | None = None,
    optimizer: Any = None,
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
    max_loss: float | Array | None = None,
    sharding: Any = None,
    vmap_group: int | None = None,
) -> FitResult:
    """Train `model` by minimising `loss_fn` in one compiled `lax.scan`.

    See the module docstring for the `loss_fn`/`data`/`eval_fn` contract.

    Args:
        loss_fn: `loss_fn(model, batch, key)` → `loss` or `(loss, aux)` (with `state`:
            `loss_fn(model, batch, key, state)` → `(loss, aux, new_state)`).
        model: the initial model, any PyTree (e.g. an equinox Module).
        data: PyTree of arrays with samples on axis 0, or `data(key, step) -> batch`.
        key: PRNG key; drives the split, the minibatches and the `key` given to the loss.
        steps: number of optimisation steps (static).
        batch_size: rows per minibatch (static); required unless `data` is callable.
        optimizer: `None` (Adam), an optax constructor `lr -> GradientTransformation`
            called at the traced `learning_rate` (e.g. `optax.adamw`), or a
            `GradientTransformation` instance (reuse one object: a new instance recompiles).
        learning_rate: learning rate (traced); a concrete value must be finite and > 0.
        eval_data: held-out PyTree for evaluation (exclusive with `eval_fraction`).
        eval_fraction: fraction of `data` held out for evaluation, in `[0, 1)`.
        eval_every: evaluate every this many steps (static); `None`: no evaluation.
        eval_fn: `eval_fn(model, eval_data, key) -> scalar`, lower is better.
        eval_batches: minibatches averaged by the default `eval_fn`.
        patience: stop after this many evaluations without improvement; `None`: never.
        min_delta: an evaluation must beat the best by more than this to count as improving.
        keep_best: return the parameters of the best evaluation as `model`.
        ema_decay: keep an EMA of the parameters with this decay in [0, 1] (traced).
        state: initial explicit loss state (switches `loss_fn` to the 4-argument form).
        filter_spec: selects the trainable leaves (`eqx.partition`).
        progress: show a tqdm progress bar.
        throw: raise if training diverged instead of flagging it in `status`.
        max_loss: a step with $|\\mathrm{loss}|$ above this (traced) counts as divergence
            (`STATUS["exploded"]`); `None`: no limit.
        sharding: a `jax.sharding.Sharding` every minibatch is constrained to (data-parallel
            training over its devices).
        vmap_group: fits run side by side under `jax.vmap`; `None`: 1 on CPU, all on an
            accelerator (see [batched_fits][infoest.train.batched_fits]).

    Returns:
        A [FitResult][infoest.train.FitResult].
    """
    plan, hyper = _configure(model, data, dict(
        steps=steps, batch_size=batch_size, optimizer=optimizer, learning_rate=learning_rate,
        eval_data=eval_data, eval_fraction=eval_fraction, eval_every=eval_every,
        eval_fn=eval_fn, eval_batches=eval_batches, patience=patience, min_delta=min_delta,
        keep_best=keep_best, ema_decay=ema_decay, stateful=state is not None,
        progress=progress, throw=throw, max_loss=max_loss))
    if vmap_group is not None:
        vmap_group = check_positive_int(vmap_group, "vmap_group")
    return _fit(loss_fn, model, data, key, optimizer, eval_data, eval_fn, state, filter_spec,
                hyper, plan, sharding, vmap_group)


@eqx.filter_jit
def _fit(loss_fn, model, data, key, optimizer, eval_data, eval_fn, user_state, filter_spec,
         hyper, plan, sharding, vmap_group):
    def run(model, data, key, eval_data, user_state, hyper):
        return _fit_impl(loss_fn, model, data, key, optimizer, eval_data, eval_fn, user_state,
                         filter_spec, hyper, plan, sharding)
    return batched_fits(run, vmap_group)(model, data, key, eval_data, user_state, hyper)


def _progress_callback(total: int) -> Callable[[Any, Any], None]:
    """A host callback setting a tqdm bar to an absolute step (idempotent under vmap)."""
    from tqdm.auto import tqdm

    holder: dict[str, Any] = {"bar": None, "last": -1}

    def tick(step_count, loss):
        step_count = int(np.max(step_count))
        if step_count == holder["last"]:  # the same tick from another vmap member
            return
        holder["last"] = step_count
        bar = holder["bar"]
        if bar is not None and step_count < bar.n:  # a new run of a cached computation
            bar.close()
            bar = None
        if bar is None:
            bar = holder["bar"] = tqdm(total=total, desc="fit", leave=False)
        bar.n = step_count
        loss = np.asarray(loss, dtype=float)
        shown = f"{np.nanmean(loss):.4g}" if np.isfinite(loss).any() else "stopped"
        bar.set_postfix(loss=shown, refresh=False)
        bar.refresh()
        if step_count >= total:
            bar.close()
            holder["bar"] = None

    return tick
