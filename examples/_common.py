"""Shared plumbing of the examples: figures (matplotlib imported lazily), timing, settings.

Not an example itself. The examples import it as a sibling module (``python examples/x.py``
puts ``examples/`` on the path; the tests add it).
"""

from __future__ import annotations

import argparse
import os
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np


def pyplot():
    """``matplotlib.pyplot`` with the non-interactive Agg backend (imported on first use)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path, *, dpi: int = 110, quiet: bool = True) -> Path:
    """Lay out, write and close ``fig``; returns the path."""
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)
    if not quiet:
        print(f"wrote {path}")
    return Path(path)


def make_parser(doc: str, *, quick_help: str, smoke_help: str = "shortest setting (CI)"
                ) -> argparse.ArgumentParser:
    """The examples' common options: ``--quick`` / ``--smoke`` (exclusive) and ``--out-dir``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help=quick_help)
    group.add_argument("--smoke", action="store_true", help=smoke_help)
    parser.add_argument("--out-dir", default=".", help="where figures and JSON go")
    return parser


def choose(table: dict, args) -> dict:
    """The setting named by ``args`` (``--smoke``, ``--quick``, else ``"full"``), copied."""
    return dict(table["smoke" if args.smoke else "quick" if args.quick else "full"])


class Clock:
    """Wall-clock and process CPU seconds of named phases (``with clock("train"): ...``).

    CPU seconds (all threads of this process) are less sensitive than wall seconds to other
    programs on a shared machine; the load average is recorded with every phase.
    """

    def __init__(self):
        self.wall: dict[str, list[float]] = {}
        self.cpu: dict[str, list[float]] = {}
        self.load: list[float] = []

    @contextmanager
    def __call__(self, phase: str):
        w0, c0 = time.perf_counter(), time.process_time()
        yield
        self.wall.setdefault(phase, []).append(time.perf_counter() - w0)
        self.cpu.setdefault(phase, []).append(time.process_time() - c0)
        self.load.append(os.getloadavg()[0])

    def median(self, phase: str, *, skip_first: bool = True) -> dict[str, float]:
        """Median wall and CPU seconds of a phase (the first call, which compiles, left out
        when there are others)."""
        wall, cpu = self.wall.get(phase, []), self.cpu.get(phase, [])
        if skip_first and len(wall) > 1:
            wall, cpu = wall[1:], cpu[1:]
        if not wall:
            return {"wall_s": float("nan"), "cpu_s": float("nan")}
        return {"wall_s": float(np.median(wall)), "cpu_s": float(np.median(cpu))}

    def report(self, train: str, estimates: str, *, epochs: int) -> dict:
        """Per-epoch training vs estimate cost: the estimate phase's median times the number
        of evaluations per epoch (``len(evaluations) / epochs``; evaluating every k-th epoch
        divides it by k); compile time (first call of each) reported apart."""
        t, e = self.median(train), self.median(estimates)
        share = len(self.wall.get(estimates, [])) / max(epochs, 1)
        per_epoch = {k: v * share for k, v in e.items()}
        first = {p: round(self.wall[p][0], 2) for p in (train, estimates) if p in self.wall}
        return {"train_per_epoch": t, "estimates_per_call": e, "evaluations_per_epoch": share,
                "estimates_per_epoch": per_epoch,
                "ratio_cpu": per_epoch["cpu_s"] / t["cpu_s"] if t["cpu_s"] else float("nan"),
                "ratio_wall": per_epoch["wall_s"] / t["wall_s"] if t["wall_s"] else float("nan"),
                "first_call_wall_s": first,
                "load_average": [round(min(self.load), 1), round(max(self.load), 1)]}


def print_timing(name: str, timing: dict, unit: str = "epoch") -> None:
    """One line: training vs estimate seconds per ``unit`` (wall and CPU), ratio, load."""
    t, e = timing["train_per_epoch"], timing["estimates_per_epoch"]
    print(f"[{name}] per {unit}: training {t['wall_s']:.3f} s wall / {t['cpu_s']:.3f} s CPU; "
          f"estimates {e['wall_s']:.3f} s wall / {e['cpu_s']:.3f} s CPU "
          f"({timing['evaluations_per_epoch']:.2f} evaluations per {unit}; ratio "
          f"{timing['ratio_cpu']:.2f} CPU, {timing['ratio_wall']:.2f} wall; load "
          f"{timing['load_average'][0]}-{timing['load_average'][1]})", flush=True)
