"""Variational (neural) MI estimators: DV, MINE, NWJ, InfoNCE, JS and SMILE.

* [`infoest.variational.bounds`][infoest.variational.bounds]: the bounds as pure functions of a
critic score matrix
  (and memory-linear statistics that never build it).
* [`infoest.variational.critics`][infoest.variational.critics]: joint (concat) and separable
critics, a flax adapter.
* [`mutual_information`][infoest.variational.mutual_information]: one compiled call (train on a
split, evaluate held out);
  [`fit_critic`][infoest.variational.fit_critic] / [`evaluate`][infoest.variational.evaluate] for
  the two stages separately. Registered as
  ``infoest.mutual_information(..., method="smile" | "mine" | "nwj" | "infonce" | "dv")``.

Training uses the shared driver [`infoest.train.fit`][infoest.train.fit].
"""

from infoest.variational import bounds, critics
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
    "bounds",
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
