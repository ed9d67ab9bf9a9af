"""Which k-NN backend runs: one explicit rule that sees n, dimension, device and sharding.

[choose_backend][infoest.ops.neighbors.choose_backend] returns a [Plan][infoest.ops.neighbors.Plan]:
`"brute"`, `"ring"` (brute force with the samples sharded over a mesh axis) or `"tree"`.

- `backend="brute"` or `"tree"` is honoured (the tree needs `norm="max"` or one block, and
  raises on data sharded over several devices, which a host callback would gather); a
  brute request on sample-sharded data runs the ring.
- `backend="auto"`, in this order:
  1. *sharded data → device path.* The samples are sharded when an input's sharding
     (a concrete `jax.Array`'s `.sharding`, or the type of a traced one in explicit-sharding
     mode) splits axis 0 over more than one device, or when the ambient mesh
     (`jax.set_mesh(mesh)`, `jax.shard_map`) has an axis named `"samples"`
     ([infoest.sharding.SAMPLES][]) of size > 1: the ring over that axis. Any other mesh
     of more than one device (e.g. a batch of datasets under `jax.vmap`) → brute force, so
     each device computes its own shard and nothing is gathered.
  2. *accelerator → brute.* When the data's platform (a concrete input's device, else the
     ambient mesh's, else `jax.default_backend()`) is not `"cpu"`.
  3. *CPU, low dimension → tree.* Joint dimension d ≤ `TREE_MAX_DIM` (4), when the norm
     allows it.
  4. *CPU, large n → tree.* d ≤ `TREE_LARGE_N_MAX_DIM` (12) and n ≥ `TREE_MIN_N`
     (500 000): brute force costs n² d, the tree about n^1.6 at 5+5 dimensions, and beyond
     this size the tree is faster on CPU (`benchmarks/bench_scaling.py`, `docs/sharding.md`).
  5. otherwise brute force.

Inside `jax.jit` in the default (auto-sharding) mode a traced array does not carry its
sharding, so step 1 needs the ambient mesh there: run sharded work under
`with jax.set_mesh(mesh):` (the [infoest.sharding][] helpers build such meshes).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from infoest.ops.placement import SAMPLES, on_many_devices, platform, sample_sharding

__all__ = ["BACKENDS", "NORMS", "TREE_MAX_DIM", "TREE_LARGE_N_MAX_DIM", "TREE_MIN_N", "Plan",
           "choose_backend", "resolve_backend", "sample_sharding", "SAMPLES"]

BACKENDS = ("auto", "brute", "tree")
NORMS = ("max", "euclidean")
#: "auto" picks the tree on CPU up to this joint dimension. Measured (CPU seconds, KSG MI
#: k = 4, n = 10 000, brute vs tree): 1+1 0.28 vs 0.04, 2+1 0.35 vs 0.08, 2+2 0.54 vs 0.13,
#: 3+2 0.59 vs 0.52, 3+3 0.61 vs 1.05 (`benchmarks/bench_ksg.py --backends`).
TREE_MAX_DIM = 4
#: ... and, at n >= TREE_MIN_N, up to this joint dimension (trees degrade towards n² in
#: high dimension, where brute force is never slower).
TREE_LARGE_N_MAX_DIM = 12
#: the sample size from which the tree beats the n² brute force on CPU at 5 < d <= 12.
#: Measured, KSG 5+5, k = 3, CPU seconds: brute 1.6 (n = 3·10⁴, so 17.8 at 10⁵ and 1 780 at
#: 10⁶), tree 36.5 (10⁵) and 1 374 (10⁶; `bench_scaling.py --sections probe`): the tree
#: grows as n^1.58 and crosses the brute force near n = 5.5·10⁵.
TREE_MIN_N = 500_000


@dataclasses.dataclass(frozen=True)
class Plan:
    """The chosen backend: `kind` in ("brute", "ring", "tree"); for "ring" the `mesh` and
    mesh `axis` the samples are sharded over (hashable, so it can be a static argument)."""

    kind: str
    mesh: object = None
    axis: object = None


def _check(backend: str, norm: str, n_blocks: int) -> bool:
    """Validate the names; whether the tree supports this norm and block count."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown `backend`={backend!r}; valid values: {BACKENDS}")
    if norm not in NORMS:
        raise ValueError(f"unknown `norm`={norm!r}; valid values: {NORMS}")
    tree_ok = norm == "max" or n_blocks == 1
    if backend == "tree" and not tree_ok:
        raise ValueError("`backend`='tree' supports norm='max', or norm='euclidean' with a "
                         "single block; use backend='brute'")
    return tree_ok


def choose_backend(backend: str, dims: Sequence[int], norm: str, *, n: int | None = None,
                   arrays: Sequence = ()) -> Plan:
    """The backend that runs for blocks of dimensions `dims` and n samples (see module doc).

    Args:
        backend: `"auto"`, `"brute"` or `"tree"`.
        dims: dimension of each block (joint dimension `sum(dims)`).
        norm: `"max"` or `"euclidean"`.
        n: number of samples (None: unknown, the large-n rule is skipped).
        arrays: the data (concrete or traced), whose shardings and devices are read.
    """
    tree_ok = _check(backend, norm, len(dims))
    sharded = sample_sharding(arrays)
    many = sharded is not None or on_many_devices(arrays)
    if backend == "tree":
        if many:
            raise ValueError("`backend`='tree' runs on one host and would gather data sharded "
                             "over several devices; use backend='brute' or 'auto'")
        return Plan("tree")
    if sharded is not None:
        return Plan("ring", *sharded)
    if backend == "brute" or many or platform(arrays) != "cpu" or not tree_ok:
        return Plan("brute")
    d = sum(dims)
    large = n is not None and n >= TREE_MIN_N and d <= TREE_LARGE_N_MAX_DIM
    return Plan("tree" if d <= TREE_MAX_DIM or large else "brute")


def resolve_backend(backend: str, dims: Sequence[int], norm: str, *, n: int | None = None,
                    arrays: Sequence = ()) -> str:
    """[choose_backend][infoest.ops.neighbors.choose_backend]'s kind as a string."""
    return choose_backend(backend, dims, norm, n=n, arrays=arrays).kind
