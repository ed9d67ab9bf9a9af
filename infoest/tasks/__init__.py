"""Ground truth: distributions and processes with known information values.

Every task is a [`Task`][infoest.tasks.Task]: a name, the quantity it measures, its exact ``value``
in nats
and a pure-JAX ``sampler(key, n)`` returning the positional data arguments of that quantity's
entry point. Constructors live in the family modules
([`distributions`][infoest.tasks.distributions], [`bmi`][infoest.tasks.bmi],
[`blocks`][infoest.tasks.blocks], [`processes`][infoest.tasks.processes],
`spectral`) and are re-exported here.

Discovery (used by ``infoest bench``): each module listed in `MODULES` may define
``tasks(quick: bool = False) -> list[Task]``; [`all_tasks`][infoest.tasks.all_tasks] concatenates
them. With
``quick=True`` a module returns one or two tasks per quantity it covers.
"""

from __future__ import annotations

from infoest.tasks import blocks, bmi, distributions, processes, spectral
from infoest.tasks._task import Task
from infoest.tasks.bmi import bmi_v1
from infoest.tasks.distributions import (
    additive_uniform,
    asinh,
    bivariate_normal,
    gaussian_chain,
    gaussian_entropy,
    gaussian_o_information,
    half_cube,
    multinormal,
    multinormal_cmi,
    multinormal_dense,
    multinormal_sparse,
    normal_cdf,
    standardized,
    student_t,
    student_t_entropy,
    transformed,
    uniform_entropy,
)

#: The modules searched by `all_tasks`, each optionally defining ``tasks(quick)``.
MODULES = (bmi, distributions, blocks, processes, spectral)


def all_tasks(quantity: str | None = None, *, quick: bool = False) -> list[Task]:
    """Every discoverable task (of one ``quantity``, or of all); names are unique."""
    found: list[Task] = []
    for module in MODULES:
        provider = getattr(module, "tasks", None)
        if provider is not None:
            found.extend(provider(quick=quick))
    names = [t.name for t in found]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise RuntimeError(f"duplicate task names: {duplicates}")
    return [t for t in found if quantity is None or t.quantity == quantity]


def get(name: str) -> Task:
    """The discoverable task called ``name``; ValueError listing the valid names."""
    tasks = {t.name: t for t in all_tasks()}
    if name not in tasks:
        raise ValueError(f"unknown task {name!r}; valid tasks: {', '.join(sorted(tasks))}")
    return tasks[name]


__all__ = [
    "Task",
    "MODULES",
    "all_tasks",
    "get",
    "blocks",
    "bmi",
    "distributions",
    "processes",
    "spectral",
    "additive_uniform",
    "asinh",
    "bivariate_normal",
    "bmi_v1",
    "gaussian_chain",
    "gaussian_entropy",
    "gaussian_o_information",
    "half_cube",
    "multinormal",
    "multinormal_cmi",
    "multinormal_dense",
    "multinormal_sparse",
    "normal_cdf",
    "standardized",
    "student_t",
    "student_t_entropy",
    "transformed",
    "uniform_entropy",
]
