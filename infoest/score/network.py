"""The amortised, masked noise-prediction network of MINDE / SΩI and its training.

Architecture (MINDE ``UnetMLP_simple`` with ``dim_mults=[]``, Franzese et al., ICLR 2024):
Linear(D → h), concatenated with itself (2h); one residual block of two
[GroupNorm(8) → SiLU → Linear] layers with the time embedding added after the first and a
linear skip; GroupNorm → SiLU → Linear(h → D), zero-initialised. The time embedding is
Linear(k → h) → GELU → Linear(h → h) of the per-variable time vector (1 value per variable,
see [`infoest.score.masks`][infoest.score.masks]). Default width h: 64 for D ≤ 10, 128 for D ≤ 50,
else 256.

Training minimises the masked ε-matching loss with per-sample random masks:
w · ‖(ε̂ − ε) ⊙ m‖² / n_diffused (MINDE; ``per_coordinate=True``) or w · ‖(ε̂ − ε) ⊙ m‖²
(SΩI's reference code; ``per_coordinate=False``), w = 1 + (D − n_diffused)/D, t ~ q(t)
(importance sampled), through the library's one training driver
[`infoest.train.fit`][infoest.train.fit]
(EMA of weights). Dividing by n_diffused weights a score of few coordinates more per
coordinate than the joint score of all D coordinates (≈ 19x for SΩI's 10 variables of 10
coordinates), which leaves the joint under-trained.

Optional Gaussian skip (``skip_index``; Karras et al., "Elucidating the design space of
diffusion-based generative models", NeurIPS 2022, c_skip preconditioning): ε̂(z, t⃗) = σ(t_i) z
+ network on every coordinate of variable i. σ(t) x_t is the exact noise prediction of
N(0, I) data — of every standardised variable at t → 1, and of the product of standard normal
marginals — so the network only learns the (small, O(σ) as t → 0) correction; the clean
conditioning inputs (t = 0) get σ(0) = 0. With ``sigma_out`` the network part is scaled by
σ(t) as well, ε̂ = σ(t_i)(z + network) (EDM's c_out ∝ σ): the network then predicts
−score − z, which stays O(1) for a smooth density as t → 0, where the plain skip had to learn
an O(σ) output and left an O(1) error instead (SΩI red [3,3,4] × 10, 6k steps: the joint's
error energy below t = 0.03 fell from 1.4 to 0.08 nats).

Optional adaLN modulation (``film``; Peebles & Xie, "Scalable diffusion models with
transformers", ICCV 2023): the time embedding also sets a per-channel (scale, shift) after
the two inner GroupNorms, (1 + γ(t⃗)) · norm(a) + β(t⃗), zero-initialised. A score that is a
time-dependent linear map of z (every Gaussian, and the leading term of any smooth density)
needs products of t- and z-features, which the additive embedding only approximates.
Regressing on the exact Gaussian noise predictions (no ε noise, 6k steps, SΩI red [3,3,4] ×
10) it cut the error energies of joint / conditionals from 0.36 / 0.51 to 0.06 / 0.08 nats.

Training: Adam, constant (MINDE, SΩI papers) or warmup + cosine / linear decay to 0
([`optimizer`][infoest.score.network.optimizer]); masks drawn per sample with probabilities
``mask_probs``.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import Array

from infoest.score import sde
from infoest.score.masks import DIFFUSED, assemble, mask_weights
from infoest.train import fit

__all__ = ["Dense", "ScoreNet", "default_width", "denoiser", "score_loss", "train_score_net"]


def default_width(dim: int) -> int:
    """MINDE's width rule: 64 if D ≤ 10, 128 if D ≤ 50, else 256."""
    return 64 if dim <= 10 else 128 if dim <= 50 else 256


class Dense(eqx.Module):
    """Affine layer ``weight @ x + bias``."""

    weight: Array
    bias: Array

    def __call__(self, x: Array) -> Array:
        return self.weight @ x + self.bias


def _dense_layers(shapes, key, dtype) -> list[Dense]:
    """Layers ``(fan_in, fan_out)`` with PyTorch's default init U(±1/sqrt(fan_in)).

    All parameters come from ONE uniform draw (each separate draw adds a PRNG kernel to the
    compiled program, and the network is initialised inside the estimators' jit).
    """
    sizes = [(o * i, o) for i, o in shapes]
    u = jax.random.uniform(key, (sum(a + b for a, b in sizes),), dtype, -1.0, 1.0)
    layers, at = [], 0
    for (fan_in, fan_out), (nw, nb) in zip(shapes, sizes, strict=True):
        scale = 1.0 / np.sqrt(fan_in)
        w = u[at:at + nw].reshape(fan_out, fan_in) * scale
        b = u[at + nw:at + nw + nb] * scale
        layers.append(Dense(w, b))
        at += nw + nb
    return layers


