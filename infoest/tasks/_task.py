"""The ground-truth task type shared by every family's tasks and by ``infoest bench``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass(frozen=True)
class Task:
    """Samples of known information content.

    Attributes:
        name: short identifier, e.g. ``"multinormal-dense-5x5"``.
        quantity: the registry quantity the truth refers to (``"mutual_information"``, ...).
        value: the exact value in nats.
        sampler: ``sampler(key, n) -> tuple of arrays``, the positional data arguments of the
            quantity's entry point (e.g. ``(x, y)``), samples on axis 0.
        params: the task's parameters, for reports.
    """

    name: str
    quantity: str
    value: float
    sampler: Callable[..., tuple[Any, ...]]
    params: dict[str, Any] = dataclasses.field(default_factory=dict)

    def sample(self, key, n: int) -> tuple[Any, ...]:
        """Draw ``n`` samples with the PRNG ``key``; returns the data arguments as a tuple."""
        return self.sampler(key, n)
