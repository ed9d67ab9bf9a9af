"""k-nearest-neighbour primitives shared by every kNN estimator.

One search serves Kozachenko–Leonenko entropy, KSG mutual information, Frenzel–Pompe
conditional MI and (through the Theiler window) KSG transfer entropy: the data are given as
*blocks* (e.g. ``(x, y)`` or ``(x, y, z)``); the joint distance between samples i and j is

    d(i, j) = max_b ‖block_b[i] − block_b[j]‖_b,

the max over blocks of a within-block norm (``"max"``: Chebyshev, ``"euclidean"``: L2), so a
ball in the joint space is the product of balls in the blocks — the property behind the KSG
cancellation (Kraskov, Stögbauer, Grassberger, PRE 69, 066138, 2004). Sample i never counts
as its own neighbour, and a Theiler window ``w`` removes every j with ``|i − j| ≤ w``
(``w = 0``: only i itself) from the search and from the counts.

Functions:

- [`knn_distance`][infoest.ops.neighbors.knn_distance]: distance ε_i to the k-th nearest neighbour
in the joint space.
- [`count_within`][infoest.ops.neighbors.count_within]: #{j : d(i, j) < r_i} (strict) or ``≤ r_i``
for per-point radii.
- [`neighbor_counts`][infoest.ops.neighbors.neighbor_counts]: the fused KSG step — ε_i in the joint
space and the counts in
  several subspaces (unions of blocks) in one pass; ``algorithm=2`` returns the KSG-2
  per-subspace radii (max over the k joint neighbours) with non-strict counts.

Two backends give identical results for the max-norm (both compute distances exactly as
rounded differences in the input dtype; the tree's float64 thresholds are mapped back to the
input's rounding), except that with ``algorithm=2`` neighbours tied at the k-th distance may
be chosen differently:

- ``"brute"``: pure JAX, blocked over query rows (``lax.map``), never materialising an n×n
  matrix: O(n² d) time, O(B n) memory with B ≈ 2¹⁷ / n rows per block. The k smallest
  distances of a row are found without sorting: the row is cut into ~√(n/k)-wide strided
  chunks, the k chunks with the smallest minima are gathered (they provably contain the k
  smallest values) and ``lax.top_k`` runs on that small set. This is the GPU path and the
  fastest CPU path in more than a few dimensions.
- ``"tree"``: host code through `jax.pure_callback` (works under ``jit`` and
  ``vmap``): the joint k-NN search with scipy's ``cKDTree`` (``workers=-1``), the counts of
  max-norm subspaces of one or two coordinates exactly from sorted coordinates
  (`infoest.ops._sorted_counts`: O(n log n) in 1-D, O(n^(4/3)) in 2-D, whatever the
  number of points inside the balls), other subspaces with ``cKDTree.query_ball_point``.
  About O(n log n) in low dimension, degrading towards O(n²) as the dimension grows. Max-norm,
  or a single Euclidean block. A vmapped call (``vmap_method="expand_dims"``) loops over the
  batch on host threads and builds the sorted axes, tables and trees of unbatched blocks
  once for the whole batch: a surrogate test that permutes the source rebuilds only the
  subspaces containing the source. (Under ``vmap`` the brute force instead processes the
  whole batch per row block, multiplying its memory by the batch size.)
- ``"auto"``: the tree on a CPU platform when the joint dimension is at most
  `TREE_MAX_DIM` (and the norm allows it), brute force otherwise.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import math
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array, lax

from infoest.ops._sorted_counts import SortedAxis, SortedCounter

__all__ = [
    "BACKENDS",
    "NORMS",
    "TREE_MAX_DIM",
    "resolve_backend",
    "knn_distance",
    "count_within",
    "neighbor_counts",
]

BACKENDS = ("auto", "brute", "tree")
NORMS = ("max", "euclidean")
#: "auto" picks the tree on CPU up to this joint dimension. Measured (CPU seconds, KSG MI
#: k = 4, n = 10 000, brute vs tree, sorted-coordinate counts): 1+1 0.28 vs 0.04, 2+1 0.35
#: vs 0.08, 2+2 0.54 vs 0.13, 3+2 0.59 vs 0.52, 3+3 0.61 vs 1.05; at n = 2 000 all are
#: within 0.1 s (``compare_backends`` of ``benchmarks/bench_ksg.py``). KSG transfer entropy
#: with one-step histories (3-D joint space) at T = 10 000: brute ≈ 4x slower than the tree
#: (``benchmarks/bench_te.py``).
TREE_MAX_DIM = 4
#: elements of one (rows × n) distance block in the brute-force backend.
_BLOCK_ELEMENTS = 1 << 17

Blocks = Sequence[Array]
Groups = Sequence[Sequence[int]]


# ----------------------------------------------------------------------------- front door


def resolve_backend(backend: str, dims: Sequence[int], norm: str) -> str:
    """The concrete backend ("brute" or "tree") for blocks of dimensions ``dims``."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown `backend`={backend!r}; valid values: {BACKENDS}")
    if norm not in NORMS:
        raise ValueError(f"unknown `norm`={norm!r}; valid values: {NORMS}")
    tree_ok = norm == "max" or len(dims) == 1
    if backend == "tree":
        if not tree_ok:
            raise ValueError(
                "`backend`='tree' supports norm='max', or norm='euclidean' with a single "
                "block; use backend='brute'"
            )
        return "tree"
    if backend == "brute":
        return "brute"
    cpu = jax.default_backend() == "cpu"
    return "tree" if cpu and tree_ok and sum(dims) <= TREE_MAX_DIM else "brute"


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
        z: an ``(n, d)`` array, or a sequence of ``(n, d_b)`` blocks (joint distance = max of
            the within-block norms).
        k: neighbour order (static).
        norm: within-block norm, ``"max"`` or ``"euclidean"``.
        theiler: exclude j with ``|i − j| ≤ theiler`` (static).
        backend: ``"auto"``, ``"brute"`` or ``"tree"`` (see module docstring).

    Returns:
        ε of shape ``(n,)`` in the input dtype; 0 where ≥ k other samples coincide with i.
    """
    radius, _ = neighbor_counts(z, k, (), norm=norm, theiler=theiler, backend=backend)
    return radius


def neighbor_counts(z, k: int, groups: Groups, *, algorithm: int = 1, norm: str = "max",
                    theiler: int = 0, backend: str = "auto") -> tuple[Array, Array]:
    """The KSG neighbour step: joint k-NN radius and neighbour counts in subspaces.

    Args:
        z: sequence of blocks ``(n, d_b)`` (or one array).
        k: neighbour order in the joint space (static).
        groups: subspaces to count in, each a tuple of block indices, e.g. ``((0,), (1,))``
            for KSG MI on ``(x, y)`` or ``((0, 2), (1, 2), (2,))`` for CMI on ``(x, y, z)``.
        algorithm: 1 — ε_i = joint k-th neighbour distance, counts n_g(i) = #{j : d_g(i, j)
            < ε_i} (strict); 2 — per-subspace radii ε_g(i) = max of d_g(i, j) over the k joint
            neighbours j, counts #{j : d_g(i, j) ≤ ε_g(i)} (non-strict).
        norm, theiler, backend: as in [`knn_distance`][infoest.ops.neighbors.knn_distance].

    Returns:
        ``(radius, counts)``: algorithm 1: ε ``(n,)`` and counts ``(n, len(groups))`` int32;
        algorithm 2: radii ``(n, len(groups))`` and counts ``(n, len(groups))``.
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
    which = resolve_backend(backend, [b.shape[1] for b in blocks], norm)
    impl = _tree_neighbor_counts if which == "tree" else _brute_neighbor_counts
    return impl(blocks, int(k), groups, algorithm, norm, theiler)


