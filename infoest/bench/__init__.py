"""``infoest bench``: every registered estimator on the ground-truth tasks of its quantity.

Methods come from the registry (:func:`infoest.methods`), tasks from the discovery protocol of
:mod:`infoest.tasks` (each task module's ``tasks(quick)``), so a newly registered estimator or
task is benchmarked with no change here. :func:`run` returns :class:`Result` rows;
:func:`format_table`, :func:`write_json` and :func:`plot` report them.
"""

from infoest.bench._report import format_table, plot, write_json
from infoest.bench._runner import FULL, QUICK, Result, plan, run, select_methods, select_tasks

__all__ = [
    "FULL",
    "QUICK",
    "Result",
    "format_table",
    "plan",
    "plot",
    "run",
    "select_methods",
    "select_tasks",
    "write_json",
]
