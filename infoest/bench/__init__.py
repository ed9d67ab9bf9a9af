"""``infoest bench``: every registered estimator on the ground-truth tasks of its quantity.

Methods come from the registry ([`infoest.methods`][infoest.methods]), tasks from the discovery
protocol of
`infoest.tasks` (each task module's ``tasks(quick)``) or from a suite (``suite="bmi"``:
the 40 BMI v1 tasks), so a newly registered estimator or task is benchmarked with no change
here. [`run`][infoest.bench.run] returns [`Result`][infoest.bench.Result] rows, each with the
estimate's own status, judged
against the truth; [`format_table`][infoest.bench.format_table], `summarize`,
[`write_json`][infoest.bench.write_json], [`plot`][infoest.bench.plot]
and `plot_tasks` report them.
"""

from infoest.bench._report import (
    format_summary,
    format_table,
    markdown_summary,
    plot,
    plot_tasks,
    summarize,
    write_json,
)
from infoest.bench._runner import (
    FULL,
    NOT_RUN,
    QUICK,
    SUITES,
    WITHIN,
    Result,
    aggregate,
    judge,
    plan,
    run,
    select_methods,
    select_tasks,
)

__all__ = [
    "FULL",
    "NOT_RUN",
    "QUICK",
    "SUITES",
    "WITHIN",
    "Result",
    "aggregate",
    "format_summary",
    "format_table",
    "judge",
    "markdown_summary",
    "plan",
    "plot",
    "plot_tasks",
    "run",
    "select_methods",
    "select_tasks",
    "summarize",
    "write_json",
]
