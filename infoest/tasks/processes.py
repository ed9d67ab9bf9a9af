"""Processes with known transfer entropy (ground truth for ``infoest.transfer_entropy``).

- [`var_te`][infoest.tasks.processes.var_te]: the exact TE of any stable vector autoregression
  Z_t = Σ_i A_i Z_{t−i} + ε_t, ε ~ N(0, Σ), from its stationary covariance (discrete Lyapunov
  equation Γ = 𝒜 Γ 𝒜ᵀ + Σ of the companion form) and Schur complements:
  TE = ½ ln( det Σ(Y_t | Y⁻) / det Σ(Y_t | Y⁻, X⁻) ) (Barnett, Barrett & Seth, PRL 103, 2009;
  worked first-order cases: Hahs & Pethel, Entropy 15(3):767, 2013).
- [`coupled_ar1`][infoest.tasks.processes.coupled_ar1]: X_t = a X_{t−1} + e_t, Y_t = b Y_{t−1} + c
X_{t−1} + e′_t, with the
  closed forms TE(k = 1) = ½ ln(1 + c²(S_xx − S_xy²/S_yy)/σ_y²) and
  TE_∞ = ½ ln(σ_∞²/σ_y²); a = b = c = 0.5, unit noise gives ½ ln(55/42) = 0.134832 nats.
- [`feedback_channel`][infoest.tasks.processes.feedback_channel]: the Gaussian channel Y_i = X_i +
Z_i with AR(1) or MA(1) noise and
  output feedback (TREET's capacity benchmark, Luxembourg, Tsur & Permuter, arXiv 2402.06919).
  The input X_i = s X_{i−1} + g ε_{i−1} (ε the noise innovation, known to the encoder through
  feedback), s = −sign(α)·x₀, g² = P(1 − s²), has power P and directed information rate equal to
  the feedback capacity C = −ln x₀ (Kim, arXiv cs/0411036 and cs/0602091): x₀ is the root in
  (0, 1) of P x² = (1 − x²)/(1 + |α|x)² (AR) or P x² = (1 − x²)(1 − |α|x)² (MA). Checked
  numerically: ∫ log|1 + B(e^{iω})| dω/2π of the scheme's feedback filter equals −ln x₀.

Every task is an [`infoest.tasks.Task`][infoest.tasks.Task] with ``quantity="transfer_entropy"``;
its sampler
``(key, n) -> (source, target)`` returns arrays of shape (n, d) after a burn-in.
All values in nats; the truths are computed in float64 numpy.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg
import scipy.optimize

from infoest.tasks._task import Task
from infoest.temporal.embedding import Lags, check_lags

__all__ = [
    "var_te",
    "simulate_var",
    "var_process",
    "coupled_ar1",
    "coupled_ar1_te",
    "feedback_capacity",
    "feedback_channel",
    "tasks",
]


def _as_coefs(coefs) -> np.ndarray:
    coefs = np.asarray(coefs, dtype=np.float64)
    if coefs.ndim == 2:
        coefs = coefs[None]
    if coefs.ndim != 3 or coefs.shape[1] != coefs.shape[2]:
        raise ValueError(f"`coefs` must have shape (p, D, D), got {coefs.shape}")
    return coefs


def _companion(coefs: np.ndarray, noise_cov: np.ndarray, order: int):
    p, d, _ = coefs.shape
    a = np.zeros((order * d, order * d))
    for i in range(p):
        a[:d, i * d:(i + 1) * d] = coefs[i]
    a[d:, :-d] = np.eye((order - 1) * d)
    s = np.zeros_like(a)
    s[:d, :d] = noise_cov
    return a, s


def _logdet(m: np.ndarray) -> float:
    return float(np.linalg.slogdet(m)[1]) if m.size else 0.0


def var_te(coefs, noise_cov, source, target, lags: Lags | None = None, **lag_kwargs) -> float:
    """Exact TE(source → target) in nats of the stationary VAR(p) with ``coefs: (p, D, D)``.

    ``source`` and ``target`` are coordinate indices (int or sequence); ``lags`` (or
    ``history``, ``source_history``, ``delay``, ``tau``, ``source_tau`` keywords) as in
    [`infoest.temporal.embedding.check_lags`][infoest.temporal.embedding.check_lags]. Raises
    ``ValueError`` for an unstable VAR.
    """
    coefs = _as_coefs(coefs)
    noise_cov = np.asarray(noise_cov, dtype=np.float64)
    lags = check_lags(**lag_kwargs) if lags is None else lags
    src, tgt = np.atleast_1d(source), np.atleast_1d(target)
    p, d, _ = coefs.shape
    order = max(p, lags.start + 1)
    a, s = _companion(coefs, noise_cov, order)
    if np.max(np.abs(np.linalg.eigvals(a))) >= 1.0:
        raise ValueError("the VAR is not stable (companion spectral radius >= 1)")
    gamma = scipy.linalg.solve_discrete_lyapunov(a, s)
    # state coordinate of variable v at lag j (time t - j) is j * d + v
    now = tgt
    y_past = np.concatenate([(1 + j * lags.tau) * d + tgt for j in range(lags.history)])
    x_past = np.concatenate(
        [(lags.delay + j * lags.source_tau) * d + src for j in range(lags.source_history)]
    )

    def cond_logdet(a_idx, b_idx):  # log det Σ(A | B); pinv: B may be linearly dependent
        g_ab = gamma[np.ix_(a_idx, b_idx)]
        cond = gamma[np.ix_(a_idx, a_idx)] - g_ab @ np.linalg.pinv(
            gamma[np.ix_(b_idx, b_idx)], rcond=1e-12, hermitian=True) @ g_ab.T
        return _logdet(cond)

    full = np.concatenate([y_past, x_past])
    return 0.5 * (cond_logdet(now, y_past) - cond_logdet(now, full))


def _sqrt_psd(cov: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(cov)
    return v * np.sqrt(np.clip(w, 0.0, None))


def simulate_var(key, coefs, noise_cov, n: int, *, burn: int = 1000, dtype=None) -> jax.Array:
    """``n`` consecutive samples ``(n, D)`` of the VAR(p), started at 0 after ``burn`` steps.

    ``noise_cov`` may be singular (noise entering only some coordinates). One ``lax.scan``.
    """
    coefs = _as_coefs(coefs)
    p, d, _ = coefs.shape
    dtype = jnp.zeros(()).dtype if dtype is None else dtype
    factor = jnp.asarray(_sqrt_psd(np.asarray(noise_cov, dtype=np.float64)), dtype)
    a = jnp.asarray(coefs, dtype)
    noise = jax.random.normal(key, (n + burn, d), dtype) @ factor.T

    def step(hist, e):  # hist: (p, D), most recent first
        z = jnp.einsum("pij,pj->i", a, hist) + e
        return jnp.concatenate([z[None], hist[:-1]]), z

    _, zs = jax.lax.scan(step, jnp.zeros((p, d), dtype), noise)
    return zs[burn:]


def var_process(coefs, noise_cov, source, target, *, name: str = "var", burn: int = 1000,
                **lag_kwargs) -> Task:
    """A [`Task`][infoest.tasks.processes.Task] sampling (source, target) coordinates of a VAR with
    its exact TE."""
    src, tgt = np.atleast_1d(source), np.atleast_1d(target)
    value = var_te(coefs, noise_cov, src, tgt, **lag_kwargs)

    def sampler(key, n):
        z = simulate_var(key, coefs, noise_cov, n, burn=burn)
        return z[:, src], z[:, tgt]

    params = {"coefs": np.asarray(coefs).tolist(), "source": src.tolist(),
              "target": tgt.tolist(), **lag_kwargs}
    return Task(name, "transfer_entropy", float(value), sampler, params)


def coupled_ar1_te(a=0.5, b=0.5, c=0.5, sx2=1.0, sy2=1.0, history: int | None = 1) -> float:
    """Closed-form TE(X → Y) of the coupled AR(1) for target history 1 or ``None`` (= ∞).

    (Any source history l ≥ 1 gives the same value; TE(Y → X) = 0.) Nats.
    """
    sxx = sx2 / (1 - a * a)
    sxy = a * c * sxx / (1 - a * b)
    syy = (c * c * sxx + 2 * b * c * sxy + sy2) / (1 - b * b)
    if history == 1:
        return 0.5 * math.log1p(c * c * (sxx - sxy * sxy / syy) / sy2)
    if history is None:
        big = c * c * sx2 + sy2 * (1 + a * a)
        s_inf = 0.5 * (big + math.sqrt(big * big - 4 * a * a * sy2 * sy2))
        return 0.5 * math.log(s_inf / sy2)
    return var_te(_ar1_coefs(a, b, c), np.diag([sx2, sy2]), 0, 1, history=history)


def _ar1_coefs(a, b, c) -> np.ndarray:
    return np.array([[a, 0.0], [c, b]])


def coupled_ar1(a=0.5, b=0.5, c=0.5, sx2=1.0, sy2=1.0, *, history=1, source_history=None,
                delay=1, reverse: bool = False) -> Task:
    """Coupled AR(1) task: (source, target) = (X, Y), or (Y, X) with ``reverse=True`` (TE 0).

    The value is exact for the given histories (Lyapunov route; equals the closed form of
    [`coupled_ar1_te`][infoest.tasks.processes.coupled_ar1_te] for ``history=1``).
    """
    src, tgt = (1, 0) if reverse else (0, 1)
    name = f"coupled-ar1-a{a}-b{b}-c{c}" + ("-reverse" if reverse else "")
    return var_process(_ar1_coefs(a, b, c), np.diag([sx2, sy2]), src, tgt, name=name,
                       history=history, source_history=source_history, delay=delay)


def feedback_capacity(power=1.0, alpha=0.5, noise: str = "ar") -> float:
    """Feedback capacity −ln x₀ (nats per use) of the Gaussian channel with AR(1)/MA(1) noise."""
    if noise == "ar":
        f = lambda x: power * x * x - (1 - x * x) / (1 + abs(alpha) * x) ** 2
    elif noise == "ma":
        f = lambda x: power * x * x - (1 - x * x) * (1 - abs(alpha) * x) ** 2
    else:
        raise ValueError(f"unknown `noise`={noise!r}; valid values: 'ar', 'ma'")
    return -math.log(scipy.optimize.brentq(f, 1e-12, 1.0))


def feedback_channel(power=1.0, alpha=0.5, noise: str = "ar", *, history=8,
                     burn: int = 1000) -> Task:
    """Gaussian channel with feedback driven by the capacity-achieving linear scheme.

    Source = channel input X, target = output Y = X + Z (unit innovation variance, SNR
    ``power``); the relevant quantity is the directed information with ``delay=0`` (X_t enters
    Y_t). ``value`` is the exact finite-memory TE I(Y_t; X_{t−history..t} | Y_{t−history..t−1})
    (Lyapunov); ``params["capacity"]`` the closed-form limit −ln x₀ as history → ∞.
    """
    cap = feedback_capacity(power, alpha, noise)
    s = -math.copysign(math.exp(-cap), alpha)
    g = math.copysign(math.sqrt(power * (1 - s * s)), alpha)
    # state (X, Y); Z = Y − X.  X_t = s X_{t−1} + g ε_{t−1}; ε from Z:
    #   AR: Z_t = α Z_{t−1} + ε_t  → ε_{t−1} = Z_{t−1} − α Z_{t−2}
    #   MA: Z_t = ε_t + α ε_{t−1}  → ε_{t−1} = Z_{t−1} − α ε_{t−2}  (needs ε as a state)
    if noise == "ar":
        # X_t = s X_{t-1} + g (Y_{t-1} - X_{t-1}) - g α (Y_{t-2} - X_{t-2})
        # Y_t = X_t + α (Y_{t-1} - X_{t-1}) + ε_t
        ax1 = np.array([s - g, g])
        ax2 = np.array([g * alpha, -g * alpha])
        a1 = np.array([ax1, ax1 + np.array([-alpha, alpha])])
        a2 = np.array([ax2, ax2])
        coefs = np.stack([a1, a2])
        cov = np.array([[0.0, 0.0], [0.0, 1.0]])
        src, tgt = 0, 1
    elif noise == "ma":
        # state (X, Y, ε): X_t = s X_{t-1} + g ε_{t-1}; Y_t = X_t + ε_t + α ε_{t-1}
        a1 = np.array([[s, 0.0, g], [s, 0.0, g + alpha], [0.0, 0.0, 0.0]])
        coefs = a1[None]
        cov = np.array([[0.0, 0, 0], [0, 1.0, 1.0], [0, 1.0, 1.0]])
        src, tgt = 0, 1
    else:
        raise ValueError(f"unknown `noise`={noise!r}; valid values: 'ar', 'ma'")
    task = var_process(coefs, cov, src, tgt, name=f"feedback-{noise}1-P{power}-alpha{alpha}",
                       burn=burn, history=history, source_history=history + 1, delay=0)
    params = {**task.params, "capacity": cap, "power": power, "alpha": alpha, "noise": noise}
    return Task(task.name, task.quantity, task.value, task.sampler, params)


def tasks(quick: bool = False) -> list[Task]:
    """The transfer-entropy ground-truth tasks (discovery protocol of `infoest.tasks`)."""
    if quick:
        return [coupled_ar1(), coupled_ar1(reverse=True)]
    return [
        coupled_ar1(),
        coupled_ar1(reverse=True),
        coupled_ar1(0.9, 0.2, 1.0),
        coupled_ar1(0.7, -0.3, 0.4, history=3),
    ]
