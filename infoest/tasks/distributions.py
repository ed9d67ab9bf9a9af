"""Distributions of known entropy, MI, conditional MI and O-information.

Every constructor returns a [`Task`][infoest.tasks.Task] whose ``value`` is exact (nats,
computed in float64) and whose ``sampler(key, n)`` is pure JAX: a fixed ``key`` gives fixed
samples, and ``jax.vmap`` over keys draws independent data sets.

Mutual information (the families of the BMI benchmark: Czyż et al., "Beyond Normal: On the
Evaluation of Mutual Information Estimators", NeurIPS 2023):

- [`multinormal`][infoest.tasks.distributions.multinormal] — any joint covariance; I = ½
[log det Σ_X + log det Σ_Y − log det Σ].
- [`bivariate_normal`][infoest.tasks.distributions.bivariate_normal],
[`multinormal_dense`][infoest.tasks.distributions.multinormal_dense] (every correlation
``off_diag``) and
  [`multinormal_sparse`][infoest.tasks.distributions.multinormal_sparse] (the "2-pair" task:
  Corr(X_i, Y_i) = λ²/(λ² + ε²) for the first
  ``n_interacting`` pairs, all else independent; MI = −(n_interacting/2) log(1 − ρ²)).
- [`student_t`][infoest.tasks.distributions.student_t] — multivariate t with ν degrees of freedom
and dispersion Ω, one χ²_ν
  scale shared by X and Y: I = I_Gauss(Ω) + h_t(d_x) + h_t(d_y) − h_t(d_x + d_y) with
  h_t(k, ν) = log Γ(ν/2) − log Γ((ν+k)/2) + (k/2) log(νπ) + ((ν+k)/2)[ψ((ν+k)/2) − ψ(ν/2)]
  (Arellano-Valle, Contreras-Reyes & Genton, Scand. J. Stat. 40, 2013, eq. 7; the MI is
  computed from these entropies, as ``bmi`` does).
- [`additive_uniform`][infoest.tasks.distributions.additive_uniform] — X ~ U(0, 1), Y = X + U(−ε,
ε): I = ε − log 2ε (ε ≤ ½), 1/(4ε) else.
- [`transformed`][infoest.tasks.distributions.transformed] with
[`normal_cdf`][infoest.tasks.distributions.normal_cdf],
[`half_cube`][infoest.tasks.distributions.half_cube], [`asinh`][infoest.tasks.distributions.asinh] —
a fixed
  invertible map applied to each variable separately leaves MI, CMI and Ω unchanged; and
  [`standardized`][infoest.tasks.distributions.standardized] (per-column empirical standardisation,
  the BMI protocol).

The 40 standardised BMI v1 tasks are assembled from these in [infoest.tasks.bmi][] (which adds
the bimodal, wiggly, spiral and Swiss-roll maps and contributes the MI tasks of
``infoest bench``).

Other quantities: [`gaussian_entropy`][infoest.tasks.distributions.gaussian_entropy],
[`student_t_entropy`][infoest.tasks.distributions.student_t_entropy],
[`uniform_entropy`][infoest.tasks.distributions.uniform_entropy]
(entropy), [`gaussian_chain`][infoest.tasks.distributions.gaussian_chain] and
[`multinormal_cmi`][infoest.tasks.distributions.multinormal_cmi] (conditional MI),
[`gaussian_o_information`][infoest.tasks.distributions.gaussian_o_information] (O-information Ω = TC
− DTC, Rosas et al., PRE 100, 2019).
Gaussian truths reuse the closed forms of [`infoest.gaussian`][infoest.gaussian].
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtr

from infoest import gaussian
from infoest.tasks._task import Task

__all__ = [
    "multinormal",
    "bivariate_normal",
    "multinormal_dense",
    "multinormal_sparse",
    "student_t",
    "student_t_entropy_closed_form",
    "additive_uniform",
    "transformed",
    "normal_cdf",
    "half_cube",
    "asinh",
    "standardized",
    "gaussian_entropy",
    "student_t_entropy",
    "uniform_entropy",
    "multinormal_cmi",
    "gaussian_chain",
    "gaussian_o_information",
    "tasks",
]


def _exact(fn: Callable, *args, **kwargs) -> float:
    """Evaluate a closed form of [`infoest.gaussian`][infoest.gaussian] in float64 and return a
    float."""
    with jax.enable_x64(True):
        args = [jnp.asarray(a, dtype=jnp.float64) if isinstance(a, np.ndarray) else a
                for a in args]
        return float(fn(*args, **kwargs))


def _check_cov(cov) -> np.ndarray:
    cov = np.asarray(cov, dtype=np.float64)
    if cov.ndim != 2 or cov.shape[0] != cov.shape[1]:
        raise ValueError(f"`cov` must be a square matrix, got shape {cov.shape}")
    if not np.allclose(cov, cov.T):
        raise ValueError("`cov` must be symmetric")
    if np.linalg.eigvalsh(cov).min() <= 0:
        raise ValueError("`cov` must be positive definite")
    return cov


def _gaussian_draw(key, n: int, chol: np.ndarray):
    """n samples of N(0, L Lᵀ) in JAX's default float dtype."""
    z = jax.random.normal(key, (n, chol.shape[0]))
    return z @ jnp.asarray(chol.T, dtype=z.dtype)


