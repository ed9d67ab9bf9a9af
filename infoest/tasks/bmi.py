r"""The 40 tasks of the BMI v1 benchmark, with their exact mutual information.

Czyż, Grabowski, Vogt, Beerenwinkel, Marx, "Beyond Normal: On the Evaluation of Mutual
Information Estimators", NeurIPS 2023 (package `bmi`, `src/bmi/benchmark/task_list.py`).
Protocol v1: N = 5 000 samples, every task standardised per column; the literature reports
the mean absolute error over the 40 tasks and the number of tasks within 0.1 nat.

The 19 base tasks (bivariate and multivariate normals, additive uniform noise, Student-t)
come from [infoest.tasks.distributions][]. The other 21 apply a fixed diffeomorphism to X
and one to Y; mutual information is invariant under such maps,

$$I(f(X); g(Y)) = I(X; Y) \quad \\text{for injective, differentiable } f, g$$

(Cover & Thomas, *Elements of Information Theory*, 2006, §8.6 and Kraskov et al. 2004,
§II), so every variant keeps its base task's truth (nats). The maps defined here:

- [bimodal][infoest.tasks.bmi.bimodal]: u = Φ(z), then the inverse CDF of a two-component
  Gaussian mixture (X: 0.3 N(0, 1) + 0.7 N(5, 1); Y: 0.5 N(−1, 1) + 0.5 N(3, 1)); both maps
  strictly increasing.
- [wiggly][infoest.tasks.bmi.wiggly]: x + 0.4 sin x + 0.2 sin(1.7x + 1) + 0.03 sin(3.3x − 2.5)
  and y − 0.4 sin 0.4y + 0.17 sin(1.3y + 3.5) + 0.02 sin(4.3y − 2.5); the derivatives are at
  least 1 − 0.4 − 0.34 − 0.099 > 0 and 1 − 0.16 − 0.221 − 0.086 > 0, so both are increasing.
- [swiss_roll][infoest.tasks.bmi.swiss_roll]: X ∈ [0, 1] ↦ (t cos t, t sin t)/21 with
  t = 1.5π(1 + 2x), an embedding of the interval into the plane (|image| = t/21 recovers x).
- [spiral][infoest.tasks.bmi.spiral]: v ↦ exp(s ‖v‖² A) v, A the generator of rotations in
  one coordinate plane (X: plane (0, 1), Y: plane (1, 2)), speed s = 1/dim; a rotation keeps
  ‖v‖, so the inverse is exp(−s ‖w‖² A) w.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.scipy.special import ndtr

from infoest.tasks._task import Task
from infoest.tasks.distributions import (
    additive_uniform,
    asinh,
    bivariate_normal,
    half_cube,
    multinormal_dense,
    multinormal_sparse,
    normal_cdf,
    standardized,
    student_t,
    transformed,
)

__all__ = [
    "bimodal",
    "bimodal_icdf_x",
    "bimodal_icdf_y",
    "bmi_v1",
    "mixture_quantile",
    "spiral",
    "spiral_map",
    "swiss_roll",
    "swiss_roll_map",
    "tasks",
    "wiggly",
    "wiggly_x",
    "wiggly_y",
]

#: Gaussian mixtures of the bimodal task as (weights, means); unit variances.
BIMODAL_X = ((0.3, 0.7), (0.0, 5.0))
BIMODAL_Y = ((0.5, 0.5), (-1.0, 3.0))


def map_xy(task: Task, fx: Callable, fy: Callable, name: str, **params) -> Task:
    """``task`` with the fixed map ``fx`` applied to X's ``(n, d_x)`` array and ``fy`` to Y's.

    The caller guarantees that both maps are injective (then the MI is unchanged).
    """

    def sampler(key, n):
        x, y = task.sampler(key, n)
        return fx(x), fy(y)

    return Task(name, task.quantity, task.value, sampler, {**task.params, **params})


# ----------------------------------------------------------------------------- bimodal


def mixture_quantile(z, weights, means, *, lo: float = -10.0, hi: float = 15.0,
                     steps: int = 40):
    """F⁻¹(Φ(z)): the quantile of the mixture Σ_c w_c N(μ_c, 1) at the normal score ``z``.

    Bisection (``steps`` halvings of [lo, hi], static; 25 · 2⁻⁴⁰ ≈ 2e-11) on
    F(t) = Σ_c w_c Φ(t − μ_c) < Φ(z) for z ≤ 0 and on the survival function
    Σ_c w_c Φ(μ_c − t) > Φ(−z) for z > 0, so neither tail saturates in float32 (Φ(z)
    rounds to 1 from z ≈ 5.4 on). The map z ↦ t is strictly increasing. Elementwise; jit-
    and vmap-able.
    """
    upper = z > 0
    target = ndtr(jnp.where(upper, -z, z))

    def below(t):  # True where the root lies above t
        cdf = sum(w * ndtr(t - m) for w, m in zip(weights, means, strict=True))
        sf = sum(w * ndtr(m - t) for w, m in zip(weights, means, strict=True))
        return jnp.where(upper, sf > target, cdf < target)

    def halve(_, bounds):
        a, b = bounds
        mid = 0.5 * (a + b)
        go_up = below(mid)
        return jnp.where(go_up, mid, a), jnp.where(go_up, b, mid)

    a0 = jnp.full_like(z, lo)
    a, b = jax.lax.fori_loop(0, steps, halve, (a0, a0 + (hi - lo)))
    return 0.5 * (a + b)


def bimodal_icdf_x(z):
    """X map of the bimodal task: z ↦ F_X⁻¹(Φ(z)), F_X the CDF of 0.3 N(0,1) + 0.7 N(5,1)."""
    return mixture_quantile(z, *BIMODAL_X)


def bimodal_icdf_y(z):
    """Y map of the bimodal task: z ↦ F_Y⁻¹(Φ(z)), F_Y the CDF of ½ N(−1,1) + ½ N(3,1)."""
    return mixture_quantile(z, *BIMODAL_Y)


def bimodal(rho: float = 0.75) -> Task:
    """BMI ``1v1-bimodal-ρ``: the bivariate normal with bimodal mixture margins.

    X = F_X⁻¹(Φ(Z_1)), Y = F_Y⁻¹(Φ(Z_2)), Corr(Z_1, Z_2) = ρ; both maps strictly
    increasing, so I(X;Y) = −½ log(1 − ρ²) (0.413339 nats for ρ = 0.75).
    """
    base = bivariate_normal(rho)
    return map_xy(base, bimodal_icdf_x, bimodal_icdf_y, f"1v1-bimodal-{rho}", transform="bimodal")


# ----------------------------------------------------------------------------- wiggly


def wiggly_x(x):
    """x + 0.4 sin x + 0.2 sin(1.7x + 1) + 0.03 sin(3.3x − 2.5) (derivative ≥ 0.161)."""
    return (x + 0.4 * jnp.sin(x) + 0.2 * jnp.sin(1.7 * x + 1.0)
            + 0.03 * jnp.sin(3.3 * x - 2.5))


def wiggly_y(y):
    """y − 0.4 sin 0.4y + 0.17 sin(1.3y + 3.5) + 0.02 sin(4.3y − 2.5) (derivative ≥ 0.533)."""
    return (y - 0.4 * jnp.sin(0.4 * y) + 0.17 * jnp.sin(1.3 * y + 3.5)
            + 0.02 * jnp.sin(4.3 * y - 2.5))


def wiggly(task: Task) -> Task:
    """BMI ``wiggly-<base>``: the increasing maps [wiggly_x][infoest.tasks.bmi.wiggly_x] on X
    and [wiggly_y][infoest.tasks.bmi.wiggly_y] on Y, elementwise; the truth is the base's."""
    return map_xy(task, wiggly_x, wiggly_y, f"wiggly-{task.name}", transform="wiggly")


