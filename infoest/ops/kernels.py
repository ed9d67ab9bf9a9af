"""Affinities over samples, bandwidth rules and diffusion-operator normalisation.

Samples lie on axis 0 (``x: (n, d)``). Every function is pure and ``jit``/``vmap``/``grad``
ready; bandwidths are traced arrays, so sweeping σ never recompiles.

- Gaussian affinity      G_ij = exp(−‖x_i − x_j‖² / (2σ²))   (squared distances only: no sqrt,
  so gradients stay finite for duplicated rows)
- squared distances by direct differences Σ_k (x_ik − y_jk)², in row blocks: the expanded
  form ‖x‖² + ‖y‖² − 2 x·y loses the small distances of points far from the origin in
  float32 (tight clusters far apart: relative error ~ eps · ‖x‖² / ‖x − y‖²)
- symmetric normalisation K = W^{−1/2} G W^{−1/2}, W = diag(G 1): similar to the random-walk
  diffusion operator P = W^{−1} G (same real spectrum, λ_max = 1 with eigenvector ∝ √(G 1))
- a matrix-free, row-blocked product ``K @ V`` that never stores the n × n matrix.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import Array
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

__all__ = [
    "BANDWIDTH_RULES",
    "sq_distances",
    "gaussian_affinity",
    "linear_gram",
    "label_gram",
    "median_bandwidth",
    "bandwidth",
    "symmetric_normalize",
    "weighted_diffusion",
    "diffusion_matvec",
    "row_sharding",
    "sharded_diffusion_matvec",
]

BANDWIDTH_RULES = ("median", "sqrt_dim")


#: Elements of one (rows, m, d) difference block (16 MiB in float32).
_BLOCK_ELEMENTS = 1 << 22


def sq_distances(x: Array, y: Array | None = None) -> Array:
    """Squared Euclidean distances ‖x_i − y_j‖², shape ``(n, m)``, by direct differences.

    Σ_k (x_ik − y_jk)² is exact to rounding for every pair, however far the points lie from
    the origin, and translation invariant; the expanded ‖x‖² + ‖y‖² − 2 x·y is faster (one
    matmul) but its absolute error ~ eps · (‖x‖² + ‖y‖²) swamps small distances. Computed in
    row blocks of at most 2²² difference elements, so memory stays O(n m).
    """
    y = x if y is None else y

    def rows(xb: Array, _valid=None) -> Array:
        return jnp.sum(jnp.square(xb[:, None, :] - y[None, :, :]), axis=-1)

    n, m, d = x.shape[0], y.shape[0], max(x.shape[1], 1)
    block = max(1, _BLOCK_ELEMENTS // (m * d))
    if n <= block:
        return rows(x)
    return _blocked(x, block, rows)


def gaussian_affinity(x: Array, sigma, y: Array | None = None) -> Array:
    """Gaussian affinity exp(−‖x_i − y_j‖² / (2σ²)); unit diagonal when ``y`` is None.

    Distances are taken between the points divided by σ, ‖x_i/σ − y_j/σ‖² / 2, so that
    neither a huge nor a tiny data scale overflows: ×1e30 data at σ = 1 give the
    isolated-points kernel I (distances inf, affinities 0), ×1e−30 data the all-ones kernel.
    """
    sigma = jnp.asarray(sigma, dtype=x.dtype)
    xs = x / sigma
    g = jnp.exp(-0.5 * sq_distances(xs, None if y is None else y / sigma))
    if y is None:  # exact unit diagonal
        g = jnp.fill_diagonal(g, 1.0, inplace=False)
    return g


def _safe_unit_rows(x: Array) -> Array:
    """Rows scaled to unit L2 norm; zero rows stay zero (gradient finite).

    Each row is first divided by its largest absolute entry, so rows at 1e±30 in float32
    neither overflow nor underflow in the squared norm.
    """
    # the result does not depend on the scale factor: no derivative through the max
    peak = jax.lax.stop_gradient(jnp.max(jnp.abs(x), axis=1, keepdims=True))
    x = x / jnp.where(peak > 0, peak, 1.0)
    sq = jnp.sum(x * x, axis=1, keepdims=True)
    pos = sq > 0
    return jnp.where(pos, x / jnp.sqrt(jnp.where(pos, sq, 1.0)), 0.0)


unit_rows = _safe_unit_rows


def linear_gram(x: Array, *, unit_diagonal: bool = True) -> Array:
    """Linear Gram matrix x xᵀ; with ``unit_diagonal`` the cosine kernel (rows L2-normalised)."""
    if unit_diagonal:
        x = _safe_unit_rows(x)
    return x @ x.T


def label_gram(labels: Array, dtype=jnp.float32) -> Array:
    """Label kernel K_ij = 1[y_i = y_j] of integer labels ``(n,)``."""
    labels = jnp.ravel(labels)
    return (labels[:, None] == labels[None, :]).astype(dtype)


def _kth_smallest(v: Array, k: int) -> Array:
    """The k-th smallest (0-based) of the non-negative ``v``, exactly, in O(len(v) · bits).

    Bisection on the float's bit pattern (non-negative floats order like their bits as
    integers): 32 (64 under x64) counting passes instead of a sort, 8x faster than
    ``jnp.median`` on the 45 000 pair distances of n = 300 on CPU. The value is then taken
    from ``v`` itself (the smallest element at or above the found bits), so the gradient
    reaches that element as it does through a sort.
    """
    itype = jnp.int64 if v.dtype == jnp.float64 else jnp.int32
    bits = jax.lax.bitcast_convert_type(jax.lax.stop_gradient(v), itype)

    def halve(_, lohi):
        lo, hi = lohi
        mid = lo + (hi - lo) // 2
        more = jnp.sum(bits <= mid) > k
        return jnp.where(more, lo, mid + 1), jnp.where(more, mid, hi)

    top = jnp.max(bits)
    lo, _ = jax.lax.fori_loop(0, 8 * v.dtype.itemsize, halve, (jnp.zeros((), itype), top))
    return jnp.min(jnp.where(bits >= lo, v, jnp.inf))


def _median(v: Array) -> Array:
    """Median of the non-negative 1-D ``v`` (mean of the two middle values for even length;
    NaN if any element is NaN), like ``jnp.median``, by `_kth_smallest`."""
    m = v.shape[0]
    if m == 0:
        return jnp.asarray(jnp.nan, v.dtype)
    med = 0.5 * (_kth_smallest(v, (m - 1) // 2) + _kth_smallest(v, m // 2))
    return jnp.where(jnp.any(jnp.isnan(v)), jnp.nan, med)


def median_bandwidth(x: Array, *, max_points: int = 1000) -> Array:
    """Median heuristic σ = √(median_{i<j} ‖x_i − x_j‖² / 2).

    Over all pairs when n ≤ ``max_points``; otherwise over the pairs of ``max_points`` evenly
    strided rows (deterministic). With this σ the median pair has affinity e^{−1}, and the
    resulting estimates are invariant to rescaling the data (computed on x / max|x|, so data
    at 1e±30 neither overflow nor underflow). When the median distance is 0 (e.g. constant
    data) σ = 1.
    """
    n = x.shape[0]
    stride = max(1, -(-n // max_points))
    xs = x[::stride]
    m = xs.shape[0]
    peak = jax.lax.stop_gradient(jnp.max(jnp.abs(xs)))  # σ is 1-homogeneous: exact
    scale = jnp.where(peak > 0, peak, 1.0)
    iu = jnp.triu_indices(m, k=1)
    med = _median(jnp.maximum(sq_distances(xs / scale)[iu], 0.0))
    # All-equal points (median 0): any σ gives the all-ones kernel; use 1 to stay finite.
    return jnp.where(med > 0, scale * jnp.sqrt(jnp.where(med > 0, med, 2.0) / 2.0), 1.0)


def bandwidth(x: Array, sigma) -> Array:
    """Resolve a bandwidth: a positive number (absolute, data units) or a rule name.

    Rules: ``"median"`` (`median_bandwidth`, scale-invariant) and ``"sqrt_dim"``
    (σ = √d, the paper's choice for standardised features).
    """
    if isinstance(sigma, str):
        if sigma == "median":
            return median_bandwidth(x)
        if sigma == "sqrt_dim":
            return jnp.sqrt(jnp.asarray(x.shape[1], dtype=x.dtype))
        valid = ", ".join(repr(r) for r in BANDWIDTH_RULES)
        raise ValueError(f"unknown `sigma`={sigma!r}; give a positive number or one of {valid}")
    return jnp.asarray(sigma, dtype=x.dtype)


def check_sigma(sigma) -> None:
    """Validate a bandwidth argument before any work (concrete numbers must be > 0)."""
    if isinstance(sigma, str):
        if sigma not in BANDWIDTH_RULES:
            valid = ", ".join(repr(r) for r in BANDWIDTH_RULES)
            raise ValueError(f"unknown `sigma`={sigma!r}; give a positive number or one of {valid}")
        return
    if jnp.ndim(sigma) != 0:
        raise ValueError(f"`sigma` must be a scalar, got shape {jnp.shape(sigma)}")
    if not isinstance(sigma, jax.core.Tracer) and not float(sigma) > 0:
        raise ValueError(f"`sigma` must be > 0, got {float(sigma)}")


def symmetric_normalize(g: Array, mask: Array | None = None) -> tuple[Array, Array]:
    """K = W^{−1/2} G W^{−1/2} with W = diag(G 1); returns ``(K, degrees)``.

    With a boolean ``mask`` the rows/columns outside it are removed (set to 0), so K restricted
    to the mask is the operator of the sub-sample; masked rows contribute zero eigenvalues.
    """
    if mask is not None:
        m = mask.astype(g.dtype)
        g = g * m[:, None] * m[None, :]
    deg = jnp.sum(g, axis=1)
    pos = deg > 0
    inv_sqrt = jnp.where(pos, 1.0 / jnp.sqrt(jnp.where(pos, deg, 1.0)), 0.0)
    return g * inv_sqrt[:, None] * inv_sqrt[None, :], deg


def weighted_diffusion(g: Array, w: Array) -> Array:
    """Symmetric diffusion operator of a weighted sample: M = S G S, S = diag(√(w / (G w))).

    M is similar to the random-walk operator D⁻¹ G W (D = diag(G w), W = diag(w)) of the
    empirical measure Σ_j w_j δ_{x_j}; it is invariant to rescaling ``w``. ``w`` ∝ 1 gives
    K = W^{−1/2} G W^{−1/2} of `symmetric_normalize`; a 0/1 ``w`` the operator of that
    sub-sample (removed rows and columns are 0). Differentiable in ``w`` (removed samples get
    a zero derivative), which the influence-function standard errors use.
    """
    deg = g @ w
    pos = (w > 0) & (deg > 0)  # removed rows: no division (their degree may underflow)
    ratio = jnp.where(pos, w, 1.0) / jnp.where(pos, deg, 1.0)
    s = jnp.where(pos, jnp.sqrt(ratio), 0.0)
    return s[:, None] * g * s[None, :]


def _blocked(x: Array, block_size: int, fn: Callable[[Array, Array], Array]) -> Array:
    """Apply ``fn(row_block, rows_valid)`` over row blocks of ``x`` and stack the results."""
    n = x.shape[0]
    nb = -(-n // block_size)
    pad = nb * block_size - n
    xp = jnp.pad(x, ((0, pad), (0, 0)))
    valid = jnp.arange(nb * block_size) < n
    out = jax.lax.map(
        lambda a: fn(*a),
        (xp.reshape(nb, block_size, -1), valid.reshape(nb, block_size)),
    )
    return out.reshape(nb * block_size, *out.shape[2:])[:n]


#: Up to this dimension `affinity_rows` adds the squared differences one coordinate at a time.
_UNROLL_MAX_D = 64


def affinity_rows(xb: Array, x_t: Array) -> Array:
    """Rows exp(−½‖xb_i − x_j‖²) of a Gaussian affinity: a block ``xb: (b, d)`` against all
    points, given transposed as ``x_t: (d, n)``, by direct differences (`sq_distances`).

    For d ≤ 64 the squared differences are summed one coordinate at a time on (b, n) arrays
    (vectorised along n, one fused pass) rather than reduced over the last axis of a
    (b, n, d) difference array: same differences, ≈ 6× less CPU time at n = 10⁵, d = 16
    (docs/sharding.md, DSE).
    """
    if x_t.shape[0] > _UNROLL_MAX_D:
        return jnp.exp(-0.5 * jnp.sum(jnp.square(xb[:, None, :] - x_t.T[None, :, :]), axis=-1))
    acc = jnp.zeros((xb.shape[0], x_t.shape[1]), xb.dtype)
    for c in range(x_t.shape[0]):
        acc = acc + jnp.square(xb[:, c, None] - x_t[c][None, :])
    return jnp.exp(-0.5 * acc)


def diffusion_matvec(
    x: Array, sigma, *, block_size: int = 512
) -> tuple[Callable[[Array], Array], Array]:
    """Matrix-free product with the symmetric diffusion operator K of a Gaussian affinity.

    Returns ``(matvec, degrees)``: ``matvec(V)`` computes ``K @ V`` for ``V: (n, m)`` by
    recomputing ``block_size`` rows of G at a time, so memory is O(block_size · n + n m),
    never O(n²); cost per product O(n² (d + m)). Distances are direct differences (see
    `sq_distances`). Multiply many vectors at once to amortise
    the kernel evaluation.
    """
    xs = x / jnp.asarray(sigma, dtype=x.dtype)
    xs_t = xs.T

    def rows(xb: Array) -> Array:  # rows of G, distances by direct differences
        return affinity_rows(xb, xs_t)

    x = xs
    ones = jnp.ones((x.shape[0], 1), x.dtype)
    deg = _blocked(x, block_size, lambda xb, ok: rows(xb) @ ones)[:, 0]
    inv_sqrt = 1.0 / jnp.sqrt(deg)

    def matvec(v: Array) -> Array:
        w = v * inv_sqrt[:, None]
        out = _blocked(x, block_size, lambda xb, ok: rows(xb) @ w)
        return out * inv_sqrt[:, None]

    return matvec, deg


def row_sharding(x) -> tuple[Mesh, str | tuple] | None:
    """``(mesh, axis)`` when concrete ``x`` is sharded over more than one device along its
    rows (``NamedSharding(mesh, P(axis, ...))``) and n divides evenly; None otherwise.

    The mesh returned has the same devices and axis names with every axis of type Auto, so
    that the solvers built on it compile with sharding propagation (no explicit
    ``out_sharding`` on every product); place ``x`` on it with `jax.device_put` (no copy).
    """
    if isinstance(x, jax.core.Tracer) or not isinstance(x, jax.Array):
        return None
    sharding = x.sharding
    if not isinstance(sharding, NamedSharding) or len(sharding.device_set) < 2:
        return None
    spec = tuple(sharding.spec) + (None,)
    axis = spec[0]
    if axis is None:
        return None
    names = axis if isinstance(axis, tuple) else (axis,)
    parts = 1
    for name in names:
        parts *= sharding.mesh.shape[name]
    if parts < 2 or x.shape[0] % parts:
        return None
    mesh = sharding.mesh
    auto = Mesh(mesh.devices, mesh.axis_names,
                axis_types=(jax.sharding.AxisType.Auto,) * len(mesh.axis_names))
    return auto, axis


def sharded_diffusion_matvec(
    x: Array, sigma, mesh: Mesh, axis, *, block_size: int = 512
) -> tuple[Callable[[Array], Array], Array]:
    """`diffusion_matvec` with the rows of ``x`` sharded over ``axis`` of ``mesh``.

    Each device holds n/p rows of x and computes the same rows of G V, block by block,
    against all n points (gathered once: O(n d)); products ``K @ V`` come back row-sharded
    and the Lanczos inner products over rows become all-reduces. Memory per device
    O(n/p · block_size + n (d + m)), never n × n; each device does 1/p of the O(n² d) work.
    """
    rows_spec = P(axis)
    on_rows = NamedSharding(mesh, rows_spec)
    explicit = all(kind == jax.sharding.AxisType.Explicit for kind in mesh.axis_types)

    def place(a):  # rows over `axis`: reshard (explicit mesh) or a constraint (auto mesh)
        if explicit:
            return jax.sharding.reshard(a, on_rows)
        return jax.lax.with_sharding_constraint(a, on_rows)

    xs = place(x / jnp.asarray(sigma, dtype=x.dtype))

    def local(x_rows, v_rows):
        x_all = jax.lax.all_gather(x_rows, axis, tiled=True)
        v = jax.lax.all_gather(v_rows, axis, tiled=True)
        block = min(block_size, x_rows.shape[0])
        x_t = x_all.T

        def rows(xb, _valid):
            return affinity_rows(xb, x_t) @ v

        return _blocked(x_rows, block, rows)

    shard_product = jax.shard_map(local, mesh=mesh, in_specs=(rows_spec, rows_spec),
                                  out_specs=rows_spec)

    def product(v):
        return shard_product(xs, place(v))

    ones = jnp.ones((x.shape[0], 1), x.dtype)
    deg = product(ones)[:, 0]
    inv_sqrt = 1.0 / jnp.sqrt(deg)

    def matvec(v: Array) -> Array:
        return product(v * inv_sqrt[:, None]) * inv_sqrt[:, None]

    return matvec, deg
