"""k-nearest-neighbour estimators: Kozachenko–Leonenko entropy, KSG MI, Frenzel–Pompe CMI.

All three share one neighbour search ([`infoest.ops.neighbors`][infoest.ops.neighbors]): the
distance to the
k-th neighbour in the joint space with the max-norm (self excluded), and strict neighbour
counts inside that radius in marginal subspaces. Values are in nats.

Public estimators (validated, registered under ``method="kl"`` / ``"ksg"``):
[`entropy`][infoest.knn.entropy], [`mutual_information`][infoest.knn.mutual_information],
[`conditional_mutual_information`][infoest.knn.conditional_mutual_information].

Cores for other families (no validation; already-checked ``(n, d)`` arrays; jittable and
vmappable; ``k``, ``algorithm``, ``norm``, ``theiler``, ``backend`` static):
[`kl_entropy_core`][infoest.knn.kl_entropy_core], [`ksg_mi_core`][infoest.knn.ksg_mi_core],
[`ksg_cmi_core`][infoest.knn.ksg_cmi_core], and [`prepare`][infoest.knn.prepare]
(standardisation and jitter).

Ties and degenerate data. With jitter off, exact duplicates give neighbour distances of 0.
KSG MI/CMI stay finite (strict counts inside a zero radius are 0, so ψ(1) enters). For the
KL entropy a zero radius means log 0 = −∞ (a degenerate, e.g. constant, distribution has
differential entropy −∞); such radii are clamped to the smallest positive normal number of
the dtype, so the value is finite but very negative, and ``diagnostics["zero_radius"]``
counts the affected samples. Jitter (``jitter > 0`` with ``key``) breaks ties instead; note
that noise below the dtype's resolution (≈1e-7 relative in float32) changes nothing, so in
float32 use ``jitter`` ≥ 1e-6 on standardised data (the literature's 1e-8 assumes float64).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax import Array
from jax.scipy.special import digamma

from infoest import _checks
from infoest._estimate import Estimate, make_estimate
from infoest._registry import register
from infoest.ops import neighbors
from infoest.ops.special import log_unit_ball_volume

__all__ = [
    "entropy",
    "mutual_information",
    "conditional_mutual_information",
    "kl_entropy_core",
    "ksg_mi_core",
    "ksg_cmi_core",
    "prepare",
]

_STATIC = ("k", "algorithm", "norm", "theiler", "backend")


# ----------------------------------------------------------------------------- cores


def _psi(counts: Array, dtype) -> Array:
    return digamma(counts.astype(dtype))


@partial(jax.jit, static_argnames=("k", "norm", "theiler", "backend"))
def kl_entropy_core(x: Array, *, k: int, norm: str = "max", theiler: int = 0,
                    backend: str = "auto") -> tuple[Array, Array]:
    """Kozachenko–Leonenko entropy of a checked ``(n, d)`` array: ``(value, zero_radius)``.

    Ĥ = ψ(n) − ψ(k) + log V_d + (d/n) Σ_i log r_i, with r_i the distance to the k-th
    neighbour and V_d the unit-ball volume of ``norm``. ``zero_radius`` counts the r_i = 0
    that were clamped (see module docstring). vmap over column subsets of equal size works
    (``jax.vmap(lambda idx: kl_entropy_core(x[:, idx], k=k)[0])(subsets)``).
    """
    n, d = x.shape
    r = neighbors.knn_distance(x, k, norm=norm, theiler=theiler, backend=backend)
    tiny = jnp.finfo(x.dtype).tiny
    zero = jnp.sum(r <= 0)
    log_r = jnp.log(jnp.maximum(r, tiny))
    const = digamma(jnp.asarray(n, x.dtype)) - digamma(jnp.asarray(k, x.dtype))
    return const + log_unit_ball_volume(d, norm) + d * jnp.mean(log_r), zero


@partial(jax.jit, static_argnames=_STATIC)
def ksg_mi_core(x: Array, y: Array, *, k: int, algorithm: int = 1, norm: str = "max",
                theiler: int = 0, backend: str = "auto") -> Array:
    """KSG mutual information of checked arrays ``x: (n, dx)``, ``y: (n, dy)``, in nats.

    Algorithm 1: Î = ψ(k) + ψ(n) − ⟨ψ(n_x + 1) + ψ(n_y + 1)⟩ with strict counts inside the
    joint k-th neighbour distance. Algorithm 2: Î = ψ(k) − 1/k + ψ(n) − ⟨ψ(n_x) + ψ(n_y)⟩
    with non-strict counts inside the marginal radii of the k joint neighbours.
    """
    n = x.shape[0]
    dtype = x.dtype
    _, counts = neighbors.neighbor_counts(
        (x, y), k, ((0,), (1,)), algorithm=algorithm, norm=norm, theiler=theiler,
        backend=backend,
    )
    base = digamma(jnp.asarray(k, dtype)) + digamma(jnp.asarray(n, dtype))
    # ψ(min) + ψ(max) rather than ψ(n_x) + ψ(n_y): bit-identical when x and y are swapped
    lo, hi = jnp.min(counts, axis=1), jnp.max(counts, axis=1)
    if algorithm == 1:
        return base - jnp.mean(_psi(lo + 1, dtype) + _psi(hi + 1, dtype))
    return base - 1.0 / k - jnp.mean(_psi(lo, dtype) + _psi(hi, dtype))


@partial(jax.jit, static_argnames=("k", "norm", "theiler", "backend"))
def ksg_cmi_core(x: Array, y: Array, z: Array, *, k: int, norm: str = "max", theiler: int = 0,
                 backend: str = "auto") -> Array:
    """Frenzel–Pompe conditional MI of checked arrays, in nats.

    One k-NN search in the joint (x, y, z) space; strict counts in (x, z), (y, z) and z:
    Î(X;Y|Z) = ψ(k) − ⟨ψ(n_xz + 1) + ψ(n_yz + 1) − ψ(n_z + 1)⟩. ``theiler`` excludes
    |i − j| ≤ theiler from the search and the counts (time series, e.g. transfer entropy).
    """
    dtype = x.dtype
    _, counts = neighbors.neighbor_counts(
        (x, y, z), k, ((0, 2), (1, 2), (2,)), norm=norm, theiler=theiler, backend=backend
    )
    psi = _psi(counts + 1, dtype)
    return digamma(jnp.asarray(k, dtype)) - jnp.mean(psi[:, 0] + psi[:, 1] - psi[:, 2])


def _standardize(a: Array) -> Array:
    sd = jnp.std(a, axis=0)
    return (a - jnp.mean(a, axis=0)) / jnp.where(sd > 0, sd, 1.0)


def prepare(*arrays: Array, standardize: bool = True, jitter=0.0, key=None) -> tuple:
    """Per-column standardisation (constant columns only centred), then additive Gaussian
    jitter of scale ``jitter`` (traced) when ``key`` is given (one subkey per array)."""
    out = tuple(_standardize(a) if standardize else a for a in arrays)
    if key is not None:
        keys = jax.random.split(key, len(out))
        out = tuple(
            a + jnp.asarray(jitter, a.dtype) * jax.random.normal(kk, a.shape, a.dtype)
            for a, kk in zip(out, keys, strict=True)
        )
    return out


# ----------------------------------------------------------------------------- validation


def _check_options(n: int, k, *, norm: str, backend: str, jitter, key, theiler: int = 0,
                   algorithm: int = 1) -> int:
    k = _checks.check_k(k, n)
    _checks.check_choice(norm, "norm", neighbors.NORMS)
    _checks.check_choice(backend, "backend", neighbors.BACKENDS)
    if algorithm not in (1, 2) or isinstance(algorithm, bool):
        raise ValueError(f"`algorithm` must be 1 or 2, got {algorithm!r}")
    if isinstance(theiler, bool) or not isinstance(theiler, int) or theiler < 0:
        raise ValueError(f"`theiler` must be a non-negative Python int, got {theiler!r}")
    if n < k + 2 * theiler + 1:
        raise ValueError(f"too few samples for k={k} and `theiler`={theiler}: got n={n}, need "
                         f"at least {k + 2 * theiler + 1}")
    if _checks.is_concrete(jitter):
        if float(jitter) < 0:
            raise ValueError(f"`jitter` must be >= 0, got {float(jitter)}")
        if float(jitter) > 0 and key is None:
            raise ValueError("`jitter` > 0 needs a PRNG `key`")
    elif key is None:
        raise ValueError("a traced `jitter` needs a PRNG `key`")
    return k


# ----------------------------------------------------------------------------- estimators


@partial(jax.jit, static_argnames=("k", "norm", "backend"))
def _entropy(x, jitter, key, *, k, norm, backend):
    (x,) = prepare(x, standardize=False, jitter=jitter, key=key)
    return kl_entropy_core(x, k=k, norm=norm, backend=backend)


@register("entropy", "kl", test_kwargs={"k": 3}, bench_kwargs={"k": 4})
def entropy(x, *, k: int = 4, norm: str = "max", jitter=0.0, key=None,
            backend: str = "auto") -> Estimate:
    """Kozachenko–Leonenko differential entropy of ``x: (n, d)``, in nats.

    Ĥ = ψ(n) − ψ(k) + log V_d + (d/n) Σ_i log r_i

    (Kozachenko & Leonenko, Probl. Inf. Transm. 23, 1987; Kraskov, Stögbauer, Grassberger,
    PRE 69, 066138, 2004, eq. 20), r_i the distance from x_i to its k-th nearest neighbour
    (self excluded) and V_d the volume of the unit ball: 2^d for ``norm="max"`` (default),
    π^{d/2}/Γ(d/2 + 1) for ``"euclidean"``. Entropy is not scale invariant, so there is no
    standardisation option. NPEET uses k = 3 and the max-norm.

    Args:
        x: samples ``(n, d)``.
        k: neighbour order (static; default 4).
        norm: ``"max"`` or ``"euclidean"``.
        jitter: scale of Gaussian noise added to break ties (needs ``key``; default off).
        key: PRNG key for ``jitter``.
        backend: neighbour search, ``"auto"`` | ``"brute"`` | ``"tree"``
            ([`infoest.ops.neighbors`][infoest.ops.neighbors]).

    Cost: O(n² d) brute force in blocks of ~2²¹ pairwise distances, or about O(n log n) with
    the tree in low dimension. Zero radii (duplicates) are clamped and counted in
    ``diagnostics["zero_radius"]``.
    """
    x = _checks.as_samples(x, "x")
    k = _check_options(x.shape[0], k, norm=norm, backend=backend, jitter=jitter, key=key)
    value, zero = _entropy(x, jitter, key, k=k, norm=norm, backend=backend)
    return make_estimate(value, method="kl", zero_radius=zero)


@partial(jax.jit, static_argnames=("k", "algorithm", "norm", "standardize", "backend"))
def _mi(x, y, jitter, key, *, k, algorithm, norm, standardize, backend):
    x, y = prepare(x, y, standardize=standardize, jitter=jitter, key=key)
    return ksg_mi_core(x, y, k=k, algorithm=algorithm, norm=norm, backend=backend)


@register("mutual_information", "ksg", test_kwargs={"k": 3}, bench_kwargs={"k": 4})
def mutual_information(x, y, *, k: int = 4, algorithm: int = 1, norm: str = "max",
                       standardize: bool = True, jitter=0.0, key=None,
                       backend: str = "auto") -> Estimate:
    """Kraskov–Stögbauer–Grassberger mutual information I(X;Y), in nats.

    Algorithm 1 (default): with ε_i the distance from z_i = (x_i, y_i) to its k-th
    neighbour in the joint space (max over the two marginal norms, self excluded) and
    n_x(i) = #{j ≠ i : ‖x_j − x_i‖ < ε_i} (strict), n_y likewise,

        Î₁ = ψ(k) + ψ(n) − ⟨ψ(n_x + 1) + ψ(n_y + 1)⟩.

    Algorithm 2: ε_x(i), ε_y(i) = the largest marginal distance among the k joint
    neighbours, non-strict counts, Î₂ = ψ(k) − 1/k + ψ(n) − ⟨ψ(n_x) + ψ(n_y)⟩.
    (Kraskov, Stögbauer, Grassberger, "Estimating mutual information", PRE 69, 066138,
    2004, eqs. 8 and 9.) Î₁ is exactly symmetric in (x, y). Estimates can be negative near
    independence and are not clipped.

    Args:
        x, y: paired samples ``(n, dx)``, ``(n, dy)``.
        k: neighbour order (static; default 4 as JIDT/IDTxl; k=3 with ``standardize=False``
            reproduces NPEET / scikit-learn defaults).
        algorithm: 1 or 2.
        norm: norm inside each marginal: ``"max"`` (default, classical) or ``"euclidean"``
            (as ``bmi``); the joint distance is always the max of the two.
        standardize: scale every column to zero mean, unit variance first (default True, as
            JIDT), which makes the estimate invariant to per-column rescaling.
        jitter: scale of Gaussian noise added after standardising to break ties (needs
            ``key``; default off; ≥ 1e-6 in float32).
        key: PRNG key for ``jitter``.
        backend: ``"auto"`` | ``"brute"`` | ``"tree"``
            ([`infoest.ops.neighbors`][infoest.ops.neighbors]).

    Cost: O(n² (dx + dy)) time and O(2²¹) memory per block with the brute-force backend;
    the tree backend (chosen on CPU for dx + dy ≤ 3) grows about as n log n there.
    """
    x, y = _checks.paired_samples((x, "x"), (y, "y"))
    k = _check_options(x.shape[0], k, norm=norm, backend=backend, jitter=jitter, key=key,
                       algorithm=algorithm)
    value = _mi(x, y, jitter, key, k=k, algorithm=algorithm, norm=norm,
                standardize=bool(standardize), backend=backend)
    return make_estimate(value, method="ksg")


@partial(jax.jit, static_argnames=("k", "norm", "theiler", "standardize", "backend"))
def _cmi(x, y, z, jitter, key, *, k, norm, theiler, standardize, backend):
    x, y, z = prepare(x, y, z, standardize=standardize, jitter=jitter, key=key)
    return ksg_cmi_core(x, y, z, k=k, norm=norm, theiler=theiler, backend=backend)


@register("conditional_mutual_information", "ksg", test_kwargs={"k": 3},
          bench_kwargs={"k": 4})
def conditional_mutual_information(x, y, z, *, k: int = 4, norm: str = "max",
                                   theiler: int = 0, standardize: bool = True, jitter=0.0,
                                   key=None, backend: str = "auto") -> Estimate:
    """Frenzel–Pompe (KSG) conditional mutual information I(X;Y|Z), in nats.

    One k-NN search in the full joint space (x, y, z) with the max-norm gives ε_i (self
    excluded); n_xz, n_yz, n_z count the j with distance strictly below ε_i in the
    subspaces (x, z), (y, z) and z:

        Î(X;Y|Z) = ψ(k) − ⟨ψ(n_xz + 1) + ψ(n_yz + 1) − ψ(n_z + 1)⟩

    (Frenzel & Pompe, "Partial mutual information for coupling analysis of multivariate
    time series", PRL 99, 204101, 2007). Never a difference of two MI estimates.

    Args:
        x, y, z: paired samples ``(n, d_*)``.
        k: neighbour order (static; default 4 as JIDT/IDTxl).
        norm: ``"max"`` (default; the reference) or ``"euclidean"`` inside each variable.
        theiler: Theiler window w (static): samples j with |i − j| ≤ w are excluded from the
            search and the counts (serially dependent data; default 0 = self only).
        standardize, jitter, key, backend: as in
            [`mutual_information`][infoest.knn.mutual_information].

    Cost: O(n² (dx + dy + dz)) brute force; tree on CPU for dx + dy + dz ≤ 3.
    """
    x, y, z = _checks.paired_samples((x, "x"), (y, "y"), (z, "z"))
    k = _check_options(x.shape[0], k, norm=norm, backend=backend, jitter=jitter, key=key,
                       theiler=theiler)
    value = _cmi(x, y, z, jitter, key, k=k, norm=norm, theiler=theiler,
                 standardize=bool(standardize), backend=backend)
    return make_estimate(value, method="ksg")