# ----------------------------------------------------------------------------- swiss roll


def swiss_roll_map(u):
    """u ∈ [0, 1] of shape ``(n, 1)`` ↦ (t cos t, t sin t)/21, t = 1.5π(1 + 2u): ``(n, 2)``.

    Injective: the point's norm is t/21, so u = (21‖v‖/(1.5π) − 1)/2.
    """
    t = 1.5 * jnp.pi * (1.0 + 2.0 * u[:, 0])
    return jnp.stack([t * jnp.cos(t), t * jnp.sin(t)], axis=1) / 21.0


def swiss_roll(task: Task) -> Task:
    """BMI ``swissroll_x-<base>``: a 1×1 task with X ∈ [0, 1] (the normal-CDF binormal)
    embedded as a Swiss roll in the plane; a 2×1 task with the base's truth."""
    if task.params.get("dx", 1) != 1:
        raise ValueError("`task` must have a one-dimensional X for the Swiss roll")
    return map_xy(task, swiss_roll_map, lambda y: y, f"swissroll_x-{task.name}",
                  transform="swiss_roll", dx=2)


# ----------------------------------------------------------------------------- spiral


def spiral_map(v, plane: tuple[int, int], speed: float):
    """v ↦ exp(s ‖v‖² A) v for rows of ``v: (n, d)``, A = e_j e_iᵀ − e_i e_jᵀ (a rotation by
    θ = s‖v‖² in the coordinate plane (i, j)); ``speed`` s may be negative (the inverse)."""
    i, j = plane
    theta = speed * jnp.sum(v * v, axis=1)
    c, s = jnp.cos(theta), jnp.sin(theta)
    vi, vj = v[:, i], v[:, j]
    return v.at[:, i].set(c * vi - s * vj).at[:, j].set(s * vi + c * vj)