def _split(z, sizes: Sequence[int]) -> tuple:
    return tuple(jnp.split(z, np.cumsum(sizes)[:-1], axis=1))


# ----------------------------------------------------------------------------- MI: Gaussians


def multinormal(cov, dx: int, *, name: str | None = None) -> Task:
    """X, Y jointly Gaussian with covariance ``cov``; X is the first ``dx`` coordinates."""
    cov = _check_cov(cov)
    d = cov.shape[0]
    if not 1 <= dx < d:
        raise ValueError(f"`dx` must be in [1, {d - 1}], got {dx}")
    chol = np.linalg.cholesky(cov)
    value = _exact(gaussian.mutual_information_from_cov, cov, dx)

    def sampler(key, n):
        return _split(_gaussian_draw(key, n, chol), (dx, d - dx))

    return Task(name or f"multinormal-{dx}-{d - dx}", "mutual_information", value, sampler,
                {"dx": dx, "dy": d - dx})


def bivariate_normal(rho: float = 0.75) -> Task:
    """Two standard normals with correlation ``rho``: I = −½ log(1 − ρ²) (BMI ``1v1-normal``)."""
    if not -1 < rho < 1:
        raise ValueError(f"`rho` must be in (-1, 1), got {rho}")
    task = multinormal([[1.0, rho], [rho, 1.0]], 1, name=f"1v1-normal-{rho}")
    return _with_params(task, rho=rho)


def multinormal_dense(dx: int = 5, dy: int = 5, off_diag: float = 0.5) -> Task:
    """Unit variances, every off-diagonal correlation ``off_diag`` (BMI ``multinormal-dense``)."""
    d = dx + dy
    cov = np.full((d, d), off_diag) + (1.0 - off_diag) * np.eye(d)
    task = multinormal(cov, dx, name=f"multinormal-dense-{dx}-{dy}-{off_diag}")
    return _with_params(task, off_diag=off_diag)


def multinormal_sparse(dx: int = 5, dy: int = 5, n_interacting: int = 2,
                       strength: float = 2.0, noise: float = 1.0) -> Task:
    """The BMI "2-pair" task: Corr(X_i, Y_i) = λ²/(λ² + ε²) for i < ``n_interacting``.

    BMI writes it as a latent-variable model (X_i = λU_i + εN_i, Y_i = λU_i + εN'_i) with
    λ = ``strength``, ε = ``noise``; this is the same MI with unit variances: every other
    correlation is zero, so MI = −(n_interacting/2) log(1 − ρ²) whatever the dimension
    (1.021651 nats for the defaults).
    """
    if not 1 <= n_interacting <= min(dx, dy):
        raise ValueError(f"`n_interacting` must be in [1, min(dx, dy)], got {n_interacting}")
    rho = strength**2 / (strength**2 + noise**2)
    cov = np.eye(dx + dy)
    for i in range(n_interacting):
        cov[i, dx + i] = cov[dx + i, i] = rho
    task = multinormal(cov, dx, name=f"multinormal-sparse-{dx}-{dy}-{n_interacting}-{strength}")
    return _with_params(task, n_interacting=n_interacting, strength=strength, noise=noise)


