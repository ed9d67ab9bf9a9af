"""Many fits at once: `jax.vmap` of 16 fits against a Python loop over the same compiled fit.

Issue 13 item 6: 16 SMILE fits (n = 2 000, 5+5 dims, default joint critic) in one `jax.vmap`
took 1.8x (200 steps) to 3.6x (1 000 steps) longer than a loop over them on CPU: a vmapped
`lax.cond` computes both branches (so every fit ran until the last stopped early) and the
(16, B, B, h) critic activations left the cache. The driver now runs a vmapped batch of fits
in groups (`infoest.train.batched_fits`: `lax.map` with `batch_size` = 1 on CPU, the whole
batch on an accelerator; `--group` overrides it through `vmap_group=` for the raw driver).

Prints the device kind, then for SMILE (`infoest.variational.mutual_information`) and MINDE
(`infoest.mutual_information(method="minde")`): the wall and process-CPU seconds (median of
`--repeats` interleaved runs) of the vmapped call, of the loop and of one fit, and the first
(compiling) calls. Run on any backend:

    python benchmarks/bench_batched_fits.py [--fits 16] [--steps 200] [--n 2000]
"""

from __future__ import annotations

import argparse
import math
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

import infoest
from infoest import variational as var


def _data(n: int, d: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = (0.5 * x + rng.normal(size=(n, d))).astype(np.float32)
    return jnp.asarray(x), jnp.asarray(y)


def _estimators(steps: int, group: int | None):
    def smile(x, y, k):
        return var.mutual_information(x, y, key=k, steps=steps, throw=False,
                                      vmap_group=group).value

    def minde(x, y, k):
        return infoest.mutual_information(x, y, method="minde", key=k, steps=steps,
                                          throw=False).value
    return {"smile": smile, "minde": minde}


def _run(fn) -> tuple[float, float]:
    """Wall and process CPU seconds of one call (CPU seconds are the work done: on a shared
    machine they vary far less with the load than wall time does)."""
    w0, c0 = time.perf_counter(), time.process_time()
    jax.block_until_ready(fn())
    return time.perf_counter() - w0, time.process_time() - c0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fits", type=int, default=16)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--dim", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default="smile,minde")
    parser.add_argument("--group", type=int, default=None,
                        help="fits side by side under vmap (SMILE only; default: the device "
                             "rule); --group FITS is a plain vmap, the old behaviour")
    args = parser.parse_args()
    dev = jax.devices()[0]
    print(f"device: {dev.platform} {dev.device_kind} x{jax.device_count()}, "
          f"load {os.getloadavg()[0]:.1f}, {args.fits} fits, n={args.n}, "
          f"{args.dim}+{args.dim} dims, {args.steps} steps")
    x, y = _data(args.n, args.dim)
    keys = jax.random.split(jax.random.PRNGKey(0), args.fits)
    for name in args.only.split(","):
        est = _estimators(args.steps, args.group)[name]
        vm = jax.jit(jax.vmap(est, in_axes=(None, None, 0)))
        single = jax.jit(est)
        paths = {"vmapped": lambda vm=vm: vm(x, y, keys),
                 "loop": lambda s=single: [s(x, y, k) for k in keys],
                 "one": lambda s=single: s(x, y, keys[0])}
        first = {p: _run(f)[0] for p, f in paths.items()}  # compile (+ one run)
        runs = {p: [] for p in paths}
        for _ in range(args.repeats):  # interleaved, so load changes hit every path alike
            for p, f in paths.items():
                runs[p].append(_run(f))
        wall = {p: float(np.median([r[0] for r in v])) for p, v in runs.items()}
        cpu = {p: float(np.median([r[1] for r in v])) for p, v in runs.items()}
        vals = np.asarray(vm(x, y, keys))
        print(f"{name}: wall s vmapped {wall['vmapped']:.2f} | loop {wall['loop']:.2f} | "
              f"one {wall['one']:.2f} | vmapped/loop {wall['vmapped'] / wall['loop']:.2f} | "
              f"vmapped/one {wall['vmapped'] / wall['one']:.2f}")
        print(f"{name}: cpu s  vmapped {cpu['vmapped']:.2f} | loop {cpu['loop']:.2f} | "
              f"one {cpu['one']:.2f} | vmapped/loop {cpu['vmapped'] / cpu['loop']:.2f}")
        print(f"{name}: first calls (compile) vmapped {first['vmapped']:.1f} s, one "
              f"{first['one']:.1f} s; mean value {np.nanmean(vals):.3f} (truth "
              f"{-0.5 * args.dim * math.log(1 - 0.5**2 / 1.25):.3f})")


if __name__ == "__main__":
    main()