def spiral(task: Task, speed: float = 1.0) -> Task:
    """BMI ``spiral-<base>``: X rotated in plane (0, 1) at speed s/d_x, Y in plane (1, 2) at
    speed s/d_y (needs d_x ≥ 2, d_y ≥ 3); a diffeomorphism, so the truth is the base's."""
    dx, dy = task.params.get("dx"), task.params.get("dy")
    if dx is None or dy is None or dx < 2 or dy < 3:
        raise ValueError(f"`task` must have dx >= 2 and dy >= 3 for the spiral, got {dx}, {dy}")
    return map_xy(task, lambda x: spiral_map(x, (0, 1), speed / dx),
                  lambda y: spiral_map(y, (1, 2), speed / dy), f"spiral-{task.name}",
                  transform="spiral", speed=speed)


# ----------------------------------------------------------------------------- the suite


def bmi_v1() -> list[Task]:
    """All 40 BMI v1 tasks, standardised, with the BMI task ids, in the benchmark's order.

    One-dimensional (9), the Swiss roll (1), multinormal dense and 2-pair (9), Student-t (6),
    transformed 2-pair and Student-t tasks (15).
    """
    return list(_bmi_v1())


@functools.cache
def _bmi_v1() -> tuple[Task, ...]:
    binormal, bistudent = bivariate_normal(0.75), student_t(1, 1, 1)
    uniform = transformed(binormal, normal_cdf)
    one_dim = [binormal, uniform, additive_uniform(0.1), additive_uniform(0.75),
               bimodal(0.75), wiggly(binormal), transformed(binormal, half_cube),
               bistudent, transformed(bistudent, asinh)]
    pairs = [multinormal_sparse(d, d) for d in (3, 5, 25)]
    multinormals = [*(multinormal_dense(d, d, 0.5) for d in (2, 3, 5, 25, 50)),
                    multinormal_sparse(2, 2), *pairs]
    students = [student_t(d, d, df) for d, df in ((2, 1), (2, 2), (3, 2), (3, 3), (5, 2),
                                                  (5, 3))]
    variants = [*(transformed(t, normal_cdf) for t in pairs),
                *(transformed(t, half_cube) for t in pairs),
                *(spiral(t) for t in pairs),
                *(spiral(transformed(t, normal_cdf)) for t in pairs),
                *(transformed(student_t(d, d, df), asinh) for d, df in ((2, 1), (3, 2), (5, 2)))]
    suite = one_dim + [swiss_roll(uniform)] + multinormals + students + variants
    assert len(suite) == 40
    return tuple(standardized(t) for t in suite)


def tasks(quick: bool = False) -> list[Task]:
    """The mutual-information tasks of ``infoest bench``: the 40 BMI v1 tasks, or with
    ``quick`` two of them (the standardised 2-pair normal and Student-t, ν = 2, both 2 × 2:
    same shapes, so a compiled estimator is reused on the second)."""
    if quick:
        return [standardized(multinormal_sparse(2, 2)), standardized(student_t(2, 2, 2))]
    return bmi_v1()


#: Task families of the BMI v1 suite, for reports: (name prefix or marker, family label).
FAMILIES = (
    ("spiral-", "spiral"), ("swissroll", "swiss roll"), ("wiggly", "wiggly"),
    ("1v1-bimodal", "bimodal"), ("normal_cdf", "normal CDF"), ("half_cube", "half-cube"),
    ("asinh", "asinh Student-t"), ("student", "Student-t"), ("additive", "additive uniform"),
    ("multinormal-dense", "dense normal"), ("multinormal-sparse", "2-pair normal"),
    ("1v1-normal", "bivariate normal"),
)


def family(name: str) -> str:
    """The family label of a BMI task name (first matching marker of [FAMILIES][])."""
    return next((label for marker, label in FAMILIES if marker in name), "other")
