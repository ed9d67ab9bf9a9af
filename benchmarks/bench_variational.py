"""Training speed of the compiled driver vs a Python loop around a jitted step.

SMILE, joint critic MLP on concat(x, y) with hidden (16, 8) (bmi's default), batch 256,
5+5-dim Gaussian, n = 5 000. Reports steps/s of ``infoest.train.fit`` (one lax.scan) and of a
bmi-style Python loop (jitted step, host sync every step), and the time of 16 vmapped fits
relative to one.  Run: ``python benchmarks/bench_variational.py [--steps 2000]``.
"""

from __future__ import annotations

import argparse
import os
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from infoest.train import epoch_indices, fit
from infoest.variational import bounds
from infoest.variational.critics import ConcatCritic

BATCH = 256


def loss(critic, batch, key):
    value = bounds.smile(bounds.score_matrix(critic, *batch), tau=5.0)
    return -value, value


def data(n=5000, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5)).astype(np.float32)
    y = (0.5 * x + rng.normal(size=(n, 5))).astype(np.float32)
    return jnp.asarray(x), jnp.asarray(y)


def scan_fit(key, d, steps):
    critic = ConcatCritic(5, 5, (16, 8), key=key)
    return fit(loss, critic, d, key=key, steps=steps, batch_size=BATCH, learning_rate=1e-3)


def python_loop(key, d, steps):
    """The idiomatic baseline: a jitted step in a Python loop, data on device, the same
    epoch-permutation sampling as ``fit`` (one jitted shuffle per epoch), host sync every step
    (the loss is read back, as bmi does)."""
    critic = ConcatCritic(5, 5, (16, 8), key=key)
    opt = optax.adam(1e-3)
    params, static = eqx.partition(critic, eqx.is_inexact_array)
    state = opt.init(params)
    n = d[0].shape[0]
    shuffle = jax.jit(lambda k: epoch_indices(k, n, BATCH))

    @jax.jit
    def step(params, state, rows):
        batch = jax.tree_util.tree_map(lambda a: a[rows], d)
        (val, _), g = jax.value_and_grad(
            lambda p: loss(eqx.combine(p, static), batch, None), has_aux=True)(params)
        upd, state = opt.update(g, state, params)
        return optax.apply_updates(params, upd), state, val

    per_epoch = n // BATCH
    curve = []
    for i in range(steps):
        if i % per_epoch == 0:
            epoch = shuffle(jax.random.fold_in(key, i // per_epoch))
        params, state, val = step(params, state, epoch[i % per_epoch])
        curve.append(float(val))  # host sync every step, as bmi does
    return curve


def step_flops(d) -> float:
    """XLA's count of floating-point operations in one SMILE value-and-gradient step."""
    critic = ConcatCritic(5, 5, (16, 8), key=jax.random.PRNGKey(0))
    params, static = eqx.partition(critic, eqx.is_inexact_array)
    batch = (d[0][:BATCH], d[1][:BATCH])
    grad = jax.jit(jax.grad(lambda p: loss(eqx.combine(p, static), batch, None)[0]))
    cost = grad.lower(params).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list | tuple) else cost
    return float(cost["flops"])


def timed(fn, *args):
    t = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - t


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    d, key, steps = data(), jax.random.PRNGKey(0), args.steps
    one = jax.jit(lambda k: scan_fit(k, d, steps).train_aux)
    many = jax.jit(jax.vmap(lambda k: scan_fit(k, d, steps).train_aux))
    keys = jax.random.split(key, 16)
    one(key).block_until_ready()
    many(keys).block_until_ready()
    python_loop(key, d, 25)  # compile the step and the shuffle
    print(f"steps={steps}, batch={BATCH}, joint critic (16, 8), SMILE; min of {args.repeat}")
    t_scan, t_loop, t_many = [], [], []
    for _ in range(args.repeat):  # interleaved, so both sides see the same machine load
        t_scan.append(timed(one, key))
        t_loop.append(timed(python_loop, key, d, steps))
        t_many.append(timed(many, keys))
        print(f"  scan {t_scan[-1]:.2f} s, loop {t_loop[-1]:.2f} s, 16 vmapped {t_many[-1]:.2f} s"
              f"  (load {os.getloadavg()[0]:.1f})", flush=True)
    t_scan, t_loop, t_many = min(t_scan), min(t_loop), min(t_many)
    flops = step_flops(d)
    print(f"scan driver : {steps / t_scan:8.1f} steps/s")
    print(f"python loop : {steps / t_loop:8.1f} steps/s  -> scan/loop = {t_loop / t_scan:.2f}x")
    print(f"16 vmapped fits: {t_many:.2f} s = {t_many / t_scan:.2f}x one fit")
    # The step is compute-bound: 16 fits are 16x the arithmetic, so "16 fits in <= 4x the
    # time of one" needs vmap to run the same operations >= 4x more efficiently.
    print(f"one value+grad step: {flops / 1e6:.1f} MFLOP (XLA cost analysis); achieved "
          f"{flops * steps / t_scan / 1e9:.1f} GFLOP/s (one fit), "
          f"{16 * flops * steps / t_many / 1e9:.1f} GFLOP/s (16 vmapped)")


if __name__ == "__main__":
    main()
