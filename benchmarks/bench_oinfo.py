"""O-information of every multiplet of size 3..5 of 12 variables: infoest vs hoi.

infoest: ``multivariate.o_information_multiplets(x, orders=(3, 4, 5))`` — one compiled call
(covariance once, Ω of all 1 507 sub-covariances vmapped), plain Gaussian and Gaussian-copula
variants. hoi: ``Oinfo(x).fit(minsize=3, maxsize=5, method="gc")`` (Gaussian copula with
bias correction, bits). Times: first call (incl. compile) and median of 3 later calls, in one
run. Usage: ``python benchmarks/bench_oinfo.py [--n 2000]``.
"""

from __future__ import annotations

import argparse
import logging
import time

import jax
import numpy as np

from infoest import multivariate
from infoest.tasks import blocks


def timed(fn, repeats=3):
    t0 = time.perf_counter()
    out = fn()
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, first, float(np.median(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    logging.getLogger("hoi").setLevel(logging.WARNING)
    cov = blocks.block_cov([("red", 3, 0.6), ("syn", 3, 0.8), ("red", 3, 0.4), ("syn", 3, 0.5)])
    x = np.random.default_rng(0).multivariate_normal(np.zeros(12), cov, size=args.n)
    x = x.astype(np.float32)

    def ours(copula):
        return lambda: jax.block_until_ready(
            multivariate.o_information_multiplets(x, orders=(3, 4, 5), copula=copula).values)

    from hoi.metrics import Oinfo

    def theirs():
        model = Oinfo(x.astype(np.float64), verbose=False)
        return np.asarray(model.fit(minsize=3, maxsize=5, method="gc"))

    rows = []
    for name, fn in [("infoest gaussian", ours(False)), ("infoest gaussian copula", ours(True)),
                     ("hoi gc", theirs)]:
        out, first, med = timed(fn)
        rows.append((name, first, med, out))
    print(f"n={args.n}, 12 variables, {len(rows[0][3])} multiplets of size 3..5")
    print(f"{'method':26s} {'first call s':>12s} {'median s':>10s}")
    for name, first, med, _ in rows:
        print(f"{name:26s} {first:12.3f} {med:10.4f}")
    hoi_nats = rows[2][3].ravel() * np.log(2.0)
    ours_cop = np.asarray(rows[1][3])
    print(f"speed-up vs hoi gc (median): plain {rows[2][2] / rows[0][2]:.1f}x, "
          f"copula {rows[2][2] / rows[1][2]:.1f}x; first call: "
          f"{rows[2][1] / rows[1][1]:.1f}x (copula)")
    if hoi_nats.shape == ours_cop.shape:
        diff = np.max(np.abs(hoi_nats - ours_cop))
        print(f"max |Ω_infoest-copula − Ω_hoi-gc| = {diff:.2e} nats")


if __name__ == "__main__":
    main()
