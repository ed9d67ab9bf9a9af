"""Per-variable masks of the amortised score network (MINDE / SΩI).

One network learns every score it needs — joint, marginal, conditional — of a set of
variables X_1..X_k through a per-variable mask (Franzese et al., ICLR 2024; Bounoua et al.,
ICML 2024):

- ``1``  (``DIFFUSED``): the variable enters noised, x_t, with time t; its score is learned;
- ``0``  (``CONDITION``): the variable enters clean, x_0, with time 0 (it is conditioned on);
- ``-1`` (``MARGINAL``): the variable is marginalised: its input is replaced by zeros, time 1.

A *denoiser* is any function ``denoiser(x0, xt, t, mask) -> eps_hat`` of one sample
(``x0, xt: (D,)``, scalar t, ``mask: (k,)`` ints) predicting the noise ε of the diffused
coordinates; the score is −ε̂/σ(t). The trained network and the analytic Gaussian denoiser
([`infoest.score.gaussian_scores`][infoest.score.gaussian_scores]) share this signature, so the
estimator integrals are
tested without training.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np
from jax import Array

from infoest._checks import is_concrete

DIFFUSED, CONDITION, MARGINAL = 1, 0, -1

__all__ = [
    "DIFFUSED",
    "CONDITION",
    "MARGINAL",
    "var_index",
    "assemble",
    "minde_masks",
    "soi_masks",
    "mask_weights",
    "soi_mask_probs",
]


def var_index(sizes: Sequence[int]) -> np.ndarray:
    """Static map coordinate -> variable for variables of dimensions ``sizes``."""
    return np.repeat(np.arange(len(sizes)), np.asarray(sizes))


def assemble(x0: Array, xt: Array, t, mask: Array, index: np.ndarray) -> tuple[Array, Array]:
    """Network input and per-variable time vector for one sample under ``mask``."""
    cm = mask[index]
    z = jnp.where(cm == DIFFUSED, xt, jnp.where(cm == CONDITION, x0, jnp.zeros_like(x0)))
    one = jnp.ones(mask.shape, dtype=xt.dtype)
    tvec = jnp.where(mask == DIFFUSED, t * one, jnp.where(mask == CONDITION, 0.0 * one, one))
    return z, tvec


def minde_masks(variant: str) -> np.ndarray:
    """Training masks of MINDE for (X, Y): ``"c"`` {[1,−1],[1,0]}; ``"j"`` {[1,1],[1,0],[0,1]}."""
    if variant == "c":
        return np.array([[1, -1], [1, 0]], dtype=np.int32)
    return np.array([[1, 1], [1, 0], [0, 1]], dtype=np.int32)


def soi_masks(k: int, *, gradient: bool = False) -> np.ndarray:
    """Masks needed by SΩI for k variables: joint, k marginals, k full conditionals.

    With ``gradient=True`` also the k leave-one-out joints and the k(k−1) conditionals
    X_j | X_{−ij} needed for Ω(X_{−i}). Rows are distinct.
    """
    rows = [np.ones(k, np.int32)]
    for i in range(k):
        rows.append(np.where(np.arange(k) == i, 1, -1).astype(np.int32))
        rows.append(np.where(np.arange(k) == i, 1, 0).astype(np.int32))
    if gradient:
        for i in range(k):
            rows.append(np.where(np.arange(k) == i, -1, 1).astype(np.int32))
            for j in range(k):
                if j != i:
                    row = np.zeros(k, np.int32)
                    row[i], row[j] = -1, 1
                    rows.append(row)
    uniq = []
    for r in rows:
        if not any(np.array_equal(r, u) for u in uniq):
            uniq.append(r)
    return np.stack(uniq)


def mask_weights(masks: np.ndarray) -> np.ndarray:
    """Sampling probabilities ∝ #diffused + #conditioning // 2 (SΩI's duplication rule)."""
    w = (masks == DIFFUSED).sum(1) + (masks == CONDITION).sum(1) // 2
    w = np.maximum(w, 1).astype(np.float64)
    return w / w.sum()



def soi_mask_probs(masks: np.ndarray, joint=None, marginal=None) -> Array:
    """Sampling probabilities of SΩI's masks with set shares for the joint and the marginals.

    The full joint (every variable diffused) gets probability ``joint``, the k single-variable
    marginals share ``marginal`` equally, and every other mask (conditionals, and with
    ``gradient`` the leave-one-out joints) shares the rest by the rule of
    [mask_weights][infoest.score.masks.mask_weights]. ``None`` keeps that rule's share for
    the group (both ``None``: ``mask_weights``).
    The shares may be traced (no recompilation for a new value); concrete shares that leave a
    negative remainder raise ``ValueError``.
    """
    base = mask_weights(masks)
    k = masks.shape[1]
    is_joint = (masks == DIFFUSED).all(1)
    is_marg = ((masks == DIFFUSED).sum(1) == 1) & ((masks == MARGINAL).sum(1) == k - 1)
    rest = ~(is_joint | is_marg)
    share_j = base[is_joint].sum() if joint is None else joint
    share_m = base[is_marg].sum() if marginal is None else marginal
    share_r = 1.0 - share_j - share_m
    if is_concrete(share_j) and is_concrete(share_m):
        j, m = float(share_j), float(share_m)
        if min(j, m, 1.0 - j - m) < -1e-6 or (1.0 - j - m > 0 and not rest.any()):
            raise ValueError(f"mask shares joint={j}, marginal={m} leave {1.0 - j - m}")
    probs = jnp.zeros(len(masks))
    for group, share in ((is_joint, share_j), (is_marg, share_m), (rest, share_r)):
        if group.any():
            part = np.where(group, base / base[group].sum(), 0.0)
            probs = probs + jnp.asarray(share) * jnp.asarray(part, probs.dtype)
    return probs
