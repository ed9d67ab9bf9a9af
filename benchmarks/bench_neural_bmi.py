"""The default neural estimator (``method="neural"``) on the 40 BMI v1 tasks, one task at a
time, each result appended to a JSON-lines file as soon as it is done (a run killed part way
keeps its rows; rerunning skips the tasks already in the file). Results: ``docs/bmi.md``,
"Neural default".

    python benchmarks/bench_neural_bmi.py OUT.jsonl [--n 5000] [--seed 0] \\
        [--options '{"steps": 10000}'] [--tasks 'spiral-*']
    python benchmarks/bench_neural_bmi.py --summary OUT.jsonl [OTHER.jsonl ...]

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

import jax
import numpy as np

import infoest
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
        row = dict(task=task.name, truth=task.value, est=value, err=value - task.value,
                   stderr=stderr, sec=time.perf_counter() - start, status=int(est.status),
                   load=open("/proc/loadavg").read().split()[0], n=n)
        print(json.dumps(row), flush=True)
        with open(out, "a") as f:
            f.write(json.dumps(row) + "\n")


def summary(paths: list[str]) -> None:
    for path in paths:
        with open(path) as f:
            rows = [json.loads(line) for line in f]
        err = np.array([abs(r["err"]) for r in rows])
        print(f"{path}: {len(rows)} tasks, mean abs. error {err.mean():.3f}, "
              f"within 0.1: {(err <= 0.1).sum()} / {len(rows)}")
        fams: dict[str, list[float]] = {}
        for r, e in zip(rows, err, strict=True):
            fams.setdefault(family(r["task"]), []).append(e)
        for fam, errs in fams.items():
            print(f"  {fam}: {len(errs)} tasks, MAE {np.mean(errs):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--summary", action="store_true")
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--options", default="{}", help="JSON keyword arguments")
    parser.add_argument("--tasks", default="*", help="glob on task names")
    args = parser.parse_args()
    if args.summary:
        summary(args.paths)
    else:
        run(args.paths[0], args.n, args.seed, json.loads(args.options), args.tasks)


if __name__ == "__main__":
    main()
