"""Symmetric eigensolvers on the host (LAPACK through ``jax.pure_callback``) and the rule
that chooses between them and XLA's own ``eigh``.

Why a host path: on CPU, XLA's ``eigh``/``eigvalsh`` are 1.5-10x (dense, m in the hundreds
to thousands) and one to two orders of magnitude (the few-hundred-sized problems of the
Lanczos solvers) slower than LAPACK. A host callback, though, cannot see a sharded array
without gathering it and is a host round trip on accelerators, so it is used only where it
pays (`eig_backend`).

Failure policy: a LAPACK failure (non-convergence) or a non-finite matrix never raises
inside the callback (an exception there surfaces as an opaque ``INTERNAL: CpuCallback
error``); the eigenvalues (and vectors) of that matrix come back as NaN, and the caller
turns NaN into `Status.NOT_CONVERGED` on its `Estimate`.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from infoest.ops import placement

__all__ = ["BACKENDS", "eig_backend", "host_eigh", "host_eigvalsh", "eigvalsh"]

#: ``backend=`` values accepted by the eigensolvers of `infoest.ops.spectral`.
BACKENDS = ("auto", "host", "xla")

_BLAS = None
_POOL = None
SMALL = 64  # matrices up to this size are solved as one batch (`_solve_batched`)


def eig_backend(a, backend: str = "auto") -> str:
    """``"host"`` or ``"xla"``: which eigensolver serves ``a`` (the one documented rule).

    ``backend="host"``/``"xla"`` are taken as given. ``"auto"`` chooses ``"host"`` (LAPACK
    by callback) only when the data stay on one CPU:

    - a concrete array: every device holding it is a CPU and it lives on one device (a
      sharded array, or one on an accelerator, uses XLA);
    - a traced array (inside ``jit``, placement unknown at trace time): its abstract
      sharding names no mesh axis (no explicit sharding, no ``shard_map`` axis) and the
      default backend (`jax.default_backend()`, i.e. where ``jit`` places unannotated
      work) is ``"cpu"``.
    """
    if backend not in BACKENDS:
        valid = ", ".join(repr(b) for b in BACKENDS)
        raise ValueError(f"unknown `backend`={backend!r}; valid: {valid}")
    if backend != "auto":
        return backend
    if isinstance(a, jax.Array) and not isinstance(a, jax.core.Tracer):
        devices = a.sharding.device_set
        on_cpu = all(d.platform == "cpu" for d in devices)
        return "host" if on_cpu and len(devices) == 1 else "xla"
    sharding = getattr(jax.typeof(a), "sharding", None)
    spec = getattr(sharding, "spec", None)
    named = spec is not None and any(axis is not None for axis in spec)
    vma = getattr(jax.typeof(a), "vma", None)
    if named or vma or placement.on_many_devices(()):  # the last: a `jax.set_mesh` mesh
        return "xla"
    return "host" if jax.default_backend() == "cpu" else "xla"


def _one_blas_thread():
    """Limit the host BLAS/LAPACK to one thread (if ``threadpoolctl`` is installed).

    The host problems here are small (≲ 10³): a multi-threaded LAPACK gains little on them
    and, on a loaded machine, its spin-waiting threads slow a 256 × 256 ``eigh`` down by
    10-50x (measured on 2 shared cores).
    """
    global _BLAS
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - optional
        return contextlib.nullcontext()
    if _BLAS is None:
        _BLAS = ThreadpoolController()
    return _BLAS.limit(limits=1, user_api="blas")


def _safe_solve(a: np.ndarray, vectors: bool):
    """LAPACK ``eigh``/``eigvalsh`` of one float64 matrix; NaN instead of an exception."""
    solve = np.linalg.eigh if vectors else np.linalg.eigvalsh
    if np.all(np.isfinite(a)):
        try:
            return solve(a)
        except np.linalg.LinAlgError:
            pass
    w = np.full(a.shape[-1], np.nan)
    return (w, np.full(a.shape, np.nan)) if vectors else w


def _solve_batched(flat: np.ndarray, vectors: bool):
    """A stack of small matrices in one batched numpy call (its C loop instead of one
    Python call per matrix: 960 matrices of 20 × 20, the per-class blocks of a DSMI
    evaluation, 12 ms instead of 45 ms CPU); ``None`` when any matrix needs the per-matrix
    NaN fallback."""
    if not np.all(np.isfinite(flat)):
        return None
    try:
        out = np.linalg.eigh(flat) if vectors else np.linalg.eigvalsh(flat)
    except np.linalg.LinAlgError:
        return None
    return list(zip(*out, strict=True)) if vectors else list(out)


def _solve_stack(flat: np.ndarray, vectors: bool) -> list:
    """Solve a stack: small matrices (≤ 64) in one batched call, larger ones in a thread
    pool (one LAPACK thread per matrix, one worker per core); one matrix larger than 1024
    keeps LAPACK's own threads."""
    global _POOL
    solve = partial(_safe_solve, vectors=vectors)
    if len(flat) == 1 and flat.shape[-1] > 1024:
        return [solve(flat[0])]
    with _one_blas_thread():
        if len(flat) > 1 and flat.shape[-1] <= SMALL:
            out = _solve_batched(flat, vectors)
            if out is not None:
                return out
        if len(flat) == 1:
            return [solve(flat[0])]
        if _POOL is None:
            _POOL = concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1)
        return list(_POOL.map(solve, flat))


