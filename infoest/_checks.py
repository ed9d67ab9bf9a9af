"""Input validation shared by every entry point.

Shape, rank and dtype checks run at trace time (they raise under ``jax.jit`` too); value
checks (NaN/inf) run only on concrete arrays, before any work is dispatched.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from infoest.ops import neighbors


def is_concrete(x) -> bool:
    """True when ``x`` holds actual values (not a tracer inside jit/vmap/grad)."""
    return not isinstance(x, jax.core.Tracer)


def as_samples(x, name: str, *, min_samples: int = 2) -> Array:
    """Validate a sample matrix and return it as a float array of shape ``(n, d)``.

    A 1-D array of length n is one variable, shape ``(n, 1)``. Raises ``ValueError`` for
    rank > 2, too few samples or non-finite values (concrete inputs only) and ``TypeError``
    for integer, boolean or complex data.
    """
    if not isinstance(x, jax.Array | np.ndarray):
        try:
            x = np.asarray(x)
        except Exception as err:  # pragma: no cover - exotic inputs
            raise TypeError(f"`{name}` must be an array, got {type(x).__name__}") from err
    dtype = np.dtype(x.dtype)
    if dtype == np.bool_ or np.issubdtype(dtype, np.integer):
        raise TypeError(
            f"`{name}` has dtype {dtype}: continuous (floating-point) data is required here; "
            f"for discrete data (class labels, symbols) pass `discrete=\"{name}\"` to "
            f"mutual_information / conditional_mutual_information (or `discrete=\"both\"` "
            f"when every variable is discrete), or cast with `{name}.astype(float)` if the "
            f"values really are continuous"
        )
    if np.issubdtype(dtype, np.complexfloating):
        raise TypeError(f"`{name}` has complex dtype {dtype}; real floating-point data required")
    if not np.issubdtype(dtype, np.floating):
        raise TypeError(f"`{name}` has dtype {dtype}; real floating-point data required")
    if x.ndim == 1:
        x = x[:, None]
    elif x.ndim != 2:
        raise ValueError(
            f"`{name}` must have shape (n_samples,) or (n_samples, n_features), got shape "
            f"{tuple(x.shape)}; use jax.vmap for batches"
        )
    if x.shape[0] < min_samples:
        raise ValueError(f"`{name}` has {x.shape[0]} samples, at least {min_samples} are needed")
    if x.shape[1] < 1:
        raise ValueError(f"`{name}` has no features (shape {tuple(x.shape)})")
    if is_concrete(x) and not bool(np.all(np.isfinite(np.asarray(x)))):
        raise ValueError(f"`{name}` contains NaN or inf values")
    return jnp.asarray(x)


def same_n(**arrays: Array) -> int:
    """Check that all sample matrices share the number of samples on axis 0; return it."""
    sizes = {name: a.shape[0] for name, a in arrays.items()}
    if len(set(sizes.values())) > 1:
        listed = ", ".join(f"`{k}` has {v}" for k, v in sizes.items())
        raise ValueError(f"mismatched sample counts on axis 0: {listed}")
    return next(iter(sizes.values()))


def check_k(k, n: int, *, name: str = "k") -> int:
    """Check a neighbour count: a Python int with 1 <= k <= n - 1."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        raise TypeError(f"`{name}` must be a Python int (it sets shapes), got {type(k).__name__}")
    if k < 1:
        raise ValueError(f"`{name}` must be >= 1, got {k}")
    if n < k + 1:
        raise ValueError(f"too few samples for `{name}`={k}: got n={n}, need at least {k + 1}")
    return int(k)


