"""Run registered estimators on ground-truth tasks and collect judged, timed results.

Every row's status comes from the estimate itself (estimators are called with
``throw=False`` and [Estimate.status][infoest.Estimate] is read), then the value is judged
against the truth: a non-finite value, or an error larger than max(1 nat, 3·|truth|), is
``flagged``, never ``ok``. Which rows run is decided before any of them runs: with no time
budget (the default, also for ``quick``) every planned row runs whatever the machine load;
an explicit budget marks the rows beyond it ``not run (budget)``, and those rows are
excluded from (not counted against) the summary.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import math
import time
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from tqdm.auto import tqdm

from infoest import _registry
from infoest import tasks as _tasks
from infoest._contract import RANK_INVARIANT
from infoest._estimate import status_text
from infoest._registry import QUANTITIES, Method
from infoest.tasks import Task

#: Defaults of ``run(quick=True)``: sample size; no time budget, so the rows that run do not
#: depend on the machine's load.
QUICK = {"n": 1000, "method_budget": None, "total_budget": None}
#: Defaults of a full run (the BMI protocol's sample size, no time limits).
FULL = {"n": 5000, "method_budget": None, "total_budget": None}
#: Task suites selectable with ``suite=``: name -> task list constructor.
SUITES = {"bmi": lambda: _tasks.bmi.bmi_v1()}
#: The status of a row that a time budget kept from running.
NOT_RUN = "not run (budget)"
#: A row is flagged when |error| exceeds max(FLAG_ABS, FLAG_REL · |truth|) nats.
FLAG_ABS, FLAG_REL = 1.0, 3.0
#: The tolerance of the "within" count the BMI literature reports (nats).
WITHIN = 0.1


@dataclasses.dataclass(frozen=True)
class Result:
    """One estimator on one task (averaged over ``seeds`` data sets).

    Attributes:
        estimate: the value (the mean over seeds; NaN when no seed gave a finite value).
        stderr: the estimator's own standard error (mean over seeds).
        spread: the standard deviation of the value over seeds (NaN for one seed).
        covered: the fraction of seeds whose 95 % interval value ± 1.96·stderr holds the
            truth (NaN when no interval was finite).
        status: ``"ok"``; ``"flagged: <why>"`` (non-finite value, or error above
            max(1 nat, 3·|truth|)); ``"error: <why>"`` (the estimate's status was not ok,
            or the estimator raised); ``"not run (budget)"``.
        seconds: wall time of all seeds including compilation, as a user experiences it.
    """

    task: str
    quantity: str
    method: str
    truth: float
    estimate: float
    seconds: float
    n: int
    status: str = "ok"
    stderr: float = math.nan
    covered: float = math.nan
    seeds: int = 1
    spread: float = math.nan

    @property
    def error(self) -> float:
        """estimate − truth."""
        return self.estimate - self.truth

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def ran(self) -> bool:
        """False for rows a time budget kept from running (excluded from summaries)."""
        return self.status != NOT_RUN

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (non-finite floats become ``None``)."""
        row = {**dataclasses.asdict(self), "error": self.error}
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in row.items()}


def judge(value: float, truth: float, code: int = 0) -> str:
    """The status of one estimate: the estimator's own status first, then its value."""
    if code != 0:
        return f"error: {status_text(code)}"
    if not math.isfinite(value):
        return "flagged: non-finite estimate"
    if abs(value - truth) > max(FLAG_ABS, FLAG_REL * abs(truth)):
        return "flagged: |error| > max(1 nat, 3·|truth|)"
    return "ok"


def _matches(patterns: Sequence[str] | None, *names: str) -> bool:
    if not patterns:
        return True
    return any(fnmatch.fnmatchcase(name, p) for p in patterns for name in names)


def neural_method() -> Method:
    """``mutual_information(..., method="neural")`` as a benchmark entry: the registered method
    it names (`infoest._api.NEURAL`) with its options, run at its own defaults (no
    ``bench_kwargs``)."""
    from infoest._api import NEURAL  # the API module imports the families; import late

    name, options = NEURAL
    base = _registry.get("mutual_information", name)
    return dataclasses.replace(base, name="neural", fn=functools.partial(base.fn, **options),
                               bench_kwargs={})


def select_methods(patterns: Sequence[str] | None = None) -> list[Method]:
    """Registered methods whose ``name`` or ``quantity:name`` matches a glob in ``patterns``;
    ``"neural"`` (named exactly, not by a wildcard) adds the default neural estimator."""
    chosen = [m for m in _registry.methods()
              if _matches(patterns, m.name, f"{m.quantity}:{m.name}")]
    if patterns and {"neural", "mutual_information:neural"} & set(patterns):
        chosen.append(neural_method())
    if not chosen:
        valid = ", ".join(f"{m.quantity}:{m.name}" for m in _registry.methods())
        raise ValueError(f"no registered method matches {list(patterns)}; registered: {valid}")
    return chosen


