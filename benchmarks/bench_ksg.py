"""KSG mutual information: infoest against a tree-based KSG on ``sklearn.neighbors``.

The reference is written here the way most peers (scikit-learn's ``mutual_info_regression``,
NPEET) do it: a Chebyshev k-NN query on the joint space for ε_i, then ``KDTree.query_radius``
counts (``count_only=True``) in each marginal with radius just below ε_i, KSG algorithm 1.
Both sides get the same data and k = 3; infoest runs with ``standardize=False`` so the two
compute the same number (printed side by side): in infoest's default float32, or with
``--x64`` in float64 like sklearn (then the values agree exactly).

Times exclude compilation: every infoest call is made once, then timed on a second call
(``jax.block_until_ready``). A tree case whose cost, extrapolated quadratically from the
previous n, would exceed ``--tree-budget`` seconds is skipped and that prediction printed
(the ratio of that row is then against the prediction).

    python benchmarks/bench_ksg.py            # 5+5 and 32+32 dims, n = 2 000, 10 000, 50 000
    python benchmarks/bench_ksg.py --quick    # n = 2 000 and 10 000 only
    python benchmarks/bench_ksg.py --backends # infoest brute force vs tree by joint dimension
"""

from __future__ import annotations

import argparse
import resource
import time

import jax
import numpy as np
from scipy.special import digamma
from sklearn.neighbors import KDTree, NearestNeighbors

from infoest import knn
from infoest.ops import neighbors


def sklearn_ksg(x: np.ndarray, y: np.ndarray, k: int = 3) -> float:
    """KSG-1 on sklearn trees (Chebyshev joint k-NN, strict marginal counts)."""
    n = x.shape[0]
    xy = np.hstack([x, y])
    dist, _ = NearestNeighbors(n_neighbors=k, metric="chebyshev").fit(xy).kneighbors()
    radius = np.nextafter(dist[:, -1], 0)
    nx = KDTree(x, metric="chebyshev").query_radius(x, radius, count_only=True) - 1
    ny = KDTree(y, metric="chebyshev").query_radius(y, radius, count_only=True) - 1
    return float(digamma(k) + digamma(n) - np.mean(digamma(nx + 1) + digamma(ny + 1)))


def data(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Dense correlated Gaussian pair: y = 0.6 x + 0.8 noise per coordinate."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    return x, 0.6 * x + 0.8 * rng.normal(size=(n, d))


def timed(fn) -> tuple[float, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def compare_backends(sizes, k: int) -> None:
    """CPU seconds of infoest's two backends by joint dimension (sets TREE_MAX_DIM)."""
    print(f"{'dims':>6} {'n':>7} {'brute cpu s':>12} {'tree cpu s':>11}")
    for n in sizes:
        for dx, dy in ((1, 1), (2, 1), (2, 2), (3, 2), (3, 3)):
            x, y = data(n, max(dx, dy))
            x, y = x[:, :dx].astype(np.float32), y[:, :dy].astype(np.float32)
            cpu = []
            for backend in ("brute", "tree"):
                def run(backend=backend, x=x, y=y):
                    return float(knn.ksg_mi_core(x, y, k=k, backend=backend))

                run()
                start = time.process_time()
                run()
                cpu.append(time.process_time() - start)
            print(f"{dx}+{dy:<4} {n:>7} {cpu[0]:>12.2f} {cpu[1]:>11.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n = 2 000 and 10 000 only")
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--x64", action="store_true", help="run infoest in float64")
    parser.add_argument("--tree-budget", type=float, default=600.0,
                        help="skip a tree case predicted to take longer (seconds)")
    parser.add_argument("--backends", action="store_true",
                        help="compare infoest's brute-force and tree backends instead")
    args = parser.parse_args()
    sizes = (2_000, 10_000) if args.quick else (2_000, 10_000, 50_000)
    if args.backends:
        compare_backends(sizes[1:], args.k)
        return

    jax.config.update("jax_enable_x64", args.x64)
    dtype = np.float64 if args.x64 else np.float32
    print(f"jax {jax.__version__} on {jax.default_backend()}; k={args.k}; infoest in "
          f"{np.dtype(dtype).name}; times in seconds")
    header = f"{'dims':>6} {'n':>7} {'backend':>7} {'infoest':>9} {'sklearn':>9} " \
             f"{'ratio':>7} {'MI infoest':>11} {'MI sklearn':>11}"
    print(header)
    for d in (5, 32):
        tree_time = None
        prev_n = None
        for n in sizes:
            x, y = data(n, d)
            backend = neighbors.resolve_backend("auto", [d, d], "max", n=n)

            xs, ys = x.astype(dtype), y.astype(dtype)

            def ours(xs=xs, ys=ys):
                est = knn.mutual_information(xs, ys, k=args.k, standardize=False)
                return float(jax.block_until_ready(est.value))

            ours()  # compile
            mi_ours, t_ours = timed(ours)
            predicted = None if tree_time is None else tree_time * (n / prev_n) ** 2
            if predicted is not None and predicted > args.tree_budget:
                mi_tree, t_tree = float("nan"), predicted
                note = f"(skipped, ~{predicted:.0f} s predicted)"
            else:
                mi_tree, t_tree = timed(lambda x=x, y=y: sklearn_ksg(x, y, args.k))
                tree_time, prev_n, note = t_tree, n, ""
            print(f"{d}+{d:<4} {n:>7} {backend:>7} {t_ours:>9.3f} {t_tree:>9.3f} "
                  f"{t_tree / t_ours:>6.2f}x {mi_ours:>11.5f} {mi_tree:>11.5f} {note}",
                  flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory {peak:.0f} MB (ratio = sklearn time / infoest time)")


if __name__ == "__main__":
    main()