def count_within(x, radius, *, strict: bool = True, norm: str = "max", theiler: int = 0,
                 backend: str = "auto") -> Array:
    """#{j ∉ window(i) : d(i, j) < r_i} (``strict``) or ``≤ r_i``, for every sample i.

    ``x`` is an ``(n, d)`` array or a sequence of blocks; ``radius`` has shape ``(n,)``.
    Returns int32 counts of shape ``(n,)``. Cost as for
    [`neighbor_counts`][infoest.ops.neighbors.neighbor_counts].
    """
    blocks = _as_blocks(x)
    n = blocks[0].shape[0]
    radius = jnp.asarray(radius, blocks[0].dtype)
    if radius.shape != (n,):
        raise ValueError(f"`radius` must have shape ({n},), got {radius.shape}")
    theiler = _check_theiler(theiler, n, 0)
    which = resolve_backend(backend, [b.shape[1] for b in blocks], norm)
    if which == "tree":
        return _tree_count(blocks, radius, bool(strict), norm, theiler)
    return _brute_count(blocks, radius, bool(strict), norm, theiler)


# ----------------------------------------------------------------------------- brute force


def _block_distance(q: Array, refT: Array, norm: str) -> Array:
    """(B, d) queries against (d, N) transposed references -> (B, N) distances.

    A Python loop over the (static, small) feature axis keeps XLA on contiguous rows; it was
    ~50x faster on CPU than broadcasting a (B, N, d) difference.
    """
    acc = None
    for j in range(q.shape[1]):
        diff = q[:, j : j + 1] - refT[j : j + 1, :]
        term = jnp.abs(diff) if norm == "max" else diff * diff
        if acc is None:
            acc = term
        else:
            acc = jnp.maximum(acc, term) if norm == "max" else acc + term
    return acc if norm == "max" else jnp.sqrt(acc)


