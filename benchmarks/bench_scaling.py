"""How time and per-device memory grow with n and with the batch size B, on 1, 2, 4 devices.

Sections (each row: device kind and count, seconds of a second call, compiled per-device
memory from `memory_analysis()`, per-device FLOPs from `cost_analysis()` where XLA counts
them, peak resident memory of the process):

- `ksg`: KSG MI (k = 3, 5+5 dims) with the samples sharded over D devices (`shard_samples`;
  the kNN ring, brute force; D = 1: the single-device brute force), n = 10⁴ upward.
- `auto`: KSG MI 5+5 with `backend="auto"` on one device (the tree on CPU from n = 5·10⁵),
  side by side with a plain scikit-learn tree KSG (NPEET's method), n up to 10⁶.
- `probe`: CPU seconds of the tree KSG at n = 10⁵, 10⁶ from 2·10⁴ sampled queries (infoest's
  tree path against NPEET's), where the full run would take hours on a loaded machine.
- `gaussian`: Gaussian MI 8+8 with the samples sharded (partial sums, one all-reduce).
- `batch`: B = 1 … 1 024 datasets of 2 000 × 16 (8+8) sharded on the batch axis: Gaussian
  MI for every B (`infoest.sharding.map_batch`), KSG MI under `jax.vmap` up to
  `--ksg-max-batch`.
- `dse`: DSE (d = 16) with the Lanczos solver on sample-sharded data (the spectral family's
  row-sharded matrix-free products), when `--dse` is given (slow on CPU: every product
  recomputes the n × n affinity, O(n² d)).

    python benchmarks/bench_scaling.py --quick           # small sizes, 1, 2, 4 devices
    python benchmarks/bench_scaling.py                   # n to 10⁵ (ring), 10⁶ (auto), B to 1 024
    python benchmarks/bench_scaling.py --devices 1,8     # on an accelerator host: real devices

On a CPU host the D devices are forced host devices
(`XLA_FLAGS=--xla_force_host_platform_device_count=D`, one subprocess per D) sharing the
same cores: wall time cannot show a speed-up there; the per-device memory and FLOPs show
the work split. On GPU/TPU hosts the first D real devices are used.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

SECTIONS = ("ksg", "auto", "probe", "gaussian", "batch", "dse")


def _sizes(text: str) -> list[int]:
    return [int(float(v)) for v in text.split(",") if v]


def _data(n: int, d: int, batch: int | None = None, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    shape = (n, d) if batch is None else (batch, n, d)
    x = rng.normal(size=shape).astype(np.float32)
    return x, (0.6 * x + 0.8 * rng.normal(size=shape)).astype(np.float32)


def _compiled_stats(fn, *args, compiled=None) -> dict:
    """Per-device bytes (arguments + outputs + temporaries) and FLOPs of the compiled call."""
    import jax

    if compiled is None:
        compiled = jax.jit(fn).lower(*args).compile()
    mem = compiled.memory_analysis()
    cost = compiled.cost_analysis() or {}
    byts = None if mem is None else (mem.argument_size_in_bytes + mem.output_size_in_bytes
                                     + mem.temp_size_in_bytes)
    return {"mb_per_device": None if byts is None else byts / 2**20,
            "gflop_per_device": cost.get("flops", float("nan")) / 1e9}


def _timed(fn, *args, compiled=None) -> float:
    """Seconds of one call of the compiled program (compilation excluded); of the second
    call when the first took under a minute (warm caches)."""
    import jax

    if compiled is None:
        compiled = jax.jit(fn).lower(*args).compile()
    start = time.perf_counter()
    jax.block_until_ready(compiled(*args))
    first = time.perf_counter() - start
    if first > 60:
        return first
    start = time.perf_counter()
    jax.block_until_ready(compiled(*args))
    return time.perf_counter() - start


def _row(section: str, **fields) -> None:
    import jax

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {"section": section, "device": jax.devices()[0].device_kind,
           "devices": _DEVICES, "peak_rss_mb": round(peak), **fields}
    print("ROW " + json.dumps(out), flush=True)


def _run(section, fn, args, mesh, loops: bool = False, **fields) -> None:
    """Time and compiled statistics of ``fn(*args)`` under ``mesh``. ``loops``: the program
    runs loops (kNN row blocks, the ring), whose bodies XLA's cost analysis counts once, so
    its FLOPs are not reported (the rows give the pair distances per device instead)."""
    import jax

    with jax.set_mesh(mesh):
        start = time.perf_counter()
        compiled = jax.jit(fn).lower(*args).compile()
        compile_s = time.perf_counter() - start
        seconds = _timed(fn, *args, compiled=compiled)
        stats = _compiled_stats(fn, *args, compiled=compiled)
    stats["compile_seconds"] = round(compile_s, 1)
    if loops:
        stats["gflop_per_device"] = None
    _row(section, seconds=round(seconds, 3), **stats, **fields)


def sample_rows(section: str, sizes, method: str, dims: int, **options) -> None:
    """One dataset sharded on its sample axis over all devices."""
    import infoest
    from infoest import sharding

    mesh = sharding.device_mesh(sharding.SAMPLES, _devices())
    fn = lambda a, b: infoest.mutual_information(a, b, method=method, **options).value
    for n in sizes:
        x, y = _data(n, dims)
        args = (sharding.shard_samples(x, mesh), sharding.shard_samples(y, mesh))
        pairs = n * n * (2 / _DEVICES if _DEVICES > 1 else 1) if method == "ksg" else None
        _run(section, fn, args, mesh, loops=method == "ksg", n=n,
             pair_distances_per_device=pairs)


def auto_rows(sizes, tree_budget: float) -> None:
    """backend="auto" on one device against a plain scikit-learn tree KSG."""
    import jax

    from infoest import knn
    from infoest.ops import neighbors

    sys.path.insert(0, os.path.dirname(__file__))
    from bench_ksg import sklearn_ksg

    last = None
    for n in sizes:
        x, y = _data(n, 5)
        backend = neighbors.resolve_backend("auto", [5, 5], "max", n=n)
        ours = lambda x=x, y=y: knn.ksg_mi_core(x, y, k=3, backend="auto")
        seconds = _timed(jax.jit(ours))
        tree = None
        if backend != "tree":  # the tree backend at every n, against the peer
            tree = _timed(jax.jit(lambda x=x, y=y: knn.ksg_mi_core(x, y, k=3, backend="tree")))
        predicted = None if last is None else last[1] * (n / last[0]) ** 1.5
        if predicted is not None and predicted > tree_budget:
            peer = None
        else:
            start = time.perf_counter()
            sklearn_ksg(x.astype("float64"), y.astype("float64"), 3)
            peer = time.perf_counter() - start
            last = (n, peer)
        _row("auto", n=n, backend=backend, seconds=round(seconds, 3),
             tree_seconds=round(seconds if tree is None else tree, 3),
             sklearn_tree_seconds=None if peer is None else round(peer, 3))


def probe_rows(sizes, queries: int) -> None:
    """CPU seconds of the tree KSG (5+5, k = 3) at large n from a sample of query points.

    Queries are independent, so the CPU time of `queries` random points against all n,
    times n / queries, plus the build, is the full run's CPU time, measured in minutes on a
    loaded machine where the full n = 10⁶ run takes hours. Both infoest's tree path (scipy
    `cKDTree` joint search, scikit-learn `KDTree` counts, queries in each tree's leaf order)
    and NPEET's (scikit-learn `KDTree` for both, queries in data order) are probed; the
    sampled queries sorted by leaf order keep less locality than the full run's, so the
    infoest figure is an upper bound. The brute force is O(n²) exactly, so its figure is
    scaled from the measured n of the `ksg` section.
    """
    import numpy as np
    from scipy.spatial import cKDTree
    from sklearn.neighbors import KDTree, NearestNeighbors

    def leaf_order(order):  # the sampled rows, in the tree's leaf order
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        return order[np.sort(rank[rows])]

    for n in sizes:
        x, y = (a.astype(np.float64) for a in _data(n, 5))
        xy = np.hstack([x, y])
        rows = np.random.default_rng(1).choice(n, min(queries, n), replace=False)
        scale = n / rows.size
        cpu = {}
        start = time.process_time()
        joint = cKDTree(xy)
        build = time.process_time() - start
        ordered = leaf_order(joint.indices)
        start = time.process_time()
        dist, _ = joint.query(xy[ordered], k=[4], p=np.inf, workers=1)
        cpu["joint_ckdtree"] = build + scale * (time.process_time() - start)
        start = time.process_time()
        nn = NearestNeighbors(n_neighbors=3, metric="chebyshev").fit(xy)
        build = time.process_time() - start
        start = time.process_time()
        peer_dist, _ = nn.kneighbors(xy[rows], n_neighbors=4)
        cpu["joint_sklearn"] = build + scale * (time.process_time() - start)
        radius = dict(zip(ordered, np.nextafter(dist[:, 0], 0), strict=True))
        peer_radius = np.nextafter(peer_dist[:, -1], 0)
        counts = {"ours": 0.0, "peer": 0.0}
        for m in (x, y):
            start = time.process_time()
            tree = KDTree(m, metric="chebyshev")
            build = time.process_time() - start
            mine = leaf_order(tree.get_arrays()[1])
            start = time.process_time()
            tree.query_radius(m[mine], np.array([radius[i] for i in mine]), count_only=True)
            counts["ours"] += build + scale * (time.process_time() - start)
            start = time.process_time()
            tree.query_radius(m[rows], peer_radius, count_only=True)
            counts["peer"] += build + scale * (time.process_time() - start)
        _row("probe", n=n, queries=int(rows.size),
             infoest_tree_cpu_s=round(cpu["joint_ckdtree"] + counts["ours"], 1),
             npeet_cpu_s=round(cpu["joint_sklearn"] + counts["peer"], 1),
             joint_ckdtree_cpu_s=round(cpu["joint_ckdtree"], 1),
             joint_sklearn_cpu_s=round(cpu["joint_sklearn"], 1),
             marginal_counts_cpu_s=round(counts["ours"], 1),
             npeet_marginal_counts_cpu_s=round(counts["peer"], 1))


def batch_rows(batches, ksg_max_batch: int) -> None:
    """B datasets of 2 000 × (8+8) sharded on the batch axis.

    Gaussian MI runs through `infoest.sharding.map_batch` (each device one dataset at a
    time on CPU: batched LAPACK calls can deadlock forced host devices, see its docstring);
    its FLOPs per device are those of the plain `jax.vmap` program (same arithmetic; XLA
    counts a loop body once). KSG MI (no LAPACK) runs under plain `jax.vmap`.
    """
    import jax

    import infoest
    from infoest import sharding

    mesh = sharding.device_mesh(sharding.BATCH, _devices())
    for method in ("gaussian", "ksg"):
        one = lambda a, b, m=method: infoest.mutual_information(a, b, method=m).value
        plain = jax.vmap(one)
        fn = plain if method == "ksg" else lambda a, b, f=one: sharding.map_batch(f, a, b)
        for b in batches:
            if (method == "ksg" and b > ksg_max_batch) or b % _DEVICES:
                continue
            x, y = _data(2000, 8, batch=b)
            args = (sharding.shard_batch(x, mesh), sharding.shard_batch(y, mesh))
            flops = None
            if method == "gaussian":
                with jax.set_mesh(mesh):
                    flops = _compiled_stats(plain, *args)["gflop_per_device"]
            _run("batch", fn, args, mesh, loops=method == "ksg", method=method, batch=b,
                 **({} if flops is None else {"vmap_gflop_per_device": flops}))


def dse_rows(sizes) -> None:
    """DSE (d = 16) with the Lanczos solver on sample-sharded data: the spectral family's
    row-sharded matrix-free products (`infoest.ops.kernels.sharded_diffusion_matvec`).
    Called eagerly (the solver reads the concrete input's sharding); time of one call
    (compilation included), peak RSS; an error row where that path fails."""
    import jax

    import infoest
    from infoest import sharding

    mesh = sharding.device_mesh(sharding.SAMPLES, _devices())
    key = jax.random.key(0)
    for n in sizes:
        x, _ = _data(n, 16)
        xs = sharding.shard_samples(x, mesh) if _DEVICES > 1 else jax.numpy.asarray(x)
        try:
            start = time.perf_counter()
            e = infoest.entropy(xs, method="dse", solver="lanczos", key=key)
            value = float(e.value)
            seconds = time.perf_counter() - start
            _row("dse", n=n, seconds=round(seconds, 2), value=round(value, 5),
                 stderr=round(float(e.stderr), 5),
                 value_devices=len(e.value.sharding.device_set))
        except Exception as err:  # report and go on
            _row("dse", n=n, error=repr(err)[:200])


def _devices():
    import jax

    return jax.devices()[:_DEVICES]


_DEVICES = 1


def child(args) -> None:
    global _DEVICES
    import jax

    _DEVICES = args.child
    if len(jax.devices()) < _DEVICES:
        raise SystemExit(f"only {len(jax.devices())} devices, asked for {_DEVICES}")
    todo = args.sections.split(",")
    if "ksg" in todo:
        sample_rows("ksg", _sizes(args.ksg_n), "ksg", 5, k=3, backend="brute")
    if "gaussian" in todo:
        sample_rows("gaussian", _sizes(args.gaussian_n), "gaussian", 8)
    if "batch" in todo:
        batch_rows(_sizes(args.batches), args.ksg_max_batch)
    if "auto" in todo and _DEVICES == 1:
        auto_rows(_sizes(args.auto_n), args.tree_budget)
    if "probe" in todo and _DEVICES == 1:
        probe_rows(_sizes(args.probe_n), args.probe_queries)
    if "dse" in todo and args.dse:
        dse_rows(_sizes(args.dse_n))


def parent(args) -> None:
    import jax

    cpu = jax.default_backend() == "cpu"
    print(f"jax {jax.__version__}; platform {jax.default_backend()}; "
          f"load {os.getloadavg()[0]:.1f} (1-min average)", flush=True)
    for d in _sizes(args.devices):
        env = dict(os.environ)
        if cpu:
            # forced devices share the cores: a device may reach a collective long after
            # the others, which XLA's CPU runtime would otherwise abort after 40 s
            env["XLA_FLAGS"] = (f"--xla_force_host_platform_device_count={d} "
                                "--xla_cpu_collective_call_terminate_timeout_seconds=1200")
        cmd = [sys.executable, __file__, "--child", str(d)] + sys.argv[1:]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
        for line in proc.stdout:
            if line.startswith("ROW "):
                row = json.loads(line[4:])
                print("  ".join(f"{k}={v}" for k, v in row.items() if v is not None),
                      flush=True)
        proc.wait()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--devices", default="1,2,4", help="device counts to run on")
    p.add_argument("--sections", default="ksg,auto,probe,gaussian,batch,dse")
    p.add_argument("--quick", action="store_true", help="small sizes only")
    p.add_argument("--ksg-n", default="1e4,3e4,1e5")
    p.add_argument("--auto-n", default="1e4,1e5,1e6")
    p.add_argument("--gaussian-n", default="1e4,1e5,1e6")
    p.add_argument("--batches", default="1,4,16,64,256,1024")
    p.add_argument("--ksg-max-batch", type=int, default=64)
    p.add_argument("--tree-budget", type=float, default=900.0,
                   help="skip the sklearn peer when predicted to take longer (seconds)")
    p.add_argument("--probe-n", default="1e5,1e6")
    p.add_argument("--probe-queries", type=int, default=20_000)
    p.add_argument("--dse", action="store_true", help="run the DSE Lanczos hook")
    p.add_argument("--dse-n", default="1e4,3e4,1e5")
    p.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.quick:
        args.ksg_n, args.auto_n, args.gaussian_n = "1e4", "1e4,1e5", "1e4,1e5"
        args.batches, args.ksg_max_batch = "1,4,16,64", 16
    child(args) if args.child else parent(args)


if __name__ == "__main__":
    main()
