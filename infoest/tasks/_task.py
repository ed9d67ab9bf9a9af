"""The ground-truth task type shared by every family's tasks and by ``infoest bench``.

Discovery protocol: a module listed in ``infoest.tasks.MODULES`` (``bmi``, ``distributions``,
``blocks``, ``processes``, ``spectral``) contributes to ``infoest bench`` by defining

    def tasks(quick: bool = False) -> list[Task]: ...

returning its tasks; with ``quick=True`` only one or two per quantity and measure (the quick
benchmark runs every registered method of that quantity and measure on each of them, at
small n). Task names must be
unique across modules. ``Task.sampler(key, n)`` must be pure JAX (explicit key, no global
state) and return the positional data arguments of the quantity's entry point, e.g. ``(x, y)``
for mutual information, ``(x,)`` for entropy, ``(source, target)`` for transfer entropy.
"""

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
        measure: which functional ``value`` is: ``"shannon"`` (differential / Shannon
            information, the default) or a spectral measure (``"von-neumann"``,
            ``"matrix-renyi"``, ``"diffusion"``; `infoest.tasks.spectral`).
            ``infoest bench`` runs a method only on tasks of its own measure.
    """

    name: str
    quantity: str
    value: float
    sampler: Callable[..., tuple[Any, ...]]
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    measure: str = "shannon"

    def sample(self, key, n: int) -> tuple[Any, ...]:
        """Draw ``n`` samples with the PRNG ``key``; returns the data arguments as a tuple."""
        return self.sampler(key, n)
