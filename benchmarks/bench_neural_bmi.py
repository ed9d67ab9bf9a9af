"""The default neural estimator (``method="neural"``) on the 40 BMI v1 tasks, one task at a
time, each result appended to a JSON-lines file as soon as it is done (a run killed part way
keeps its rows; rerunning skips the tasks already in the file). Results: ``docs/bmi.md``,
"Neural default".

    python benchmarks/bench_neural_bmi.py OUT.jsonl [--n 5000] [--seed 0] \\
        [--options '{"steps": 10000}'] [--tasks 'spiral-*']
    python benchmarks/bench_neural_bmi.py --summary OUT.jsonl [OTHER.jsonl[:LABEL] ...] \\
        [--bench-json ALL.json] [--plot ALL.png]

``--summary`` reads every file as one run: rows of the same method (the file's ``LABEL``,
else the row's ``method``, else ``neural``) and task over several seeds become one row
(mean, seed spread, the fraction of seeds whose 95 % interval holds the truth), written
with ``--bench-json`` in the format of ``infoest bench --json`` (so
``benchmarks/bench_bmi.py`` prints its tables beside other runs) and plotted with ``--plot``.

Data set of task i: ``fold_in(PRNGKey(seed), i)`` (``i`` the task's index in
``infoest.tasks.bmi_v1()``), estimator key ``fold_in(that key, 1)``. Each row records the
estimate, its stderr, the wall time of the call (compilation included on the first task of
each shape) and the 1-minute load average.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import time
from types import SimpleNamespace

import jax
import numpy as np

import infoest
from infoest import bench
from infoest.tasks.bmi import bmi_v1, family


def run(out: str, n: int, seed: int, options: dict, pattern: str) -> None:
    done = set()
    try:
        with open(out) as f:
            done = {json.loads(line)["task"] for line in f}
    except FileNotFoundError:
        pass
    method = options.pop("method", "neural")
    for i, task in enumerate(bmi_v1()):
        if task.name in done or not fnmatch.fnmatchcase(task.name, pattern):
            continue
        key = jax.random.fold_in(jax.random.PRNGKey(seed), i)
        x, y = jax.block_until_ready(task.sample(key, n))
        start = time.perf_counter()
        est = infoest.mutual_information(x, y, method=method, key=jax.random.fold_in(key, 1),
                                          throw=False, **options)
        value, stderr = float(est.value), float(est.stderr)
        row = dict(task=task.name, method=method, seed=seed, truth=task.value, est=value,
                   err=value - task.value, stderr=stderr, sec=time.perf_counter() - start,
                   status=int(est.status),
                   load=open("/proc/loadavg").read().split()[0], n=n)
        print(json.dumps(row), flush=True)
        with open(out, "a") as f:
            f.write(json.dumps(row) + "\n")


def read_rows(paths: list[str]) -> list[dict]:
    rows, seen = [], set()
    for spec in paths:
        path, _, label = spec.partition(":")
        with open(path) as f:
            for line in f:
                row = json.loads(line)
                if (path, row["task"]) in seen:  # two runs resumed into one file
                    continue
                seen.add((path, row["task"]))
                row["method"] = label or row.get("method", "neural")
                rows.append(row)
    return rows


def as_results(rows: list[dict]) -> list[bench.Result]:
    """One `infoest.bench.Result` per (method, task), aggregated over the seeds as
    `infoest bench --seeds` does ([infoest.bench.aggregate][])."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["method"], r["task"]), []).append(r)
    out = []
    for (method, name), group in groups.items():
        task = SimpleNamespace(name=name, quantity="mutual_information",
                               value=group[0]["truth"])
        outcomes = [(r["est"], r["stderr"], bench.judge(r["est"], task.value, r["status"]))
                    for r in group]
        out.append(bench.aggregate(task, method, int(group[0]["n"]), outcomes,
                                   float(sum(r["sec"] for r in group))))
    return out


def summary(paths: list[str], bench_json: str | None, plot: str | None) -> None:
    rows = read_rows(paths)
    results = as_results(rows)
    for method in dict.fromkeys(r.method for r in results):
        mine = [r for r in results if r.method == method]
        err = np.array([abs(r.error) for r in mine])
        per_seed = np.mean([abs(r["err"]) for r in rows if r["method"] == method])
        print(f"{method}: {len(mine)} tasks, {mine[0].seeds} seed(s); error of the seed mean: "
              f"MAE {err.mean():.3f}, within 0.1: {(err <= 0.1).sum()} / {len(mine)}; "
              f"mean per-seed |error| {per_seed:.3f}")
        fams: dict[str, list[float]] = {}
        for r, e in zip(mine, err, strict=True):
            fams.setdefault(family(r.task), []).append(e)
        for fam, errs in fams.items():
            print(f"  {fam}: {len(errs)} tasks, MAE {np.mean(errs):.3f}")
    if bench_json:
        bench.write_json(results, bench_json, source=paths)
    if plot:
        bench.plot_tasks(results, plot)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--summary", action="store_true")
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--options", default="{}", help="JSON keyword arguments")
    parser.add_argument("--tasks", default="*", help="glob on task names")
    parser.add_argument("--bench-json", help="with --summary: write the rows as bench JSON")
    parser.add_argument("--plot", help="with --summary: PNG of estimate - truth per task")
    args = parser.parse_args()
    if args.summary:
        summary(args.paths, args.bench_json, args.plot)
    else:
        run(args.paths[0], args.n, args.seed, json.loads(args.options), args.tasks)


if __name__ == "__main__":
    main()