def _with_params(task: Task, **params) -> Task:
    return Task(task.name, task.quantity, task.value, task.sampler, {**task.params, **params})


# ----------------------------------------------------------------------------- MI: Student-t


def student_t_entropy_closed_form(k: int, df: float) -> float:
    """h_t(k, ν): entropy of a k-dimensional Student-t with identity dispersion, in nats."""
    from scipy import special  # imported here: `import infoest` need not load scipy.special

    a, b = 0.5 * df, 0.5 * (df + k)
    return float(special.gammaln(a) - special.gammaln(b) + 0.5 * k * np.log(df * np.pi)
                 + b * (special.digamma(b) - special.digamma(a)))


def _student_draw(key, n: int, chol: np.ndarray, df: float):
    k_gauss, k_chi = jax.random.split(key)
    g = _gaussian_draw(k_gauss, n, chol)
    w = jax.random.chisquare(k_chi, df, (n, 1), dtype=g.dtype)
    return g * jnp.sqrt(df / w)


def student_t(dx: int = 1, dy: int = 1, df: float = 1.0, dispersion=None) -> Task:
    """Multivariate Student-t (X, Y) with ``df`` degrees of freedom (BMI ``student-identity``).

    Z = G / sqrt(W/ν), G ~ N(0, Ω), W ~ χ²_ν, one W per sample shared by X and Y, so X and Y
    are dependent even with identity dispersion Ω (the default). The MI is
    I_Gauss(Ω) + h_t(d_x, ν) + h_t(d_y, ν) − h_t(d_x + d_y, ν).
    """
    if df <= 0:
        raise ValueError(f"`df` must be > 0, got {df}")
    d = dx + dy
    omega = np.eye(d) if dispersion is None else _check_cov(dispersion)
    if omega.shape[0] != d:
        raise ValueError(f"`dispersion` must be ({d}, {d}), got {omega.shape}")
    chol = np.linalg.cholesky(omega)
    correction = (student_t_entropy_closed_form(dx, df) + student_t_entropy_closed_form(dy, df)
                  - student_t_entropy_closed_form(d, df))
    value = _exact(gaussian.mutual_information_from_cov, omega, dx) + correction

    def sampler(key, n):
        return _split(_student_draw(key, n, chol, df), (dx, dy))

    kind = "identity" if dispersion is None else "dispersion"
    name = f"student-{kind}-{dx}-{dy}-{df:g}"
    return Task(name, "mutual_information", value, sampler, {"dx": dx, "dy": dy, "df": df})


# ----------------------------------------------------------------------------- MI: additive noise


def additive_uniform(epsilon: float = 0.1) -> Task:
    """X ~ U(0, 1), Y = X + N, N ~ U(−ε, ε): I = ε − log(2ε) for ε ≤ ½, 1/(4ε) otherwise."""
    if epsilon <= 0:
        raise ValueError(f"`epsilon` must be > 0, got {epsilon}")
    value = epsilon - np.log(2 * epsilon) if epsilon <= 0.5 else 1.0 / (4 * epsilon)

    def sampler(key, n):
        kx, kn = jax.random.split(key)
        x = jax.random.uniform(kx, (n, 1))
        return x, x + jax.random.uniform(kn, (n, 1), minval=-epsilon, maxval=epsilon)

    return Task(f"1v1-additive-{epsilon}", "mutual_information", float(value), sampler,
                {"epsilon": epsilon})


# ----------------------------------------------------------------------------- transforms


def normal_cdf(x):
    """Φ(x), the standard normal CDF (maps Gaussian margins to uniform ones)."""
    return ndtr(x)


def half_cube(x):
    """x·sqrt(|x|), the BMI "half-cube" map."""
    return x * jnp.sqrt(jnp.abs(x))


def asinh(x):
    """arcsinh(x), the BMI map that tames heavy (Student-t) tails."""
    return jnp.arcsinh(x)


_TRANSFORM_IDS = {normal_cdf: "normal_cdf", half_cube: "half_cube", asinh: "asinh"}


