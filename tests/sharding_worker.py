"""Sharding checks run in a subprocess with 4 forced host devices or under jax.distributed.

Not a test module: `tests/test_sharding.py` starts it and reads the JSON line it prints.

    XLA_FLAGS=--xla_force_host_platform_device_count=4 python tests/sharding_worker.py devices
    python tests/sharding_worker.py process <process_id> <port>      (two of them)
"""

from __future__ import annotations

import json
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import infoest
from infoest import sharding
from infoest._registry import get

B, N = 4, 96  # a batch of 4 datasets of 96 samples: one dataset per device


def _pairs(batch: int, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, n, 2)).astype(np.float32)
    y = (0.8 * x + 0.6 * rng.normal(size=x.shape)).astype(np.float32)
    return x, y


FAMILIES = [  # quantity, method, data arguments, stochastic, extra options
    ("mutual_information", "gaussian", 2, False, {}),
    ("mutual_information", "ksg", 2, False, {"k": 3}),
    ("entropy", "matrix", 1, False, {}),
    ("entropy", "dse", 1, False, {}),
    ("mutual_information", "smile", 2, True, {}),
    ("entropy", "minde", 1, True, {}),
    ("transfer_entropy", "gaussian", 2, False, {}),
]


def _estimator(quantity, method, n_data, stochastic, extra):
    meth = get(quantity, method)
    kwargs = {**meth.test_kwargs, **extra}

    def value(x, y, key):
        data = (x, y)[:n_data]
        return meth.fn(*data, **(dict(kwargs, key=key) if stochastic else kwargs)).value

    return value


def batch_checks() -> dict:
    """One method per family on a batch sharded over the 4 devices, against no sharding."""
    mesh = sharding.device_mesh(sharding.BATCH)
    x, y = _pairs(B, N)
    keys = jax.random.key_data(jax.random.split(jax.random.key(0), B))
    xs, ys, ks = (sharding.shard_batch(a, mesh) for a in (x, y, keys))
    out = {}
    for quantity, method, *rest in FAMILIES:
        start = time.process_time()
        fn = _estimator(quantity, method, *rest)
        fn_keys = lambda a, b, k, fn=fn: fn(a, b, jax.random.wrap_key_data(k))
        with jax.set_mesh(mesh):
            got = jax.jit(jax.vmap(fn_keys))(xs, ys, ks)
        want = jax.jit(jax.vmap(fn_keys))(jnp.asarray(x), jnp.asarray(y), jnp.asarray(keys))
        out[f"{quantity}/{method}"] = {
            "got": np.asarray(got).tolist(), "want": np.asarray(want).tolist(),
            "devices": len(got.sharding.device_set), "spec": str(got.sharding.spec),
            "cpu_seconds": time.process_time() - start,
        }
    out["mutual_information/gaussian/map_batch"] = map_batch_check(mesh)
    return out


def map_batch_check(mesh) -> dict:
    """`sharding.map_batch` (two datasets per device, one at a time) against `jax.vmap`."""
    x, y = _pairs(2 * B, N, seed=4)
    gauss = lambda a, b: infoest.mutual_information(a, b, method="gaussian").value
    with jax.set_mesh(mesh):
        got = jax.jit(lambda a, b: sharding.map_batch(gauss, a, b))(
            sharding.shard_batch(x, mesh), sharding.shard_batch(y, mesh))
    want = jax.jit(jax.vmap(gauss))(jnp.asarray(x), jnp.asarray(y))
    return {"got": np.asarray(got).tolist(), "want": np.asarray(want).tolist(),
            "devices": len(got.sharding.device_set), "spec": str(got.sharding.spec)}


def _flops(fn, *args) -> float:
    return float(jax.jit(fn).lower(*args).compile().cost_analysis()["flops"])


def sample_checks() -> dict:
    """Gaussian and KSG MI of one dataset sharded on its sample axis, and the work split."""
    mesh = sharding.device_mesh(sharding.SAMPLES)
    x, y = _pairs(1, 2002, seed=1)  # 2002: not divisible by 4 (padded inside the ring)
    x, y = x[0], y[0]
    n4 = 2000
    xs, ys = sharding.shard_samples(x[:n4], mesh), sharding.shard_samples(y[:n4], mesh)
    gauss = lambda a, b: infoest.mutual_information(a, b, method="gaussian").value
    ksg = lambda a, b: infoest.mutual_information(a, b, method="ksg", k=3).value
    with jax.set_mesh(mesh):
        got = {"gaussian": float(jax.jit(gauss)(xs, ys)), "ksg": float(jax.jit(ksg)(xs, ys)),
               "ksg_uneven": float(jax.jit(ksg)(jnp.asarray(x), jnp.asarray(y))),
               "gaussian_flops": _flops(gauss, xs, ys)}
    want = {"gaussian": float(gauss(x[:n4], y[:n4])),
            "ksg": float(infoest.mutual_information(x[:n4], y[:n4], method="ksg", k=3,
                                                    backend="brute").value),
            "ksg_uneven": float(infoest.mutual_information(x, y, method="ksg", k=3,
                                                           backend="brute").value),
            "gaussian_flops": _flops(gauss, jnp.asarray(x[:n4]), jnp.asarray(y[:n4]))}
    got["ring_exact"] = ring_checks(mesh)
    want["ring_exact"] = [True, True]
    return {"got": got, "want": want}