def _np_eig(bits, *, vectors: bool, dtype):
    """Host side of `_host_eig`: arrays cross the boundary as raw ``uint32`` words."""
    a = np.ascontiguousarray(bits).view(dtype)[..., 0]  # (..., m, m, words) -> (..., m, m)
    out = _solve_stack(a.astype(np.float64).reshape(-1, *a.shape[-2:]), vectors)

    def words(x):
        return np.ascontiguousarray(x.astype(dtype)).view(np.uint32).reshape(*x.shape, -1)

    w = np.stack([o[0] if vectors else o for o in out]).reshape(a.shape[:-1])
    if vectors:
        return words(w), words(np.stack([o[1] for o in out]).reshape(a.shape))
    return words(w)


def _host_eig(a: Array, vectors: bool):
    """Host LAPACK call. Values travel as ``uint32`` words (``bitcast_convert_type``):
    the callback runs outside any ``jax.enable_x64`` context, where float64 arguments may
    arrive silently converted to float32."""
    dtype = np.dtype(a.dtype)
    words = dtype.itemsize // 4

    def spec(shape):
        return jax.ShapeDtypeStruct((*shape, words), jnp.uint32)

    bits = jax.lax.bitcast_convert_type(a, jnp.uint32)
    bits = bits[..., None] if words == 1 else bits
    shape = (spec(a.shape[:-1]), spec(a.shape)) if vectors else spec(a.shape[:-1])
    fn = partial(_np_eig, vectors=vectors, dtype=dtype)
    out = jax.pure_callback(fn, shape, bits, vmap_method="expand_dims")

    def back(x):
        return jax.lax.bitcast_convert_type(x[..., 0] if words == 1 else x, a.dtype)

    return tuple(back(x) for x in out) if vectors else back(out)


def host_eigh(a: Array) -> tuple[Array, Array]:
    """Eigenvalues (ascending) and eigenvectors of symmetric ``a: (..., m, m)`` by host
    LAPACK, float64 inside, returned in ``a.dtype``; NaN for a matrix LAPACK cannot solve.

    ``jit``/``vmap`` ready (a ``vmap`` batch reaches LAPACK as one stack); not
    differentiable (the Lanczos solvers that use it are not meant for gradients).
    """
    return _host_eig(a, True)


@jax.custom_jvp
def host_eigvalsh(a: Array) -> Array:
    """Eigenvalues (ascending) of symmetric ``a: (..., m, m)`` by host LAPACK, differentiable.

    The JVP is the eigenvalue perturbation formula dλ_i = v_iᵀ dA v_i, with the eigenvectors
    from a second host call (first derivatives only; finite also for degenerate spectra).
    Computed in float64, returned in ``a.dtype``; NaN where LAPACK fails.
    """
    return _host_eig(a, False)


@host_eigvalsh.defjvp
def _host_eigvalsh_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    w, v = _host_eig(a, True)
    return w, jnp.einsum("...ji,...jk,...ki->...i", v, da, v)


def eigvalsh(a: Array, backend: str = "auto") -> Array:
    """Eigenvalues (ascending) of symmetric ``a`` by the solver `eig_backend` picks."""
    if eig_backend(a, backend) == "host":
        return host_eigvalsh(a)
    return jnp.linalg.eigvalsh(a)


def eigh(a: Array, backend: str = "auto") -> tuple[Array, Array]:
    """Eigenvalues and vectors of symmetric ``a`` by the solver `eig_backend` picks."""
    if eig_backend(a, backend) == "host":
        return host_eigh(a)
    return jnp.linalg.eigh(a)
