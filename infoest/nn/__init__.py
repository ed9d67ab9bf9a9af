"""Equinox building blocks shared by the neural families (critics, score networks, ...)."""

from infoest.nn.mlp import MLP

__all__ = ["MLP"]
