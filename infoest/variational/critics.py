"""Critics f(x, y) for the variational bounds, as equinox modules.

A critic is any callable ``critic(x_i, y_j) -> scalar`` on one pair of sample vectors that is a
PyTree (an equinox Module, or a flax module wrapped by `FlaxCritic`). A critic may also
define ``scores(x, y) -> (B, B)`` to compute the whole score matrix faster; otherwise
`infoest.variational.bounds.score_matrix` vmaps it over all pairs.

* `ConcatCritic` (joint): one MLP on ``concat(x, y)``; B² network evaluations per batch.
  The architecture of ``bmi`` (hidden ``(16, 8)``) and of the SMILE paper ("concat").
* `SeparableCritic`: ``g(x)ᵀ h(y)`` with two MLP encoders to an embedding; B network
  evaluations plus one B×B matmul, so large batches are cheap. Song & Ermon's "separable".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import Array

from infoest.nn import MLP

__all__ = ["ConcatCritic", "SeparableCritic", "FlaxCritic", "make_critic"]


class ConcatCritic(eqx.Module):
    """Joint critic ``f(x, y) = MLP(concat(x, y))`` with a scalar linear output.

    Args:
        dx, dy: feature dimensions of x and y.
        hidden: hidden-layer widths, e.g. ``(16, 8)`` (bmi) or ``(256, 256, 256)`` (SMILE).
        activation: nonlinearity after every hidden layer (default ReLU).
        key: PRNG key for the initial weights.
    """

    net: MLP

    def __init__(self, dx: int, dy: int, hidden: Sequence[int] = (16, 8), *,
                 activation: Callable[[Array], Array] = jax.nn.relu, key: Array, dtype=None):
        self.net = MLP(dx + dy, "scalar", hidden, activation=activation, key=key, dtype=dtype)

    def __call__(self, x: Array, y: Array) -> Array:
        return self.net(jnp.concatenate([x, y]))

    def scores(self, x: Array, y: Array) -> Array:
        """The ``(len(x), len(y))`` score matrix. The first layer is split,
        ``W [x; y] + b = (W_x x + b) + W_y y``, so it costs O(B) matvecs, not O(B²)."""
        first, *rest = self.net.layers
        dx = x.shape[-1]
        h = (x @ first.weight[:, :dx].T + first.bias)[:, None, :] + (y @ first.weight[:, dx:].T)
        for layer in rest:
            h = self.net.activation(h) @ layer.weight.T + layer.bias
        return h[..., 0]


class SeparableCritic(eqx.Module):
    """Separable critic ``f(x, y) = g(x)ᵀ h(y)``; ``g``, ``h`` MLPs to ``embed_dim`` features.

    Args:
        dx, dy: feature dimensions of x and y.
        hidden: hidden-layer widths of both encoders.
        embed_dim: embedding size (32 in Song & Ermon's experiments).
        activation: nonlinearity after every hidden layer (default ReLU).
        key: PRNG key for the initial weights.
    """

    g: MLP
    h: MLP

    def __init__(self, dx: int, dy: int, hidden: Sequence[int] = (64, 64), embed_dim: int = 32,
                 *, activation: Callable[[Array], Array] = jax.nn.relu, key: Array, dtype=None):
        kg, kh = jax.random.split(key)
        self.g = MLP(dx, embed_dim, hidden, activation=activation, key=kg, dtype=dtype)
        self.h = MLP(dy, embed_dim, hidden, activation=activation, key=kh, dtype=dtype)

    def __call__(self, x: Array, y: Array) -> Array:
        return jnp.dot(self.g(x), self.h(y))

    def scores(self, x: Array, y: Array) -> Array:
        """The ``(len(x), len(y))`` score matrix with one matmul."""
        return jax.vmap(self.g)(x) @ jax.vmap(self.h)(y).T


class FlaxCritic(eqx.Module):
    """Adapter: a flax ``linen`` module as a critic (the ``flax`` extra).

    The module must map one pair ``(x, y)`` of feature vectors to a scalar (or shape ``(1,)``)
    via ``module.apply({"params": params}, x, y)``. Its parameters become leaves of this equinox
    Module, so it trains, jits and vmaps like any other critic::

        import flax.linen as nn

        class Critic(nn.Module):
            @nn.compact
            def __call__(self, x, y):
                h = nn.relu(nn.Dense(32)(jnp.concatenate([x, y])))
                return nn.Dense(1)(h)[0]

        critic = FlaxCritic.init(Critic(), dx, dy, key=key)
        infoest.variational.mutual_information(x, y, critic=critic, key=key)

    flax is imported only by `init`; this module does not depend on it.
    """

    params: Any
    module: Any = eqx.field(static=True)

    def __init__(self, module: Any, params: Any):
        self.module = module
        self.params = params

    @classmethod
    def init(cls, module: Any, dx: int, dy: int, *, key: Array, dtype=jnp.float32) -> FlaxCritic:
        """Initialise ``module``'s parameters on a dummy pair of sizes ``dx``, ``dy``."""
        try:
            import flax  # noqa: F401
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError("FlaxCritic needs flax: pip install 'infoest[flax]'") from err
        variables = module.init(key, jnp.zeros((dx,), dtype), jnp.zeros((dy,), dtype))
        return cls(module, variables["params"])

    def __call__(self, x: Array, y: Array) -> Array:
        return jnp.reshape(self.module.apply({"params": self.params}, x, y), ())


def make_critic(kind: str, dx: int, dy: int, *, hidden: Sequence[int], embed_dim: int = 32,
                key: Array, dtype=None) -> eqx.Module:
    """Build a built-in critic by name: ``"joint"`` (`ConcatCritic`) or
    ``"separable"`` (`SeparableCritic`)."""
    if kind == "joint":
        return ConcatCritic(dx, dy, hidden, key=key, dtype=dtype)
    if kind == "separable":
        return SeparableCritic(dx, dy, hidden, embed_dim, key=key, dtype=dtype)
    raise ValueError(f"unknown `critic`={kind!r}; valid values: 'joint', 'separable', or a module")
