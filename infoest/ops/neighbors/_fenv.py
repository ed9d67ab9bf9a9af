"""The default floating-point environment for host code called from XLA.

XLA runs host callbacks with denormals flushed to zero (FTZ/DAZ). scipy's `cKDTree` was seen
to segfault in that mode on data with many duplicates (scipy 1.17), so the tree backend runs
its host work inside [default_float_env][infoest.ops.neighbors._fenv.default_float_env],
which sets glibc's default environment (`fesetenv(FE_DFL_ENV)`) and restores XLA's after.
The environment is per thread: every host worker thread enters it itself. Elsewhere than
Linux this is a no-op.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import sys

__all__ = ["default_float_env"]


def _load_libm():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
    except OSError:  # pragma: no cover
        return None


_LIBM = _load_libm()


@contextlib.contextmanager
def default_float_env():
    """Run the body with glibc's default floating-point environment, then restore the
    caller's (XLA's FTZ/DAZ inside a callback)."""
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
