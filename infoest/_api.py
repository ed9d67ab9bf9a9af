"""The quantity-level entry points: one function per quantity, dispatching on ``method=``."""

from __future__ import annotations

from typing import Any

from infoest._estimate import Estimate
from infoest._registry import get


def entropy(x, *, method: str = "kl", **kwargs: Any) -> Estimate:
    """Differential entropy H(X) in nats of samples ``x: (n, d)``.

    ``method`` names a registered estimator (``infoest.methods("entropy")``); the remaining
    keyword arguments go to it unchanged.
    """
    return get("entropy", method).fn(x, **kwargs)


def mutual_information(x, y, *, method: str = "ksg", **kwargs: Any) -> Estimate:
    """Mutual information I(X;Y) in nats of paired samples ``x: (n, dx)``, ``y: (n, dy)``."""
    return get("mutual_information", method).fn(x, y, **kwargs)


def conditional_mutual_information(x, y, z, *, method: str = "ksg", **kwargs: Any) -> Estimate:
    """Conditional mutual information I(X;Y|Z) in nats of paired samples."""
    return get("conditional_mutual_information", method).fn(x, y, z, **kwargs)


def o_information(variables, *, method: str = "gaussian", **kwargs: Any) -> Estimate:
    """O-information Ω = TC − DTC in nats.

    ``variables`` is either a sequence of arrays ``(n, d_i)`` (vector-valued variables) or one
    ``(n, k)`` array of k scalar variables. Ω > 0: redundancy dominates; Ω < 0: synergy.
    """
    return get("o_information", method).fn(variables, **kwargs)


def transfer_entropy(source, target, *, method: str = "ksg", **kwargs: Any) -> Estimate:
    """Transfer entropy TE(source → target) in nats of time series (time on axis 0)."""
    return get("transfer_entropy", method).fn(source, target, **kwargs)
