"""Sample-sharded brute-force k-NN: query rows sharded, reference blocks passed round a ring.

With the n samples split over D devices along one mesh axis (n/D rows each, padded with
+inf rows when D does not divide n), each device keeps its rows as queries and passes a
copy of them round the ring with `jax.lax.ppermute` inside `jax.shard_map`: after D steps
every device has seen every reference block exactly once.

- Pass 1: the k smallest joint distances of each local query (self and Theiler window
  excluded by global index) are merged block by block into a running (n/D, k) list; its
  last column is ε_i. For KSG-2 the subspace distances of the k current neighbours travel
  with them, giving ε_g(i) = max over the k joint neighbours.
- Pass 2: the strict counts #{j : d_g(i, j) < ε_i} (or ≤ ε_g(i) for KSG-2) are summed over
  the blocks.

Every distance is the same rounded difference as on one device and counts are integers, so
radii and counts equal the single-device brute force exactly (with KSG-2, neighbours tied at
the k-th distance may be chosen differently, as between the two single-device backends).
Work per device: 2 n²/D distance evaluations per coordinate (two passes against the one of a
single device), memory O(n/D · rows) per device with rows·(n/D) ≈ 2¹⁷ per block, never
n × n; communication 2 (D − 1) messages of n/D × d values per device.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax import Array, lax
from jax.sharding import PartitionSpec as P

from infoest.ops.neighbors._brute import (
    Layout,
    block_distance,
    group_distance,
    k_smallest,
    pad_rows,
    row_count,
    window_count,
)

__all__ = ["ring_neighbor_counts"]


class _Ring:
    """Static sizes of one device's share: n real samples, D devices, n_loc rows each."""

    def __init__(self, n: int, devices: int, k: int, axis):
        self.n, self.devices, self.axis = n, devices, axis
        self.n_loc = -(-n // devices)
        self.lay = Layout(self.n_loc, k)  # blocking of one (rows × n_loc) reference block
        self.rows, self.n_q = self.lay.rows, self.lay.n_blocks

    def varying(self, a):
        """Mark a per-device carry (initialised equal on all devices) as device-varying."""
        axes = self.axis if isinstance(self.axis, tuple) else (self.axis,)
        return lax.pcast(a, axes, to="varying")

    def perm(self):
        return [(i, (i + 1) % self.devices) for i in range(self.devices)]

    def ref_start(self, step):
        """Global index of row 0 of the reference block held at ring step ``step``."""
        me = lax.axis_index(self.axis)
        return ((me - step) % self.devices) * self.n_loc


def _queries(blocks, ring: _Ring):
    """Local query rows in chunks: (n_q, rows, d_b) per block."""
    total = ring.n_q * ring.rows
    return [pad_rows(b, total).reshape(ring.n_q, ring.rows, b.shape[1]) for b in blocks]


def _refs(blocks, ring: _Ring):
    """Transposed reference block (d_b, n_pad), +inf in the padding columns."""
    pad = ring.lay.n_pad - ring.n_loc
    return [jnp.pad(b, ((0, pad), (0, 0)), constant_values=jnp.inf).T for b in blocks]


def _window_cols(q0, r0, ring: _Ring, theiler: int) -> tuple[Array, Array]:
    """Columns of the held reference block with |i − j| ≤ theiler for the global query rows
    q0 + r, shape (rows, 2 theiler + 1), and whether each lies in the block (others point
    past its end, where a scatter drops them)."""
    i = q0 + jnp.arange(ring.rows)[:, None]
    cols = i + jnp.arange(-theiler, theiler + 1)[None, :] - r0
    valid = (cols >= 0) & (cols < ring.n_loc)
    return jnp.where(valid, cols, ring.lay.n_pad), valid


def _merge(best, best_g, values, cols, dg_list, k):
    """Keep the k smallest of the running list and a block's candidates (with their
    subspace distances for KSG-2)."""
    cand = jnp.concatenate([best, values], axis=1)
    neg, pos = lax.top_k(-cand, k)
    if best_g is None:
        return -neg, None
    new_g = jnp.stack([jnp.take_along_axis(dg, cols, axis=1) for dg in dg_list], axis=2)
    cand_g = jnp.concatenate([best_g, new_g], axis=1)
    return -neg, jnp.take_along_axis(cand_g, pos[:, :, None], axis=1)


def _knn_pass(queries, blocks, k, groups, algorithm, norm, theiler, ring: _Ring):
    """Pass 1: running k smallest joint distances per local query over the ring."""
    dtype = blocks[0].dtype
    q_base = lax.axis_index(ring.axis) * ring.n_loc
    starts = jnp.arange(ring.n_q) * ring.rows
    here = jnp.arange(ring.rows)[:, None]
    n_g = len(groups) if algorithm == 2 else 0
    best = ring.varying(jnp.full((ring.n_q, ring.rows, k), jnp.inf, dtype))
    best_g = ring.varying(jnp.full((ring.n_q, ring.rows, k, n_g), jnp.inf, dtype))

    def step(carry, s):
        refs, best, best_g = carry
        refT, r0 = _refs(refs, ring), ring.ref_start(s)

        def chunk(args):
            start, qs, b, bg = args
            dists = [block_distance(q, r, norm) for q, r in zip(qs, refT, strict=True)]
            joint = group_distance(dists, range(len(dists)))
            cols, _ = _window_cols(q_base + start, r0, ring, theiler)
            joint = joint.at[here, cols].set(jnp.inf, mode="drop")
            values, cols = k_smallest(joint, k, ring.lay)
            dg = [group_distance(dists, g) for g in groups] if n_g else []
            b, bg_new = _merge(b, bg if n_g else None, values, cols, dg, k)
            return b, (bg_new if n_g else bg)

        best, best_g = lax.map(chunk, (starts, queries, best, best_g))
        refs = [lax.ppermute(r, ring.axis, ring.perm()) for r in refs]
        return (refs, best, best_g), None

    (_, best, best_g), _ = lax.scan(step, (list(blocks), best, best_g),
                                    jnp.arange(ring.devices))
    return best, best_g


def _count_pass(queries, blocks, radii, groups, strict, norm, theiler, ring: _Ring):
    """Pass 2: per-subspace counts of refs inside each local query's radius, over the ring.

    ``radii``: (n_q, rows, G) thresholds; ``strict``: ``<`` (KSG-1) or ``≤`` (KSG-2).
    """
    q_base = lax.axis_index(ring.axis) * ring.n_loc
    starts = jnp.arange(ring.n_q) * ring.rows
    counts = ring.varying(jnp.zeros((ring.n_q, ring.rows, len(groups)), jnp.int32))

    def step(carry, s):
        refs, counts = carry
        refT, r0 = _refs(refs, ring), ring.ref_start(s)

        def chunk(args):
            start, qs, rad, c = args
            dists = [block_distance(q, r, norm) for q, r in zip(qs, refT, strict=True)]
            cols, valid = _window_cols(q_base + start, r0, ring, theiler)
            new = []
            for gi, g in enumerate(groups):
                dg = group_distance(dists, g)
                r = rad[:, gi:gi + 1]
                inside = (lambda v, r=r: v < r) if strict else (lambda v, r=r: v <= r)
                new.append(row_count(inside(dg), ring.lay)
                           - window_count(dg, inside, cols, valid))
            return c + jnp.stack(new, axis=1)

        counts = lax.map(chunk, (starts, queries, radii, counts))
        refs = [lax.ppermute(r, ring.axis, ring.perm()) for r in refs]
        return (refs, counts), None

    (_, counts), _ = lax.scan(step, (list(blocks), counts), jnp.arange(ring.devices))
    return counts


def _local(*blocks, k, groups, algorithm, norm, theiler, ring: _Ring):
    """One device's share: its n_loc query rows against every reference block."""
    queries = _queries(blocks, ring)
    best, best_g = _knn_pass(queries, blocks, k, groups, algorithm, norm, theiler, ring)
    if algorithm == 1:
        radius = best[..., -1]  # (n_q, rows)
        radii = jnp.repeat(radius[..., None], max(len(groups), 1), axis=2)
    else:
        radii = best_g.max(axis=2)  # (n_q, rows, G)
        radius = radii
    counts = (_count_pass(queries, blocks, radii, groups, algorithm == 1, norm, theiler, ring)
              if groups else jnp.zeros((ring.n_q, ring.rows, 0), jnp.int32))
    flat = ring.n_q * ring.rows
    radius = radius.reshape(flat, *radius.shape[2:])[: ring.n_loc]
    return radius, counts.reshape(flat, -1)[: ring.n_loc]


@partial(jax.jit, static_argnums=(1, 2, 3, 4, 5, 6, 7))
def ring_neighbor_counts(blocks, k, groups, algorithm, norm, theiler, mesh, axis):
    """[infoest.ops.neighbors.neighbor_counts][] with the samples sharded over mesh axis
    ``axis`` (a name or a tuple of names): same radii and counts, work split over devices."""
    n = blocks[0].shape[0]
    axes = axis if isinstance(axis, tuple) else (axis,)
    devices = 1
    for a in axes:
        devices *= mesh.shape[a]
    ring = _Ring(n, devices, k, axis)
    total = ring.n_loc * devices
    padded = [jnp.pad(b, ((0, total - n), (0, 0)), constant_values=jnp.inf) for b in blocks]
    fn = jax.shard_map(
        partial(_local, k=k, groups=groups, algorithm=algorithm, norm=norm, theiler=theiler,
                ring=ring),
        mesh=mesh, in_specs=tuple(P(axis) for _ in padded), out_specs=(P(axis), P(axis)),
    )
    radius, counts = fn(*padded)
    return radius[:n], counts[:n]
