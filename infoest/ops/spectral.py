"""Spectra of symmetric PSD matrices and trace functions tr f(A).

Exact path: eigenvalues only (``eigvalsh``; its gradient Σ f'(λ_i) v_i v_iᵀ stays finite for
degenerate spectra, unlike gradients through eigenvectors), clipped at 0, and the Gram /
covariance trick (x xᵀ and xᵀ x share their non-zero spectrum, decompose the smaller).

Fast path: matrix-free, for a symmetric PSD operator given as ``matvec(V) = A @ V`` on blocks
``V: (n, m)``:

1. [`top_eigenpairs`][infoest.ops.spectral.top_eigenpairs] — Rayleigh–Ritz on a block Krylov space
[Ω, AΩ, …, A^q Ω];
2. [`lanczos`][infoest.ops.spectral.lanczos] — m independent Lanczos runs (one per column) with full
   re-orthogonalisation, optionally restricted to the complement of a deflation basis;
3. [`deflated_slq`][infoest.ops.spectral.deflated_slq] — tr f(A) ≈ Σ_{top} f(θ_i) +
Hutchinson–Lanczos quadrature on the
   deflated rest (stochastic Lanczos quadrature, Ubaru, Chen & Saad, SIAM J. Matrix Anal.
   Appl. 38, 2017; deflation as in Hutch++, Meyer et al., SOSA 2021). Deflating the top of the
   spectrum removes most of the Hutchinson variance when a few eigenvalues dominate; a flat
   remainder is estimated with small variance by Hutchinson itself.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
from collections.abc import Callable, Sequence
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.scipy.special import entr

__all__ = [
    "host_eigh",
    "orthonormalize",
    "host_eigvalsh",
    "eigvalsh_psd",
    "gram_eigvalsh",
    "safe_log",
    "safe_pow",
    "spectrum_entropy",
    "frobenius_renyi2",
    "lanczos",
    "gauss_quadrature",
    "top_eigenpairs",
    "deflated_slq",
]


_BLAS = None


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


def _np_eigh(a):
    with _one_blas_thread():
        w, v = np.linalg.eigh(np.asarray(a, dtype=np.float64))
    return w.astype(np.float32), v.astype(np.float32)


def host_eigh(a: Array) -> tuple[Array, Array]:
    """Eigen-decomposition of small symmetric matrices (batched) by LAPACK on the host.

    XLA's CPU ``eigh``/``qr`` are one to two orders of magnitude slower than LAPACK for the
    few-hundred-sized dense problems of the Lanczos solvers, so these run through
    ``jax.pure_callback`` (works under ``jit``/``vmap``; not differentiable, and a host round
    trip on accelerators), single-threaded. Computed in float64, returned through float32
    (the callback thread does not see a ``jax.enable_x64`` context), then cast to
    ``a.dtype``: ample for the stochastic solvers that use it.
    """
    f32 = jnp.float32
    shapes = (jax.ShapeDtypeStruct(a.shape[:-1], f32), jax.ShapeDtypeStruct(a.shape, f32))
    w, v = jax.pure_callback(_np_eigh, shapes, a, vmap_method="sequential")
    return w.astype(a.dtype), v.astype(a.dtype)


def _inv_sqrt_kept(lam: Array) -> Array:
    """1/√λ for eigenvalues above ``10 · eps · max λ``, 0 for the (numerically zero) rest."""
    keep = lam > jnp.finfo(lam.dtype).eps * 10 * jnp.max(lam)
    return jnp.where(keep, 1.0 / jnp.sqrt(jnp.where(keep, lam, 1.0)), 0.0)


def orthonormalize(a: Array) -> Array:
    """Orthonormal basis of the columns of a tall ``a: (n, b)`` without a tall QR.

    Symmetric orthonormalisation Q = A V Λ^{−1/2} from the small Gram matrix AᵀA = V Λ Vᵀ,
    applied twice (numerically like CholeskyQR2); directions with Λ below ``eps·max Λ`` are
    dropped (returned as zero columns). Cost: two n b² matmuls and two b × b ``host_eigh``.
    """
    for _ in range(2):
        lam, v = host_eigh(a.T @ a)
        a = a @ (v * _inv_sqrt_kept(lam)[None, :])
    return a


_POOL = None


def _np_eigvalsh(bits, *, vectors: bool, dtype):
    """LAPACK ``eigvalsh``/``eigh`` of a stack of symmetric matrices on the host, float64.

    Arrays cross the callback boundary as raw ``uint32`` words (see `_host_eig`).
    Stacks are spread over a thread pool (one LAPACK thread per matrix, one worker per core);
    a single matrix of size ≤ 1024 also runs single-threaded (see `_one_blas_thread`).
    """
    global _POOL
    a = np.ascontiguousarray(bits).view(dtype)[..., 0]  # (..., m, m, words) -> (..., m, m)
    flat = a.astype(np.float64).reshape(-1, *a.shape[-2:])
    solve = np.linalg.eigh if vectors else np.linalg.eigvalsh
    if len(flat) == 1 and a.shape[-1] > 1024:
        out = [solve(flat[0])]
    else:
        with _one_blas_thread():
            if len(flat) == 1:
                out = [solve(flat[0])]
            else:
                if _POOL is None:
                    _POOL = concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1)
                out = list(_POOL.map(solve, flat))

    def words(x):
        return np.ascontiguousarray(x.astype(dtype)).view(np.uint32).reshape(
            *x.shape, -1)

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
    fn = partial(_np_eigvalsh, vectors=vectors, dtype=dtype)
    out = jax.pure_callback(fn, shape, bits, vmap_method="expand_dims")

    def back(x):
        return jax.lax.bitcast_convert_type(x[..., 0] if words == 1 else x, a.dtype)

    return tuple(back(x) for x in out) if vectors else back(out)


@jax.custom_jvp
def host_eigvalsh(a: Array) -> Array:
    """Eigenvalues (ascending) of symmetric ``a: (..., m, m)`` by host LAPACK, differentiable.

    A ``jax.pure_callback`` (``jit``/``vmap`` ready; a ``vmap`` batch reaches LAPACK as one
    stack, solved in parallel across cores). The JVP is the eigenvalue perturbation formula
    dλ_i = v_iᵀ dA v_i, with the eigenvectors from a second host call (first derivatives only;
    finite also for degenerate spectra). Computed in float64, returned in ``a.dtype``. On CPU
    this is 1.5-10x faster than XLA's ``eigh`` for m in the hundreds to thousands.
    """
    return _host_eig(a, False)


@host_eigvalsh.defjvp
def _host_eigvalsh_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    w, v = _host_eig(a, True)
    return w, jnp.einsum("...ji,...jk,...ki->...i", v, da, v)


def eigvalsh_psd(a: Array, *, entrywise: bool = False) -> Array:
    """Eigenvalues (ascending) of a symmetric PSD matrix, symmetrised first.

    On CPU through LAPACK on the host ([`host_eigvalsh`][infoest.ops.spectral.host_eigvalsh]), on
    accelerators XLA's
    ``eigvalsh``. Eigenvalues below the rounding level of ``a`` are set to 0: they are
    numerical noise, and Rényi entropies with α < 1 would otherwise amplify them.

    The rounding level depends on how ``a`` was formed. A Gram or covariance matrix formed by
    a matmul (default) carries noise up to about ``m · eps · λ_max`` (m the matrix size) on
    the zero eigenvalues of rank-deficient data. A matrix whose entries were each computed
    directly (``entrywise=True``: Gaussian kernels, diffusion operators, their Hadamard
    products) is full rank with a long tail of small but real eigenvalues and rounding noise
    below ``eps · λ_max``, which is the threshold used then. (The ``m · eps`` level on a
    diffusion operator drops real eigenvalues: measured −11 % DSE in float32 at n = 1 500,
    d = 256, σ = 10.)
    """
    a = 0.5 * (a + jnp.swapaxes(a, -1, -2))
    lam = host_eigvalsh(a) if jax.default_backend() == "cpu" else jnp.linalg.eigvalsh(a)
    level = 1 if entrywise else a.shape[-1]
    tol = level * jnp.finfo(lam.dtype).eps * jnp.max(lam, axis=-1, keepdims=True)
    return jnp.where(lam > tol, lam, 0.0)


def gram_eigvalsh(z: Array) -> Array:
    """The spectrum of zᵀz (equivalently the non-zero spectrum of z zᵀ), length min(n, d).

    Decomposes the smaller of the d × d covariance and the n × n Gram matrix (static choice
    from the shape): cost O(n d min(n, d) + min(n, d)³).
    """
    n, d = z.shape[-2:]
    zt = jnp.swapaxes(z, -1, -2)
    return eigvalsh_psd(zt @ z if d <= n else z @ zt)


def safe_log(x: Array) -> Array:
    """log x for x > 0 and 0 elsewhere, with finite gradients everywhere."""
    pos = x > 0
    return jnp.where(pos, jnp.log(jnp.where(pos, x, 1.0)), 0.0)


def safe_pow(x: Array, t) -> Array:
    """x^t for x > 0 and 0 elsewhere (t > 0 may be traced), with finite gradients."""
    pos = x > 0
    return jnp.where(pos, jnp.exp(t * safe_log(x)), 0.0)


def spectrum_entropy(lam: Array, alpha=1.0) -> Array:
    """Rényi-α entropy (nats) of the normalised spectrum p = λ / Σ λ (last axis).

    S_α = log(Σ p_i^α) / (1 − α) for α ≠ 1 and the von Neumann limit S_1 = −Σ p_i log p_i.
    Negative eigenvalues are clipped to 0 and 0 log 0 = 0 (``entr``), with gradients that
    stay finite at zero eigenvalues (their derivative is set to 0). ``alpha`` may be traced.
    """
    lam = jnp.maximum(lam, 0.0)
    total = jnp.sum(lam, axis=-1, keepdims=True)
    p = lam / jnp.where(total > 0, total, 1.0)
    pos = p > 0
    vn = jnp.sum(jnp.where(pos, entr(jnp.where(pos, p, 1.0)), 0.0), axis=-1)
    alpha = jnp.asarray(alpha, dtype=p.dtype)
    is_one = alpha == 1.0
    a = jnp.where(is_one, 2.0, alpha)
    renyi = jnp.log(jnp.sum(safe_pow(p, a), axis=-1)) / (1.0 - a)
    return jnp.where(is_one, vn, renyi)


def frobenius_renyi2(a: Array) -> Array:
    """Rényi-2 entropy −log(tr(A²) / tr(A)²) of a symmetric PSD matrix without eigenvalues.

    tr(A²) = ‖A‖_F², so the cost is O(n²) and the gradient is cheap and always finite.
    """
    tr = jnp.trace(a, axis1=-2, axis2=-1)
    return -jnp.log(jnp.sum(a * a, axis=(-2, -1)) / tr**2)


def _project(w: Array, basis: Array | None) -> Array:
    if basis is None:
        return w
    return w - basis @ (basis.T @ w)


def lanczos(
    matvec: Callable[[Array], Array], v0: Array, steps: int, *, deflate: Array | None = None
) -> tuple[Array, Array]:
    """``m`` independent Lanczos runs, one per column of ``v0: (n, m)``, all sharing each
    ``matvec`` call. Full re-orthogonalisation (classical Gram–Schmidt against all previous
    vectors); with an orthonormal ``deflate: (n, k)`` the runs stay in its orthogonal
    complement (the operator seen is P A P, P = I − deflate deflateᵀ).

    Returns the tridiagonal coefficients ``alpha: (m, steps)`` and ``beta: (m, steps − 1)``.
    A run whose Krylov space is exhausted continues with zero vectors (zero weight).
    """
    n, m = v0.shape
    v = _project(v0, deflate)
    nrm = jnp.linalg.norm(v, axis=0)
    v = v / jnp.where(nrm > 0, nrm, 1.0)
    basis = jnp.zeros((steps, n, m), v0.dtype).at[0].set(v)

    def body(i, carry):
        basis, alpha, beta = carry
        v = basis[i]
        w = matvec(v)
        a = jnp.sum(w * v, axis=0)  # v ⟂ deflate, so vᵀ A v = vᵀ P A P v
        # rows > i of ``basis`` are still zero, so projecting on all of it is exact; the
        # basis lies in range(P), so the deflation projection commutes and is applied once
        w = w - jnp.einsum("snm,sm->nm", basis, jnp.einsum("snm,nm->sm", basis, w))
        w = _project(w, deflate)
        b = jnp.linalg.norm(w, axis=0)
        ok = b > jnp.finfo(w.dtype).tiny
        nxt = jnp.where(ok, w / jnp.where(ok, b, 1.0), 0.0)
        basis = basis.at[i + 1].set(nxt, mode="drop")
        return basis, alpha.at[:, i].set(a), beta.at[:, i].set(b, mode="drop")

    zeros = jnp.zeros((m, steps), v0.dtype)
    _, alpha, beta = jax.lax.fori_loop(0, steps, body, (basis, zeros, zeros[:, :-1]))
    return alpha, beta


def gauss_quadrature(alpha: Array, beta: Array) -> tuple[Array, Array]:
    """Nodes and weights of the Gauss quadrature of Lanczos tridiagonals (batched).

    For a unit start vector v, vᵀ f(A) v ≈ Σ_j w_j f(θ_j) with θ the eigenvalues of T and w the
    squared first components of its eigenvectors.
    """
    t = (
        jax.vmap(jnp.diag)(alpha)
        + jax.vmap(lambda b: jnp.diag(b, 1))(beta)
        + jax.vmap(lambda b: jnp.diag(b, -1))(beta)
    )
    theta, u = host_eigh(t)
    return theta, u[:, 0, :] ** 2


def top_eigenpairs(
    matvec: Callable[[Array], Array],
    omega: Array,
    power_iters: int,
    *,
    deflate: Array | None = None,
) -> tuple[Array, Array]:
    """Approximate top eigenpairs (descending) of a symmetric PSD operator A by randomised
    subspace iteration with a Nyström finish (Halko, Martinsson & Tropp, SIAM Rev. 53, 2011,
    §5.4–5.5; Tropp, Yurtsever, Udell & Cevher, SIMAX 38, 2017), on the complement of
    ``deflate``.

    Q = orth(A^q Ω) (``q = power_iters`` ≥ 0, re-orthonormalised after every product; Q = Ω
    for q = 0), then
    Y = A Q and the Nyström approximation Â = Y (QᵀY)^{−1} Yᵀ ≼ A, whose eigenpairs are
    formed from QᵀY and YᵀY without another product. Â equals the Rayleigh–Ritz projection of
    A onto span(A^{1/2} Q), half a power step beyond Q, so q + 1 products give the accuracy
    of q + ½ subspace iterations. The top pairs converge first, with error
    ∝ (λ_{b+1} / λ_i)^{2q+1}; keep only the leading part. Returns ``(theta, vectors)``;
    directions of numerically zero weight come back as zero columns with θ = 0.
    """
    q = _project(omega, deflate)  # Nyström needs no orthonormal test matrix
    for _ in range(power_iters):
        q = orthonormalize(_project(matvec(q), deflate))
    y = _project(matvec(q), deflate)
    core = q.T @ y
    lam, v = host_eigh(0.5 * (core + core.T))
    b = y @ (v * _inv_sqrt_kept(lam)[None, :])  # Â = B Bᵀ
    theta, u = host_eigh(b.T @ b)  # eigenvalues θ = s², vectors B u / s
    inv_s = _inv_sqrt_kept(theta)
    theta = jnp.where(inv_s > 0, theta, 0.0)
    return theta[::-1], (b @ (u * inv_s[None, :]))[:, ::-1]


def deflated_slq(
    matvec: Callable[[Array], Array],
    fns: Sequence[Callable[[Array], Array]],
    key: Array,
    *,
    n: int,
    dtype,
    rank: int,
    probes: int,
    steps: int,
    power_iters: int = 2,
    oversample: int = 16,
    known: Array | None = None,
    known_values: Array | None = None,
) -> tuple[Array, Array]:
    """Estimate tr f(A) for several ``fns`` (each with f(0) = 0) of a symmetric PSD operator.

    ``known: (n, j)`` orthonormal eigenvectors with eigenvalues ``known_values`` are deflated
    exactly; the next ``rank`` eigenpairs come from
    [`top_eigenpairs`][infoest.ops.spectral.top_eigenpairs] on a block of
    ``rank + oversample`` vectors; the rest is Hutchinson (``probes`` Rademacher vectors) with
    ``steps``-point Lanczos quadrature on the complement.

    Returns ``(per_probe, top)``: ``per_probe: (probes, len(fns))`` are independent unbiased
    (up to quadrature) estimates of the traces (exact top part included in each), and ``top``
    the deflated eigenvalues (known first). Cost: power_iters + 1 products with blocks of
    ``rank + oversample`` vectors and ``steps`` products with blocks of ``probes`` vectors.
    """
    k_omega, k_probe = jax.random.split(key)
    top_vals = [] if known is None else [known_values]
    basis = known
    if rank > 0:
        omega = jax.random.normal(k_omega, (n, rank + oversample), dtype)
        theta, vecs = top_eigenpairs(matvec, omega, power_iters, deflate=basis)
        theta, vecs = jnp.maximum(theta[:rank], 0.0), vecs[:, :rank]
        top_vals.append(theta)
        basis = vecs if basis is None else jnp.concatenate([basis, vecs], axis=1)
    top = jnp.concatenate(top_vals) if top_vals else jnp.zeros((0,), dtype)
    exact = jnp.stack([jnp.sum(f(top)) for f in fns])

    z = jax.random.rademacher(k_probe, (n, probes), dtype)
    z = _project(z, basis)
    alpha, beta = lanczos(matvec, z, steps, deflate=basis)
    theta, w = gauss_quadrature(alpha, beta)
    theta = jnp.maximum(theta, 0.0)
    sq = jnp.sum(z * z, axis=0)
    rest = jnp.stack([sq * jnp.sum(w * f(theta), axis=1) for f in fns], axis=1)
    return exact[None, :] + rest, top
