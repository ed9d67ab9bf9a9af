"""The ``infoest`` command.

``infoest bench``     every registered estimator on the ground-truth tasks of its quantity
``infoest estimate``  one estimate from arrays saved as ``.npy`` (no pickle) or ``.csv``

Examples::

    infoest bench --quick --json results.json --plot results.png
    infoest bench --methods ksg,gaussian --tasks "multinormal-*"
    infoest bench --suite bmi --n 5000 --seeds 5 --methods ksg,gaussian --copula both
    infoest estimate --x reps.npy --y labels.npy --discrete y
    infoest estimate --x a.npy --y b.npy --method ksg --param k=4
    infoest estimate --x a.csv --quantity entropy --method kl
"""

from __future__ import annotations

import argparse
import ast
import importlib.metadata
import sys
from pathlib import Path
from typing import Any

import numpy as np

QUANTITY_ALIASES = {
    "entropy": "entropy",
    "h": "entropy",
    "mutual_information": "mutual_information",
    "mi": "mutual_information",
    "conditional_mutual_information": "conditional_mutual_information",
    "cmi": "conditional_mutual_information",
    "o_information": "o_information",
    "oinfo": "o_information",
    "transfer_entropy": "transfer_entropy",
    "te": "transfer_entropy",
}
#: The data options each quantity takes, in the entry point's positional order.
ARRAYS = {
    "entropy": ("x",),
    "mutual_information": ("x", "y"),
    "conditional_mutual_information": ("x", "y", "z"),
    "o_information": ("x",),
    "transfer_entropy": ("x", "y"),
}


def _csv_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="infoest", description="Information estimators in JAX (values in nats).")
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {importlib.metadata.version('infoest')}")
    sub = parser.add_subparsers(dest="command", required=True)

    bench = sub.add_parser("bench", help="run registered estimators on ground-truth tasks",
                           description="Run every registered estimator on the ground-truth "
                           "tasks of its quantity and print per row the truth, estimate, "
                           "error, stderr, whether the truth is inside the 95%% interval, "
                           "seconds (including compilation) and the status read from the "
                           "estimate (flagged when absurd); then a summary per method.")
    bench.add_argument("--quick", action="store_true",
                       help="one or two tasks per quantity, n=1000, small hyperparameters")
    bench.add_argument("--suite", choices=("bmi",), default=None,
                       help="bmi: the 40 BMI v1 tasks (mutual information; Czyż et al. 2023)")
    bench.add_argument("--seeds", type=int, default=1,
                       help="data sets per method and task; rows report mean and spread")
    bench.add_argument("--copula", choices=("off", "on", "both"), default="off",
                       help="also (both) or only (on) run MI/CMI/TE methods with copula=True")
    bench.add_argument("--methods", type=_csv_list, default=None, metavar="GLOBS",
                       help="comma-separated method globs: 'ksg', 'entropy:*'; 'neural': "
                       "the default neural MI estimator (method='neural')")
    bench.add_argument("--defaults", action="store_true",
                       help="run every estimator at its own defaults, not the benchmark's "
                       "shorter settings (the setting of published comparisons; slower)")
    bench.add_argument("--tasks", type=_csv_list, default=None, metavar="GLOBS",
                       help="comma-separated task-name globs: 'multinormal-*'")
    bench.add_argument("--n", type=int, default=None, help="samples per task")
    bench.add_argument("--seed", type=int, default=0, help="seed of data and estimator keys")
    bench.add_argument("--method-budget", type=float, default=None, metavar="SECONDS",
                       help="a method's rows after this many seconds are 'not run (budget)' "
                       "(excluded from the summary; makes the rows run depend on speed)")
    bench.add_argument("--budget", type=float, default=None, metavar="SECONDS",
                       help="rows after this many seconds in all are 'not run (budget)'")
    bench.add_argument("--json", type=Path, default=None, metavar="PATH",
                       help="write the results as JSON")
    bench.add_argument("--plot", type=Path, default=None, metavar="PATH",
                       help="write a PNG of estimate against truth")
    bench.add_argument("--list", action="store_true",
                       help="list the selected methods and tasks, run nothing")
    bench.add_argument("--strict", action="store_true",
                       help="exit with status 1 if any row failed or was flagged")
    bench.add_argument("--no-progress", action="store_true", help="no progress bar")

    est = sub.add_parser("estimate", help="estimate a quantity from arrays on disk",
                         description="Estimate an information quantity (nats) from samples "
                         "saved as .npy (loaded without pickle) or .csv/.txt (numpy.loadtxt); "
                         "samples on axis 0.")
    est.add_argument("--x", type=Path, required=True, metavar="PATH",
                     help="samples of X (for transfer entropy: the source)")
    est.add_argument("--y", type=Path, default=None, metavar="PATH",
                     help="samples of Y (for transfer entropy: the target)")
    est.add_argument("--z", type=Path, default=None, metavar="PATH",
                     help="samples of the conditioning Z (conditional MI)")
    est.add_argument("--quantity", default=None, choices=sorted(QUANTITY_ALIASES),
                     metavar="QUANTITY",
                     help="entropy (h), mutual_information (mi), conditional_mutual_information "
                     "(cmi), o_information (oinfo), transfer_entropy (te); default: entropy with "
                     "--x only, MI with --y, CMI with --y and --z")
    est.add_argument("--method", default=None,
                     help="registered method (default: the entry point's default)")
    est.add_argument("--param", "-p", action="append", default=[], metavar="NAME=VALUE",
                     help="keyword hyperparameter, repeatable: -p k=4 -p algorithm=2")
    est.add_argument("--discrete", choices=("x", "y", "z", "both", "all", "mixed"),
                     default=None, help="which variables are discrete (integer labels), "
                     "e.g. y for MI between a representation and class labels")
    est.add_argument("--seed", type=int, default=0, help="seed of the key of stochastic methods")
    est.add_argument("--bits", action="store_true", help="report bits instead of nats")
    bench.set_defaults(handler=_bench, subparser=bench)
    est.set_defaults(handler=_estimate, subparser=est)
    return parser