def select_tasks(patterns: Sequence[str] | None = None, *, quick: bool = False,
                 suite: str | None = None) -> list[Task]:
    """Tasks of ``suite`` (``"bmi"``: the 40 BMI v1 tasks), or every discoverable task
    ([infoest.tasks.all_tasks][]), whose name matches a glob in ``patterns``."""
    if suite is not None and suite not in SUITES:
        raise ValueError(f"unknown suite {suite!r}; valid suites: {', '.join(SUITES)}")
    pool = SUITES[suite]() if suite is not None else _tasks.all_tasks(quick=quick)
    chosen = [t for t in pool if _matches(patterns, t.name)]
    if not chosen:
        valid = ", ".join(t.name for t in pool)
        raise ValueError(f"no task matches {list(patterns)}; available: {valid}")
    return chosen


def plan(methods: Sequence[Method], tasks: Sequence[Task]) -> list[tuple[Method, Task]]:
    """Pairs (method, task) of the same quantity and measure (a spectral entropy only meets
    tasks whose truth is that spectral functional), in the order a time budget should cut.

    Round-robin at two levels: every method meets its first task before any method meets its
    second, and within a round the quantities take turns (the first-registered method of
    every quantity, then the second of every quantity, ...). A budget that runs out therefore
    trims the late-registered (typically slower, neural) methods and the extra tasks, never a
    whole quantity.
    """
    by_q = {q: ([m for m in methods if m.quantity == q], [t for t in tasks if t.quantity == q])
            for q in QUANTITIES}
    keyed = [((rank, slot, qi), m, t)
             for qi, (q_methods, q_tasks) in enumerate(by_q.values())
             for slot, m in enumerate(q_methods)
             for rank, t in enumerate(t for t in q_tasks if t.measure == m.measure)]
    keyed.sort(key=lambda p: p[0])
    return [(m, t) for _, m, t in keyed]


def _call(method: Method, data: tuple, key, copula: bool) -> tuple[float, float, int]:
    """(value, stderr, status code) of one estimate, never raising on a bad status."""
    kwargs = dict(method.bench_kwargs if method.bench_kwargs is not None else method.test_kwargs)
    if method.stochastic:
        kwargs["key"] = key
    if copula:
        kwargs["copula"] = True
    estimate = jax.block_until_ready(method.fn(*data, throw=False, **kwargs))
    code = int(np.max(np.asarray(estimate.status)))
    return float(estimate.value), float(estimate.stderr), code


def _data(task: Task, size: int, key, s: int, cache: dict) -> tuple:
    """Data set ``s`` of ``task``; the data of one task (all its seeds) are kept at a time,
    so every method meets the same data."""
    if any(k[:2] != (task.name, size) for k in cache):
        cache.clear()
    if (task.name, size, s) not in cache:
        cache[task.name, size, s] = jax.block_until_ready(task.sample(key, size))
    return cache[task.name, size, s]


def _one_seed(method, task, size, key, s, copula, cache) -> tuple[float, float, str]:
    """(value, stderr, status) of data set ``s``; exceptions become ``error:`` statuses."""
    try:
        data = _data(task, size, key, s, cache)
        value, stderr, code = _call(method, data, jax.random.fold_in(key, 1), copula)
    except Exception as err:  # noqa: BLE001 - a failing estimator must not stop the run
        message = str(err).strip().splitlines()
        return math.nan, math.nan, f"error: {type(err).__name__}: {message[0] if message else ''}"
    return value, stderr, judge(value, task.value, code)


def aggregate(task: Task, label: str, size: int, outcomes, seconds: float) -> Result:
    """One row of ``label`` on ``task`` (anything with ``name``, ``quantity``, ``value``)
    from the per-seed (value, stderr, status) triples."""
    values = np.array([o[0] for o in outcomes], np.float64)
    stderrs = np.array([o[1] for o in outcomes], np.float64)
    status = next((o[2] for o in outcomes if o[2] != "ok"), "ok")
    finite = np.isfinite(values)
    estimate = float(values[finite].mean()) if finite.any() else math.nan
    spread = float(values[finite].std(ddof=1)) if finite.sum() > 1 else math.nan
    has_ci = finite & np.isfinite(stderrs)
    covered = (float(np.mean(np.abs(values[has_ci] - task.value) <= 1.96 * stderrs[has_ci]))
               if has_ci.any() else math.nan)
    stderr = float(stderrs[has_ci].mean()) if has_ci.any() else math.nan
    return Result(task.name, task.quantity, label, task.value, estimate, seconds, size,
                  status, stderr, covered, len(outcomes), spread)


