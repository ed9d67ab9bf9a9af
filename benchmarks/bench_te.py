"""KSG transfer entropy: infoest vs infomeasure on the same data (k = 4, histories 1/1).

Coupled AR(1) (a = b = c = 0.5, truth 0.134832 nats). Times: median of ``--repeats`` calls
after one separately timed first call (compile / warm-up). Sizes: a single estimate at
T = 10 000 and T = 100 000, and a permutation test with 100 surrogates at T = 10 000
(infoest: one vmapped call; infomeasure: ``statistical_test(n_tests=100)``). Each infoest
row is timed right after its infomeasure row; ``load`` is the 1-minute load average when the
row finished (the machine may be shared: compare rows, not absolute times).

    python benchmarks/bench_te.py [--quick] [--repeats 3] [--backends tree,brute]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import jax
import numpy as np

import infoest
from infoest.tasks import processes


def timed(fn, repeats):
    t0 = time.perf_counter()
    first_value = fn()
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return first_value, first, statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="T = 2 000 / 10 000, 20 surrogates")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backends", default="tree,brute",
                        help="infoest backends at T <= 10 000 (the tree only above)")
    args = parser.parse_args()
    import infomeasure as im

    sizes = (2_000, 10_000) if args.quick else (10_000, 100_000)
    n_sur = 20 if args.quick else 100
    x, y = processes.coupled_ar1().sample(jax.random.PRNGKey(0), max(sizes))
    x, y = np.asarray(x[:, 0], np.float64), np.asarray(y[:, 0], np.float64)
    key = jax.random.PRNGKey(1)
    backends = tuple(args.backends.split(","))

    print(f"jax {jax.__version__}, devices {jax.devices()}, float32 inputs for infoest, "
          f"{os.cpu_count()} CPUs")
    print(f"{'case':<28} {'impl':<14} {'value':>9} {'first s':>8} {'median s':>9} "
          f"{'speedup':>8} {'load':>5}", flush=True)

    def add(case, impl, v, f, m, *ratio):
        r = f"{ratio[0]:.2f}x" if ratio else ""
        load = os.getloadavg()[0]
        print(f"{case:<28} {impl:<14} {v:9.5f} {f:8.3f} {m:9.3f} {r:>8} {load:5.1f}", flush=True)

    def ours(t, backend, **kw):
        def run():
            est = infoest.transfer_entropy(x[:t], y[:t], method="ksg", k=4, backend=backend,
                                           standardize=False, **kw)
            est.value.block_until_ready()
            return float(est)
        return run

    def theirs(t):
        return lambda: float(im.transfer_entropy(x[:t], y[:t], approach="ksg", k=4,
                                                 noise_level=0))

    for t in sizes:
        v_im, f_im, m_im = timed(theirs(t), args.repeats)
        add(f"single T={t}", "infomeasure", v_im, f_im, m_im)
        for backend in backends if t <= 10_000 else ("tree",):
            v, f, m = timed(ours(t, backend), args.repeats)
            add(f"single T={t}", f"infoest {backend}", v, f, m, m_im / m)

    t = sizes[0] if args.quick else 10_000

    def theirs_sur():
        est = im.estimator(x[:t], y[:t], measure="te", approach="ksg", k=4, noise_level=0)
        return float(est.statistical_test(n_tests=n_sur, method="permutation_test").p_value)

    v_im, f_im, m_im = timed(theirs_sur, 1)
    add(f"{n_sur} surrogates T={t} (p)", "infomeasure", v_im, f_im, m_im)
    for backend in backends:
        def run(backend=backend):
            est = infoest.transfer_entropy(x[:t], y[:t], method="ksg", k=4, backend=backend,
                                           standardize=False, surrogates=n_sur, key=key)
            est.value.block_until_ready()
            return float(est.diagnostics["p_value"])
        v, f, m = timed(run, 1)
        add(f"{n_sur} surrogates T={t} (p)", f"infoest {backend}", v, f, m, m_im / m)


if __name__ == "__main__":
    main()
