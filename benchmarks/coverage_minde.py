"""Coverage of MINDE's ``value ± 1.96·stderr`` at its defaults (issue 12, docs/score.md).

R data sets of a bivariate normal (ρ, n) are drawn and estimated in one vmapped, jitted
call (`method="minde"` or `"neural"`, every option at its default unless given), and the
fraction of intervals that cover the truth is printed with a Clopper–Pearson interval.

Usage: ``python benchmarks/coverage_minde.py --method minde --reps 32 --n 1000
[--steps 10000] [--quantity entropy] [--json out.json]``. With ``--quantity entropy`` the
estimate is MINDE's entropy of the joint (x, y), truth log(2πe) + ½ log(1 − ρ²).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import numpy as np
from scipy import stats

import infoest


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    a = 1 - level
    lo = 0.0 if k == 0 else stats.beta.ppf(a / 2, k, n - k + 1)
    hi = 1.0 if k == n else stats.beta.ppf(1 - a / 2, k + 1, n - k)
    return float(lo), float(hi)


def run(method: str, reps: int, n: int, rho: float, seed: int, quantity: str = "mi",
        **options) -> dict:
    task = infoest.tasks.bivariate_normal(rho)
    kd, ke = jax.random.split(jax.random.PRNGKey(seed))
    truth = (task.value if quantity == "mi"
             else float(np.log(2 * np.pi * np.e) + 0.5 * np.log(1 - rho**2)))

    def one(dk, ek):
        x, y = task.sample(dk, n)
        if quantity == "mi":
            e = infoest.mutual_information(x, y, method=method, key=ek, throw=False, **options)
        else:
            e = infoest.entropy(jax.numpy.concatenate([x, y], axis=1), method=method, key=ek,
                                throw=False, **options)
        return e.value, e.stderr, e.status

    start = time.perf_counter()
    v, se, st = jax.jit(jax.vmap(one))(jax.random.split(kd, reps), jax.random.split(ke, reps))
    v, se, st = np.asarray(v), np.asarray(se), np.asarray(st)
    seconds = time.perf_counter() - start
    ok = st == 0
    covered = np.abs(v - truth) <= 1.96 * se
    k = int(covered[ok].sum())
    m = int(ok.sum())
    around = np.abs(v - v[ok].mean()) <= 1.96 * se
    return dict(method=method, quantity=quantity, n=n, rho=rho, truth=truth, reps=reps, ok=m,
                options=options, seconds=round(seconds, 1), mean=float(v[ok].mean()),
                sd=float(v[ok].std(ddof=1)), mean_stderr=float(se[ok].mean()),
                covered=k, coverage=k / max(m, 1), interval=clopper_pearson(k, m),
                coverage_around_mean=float(around[ok].mean()),
                values=v.tolist(), stderrs=se.tolist())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--method", default="minde")
    p.add_argument("--reps", type=int, default=32)
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--rho", type=float, default=0.5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--replicates", type=int, default=None)
    p.add_argument("--quantity", choices=("mi", "entropy"), default="mi")
    p.add_argument("--json", default="")
    args = p.parse_args(argv)
    options = {k: v for k, v in (("steps", args.steps), ("replicates", args.replicates))
               if v is not None}
    out = run(args.method, args.reps, args.n, args.rho, args.seed, args.quantity, **options)
    short = {k: v for k, v in out.items() if k not in ("values", "stderrs")}
    print(json.dumps(short, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
