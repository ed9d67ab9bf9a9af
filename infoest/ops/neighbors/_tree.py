"""Host tree backend: scipy/scikit-learn trees and sorted coordinates through callbacks.

The joint k-NN search uses scipy's `cKDTree.query` (`workers=-1`: all cores); counts in
max-norm subspaces of one or two coordinates come exactly from sorted coordinates
([infoest.ops._sorted_counts][]: O(n log n) in 1-D, O(n^{4/3}) in 2-D, however many
points the balls hold); counts in larger subspaces from scikit-learn's `KDTree.query_radius(
count_only=True)` when scikit-learn is installed (it adds whole tree nodes lying inside a
ball without visiting their points: about 2x faster than `cKDTree.query_ball_point` at
5 dimensions, n = 10⁵), else `cKDTree.query_ball_point(return_length=True)`; both are
split over host threads. Max-norm, or a single Euclidean block.

Distances are exact float64 differences; radii of float32 inputs are mapped to the float64
thresholds that reproduce float32 rounding ([infoest.ops.neighbors._tree.threshold][]), so
counts equal the brute force's. A vmapped call (`vmap_method="expand_dims"`) loops over the
batch on host threads and builds the sorted axes, tables and trees of unbatched blocks once.

A host callback sees one array on one host: on sharded input XLA would gather it first,
which is why the backend rule ([infoest.ops.neighbors.choose_backend][]) never picks the
tree for sharded data.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from infoest.ops._sorted_counts import SortedAxis, SortedCounter
from infoest.ops.neighbors._fenv import default_float_env

#: host threads for a batch of callback elements, or for the queries of one element.
_THREADS = os.cpu_count() or 1

# Tree order. Every query runs in the leaf order of the tree it searches (`cKDTree.indices`,
# scikit-learn's `get_arrays()[1]`), so consecutive queries visit the same nodes while they are
# in cache. The results are identical; the CPU time of the 5-D marginal counts of a KSG 5+5
# (k = 3, n = 2·10⁵) drops from 52.6 to 17.9 CPU seconds (docs/sharding.md).


def threshold(radius: np.ndarray, strict: bool) -> np.ndarray:
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


def _sklearn_tree(data: np.ndarray, p: float):
    """scikit-learn's KDTree for max-norm data (None without scikit-learn or for p = 2)."""
    if p != np.inf:
        return None
    try:
        from sklearn.neighbors import KDTree
    except ImportError:  # pragma: no cover - optional dependency
        return None
    return KDTree(data, metric="chebyshev")


class _TreeCounter:
    """Closed-ball counts (self included) in one subspace with a tree.

    scikit-learn's `KDTree.query_radius(count_only=True)` where available (max-norm), else
    scipy's `cKDTree.query_ball_point(return_length=True)`; queries split over `workers`
    host threads (-1: all cores).
    """

    def __init__(self, data: np.ndarray, p: float, workers: int):
        from scipy.spatial import cKDTree

        self.data, self.p, self.workers = data, p, workers
        self.sk = _sklearn_tree(data, p)
        self.tree = cKDTree(data) if self.sk is None else None

    def _count(self, points: np.ndarray, radii: np.ndarray) -> np.ndarray:
        if self.sk is not None:
            return self.sk.query_radius(points, radii, count_only=True)
        return self.tree.query_ball_point(points, radii, p=self.p, return_length=True)

    def order(self) -> np.ndarray:
        """The data indices in the tree's leaf order (neighbouring points together)."""
        return self.sk.get_arrays()[1] if self.sk is not None else self.tree.indices

    def count(self, thr: np.ndarray, memo=None) -> np.ndarray:
        order = self.order()
        ok = order[thr[order] >= 0]  # queries in tree order ("Tree order" above)
        counts = np.zeros(self.data.shape[0], np.int64)
        threads = _THREADS if self.workers == -1 else max(1, self.workers)
        if ok.size:
            parts = np.array_split(ok, min(threads * 4, ok.size))
            run = lambda idx: self._count(self.data[idx], thr[idx])
            if threads == 1:
                results = [run(idx) for idx in parts]
            else:
                with ThreadPoolExecutor(threads) as pool:
                    results = list(pool.map(_in_default_env(run), parts))
            counts[ok] = np.concatenate(results)
        return counts


def _in_default_env(fn):
    def run(*args):
        with default_float_env():  # the floating-point environment is per thread
            return fn(*args)

    return run


def _strict_counts(counter, thr: np.ndarray, theiler: int, memo=None) -> np.ndarray:
    """Ball counts without the points of the Theiler window (self included in the window)."""
    counts = counter.count(thr, memo)
    counts -= np.where(thr >= 0, _window_inside(counter.data, thr, theiler, counter.p), 0)
    return counts.astype(np.int32)


