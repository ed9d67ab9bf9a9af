"""Fuzz every registered estimator with the bad, degenerate and extreme inputs of issue #12.

Runs each method × each row of ``tests/contract_cases.py`` (NaN/inf, wrong shapes and
dtypes, too few samples, float16, nested lists, constant variables, identical and duplicated
rows, ×1e±30, +1e4, n < d, absurd learning rates), eagerly and under ``jax.jit`` with the
default ``throw=True``, and counts the outcomes:

- ``silent NaN``: a non-finite value with status ok (or no error);
- ``silent wrong``: a finite value with status ok where an error was due, or a value off
  the expected one (the estimate on the good data, 0 for a constant variable, ...) by more
  than the tolerance of ``contract_cases.tolerance``;
- ``internal``: an ``INTERNAL``/callback error, or an error of an unexpected type, or whose
  message does not name the problem;
- ``clear error``: the expected error type with a message naming the problem;
- ``flagged``: an error raised from a status (diverged, degenerate, not converged, ...);
- ``correct``: a finite value with status ok that is the expected one.

Usage: ``python benchmarks/fuzz_contract.py [--methods ksg,gaussian] [--modes eager,jit]
[--json out.json]``; ``--report a.json,b.json`` prints the Markdown tables of saved runs
(several subsets, e.g. one per method, are combined).
Uses each method's small ``test_kwargs`` (n = 64 mostly). The result of
the last run is in ``docs/contract.md``.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import re
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import jax  # noqa: E402
import numpy as np  # noqa: E402
from contract_cases import (  # noqa: E402
    STATUS_PATTERN,
    cases_for,
    expected_value,
    good_inputs,
    learning_rate_of,
    n_below_d_truth,
    tolerance,
)

import infoest  # noqa: E402
from infoest._registry import methods  # noqa: E402

OUTCOMES = ("silent NaN", "silent wrong", "internal", "clear error", "flagged", "correct")
CLEAR_TYPES = (ValueError, TypeError, RuntimeError)


_JITTED: dict[str, object] = {}


def call(m, data, mode: str, **extra):
    """One call; under ``jit`` one compiled function per method is reused across rows of the
    same shapes (a row with extra hyperparameters gets its own)."""
    kwargs = dict(m.test_kwargs)
    kwargs.update(extra)
    if m.stochastic:
        kwargs["key"] = jax.random.PRNGKey(0)
    fn = m.fn
    if mode != "jit":
        return fn(*data, **kwargs)
    if extra:
        return jax.jit(lambda *a: fn(*a, **kwargs))(*data)
    name = f"{m.quantity}:{m.name}"
    if name not in _JITTED:
        _JITTED[name] = jax.jit(lambda *a: fn(*a, **kwargs))
    return _JITTED[name](*data)


def classify_error(err: Exception, case) -> str:
    text = f"{type(err).__name__}: {err}"
    if re.search(r"INTERNAL|CpuCallback|pure_callback failed|XlaRuntimeError", text) and \
            not re.search(r"[`'][\w\[\]]+[`'] contains|: (" + STATUS_PATTERN + ")", text):
        return "internal"
    if re.search(STATUS_PATTERN, text) and case.expect != "error":
        return "flagged"
    if case.expect == "error":
        types = case.exc if isinstance(case.exc, tuple) else (case.exc,)
        if case.traced:  # under jit a value check surfaces as a RuntimeError
            types = (*types, RuntimeError)
        if isinstance(err, types) and re.search(case.match, str(err), re.I):
            return "clear error"
        return "internal"
    if isinstance(err, CLEAR_TYPES) and "\n" not in str(err).strip() and len(str(err)) < 400:
        return "clear error"
    if learning_rate_of(case) is not None and re.search("learning_rate", str(err)):
        return "clear error"
    return "internal"


def classify_value(est, case, m, reference, good) -> str:
    value, status = float(np.asarray(est.value)), int(np.asarray(est.status))
    if status != 0:
        return "flagged"
    if not math.isfinite(value):
        return "silent NaN"
    if case.expect == "error":
        return "silent wrong"
    if case.name.startswith("n < d"):
        truth = n_below_d_truth(m)
        return "silent wrong" if abs(value - truth) > max(1.0, 3 * abs(truth)) else "correct"
    if learning_rate_of(case) is not None and abs(value - reference) > max(1.0, abs(reference)):
        return "silent wrong"
    want = expected_value(case, m, reference, good)
    if want is None:
        return "correct"
    if case.expect == "zero" and m.stochastic and math.isfinite(want):
        tol = tolerance(m, reference, case)  # a few-step bound: loose, but inventing nothing
        return "correct" if -tol - abs(reference) <= value <= tol else "silent wrong"
    if not math.isfinite(want):
        return "silent wrong"  # entropy of a constant must be flagged, never finite
    return "correct" if abs(value - want) <= tolerance(m, reference, case) else "silent wrong"


def run_one(m, case, mode, reference, good):
    extra = {}
    lr = learning_rate_of(case)
    if lr is not None:
        extra["learning_rate"] = lr
    try:
        data = case.make(m, [np.array(a) for a in good])
        est = call(m, data, mode, **extra)
        seen = f"value {float(np.asarray(est.value)):.4g}, status {int(np.asarray(est.status))}"
        return classify_value(est, case, m, reference, good), seen
    except Exception as err:  # noqa: BLE001 - classifying every failure is the point
        outcome = classify_error(err, case)
        last = str(err).strip().splitlines()
        detail = f"{type(err).__name__}: {last[0][:160] if last else ''}"
        if outcome == "internal":
            detail += " | " + traceback.format_exception_only(type(err), err)[-1][:200]
        return outcome, detail


def markdown(rows) -> str:
    """Counts per mode and per method, and the rows that are not clean, as Markdown."""
    modes = sorted({r["mode"] for r in rows})
    lines = ["| mode | " + " | ".join(OUTCOMES) + " |", "|---" * (len(OUTCOMES) + 1) + "|"]
    for mode in modes:
        counts = collections.Counter(r["outcome"] for r in rows if r["mode"] == mode)
        lines.append(f"| {mode} | " + " | ".join(str(counts[o]) for o in OUTCOMES) + " |")
    lines += ["", "| method | " + " | ".join(OUTCOMES) + " |",
              "|---" * (len(OUTCOMES) + 1) + "|"]
    names = list(dict.fromkeys(f"{r['quantity']}:{r['method']}" for r in rows))
    for name in names:
        counts = collections.Counter(r["outcome"] for r in rows
                                     if f"{r['quantity']}:{r['method']}" == name)
        lines.append(f"| {name} | " + " | ".join(str(counts[o] or "") for o in OUTCOMES)
                     + " |")
    bad = [r for r in rows if r["outcome"] in ("silent NaN", "silent wrong", "internal")]
    lines += ["", "| method | row | mode | outcome | observed |", "|---|---|---|---|---|"]
    lines += [f"| {r['quantity']}:{r['method']} | {r['case']} | {r['mode']} | {r['outcome']} "
              f"| {r['detail'][:120]} |" for r in bad]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="", help="comma-separated method names")
    parser.add_argument("--modes", default="eager,jit")
    parser.add_argument("--json", default="", help="write every row's outcome here")
    parser.add_argument("--report", default="",
                        help="print Markdown tables of saved --json runs (comma-separated, "
                             "e.g. one per --methods subset)")
    args = parser.parse_args(argv)
    if args.report:
        rows = [r for f in args.report.split(",")
                for r in json.loads(Path(f).read_text())["rows"]]
        print(markdown(rows))
        return 0
    wanted = set(filter(None, args.methods.split(",")))
    modes = args.modes.split(",")
    counts = {mode: collections.Counter() for mode in modes}
    rows = []
    start = time.perf_counter()
    for m in methods():
        if wanted and m.name not in wanted:
            continue
        good = good_inputs(m)
        reference = float(call(m, good, "eager").value)
        per_method = collections.Counter()
        for case in cases_for(m):
            for mode in modes:
                if mode == "jit" and not case.jittable:
                    continue  # jax.jit itself rejects None, strings and ragged lists
                outcome, detail = run_one(m, case, mode, reference, good)
                counts[mode][outcome] += 1
                per_method[outcome] += 1
                rows.append(dict(quantity=m.quantity, method=m.name, case=case.name,
                                 mode=mode, outcome=outcome, detail=detail))
                if outcome in ("silent NaN", "silent wrong", "internal"):
                    print(f"  {m.quantity}:{m.name:9s} {case.name:28s} {mode:5s} {outcome:12s}"
                          f" {detail}", flush=True)
        print(f"{m.quantity}:{m.name}: {dict(per_method)}", flush=True)
    print(f"\n{len(rows)} runs in {time.perf_counter() - start:.0f} s")
    print(f"{'mode':6s} " + " ".join(f"{o:>12s}" for o in OUTCOMES))
    for mode in modes:
        print(f"{mode:6s} " + " ".join(f"{counts[mode][o]:12d}" for o in OUTCOMES))
    if args.json:
        Path(args.json).write_text(json.dumps(dict(rows=rows, infoest=infoest.__version__),
                                              indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
