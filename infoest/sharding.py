"""Put data on every device: a batch of datasets, or the samples of one large dataset.

infoest follows the sharding of its inputs: an array placed with a
`jax.sharding.NamedSharding` flows through the same estimator functions, each device
computes its share, and the result comes back sharded (no gather). These helpers cover the
common case, one mesh axis over all devices (of every process under `jax.distributed`):

- [shard_batch][infoest.sharding.shard_batch]: a stack of B datasets `(B, n, d)` split on
  its leading axis (mesh axis `"batch"`); run the estimator under `jax.vmap`.
- [shard_samples][infoest.sharding.shard_samples]: one dataset `(n, d)` split on its sample
  axis (mesh axis `"samples"`): Gaussian closed forms reduce per device then all-reduce;
  kNN (brute force) passes reference blocks round a ring of devices
  ([infoest.ops.neighbors][]).
- [device_mesh][infoest.sharding.device_mesh]: the one-axis mesh both use.
- [map_batch][infoest.sharding.map_batch]: an estimator over a sharded batch, every device
  running its datasets in groups (on CPU one at a time: see its note on LAPACK).

Run the estimate under `with jax.set_mesh(mesh):` so that code traced inside `jax.jit`
(where an array does not carry its sharding in JAX's default auto-sharding mode) sees the
mesh: the kNN backend rule then takes the device path and, for a `"samples"` axis, the ring.
With several processes each passes its own rows (`x` is the process-local part; the global
array is their concatenation in process order, `jax.make_array_from_process_local_data`).
See `docs/sharding.md` for what shards how.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from infoest.ops import placement

__all__ = ["BATCH", "SAMPLES", "device_mesh", "map_batch", "shard_batch", "shard_samples"]

#: mesh axis name for a batch of datasets.
BATCH = "batch"
#: mesh axis name for the sample axis of one dataset (read by the kNN backend rule).
SAMPLES = placement.SAMPLES


def device_mesh(axis: str = BATCH, devices=None) -> Mesh:
    """A one-axis mesh named `axis` over `devices` (default: all devices of all processes),
    with JAX's auto-sharding axis type, the one every infoest estimator supports."""
    devices = jax.devices() if devices is None else list(devices)
    return Mesh(np.asarray(devices), (axis,), axis_types=(AxisType.Auto,))


def _put(x, mesh: Mesh, axis: str):
    if axis not in mesh.axis_names:
        raise ValueError(f"`mesh` has no axis named {axis!r}; its axes: {mesh.axis_names}")
    sharding = NamedSharding(mesh, P(axis))
    if jax.process_count() > 1:  # x is this process's part of the global array
        return jax.make_array_from_process_local_data(sharding, np.asarray(x))
    size = mesh.shape[axis]
    if np.shape(x)[0] % size:
        raise ValueError(f"axis 0 of `x` ({np.shape(x)[0]}) must be divisible by the "
                         f"{size} devices of mesh axis {axis!r}")
    return jax.device_put(x, sharding)


def shard_batch(x, mesh: Mesh | None = None):
    """Split a stack of datasets `(B, ...)` over the devices along its leading axis.

    Args:
        x: array with the batch on axis 0 (B divisible by the number of devices); with
            several processes, this process's part of the batch.
        mesh: a mesh with an axis named `"batch"` (default: `device_mesh("batch")`).

    Returns:
        the array with sharding `NamedSharding(mesh, P("batch"))`.
    """
    return _put(x, device_mesh(BATCH) if mesh is None else mesh, BATCH)


def shard_samples(x, mesh: Mesh | None = None):
    """Split one dataset `(n, d)` over the devices along its sample axis.

    Args:
        x: samples on axis 0 (n divisible by the number of devices); with several
            processes, this process's rows.
        mesh: a mesh with an axis named `"samples"` (default:
            `device_mesh("samples")`).

    Returns:
        the array with sharding `NamedSharding(mesh, P("samples"))`.
    """
    return _put(x, device_mesh(SAMPLES) if mesh is None else mesh, SAMPLES)


def map_batch(fn, *batched, group: int | None = None):
    """`fn` applied to every dataset of a batch sharded on its leading axis; call it under
    `jax.jit` and `jax.set_mesh(mesh)` (a mesh with a `"batch"` axis of D devices).

    The batch `(B, ...)` is viewed as `(D, B/D, ...)`: `jax.vmap` over the D device rows
    (sharded, so each device keeps its own datasets) and, on each device, `jax.lax.map` over
    its B/D datasets in groups of `group` run side by side under `vmap`. The result is
    `(B, ...)`, sharded like the input.

    Why groups: on CPU, XLA runs each device's program on its intra-op thread pool (one
    thread per core), and jaxlib's LAPACK kernels (Cholesky, triangular solve, eigh: the
    Gaussian and spectral families) split a *batched* call over that same pool and wait
    for the pieces. With as many forced host devices as cores, every pool thread can be
    waiting for pieces that no free thread will run: a deadlock (seen with B = 256
    datasets on 2 forced devices on 2 cores). Groups of one make every LAPACK call
    unbatched. Default `group`: 1 on CPU, B/D (plain `vmap`) on accelerators.
    """
    mesh = jax.sharding.get_abstract_mesh()
    devices = mesh.shape[BATCH] if not mesh.empty and BATCH in mesh.axis_names else 1
    size = np.shape(batched[0])[0]
    if size % devices:
        raise ValueError(f"the batch ({size}) must be divisible by the {devices} devices")
    per = size // devices
    if group is None:
        group = 1 if placement.platform(batched) == "cpu" else per
    split = [jax.numpy.reshape(a, (devices, per) + a.shape[1:]) for a in batched]
    if devices > 1:
        split = [jax.lax.with_sharding_constraint(a, P(BATCH)) for a in split]

    def on_device(*parts):
        return jax.lax.map(lambda args: fn(*args), parts, batch_size=min(group, per))

    out = jax.vmap(on_device)(*split)
    return jax.tree_util.tree_map(lambda a: jax.numpy.reshape(a, (size,) + a.shape[2:]), out)
