"""Ground-truth O-information block systems (the SΩI synthetic benchmark).

Bounoua, Franzese, Michiardi, "SΩI", ICML 2024, ``src/benchmark/synthetic_dataset.py``: all
variables N(0, 1) with a block-diagonal correlation matrix; every variable is replicated to
``dim`` i.i.d. coordinates (covariance Σ ⊗ I_dim), so every quantity scales with ``dim``.

- redundant block of k variables: equicorrelation ρ;
- synergistic block of k variables: with c = k − 1, Corr(X_0, X_1) = 1/√c,
  Corr(X_1, X_i) = ρ/√c for i ≥ 2, all other off-diagonals 0 (a Gaussian analogue of XOR).

Ω of the system (closed form
[`infoest.gaussian.o_information_from_cov`][infoest.gaussian.o_information_from_cov]) is additive
over
blocks; e.g. per unit ``dim``: red3(0.5) 0.0849, syn3(0.5) −0.0771, red [3,3,4] at ρ = 0.5
0.3930 (reference ``score_based.md`` §8).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.linalg

from infoest.tasks._task import Task
from infoest.tasks.distributions import gaussian_o_information

__all__ = ["redundant_block", "synergistic_block", "block_cov", "block_system", "tasks"]


def redundant_block(k: int, rho: float) -> np.ndarray:
    """Equicorrelation matrix of k variables with correlation ``rho``."""
    return np.full((k, k), rho) + (1.0 - rho) * np.eye(k)


def synergistic_block(k: int, rho: float) -> np.ndarray:
    """SΩI's synergistic block of k ≥ 3 variables (see the module docstring)."""
    if k < 3:
        raise ValueError(f"a synergistic block needs k >= 3 variables, got {k}")
    c = k - 1
    cov = np.eye(k)
    cov[0, 1] = cov[1, 0] = 1.0 / np.sqrt(c)
    cov[1, 2:] = cov[2:, 1] = rho / np.sqrt(c)
    return cov


def block_cov(blocks: Sequence[tuple[str, int, float]]) -> np.ndarray:
    """Block-diagonal correlation of ``blocks``: ``("red" | "syn", k, rho)`` each."""
    parts = []
    for kind, k, rho in blocks:
        if kind not in ("red", "syn"):
            raise ValueError(f"block kind must be 'red' or 'syn', got {kind!r}")
        parts.append(redundant_block(k, rho) if kind == "red" else synergistic_block(k, rho))
    return scipy.linalg.block_diag(*parts)


def block_system(blocks: Sequence[tuple[str, int, float]], dim: int = 1, *,
                 name: str | None = None) -> Task:
    """Task: the variables of ``blocks``, each replicated to ``dim`` coordinates.

    The sampler returns one ``(n, k)`` array for ``dim=1``, else a list of k ``(n, dim)``
    arrays (vector-valued variables); ``value`` is the exact Ω in nats.
    """
    cov = np.kron(block_cov(blocks), np.eye(dim))
    k = sum(b[1] for b in blocks)
    label = "+".join(f"{kind}{kk}({rho:g})" for kind, kk, rho in blocks)
    task = gaussian_o_information(cov, None if dim == 1 else [dim] * k,
                                  name=name or f"oinfo-blocks-{label}-x{dim}")
    return Task(task.name, task.quantity, task.value, task.sampler,
                {"blocks": [tuple(b) for b in blocks], "dim": dim})


def tasks(quick: bool = False) -> list[Task]:
    """Block systems for ``infoest bench`` (``quick``: one redundant, one synergistic)."""
    found = [block_system([("red", 3, 0.5), ("red", 3, 0.5), ("red", 4, 0.5)]),
             block_system([("syn", 3, 0.7)])]
    if quick:
        return found
    return found + [
        block_system([("syn", 3, 0.5), ("syn", 3, 0.5), ("syn", 4, 0.5)]),
        block_system([("red", 3, 0.7), ("syn", 3, 0.7)]),
        block_system([("red", 3, 0.5), ("red", 3, 0.5), ("red", 4, 0.5)], dim=5),
    ]
