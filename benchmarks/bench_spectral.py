"""Speed of the spectral family against plain numpy references (one run, compile excluded).

1. DSE at n = 1 000, 4 000, 16 000, 50 000 (d = 256, σ = 10, t = 1): infoest exact, infoest
   fast (deflated SLQ, ``solver="lanczos"``, default settings; matrix-free above 16 384 rows,
   where ``steps=4``) and the reference algorithm in numpy (Gaussian affinity, symmetric
   normalisation, dense float64 ``eigvalsh``), with the fast path's relative error.
2. Matrix entropy of 32 layers of (n = 4 096, d = 768) in one vmapped call vs a numpy loop.
3. ``--coverage``: calibration of every spectral method's ``stderr`` (docs/spectral.md,
   "Error bars"): R replicates drawn and estimated in one vmapped call; coverage of the truth
   by value ± 1.96 stderr, coverage of the replicates' mean (the estimator's expectation at
   this n: calibration of the stderr itself, free of bias), and the ratio of the replicates'
   standard deviation to the mean stderr.

The machine load (``os.getloadavg``) is printed with every row: on a shared machine, compare
only figures taken back to back.

    python benchmarks/bench_spectral.py [--quick] [--max-exact-n 4000] [--sizes 1000,4000]
    python benchmarks/bench_spectral.py --coverage [--replicates 200] [--only "dse exact"]
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import numpy as np
from scipy.special import entr

from infoest import spectral
from infoest.spectral._dse import DENSE_MAX_N
from infoest.tasks import spectral as spectral_tasks


def numpy_dse(z: np.ndarray, sigma: float, t: float) -> float:
    """Reference DSE in nats: dense Gaussian affinity, D^-1/2 K D^-1/2, eigvalsh."""
    sq = np.sum(z**2, 1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * z @ z.T, 0.0)
    k = np.exp(-d2 / (2 * sigma**2))
    deg = k.sum(1)
    lam = np.abs(np.linalg.eigvalsh(k / np.sqrt(deg)[:, None] / np.sqrt(deg)[None, :])) ** t
    p = lam / lam.sum()
    return float(entr(p).sum())


def numpy_matrix_entropy(z: np.ndarray) -> float:
    """Von Neumann entropy of the trace-normalised covariance of row-normalised, centred z."""
    z = z - z.mean(0)
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    lam = np.linalg.eigvalsh(z.T @ z)
    lam = np.clip(lam, 0, None) / lam.clip(0).sum()
    return float(entr(lam).sum())


def timed(fn, repeats: int = 1, warm: bool = True):
    """Mean seconds per call; ``warm`` compiles first (compile excluded). Calls that take
    minutes are timed once with compilation (a few seconds) included."""
    if warm:
        jax.block_until_ready(fn())
    start = time.perf_counter()
    for _ in range(repeats):
        out = jax.block_until_ready(fn())
    return out, (time.perf_counter() - start) / repeats


def bench_dse(sizes, max_exact_n: int) -> None:
    print("DSE, d = 256, sigma = 10, t = 1 (seconds; compile excluded)")
    print(f"{'n':>7} {'numpy':>9} {'exact':>9} {'fast':>9} {'numpy/fast':>11} {'fast rel.err':>13}"
          f" {'stderr':>8} {'load':>5}")
    rng = np.random.default_rng(0)
    key = jax.random.PRNGKey(0)
    for n in sizes:
        z = rng.uniform(size=(n, 256)).astype(np.float32)
        ref = t_ref = exact = t_exact = None
        if n <= max_exact_n:
            start = time.perf_counter()
            ref = numpy_dse(z.astype(np.float64), 10.0, 1.0)
            t_ref = time.perf_counter() - start
            exact, t_exact = timed(lambda z=z: spectral.dse(z, sigma=10.0).value)
        kw = {"steps": 4} if n > DENSE_MAX_N else {}
        est, t_fast = timed(lambda z=z, kw=kw: spectral.dse(z, sigma=10.0, solver="lanczos",
                                                            key=key, **kw),
                           warm=n <= DENSE_MAX_N)
        fast = float(est.value)
        err = abs(fast - ref) / ref if ref is not None else float("nan")
        fmt = lambda v: f"{v:9.2f}" if v is not None else f"{'-':>9}"  # noqa: E731
        ratio = f"{t_ref / t_fast:10.1f}x" if t_ref is not None else f"{'-':>11}"
        print(f"{n:7d} {fmt(t_ref)} {fmt(t_exact)} {t_fast:9.2f} {ratio} {err:13.3%}"
              f" {float(est.stderr) / fast:8.3%} {os.getloadavg()[0]:5.1f}", flush=True)


def bench_layers(layers: int, n: int, d: int) -> None:
    """numpy loop with the default BLAS threads and with one thread (multi-threaded OpenBLAS
    spin-waits badly on a loaded machine), then the vmapped infoest call."""
    from threadpoolctl import threadpool_limits

    print(f"\nMatrix entropy of {layers} layers of ({n}, {d})")
    rng = np.random.default_rng(1)
    stack = rng.normal(size=(layers, n, d)).astype(np.float32)
    start = time.perf_counter()
    ref = [numpy_matrix_entropy(s) for s in stack]
    t_np = time.perf_counter() - start
    with threadpool_limits(1, user_api="blas"):
        start = time.perf_counter()
        [numpy_matrix_entropy(s) for s in stack]
        t_np1 = time.perf_counter() - start
    run = jax.jit(jax.vmap(lambda z: spectral.matrix_entropy(z).value))
    vals, t_jax = timed(lambda: run(stack))
    diff = float(np.max(np.abs(np.asarray(vals) - np.asarray(ref))))
    print(f"numpy loop {t_np:.2f} s (1 BLAS thread: {t_np1:.2f} s), infoest vmapped "
          f"{t_jax:.2f} s, ratio {t_np / t_jax:.1f}x ({t_np1 / t_jax:.1f}x), "
          f"max |diff| {diff:.2e} nats, load {os.getloadavg()[0]:.1f}")


def _normal(dim):
    return lambda key, n: (jax.random.normal(key, (n, dim)),)


def _correlated(rho):
    def sample(key, n):
        a, b = jax.random.normal(key, (2, n, 1))
        return a, rho * a + np.sqrt(1 - rho**2) * b
    return sample


def _independent_labels(key, n):
    kz, ky = jax.random.split(key)
    return jax.random.normal(kz, (n, 3)), jax.random.randint(ky, (n,), 0, 3)


def _median_sigma(dim: int) -> float:
    """The population value of the median rule for N(0, I_dim): σ² = median ‖x − y‖² / 2 =
    median of χ²_dim."""
    from scipy.stats import chi2

    return float(np.sqrt(chi2.median(dim)))


def coverage_cases():
    """(name, truth, sampler, estimator(data, key), n, replicates scale)."""
    key_free = {"throw": False}
    aniso = spectral_tasks.anisotropic()
    aniso4 = spectral_tasks.anisotropic((4.0, 3.0, 2.0, 1.0), 8)
    return [
        ("matrix, " + aniso.name, aniso.value, aniso.sampler,
         lambda d, k: spectral.matrix_entropy(*d, **key_free), 500, 1.0),
        ("matrix, " + aniso4.name, aniso4.value, aniso4.sampler,
         lambda d, k: spectral.matrix_entropy(*d, **key_free), 500, 1.0),
        ("renyi, N(0, I_2), σ = 1, α = 1.01", spectral_tasks.gaussian_renyi(2, 1.0),
         _normal(2), lambda d, k: spectral.renyi_entropy(*d, sigma=1.0, **key_free), 500, 1.0),
        ("matrix MI, bivariate normal ρ = 0.8, σ = 1", spectral_tasks.gaussian_renyi_mi(0.8),
         _correlated(0.8),
         lambda d, k: spectral.matrix_mutual_information(*d, sigma=1.0, **key_free), 500, 1.0),
        ("matrix MI, bivariate normal ρ = 0.8, median σ",
         spectral_tasks.gaussian_renyi_mi(0.8, _median_sigma(1)), _correlated(0.8),
         lambda d, k: spectral.matrix_mutual_information(*d, **key_free), 500, 1.0),
        ("renyi, N(0, I_2), σ = 2, α = 1.01", spectral_tasks.gaussian_renyi(2, 2.0),
         _normal(2), lambda d, k: spectral.renyi_entropy(*d, sigma=2.0, **key_free), 500, 1.0),
        ("renyi, N(0, 1), σ = 1, α = 1.01", spectral_tasks.gaussian_renyi(1, 1.0),
         _normal(1), lambda d, k: spectral.renyi_entropy(*d, sigma=1.0, **key_free), 500, 1.0),
        ("renyi, N(0, I_2), median σ, α = 1.01",
         spectral_tasks.gaussian_renyi(2, _median_sigma(2)), _normal(2),
         lambda d, k: spectral.renyi_entropy(*d, **key_free), 500, 1.0),
        ("dse exact, N(0, I_3), σ = 1.5", spectral_tasks.gaussian_dse(3, 1.5), _normal(3),
         lambda d, k: spectral.dse(*d, sigma=1.5, **key_free), 500, 1.0),
        ("dse exact, N(0, 1), σ = 2", spectral_tasks.gaussian_dse(1, 2.0), _normal(1),
         lambda d, k: spectral.dse(*d, sigma=2.0, **key_free), 500, 1.0),
        ("dse exact, N(0, I_3), σ = 3", spectral_tasks.gaussian_dse(3, 3.0), _normal(3),
         lambda d, k: spectral.dse(*d, sigma=3.0, **key_free), 500, 1.0),
        ("dse exact, N(0, I_3), median σ", spectral_tasks.gaussian_dse(3, _median_sigma(3)),
         _normal(3), lambda d, k: spectral.dse(*d, **key_free), 500, 1.0),
        ("dse lanczos, N(0, I_3), σ = 1.5", spectral_tasks.gaussian_dse(3, 1.5), _normal(3),
         lambda d, k: spectral.dse(*d, sigma=1.5, solver="lanczos", key=k, **key_free),
         500, 0.5),
        ("dsmi, independent labels (3 classes), σ = 1.5", 0.0, _independent_labels,
         lambda d, k: spectral.dsmi(*d, key=k, sigma=1.5, n_classes=3, **key_free), 300, 0.5),
    ]


def bench_coverage(replicates: int, only: str = "") -> None:
    print("| method, task | n | R | truth | mean | covers truth | covers mean | sd / stderr |")
    print("|---|---|---|---|---|---|---|---|")
    for name, truth, sample, estimate, n, share in coverage_cases():
        if only not in name:
            continue
        reps = max(20, int(replicates * share))

        def one(key, sample=sample, estimate=estimate, n=n):
            kd, ke = jax.random.split(key)
            return estimate(sample(kd, n), ke)

        est = jax.jit(jax.vmap(one))(jax.random.split(jax.random.PRNGKey(0), reps))
        ok = np.asarray(est.status) == 0
        v, se = np.asarray(est.value)[ok], np.asarray(est.stderr)[ok]
        cover = np.mean(np.abs(v - truth) < 1.96 * se)
        cover_mean = np.mean(np.abs(v - v.mean()) < 1.96 * se)
        print(f"| {name} | {n} | {ok.sum()} | {truth:.4f} | {v.mean():.4f} | {cover:.3f} | "
              f"{cover_mean:.3f} | {v.std() / se.mean():.2f} |", flush=True)
    print(f"load {os.getloadavg()[0]:.1f}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--coverage", action="store_true", help="stderr calibration table")
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--only", default="", help="coverage rows whose name contains this")
    parser.add_argument("--max-exact-n", type=int, default=4000,
                        help="largest n for the dense (numpy and exact) paths")
    parser.add_argument("--sizes", default="1000,4000,16000,50000", help="DSE sizes")
    parser.add_argument("--no-layers", action="store_true", help="skip the layer benchmark")
    args = parser.parse_args(argv)
    if args.coverage:
        bench_coverage(args.replicates, args.only)
    elif args.quick:
        bench_dse([1000, 2000], args.max_exact_n)
        bench_layers(4, 1024, 256)
    else:
        bench_dse([int(v) for v in args.sizes.split(",")], args.max_exact_n)
        if not args.no_layers:
            bench_layers(32, 4096, 768)


if __name__ == "__main__":
    main()