def transformed(task: Task, fn: Callable, *, name: str | None = None) -> Task:
    """``task`` with the fixed invertible elementwise map ``fn`` applied to every variable.

    The truth is unchanged: MI, CMI and O-information are invariant under invertible maps of
    each variable separately (entropy is not, so entropy tasks are rejected).
    """
    if task.quantity == "entropy":
        raise ValueError("entropy is not invariant under transforms; `task` must not be entropy")
    label = _TRANSFORM_IDS.get(fn, getattr(fn, "__name__", "transformed"))

    def sampler(key, n):
        return tuple(jax.tree.map(fn, a) for a in task.sampler(key, n))

    return Task(name or f"{label}-{task.name}", task.quantity, task.value, sampler,
                {**task.params, "transform": label})


def standardized(task: Task) -> Task:
    """``task`` with each column shifted and scaled to zero sample mean and unit sample
    variance (the BMI protocol); invariant quantities keep their truth."""
    if task.quantity == "entropy":
        raise ValueError("entropy is not invariant under rescaling; `task` must not be entropy")

    def scale(a):
        return (a - a.mean(axis=0)) / a.std(axis=0)

    def sampler(key, n):
        return tuple(jax.tree.map(scale, a) for a in task.sampler(key, n))

    return Task(task.name, task.quantity, task.value, sampler, task.params)


# ----------------------------------------------------------------------------- entropy


def gaussian_entropy(cov, *, name: str | None = None) -> Task:
    """X ~ N(0, ``cov``): H = ½ log det(2πe Σ)."""
    cov = _check_cov(cov)
    chol = np.linalg.cholesky(cov)
    value = _exact(gaussian.entropy_from_cov, cov)

    def sampler(key, n):
        return (_gaussian_draw(key, n, chol),)

    d = cov.shape[0]
    return Task(name or f"gaussian-entropy-{d}d", "entropy", value, sampler, {"d": d})


def student_t_entropy(d: int = 2, df: float = 3.0) -> Task:
    """Standard multivariate Student-t (identity dispersion): H = h_t(d, ν) (heavy tails)."""
    chol = np.eye(d)

    def sampler(key, n):
        return (_student_draw(key, n, chol, df),)

    return Task(f"student-entropy-{d}d-{df:g}", "entropy",
                student_t_entropy_closed_form(d, df), sampler, {"d": d, "df": df})


def uniform_entropy(d: int = 2, width: float = 2.0) -> Task:
    """Uniform on a cube of side ``width``: H = d log(width) (bounded support)."""

    def sampler(key, n):
        return (jax.random.uniform(key, (n, d), maxval=width),)

    return Task(f"uniform-entropy-{d}d-{width:g}", "entropy", d * float(np.log(width)),
                sampler, {"d": d, "width": width})


# ----------------------------------------------------------------------------- conditional MI


def multinormal_cmi(cov, dx: int, dy: int, *, name: str | None = None) -> Task:
    """(X, Y, Z) jointly Gaussian with covariance ``cov`` in blocks ``dx``, ``dy``, rest:
    I(X;Y|Z) = ½ [log det Σ_XZ + log det Σ_YZ − log det Σ_Z − log det Σ_XYZ]."""
    cov = _check_cov(cov)
    d = cov.shape[0]
    dz = d - dx - dy
    if dx < 1 or dy < 1 or dz < 1:
        raise ValueError(f"blocks dx={dx}, dy={dy}, dz={dz} must all be >= 1")
    chol = np.linalg.cholesky(cov)
    value = _exact(gaussian.conditional_mutual_information_from_cov, cov, dx, dy)

    def sampler(key, n):
        return _split(_gaussian_draw(key, n, chol), (dx, dy, dz))

    return Task(name or f"gaussian-cmi-{dx}-{dy}-{dz}", "conditional_mutual_information",
                value, sampler, {"dx": dx, "dy": dy, "dz": dz})


