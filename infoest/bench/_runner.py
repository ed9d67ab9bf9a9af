"""Run registered estimators on ground-truth tasks and collect timed results."""

from __future__ import annotations

import dataclasses
import fnmatch
import math
import time
from collections.abc import Sequence
from typing import Any

import jax
from tqdm.auto import tqdm

from infoest import _registry
from infoest import tasks as _tasks
from infoest._registry import QUANTITIES, Method
from infoest.tasks import Task

#: Defaults of ``run(quick=True)``: sample size, per-method and total time budgets (seconds).
QUICK = {"n": 1000, "method_budget": 20.0, "total_budget": 120.0}
#: Defaults of a full run (the BMI protocol's sample size, no time limits).
FULL = {"n": 5000, "method_budget": None, "total_budget": None}


@dataclasses.dataclass(frozen=True)
class Result:
    """One estimator on one task.

    ``status`` is ``"ok"``, ``"error: <message>"`` (the estimator raised or returned a
    non-finite value) or ``"skipped: <reason>"`` (a time budget ran out). ``seconds`` is the
    wall time of the call including compilation, as a user experiences it.
    """

    task: str
    quantity: str
    method: str
    truth: float
    estimate: float
    seconds: float
    n: int
    status: str = "ok"

    @property
    def error(self) -> float:
        """estimate − truth (NaN unless ``status == "ok"``)."""
        return self.estimate - self.truth

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (non-finite floats become ``None``)."""
        row = {**dataclasses.asdict(self), "error": self.error}
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in row.items()}


def _matches(patterns: Sequence[str] | None, *names: str) -> bool:
    if not patterns:
        return True
    return any(fnmatch.fnmatchcase(name, p) for p in patterns for name in names)


def select_methods(patterns: Sequence[str] | None = None) -> list[Method]:
    """Registered methods whose ``name`` or ``quantity:name`` matches a glob in ``patterns``."""
    chosen = [m for m in _registry.methods()
              if _matches(patterns, m.name, f"{m.quantity}:{m.name}")]
    if not chosen:
        valid = ", ".join(f"{m.quantity}:{m.name}" for m in _registry.methods())
        raise ValueError(f"no registered method matches {list(patterns)}; registered: {valid}")
    return chosen


def select_tasks(patterns: Sequence[str] | None = None, *, quick: bool = False) -> list[Task]:
    """Discoverable tasks (see [`infoest.tasks.all_tasks`][infoest.tasks.all_tasks]) whose name
    matches a glob."""
    chosen = [t for t in _tasks.all_tasks(quick=quick) if _matches(patterns, t.name)]
    if not chosen:
        valid = ", ".join(t.name for t in _tasks.all_tasks(quick=quick))
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


def _call(method: Method, data: tuple, key) -> float:
    kwargs = dict(method.bench_kwargs if method.bench_kwargs is not None else method.test_kwargs)
    if method.stochastic:
        kwargs["key"] = key
    estimate = method.fn(*data, **kwargs)
    return float(jax.block_until_ready(estimate.value))


def run(
    *,
    quick: bool = False,
    methods: Sequence[str] | None = None,
    tasks: Sequence[str] | None = None,
    n: int | None = None,
    seed: int = 0,
    method_budget: float | None = None,
    total_budget: float | None = None,
    progress: bool = True,
) -> list[Result]:
    """Run every selected registered estimator on every selected task of its quantity.

    Args:
        quick: use the quick task subsets and the [`QUICK`][infoest.bench._runner.QUICK] defaults.
        methods: glob patterns selecting methods (``"ksg"``, ``"entropy:*"``); ``None``: all.
        tasks: glob patterns selecting tasks by name (``"multinormal-*"``); ``None``: all.
        n: samples per task (at least each method's ``min_samples``).
        seed: the same data for every method on a task (key ``fold_in(seed, task)``).
        method_budget: once a method has used this many seconds, its remaining tasks are
            skipped.
        total_budget: a run is skipped when the time taken so far plus the method's previous
            run time would exceed this many seconds (a run in flight is not interrupted).
        progress: show a tqdm progress bar.

    Estimators get ``Method.bench_kwargs`` (else ``test_kwargs``) and, when stochastic, a
    ``key``. An estimator that raises yields an ``"error: ..."`` row; the run goes on.
    """
    start = time.perf_counter()
    defaults = QUICK if quick else FULL
    n = defaults["n"] if n is None else n
    method_budget = defaults["method_budget"] if method_budget is None else method_budget
    total_budget = defaults["total_budget"] if total_budget is None else total_budget
    chosen_tasks = select_tasks(tasks, quick=quick)
    pairs = plan(select_methods(methods), chosen_tasks)
    task_index = {t.name: i for i, t in enumerate(chosen_tasks)}
    root = jax.random.PRNGKey(seed)
    data_cache: dict[tuple[str, int], tuple] = {}
    spent: dict[str, float] = {}  # seconds used per method so far
    last: dict[str, float] = {}  # seconds of each method's latest run
    results = []
    bar = tqdm(pairs, desc="infoest bench", unit="run", disable=not progress or None)
    for method, task in bar:
        label = f"{method.quantity}:{method.name}"
        bar.set_postfix_str(f"{method.name} on {task.name}", refresh=False)
        size = max(n, method.min_samples)
        status, value, seconds = "ok", math.nan, 0.0
        expected = time.perf_counter() - start + last.get(label, 0.0)
        if total_budget is not None and expected > total_budget:
            status = f"skipped: total time budget {total_budget:g} s"
        elif method_budget is not None and spent.get(label, 0.0) > method_budget:
            status = f"skipped: method time budget {method_budget:g} s"
        else:
            data_key = jax.random.fold_in(root, task_index[task.name])
            t0 = time.perf_counter()
            try:
                if (task.name, size) not in data_cache:
                    data_cache[task.name, size] = jax.block_until_ready(
                        task.sample(data_key, size))
                data = data_cache[task.name, size]
                t0 = time.perf_counter()
                value = _call(method, data, jax.random.fold_in(data_key, 1))
                if not math.isfinite(value):
                    status = "error: non-finite estimate"
            except Exception as err:  # noqa: BLE001 - a failing estimator must not stop the run
                message = str(err).strip().splitlines()
                status = f"error: {type(err).__name__}: {message[0] if message else ''}"
                value = math.nan
            seconds = time.perf_counter() - t0
            spent[label] = spent.get(label, 0.0) + seconds
            last[label] = seconds
        results.append(Result(task.name, task.quantity, method.name, task.value,
                              value if status == "ok" else math.nan, seconds, size, status))
    bar.close()
    return results
