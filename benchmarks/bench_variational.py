"""Training speed of the compiled driver vs a Python loop around a jitted step.

SMILE, joint critic MLP on concat(x, y) with hidden (16, 8) (bmi's default), batch 256,
5+5-dim Gaussian, n = 5 000. Reports steps/s of ``infoest.train.fit`` (one lax.scan) and of a
bmi-style Python loop (jitted step, host sync every step), and the time of 16 vmapped fits
relative to one.  Run: ``python benchmarks/bench_variational.py [--steps 2000]``.

``--bmi-python PATH`` also times the driver of ``bmi`` itself (``basic_training``: eager
``get_batch`` with ``jax.random.choice`` without replacement, jitted step, ``float`` of the
training value every step) with its own MLP critic and the same SMILE objective (JS-trained,
clipped DV) in a separate interpreter, since bmi needs jax 0.4.33 (``../shared/peers.md``)::

    python -m venv /tmp/bmivenv
    /tmp/bmivenv/bin/pip install jax==0.4.33 jaxlib==0.4.33 benchmark-mi
    python benchmarks/bench_variational.py --bmi-python /tmp/bmivenv/bin/python

Held-out evaluation is off on both sides (bmi: ``test_every_n_steps`` > steps), so the
figures are training steps/s; compile time is excluded on both sides by timing two run lengths
and taking the difference.
"""

from __future__ import annotations

import argparse
import os
import subprocess
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


def scan_fit(key, d, steps, batch=BATCH):
    critic = ConcatCritic(5, 5, (16, 8), key=key)
    return fit(loss, critic, d, key=key, steps=steps, batch_size=batch, learning_rate=1e-3)