def ring_checks(mesh) -> list[bool]:
    """Radii and counts of the ring equal the single-device brute force exactly: KSG-1 with
    a Theiler window and ties, KSG-2 (n = 501, not divisible by 4)."""
    from infoest.ops import neighbors

    rng = np.random.default_rng(3)
    raw = [rng.normal(size=(501, d)).astype(np.float32) for d in (1, 2, 1)]
    groups = ((0, 2), (1, 2), (2,))
    same = []
    for algorithm, theiler in ((1, 3), (2, 0)):
        # ties (rounded data) only for KSG-1: KSG-2 may pick tied k-th neighbours differently
        blocks = [np.round(b, 1) if algorithm == 1 else b for b in raw]

        def counts(*b, algorithm=algorithm, theiler=theiler):
            return neighbors.neighbor_counts(b, 3, groups, algorithm=algorithm,
                                             theiler=theiler, backend="brute")

        want = counts(*blocks)
        with jax.set_mesh(mesh):
            got = jax.jit(counts)(*blocks)
        same.append(all(bool(np.array_equal(np.asarray(u), np.asarray(v)))
                        for u, v in zip(got, want, strict=True)))
    return same


def readme_check() -> dict:
    """Run the README's "Many devices" code block as written."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    code = text.split("## Many devices", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    try:
        exec(compile(code, "README.md", "exec"), {})
    except Exception as err:  # reported to the test, which fails with it
        return {"ok": False, "error": repr(err)}
    return {"ok": True}


def devices_main() -> dict:
    out = {"devices": jax.device_count()}
    for name, check in (("batch", batch_checks), ("samples", sample_checks),
                        ("readme", readme_check)):
        start = time.process_time()
        out[name] = check()
        out[f"{name}_cpu_seconds"] = time.process_time() - start
    return out


#: a short SMILE fit (60 steps of 64-row minibatches, 16 rows per device on 4 devices,
#: 32 per process on 2): trained enough to be far from 0, small enough to compile fast.
SMILE = dict(steps=60, hidden=(16,), embed_dim=8, batch_size=64, learning_rate=5e-3,
             select="last", patience=None)


def smile(a, b):
    """SMILE MI with a fixed key; data-parallel when run under a mesh with a samples axis."""
    return infoest.mutual_information(a, b, method="smile", key=jax.random.key(3),
                                      **SMILE).value


def _gradient_all_reduce(text: str) -> bool:
    """Whether a compiled program (its HLO text) all-reduces the critic's first-layer
    gradients (f32[16,2]), i.e. each device took the loss of its own minibatch rows."""
    return any(" all-reduce(" in ln and "f32[16,2]" in ln.split("all-reduce(")[0]
               for ln in text.splitlines())


def process_main(pid: int, port: int) -> dict:
    """Two processes, one CPU device each, samples split between them (gloo collectives):
    Gaussian and KSG MI, and a data-parallel SMILE fit (the minibatch split over the
    processes, gradients all-reduced inside the compiled training scan)."""
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=2, process_id=pid,
                               initialization_timeout=60)
    x, y = _pairs(1, 800, seed=2)
    x, y = x[0], y[0]
    mesh = sharding.device_mesh(sharding.SAMPLES)
    half = slice(400 * pid, 400 * (pid + 1))  # this process's rows
    xs, ys = sharding.shard_samples(x[half], mesh), sharding.shard_samples(y[half], mesh)
    gauss = lambda a, b: infoest.mutual_information(a, b, method="gaussian").value
    ksg = lambda a, b: infoest.mutual_information(a, b, method="ksg", k=3).value
    start, cpu = time.monotonic(), time.process_time()
    with jax.set_mesh(mesh):
        got = {"gaussian": float(jax.jit(gauss)(xs, ys)), "ksg": float(jax.jit(ksg)(xs, ys))}
        compiled = jax.jit(smile).lower(xs, ys).compile()
        got["smile"] = float(compiled(xs, ys))
        got["smile_gradient_all_reduce"] = _gradient_all_reduce(compiled.as_text())
    # the single-process values, split between the two (the test merges them)
    with jax.default_device(jax.local_devices()[0]):
        if pid == 0:
            want = {"gaussian": float(gauss(x, y)),
                    "ksg": float(infoest.mutual_information(x, y, method="ksg", k=3,
                                                            backend="brute").value)}
        else:
            want = {"smile": float(smile(x, y))}
    result = {"process": pid, "processes": jax.process_count(),
              "devices": jax.device_count(), "got": got, "want": want,
              "seconds": time.monotonic() - start, "cpu_seconds": time.process_time() - cpu}
    jax.distributed.shutdown()
    return result


if __name__ == "__main__":
    if sys.argv[1] == "devices":
        result = devices_main()
    else:
        result = process_main(int(sys.argv[2]), int(sys.argv[3]))
    print("RESULT " + json.dumps(result), flush=True)