class _Layout:
    """Sizes of the brute-force blocking for n samples."""

    def __init__(self, n: int, k: int):
        self.n = n
        self.chunk = max(1, math.isqrt(max(1, n // max(k, 1))))  # strided chunk size C
        self.m = -(-n // self.chunk)  # chunks per row, >= k
        self.n_pad = self.m * self.chunk
        self.rows = min(n, max(4, _BLOCK_ELEMENTS // self.n_pad))
        self.n_blocks = -(-n // self.rows)


def _pad_rows(a: Array, total: int) -> Array:
    return jnp.pad(a, ((0, total - a.shape[0]), (0, 0)))


def _row_blocks(blocks, lay: _Layout):
    """Query blocks (n_blocks, rows, d_b) and transposed references (d_b, n_pad).

    Padding columns hold +inf, so their distances are inf: never a neighbour, never counted.
    """
    queries = [
        _pad_rows(b, lay.n_blocks * lay.rows).reshape(lay.n_blocks, lay.rows, b.shape[1])
        for b in blocks
    ]
    refs = [
        jnp.pad(b, ((0, lay.n_pad - lay.n), (0, 0)), constant_values=jnp.inf).T for b in blocks
    ]
    return queries, refs


def _window(start, lay: _Layout, theiler: int) -> tuple[Array, Array]:
    """Columns |i − j| ≤ theiler of the block's rows i, shape (rows, 2 theiler + 1), and
    whether each is a real sample (out-of-range entries point past the end)."""
    rows = start + jnp.arange(lay.rows)
    cols = rows[:, None] + jnp.arange(-theiler, theiler + 1)[None, :]
    valid = (cols >= 0) & (cols < lay.n)
    return jnp.where(valid, cols, lay.n_pad), valid


def _window_count(dist: Array, inside, cols: Array, valid: Array) -> Array:
    """How many window entries of each row satisfy ``inside`` (to subtract from a count)."""
    vals = jnp.take_along_axis(dist, jnp.minimum(cols, dist.shape[1] - 1), axis=1)
    return jnp.sum(valid & inside(vals), axis=1, dtype=jnp.int32)


def _k_smallest(dist: Array, k: int, lay: _Layout) -> tuple[Array, Array]:
    """The k smallest entries of each row of ``dist`` (rows, n_pad), ascending, with columns.

    Strided chunks: column c*m + j belongs to chunk j. The k chunks with the smallest minima
    contain k smallest entries (every entry below the k-th chunk minimum lies in one of them),
    so ``top_k`` runs on k*C gathered values instead of the whole row.
    """
    r, c, m = dist.shape[0], lay.chunk, lay.m
    chunks = dist.reshape(r, c, m)
    _, best = lax.top_k(-chunks.min(axis=1), k)  # (r, k) chunk ids
    gathered = jnp.take_along_axis(chunks, best[:, None, :], axis=2).reshape(r, c * k)
    neg, pos = lax.top_k(-gathered, k)
    cols = (pos // k) * m + jnp.take_along_axis(best, pos % k, axis=1)
    return -neg, cols


def _count(mask: Array, lay: _Layout) -> Array:
    """Row sums of a boolean (rows, n_pad) mask as int32 (reduced over a major axis first)."""
    return mask.astype(jnp.int32).reshape(mask.shape[0], lay.m, lay.chunk).sum(1).sum(1)


def _group_distance(dists: Sequence[Array], group: Sequence[int]) -> Array:
    out = dists[group[0]]
    for b in group[1:]:
        out = jnp.maximum(out, dists[b])
    return out


@partial(jax.jit, static_argnums=(1, 2, 3, 4, 5))
def _brute_neighbor_counts(blocks, k, groups, algorithm, norm, theiler):
    n = blocks[0].shape[0]
    lay = _Layout(n, k)
    queries, refs = _row_blocks(blocks, lay)
    here = jnp.arange(lay.rows)[:, None]

    def one(args):
        start, qs = args
        wcols, wvalid = _window(start, lay, theiler)
        dists = [_block_distance(q, ref, norm) for q, ref in zip(qs, refs, strict=True)]
        joint = _group_distance(dists, range(len(dists)))
        joint = joint.at[here, wcols].set(jnp.inf, mode="drop")
        values, cols = _k_smallest(joint, k, lay)
        radii, counts = [], []
        for g in groups:
            dg = _group_distance(dists, g)
            if algorithm == 1:
                eps = values[:, -1:]
                inside = lambda d, eps=eps: d < eps
            else:
                eps = jnp.take_along_axis(dg, cols, axis=1).max(axis=1, keepdims=True)
                radii.append(eps[:, 0])
                inside = lambda d, eps=eps: d <= eps
            counts.append(_count(inside(dg), lay) - _window_count(dg, inside, wcols, wvalid))
        radius = values[:, -1] if algorithm == 1 else _stack(radii, values.dtype, lay.rows)
        return radius, _stack(counts, jnp.int32, lay.rows)

    starts = jnp.arange(lay.n_blocks) * lay.rows
    radius, counts = lax.map(one, (starts, queries))
    radius = radius.reshape(lay.n_blocks * lay.rows, *radius.shape[2:])[:n]
    counts = counts.reshape(lay.n_blocks * lay.rows, -1)[:n]
    return radius, counts


def _stack(columns, dtype, rows):
    if not columns:
        return jnp.zeros((rows, 0), dtype)
    return jnp.stack(columns, axis=1)


@partial(jax.jit, static_argnums=(2, 3, 4))
def _brute_count(blocks, radius, strict, norm, theiler):
    n = blocks[0].shape[0]
    lay = _Layout(n, 1)
    queries, refs = _row_blocks(blocks, lay)
    radii = _pad_rows(radius[:, None], lay.n_blocks * lay.rows).reshape(lay.n_blocks, lay.rows)

    def one(args):
        start, qs, r = args
        wcols, wvalid = _window(start, lay, theiler)
        dists = [_block_distance(q, ref, norm) for q, ref in zip(qs, refs, strict=True)]
        d = _group_distance(dists, range(len(dists)))
        r = r[:, None]
        inside = (lambda v: v < r) if strict else (lambda v: v <= r)
        return _count(inside(d), lay) - _window_count(d, inside, wcols, wvalid)

    starts = jnp.arange(lay.n_blocks) * lay.rows
    return lax.map(one, (starts, queries, radii)).reshape(-1)[:n]


# ----------------------------------------------------------------------------- scipy tree


def _load_libm():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
    except OSError:  # pragma: no cover
        return None


_LIBM = _load_libm()


@contextlib.contextmanager
def _default_float_env():
    """Run host code with the default floating-point environment, then restore XLA's.

    XLA executes callbacks with denormals flushed to zero (FTZ/DAZ). scipy's cKDTree
    segfaults under that mode on data with many duplicates (seen with scipy 1.17), so the
    tree work runs with glibc's default environment (``fesetenv(FE_DFL_ENV)``); elsewhere
    this is a no-op.
    """
    if _LIBM is None:
        yield
        return
    saved = ctypes.create_string_buffer(256)  # larger than any fenv_t
    _LIBM.fegetenv(saved)
    _LIBM.fesetenv(ctypes.c_void_p(-1))  # FE_DFL_ENV
    try:
        yield
    finally:
        _LIBM.fesetenv(saved)


def _threshold(radius: np.ndarray, strict: bool) -> np.ndarray:
    """Largest float64 t with round(t) < r (strict) or round(t) <= r, rounding to r's dtype.

    The brute-force backend compares distances rounded to the input dtype; the tree measures
    them exactly in float64. This maps each radius to the equivalent float64 closed-ball
    radius so that both backends count the same points. Differences of float32 numbers often
    fall exactly half-way between two float32 values, so round-half-to-even is honoured.
    Negative: nothing qualifies.
    """
    r = np.asarray(radius)
    if r.dtype == np.float64:
        thr = np.nextafter(r, -np.inf) if strict else r
    else:
        top = np.nextafter(r, r.dtype.type(-np.inf)) if strict else r  # largest rounding
        mid = 0.5 * (top.astype(np.float64)
                     + np.nextafter(top, r.dtype.type(np.inf)).astype(np.float64))
        thr = np.where(mid.astype(r.dtype) == top, mid, np.nextafter(mid, -np.inf))
    # explicit, because callbacks may run with denormals flushed to zero (XLA's FTZ/DAZ)
    return np.where((r <= 0) if strict else (r < 0), -1.0, thr)


def _np_distance(a: np.ndarray, b: np.ndarray, p: float) -> np.ndarray:
    diff = np.abs(a - b)
    return diff.max(axis=-1) if p == np.inf else np.sqrt((diff * diff).sum(axis=-1))


def _window_inside(data: np.ndarray, thr: np.ndarray, theiler: int, p: float) -> np.ndarray:
    """Per point, how many j with |i − j| ≤ theiler (self included) lie in the closed ball."""
    n = data.shape[0]
    out = (thr >= 0).astype(np.int64)  # i itself, at distance 0
    for off in range(-theiler, theiler + 1):
        if off == 0:
            continue
        i = np.arange(max(0, -off), min(n, n - off))
        out[i] += _np_distance(data[i + off], data[i], p) <= thr[i]
    return out


class _TreeCounter:
    """Closed-ball counts (self included) in one subspace with a scipy ``cKDTree``."""

    def __init__(self, data: np.ndarray, p: float, workers: int):
        from scipy.spatial import cKDTree

        self.data, self.p, self.workers, self.tree = data, p, workers, cKDTree(data)

    def count(self, thr: np.ndarray, memo=None) -> np.ndarray:
        ok = thr >= 0
        counts = np.zeros(self.data.shape[0], np.int64)
        if ok.any():
            counts[ok] = self.tree.query_ball_point(self.data[ok], thr[ok], p=self.p,
                                                    return_length=True, workers=self.workers)
        return counts


def _strict_counts(counter, thr: np.ndarray, theiler: int, memo=None) -> np.ndarray:
    """Ball counts without the points of the Theiler window (self included in the window)."""
    counts = counter.count(thr, memo)
    counts -= np.where(thr >= 0, _window_inside(counter.data, thr, theiler, counter.p), 0)
    return counts.astype(np.int32)


def _neighbors_np(joint: np.ndarray, k: int, theiler: int, p: float, workers: int,
                  with_indices: bool = True):
    """k nearest non-window neighbours: (n, k) float64 distances and indices (without
    indices, possibly only the k-th distance as an (n, 1) array and ``None``)."""
    from scipy.spatial import cKDTree

    n = joint.shape[0]
    want = min(n, k + 2 * theiler + 1)
    if theiler == 0 and not with_indices:
        # the (k+1)-th smallest distance counting i itself (distance 0, the minimum) is the
        # k-th without it, whichever of several zero-distance points the tree lists first
        dist, _ = cKDTree(joint).query(joint, k=[k + 1], p=p, workers=workers)
        return dist.reshape(n, 1), None
    dist, idx = cKDTree(joint).query(joint, k=want, p=p, workers=workers)
    dist, idx = dist.reshape(n, want), idx.reshape(n, want)
    keep = np.abs(idx - np.arange(n)[:, None]) > theiler
    order = np.argsort(~keep, axis=1, kind="stable")[:, :k]  # first k kept, in distance order
    return np.take_along_axis(dist, order, 1), np.take_along_axis(idx, order, 1)


#: host threads for a batch of callback elements (e.g. the surrogates of a TE test).
_THREADS = os.cpu_count() or 1


class _Batch:
    """The inputs of a (possibly vmapped) host callback, and subspaces shared across the batch.

    The callbacks use ``vmap_method="expand_dims"``: an input that is not batched arrives with
    size-1 batch axes. A subspace made only of unbatched blocks (e.g. the target history of a
    transfer entropy under a vmap over source surrogates) is therefore built once, before the
    loop, and reused by every batch element. The elements are independent and run on
    ``_THREADS`` host threads (scipy and numpy release the GIL); a single element instead lets
    scipy's queries use every core (``workers=-1``).
    """

    def __init__(self, blocks, groups, p: float):
        self.shape = np.broadcast_shapes(*(b.shape[:-2] for b in blocks))
        self.size = math.prod(self.shape)
        self.own = [
            np.broadcast_to(np.arange(math.prod(b.shape[:-2])).reshape(b.shape[:-2]),
                            self.shape).ravel()
            for b in blocks
        ]
        self.blocks = [np.asarray(b, np.float64).reshape(-1, *b.shape[-2:]) for b in blocks]
        self.p = p
        self.threads = min(_THREADS, self.size)
        self.workers = -1 if self.threads == 1 else 1  # scipy threads per query
        unbatched = [b.shape[:-2] == (1,) * (b.ndim - 2) for b in blocks]
        # subspaces counted on sorted axes (max-norm, at most two coordinates), their axes
        self.axes_of = {g: [(b, c) for b in g for c in range(blocks[b].shape[-1])]
                        for g in groups}
        self.axes_of = {g: a for g, a in self.axes_of.items() if p == np.inf and len(a) <= 2}
        self.shared_axes = {bc: SortedAxis(self.blocks[bc[0]][0][:, bc[1]])
                            for g, axes in self.axes_of.items() for bc in axes
                            if unbatched[bc[0]]}
        self.shared = {}
        for g in groups:
            if not all(unbatched[b] for b in g):
                continue
            data = self.data(g, 0)
            if g not in self.axes_of:
                self.shared[g] = _TreeCounter(data, p, self.workers)
            else:
                axes = [self.shared_axes[bc] for bc in self.axes_of[g]]
                self.shared[g] = SortedCounter(data, axes, queries=self.size)

    def data(self, group, s: int) -> np.ndarray:
        return np.concatenate([self.blocks[b][self.own[b][s]] for b in group], axis=1)

    def counter(self, group, s: int, axes: dict):
        """The counter of subspace ``group`` for batch element ``s``; ``axes`` holds the
        element's own sorted axes (built on first use)."""
        shared = self.shared.get(group)
        if shared is not None:
            return shared
        data = self.data(group, s)
        if group not in self.axes_of:
            return _TreeCounter(data, self.p, self.workers)
        mine = []
        for bc in self.axes_of[group]:
            if bc not in self.shared_axes and bc not in axes:
                axes[bc] = SortedAxis(self.blocks[bc[0]][self.own[bc[0]][s]][:, bc[1]])
            mine.append(self.shared_axes.get(bc) or axes[bc])
        return SortedCounter(data, mine)

    def map(self, fn) -> list:
        """``[fn(s) for s in range(size)]``, on host threads when there are several."""
        if self.threads == 1:
            return [fn(s) for s in range(self.size)]

        def run(s):
            with _default_float_env():  # the floating-point environment is per thread
                return fn(s)

        with ThreadPoolExecutor(self.threads) as pool:
            return list(pool.map(run, range(self.size)))

    def reshape(self, per_element: list[np.ndarray]) -> np.ndarray:
        out = np.stack(per_element)
        return out.reshape(*self.shape, *out.shape[1:])


def _tree_callback(*arrays, **options):
    with _default_float_env():
        return _tree_callback_impl(*arrays, **options)


def _tree_callback_impl(*arrays, k, groups, algorithm, norm, theiler):
    dtype = arrays[0].dtype
    p = np.inf if norm == "max" else 2.0
    batch = _Batch(arrays, groups, p)
    everything = tuple(range(len(arrays)))

    def one(s):
        dist, idx = _neighbors_np(batch.data(everything, s), k, theiler, p, batch.workers,
                                  with_indices=algorithm == 2)
        eps = dist[:, -1].astype(dtype)
        axes, memo = {}, {}  # this element's sorted axes; intervals for the common threshold
        thr = _threshold(eps, strict=True)
        rad, cnt = [], []
        for g in groups:
            counter = batch.counter(g, s, axes)
            if algorithm == 1:
                cnt.append(_strict_counts(counter, thr, theiler, memo))
            else:
                sub = counter.data
                rad.append(_np_distance(sub[idx], sub[:, None, :], p).max(axis=1).astype(dtype))
                cnt.append(_strict_counts(counter, _threshold(rad[-1], strict=False), theiler))
        n = dist.shape[0]
        counts = np.stack(cnt, 1) if cnt else np.zeros((n, 0), np.int32)
        return eps if algorithm == 1 else (np.stack(rad, 1) if rad else np.zeros((n, 0))), counts

    radii, counts = zip(*batch.map(one), strict=True)
    return batch.reshape(list(radii)).astype(dtype), batch.reshape(list(counts))


def _tree_neighbor_counts(blocks, k, groups, algorithm, norm, theiler):
    n, m = blocks[0].shape[0], len(groups)
    dtype = blocks[0].dtype
    rshape = (n,) if algorithm == 1 else (n, m)
    shapes = (jax.ShapeDtypeStruct(rshape, dtype), jax.ShapeDtypeStruct((n, m), jnp.int32))
    fn = partial(_tree_callback, k=k, groups=groups, algorithm=algorithm, norm=norm,
                 theiler=theiler)
    return jax.pure_callback(fn, shapes, *blocks, vmap_method="expand_dims")


def _tree_count_callback(*arrays, **options):
    with _default_float_env():
        return _tree_count_callback_impl(*arrays, **options)


def _tree_count_callback_impl(*arrays, strict, norm, theiler):
    *blocks, radius = arrays
    p = np.inf if norm == "max" else 2.0
    everything = tuple(range(len(blocks)))
    batch = _Batch([*blocks, radius[..., None]], [everything], p)

    def one(s):
        r = batch.blocks[-1][batch.own[-1][s]][:, 0].astype(radius.dtype)
        counter = batch.counter(everything, s, {})
        return _strict_counts(counter, _threshold(r, strict), theiler)

    return batch.reshape(batch.map(one))


def _tree_count(blocks, radius, strict, norm, theiler):
    fn = partial(_tree_count_callback, strict=strict, norm=norm, theiler=theiler)
    shape = jax.ShapeDtypeStruct(radius.shape, jnp.int32)
    return jax.pure_callback(fn, shape, *blocks, radius, vmap_method="expand_dims")