class ScoreNet(eqx.Module):
    """Noise predictor ε̂(z, t⃗) for inputs ``z: (dim,)`` and per-variable times ``(n_vars,)``.

    ``skip_index`` (coordinate -> variable, static): add the Gaussian skip σ(t_i) z.
    """

    inp: Dense
    time1: Dense
    time2: Dense
    norm1: eqx.nn.GroupNorm
    lin1: Dense
    norm2: eqx.nn.GroupNorm
    lin2: Dense
    skip: Dense
    norm_out: eqx.nn.GroupNorm
    out: Dense
    mod: Dense | None
    skip_index: tuple[int, ...] | None = eqx.field(static=True)
    sigma_out: bool = eqx.field(static=True)

    def __init__(self, dim: int, n_vars: int, width: int | None = None, *, key: Array,
                 dtype=None, skip_index=None, sigma_out: bool = False, film: bool = False):
        h = default_width(dim) if width is None else width
        # GroupNorm(8) as in the paper's widths (≥ 64); below 32 channels a group of one or
        # two channels normalises every input to (nearly) a constant: one group instead.
        groups = 8 if h % 8 == 0 and h >= 32 else 1
        dtype = jnp.result_type(float) if dtype is None else dtype
        (self.inp, self.time1, self.time2, self.lin1, self.lin2, self.skip) = _dense_layers(
            [(dim, h), (n_vars, h), (h, h), (2 * h, h), (h, h), (2 * h, h)], key, dtype)
        self.norm1 = eqx.nn.GroupNorm(groups, 2 * h, dtype=dtype)
        self.norm2 = eqx.nn.GroupNorm(groups, h, dtype=dtype)
        self.norm_out = eqx.nn.GroupNorm(groups, h, dtype=dtype)
        self.out = Dense(jnp.zeros((dim, h), dtype), jnp.zeros((dim,), dtype))  # zero init
        # adaLN-style modulation (scale, shift) of the two inner norms, zero-initialised
        self.mod = Dense(jnp.zeros((4 * h, h), dtype), jnp.zeros((4 * h,), dtype)) if film else None
        self.skip_index = None if skip_index is None else tuple(int(i) for i in skip_index)
        self.sigma_out = bool(sigma_out) and skip_index is not None

    def __call__(self, z: Array, tvec: Array) -> Array:
        temb = self.time2(jax.nn.gelu(self.time1(tvec)))
        h0 = self.inp(z)
        h = jnp.concatenate([h0, h0])
        a = self.lin1(jax.nn.silu(self.norm1(h))) + temb
        if self.mod is None:
            a = self.lin2(jax.nn.silu(self.norm2(a))) + self.skip(h)
            eps_hat = self.out(jax.nn.silu(self.norm_out(a)))
        else:
            g1, b1, g2, b2 = jnp.split(self.mod(jax.nn.silu(temb)), 4)
            a = self.lin2(jax.nn.silu(self.norm2(a) * (1 + g1) + b1)) + self.skip(h)
            eps_hat = self.out(jax.nn.silu(self.norm_out(a) * (1 + g2) + b2))
        if self.skip_index is not None:
            # Gaussian-reference skip: ε̂ = σ(t_i) z + network (σ(0) = 0 on clean inputs);
            # with sigma_out: ε̂ = σ(t_i) (z + network).
            s = sde.std(tvec)[np.asarray(self.skip_index)]
            eps_hat = s * (z + eps_hat) if self.sigma_out else eps_hat + s * z
        return eps_hat


def denoiser(net: ScoreNet, index: np.ndarray):
    """The network as a ``denoiser(x0, xt, t, mask) -> ε̂`` (see
    [`infoest.score.masks`][infoest.score.masks])."""

    def call(x0, xt, t, mask):
        return net(*assemble(x0, xt, t, mask, index))

    return call


