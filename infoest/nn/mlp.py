"""A multilayer perceptron with per-layer widths (``hidden=(16, 8)``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import equinox as eqx
import jax
from jax import Array


class MLP(eqx.Module):
    """Fully connected network ``in_size -> hidden[0] -> ... -> hidden[-1] -> out_size``.

    Unlike `equinox.nn.MLP` every hidden layer has its own width, so the common
    neural-estimator architectures (e.g. ``hidden=(16, 8)`` of ``bmi``, ``(256, 256, 256)`` of
    SMILE) are one argument. The activation follows every hidden layer; the output is linear.

    Args:
        in_size: input features (a Python int).
        out_size: output features; ``"scalar"`` returns a scalar per input.
        hidden: widths of the hidden layers (may be empty: a linear map).
        activation: elementwise nonlinearity after each hidden layer.
        key: PRNG key for the initial weights.
        dtype: parameter dtype (default: JAX's default float dtype).

    Calling an ``MLP`` maps one input vector ``(in_size,)``; use ``jax.vmap`` for batches.
    """

    layers: tuple[eqx.nn.Linear, ...]
    activation: Callable[[Array], Array] = eqx.field(static=True)

    def __init__(
        self,
        in_size: int,
        out_size: int | str,
        hidden: Sequence[int] = (16, 8),
        *,
        activation: Callable[[Array], Array] = jax.nn.relu,
        key: Array,
        dtype=None,
    ):
        sizes = [in_size, *hidden]
        keys = jax.random.split(key, len(sizes))
        layers = [
            eqx.nn.Linear(a, b, key=k, dtype=dtype)
            for a, b, k in zip(sizes[:-1], sizes[1:], keys[:-1], strict=True)
        ]
        layers.append(eqx.nn.Linear(sizes[-1], out_size, key=keys[-1], dtype=dtype))
        self.layers = tuple(layers)
        self.activation = activation

    def __call__(self, x: Array) -> Array:
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
        return self.layers[-1](x)