def _load(path: Path, name: str, parser: argparse.ArgumentParser) -> np.ndarray:
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            return np.load(path, allow_pickle=False)
        if suffix == ".csv":
            return np.loadtxt(path, delimiter=",", ndmin=1)
        if suffix in (".txt", ".tsv", ".dat"):
            return np.loadtxt(path, ndmin=1)
    except (OSError, ValueError, EOFError) as err:
        reason = str(err).strip().splitlines()
        parser.error(f"cannot read --{name} {path}: {reason[0] if reason else type(err).__name__}")
    parser.error(f"--{name} {path}: unsupported file type {suffix!r} (use .npy or .csv)")


def _param(text: str, parser: argparse.ArgumentParser) -> tuple[str, Any]:
    name, sep, raw = text.partition("=")
    if not sep or not name.isidentifier():
        parser.error(f"--param {text!r}: expected NAME=VALUE, e.g. k=4")
    try:
        return name, ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return name, raw  # a bare string such as backend=tree


def _estimate(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    import jax

    from infoest import _api, _registry  # importing infoest registers every family
    from infoest._contract import EstimationError

    given = {name: getattr(args, name) for name in ("x", "y", "z") if getattr(args, name)}
    if args.quantity is not None:
        quantity = QUANTITY_ALIASES[args.quantity]
    else:
        quantity = {1: "entropy", 2: "mutual_information"}.get(
            len(given), "conditional_mutual_information")
    wanted = ARRAYS[quantity]
    missing = [f"--{a}" for a in wanted if a not in given]
    extra = [f"--{a}" for a in given if a not in wanted]
    if missing or extra:
        parser.error(f"{quantity} takes {', '.join('--' + a for a in wanted)}"
                     + (f"; missing {', '.join(missing)}" if missing else "")
                     + (f"; not used: {', '.join(extra)}" if extra else ""))
    kwargs = dict(_param(p, parser) for p in args.param)
    if args.discrete is not None:
        kwargs["discrete"] = args.discrete
    entry = getattr(_api, quantity)
    try:
        if args.method is not None:
            method = _registry.get(quantity, args.method)
            kwargs["method"] = args.method
            if method.stochastic and "key" not in kwargs:
                kwargs["key"] = jax.random.PRNGKey(args.seed)
        data = [_load(given[a], a, parser) for a in wanted]
        estimate = entry(*data, **kwargs)
        if args.bits:
            estimate = estimate.to_bits()
        value, stderr = float(estimate.value), float(estimate.stderr)
    except (ValueError, TypeError, EstimationError) as err:
        reason = str(err).strip().splitlines()
        parser.error(reason[0] if reason else type(err).__name__)
    label = estimate.method or args.method or "default"
    error = f" ± {stderr:.6f}" if np.isfinite(stderr) else ""
    print(f"{quantity} ({label}): {value:.6f}{error} {estimate.units}")
    return 0


def _bench_report(args, results, bench) -> None:
    print(bench.format_table(results))
    if args.json is not None:
        n = args.n or (bench.QUICK if args.quick else bench.FULL)["n"]
        bench.write_json(results, args.json, quick=args.quick, suite=args.suite, n=n,
                         seed=args.seed, seeds=args.seeds, copula=args.copula,
                         methods=args.methods, tasks=args.tasks, defaults=args.defaults)
        print(f"results written to {args.json}")
    if args.plot is not None:
        (bench.plot_tasks if args.suite else bench.plot)(results, args.plot)
        print(f"plot written to {args.plot}")


def _bench(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from infoest import bench  # importing infoest registers every family

    if args.seeds < 1:
        parser.error(f"--seeds must be >= 1, got {args.seeds}")
    methods = args.methods
    if args.suite and methods is None:
        methods = ["mutual_information:*"]
    try:
        chosen = bench.select_methods(methods)
        tasks = bench.select_tasks(args.tasks, quick=args.quick, suite=args.suite)
    except ValueError as err:
        parser.error(str(err))
    if args.list:
        for method, task in bench.plan(chosen, tasks):
            print(f"{method.quantity}:{method.name}\t{task.name}\t{task.value:.6f}")
        return 0
    results = bench.run(
        quick=args.quick, methods=methods, tasks=args.tasks, n=args.n, seed=args.seed,
        seeds=args.seeds, suite=args.suite, copula=args.copula,
        method_budget=args.method_budget, total_budget=args.budget,
        progress=not args.no_progress, defaults=args.defaults)
    _bench_report(args, results, bench)
    failed = [r for r in results if r.ran and not r.ok]
    if failed:
        print(f"{len(failed)} row(s) failed or flagged", file=sys.stderr)
    return 1 if failed and args.strict else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``infoest`` console script; returns the exit status."""
    args = _parser().parse_args(argv)
    return args.handler(args, args.subparser)


if __name__ == "__main__":
    sys.exit(main())
