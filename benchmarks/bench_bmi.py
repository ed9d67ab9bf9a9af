"""Markdown tables of an ``infoest bench --suite bmi --json PATH`` run (docs/bmi.md).

    infoest bench --suite bmi --n 5000 --seeds 5 --methods ksg,gaussian --copula both \\
        --json bmi.json --plot docs/img/bmi_ksg_gaussian.png
    python benchmarks/bench_bmi.py bmi.json [more.json ...]

Several JSON files (e.g. one per chunk of ``--tasks``) are read as one run.
"""

from __future__ import annotations

import json
import math
import sys

from infoest import bench
from infoest.tasks.bmi import family


def load(path: str) -> list[bench.Result]:
    rows = json.load(open(path))["results"]
    fields = {f for f in bench.Result.__dataclass_fields__}
    return [bench.Result(**{k: (math.nan if v is None else v) for k, v in r.items()
                            if k in fields}) for r in rows]


def main(*paths: str) -> None:
    results = [r for path in paths for r in load(path)]
    print(bench.markdown_summary(results), "\n")
    print(bench.markdown_summary(results, group=family), "\n")
    methods = list(dict.fromkeys(r.method for r in results))
    print("| task | truth | " + " | ".join(methods) + " |")
    print("|---|---|" + "---|" * len(methods))
    for task in dict.fromkeys(r.task for r in results):
        rows = {r.method: r for r in results if r.task == task}
        truth = next(iter(rows.values())).truth
        cells = [f"{rows[m].estimate:.3f}" if m in rows and math.isfinite(rows[m].estimate)
                 else "—" for m in methods]
        print(f"| `{task}` | {truth:.4f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(*sys.argv[1:])
