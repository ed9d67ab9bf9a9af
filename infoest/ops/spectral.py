"""Spectra of symmetric PSD matrices and trace functions tr f(A).

Exact path: eigenvalues only (``eigvalsh``; its gradient Σ f'(λ_i) v_i v_iᵀ stays finite for
degenerate spectra, unlike gradients through eigenvectors), clipped at 0, and the Gram /
covariance trick (x xᵀ and xᵀ x share their non-zero spectrum, decompose the smaller).

Which eigensolver runs (host LAPACK or XLA) is decided by one documented rule,
`infoest.ops.host_eigh.eig_backend` (``backend="auto"``), which looks at the devices and
sharding of the data; every solver here takes ``backend=`` to override it.

Fast path: matrix-free, for a symmetric PSD operator given as ``matvec(V) = A @ V`` on blocks
``V: (n, m)``:

1. `top_eigenpairs` — Rayleigh–Ritz on a block Krylov space [Ω, AΩ, …, A^q Ω];
2. `lanczos` — m independent Lanczos runs (one per column) with full
   re-orthogonalisation, optionally restricted to the complement of a deflation basis;
3. `deflated_slq` — tr f(A) ≈ Σ_{top} f(θ_i) + Hutchinson–Lanczos quadrature on the
   deflated rest (stochastic Lanczos quadrature, Ubaru, Chen & Saad, SIAM J. Matrix Anal.
   Appl. 38, 2017; deflation as in Hutch++, Meyer et al., SOSA 2021). Deflating the top of the
   spectrum removes most of the Hutchinson variance when a few eigenvalues dominate; a flat
   remainder is estimated with small variance by Hutchinson itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from jax import Array
from jax.scipy.special import entr

from infoest.ops.host_eigh import eig_backend, eigh, eigvalsh, host_eigh, host_eigvalsh

__all__ = [
    "eig_backend",
    "eigh",
    "eigvalsh",
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


def _inv_sqrt_kept(lam: Array) -> Array:
    """1/√λ for eigenvalues above ``10 · eps · max λ``, 0 for the (numerically zero) rest."""
    keep = lam > jnp.finfo(lam.dtype).eps * 10 * jnp.max(lam)
    return jnp.where(keep, 1.0 / jnp.sqrt(jnp.where(keep, lam, 1.0)), 0.0)


def orthonormalize(a: Array) -> Array:
    """Orthonormal basis of the columns of a tall ``a: (n, b)`` without a tall QR.

    Symmetric orthonormalisation Q = A V Λ^{−1/2} from the small Gram matrix AᵀA = V Λ Vᵀ,
    applied twice (numerically like CholeskyQR2); directions with Λ below ``eps·max Λ`` are
    dropped (returned as zero columns). Cost: two n b² matmuls and two b × b ``eigh``.
    """
    for _ in range(2):
        lam, v = eigh(a.T @ a)
        a = a @ (v * _inv_sqrt_kept(lam)[None, :])
    return a


def eigvalsh_psd(a: Array, *, entrywise: bool = False, backend: str = "auto") -> Array:
    """Eigenvalues (ascending) of a symmetric PSD matrix, symmetrised first.

    Host LAPACK or XLA's ``eigvalsh`` by the rule of `infoest.ops.host_eigh.eig_backend`
    (``backend="auto"``; ``"host"``/``"xla"`` force one). A matrix the solver cannot
    diagonalise gives NaN eigenvalues (callers report `Status.NOT_CONVERGED`).
    Eigenvalues below the rounding level of ``a`` are set to 0: they are
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
    lam = eigvalsh(a, backend)
    level = 1 if entrywise else a.shape[-1]
    tol = level * jnp.finfo(lam.dtype).eps * jnp.max(lam, axis=-1, keepdims=True)
    return jnp.where((lam > tol) | jnp.isnan(lam), lam, 0.0)  # NaN (solver failed) kept


def gram_eigvalsh(z: Array, backend: str = "auto") -> Array:
    """The spectrum of zᵀz (equivalently the non-zero spectrum of z zᵀ), length min(n, d).

    Decomposes the smaller of the d × d covariance and the n × n Gram matrix (static choice
    from the shape): cost O(n d min(n, d) + min(n, d)³).
    """
    n, d = z.shape[-2:]
    zt = jnp.swapaxes(z, -1, -2)
    return eigvalsh_psd(zt @ z if d <= n else z @ zt, backend=backend)


def _zero_or_nan(x: Array) -> Array:
    """0, or NaN where ``x`` is NaN (a failed eigenvalue must not turn into a number)."""
    return jnp.where(jnp.isnan(x), x, jnp.zeros((), x.dtype))


def safe_log(x: Array) -> Array:
    """log x for x > 0, 0 for x ≤ 0 and NaN for NaN, with finite gradients elsewhere."""
    pos = x > 0
    return jnp.where(pos, jnp.log(jnp.where(pos, x, 1.0)), _zero_or_nan(x))


def safe_pow(x: Array, t) -> Array:
    """x^t for x > 0, 0 for x ≤ 0 and NaN for NaN (t > 0 may be traced), with finite
    gradients elsewhere."""
    pos = x > 0
    return jnp.where(pos, jnp.exp(t * safe_log(x)), _zero_or_nan(x))


def spectrum_entropy(lam: Array, alpha=1.0) -> Array:
    """Rényi-α entropy (nats) of the normalised spectrum p = λ / Σ λ (last axis).

    S_α = log(Σ p_i^α) / (1 − α) for α ≠ 1 and the von Neumann limit S_1 = −Σ p_i log p_i.
    Negative eigenvalues are clipped to 0 and 0 log 0 = 0 (``entr``), with gradients that
    stay finite at zero eigenvalues (their derivative is set to 0). ``alpha`` may be traced.
    A NaN eigenvalue (the eigensolver did not converge) makes the entropy NaN, never a
    finite number, so callers report `Status.NOT_CONVERGED` / `Status.NONFINITE_RESULT`.
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
    failed = jnp.any(jnp.isnan(lam), axis=-1)
    return jnp.where(failed, jnp.nan, jnp.where(is_one, vn, renyi))


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
    theta, u = eigh(t)
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
    lam, v = eigh(0.5 * (core + core.T))
    b = y @ (v * _inv_sqrt_kept(lam)[None, :])  # Â = B Bᵀ
    theta, u = eigh(b.T @ b)  # eigenvalues θ = s², vectors B u / s
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
    return_basis: bool = False,
) -> tuple[Array, ...]:
    """Estimate tr f(A) for several ``fns`` (each with f(0) = 0) of a symmetric PSD operator.

    ``known: (n, j)`` orthonormal eigenvectors with eigenvalues ``known_values`` are deflated
    exactly; the next ``rank`` eigenpairs come from `top_eigenpairs` on a block of
    ``rank + oversample`` vectors; the rest is Hutchinson (``probes`` Rademacher vectors) with
    ``steps``-point Lanczos quadrature on the complement.

    Returns ``(per_probe, top)``: ``per_probe: (probes, len(fns))`` are independent unbiased
    (up to quadrature) estimates of the traces (exact top part included in each), and ``top``
    the deflated eigenvalues (known first); with ``return_basis`` also their eigenvectors
    ``(n, j + rank)``. Cost: power_iters + 1 products with blocks of
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
    if return_basis:
        return exact[None, :] + rest, top, basis
    return exact[None, :] + rest, top
