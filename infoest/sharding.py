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

__all__ = ["BATCH", "SAMPLES", "device_mesh", "shard_batch", "shard_samples"]

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
