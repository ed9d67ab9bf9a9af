"""The README's quickstart runs and its set-up commands are the ones CI runs."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from infoest import _registry

README = (Path(__file__).parents[1] / "README.md").read_text()


def _section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.M | re.S)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def _blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, re.S)


def test_exactly_two_setup_commands():
    commands = [b.strip() for b in _blocks(_section("Set up (fresh machine, Python ≥ 3.11)"),
                                           "bash")]
    assert commands == ['pip install -e ".[dev]" && infoest bench --quick',
                        'pip install -e ".[dev]" && pytest -n 2']
    ci = (Path(__file__).parents[1] / ".ci" / "run").read_text()
    assert "pytest -q -n 2" in ci


@pytest.fixture(scope="module")
def quickstart_output():
    """Run the Quickstart's blocks in one namespace; return what they printed."""
    code, *more = _blocks(_section("Quickstart"), "python")
    assert len(code.strip().splitlines()) <= 14
    needed = set(re.findall(r"method=['\"](\w+)['\"]", code))
    missing = [m for m in sorted(needed)
               if m not in {x.name for x in _registry.methods("mutual_information")}]
    if missing:  # only on a branch where that family has not landed yet
        pytest.skip(f"quickstart uses unregistered methods {missing}")
    namespace: dict = {}
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        for i, block in enumerate([code, *more]):
            exec(compile(block, f"README.md:quickstart[{i}]", "exec"), namespace)
    return buffer.getvalue(), namespace


def test_quickstart_runs(quickstart_output):
    printed, namespace = quickstart_output
    assert "truth     0.5928" in printed
    assert re.search(r"^Estimate\(shape=\(8,\), mean 0\.5\d+.*nats, method='ksg', 0 not ok\)$",
                     printed, re.M), printed
    assert namespace["good"].shape == (8,)  # the throw=False sweep kept every element


def test_quickstart_prints_the_error_bar(quickstart_output):
    printed, _ = quickstart_output
    match = re.search(r"^Estimate\((\S+) ± (\S+) nats, method='ksg'\)$", printed, re.M)
    assert match, printed
    value, stderr = float(match.group(1)), float(match.group(2))
    assert abs(value - 0.5928) < 0.1
    assert 0 < stderr < 0.1, f"ksg stderr {stderr}"
