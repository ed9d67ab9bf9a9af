"""Reports of benchmark results: text tables, a summary, a JSON file and PNG figures."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from infoest._registry import QUANTITIES
from infoest.bench._runner import WITHIN, Result


def _num(value: float, digits: int = 4) -> str:
    return "—" if not math.isfinite(value) else f"{value:.{digits}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
    return lines + [fmt.format(*row).rstrip() for row in rows]


def _covered(r: Result) -> str:
    """"yes"/"no" for one seed, the fraction of seeds otherwise; "—" without an interval."""
    if not math.isfinite(r.covered):
        return "—"
    if r.seeds == 1:
        return "yes" if r.covered == 1.0 else "no"
    return f"{round(r.covered * r.seeds)}/{r.seeds}"


def _row(r: Result, seeds: bool) -> tuple[str, ...]:
    cells = [r.task, r.method, _num(r.truth), _num(r.estimate), _num(r.error), _num(r.stderr)]
    if seeds:
        cells.append(_num(r.spread))
    return (*cells, _covered(r), f"{r.seconds:.2f}", r.status)


def summarize(results: Sequence[Result]) -> list[dict[str, Any]]:
    """Per (quantity, method): rows run (``not run (budget)`` rows are excluded, not counted
    against), rows ok, flagged and failed, the mean |error| over the rows with a finite
    estimate, the number of rows within 0.1 nat, the 95 % interval coverage and seconds."""
    out = []
    keys = dict.fromkeys((r.quantity, r.method) for r in results)
    for q, method in sorted(keys, key=lambda k: QUANTITIES.index(k[0])):
        rows = [r for r in results if (r.quantity, r.method) == (q, method)]
        ran = [r for r in rows if r.ran]
        finite = [r for r in ran if math.isfinite(r.estimate)]
        cov = [r.covered for r in ran if math.isfinite(r.covered)]
        out.append({
            "quantity": q, "method": method, "run": len(ran),
            "not_run": len(rows) - len(ran), "ok": sum(r.ok for r in ran),
            "flagged": sum(r.status.startswith("flagged") for r in ran),
            "failed": sum(r.status.startswith("error") for r in ran),
            "mae": (sum(abs(r.error) for r in finite) / len(finite)) if finite else math.nan,
            "within": sum(abs(r.error) <= WITHIN for r in finite),
            "coverage": sum(cov) / len(cov) if cov else math.nan,
            "seconds": sum(r.seconds for r in rows),
        })
    return out


def format_summary(results: Sequence[Result]) -> str:
    """The summary table of [summarize][infoest.bench.summarize] as text."""
    header = ("quantity", "method", "ok/run", "not run", "flagged", "failed", "mean |error|",
              f"within {WITHIN:g}", "95% CI covers", "seconds")
    rows = [(s["quantity"], s["method"], f"{s['ok']}/{s['run']}", str(s["not_run"]),
             str(s["flagged"]), str(s["failed"]), _num(s["mae"]),
             f"{s['within']}/{s['run']}", _num(s["coverage"], 2), f"{s['seconds']:.1f}")
            for s in summarize(results)]
    return "\n".join(["== summary ==", *_table(header, rows)])


def format_table(results: Sequence[Result]) -> str:
    """One table per quantity (task, method, truth, estimate, error, stderr, [seed sd,]
    truth inside the 95 % interval, seconds, status) and the per-method summary."""
    out: list[str] = []
    seeds = any(r.seeds > 1 for r in results)
    header = ("task", "method", "truth", "estimate", "error", "stderr",
              *(("seed sd",) if seeds else ()), "in 95% CI", "seconds", "status")
    for q in QUANTITIES:
        rows = [r for r in results if r.quantity == q]
        if rows:
            out += [f"== {q} (nats) ==", *_table(header, [_row(r, seeds) for r in rows]), ""]
    return "\n".join(out + [format_summary(results)])


def markdown_summary(results: Sequence[Result], group=None) -> str:
    """A Markdown table: one row per method (mean |error|, tasks within 0.1 nat, ok/run),
    or, with ``group`` (task name -> label, e.g. [infoest.tasks.bmi.family][]), one row per
    group and one column per method holding the group's mean |error|."""
    methods = list(dict.fromkeys(r.method for r in results))
    if group is None:
        lines = ["| method | mean abs. error (nats) | within 0.1 nat | ok / run |",
                 "|---|---|---|---|"]
        for s in summarize(results):
            lines.append(f"| {s['method']} | {_num(s['mae'], 3)} | {s['within']} / {s['run']} "
                         f"| {s['ok']} / {s['run']} |")
        return "\n".join(lines)
    labels = list(dict.fromkeys(group(r.task) for r in results))
    lines = ["| family | tasks | " + " | ".join(methods) + " |",
             "|---|---|" + "---|" * len(methods)]
    for label in labels:
        cells = []
        for m in methods:
            rows = [r for r in results if r.method == m and group(r.task) == label and r.ran
                    and math.isfinite(r.estimate)]
            cells.append(_num(sum(abs(r.error) for r in rows) / len(rows), 3) if rows else "—")
        count = len({r.task for r in results if group(r.task) == label})
        lines.append(f"| {label} | {count} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_json(results: Sequence[Result], path: str | Path, **config: Any) -> None:
    """Write ``{"config": config, "results": [...], "summary": [...]}`` (NaN as ``null``)."""
    def clean(d):
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in d.items()}

    payload = {"config": config, "results": [r.to_dict() for r in results],
               "summary": [clean(s) for s in summarize(results)]}
    Path(path).write_text(json.dumps(payload, indent=2, allow_nan=False) + "\n")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot(results: Sequence[Result], path: str | Path) -> None:
    """Write a PNG with one panel per quantity: estimate against truth, one marker colour
    per method, the diagonal marking exact estimates."""
    plt = _pyplot()
    usable = [r for r in results if r.ran and math.isfinite(r.estimate)]
    quantities = [q for q in QUANTITIES if any(r.quantity == q for r in usable)]
    fig, axes = plt.subplots(1, max(len(quantities), 1), squeeze=False,
                             figsize=(4.5 * max(len(quantities), 1), 4.2))
    for ax, q in zip(axes[0], quantities, strict=False):
        rows = [r for r in usable if r.quantity == q]
        for method in dict.fromkeys(r.method for r in rows):
            mine = [r for r in rows if r.method == method]
            ax.scatter([r.truth for r in mine], [r.estimate for r in mine], label=method,
                       s=22, alpha=0.8)
        values = [v for r in rows for v in (r.truth, r.estimate)]
        lo, hi = min(values), max(values)
        ax.plot([lo, hi], [lo, hi], color="0.5", lw=1, ls="--")
        ax.set(title=q.replace("_", " "), xlabel="truth (nats)", ylabel="estimate (nats)")
        ax.legend(fontsize=7)
    if not quantities:
        axes[0][0].text(0.5, 0.5, "no successful runs", ha="center", va="center")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_tasks(results: Sequence[Result], path: str | Path) -> None:
    """Write a PNG with one row per task: estimate − truth (nats) for every method, with the
    seed spread (or 1.96·stderr for one seed) as an error bar, and the ±0.1-nat band."""
    plt = _pyplot()
    tasks = list(dict.fromkeys(r.task for r in results))
    methods = list(dict.fromkeys(r.method for r in results))
    fig, ax = plt.subplots(figsize=(8.0, 0.26 * len(tasks) + 1.6))
    ax.axvspan(-WITHIN, WITHIN, color="0.9")
    ax.axvline(0.0, color="0.5", lw=1)
    for j, method in enumerate(methods):
        rows = [r for r in results if r.method == method and r.ran
                and math.isfinite(r.estimate)]
        offset = (j - (len(methods) - 1) / 2) * 0.7 / max(len(methods), 1)
        ys = [tasks.index(r.task) + offset for r in rows]
        bars = [r.spread if math.isfinite(r.spread) else 1.96 * r.stderr for r in rows]
        ax.errorbar([r.error for r in rows], ys, xerr=[b if math.isfinite(b) else 0.0
                                                       for b in bars],
                    fmt="o", ms=3.5, lw=0.8, label=method)
    errors = [abs(r.error) for r in results if r.ran and math.isfinite(r.estimate)]
    lim = min(max(errors, default=0.4) + 0.1, 2.0)  # flagged outliers fall off the axis
    ax.set_xlim(-lim, lim)
    ax.set_yticks(range(len(tasks)), tasks, fontsize=6.5)
    ax.invert_yaxis()
    ax.set(xlabel="estimate − truth (nats)", title="estimate vs truth per task")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
