"""Reports of benchmark results: a text table, a JSON file, a PNG of estimate vs truth."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from infoest._registry import QUANTITIES
from infoest.bench._runner import Result


def _num(value: float, digits: int = 4) -> str:
    return "—" if not math.isfinite(value) else f"{value:.{digits}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
    return lines + [fmt.format(*row).rstrip() for row in rows]


def format_table(results: Sequence[Result]) -> str:
    """One table per quantity (task, method, truth, estimate, error, seconds, status) and a
    per-method summary (tasks run, mean |error|, total seconds)."""
    out: list[str] = []
    header = ("task", "method", "truth", "estimate", "error", "seconds", "status")
    for q in QUANTITIES:
        rows = [r for r in results if r.quantity == q]
        if not rows:
            continue
        out += [f"== {q} (nats) ==", *_table(header, [
            (r.task, r.method, _num(r.truth), _num(r.estimate), _num(r.error),
             f"{r.seconds:.2f}", r.status) for r in rows]), ""]
    summary = []
    keys = dict.fromkeys((r.quantity, r.method) for r in results)
    for key in sorted(keys, key=lambda k: QUANTITIES.index(k[0])):  # stable within a quantity
        rows = [r for r in results if (r.quantity, r.method) == key]
        ok = [r for r in rows if r.ok]
        mae = sum(abs(r.error) for r in ok) / len(ok) if ok else math.nan
        summary.append((key[0], key[1], f"{len(ok)}/{len(rows)}", _num(mae),
                        f"{sum(r.seconds for r in rows):.2f}"))
    out += ["== summary ==", *_table(
        ("quantity", "method", "ok", "mean |error|", "seconds"), summary)]
    return "\n".join(out)


def write_json(results: Sequence[Result], path: str | Path, **config: Any) -> None:
    """Write ``{"config": config, "results": [...]}`` (NaN written as ``null``)."""
    payload = {"config": config, "results": [r.to_dict() for r in results]}
    Path(path).write_text(json.dumps(payload, indent=2, allow_nan=False) + "\n")


def plot(results: Sequence[Result], path: str | Path) -> None:
    """Write a PNG with one panel per quantity: estimate against truth, one marker colour
    per method, the diagonal marking exact estimates."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    quantities = [q for q in QUANTITIES if any(r.quantity == q and r.ok for r in results)]
    fig, axes = plt.subplots(1, max(len(quantities), 1), squeeze=False,
                             figsize=(4.5 * max(len(quantities), 1), 4.2))
    for ax, q in zip(axes[0], quantities, strict=False):
        rows = [r for r in results if r.quantity == q and r.ok]
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
