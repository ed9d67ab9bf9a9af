"""Brute-force k-NN on one device: pure JAX, blocked over query rows, never n × n.

Queries are processed `rows` at a time (`lax.map`) against all n references: O(n² d) time,
O(rows · n) memory with rows ≈ 2¹⁷ / n. The k smallest distances of a row are found
without sorting: the row is cut into ~√(n/k)-wide strided chunks, the k chunks with the
smallest minima are gathered (they provably contain the k smallest values) and `lax.top_k`
runs on that small set. This is the GPU path and the fastest CPU path in more than a few
dimensions; its sample-sharded form is [infoest.ops.neighbors._ring][].
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial

import jax
import jax.numpy as jnp
from jax import Array, lax

#: elements of one (rows × n) distance block in the brute-force backend.
BLOCK_ELEMENTS = 1 << 17


def block_distance(q: Array, refT: Array, norm: str) -> Array:
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


class Layout:
    """Sizes of the brute-force blocking for n samples."""

    def __init__(self, n: int, k: int):
        self.n = n
        self.chunk = max(1, math.isqrt(max(1, n // max(k, 1))))  # strided chunk size C
        self.m = -(-n // self.chunk)  # chunks per row, >= k
        self.n_pad = self.m * self.chunk
        self.rows = min(n, max(4, BLOCK_ELEMENTS // self.n_pad))
        self.n_blocks = -(-n // self.rows)


def pad_rows(a: Array, total: int) -> Array:
    return jnp.pad(a, ((0, total - a.shape[0]), (0, 0)))


def _row_blocks(blocks, lay: Layout):
    """Query blocks (n_blocks, rows, d_b) and transposed references (d_b, n_pad).

    Padding columns hold +inf, so their distances are inf: never a neighbour, never counted.
    """
    queries = [
        pad_rows(b, lay.n_blocks * lay.rows).reshape(lay.n_blocks, lay.rows, b.shape[1])
        for b in blocks
    ]
    refs = [
        jnp.pad(b, ((0, lay.n_pad - lay.n), (0, 0)), constant_values=jnp.inf).T for b in blocks
    ]
    return queries, refs


def _window(start, lay: Layout, theiler: int) -> tuple[Array, Array]:
    """Columns |i − j| ≤ theiler of the block's rows i, shape (rows, 2 theiler + 1), and
    whether each is a real sample (out-of-range entries point past the end)."""
    rows = start + jnp.arange(lay.rows)
    cols = rows[:, None] + jnp.arange(-theiler, theiler + 1)[None, :]
    valid = (cols >= 0) & (cols < lay.n)
    return jnp.where(valid, cols, lay.n_pad), valid


def window_count(dist: Array, inside, cols: Array, valid: Array) -> Array:
    """How many window entries of each row satisfy ``inside`` (to subtract from a count)."""
    vals = jnp.take_along_axis(dist, jnp.minimum(cols, dist.shape[1] - 1), axis=1)
    return jnp.sum(valid & inside(vals), axis=1, dtype=jnp.int32)


def k_smallest(dist: Array, k: int, lay: Layout) -> tuple[Array, Array]:
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


def row_count(mask: Array, lay: Layout) -> Array:
    """Row sums of a boolean (rows, n_pad) mask as int32 (reduced over a major axis first)."""
    return mask.astype(jnp.int32).reshape(mask.shape[0], lay.m, lay.chunk).sum(
        1, dtype=jnp.int32).sum(1, dtype=jnp.int32)


def group_distance(dists: Sequence[Array], group: Sequence[int]) -> Array:
    out = dists[group[0]]
    for b in group[1:]:
        out = jnp.maximum(out, dists[b])
    return out


@partial(jax.jit, static_argnums=(1, 2, 3, 4, 5))
def brute_neighbor_counts(blocks, k, groups, algorithm, norm, theiler):
    n = blocks[0].shape[0]
    lay = Layout(n, k)
    queries, refs = _row_blocks(blocks, lay)
    here = jnp.arange(lay.rows)[:, None]

    def one(args):
        start, qs = args
        wcols, wvalid = _window(start, lay, theiler)
        dists = [block_distance(q, ref, norm) for q, ref in zip(qs, refs, strict=True)]
        joint = group_distance(dists, range(len(dists)))
        joint = joint.at[here, wcols].set(jnp.inf, mode="drop")
        values, cols = k_smallest(joint, k, lay)
        radii, counts = [], []
        for g in groups:
            dg = group_distance(dists, g)
            if algorithm == 1:
                eps = values[:, -1:]
                inside = lambda d, eps=eps: d < eps
            else:
                eps = jnp.take_along_axis(dg, cols, axis=1).max(axis=1, keepdims=True)
                radii.append(eps[:, 0])
                inside = lambda d, eps=eps: d <= eps
            counts.append(row_count(inside(dg), lay) - window_count(dg, inside, wcols, wvalid))
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
def brute_count(blocks, radius, strict, norm, theiler):
    n = blocks[0].shape[0]
    lay = Layout(n, 1)
    queries, refs = _row_blocks(blocks, lay)
    radii = pad_rows(radius[:, None], lay.n_blocks * lay.rows).reshape(lay.n_blocks, lay.rows)

    def one(args):
        start, qs, r = args
        wcols, wvalid = _window(start, lay, theiler)
        dists = [block_distance(q, ref, norm) for q, ref in zip(qs, refs, strict=True)]
        d = group_distance(dists, range(len(dists)))
        r = r[:, None]
        inside = (lambda v: v < r) if strict else (lambda v: v <= r)
        return row_count(inside(d), lay) - window_count(d, inside, wcols, wvalid)

    starts = jnp.arange(lay.n_blocks) * lay.rows
    return lax.map(one, (starts, queries, radii)).reshape(-1)[:n]

