"""A small causal (decoder-only) transformer returning one scalar per sequence: TREET's critic.

Architecture as in TREET (Luxembourg, Tsur & Permuter, "TREET: TRansfer Entropy Estimation
via Transformers", arXiv 2402.06919): a bias-free linear value embedding plus sinusoidal
positions; per block causal self-attention with residual + LayerNorm, a position-wise
feed-forward network on ``concat[block input, attention output]`` (their kernel-1 Conv1d),
residual + LayerNorm; a linear head reads the **last** position. Attention is causal, so the
last position sees the whole window and earlier positions never see it: changing only the last
token (TREET's "fixed past" evaluation with a reference sample in place of y_t) leaves every
key and value of the past unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

__all__ = ["TransformerBlock", "CausalTransformer", "sinusoidal_positions"]


def sinusoidal_positions(length: int, width: int) -> np.ndarray:
    """The (length, width) sinusoidal position table of Vaswani et al. (2017)."""
    pos = np.arange(length)[:, None]
    freq = np.exp(-np.log(10_000.0) * (np.arange(0, width, 2) / width))
    table = np.zeros((length, width))
    table[:, 0::2] = np.sin(pos * freq)
    table[:, 1::2] = np.cos(pos * freq)[:, : width // 2]
    return table


class TransformerBlock(eqx.Module):
    """Causal self-attention + position-wise feed-forward, each with residual and LayerNorm."""

    attention: eqx.nn.MultiheadAttention
    norm1: eqx.nn.LayerNorm
    ff_in: eqx.nn.Linear
    ff_out: eqx.nn.Linear
    norm2: eqx.nn.LayerNorm
    activation: Callable[[Array], Array] = eqx.field(static=True)

    def __init__(self, width: int, heads: int, ff_width: int, *, activation=jax.nn.elu,
                 key: Array, dtype=None):
        k1, k2, k3 = jax.random.split(key, 3)
        self.attention = eqx.nn.MultiheadAttention(heads, width, key=k1, dtype=dtype)
        self.norm1 = eqx.nn.LayerNorm(width, dtype=dtype)
        self.ff_in = eqx.nn.Linear(2 * width, ff_width, key=k2, dtype=dtype)
        self.ff_out = eqx.nn.Linear(ff_width, width, key=k3, dtype=dtype)
        self.norm2 = eqx.nn.LayerNorm(width, dtype=dtype)
        self.activation = activation

    def __call__(self, h: Array, mask: Array) -> Array:
        """``h: (L, width)``, ``mask: (L, L)`` boolean (True = may attend) → ``(L, width)``."""
        a = self.attention(h, h, h, mask=mask)
        h1 = jax.vmap(self.norm1)(h + a)
        ff = lambda v: self.ff_out(self.activation(self.ff_in(v)))
        return jax.vmap(self.norm2)(h1 + jax.vmap(ff)(jnp.concatenate([h, a], axis=-1)))


class CausalTransformer(eqx.Module):
    """Maps a window of tokens ``(L, in_size)`` to a scalar read at the last position.

    Args:
        in_size: features per token (a Python int).
        width: model width d_model.
        heads: attention heads (must divide ``width``).
        ff_width: hidden width of the feed-forward network.
        layers: number of transformer blocks.
        activation: feed-forward nonlinearity (TREET: ELU).
        key: PRNG key for the initial weights.
        dtype: parameter dtype (default: JAX's default float dtype).
    """

    embed: eqx.nn.Linear
    blocks: tuple[TransformerBlock, ...]
    head: eqx.nn.Linear

    def __init__(self, in_size: int, width: int = 32, heads: int = 1, ff_width: int = 64,
                 layers: int = 1, *, activation=jax.nn.elu, key: Array, dtype=None):
        if width % heads:
            raise ValueError(f"`heads`={heads} must divide `width`={width}")
        keys = jax.random.split(key, layers + 2)
        self.embed = eqx.nn.Linear(in_size, width, use_bias=False, key=keys[0], dtype=dtype)
        self.blocks = tuple(
            TransformerBlock(width, heads, ff_width, activation=activation, key=k, dtype=dtype)
            for k in keys[1:-1]
        )
        self.head = eqx.nn.Linear(width, "scalar", key=keys[-1], dtype=dtype)

    def __call__(self, tokens: Array) -> Array:
        length = tokens.shape[0]
        h = jax.vmap(self.embed)(tokens)
        h = h + jnp.asarray(sinusoidal_positions(length, h.shape[-1]), h.dtype)
        mask = jnp.tril(jnp.ones((length, length), dtype=bool))
        for block in self.blocks:
            h = block(h, mask)
        return self.head(h[-1])
