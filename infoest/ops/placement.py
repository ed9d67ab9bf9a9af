"""Where data live: the facts a backend rule needs about shardings, devices and platform.

Host code (a `jax.pure_callback` into scipy or LAPACK) sees one whole array on one host: on
data sharded over several devices XLA would gather it to one device first ("involuntary full
rematerialization"). Backend rules in `ops` read these functions and take the device path
there instead. They look, in order, at a concrete `jax.Array`'s `.sharding`, at the type of
a traced array (explicit-sharding mode), and at the ambient mesh (`jax.set_mesh`,
`jax.shard_map`), since inside `jax.jit` in JAX's default auto-sharding mode a traced array
does not carry its sharding.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
from jax.sharding import NamedSharding

__all__ = ["SAMPLES", "sample_sharding", "on_many_devices", "platform", "minibatch_spec"]

#: the mesh axis name that marks the sample axis as sharded (also infoest.sharding.SAMPLES).
SAMPLES = "samples"


def _axis_size(mesh, axis) -> int:
    names = axis if isinstance(axis, tuple) else (axis,)
    size = 1
    for a in names:
        size *= mesh.shape[a]
    return size


def _array_sharding(a):
    """The NamedSharding of a concrete array, or of a traced one in explicit mode."""
    if isinstance(a, jax.Array) and not isinstance(a, jax.core.Tracer):
        return a.sharding
    try:
        return jax.typeof(a).sharding
    except Exception:  # pragma: no cover - abstract values without a sharding
        return None


def sample_sharding(arrays: Sequence) -> tuple[object, object] | None:
    """(mesh, axis) when axis 0 of the data is sharded over more than one device, else None.

    Reads the inputs' own shardings first, then the ambient mesh's `"samples"` axis.
    """
    for a in arrays:
        sh = _array_sharding(a)
        if isinstance(sh, NamedSharding) and len(sh.spec) and sh.spec[0] is not None:
            if _axis_size(sh.mesh, sh.spec[0]) > 1:
                return sh.mesh, sh.spec[0]
    mesh = jax.sharding.get_abstract_mesh()
    if not mesh.empty and SAMPLES in mesh.axis_names and mesh.shape[SAMPLES] > 1:
        return mesh, SAMPLES
    return None


def on_many_devices(arrays: Sequence) -> bool:
    """Whether the data live on (or the ambient mesh spans) more than one device."""
    for a in arrays:
        if isinstance(a, jax.Array) and not isinstance(a, jax.core.Tracer):
            if len(a.sharding.device_set) > 1:
                return True
    mesh = jax.sharding.get_abstract_mesh()
    return not mesh.empty and mesh.size > 1


def platform(arrays: Sequence) -> str:
    """The platform ("cpu", "gpu", "tpu") of the data: a concrete input's device, else the
    ambient mesh's, else `jax.default_backend()`."""
    for a in arrays:
        if isinstance(a, jax.Array) and not isinstance(a, jax.core.Tracer):
            return next(iter(a.devices())).platform
    mesh = jax.sharding.get_abstract_mesh()
    if not mesh.empty and mesh.abstract_device is not None:
        return mesh.abstract_device.platform
    return jax.default_backend()


def minibatch_spec(rows: int):
    """`PartitionSpec("samples")` when the ambient mesh (`jax.set_mesh`) has a `"samples"`
    axis of size > 1 that divides `rows`, else None: the training driver constrains each
    minibatch to it, so every device computes the loss of its rows and XLA all-reduces the
    gradient inside the compiled loop (data-parallel training of a sample-sharded dataset)."""
    mesh = jax.sharding.get_abstract_mesh()
    if mesh.empty or SAMPLES not in mesh.axis_names:
        return None
    size = mesh.shape[SAMPLES]
    return jax.sharding.PartitionSpec(SAMPLES) if size > 1 and rows % size == 0 else None