def python_loop(key, d, steps, batch=BATCH):
    """The idiomatic baseline: a jitted step in a Python loop, data on device, the same
    epoch-permutation sampling as ``fit`` (one jitted shuffle per epoch), host sync every step
    (the loss is read back, as bmi does)."""
    critic = ConcatCritic(5, 5, (16, 8), key=key)
    opt = optax.adam(1e-3)
    params, static = eqx.partition(critic, eqx.is_inexact_array)
    state = opt.init(params)
    n = d[0].shape[0]
    shuffle = jax.jit(lambda k: epoch_indices(k, n, batch))

    @jax.jit
    def step(params, state, rows):
        minibatch = jax.tree_util.tree_map(lambda a: a[rows], d)
        (val, _), g = jax.value_and_grad(
            lambda p: loss(eqx.combine(p, static), minibatch, None), has_aux=True)(params)
        upd, state = opt.update(g, state, params)
        return optax.apply_updates(params, upd), state, val

    per_epoch = n // batch
    curve = []
    for i in range(steps):
        if i % per_epoch == 0:
            epoch = shuffle(jax.random.fold_in(key, i // per_epoch))
        params, state, val = step(params, state, epoch[i % per_epoch])
        curve.append(float(val))  # host sync every step, as bmi does
    return curve


# Runs in bmi's interpreter: bmi's own training driver, critic and score-matrix code; the SMILE
# objective (trained on JS, reporting clipped DV, tau = 5) written against its score matrix.
BMI_SIDE = """
import sys, time
import jax, jax.numpy as jnp, numpy as np
from jax.scipy.special import logsumexp
from bmi.estimators.neural._basic_training import basic_training
from bmi.estimators.neural._critics import MLP
from bmi.estimators.neural._backend_quadratic_memory import get_full_scores

def smile(f, xs, ys, tau=5.0):
    s = get_full_scores(f, xs, ys)
    n = s.shape[0]
    off = ~jnp.eye(n, dtype=bool)
    lme = lambda a: logsumexp(jnp.where(off, a, -jnp.inf)) - jnp.log(n * (n - 1.0))
    dv = jnp.mean(jnp.diag(s)) - lme(jnp.clip(s, -tau, tau))
    pos = -jnp.mean(jax.nn.softplus(-jnp.diag(s)))
    js = pos - jnp.sum(jnp.where(off, jax.nn.softplus(s), 0)) / (n * (n - 1.0))
    return js + jax.lax.stop_gradient(dv - js)

steps, n = int(sys.argv[1]), 5000
rng = np.random.default_rng(0)
x = rng.normal(size=(n, 5)).astype(np.float32)
y = (0.5 * x + rng.normal(size=(n, 5))).astype(np.float32)
x, y = jnp.asarray(x), jnp.asarray(y)
key = jax.random.PRNGKey(0)
def run(m):
    critic = MLP(key, 5, 5, hidden_layers=(16, 8))
    t = time.perf_counter()
    basic_training(key, critic, smile, x, y, batch_size=int(sys.argv[3]), test_every_n_steps=m + 1,
                   max_n_steps=m, early_stopping=False, learning_rate=1e-3, verbose=False)
    return time.perf_counter() - t
run(20)
for _ in range(int(sys.argv[2])):
    short, long = run(50), run(50 + steps)
    print(long - short, long, flush=True)
"""


def bmi_times(python: str, steps: int, repeat: int, batch: int = BATCH) -> list[float]:
    """Seconds for ``steps`` training steps of bmi's own driver (compile excluded)."""
    out = subprocess.run([python, "-c", BMI_SIDE, str(steps), str(repeat), str(batch)], check=True,
                         capture_output=True, text=True).stdout
    return [float(line.split()[0]) for line in out.strip().splitlines()]


def step_flops(d, batch=BATCH) -> float:
    """XLA's count of floating-point operations in one SMILE value-and-gradient step."""
    critic = ConcatCritic(5, 5, (16, 8), key=jax.random.PRNGKey(0))
    params, static = eqx.partition(critic, eqx.is_inexact_array)
    minibatch = (d[0][:batch], d[1][:batch])
    grad = jax.jit(jax.grad(lambda p: loss(eqx.combine(p, static), minibatch, None)[0]))
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
    p.add_argument("--batch", type=int, default=BATCH, help="batch size (bmi's default: 256)")
    p.add_argument("--bmi-python", default=None,
                   help="interpreter with bmi installed (jax 0.4.33): also time bmi's driver")
    args = p.parse_args()
    d, key, steps = data(), jax.random.PRNGKey(0), args.steps
    one = jax.jit(lambda k: scan_fit(k, d, steps, args.batch).train_aux)
    many = jax.jit(jax.vmap(lambda k: scan_fit(k, d, steps, args.batch).train_aux))
    keys = jax.random.split(key, 16)
    one(key).block_until_ready()
    many(keys).block_until_ready()
    python_loop(key, d, 25, args.batch)  # compile the step and the shuffle
    print(f"steps={steps}, batch={args.batch}, joint critic (16, 8), SMILE; min of {args.repeat}")
    t_scan, t_loop, t_many, t_bmi = [], [], [], []
    for _ in range(args.repeat):  # interleaved, so all sides see the same machine load
        t_scan.append(timed(one, key))
        t_loop.append(timed(python_loop, key, d, steps, args.batch))
        t_many.append(timed(many, keys))
        if args.bmi_python:
            t_bmi += bmi_times(args.bmi_python, steps, 1, args.batch)
        print(f"  scan {t_scan[-1]:.2f} s, loop {t_loop[-1]:.2f} s, 16 vmapped {t_many[-1]:.2f} s"
              + (f", bmi {t_bmi[-1]:.2f} s" if t_bmi else "")
              + f"  (load {os.getloadavg()[0]:.1f})", flush=True)
    t_scan, t_loop, t_many = min(t_scan), min(t_loop), min(t_many)
    if t_bmi:
        print(f"bmi's driver: {steps / min(t_bmi):8.1f} steps/s  -> scan/bmi = "
              f"{min(t_bmi) / t_scan:.2f}x")
    flops = step_flops(d, args.batch)
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