def check_positive_int(value, name: str, *, minimum: int = 1) -> int:
    """Check a shape-setting integer hyperparameter (static)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"`{name}` must be a Python int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}, got {value}")
    return int(value)


def check_choice(value, name: str, choices: Sequence[str]) -> str:
    """Check a string option against its valid values."""
    if value not in choices:
        valid = ", ".join(map(repr, choices))
        raise ValueError(f"unknown `{name}`={value!r}; valid values: {valid}")
    return value


def paired_samples(*arrays_and_names, min_samples: int = 2) -> tuple[Array, ...]:
    """Validate several sample matrices given as (array, name) pairs sharing axis 0.

    Arrays are promoted to one common floating dtype.
    """
    checked = {name: as_samples(a, name, min_samples=min_samples) for a, name in arrays_and_names}
    same_n(**checked)
    dtype = jnp.result_type(*checked.values())
    return tuple(a.astype(dtype) for a in checked.values())


def resolve_config(cls, config, options: dict):
    """``config`` (default ``cls()``) with the keyword ``options`` replaced: how a trained
    family's public function takes a config Module and/or its fields as keywords.

    TypeError naming an unknown option or a ``config`` of the wrong type.
    """
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(options) - set(names))
    if unknown:
        raise TypeError(f"unknown option(s) {', '.join(map(repr, unknown))}; {cls.__name__} "
                        f"options: {', '.join(names)}")
    if config is None:
        return cls(**options)
    if not isinstance(config, cls):
        raise TypeError(f"`config` must be a {cls.__name__}, got {type(config).__name__}")
    return dataclasses.replace(config, **options) if options else config


def half_sample_size(n: int, block: int = 1) -> int:
    """Rows m in each half-sample of n rows cut into blocks of ``block`` consecutive rows
    ([`infoest.knn.half_sample_indices`][infoest.knn.half_sample_indices])."""
    return (n // block // 2) * block


def check_half_samples(n: int, k: int, *, theiler: int = 0, block: int = 1) -> None:
    """Trace-time ``ValueError`` unless each half-sample of the kNN error bar keeps
    k + 2·theiler + 1 rows."""
    need = k + 2 * theiler + 1
    if half_sample_size(n, block) < need:
        minimum = 2 * block * -(-need // block)
        raise ValueError(f"too few samples for k={k} (theiler={theiler}): got n={n}, need at "
                         f"least {minimum} (the error bar uses half-samples)")


def _check_jitter(jitter, key) -> None:
    if jitter is None:
        return
    if is_concrete(jitter):
        if float(jitter) < 0:
            raise ValueError(f"`jitter` must be >= 0, got {float(jitter)}")
        if float(jitter) > 0 and key is None:
            raise ValueError("`jitter` > 0 needs a PRNG `key`")
    elif key is None:
        raise ValueError("a traced `jitter` needs a PRNG `key`")


def check_knn_options(n: int, k, *, norm: str, backend: str, jitter, key, theiler: int = 0,
                      algorithm: int = 1, block: int = 1) -> int:
    """Validate the options of a kNN estimator (KL, KSG, Frenzel–Pompe, KSG TE); return k.

    ``k``: a Python int with each half-sample of n rows (blocks of ``block``) keeping
    k + 2·theiler + 1 rows; ``norm`` and ``backend`` among those of
    [`infoest.ops.neighbors`][infoest.ops.neighbors]; ``algorithm`` 1 or 2; ``theiler`` a
    non-negative int; ``jitter`` >= 0, and a number > 0 (or a traced one) needs ``key``.
    """
    k = check_k(k, n)
    check_choice(norm, "norm", neighbors.NORMS)
    check_choice(backend, "backend", neighbors.BACKENDS)
    if algorithm not in (1, 2) or isinstance(algorithm, bool):
        raise ValueError(f"`algorithm` must be 1 or 2, got {algorithm!r}")
    if isinstance(theiler, bool) or not isinstance(theiler, int) or theiler < 0:
        raise ValueError(f"`theiler` must be a non-negative Python int, got {theiler!r}")
    if n < k + 2 * theiler + 1:
        raise ValueError(f"too few samples for k={k} and `theiler`={theiler}: got n={n}, need "
                         f"at least {k + 2 * theiler + 1}")
    check_half_samples(n, k, theiler=theiler, block=block)
    _check_jitter(jitter, key)
    return k
