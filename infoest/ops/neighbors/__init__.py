"""k-nearest-neighbour primitives shared by every kNN estimator.

One search serves Kozachenko–Leonenko entropy, KSG mutual information, Frenzel–Pompe
conditional MI and (through the Theiler window) KSG transfer entropy. The data are given as
*blocks* (e.g. `(x, y)` or `(x, y, z)`); the joint distance between samples i and j is

$$ d(i, j) = \\max_b \\lVert \\mathrm{block}_b[i] - \\mathrm{block}_b[j] \\rVert_b, $$

the max over blocks of a within-block norm (`"max"`: Chebyshev, `"euclidean"`: L2), so a
ball in the joint space is the product of balls in the blocks — the property behind the KSG
cancellation (Kraskov, Stögbauer, Grassberger, PRE 69, 066138, 2004). Sample i never counts
as its own neighbour, and a Theiler window w removes every j with |i − j| ≤ w (w = 0: only
i itself) from the search and from the counts. Distances are in the data's units.

Functions:

- [knn_distance][infoest.ops.neighbors.knn_distance]: distance ε_i to the k-th nearest
  neighbour in the joint space.
- [count_within][infoest.ops.neighbors.count_within]: #{j : d(i, j) < r_i} (strict) or
  ≤ r_i for per-point radii.
- [neighbor_counts][infoest.ops.neighbors.neighbor_counts]: the fused KSG step — ε_i in the
  joint space and the counts in several subspaces (unions of blocks) in one pass;
  `algorithm=2` returns the KSG-2 per-subspace radii with non-strict counts.
- [choose_backend][infoest.ops.neighbors.choose_backend]: the backend rule (n, dimension,
  device, sharding).

Backends (one module each; all give identical radii and counts for the max-norm, except
that with `algorithm=2` neighbours tied at the k-th distance may be chosen differently):

- `_brute`: pure JAX on one device, O(n² d) time, O(2¹⁷) elements per block.
- `_ring`: the same brute force with the samples sharded over a mesh axis (`shard_map`,
  reference blocks passed round the devices with `ppermute`).
- `_tree`: host code through `jax.pure_callback` (scipy/scikit-learn trees, sorted
  coordinates; works under `jit` and `vmap`), with `_fenv` for the floating-point
  environment the host code needs.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np
from jax import Array

from infoest.ops.neighbors._brute import brute_count, brute_neighbor_counts
from infoest.ops.neighbors._ring import ring_neighbor_counts
from infoest.ops.neighbors._rule import (
    BACKENDS,
    NORMS,
    TREE_LARGE_N_MAX_DIM,
    TREE_MAX_DIM,
    TREE_MIN_N,
    Plan,
    choose_backend,
    resolve_backend,
    sample_sharding,
)
from infoest.ops.neighbors._tree import tree_count, tree_neighbor_counts

__all__ = [
    "BACKENDS",
    "NORMS",
    "TREE_MAX_DIM",
    "TREE_LARGE_N_MAX_DIM",
    "TREE_MIN_N",
    "Plan",
    "choose_backend",
    "resolve_backend",
    "sample_sharding",
    "knn_distance",
    "count_within",
    "neighbor_counts",
]

Groups = Sequence[Sequence[int]]


def _as_blocks(z) -> tuple[Array, ...]:
    blocks = (z,) if hasattr(z, "shape") else tuple(z)
    blocks = tuple(b[:, None] if b.ndim == 1 else b for b in blocks)
    if not blocks or any(b.ndim != 2 for b in blocks):
        raise ValueError("`z` must be an (n, d) array or a sequence of (n, d_b) arrays")
    if len({b.shape[0] for b in blocks}) != 1:
        raise ValueError("all blocks of `z` must have the same number of samples")
    dtype = jnp.result_type(*blocks)
    return tuple(jnp.asarray(b, dtype) for b in blocks)


def _check_theiler(theiler, n: int, k: int) -> int:
    if isinstance(theiler, bool) or not isinstance(theiler, int | np.integer) or theiler < 0:
        raise ValueError(f"`theiler` must be a non-negative Python int, got {theiler!r}")
    if n - (2 * theiler + 1) < k:
        raise ValueError(
            f"too few samples for k={k} with `theiler`={theiler}: need n >= k + 2*theiler + 1 "
            f"= {k + 2 * theiler + 1}, got n={n}"
        )
    return int(theiler)




def knn_distance(z, k: int, *, norm: str = "max", theiler: int = 0,
                 backend: str = "auto") -> Array:
    """Distance from each sample to its k-th nearest neighbour (self and window excluded).

    Args:
        z: an `(n, d)` array, or a sequence of `(n, d_b)` blocks (joint distance = max of
            the within-block norms).
        k: neighbour order (static).
        norm: within-block norm, `"max"` or `"euclidean"`.
        theiler: exclude j with |i − j| ≤ theiler (static).
        backend: `"auto"`, `"brute"` or `"tree"` (the rule:
            [choose_backend][infoest.ops.neighbors.choose_backend]).

    Returns:
        ε of shape `(n,)` in the input dtype and units; 0 where ≥ k other samples coincide
        with i.
    """
    radius, _ = neighbor_counts(z, k, (), norm=norm, theiler=theiler, backend=backend)
    return radius


def neighbor_counts(z, k: int, groups: Groups, *, algorithm: int = 1, norm: str = "max",
                    theiler: int = 0, backend: str = "auto") -> tuple[Array, Array]:
    """The KSG neighbour step: joint k-NN radius and neighbour counts in subspaces.

    Args:
        z: sequence of blocks `(n, d_b)` (or one array).
        k: neighbour order in the joint space (static).
        groups: subspaces to count in, each a tuple of block indices, e.g. `((0,), (1,))`
            for KSG MI on `(x, y)` or `((0, 2), (1, 2), (2,))` for CMI on `(x, y, z)`.
        algorithm: 1 — ε_i = joint k-th neighbour distance, counts
            $n_g(i) = \\#\\{j : d_g(i, j) < ε_i\\}$ (strict); 2 — per-subspace radii
            ε_g(i) = max of d_g(i, j) over the k joint neighbours j, counts
            #{j : d_g(i, j) ≤ ε_g(i)} (non-strict).
        norm, theiler, backend: as in [knn_distance][infoest.ops.neighbors.knn_distance].

    Returns:
        `(radius, counts)`: algorithm 1: ε `(n,)` and counts `(n, len(groups))` int32;
        algorithm 2: radii `(n, len(groups))` and counts `(n, len(groups))`.
    """
    blocks = _as_blocks(z)
    n = blocks[0].shape[0]
    groups = tuple(tuple(int(b) for b in g) for g in groups)
    if any(not g or min(g) < 0 or max(g) >= len(blocks) for g in groups):
        raise ValueError(f"`groups` {groups} must be non-empty tuples of block indices")
    if algorithm not in (1, 2):
        raise ValueError(f"`algorithm` must be 1 or 2, got {algorithm!r}")
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k < n:
        raise ValueError(f"`k` must be an int with 1 <= k < n={n}, got {k!r}")
    theiler = _check_theiler(theiler, n, int(k))
    plan = choose_backend(backend, [b.shape[1] for b in blocks], norm, n=n, arrays=blocks)
    args = (blocks, int(k), groups, algorithm, norm, theiler)
    if plan.kind == "ring":
        return ring_neighbor_counts(*args, plan.mesh, plan.axis)
    impl = tree_neighbor_counts if plan.kind == "tree" else brute_neighbor_counts
    return impl(*args)


def count_within(x, radius, *, strict: bool = True, norm: str = "max", theiler: int = 0,
                 backend: str = "auto") -> Array:
    """#{j ∉ window(i) : d(i, j) < r_i} (`strict`) or ≤ r_i, for every sample i.

    `x` is an `(n, d)` array or a sequence of blocks; `radius` has shape `(n,)`. Returns
    int32 counts of shape `(n,)`. Cost as for
    [neighbor_counts][infoest.ops.neighbors.neighbor_counts]; on sample-sharded data the
    single-device brute force runs (XLA partitions it).
    """
    blocks = _as_blocks(x)
    n = blocks[0].shape[0]
    radius = jnp.asarray(radius, blocks[0].dtype)
    if radius.shape != (n,):
        raise ValueError(f"`radius` must have shape ({n},), got {radius.shape}")
    theiler = _check_theiler(theiler, n, 0)
    plan = choose_backend(backend, [b.shape[1] for b in blocks], norm, n=n, arrays=blocks)
    if plan.kind == "tree":
        return tree_count(blocks, radius, bool(strict), norm, theiler)
    return brute_count(blocks, radius, bool(strict), norm, theiler)