def _neighbors_np(joint: np.ndarray, k: int, theiler: int, p: float, workers: int,
                  with_indices: bool = True):
    """k nearest non-window neighbours: (n, k) float64 distances and indices (without
    indices, possibly only the k-th distance as an (n, 1) array and `None`)."""
    from scipy.spatial import cKDTree

    n = joint.shape[0]
    want = min(n, k + 2 * theiler + 1)
    tree = cKDTree(joint)
    order = tree.indices  # queries in tree order ("Tree order" above), results put back
    if theiler == 0 and not with_indices:
        # the (k+1)-th smallest distance counting i itself (distance 0, the minimum) is the
        # k-th without it, whichever of several zero-distance points the tree lists first
        dist = np.empty((n, 1))
        dist[order] = tree.query(joint[order], k=[k + 1], p=p, workers=workers)[0].reshape(n, 1)
        return dist, None
    dist, idx = np.empty((n, want)), np.empty((n, want), np.int64)
    found = tree.query(joint[order], k=want, p=p, workers=workers)
    dist[order], idx[order] = (a.reshape(n, want) for a in found)
    keep = np.abs(idx - np.arange(n)[:, None]) > theiler
    order = np.argsort(~keep, axis=1, kind="stable")[:, :k]  # first k kept, in distance order
    return np.take_along_axis(dist, order, 1), np.take_along_axis(idx, order, 1)


class _Batch:
    """The inputs of a (possibly vmapped) host callback, and subspaces shared across the batch.

    The callbacks use `vmap_method="expand_dims"`: an input that is not batched arrives with
    size-1 batch axes. A subspace made only of unbatched blocks (e.g. the target history of a
    transfer entropy under a vmap over source surrogates) is therefore built once, before the
    loop, and reused by every batch element. The elements are independent and run on
    `_THREADS` host threads (scipy and numpy release the GIL); a single element instead lets
    scipy's queries use every core (`workers=-1`).
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
        """The counter of subspace `group` for batch element `s`; `axes` holds the
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
        """`[fn(s) for s in range(size)]`, on host threads when there are several."""
        if self.threads == 1:
            return [fn(s) for s in range(self.size)]

        with ThreadPoolExecutor(self.threads) as pool:
            return list(pool.map(_in_default_env(fn), range(self.size)))

    def reshape(self, per_element: list[np.ndarray]) -> np.ndarray:
        out = np.stack(per_element)
        return out.reshape(*self.shape, *out.shape[1:])


def _tree_callback(*arrays, **options):
    with default_float_env():
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
        thr = threshold(eps, strict=True)
        rad, cnt = [], []
        for g in groups:
            counter = batch.counter(g, s, axes)
            if algorithm == 1:
                cnt.append(_strict_counts(counter, thr, theiler, memo))
            else:
                sub = counter.data
                rad.append(_np_distance(sub[idx], sub[:, None, :], p).max(axis=1).astype(dtype))
                cnt.append(_strict_counts(counter, threshold(rad[-1], strict=False), theiler))
        n = dist.shape[0]
        counts = np.stack(cnt, 1) if cnt else np.zeros((n, 0), np.int32)
        return eps if algorithm == 1 else (np.stack(rad, 1) if rad else np.zeros((n, 0))), counts

    radii, counts = zip(*batch.map(one), strict=True)
    return batch.reshape(list(radii)).astype(dtype), batch.reshape(list(counts))


def tree_neighbor_counts(blocks, k, groups, algorithm, norm, theiler):
    n, m = blocks[0].shape[0], len(groups)
    dtype = blocks[0].dtype
    rshape = (n,) if algorithm == 1 else (n, m)
    shapes = (jax.ShapeDtypeStruct(rshape, dtype), jax.ShapeDtypeStruct((n, m), jnp.int32))
    fn = partial(_tree_callback, k=k, groups=groups, algorithm=algorithm, norm=norm,
                 theiler=theiler)
    return jax.pure_callback(fn, shapes, *blocks, vmap_method="expand_dims")


def _tree_count_callback(*arrays, **options):
    with default_float_env():
        return _tree_count_callback_impl(*arrays, **options)


def _tree_count_callback_impl(*arrays, strict, norm, theiler):
    *blocks, radius = arrays
    p = np.inf if norm == "max" else 2.0
    everything = tuple(range(len(blocks)))
    batch = _Batch([*blocks, radius[..., None]], [everything], p)

    def one(s):
        r = batch.blocks[-1][batch.own[-1][s]][:, 0].astype(radius.dtype)
        counter = batch.counter(everything, s, {})
        return _strict_counts(counter, threshold(r, strict), theiler)

    return batch.reshape(batch.map(one))


def tree_count(blocks, radius, strict, norm, theiler):
    fn = partial(_tree_count_callback, strict=strict, norm=norm, theiler=theiler)
    shape = jax.ShapeDtypeStruct(radius.shape, jnp.int32)
    return jax.pure_callback(fn, shape, *blocks, radius, vmap_method="expand_dims")
