"""O-information benchmarks: multiplet speed against hoi, and the KSG bias table.

``--ksg-bias``: KSG Ω on the SΩI block systems and on multivariate-t systems (Ω known in
closed form) at ``--n`` samples, ``--seeds`` data sets each: the estimator before session 6
(2k − 1 KSG mutual informations, each with its own neighbour search; re-implemented here
from ``infoest.knn.ksg_mi_core``), the one-search estimate (``surrogates=0``) and the
default (one search, Gaussian-reference corrected). Prints the Markdown table of
docs/classical.md. Usage: ``python benchmarks/bench_oinfo.py --ksg-bias [--n 5000]``.

Multiplets (default mode): O-information of every multiplet of size 3..5 of 12 variables,
infoest vs hoi.

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
import jax.numpy as jnp
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


def old_ksg_omega(z, k=4):
    """Ω = 2 Σ_{i≥2} I(X_i; X_<i) − Σ_i I(X_i; X_−i), each a KSG MI with its own search."""
    from infoest import knn

    z = knn.prepare(z)[0]
    cols = range(z.shape[1])
    mi = lambda a, b: knn.ksg_mi_core(z[:, a], z[:, b], k=k, backend="brute")  # noqa: E731
    tc = sum(mi([i], list(range(i))) for i in cols if i > 0)
    s = sum(mi([i], [j for j in cols if j != i]) for i in cols)
    return 2 * tc - s


def t_system(cov, df):
    """(name suffix, sampler, exact Ω) of a multivariate t with dispersion ``cov``: Ω of
    the Gaussian with that covariance plus (m − 2) h_t(m) + m h_t(1) − m h_t(m − 1)."""
    from infoest import gaussian
    from infoest.tasks.distributions import student_t_entropy_closed_form as h

    m = cov.shape[0]
    value = float(gaussian.o_information_from_cov(cov)) + (m - 2) * h(m, df) + m * h(1, df) \
        - m * h(m - 1, df)
    chol = np.linalg.cholesky(cov).astype(np.float32)

    def sample(key, n):
        kg, kw = jax.random.split(key)
        g = jax.random.normal(kg, (n, m)) @ chol.T
        return g * jnp.sqrt(df / jax.random.chisquare(kw, df, (n, 1)))

    return sample, value


def ksg_bias_table(n, seeds):
    from infoest import multivariate_knn

    red = lambda r: [("red", 3, r), ("red", 3, r), ("red", 4, r)]  # noqa: E731
    syn = lambda r: [("syn", 3, r), ("syn", 3, r), ("syn", 4, r)]  # noqa: E731
    systems = []
    for name, bl, dim in [("red [3,3,4] ρ=0.5", red(0.5), 1), ("red [3,3,4] ρ=0.9", red(0.9), 1),
                          ("syn [3,3,4] ρ=0.5", syn(0.5), 1), ("syn [3,3,4] ρ=0.9", syn(0.9), 1),
                          ("syn3 ρ=0.7", [("syn", 3, 0.7)], 1),
                          ("red3 ⊕ syn3 ρ=0.7", [("red", 3, 0.7), ("syn", 3, 0.7)], 1),
                          ("syn6 ρ=0.9", [("syn", 6, 0.9)], 1),
                          ("red [3,3,4] ρ=0.5, dim 5", red(0.5), 5)]:
        task = blocks.block_system(bl, dim=dim)
        systems.append((name, lambda key, n, t=task: t.sample(key, n)[0], task.value))
    for name, bl, df in [("t(ν=5) syn6 ρ=0.9", [("syn", 6, 0.9)], 5.0),
                         ("t(ν=4) syn [3,3,4] ρ=0.7", syn(0.7), 4.0),
                         ("t(ν=5) red [3,3,4] ρ=0.5", red(0.5), 5.0)]:
        systems.append((name, *t_system(blocks.block_cov(bl), df)))
    print(f"n={n}, {seeds} seeds (mean ± sd), k=4")
    print("| system | truth | before | one search | default (corrected) | rel. error before "
          "| rel. error default |")
    print("|---|---|---|---|---|---|---|")
    for name, sample, truth in systems:
        rows = []
        for seed in range(seeds):
            x = sample(jax.random.PRNGKey(seed), n)
            z, sizes = multivariate.as_variables(x)
            key = jax.random.PRNGKey(1000 + seed)
            fn = jax.jit(multivariate_knn.corrected_measures,
                         static_argnames=("sizes", "k", "surrogates"))
            old = float(old_ksg_omega(z)) if len(sizes) == z.shape[1] else float("nan")
            rows.append((old, float(fn(z, key, sizes=sizes, k=4, surrogates=0)[2]),
                         float(fn(z, key, sizes=sizes, k=4, surrogates=4)[2])))
        a = np.asarray(rows)
        mean, sd = a.mean(0), a.std(0, ddof=1) if seeds > 1 else np.zeros(3)
        cells = [f"{m:+.3f} ± {s:.3f}" for m, s in zip(mean, sd, strict=True)]
        print(f"| {name} | {truth:+.4f} | " + " | ".join(cells)
              + f" | {mean[0] / truth - 1:+.0%} | {mean[2] / truth - 1:+.0%} |", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--ksg-bias", action="store_true")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    if args.ksg_bias:
        return ksg_bias_table(args.n, args.seeds)
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