def score_loss(net: ScoreNet, x0: Array, key, masks: np.ndarray, index: np.ndarray, *,
               per_coordinate: bool = True, mask_probs: np.ndarray | None = None,
               weights: Array | None = None) -> Array:
    """Masked ε-matching loss on a batch ``x0: (B, D)``, one random mask per sample.

    Mask i is drawn with probability ``mask_probs[i]`` (default
    [`masks.mask_weights`][infoest.score.masks.mask_weights]). ``weights: (B,)`` (mean 1
    over the data set) weight each sample's loss (a Bayesian-bootstrap replicate).
    """
    b, dim = x0.shape
    ku, ke = jax.random.split(key)
    u = jax.random.uniform(ku, (2, b), x0.dtype, 1e-7, 1.0)
    t = sde.time_from_uniform(u[0])  # t ~ q(t) by inverse CDF
    eps = jax.random.normal(ke, x0.shape, x0.dtype)
    xt = sde.perturb(x0, t[:, None], eps)
    probs = jnp.asarray(mask_weights(masks) if mask_probs is None else mask_probs, x0.dtype)
    cdf = jnp.cumsum(probs / probs.sum())[:-1]  # mask i with probability probs[i]
    chosen = jnp.asarray(masks)[jnp.searchsorted(cdf, u[1], side="right")]
    z, tvec = jax.vmap(assemble, in_axes=(0, 0, 0, 0, None))(x0, xt, t, chosen, index)
    eps_hat = jax.vmap(net)(z, tvec)
    diffused = chosen[:, index] == DIFFUSED
    n_diff = jnp.maximum(diffused.sum(1), 1).astype(x0.dtype)
    weight = 1.0 + (dim - n_diff) / dim
    sq = jnp.sum(jnp.where(diffused, eps_hat - eps, 0.0) ** 2, axis=1)
    per_sample = weight * sq / n_diff if per_coordinate else weight * sq
    return jnp.mean(per_sample if weights is None else weights * per_sample)


SCHEDULES = ("constant", "cosine", "linear")


def optimizer(learning_rate, steps: int, schedule: str = "constant", warmup: float = 0.05):
    """Adam with a constant rate, or a linear warmup over ``warmup·steps`` then a cosine or
    linear decay to 0 at ``steps`` (``learning_rate`` may be traced)."""
    if schedule not in SCHEDULES:
        raise ValueError(f"`schedule` must be one of {SCHEDULES}, got {schedule!r}")
    if schedule == "constant":
        return optax.adam(learning_rate)
    n_warm = max(1, int(round(warmup * steps)))
    n_decay = max(1, steps - n_warm)

    def rate(count):
        c = jnp.asarray(count, jnp.result_type(learning_rate, float))
        up = jnp.minimum((c + 1) / n_warm, 1.0)
        frac = jnp.clip((c - n_warm) / n_decay, 0.0, 1.0)
        down = 0.5 * (1 + jnp.cos(jnp.pi * frac)) if schedule == "cosine" else 1.0 - frac
        return learning_rate * up * down

    return optax.adam(rate)


def train_score_net(z: Array, index: np.ndarray, masks: np.ndarray, *, key, steps: int,
                    batch_size: int, learning_rate=1e-3, width: int | None = None,
                    ema_decay=0.999, progress: bool = False, per_coordinate: bool = True,
                    gaussian_skip: bool = False, mask_probs: np.ndarray | None = None,
                    schedule: str = "constant", warmup: float = 0.05,
                    sigma_out: bool = False, film: bool = False,
                    weights: Array | None = None, vmap_group: int | None = None):
    """Train a [`ScoreNet`][infoest.score.network.ScoreNet] on standardised samples ``z: (n, D)``
    with ``masks``.

    Returns ``(net, fit_result)`` where ``net`` is the EMA model (used for estimation, as in
    MINDE / SΩI). A non-finite loss does not raise here (``fit(throw=False)``): the caller
    tests the run with [training_diverged][infoest.score.config.training_diverged] and sets
    the estimate's status. ``per_coordinate``: divide each sample's loss by its number of diffused
    coordinates (MINDE) or not (SΩI); ``gaussian_skip``: ε̂ = σ(t) z + network, with
    ``sigma_out`` ε̂ = σ(t)(z + network); ``film``: adaLN modulation (see the module
    docstring); ``mask_probs``: probability of each mask (default
    [`masks.mask_weights`][infoest.score.masks.mask_weights]); ``schedule``, ``warmup``: see
    [`optimizer`][infoest.score.network.optimizer]; ``weights: (n,)``: per-sample loss
    weights (mean 1), e.g. Bayesian-bootstrap weights; ``vmap_group``: fits side by side under
    `jax.vmap` ([fit][infoest.train.fit]).
    Minibatches come from [`infoest.train.fit`][infoest.train.fit] (one shuffle per epoch); batches
    larger
    than n are clipped to n.
    """
    kinit, kfit = jax.random.split(key)
    net = ScoreNet(z.shape[1], int(masks.shape[1]), width, key=kinit, dtype=z.dtype,
                   skip_index=index if gaussian_skip else None, sigma_out=sigma_out, film=film)

    def loss_fn(model, batch, k):
        rows, w = batch
        return score_loss(model, rows, k, masks, index, per_coordinate=per_coordinate,
                          mask_probs=mask_probs, weights=w)

    result = fit(loss_fn, net, (z, weights), key=kfit, steps=steps,
                 batch_size=min(batch_size, z.shape[0]),
                 learning_rate=learning_rate, ema_decay=ema_decay, progress=progress,
                 optimizer=None if schedule == "constant" else optimizer(learning_rate, steps,
                                                                         schedule, warmup),
                 throw=False, vmap_group=vmap_group)
    return result.ema_model, result
