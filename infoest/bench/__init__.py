"""``infoest bench``: every registered estimator on the ground-truth tasks of its quantity.

Methods come from the registry ([`infoest.methods`][infoest.methods]), tasks from the discovery
protocol of
`infoest.tasks` (each task module's ``tasks(quick)``), so a newly registered estimator or
task is benchmarked with no change here. [`run`][infoest.bench.run] returns
[`Result`][infoest.bench.Result] rows;
[`format_table`][infoest.bench.format_table], [`write_json`][infoest.bench.write_json] and
[`plot`][infoest.bench.plot] report them.
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
