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

Error bars: every estimator's ``stderr`` comes from subsamples in the same compiled call
([`subsample_stderr`][infoest.knn.subsample_stderr]): a delete-d jackknife over 20
half-samples below n = 20 000 rows, m-out-of-n subsampling over B = max(20, n // 10 000)
disjoint subsamples from there on; [`subsample_indices`][infoest.knn.subsample_indices]
gives the index sets (blocks of consecutive rows for time series).

Ties and degenerate data. Without ``key`` the estimators are deterministic: exact ties
give neighbour distances of 0, KSG MI/CMI stay finite (strict counts inside a zero radius
are 0, so ψ(1) enters), and a KL radius of 0 (k or more copies of a sample: an atom) makes
the entropy −∞ with status DEGENERATE (``diagnostics["zero_radius"]`` counts them). With
``key`` and ``jitter=None``, noise of ``AUTO_JITTER`` (1e-6) times each column's scale
breaks the ties; noise below the dtype's resolution (≈1e-7 relative in float32) changes
nothing, so the literature's 1e-8 (float64) is too small here. A constant variable gives MI
and CMI exactly 0 and a KL entropy of −∞ (DEGENERATE).

Duplicated rows (KSG MI, CMI and TE). An exact copy of a joint row has probability 0 under
a continuous distribution, so copies mean either repeated samples (a bootstrap resample, data
concatenated with itself) or atoms (discrete or rounded values). Neither has a KSG answer:
every copy is a zero-distance neighbour of its twin in every subspace, which the estimator
reads as dependence (bivariate normal ρ = 0.9, n = 500, k = 4: 0.93 nats; the same rows
twice: 1.06; a bootstrap resample: 1.50), and jitter does not help (the copies stay each
other's nearest neighbours). So the estimators count the surplus copies before any jitter
(``diagnostics["duplicates"]`` = n − distinct rows, [infoest.ops.ties.duplicate_rows][]) and
return status DEGENERATE when there are any: an error by default that says what to do,
the (inflated) value kept with ``throw=False``. Remove repeated rows; for data with atoms use
``discrete="mixed"`` (Gao, Kannan, Oh & Viswanath, NeurIPS 2017), which counts exact copies
as atom mass by design. A constant variable still gives exactly 0 (status ok).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax import Array
from jax.scipy.special import digamma

from infoest import _checks
from infoest._checks import check_half_samples, half_sample_size
from infoest._estimate import Estimate, Status, make_estimate
from infoest._registry import register
from infoest.ops import neighbors
from infoest.ops.special import log_unit_ball_volume
from infoest.ops.standardize import column_scale, is_constant
from infoest.ops.standardize import standardize as standardize_columns
from infoest.ops.ties import duplicate_rows

__all__ = [
    "entropy",
    "mutual_information",
    "conditional_mutual_information",
    "kl_entropy_core",
    "ksg_mi_core",
    "ksg_cmi_core",
    "prepare",
    "constant_or_ties",
    "check_half_samples",
    "half_sample_size",
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
    return standardize_columns(a)


def prepare(*arrays: Array, standardize: bool = True, jitter=0.0, key=None) -> tuple:
    """Per-column standardisation ([infoest.ops.standardize.standardize][]: overflow-safe,
    a constant column becomes 0), then additive Gaussian jitter of ``jitter`` (traced) times
    each column's scale when ``key`` is given (one subkey per array; a constant column stays
    constant)."""
    out = tuple(_standardize(a) if standardize else a for a in arrays)
    if key is not None:
        keys = jax.random.split(key, len(out))
        out = tuple(
            a + jnp.asarray(jitter, a.dtype) * column_scale(a)
            * jax.random.normal(kk, a.shape, a.dtype)
            for a, kk in zip(out, keys, strict=True)
        )
    return out


# ----------------------------------------------------------------------------- stderr

#: Half-samples per estimate for the standard error (10 complementary pairs).
SUBSETS = 20
#: From this many rows on, the standard error uses disjoint subsamples (at least 1 000 rows
#: each) instead of the half-samples ([`subsample_indices`][infoest.knn.subsample_indices]).
LARGE_N = 20_000
#: Fewest disjoint subsamples of the large-n standard error ...
GROUPS = 20
#: ... and their size once there are more than `GROUPS` of it.
GROUP_ROWS = 10_000
#: Fixed key of the half-samples (and of nothing else) when the caller passes no ``key``.
_DEFAULT_KEY = 0
#: Folded into every half-sample key (see `subsample_key`).
_SALT = 0x5E1F5A3


def _block_rows(chosen: Array, block: int) -> Array:
    """Rows of the chosen blocks ``(s, b)``, in time order: ``(s, b·block)``."""
    rows = jnp.sort(chosen, axis=1)[:, :, None] * block + jnp.arange(block)
    return rows.reshape(chosen.shape[0], -1)


def _permutation(key: Array, groups: int) -> Array:
    return jnp.argsort(jax.random.bits(key, (groups,), jnp.uint32))


def half_sample_indices(key: Array, n: int, *, block: int = 1,
                        subsets: int = SUBSETS) -> Array:
    """Row indices ``(subsets, m)`` of complementary half-samples of n rows.

    The rows are cut into ⌊n / block⌋ consecutive blocks; each pair of subsets is one
    random split of the blocks into two halves (rows kept in time order). ``block`` = 1 for
    independent samples; > 1 keeps serial dependence inside blocks (time series).
    """
    groups = n // block
    half = groups // 2
    keys = jax.random.split(key, subsets // 2)
    perms = jax.vmap(lambda kk: _permutation(kk, groups))(keys)
    return _block_rows(jnp.concatenate([perms[:, :half], perms[:, half:2 * half]]), block)


def disjoint_groups(n: int) -> int:
    """Disjoint subsamples of the large-n error bar: max(`GROUPS`, ⌊n / `GROUP_ROWS`⌋)."""
    return max(GROUPS, n // GROUP_ROWS)


def disjoint_indices(key: Array, n: int, *, block: int = 1, groups: int | None = None) -> Array:
    """Row indices ``(groups, m)`` of disjoint random subsamples of n rows.

    One random permutation of the ⌊n / block⌋ blocks of consecutive rows, cut into
    ``groups`` (default [`disjoint_groups`][infoest.knn.disjoint_groups]) parts of
    ⌊n / block / groups⌋ blocks (rows kept in time order; the few rows left over belong to
    no part).
    """
    groups = disjoint_groups(n) if groups is None else groups
    blocks = n // block
    per = blocks // groups
    return _block_rows(_permutation(key, blocks)[:per * groups].reshape(groups, per), block)


def subsample_indices(key: Array, n: int, *, block: int = 1) -> tuple[Array, float]:
    """(row indices ``(s, m)``, variance factor c) of the kNN standard error at n rows:
    var̂ = c · var_s(θ̂_s) over the estimates θ̂_s on the s subsamples.

    - n < `LARGE_N`: the 20 half-samples of
      [`half_sample_indices`][infoest.knn.half_sample_indices], c = m / (n − m)
      (delete-d jackknife, d = n − m);
    - n ≥ `LARGE_N`: B = max(20, ⌊n / 10 000⌋) disjoint subsamples of m = ⌊n / B⌋ rows
      ([`disjoint_indices`][infoest.knn.disjoint_indices]), c = m / n (m-out-of-n
      subsampling: the parts are independent samples of size m, each with variance
      ≈ σ²/m, so var_s · m/n estimates σ²/n; Politis & Romano, Ann. Statist. 22, 1994).
    """
    if n >= LARGE_N:
        idx = disjoint_indices(key, n, block=block)
        return idx, idx.shape[1] / n
    idx = half_sample_indices(key, n, block=block)
    return idx, idx.shape[1] / (n - idx.shape[1])


def subsample_stderr(estimator, arrays, key, *, block: int = 1):
    """Standard error of a kNN estimate from subsamples, in the same compiled call.

    With θ_s the estimate on subsample s of m rows
    ([`subsample_indices`][infoest.knn.subsample_indices]):

    - n < 20 000: delete-d jackknife over 20 half-samples (10 complementary pairs),
      var = (m / (n − m)) · var_s(θ_s) (Shao & Wu, "A general theory for jackknife variance
      estimation", Ann. Statist. 17, 1989: consistent for non-smooth statistics when
      d = n − m is a fixed fraction of n). Cost ≈ 20 estimates at n/2: about 5× the
      brute-force value, ≈ 6–10× the tree's.
    - n ≥ 20 000: m-out-of-n subsampling over B = max(20, ⌊n / 10 000⌋) disjoint
      subsamples of m = ⌊n / B⌋ rows (1 000 ≤ m ≤ 10 000 up to n = 200 000, then ≈ 10 000),
      var = (m / n) · var_s(θ_s) (Politis & Romano, "Large sample confidence regions based
      on subsamples under minimal assumptions", Ann. Statist. 22, 1994). Cost: B estimates
      at m rows, n·m pair distances with the brute force (1/20 of the value's n² at
      n ≤ 200 000, 1 % at n = 10⁶), ≈ 7 % of the tree's value at n = 10⁶ (5+5 dims).

    Blocks of ``block`` consecutive rows are kept together (serially dependent data). It
    estimates the sampling variance at n, not the bias; the per-sample kNN terms are
    positively correlated (neighbouring samples share neighbours), so their plain
    variance / n underestimates it by ≈ 20 % in sd (docs/classical.md, "Error bars").
    ``estimator(*arrays)`` may return an array (each element gets its own stderr).
    """
    n = arrays[0].shape[0]
    idx, factor = subsample_indices(key, n, block=block)
    # lax.map, not vmap: a vmapped tree-backend callback would batch on the host thread,
    # where a thread-local ``jax.enable_x64`` does not hold; the brute force gains nothing
    # from batching the subsamples (each is already a blocked pass over its pairs).
    values = jax.lax.map(lambda i: estimator(*(a[i] for a in arrays)), idx)
    return jnp.sqrt(factor * jnp.var(values, axis=0, ddof=1))


def subsample_key(key):
    """The key of the half-samples: ``key`` (or a fixed key when None) with a salt folded in.

    The salt keeps the half-samples independent of data drawn from the same key: a
    threefry ``split`` gives the same first subkeys whatever the count, and a permutation
    sorted from the bits that also made the normal draws would select the lowest half of
    the values (coverage then collapses)."""
    base = jax.random.PRNGKey(_DEFAULT_KEY) if key is None else key
    return jax.random.fold_in(base, _SALT)


def split_key(key):
    """(jitter key or None, half-sample key) from the caller's ``key``."""
    if key is None:
        return None, subsample_key(None)
    k_jitter, k_sub = jax.random.split(key)
    return k_jitter, subsample_key(k_sub)


def stderr_backend(backend: str, dtype) -> str:
    """The neighbour backend for float64 data: brute force unless ``backend="tree"`` was
    asked for explicitly (then brute force for the half-samples only). A program with the
    loop over half-samples runs its host callbacks on an XLA thread, where a thread-local
    ``jax.enable_x64`` context does not hold, so float64 data would reach the tree backend
    as float32 (the max-norm results of the two backends are identical)."""
    return "brute" if jnp.dtype(dtype) == jnp.float64 else backend


def value_backend(backend: str, dtype) -> str:
    """The backend of the full-data search: ``"auto"`` means brute force for float64."""
    return "brute" if backend == "auto" and jnp.dtype(dtype) == jnp.float64 else backend


# ----------------------------------------------------------------------------- validation

#: Jitter (relative to each column's scale) applied when a ``key`` is given and ``jitter``
#: is left at None: ≈ 10 float32 ulps of standardised data, enough to break exact ties,
#: far below any neighbour distance of continuous data.
AUTO_JITTER = 1e-6


def resolve_jitter(jitter, key):
    """The jitter scale: ``AUTO_JITTER`` with a key and ``jitter=None``, else ``jitter``."""
    if jitter is None:
        return 0.0 if key is None else AUTO_JITTER
    return jitter


def constant_or_ties(value, stderr, constant, copies):
    """(value, stderr, status, copies) of a KSG estimate: exactly 0 for a constant variable;
    status DEGENERATE (value kept) when the joint rows hold exact duplicates (``copies`` =
    n − distinct rows, [infoest.ops.ties.duplicate_rows][]; see the module docstring)."""
    copies = jnp.where(constant, 0, copies)
    status = jnp.where(copies > 0, Status.DEGENERATE, Status.OK)
    return (jnp.where(constant, 0.0, value), jnp.where(constant, 0.0, stderr), status, copies)


def any_constant(*arrays: Array) -> Array:
    """True when one of the arrays is constant (a variable without information)."""
    return jnp.any(jnp.stack([is_constant(a) for a in arrays]))


# ----------------------------------------------------------------------------- estimators


def _kl_value(x, *, k, norm, backend):
    value, zero = kl_entropy_core(x, k=k, norm=norm, backend=backend)
    return jnp.where(zero > 0, -jnp.inf, value)


@partial(jax.jit, static_argnames=("k", "norm", "backend"))
def _entropy(x, jitter, key, *, k, norm, backend):
    k_jitter, k_sub = split_key(key)
    (x,) = prepare(x, standardize=False, jitter=jitter, key=k_jitter)
    core = partial(_kl_value, k=k, norm=norm, backend=stderr_backend(backend, x.dtype))
    value, zero = kl_entropy_core(x, k=k, norm=norm, backend=value_backend(backend, x.dtype))
    stderr = subsample_stderr(core, (x,), k_sub)
    degenerate = (zero > 0) | jnp.any(column_scale(x) <= 0)
    value = jnp.where(degenerate, -jnp.inf, value)
    return value, stderr, jnp.where(degenerate, Status.DEGENERATE, Status.OK), zero


@register("entropy", "kl", test_kwargs={"k": 3}, bench_kwargs={"k": 4}, min_n=4)
def entropy(x, *, k: int = 4, norm: str = "max", jitter=None, key=None,
            backend: str = "auto") -> Estimate:
    """Kozachenko–Leonenko differential entropy of ``x: (n, d)``, in nats.

    Ĥ = ψ(n) − ψ(k) + log V_d + (d/n) Σ_i log r_i

    (Kozachenko & Leonenko, Probl. Inf. Transm. 23, 1987; Kraskov, Stögbauer, Grassberger,
    PRE 69, 066138, 2004, eq. 20), r_i the distance from x_i to its k-th nearest neighbour
    (self excluded) and V_d the volume of the unit ball: 2^d for ``norm="max"`` (default),
    π^{d/2}/Γ(d/2 + 1) for ``"euclidean"``. Ĥ(a x) = Ĥ(x) + d log a exactly, and the
    neighbour distances of data at 1e±30 stay within float32's normal range (the inputs
    are centred by the registry), so no rescaling is needed. NPEET uses k = 3 and the max-norm.

    stderr: sampling error only, not the bias; in the same compiled call: delete-d
    jackknife over 20 half-samples for n < 20 000, m-out-of-n subsampling over
    B = max(20, n // 10 000) disjoint subsamples of n/B rows from n = 20 000 on
    ([infoest.knn.subsample_stderr][]).

    Degenerate data: a constant column, or a sample with ≥ k exact copies (r_i = 0; the
    data have an atom), gives −∞ with status DEGENERATE (``diagnostics["zero_radius"]``
    counts such samples). Pass ``key`` to break ties with jitter instead.

    Args:
        x: samples ``(n, d)``; n ≥ 2(k + 1).
        k: neighbour order (static; default 4).
        norm: ``"max"`` or ``"euclidean"``.
        jitter: Gaussian noise, relative to each column's scale, added to break ties. None
            (default): 1e-6 when ``key`` is given, else none; a number needs ``key``.
        key: PRNG key for the jitter and the half-samples (a fixed key when None).
        backend: neighbour search, ``"auto"`` | ``"brute"`` | ``"tree"``
            ([`infoest.ops.neighbors`][infoest.ops.neighbors]).

    Cost: O(n² d) brute force (about 6× that with the half-samples below n = 20 000,
    1.05× from there on), or about O(n log n)
    with the tree (``backend="auto"`` picks it on CPU for d ≤ 4, or d ≤ 12 at n ≥ 500 000;
    [`infoest.ops.neighbors.choose_backend`][infoest.ops.neighbors.choose_backend]).
    """
    x = _checks.as_samples(x, "x")
    k = _checks.check_knn_options(x.shape[0], k, norm=norm, backend=backend, jitter=jitter, key=key)
    value, stderr, status, zero = _entropy(x, resolve_jitter(jitter, key), key, k=k,
                                           norm=norm, backend=backend)
    return make_estimate(value, stderr, status=status, method="kl", zero_radius=zero)


@partial(jax.jit, static_argnames=("k", "algorithm", "norm", "standardize", "backend"))
def _mi(x, y, jitter, key, *, k, algorithm, norm, standardize, backend):
    k_jitter, k_sub = split_key(key)
    constant = any_constant(x, y)
    copies = duplicate_rows(x, y)
    x, y = prepare(x, y, standardize=standardize, jitter=jitter, key=k_jitter)
    core = partial(ksg_mi_core, k=k, algorithm=algorithm, norm=norm)
    value = core(x, y, backend=value_backend(backend, x.dtype))
    stderr = subsample_stderr(partial(core, backend=stderr_backend(backend, x.dtype)),
                              (x, y), k_sub)
    return constant_or_ties(value, stderr, constant, copies)


@register("mutual_information", "ksg", test_kwargs={"k": 3}, bench_kwargs={"k": 4}, min_n=4)
def mutual_information(x, y, *, k: int = 4, algorithm: int = 1, norm: str = "max",
                       standardize: bool = True, jitter=None, key=None,
                       backend: str = "auto") -> Estimate:
    """Kraskov–Stögbauer–Grassberger mutual information I(X;Y), in nats.

    Algorithm 1 (default): with ε_i the distance from z_i = (x_i, y_i) to its k-th
    neighbour in the joint space (max over the two marginal norms, self excluded) and
    n_x(i) = #{j ≠ i : ‖x_j − x_i‖ < ε_i} (strict), n_y likewise,

        Î₁ = ψ(k) + ψ(n) − ⟨ψ(n_x + 1) + ψ(n_y + 1)⟩.

    Algorithm 2: ε_x(i), ε_y(i) = the largest marginal distance among the k joint
    neighbours, non-strict counts, Î₂ = ψ(k) − 1/k + ψ(n) − ⟨ψ(n_x) + ψ(n_y)⟩.
    (Kraskov, Stögbauer, Grassberger, "Estimating mutual information", PRE 69, 066138,
    2004, eqs. 8 and 9.) Î₁ is exactly symmetric in (x, y) without jitter. Estimates can be
    negative near independence and are not clipped.

    stderr: sampling error only, not the bias; in the same compiled call: delete-d
    jackknife over 20 half-samples for n < 20 000, m-out-of-n subsampling over
    B = max(20, n // 10 000) disjoint subsamples of n/B rows from n = 20 000 on
    (var = (m/n) · var_s; [infoest.knn.subsample_stderr][]; coverage measured in
    docs/classical.md, "Error bars").

    Degenerate data: a constant x or y gives exactly 0 (stderr 0). Ties in one coordinate
    are broken by jitter when ``key`` is given; without a key the strict counts are kept
    (deterministic). Exact duplicate rows of (x, y) give status DEGENERATE (an error by
    default; ``diagnostics["duplicates"]`` = n − distinct rows): copies inflate the estimate
    and are not continuous data (module docstring; ``discrete="mixed"`` for data with atoms).

    Args:
        x, y: paired samples ``(n, dx)``, ``(n, dy)``; n ≥ 2(k + 1).
        k: neighbour order (static; default 4 as JIDT/IDTxl; k=3 with ``standardize=False``
            reproduces NPEET / scikit-learn defaults).
        algorithm: 1 or 2.
        norm: norm inside each marginal: ``"max"`` (default, classical) or ``"euclidean"``
            (as ``bmi``); the joint distance is always the max of the two.
        standardize: scale every column to zero mean, unit variance first (default True, as
            JIDT; overflow-safe), which makes the estimate invariant to per-column rescaling.
        jitter: Gaussian noise, relative to each column's scale, added to break ties. None
            (default): 1e-6 when ``key`` is given, else none; a number needs ``key``.
        key: PRNG key for the jitter and the half-samples (a fixed key when None).
        backend: ``"auto"`` | ``"brute"`` | ``"tree"``
            ([`infoest.ops.neighbors`][infoest.ops.neighbors]).

    Cost: O(n² (dx + dy)) time with the brute-force backend, about 6× that with the
    half-samples below n = 20 000, at most 1.05× from there on (the subsamples cost n·m pair
    distances); the tree backend grows about as n log n (``backend="auto"`` picks it on
    CPU for dx + dy ≤ 4 with ``norm="max"``, or ≤ 12 at n ≥ 500 000; brute force on an
    accelerator; [`infoest.ops.neighbors.choose_backend`][infoest.ops.neighbors.choose_backend]).
    """
    x, y = _checks.paired_samples((x, "x"), (y, "y"))
    k = _checks.check_knn_options(x.shape[0], k, norm=norm, backend=backend, jitter=jitter, key=key,
                       algorithm=algorithm)
    value, stderr, status, copies = _mi(x, y, resolve_jitter(jitter, key), key, k=k,
                                        algorithm=algorithm, norm=norm,
                                        standardize=bool(standardize), backend=backend)
    return make_estimate(value, stderr, status=status, method="ksg", duplicates=copies)


@partial(jax.jit, static_argnames=("k", "norm", "theiler", "standardize", "backend"))
def _cmi(x, y, z, jitter, key, *, k, norm, theiler, standardize, backend):
    k_jitter, k_sub = split_key(key)
    constant = any_constant(x, y)
    copies = duplicate_rows(x, y, z)
    x, y, z = prepare(x, y, z, standardize=standardize, jitter=jitter, key=k_jitter)
    core = partial(ksg_cmi_core, k=k, norm=norm, theiler=theiler)
    value = core(x, y, z, backend=value_backend(backend, x.dtype))
    stderr = subsample_stderr(partial(core, backend=stderr_backend(backend, x.dtype)),
                              (x, y, z), k_sub)
    return constant_or_ties(value, stderr, constant, copies)


@register("conditional_mutual_information", "ksg", test_kwargs={"k": 3},
          bench_kwargs={"k": 4}, min_n=4)
def conditional_mutual_information(x, y, z, *, k: int = 4, norm: str = "max",
                                   theiler: int = 0, standardize: bool = True, jitter=None,
                                   key=None, backend: str = "auto") -> Estimate:
    """Frenzel–Pompe (KSG) conditional mutual information I(X;Y|Z), in nats.

    One k-NN search in the full joint space (x, y, z) with the max-norm gives ε_i (self
    excluded); n_xz, n_yz, n_z count the j with distance strictly below ε_i in the
    subspaces (x, z), (y, z) and z:

        Î(X;Y|Z) = ψ(k) − ⟨ψ(n_xz + 1) + ψ(n_yz + 1) − ψ(n_z + 1)⟩

    (Frenzel & Pompe, "Partial mutual information for coupling analysis of multivariate
    time series", PRL 99, 204101, 2007). Never a difference of two MI estimates.

    stderr: half-sample jackknife below n = 20 000, disjoint-subsample m-out-of-n from there
    on ([infoest.knn.subsample_stderr][]).
    A constant x or y gives exactly 0; exact duplicate rows of (x, y, z) give status
    DEGENERATE (``diagnostics["duplicates"]``; see the module docstring).

    Args:
        x, y, z: paired samples ``(n, d_*)``.
        k: neighbour order (static; default 4 as JIDT/IDTxl).
        norm: ``"max"`` (default; the reference) or ``"euclidean"`` inside each variable.
        theiler: Theiler window w (static): samples j with |i − j| ≤ w are excluded from the
            search and the counts (serially dependent data; default 0 = self only).
        standardize, jitter, key, backend: as in
            [`mutual_information`][infoest.knn.mutual_information].

    Cost: O(n² (dx + dy + dz)) brute force; ``backend="auto"`` picks the tree on CPU for
    dx + dy + dz ≤ 4 with ``norm="max"`` (or ≤ 12 at n ≥ 500 000).
    """
    x, y, z = _checks.paired_samples((x, "x"), (y, "y"), (z, "z"))
    k = _checks.check_knn_options(x.shape[0], k, norm=norm, backend=backend, jitter=jitter, key=key,
                       theiler=theiler)
    value, stderr, status, copies = _cmi(x, y, z, resolve_jitter(jitter, key), key, k=k,
                                         norm=norm, theiler=theiler,
                                         standardize=bool(standardize), backend=backend)
    return make_estimate(value, stderr, status=status, method="ksg", duplicates=copies)
