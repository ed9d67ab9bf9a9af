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

__all__ = [
    "CausalSelfAttention",
    "TransformerBlock",
    "CausalTransformer",
    "sinusoidal_positions",
    "stacked_transformers",
]


def sinusoidal_positions(length: int, width: int) -> np.ndarray:
    """The (length, width) sinusoidal position table of Vaswani et al. (2017)."""
    pos = np.arange(length)[:, None]
    freq = np.exp(-np.log(10_000.0) * (np.arange(0, width, 2) / width))
    table = np.zeros((length, width))
    table[:, 0::2] = np.sin(pos * freq)
    table[:, 1::2] = np.cos(pos * freq)[:, : width // 2]
    return table


def _linear(layer: eqx.nn.Linear, h: Array) -> Array:
    """``layer`` applied to the last axis of ``h`` (any leading batch axes, no vmap)."""
    out = h @ layer.weight.T
    return out if layer.bias is None else out + layer.bias


def _layer_norm(norm: eqx.nn.LayerNorm, h: Array) -> Array:
    """``norm`` over the last axis of ``h`` (any leading batch axes)."""
    mean = h.mean(axis=-1, keepdims=True)
    var = jnp.square(h - mean).mean(axis=-1, keepdims=True)
    return (h - mean) * jax.lax.rsqrt(var + norm.eps) * norm.weight + norm.bias


class CausalSelfAttention(eqx.Module):
    """Multi-head self-attention (scaled dot product) of a window ``(L, width)`` under a mask.

    Written with plain matrix products on any leading batch axes (one fused QKV projection)
    rather than `equinox.nn.MultiheadAttention` under ``vmap``: inside a scanned
    training loop the smaller graph compiles about twice as fast on CPU.
    """

    qkv: eqx.nn.Linear
    out: eqx.nn.Linear
    heads: int = eqx.field(static=True)

    def __init__(self, width: int, heads: int, *, key: Array, dtype=None):
        k1, k2 = jax.random.split(key)
        self.qkv = eqx.nn.Linear(width, 3 * width, key=k1, dtype=dtype)
        self.out = eqx.nn.Linear(width, width, key=k2, dtype=dtype)
        self.heads = heads

    def __call__(self, h: Array, mask: Array) -> Array:
        """``h: (..., L, width)``, ``mask: (L, L)`` (True = may attend) → ``(..., L, width)``."""
        *batch, length, width = h.shape
        qkv = _linear(self.qkv, h).reshape(*batch, length, 3 * self.heads, -1)
        q, k, v = jnp.split(qkv, 3, axis=-2)  # (..., L, H, width / H)
        scores = jnp.einsum("...qhd,...khd->...hqk", q, k) / np.sqrt(width // self.heads)
        scores = jnp.where(mask, scores, -jnp.inf)
        mixed = jnp.einsum("...hqk,...khd->...qhd", jax.nn.softmax(scores, axis=-1), v)
        return _linear(self.out, mixed.reshape(*batch, length, width))


class TransformerBlock(eqx.Module):
    """Causal self-attention + position-wise feed-forward, each with residual and LayerNorm."""

    attention: CausalSelfAttention
    norm1: eqx.nn.LayerNorm
    ff_in: eqx.nn.Linear
    ff_out: eqx.nn.Linear
    norm2: eqx.nn.LayerNorm
    activation: Callable[[Array], Array] = eqx.field(static=True)

    def __init__(self, width: int, heads: int, ff_width: int, *, activation=jax.nn.elu,
                 key: Array, dtype=None):
        k1, k2, k3 = jax.random.split(key, 3)
        self.attention = CausalSelfAttention(width, heads, key=k1, dtype=dtype)
        self.norm1 = eqx.nn.LayerNorm(width, dtype=dtype)
        self.ff_in = eqx.nn.Linear(2 * width, ff_width, key=k2, dtype=dtype)
        self.ff_out = eqx.nn.Linear(ff_width, width, key=k3, dtype=dtype)
        self.norm2 = eqx.nn.LayerNorm(width, dtype=dtype)
        self.activation = activation

    def __call__(self, h: Array, mask: Array) -> Array:
        """``h: (..., L, width)``, ``mask: (L, L)`` boolean (True = may attend)."""
        a = self.attention(h, mask)
        h1 = _layer_norm(self.norm1, h + a)
        ff = _linear(self.ff_out, self.activation(_linear(self.ff_in, jnp.concatenate(
            [h, a], axis=-1))))
        return _layer_norm(self.norm2, h1 + ff)


class CausalTransformer(eqx.Module):
    """Maps a window of tokens ``(L, in_size)`` to a scalar read at the last position; leading
    batch axes ``(..., L, in_size)`` are handled with plain matrix products (no ``vmap``).

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
        """``tokens: (..., L, in_size)`` → scores ``(...)`` (batch axes handled natively)."""
        length = tokens.shape[-2]
        h = _linear(self.embed, tokens)
        h = h + jnp.asarray(sinusoidal_positions(length, h.shape[-1]), h.dtype)
        mask = jnp.tril(jnp.ones((length, length), dtype=bool))
        for block in self.blocks:
            h = block(h, mask)
        return _linear(self.head, h[..., -1, :])[..., 0]


def stacked_transformers(count: int, in_size: int, width: int = 32, heads: int = 1,
                         ff_width: int = 64, layers: int = 1, *, activation=jax.nn.elu,
                         key: Array, dtype=None) -> CausalTransformer:
    """``count`` independently initialised `CausalTransformer` s stacked on axis 0
    (apply with ``eqx.filter_vmap``).

    Same distribution as equinox's default initialisation (linear weights and biases
    U(−1/√fan_in, 1/√fan_in), LayerNorm 1 and 0) but drawn with ONE uniform call: every PRNG
    call site costs seconds of XLA compile time on CPU, and a transformer has a dozen.
    """
    build = lambda: CausalTransformer(in_size, width, heads, ff_width, layers,
                                      activation=activation, key=jax.random.PRNGKey(0),
                                      dtype=dtype)
    shapes = eqx.filter_eval_shape(build)
    is_layer = lambda m: isinstance(m, eqx.nn.Linear | eqx.nn.LayerNorm)
    layers_ = [m for m in jax.tree_util.tree_leaves(shapes, is_leaf=is_layer) if is_layer(m)]
    linears = [m for m in layers_ if isinstance(m, eqx.nn.Linear)]
    sizes = [m.weight.size + (m.bias.size if m.bias is not None else 0) for m in linears]
    dtype = linears[0].weight.dtype
    u = jax.random.uniform(key, (count, sum(sizes)), dtype, -1.0, 1.0)
    chunks = iter(jnp.split(u, np.cumsum(sizes)[:-1], axis=1))

    def fill(m):
        if isinstance(m, eqx.nn.LayerNorm):
            return eqx.tree_at(lambda n: (n.weight, n.bias), m,
                               (jnp.ones((count, *m.weight.shape), dtype),
                                jnp.zeros((count, *m.bias.shape), dtype)))
        if isinstance(m, eqx.nn.Linear):
            c = next(chunks) / np.sqrt(m.in_features if m.in_features != "scalar" else 1)
            w = c[:, :m.weight.size].reshape(count, *m.weight.shape)
            if m.bias is None:
                return eqx.tree_at(lambda n: n.weight, m, w)
            b = c[:, m.weight.size:].reshape(count, *m.bias.shape)
            return eqx.tree_at(lambda n: (n.weight, n.bias), m, (w, b))
        return m

    return jax.tree_util.tree_map(fill, shapes, is_leaf=is_layer)
