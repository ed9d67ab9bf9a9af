"""Variational (neural) MI estimators: DV, MINE, NWJ, InfoNCE, JS and SMILE.

* `infoest.variational.bounds`: the bounds as pure functions of a critic score matrix
  (and memory-linear statistics that never build it).
* `infoest.variational.config`: `VariationalConfig`, every option and its default.
* `infoest.variational.critics`: joint (concat) and separable critics, a flax adapter.
* `mutual_information`: one compiled call (train on a split, evaluate held out);
  `fit_critic` / `evaluate` for the two stages separately. Registered as
  ``infoest.mutual_information(..., method="smile" | "mine" | "nwj" | "infonce" | "dv")``.

Training uses the shared driver `infoest.train.fit`.
"""

from infoest.variational import bounds, config, critics
from infoest.variational.config import VariationalConfig
from infoest.variational.critics import ConcatCritic, FlaxCritic, SeparableCritic
from infoest.variational.estimators import (
    BOUNDS,
    CriticFit,
    dv,
    evaluate,
    fit_critic,
    infonce,
    mine,
    mutual_information,
    nwj,
    smile,
)

__all__ = [
    "BOUNDS",
    "ConcatCritic",
    "CriticFit",
    "FlaxCritic",
    "SeparableCritic",
    "VariationalConfig",
    "bounds",
    "config",
    "critics",
    "dv",
    "evaluate",
    "fit_critic",
    "infonce",
    "mine",
    "mutual_information",
    "nwj",
    "smile",
]