def _over_budget(label, start, spent, last, method_budget, total_budget) -> bool:
    expected = time.perf_counter() - start + last.get(label, 0.0)
    return ((total_budget is not None and expected > total_budget)
            or (method_budget is not None and spent.get(label, 0.0) > method_budget))


def _copula_flags(method: Method, copula: str) -> tuple[bool, ...]:
    """Which variants of ``method`` run: ``copula`` is ``"off"``, ``"on"`` or ``"both"``
    (copula only where the quantity is rank invariant: MI, CMI, TE)."""
    if copula not in ("off", "on", "both"):
        raise ValueError(f"unknown `copula`={copula!r}; valid values: 'off', 'on', 'both'")
    if copula == "off" or method.quantity not in RANK_INVARIANT:
        return (False,)
    return (True,) if copula == "on" else (False, True)


def run(
    *,
    quick: bool = False,
    methods: Sequence[str] | None = None,
    tasks: Sequence[str] | None = None,
    n: int | None = None,
    seed: int = 0,
    seeds: int = 1,
    suite: str | None = None,
    copula: str = "off",
    method_budget: float | None = None,
    total_budget: float | None = None,
    progress: bool = True,
    defaults: bool = False,
) -> list[Result]:
    """Run every selected registered estimator on every selected task of its quantity.

    Args:
        quick: use the quick task subsets and the [QUICK][infoest.bench.QUICK] defaults.
        methods: glob patterns selecting methods (``"ksg"``, ``"entropy:*"``); ``None``: all.
        tasks: glob patterns selecting tasks by name (``"multinormal-*"``); ``None``: all.
        n: samples per task (at least each method's ``min_samples``).
        seed: the first seed; data set s of a task uses the key
            ``fold_in(PRNGKey(seed + s), task index)``, the same for every method.
        seeds: data sets per (method, task); the row reports their mean and spread.
        suite: ``"bmi"``: the 40 BMI v1 tasks instead of the discovered ones.
        copula: ``"off"`` (default), ``"on"`` or ``"both"``: also (or only) run the MI, CMI and
            TE methods with ``copula=True``, reported as ``<method>+copula``.
        method_budget: once a method has used this many seconds, its remaining rows are
            ``not run (budget)``.
        total_budget: a row is ``not run (budget)`` when the time taken so far plus the
            method's previous row time would exceed this many seconds.
        progress: show a tqdm progress bar.
        defaults: run every estimator at its own defaults (published comparisons; slower).

    Estimators get ``Method.bench_kwargs`` (else ``test_kwargs``; none if ``defaults``),
    ``throw=False`` and, when stochastic, a ``key``; the row's status is the estimate's own,
    then judged (see [judge][infoest.bench.judge]). An estimator that raises yields an
    ``"error: ..."`` row. Time budgets make the set of rows depend on the machine's speed;
    without them (the default) it does not.
    """
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"`seeds` must be an int >= 1, got {seeds!r}")
    start = time.perf_counter()
    setting = QUICK if quick else FULL
    n = setting["n"] if n is None else n
    method_budget = setting["method_budget"] if method_budget is None else method_budget
    total_budget = setting["total_budget"] if total_budget is None else total_budget
    chosen_tasks = select_tasks(tasks, quick=quick, suite=suite)
    chosen = [dataclasses.replace(m, bench_kwargs={}) if defaults else m
              for m in select_methods(methods)]
    pairs = [(m, flag, t) for m, t in plan(chosen, chosen_tasks)
             for flag in _copula_flags(m, copula)]
    task_index = {t.name: i for i, t in enumerate(chosen_tasks)}
    cache: dict = {}
    spent: dict[str, float] = {}  # seconds used per method so far
    last: dict[str, float] = {}  # seconds of each method's latest row
    results = []
    bar = tqdm(pairs, desc="infoest bench", unit="row", disable=not progress or None)
    for method, flag, task in bar:
        label = method.name + ("+copula" if flag else "")
        key_label = f"{method.quantity}:{label}"
        bar.set_postfix_str(f"{label} on {task.name}", refresh=False)
        size = max(n, method.min_samples)
        if _over_budget(key_label, start, spent, last, method_budget, total_budget):
            results.append(Result(task.name, task.quantity, label, task.value, math.nan, 0.0,
                                  size, NOT_RUN, seeds=0))
            continue
        t0 = time.perf_counter()
        keys = [jax.random.fold_in(jax.random.PRNGKey(seed + s), task_index[task.name])
                for s in range(seeds)]
        outcomes = [_one_seed(method, task, size, k, s, flag, cache)
                    for s, k in enumerate(keys)]
        seconds = time.perf_counter() - t0
        spent[key_label] = spent.get(key_label, 0.0) + seconds
        last[key_label] = seconds
        results.append(aggregate(task, label, size, outcomes, seconds))
    bar.close()
    return results