def gaussian_chain(direct: float = 0.5, coupling: float = 0.8, noise: float = 0.6) -> Task:
    """X ~ N(0,1), Z = aX + σe₁, Y = aZ + cX + σe₂ (a = ``coupling``, c = ``direct``).

    I(X;Y|Z) = 0.111572 nats for the defaults; exactly 0 with ``direct=0`` (a Markov chain
    X → Z → Y).
    """
    # (X, Y, Z) = A e with e ~ N(0, I_3).
    mix_x = np.array([1.0, 0.0, 0.0])
    mix_z = coupling * mix_x + np.array([0.0, noise, 0.0])
    mix_y = coupling * mix_z + direct * mix_x + np.array([0.0, 0.0, noise])
    a = np.stack([mix_x, mix_y, mix_z])
    task = multinormal_cmi(a @ a.T, 1, 1, name=f"gaussian-chain-{direct:g}")
    return _with_params(task, direct=direct, coupling=coupling, noise=noise)


# ----------------------------------------------------------------------------- O-information


def gaussian_o_information(cov, sizes: Sequence[int] | None = None, *,
                           name: str | None = None) -> Task:
    """Gaussian variables with joint covariance ``cov``: Ω = TC − DTC from the closed form.

    ``sizes`` gives the dimension of each variable (default: every coordinate is one scalar
    variable, and the sampler returns one ``(n, k)`` array; otherwise a list of arrays).
    """
    cov = _check_cov(cov)
    d = cov.shape[0]
    groups = [1] * d if sizes is None else [int(s) for s in sizes]
    if len(groups) < 3:
        raise ValueError("O-information needs at least 3 variables")
    chol = np.linalg.cholesky(cov)
    value = _exact(gaussian.o_information_from_cov, cov, None if sizes is None else groups)

    def sampler(key, n):
        z = _gaussian_draw(key, n, chol)
        return (z,) if sizes is None else (list(_split(z, groups)),)

    return Task(name or f"gaussian-oinfo-{len(groups)}", "o_information", value, sampler,
                {"sizes": groups})


def _shared_latent_cmi() -> np.ndarray:
    """X = Z + U + ½e₁, Y = Z + U + ½e₂ in 2 dims each: I(X;Y|Z) = −log(1 − 0.8²)."""
    eye, zero = np.eye(2), np.zeros((2, 2))
    # rows: X, Y, Z; columns: the independent sources (Z, U, e1, e2).
    a = np.block([[eye, eye, 0.5 * eye, zero], [eye, eye, zero, 0.5 * eye],
                  [eye, zero, zero, zero]])
    return a @ a.T


def _equicorrelated(k: int, rho: float) -> np.ndarray:
    return np.full((k, k), rho) + (1.0 - rho) * np.eye(k)


def _synergy_triplet() -> np.ndarray:
    """X_2 nearly a function of (X_0, X_1) with X_0, X_1 nearly independent: synergy."""
    a = np.array([[1.0, 0.0, 0.0, 0.0], [0.1, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.3]])
    return a @ a.T + 1e-3 * np.eye(3)


# ----------------------------------------------------------------------------- discovery


def tasks(quick: bool = False) -> list[Task]:
    """This module's ground-truth tasks for ``infoest bench`` (``quick``: one or two per
    quantity): entropy, conditional MI and O-information (the MI tasks are
    [infoest.tasks.bmi][]'s)."""
    return list(_tasks(quick))


@functools.cache
def _tasks(quick: bool) -> tuple[Task, ...]:
    ent_quick = [gaussian_entropy(_equicorrelated(3, 0.5) * 2.0, name="gaussian-entropy-3d")]
    cmi_quick = [gaussian_chain(0.5)]
    oinfo_quick = [gaussian_o_information(_equicorrelated(3, 0.7),
                                          name="gaussian-oinfo-redundant-3-0.7")]
    if quick:
        return (*ent_quick, *cmi_quick, *oinfo_quick)
    return (
        *ent_quick,
        gaussian_entropy(np.eye(10), name="gaussian-entropy-10d"),
        student_t_entropy(2, 3.0),
        uniform_entropy(2, 2.0),
        *cmi_quick,
        gaussian_chain(0.0),
        multinormal_cmi(_shared_latent_cmi(), 2, 2, name="gaussian-cmi-shared-latent-2-2-2"),
        *oinfo_quick,
        gaussian_o_information(_synergy_triplet(), name="gaussian-oinfo-synergy-3"),
        gaussian_o_information(_equicorrelated(6, 0.5), sizes=(2, 2, 2),
                               name="gaussian-oinfo-vector-3x2"),
    )
