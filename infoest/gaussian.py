"""Gaussian closed forms and their plug-in estimators.

For Z ~ N(μ, Σ) in d dimensions (all values in nats):

- entropy            H(Z)     = ½ log det(2πe Σ)
- mutual information I(X;Y)   = ½ [log det Σ_X + log det Σ_Y − log det Σ_XY]
- conditional MI     I(X;Y|Z) = ½ [log det Σ_XZ + log det Σ_YZ − log det Σ_Z − log det Σ_XYZ]
- total correlation  TC       = Σ_i H(X_i) − H(X)
- dual total corr.   DTC      = H(X) − Σ_i H(X_i | X_−i)
- O-information      Ω        = TC − DTC   (Rosas et al., "Quantifying high-order
  interdependencies via multivariate extensions of the mutual information", PRE 100, 2019)

The ``*_from_cov`` functions are pure functions of a covariance matrix (``jit``/``vmap``/``grad``
ready; log-determinants by ``slogdet``). The sample estimators go through
[`plugin`][infoest.gaussian.plugin]:
signed sums of log-dets of blocks of the sample *correlation* R (overflow-safe; a constant
column is an independent unit-variance column), optionally shrunk towards the identity,
(1 − s) R + s I with ``shrinkage=s`` in [0, 1] (a traced value); the entropy adds the log
sample variances back. One Cholesky factor per block gives the log-det and the per-sample
quadratic forms of the delta-method standard error ([`plugin`][infoest.gaussian.plugin]).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from infoest import _checks
from infoest._estimate import Estimate, Status, make_estimate
from infoest._registry import register
from infoest.ops.special import gaussian_entropy_constant
from infoest.ops.standardize import column_scale, standardize

__all__ = [
    "logdet",
    "entropy_from_cov",
    "mutual_information_from_cov",
    "conditional_mutual_information_from_cov",
    "total_correlation_from_cov",
    "dual_total_correlation_from_cov",
    "o_information_from_cov",
    "sample_covariance",
    "correlation",
    "plugin",
    "cmi_terms",
    "cmi_span",
    "spanned_columns",
    "check_dimension",
    "long_run_variance",
    "newey_west_lags",
    "entropy",
    "mutual_information",
    "conditional_mutual_information",
]


def logdet(cov: Array) -> Array:
    """log det of a symmetric positive-definite matrix (via ``slogdet``)."""
    return jnp.linalg.slogdet(cov)[1]


def _block(cov: Array, idx: np.ndarray) -> Array:
    return cov[np.ix_(idx, idx)]


def entropy_from_cov(cov: Array) -> Array:
    """H = ½ log det(2πe Σ) in nats."""
    d = cov.shape[-1]
    return gaussian_entropy_constant(d) + 0.5 * logdet(cov)


def mutual_information_from_cov(cov: Array, dx: int) -> Array:
    """I(X;Y) for the joint covariance of (X, Y) with X the first ``dx`` coordinates."""
    d = cov.shape[-1]
    ix, iy = np.arange(dx), np.arange(dx, d)
    return 0.5 * (logdet(_block(cov, ix)) + logdet(_block(cov, iy)) - logdet(cov))


def conditional_mutual_information_from_cov(cov: Array, dx: int, dy: int) -> Array:
    """I(X;Y|Z) for the joint covariance of (X, Y, Z), blocks of sizes dx, dy, rest."""
    d = cov.shape[-1]
    ix, iy, iz = np.arange(dx), np.arange(dx, dx + dy), np.arange(dx + dy, d)
    ld_z = logdet(_block(cov, iz)) if iz.size else 0.0
    return 0.5 * (
        logdet(_block(cov, np.concatenate([ix, iz])))
        + logdet(_block(cov, np.concatenate([iy, iz])))
        - ld_z
        - logdet(cov)
    )


def _groups(sizes: Sequence[int] | None, d: int) -> list[np.ndarray]:
    sizes = [1] * d if sizes is None else list(sizes)
    if sum(sizes) != d:
        raise ValueError(f"`sizes` {tuple(sizes)} do not add up to the dimension {d}")
    bounds = np.cumsum([0, *sizes])
    return [np.arange(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def total_correlation_from_cov(cov: Array, sizes: Sequence[int] | None = None) -> Array:
    """TC = Σ_i H(X_i) − H(X); ``sizes`` gives the dimension of each variable (default 1s)."""
    groups = _groups(sizes, cov.shape[-1])
    return 0.5 * (sum(logdet(_block(cov, g)) for g in groups) - logdet(cov))


def dual_total_correlation_from_cov(cov: Array, sizes: Sequence[int] | None = None) -> Array:
    """DTC = H(X) − Σ_i H(X_i | X_−i) = Σ_i H(X_−i) − (m − 1) H(X)."""
    d = cov.shape[-1]
    groups = _groups(sizes, d)
    m = len(groups)
    rest = [np.setdiff1d(np.arange(d), g) for g in groups]
    return 0.5 * (sum(logdet(_block(cov, r)) for r in rest) - (m - 1) * logdet(cov))


def o_information_from_cov(cov: Array, sizes: Sequence[int] | None = None) -> Array:
    """Ω = TC − DTC (positive: redundancy-dominated; negative: synergy-dominated)."""
    return total_correlation_from_cov(cov, sizes) - dual_total_correlation_from_cov(cov, sizes)


def sample_covariance(z: Array, shrinkage=0.0) -> Array:
    """Unbiased sample covariance of ``z: (n, d)``, shrunk towards (tr S / d) I by ``shrinkage``."""
    zc = z - z.mean(axis=0)
    s = zc.T @ zc / (z.shape[0] - 1)
    d = s.shape[0]
    target = jnp.trace(s) / d * jnp.eye(d, dtype=s.dtype)
    shrinkage = jnp.asarray(shrinkage, dtype=s.dtype)
    return (1.0 - shrinkage) * s + shrinkage * target


# ----------------------------------------------------------------------------- plug-in engine

#: One log-det term of a plug-in estimate: (column indices, coefficient).
Terms = tuple[tuple[tuple[int, ...], float], ...]


def correlation(z: Array) -> tuple[Array, Array]:
    """Standardised rows ``u`` and correlation matrix ``R = uᵀu / n`` of ``z: (n, d)``.

    Overflow-safe at 1e±30 ([infoest.ops.standardize.standardize][]). A constant column
    carries no information: it becomes a zero column of ``u`` with a unit diagonal entry in
    ``R``, i.e. a variable independent of every other, so it adds 0 to every MI, CMI, TC,
    DTC and TE.
    """
    constant = jnp.max(z, axis=0) == jnp.min(z, axis=0)
    u = standardize(z)
    r = u.T @ u / z.shape[0]
    return u, r + jnp.diag(constant.astype(r.dtype))


def _term(u: Array, r: Array, idx: tuple[int, ...], shrinkage) -> tuple[Array, Array]:
    """log det A and the per-sample influence (1 − s)(u_iᵀ A⁻¹ u_i − tr A⁻¹R) of one block,
    A = (1 − s) R_b + s I (Cholesky; NaN when A is not positive definite)."""
    cols = np.asarray(idx)
    rb = r[np.ix_(cols, cols)]
    a = (1.0 - shrinkage) * rb + shrinkage * jnp.eye(cols.size, dtype=r.dtype)
    chol = jnp.linalg.cholesky(a)
    logdet_a = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol)))
    # L⁻¹ is d_b × d_b; w = u L⁻ᵀ is a row-wise matmul, split over sharded samples (a
    # triangular solve on the n columns of uᵀ would gather them onto every device)
    inv_l = jax.scipy.linalg.solve_triangular(chol, jnp.eye(cols.size, dtype=r.dtype),
                                              lower=True)
    w = u[:, cols] @ inv_l.T
    trace = jnp.trace(jax.scipy.linalg.cho_solve((chol, True), rb))
    return logdet_a, (1.0 - shrinkage) * (jnp.sum(w * w, axis=1) - trace)


#: Relative tolerance of the span rule: a column whose residual variance, given the columns
#: before it in its chain, is below ``SPAN_RTOL_EPS`` × eps × its variance counts as exactly
#: spanned by them (float32: partial R² > 1 − 1.2e-4; float64: > 1 − 2.2e-13). Measured: an
#: exact copy or an exact sum of float32 columns leaves a residual of 1e-7 to 1e-5 (rounding
#: of the standardisation and of the n-term sums in R), continuous data at n ≥ d + 2 one far
#: above it.
SPAN_RTOL_EPS = 1000.0

#: A span rule for [`plugin`][infoest.gaussian.plugin]: (conditioning columns, variables).
Span = tuple[tuple[int, ...], tuple[tuple[int, ...], ...]]


def spanned_columns(r: Array, order: tuple[int, ...], rtol) -> Array:
    """Which columns of the chain ``order`` are spanned by the kept columns before them.

    A left-looking Cholesky factorisation of ``R[order, order]`` that skips a pivot whose
    residual variance (its Schur complement given the kept earlier columns) is at most
    ``rtol`` × its variance. Returns a boolean mask over ``order``.
    """
    a = r[np.ix_(np.asarray(order), np.asarray(order))]
    m = len(order)
    rows = jnp.arange(m)

    def pivot(j, carry):
        chol, dropped = carry
        v = a[:, j] - chol @ chol[j, :]
        keep = v[j] > rtol * a[j, j]
        col = jnp.where(keep & (rows >= j), v / jnp.sqrt(jnp.where(keep, v[j], 1.0)), 0.0)
        return chol.at[:, j].set(col), dropped.at[j].set(~keep)

    init = (jnp.zeros((m, m), r.dtype), jnp.zeros(m, bool))
    return jax.lax.fori_loop(0, m, pivot, init)[1]


def _drop_spanned(u: Array, r: Array, span: Span, shrinkage) -> tuple[Array, Array, Array]:
    """Replace every column that its conditioning set (and its own variable's earlier
    columns) spans by an independent unit-variance column, as a constant column; return
    (u, R, kept columns per variable). Only without shrinkage (a shrunk R is regular)."""
    cond, groups = span
    rtol = SPAN_RTOL_EPS * jnp.finfo(r.dtype).eps
    d = r.shape[0]
    drop = jnp.zeros(d, bool)
    kept = []
    r_fixed = jax.lax.stop_gradient(r)
    for g in groups:
        mask = spanned_columns(r_fixed, (*cond, *g), rtol) & (shrinkage == 0)
        drop = drop.at[np.asarray((*cond, *g), dtype=int)].set(mask)
        kept.append(len(g) - jnp.sum(mask[len(cond):], dtype=jnp.int32))
    u = jnp.where(drop, 0.0, u)
    r = jnp.where(drop[:, None] | drop[None, :], jnp.eye(d, dtype=r.dtype), r)
    return u, r, jnp.stack(kept)


def long_run_variance(a: Array, lags: int) -> Array:
    """Newey–West (Bartlett-kernel) long-run variance of a series ``a: (n,)``:
    γ₀ + 2 Σ_{h=1}^{L} (1 − h/(L + 1)) γ_h (Newey & West, Econometrica 55, 1987);
    ``lags = 0`` is the plain variance (independent samples)."""
    c = a - jnp.mean(a)
    n = a.shape[0]
    total = jnp.sum(c * c) / n
    for h in range(1, lags + 1):
        total = total + 2.0 * (1.0 - h / (lags + 1.0)) * jnp.sum(c[h:] * c[:-h]) / n
    return jnp.maximum(total, 0.0)


def newey_west_lags(n: int) -> int:
    """The Newey–West (1994) bandwidth ⌊4 (n/100)^{2/9}⌋ for serially dependent samples."""
    return int(4.0 * (n / 100.0) ** (2.0 / 9.0))


def plugin(z: Array, terms: Terms, shrinkage=0.0, *, lags: int = 0,
           dof: int = 0, span: Span | None = None) -> tuple[Array, Array, Array]:
    """Σ_b c_b log det R̂_b over blocks of the sample correlation, with its standard error.

    Returns ``(value, stderr, status)``. ``value = Σ_b c_b log det((1 − s) R_b + s I)``.
    ``stderr``: nonparametric delta method, i.e. the sample standard deviation of the
    empirical influence function IF(z_i) = Σ_b c_b (u_{i,b}ᵀ R_b⁻¹ u_{i,b} − d_b) over √n —
    the influence function of log det Σ is (z − μ)ᵀ Σ⁻¹ (z − μ) − d (Hampel et al., *Robust
    Statistics*, 1986; for Gaussian data it gives Anderson's asymptotic variance of sample
    log-determinants, *An Introduction to Multivariate Statistical Analysis*, 2003, §7.5).
    It holds for any distribution with finite fourth moments; with ``lags > 0`` the
    variance of the mean influence is the Newey–West long-run variance (time series).
    ``dof`` adds the second-order variance dof/(2n²) of a χ²_dof/(2n) statistic (Wilks), so
    the error bar of an MI whose first-order influence vanishes (independence) stays finite
    and calibrated. With ``shrinkage`` s > 0 the influence is that of the shrunk log det
    (approximate).

    ``span = (cond, (g_1, g_2, ...))`` (MI and CMI: the columns of Z, and of X and Y) first
    drops the columns that are exact linear functions of the conditioning columns and of
    their own variable's earlier columns (chain ``cond + g``,
    [`spanned_columns`][infoest.gaussian.spanned_columns],
    relative tolerance ``SPAN_RTOL_EPS`` × eps): such a column adds nothing to I(X;Y|Z),
    since it is determined by what is already conditioned on. It becomes an independent
    unit-variance column (as a constant column does), so every log-det skips it, and ``dof``
    scales by the kept fraction of each variable. Then I(X; Y | Y₁) = I(X; Y₂ | Y₁) for
    Y = (Y₁, Y₂), and TE from a copy of the target's past is 0. Not applied with
    ``shrinkage`` > 0.

    ``status`` is DEGENERATE where a block is still singular; the value is then the limit
    (+∞ or −∞ when all singular blocks have coefficients of one sign: e.g. X and Y
    sharing an exact linear component given Z give +∞), else NaN (∞ − ∞: undefined, e.g.
    the O-information of collinear variables); the registry turns a DEGENERATE status
    into an error, or NaN with ``throw=False``.
    """
    n = z.shape[0]
    u, r = correlation(z)
    if span is not None:
        u, r, kept = _drop_spanned(u, r, span, shrinkage)
        sizes = np.asarray([len(g) for g in span[1]], float)
        dof = dof * jnp.prod(kept.astype(r.dtype) / sizes.astype(r.dtype))
    value, influence = 0.0, 0.0
    pos_fail, neg_fail = False, False
    for idx, coef in terms:
        ld, q = _term(u, r, idx, shrinkage)
        bad = ~jnp.isfinite(ld) | jnp.any(~jnp.isfinite(q))
        pos_fail = pos_fail | (bad & (coef > 0))
        neg_fail = neg_fail | (bad & (coef < 0))
        value = value + coef * jnp.where(bad, 0.0, ld)
        influence = influence + coef * jnp.where(bad, 0.0, q)
    variance = long_run_variance(influence, lags) / n + dof / (2.0 * n * n)
    inf = jnp.asarray(jnp.inf, r.dtype)
    value = jnp.where(pos_fail, jnp.where(neg_fail, jnp.nan, -inf),
                      jnp.where(neg_fail, inf, value))
    status = jnp.where(pos_fail | neg_fail, Status.DEGENERATE, Status.OK)
    return value.astype(r.dtype), jnp.sqrt(variance).astype(r.dtype), status


def check_dimension(n: int, d: int, shrinkage, what: str = "the data") -> None:
    """Trace-time ``ValueError`` when n < d + 2 samples and no shrinkage: the sample
    covariance of d dimensions is then singular (or nearly so) and the plug-in log-dets
    are meaningless (e.g. MI 49 nats at n = 10, d = 50)."""
    if n >= d + 2:
        return
    if _checks.is_concrete(shrinkage) and float(shrinkage) > 0:
        return
    raise ValueError(f"{what} have n={n} samples in d={d} dimensions: the Gaussian estimator "
                     f"needs n >= d + 2 = {d + 2}, or a `shrinkage` > 0")


def _span(start: int, stop: int) -> tuple[int, ...]:
    return tuple(range(start, stop))


# ----------------------------------------------------------------------------- estimators


@jax.jit
def _entropy(x, shrinkage):
    d = x.shape[1]
    value, stderr, status = plugin(x, ((_span(0, d), 0.5),), shrinkage)
    n = x.shape[0]
    log_sd = jnp.log(column_scale(x)) + 0.5 * jnp.log(n / (n - 1.0))
    status = jnp.where(jnp.isfinite(jnp.sum(log_sd)), status, Status.DEGENERATE)
    return gaussian_entropy_constant(d) + value + jnp.sum(log_sd), stderr, status


@register("entropy", "gaussian", differentiable=True, min_n=3)
def entropy(x, *, shrinkage=0.0) -> Estimate:
    """Plug-in Gaussian entropy ½ log det(2πe Σ̂) of ``x: (n, d)``, in nats.

    Σ̂ = D^{1/2} ((1 − s) R + s I) D^{1/2}: the sample variances D (n − 1 denominator) and
    the sample correlation R, shrunk towards the identity by ``shrinkage`` s (traced).
    Exact for Gaussian data up to sampling error; an upper bound on the entropy of any
    distribution with the same covariance.

    stderr: delta method from the influence function ½((z − μ)ᵀ Σ⁻¹ (z − μ) − d) per sample
    ([infoest.gaussian.plugin][]); sampling error only (for Gaussian data ≈ √(d / 2n)).
    Degenerate data: a constant column or collinear columns give −∞ with status
    DEGENERATE. Needs n ≥ d + 2 (or ``shrinkage`` > 0).
    """
    x = _checks.as_samples(x, "x")
    check_dimension(*x.shape, shrinkage, "`x`")
    value, stderr, status = _entropy(x, shrinkage)
    return make_estimate(value, stderr, status=status, method="gaussian")


@jax.jit
def _mi(x, y, shrinkage):
    dx, d = x.shape[1], x.shape[1] + y.shape[1]
    terms = ((_span(0, dx), 0.5), (_span(dx, d), 0.5), (_span(0, d), -0.5))
    return plugin(jnp.concatenate([x, y], axis=1), terms, shrinkage, dof=dx * y.shape[1],
                  span=cmi_span(dx, y.shape[1], 0))


@register("mutual_information", "gaussian", differentiable=True, min_n=3)
def mutual_information(x, y, *, shrinkage=0.0) -> Estimate:
    """Plug-in Gaussian MI ½ [log det R̂_X + log det R̂_Y − log det R̂_XY] in nats.

    Computed from the sample correlation matrix (scale invariant, overflow safe), shrunk
    towards the identity by ``shrinkage``. Equals −½ Σ_k log(1 − ρ_k²) over the sample
    canonical correlations ρ_k; a lower bound on the MI of any distribution with the same
    covariance.

    stderr: delta method from the per-sample influence function of the three log-dets
    plus the second-order term dx·dy/(2n²) ([infoest.gaussian.plugin][]); sampling error
    only (for one pair, ≈ |ρ|/√n). A constant variable gives 0; a column of x (or y) that
    is an exact linear function of the other columns of x (of y) is dropped (it adds no
    information; [infoest.gaussian.plugin][]'s span rule); x and y sharing an exact linear
    component give +∞ with status DEGENERATE (I = ∞ for continuous variables). Needs
    n ≥ dx + dy + 2 (or ``shrinkage`` > 0).
    """
    x, y = _checks.paired_samples((x, "x"), (y, "y"))
    check_dimension(x.shape[0], x.shape[1] + y.shape[1], shrinkage, "`x`, `y`")
    value, stderr, status = _mi(x, y, shrinkage)
    return make_estimate(value, stderr, status=status, method="gaussian")


def cmi_terms(dx: int, dy: int, dz: int) -> Terms:
    """Log-det terms of I(X;Y|Z) for columns ordered (x, y, z)."""
    d = dx + dy + dz
    xz = _span(0, dx) + _span(dx + dy, d)
    terms = [(xz, 0.5), (_span(dx, d), 0.5), (_span(0, d), -0.5)]
    if dz:
        terms.append((_span(dx + dy, d), -0.5))
    return tuple(terms)


def cmi_span(dx: int, dy: int, dz: int) -> Span:
    """The span rule of I(X;Y|Z) for columns ordered (x, y, z): condition on z, variables
    x and y ([`plugin`][infoest.gaussian.plugin])."""
    return _span(dx + dy, dx + dy + dz), (_span(0, dx), _span(dx, dx + dy))


@jax.jit
def _cmi(x, y, z, shrinkage):
    terms = cmi_terms(x.shape[1], y.shape[1], z.shape[1])
    return plugin(jnp.concatenate([x, y, z], axis=1), terms, shrinkage,
                  dof=x.shape[1] * y.shape[1], span=cmi_span(x.shape[1], y.shape[1], z.shape[1]))


@register("conditional_mutual_information", "gaussian", differentiable=True, min_n=3)
def conditional_mutual_information(x, y, z, *, shrinkage=0.0) -> Estimate:
    """Plug-in Gaussian CMI I(X;Y|Z) = ½ [log det R̂_XZ + log det R̂_YZ − log det R̂_Z −
    log det R̂_XYZ] from the blocks of the sample correlation, in nats.

    stderr: delta method (influence function of the four log-dets, plus dx·dy/(2n²));
    sampling error only ([infoest.gaussian.plugin][]). Constant x or y give 0.

    Exactly dependent columns (span rule of [infoest.gaussian.plugin][], without
    shrinkage): a column of z that other columns of z span, and a column of x (of y) that
    z and the earlier columns of x (of y) span, is dropped before the log-dets, since it
    is determined by what is conditioned on. So I(X; Y | Y₁) = I(X; Y₂ | Y₁) for
    Y = (Y₁, Y₂), and I(X; Y | Z) = 0 when Y is a linear function of Z. X and Y sharing
    an exact linear component not in Z give +∞ with status DEGENERATE. A partial R² above
    1 − 1000·eps (float32: 1 − 1.2e-4) counts as exact. Needs n ≥ dx + dy + dz + 2 (or
    ``shrinkage`` > 0).
    """
    x, y, z = _checks.paired_samples((x, "x"), (y, "y"), (z, "z"))
    check_dimension(x.shape[0], x.shape[1] + y.shape[1] + z.shape[1], shrinkage,
                    "`x`, `y`, `z`")
    value, stderr, status = _cmi(x, y, z, shrinkage)
    return make_estimate(value, stderr, status=status, method="gaussian")
