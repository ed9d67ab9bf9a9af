"""The ``infoest`` command and the benchmark runner, run in-process on small data."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

import infoest
from infoest import _registry, bench
from infoest._contract import apply_contract
from infoest._estimate import Status, make_estimate
from infoest._registry import Method
from infoest.cli import main


@pytest.fixture
def arrays(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 2))
    y = 0.8 * x + 0.6 * rng.normal(size=(500, 2))
    np.save(tmp_path / "x.npy", x)
    np.savetxt(tmp_path / "y.csv", y, delimiter=",")
    return tmp_path, x, y


def _add_method(monkeypatch, quantity, name, fn, **meta):
    """Register a method for one test only (the registry is restored afterwards), wrapped
    by the result contract as `register` would."""
    wrapped = apply_contract(fn, quantity=quantity, name=name, min_n=8, differentiable=False,
                             alternatives=lambda: [])
    monkeypatch.setitem(_registry._REGISTRY[quantity], name,
                        Method(quantity, name, wrapped, raw=fn, **meta))


def test_bench_json_and_plot(tmp_path, capsys):
    out, png = tmp_path / "r.json", tmp_path / "r.png"
    code = main(["bench", "--quick", "--methods", "gaussian", "--tasks",
                 "multinormal-*,gaussian-entropy-*,gaussian-chain-*",
                 "--n", "300", "--json", str(out), "--plot", str(png), "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "multinormal-sparse-2-2-2-2.0" in printed and "truth" in printed
    assert "seconds" in printed
    payload = json.loads(out.read_text())
    rows = payload["results"]
    assert {r["task"] for r in rows} == {"multinormal-sparse-2-2-2-2.0", "gaussian-entropy-3d",
                                         "gaussian-chain-0.5"}
    for r in rows:
        assert r["status"] == "ok" and r["n"] == 300 and r["seconds"] >= 0
        assert r["error"] == pytest.approx(r["estimate"] - r["truth"])
        assert abs(r["error"]) < 0.2  # Gaussian plug-in on Gaussian data
    assert payload["config"]["quick"] is True
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_failing_estimator_is_reported_not_fatal(monkeypatch, tmp_path, capsys):
    def boom(x, *, k=1):
        raise RuntimeError("deliberate failure")

    _add_method(monkeypatch, "entropy", "boom", boom)
    args = ["bench", "--quick", "--methods", "entropy:gaussian,entropy:boom", "--n", "200",
            "--no-progress",
            "--json", str(tmp_path / "r.json")]
    assert main(args) == 0
    rows = {r["method"]: r for r in json.loads((tmp_path / "r.json").read_text())["results"]}
    assert rows["boom"]["status"] == "error: RuntimeError: deliberate failure"
    assert rows["boom"]["estimate"] is None
    assert rows["gaussian"]["status"] == "ok"
    assert main([*args, "--strict"]) == 1
    assert "failed" in capsys.readouterr().err


@pytest.mark.parametrize(("defaults", "expected"), [(False, 2.0), (True, 3.0)])
def test_stochastic_methods_get_a_key_and_bench_kwargs(monkeypatch, defaults, expected):
    """``bench_kwargs`` unless ``defaults=True`` (then the estimator's own defaults)."""
    seen = {}

    def noisy(x, *, key, scale=3.0):
        seen["scale"] = scale
        return make_estimate(jax.random.normal(key) * 0 + scale)

    _add_method(monkeypatch, "entropy", "noisy", noisy, stochastic=True,
                test_kwargs={"scale": 1.0}, bench_kwargs={"scale": 2.0})
    (result,) = bench.run(quick=True, methods=["noisy"], n=100, progress=False,
                          defaults=defaults)
    assert result.ok and result.estimate == expected and seen["scale"] == expected


def test_neural_is_selectable_by_name_only():
    (neural,) = [m for m in bench.select_methods(["neural"]) if m.name == "neural"]
    assert neural.bench_kwargs == {} and neural.stochastic
    assert neural.fn.keywords == {"copula": True}
    assert neural.fn.func is _registry.get("mutual_information", "minde").fn
    assert "neural" not in {m.name for m in bench.select_methods(["*"])}


def test_time_budgets_mark_rows_not_run_and_leave_the_summary():
    results = bench.run(quick=True, methods=["mutual_information:gaussian"], n=200,
                        method_budget=0.0, progress=False)
    assert [r.status for r in results][0] == "ok"
    assert all(r.status == bench.NOT_RUN and not r.ran for r in results[1:])
    assert len(results) == 2
    (summary,) = bench.summarize(results)
    assert summary["run"] == 1 and summary["not_run"] == 1 and summary["ok"] == 1
    assert summary["failed"] == 0 and summary["mae"] == pytest.approx(abs(results[0].error))
    results = bench.run(quick=True, methods=["gaussian"], tasks=["multinormal-*"], n=200,
                        total_budget=0.0, progress=False)
    assert results and all(r.status == bench.NOT_RUN for r in results)
    # without a budget (the default, quick included) the planned rows all run
    plain = bench.run(quick=True, methods=["mutual_information:gaussian"], n=200,
                      progress=False)
    assert len(plain) == 2 and all(r.ran for r in plain)
    assert bench.QUICK["method_budget"] is None and bench.QUICK["total_budget"] is None


def test_status_comes_from_the_estimate_and_absurd_values_are_flagged(monkeypatch):
    def absurd(x, y):
        return make_estimate(-1972041.25, 0.1)

    def diverged(x, y):
        return make_estimate(0.4, 0.1, status=Status.DIVERGED)

    def fine(x, y):
        return make_estimate(1.0, 0.05)

    for name, fn in (("absurd", absurd), ("diverged", diverged), ("fine", fine)):
        _add_method(monkeypatch, "mutual_information", name, fn)
    results = bench.run(quick=True, methods=["absurd", "diverged", "fine"],
                        tasks=["multinormal-sparse-*"], n=100, progress=False)
    rows = {r.method: r for r in results}
    assert rows["absurd"].status.startswith("flagged") and not rows["absurd"].ok
    assert rows["diverged"].status == "error: training diverged"
    assert np.isnan(rows["diverged"].estimate)
    assert rows["fine"].ok and rows["fine"].stderr == pytest.approx(0.05)
    # 1.0 vs 1.0217 is inside 1 ± 1.96·0.05: the interval column says so
    assert rows["fine"].covered == 1.0
    assert bench.judge(float("nan"), 0.5) == "flagged: non-finite estimate"
    assert bench.judge(4.5, 1.0) == "flagged: |error| > max(1 nat, 3·|truth|)"
    assert bench.judge(3.9, 1.0) == "ok" and bench.judge(1.05, 0.1) == "ok"
    assert bench.judge(0.0, 0.5, code=int(Status.NOT_CONVERGED)).startswith("error")


def test_bmi_suite_with_seeds_and_copula(tmp_path, capsys):
    assert main(["bench", "--suite", "bmi", "--list", "--methods", "gaussian"]) == 0
    listed = capsys.readouterr().out.strip().splitlines()
    assert len(listed) == 40
    png, out = tmp_path / "bmi.png", tmp_path / "bmi.json"
    assert main(["bench", "--suite", "bmi", "--methods", "gaussian", "--tasks",
                 "1v1-normal-0.75,1v1-bimodal-0.75", "--n", "400", "--seeds", "3",
                 "--copula", "both", "--no-progress", "--plot", str(png),
                 "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "seed sd" in printed and "in 95% CI" in printed and "within 0.1" in printed
    payload = json.loads(out.read_text())
    rows = {(r["task"], r["method"]): r for r in payload["results"]}
    assert set(rows) == {(t, m) for t in ("1v1-normal-0.75", "1v1-bimodal-0.75")
                         for m in ("gaussian", "gaussian+copula")}
    assert all(r["seeds"] == 3 and r["spread"] > 0 for r in rows.values())
    # the bimodal margins fool the Gaussian estimator; their ranks do not
    bimodal = rows["1v1-bimodal-0.75", "gaussian+copula"]["error"]
    assert abs(bimodal) < abs(rows["1v1-bimodal-0.75", "gaussian"]["error"])
    assert {s["method"] for s in payload["summary"]} == {"gaussian", "gaussian+copula"}
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(SystemExit):
        main(["bench", "--suite", "bmi", "--seeds", "0"])


def test_plan_is_round_robin():
    methods = bench.select_methods(["gaussian", "k*"])
    tasks = bench.select_tasks(quick=True)
    pairs = bench.plan(methods, tasks)
    assert len(pairs) == sum(m.quantity == t.quantity and m.measure == t.measure
                             for m in methods for t in tasks)
    first = {t.quantity: t.name for t in reversed(tasks)}
    rank = [0 if t.name == first[t.quantity] else 1 for _, t in pairs]
    assert rank == sorted(rank)  # every first task before any second task
    # within the first round the quantities take turns: slot 0 of each, then slot 1 of each
    slots = [[x.name for x in methods if x.quantity == m.quantity].index(m.name)
             for (m, _), r in zip(pairs, rank, strict=True) if r == 0]
    assert slots == sorted(slots)
    assert len({m.quantity for m, _ in pairs[:3]}) == 3


def test_list_and_bad_filters(capsys):
    assert main(["bench", "--quick", "--list", "--methods", "gaussian"]) == 0
    assert "mutual_information:gaussian\tmultinormal-sparse-2-2-2-2.0" in capsys.readouterr().out
    for flag in ("--methods", "--tasks"):
        with pytest.raises(SystemExit) as exc:
            main(["bench", "--quick", flag, "no-such-thing"])
        assert exc.value.code == 2
        assert "no-such-thing" in capsys.readouterr().err


def test_estimate_mi_from_npy_and_csv(arrays, capsys):
    path, x, y = arrays
    assert main(["estimate", "--x", str(path / "x.npy"), "--y", str(path / "y.csv"),
                 "--method", "gaussian"]) == 0
    printed = capsys.readouterr().out
    expected = float(infoest.mutual_information(x, y, method="gaussian"))
    assert printed.startswith("mutual_information (gaussian): ")
    assert float(printed.split(": ")[1].split()[0]) == pytest.approx(expected, abs=1e-5)


def test_estimate_entropy_bits_and_params(arrays, capsys):
    path, x, _ = arrays
    assert main(["estimate", "--x", str(path / "x.npy"), "--quantity", "entropy",
                 "--method", "gaussian", "-p", "shrinkage=0.5", "--bits"]) == 0
    printed = capsys.readouterr().out
    expected = float(infoest.entropy(x, method="gaussian", shrinkage=0.5)) / np.log(2)
    assert printed.endswith("bits\n")
    assert float(printed.split(": ")[1].split()[0]) == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize(("extra", "message"), [
    (["--method", "no-such-method"], "valid methods"),
    (["--quantity", "cmi"], "missing --z"),
    (["--quantity", "entropy"], "not used: --y"),
    (["-p", "bogus"], "NAME=VALUE"),
])
def test_estimate_user_errors_exit_cleanly(arrays, capsys, extra, message):
    path, _, _ = arrays
    with pytest.raises(SystemExit) as exc:
        main(["estimate", "--x", str(path / "x.npy"), "--y", str(path / "y.csv"), *extra])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_estimate_refuses_pickles_and_bad_files(tmp_path, capsys):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (tmp_path / "x.json").write_text("[]")
    for name in ("obj.npy", "x.json"):
        with pytest.raises(SystemExit) as exc:
            main(["estimate", "--x", str(tmp_path / name), "--method", "gaussian"])
        assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "pickle" in err.lower() and "unsupported file type" in err
    (tmp_path / "empty.npy").write_bytes(b"")
    with pytest.raises(SystemExit) as exc:
        main(["estimate", "--x", str(tmp_path / "empty.npy"), "--method", "gaussian"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "empty.npy" in err and "Traceback" not in err
    assert len(err.strip().splitlines()[-1]) < 200 and err.count("error:") == 1
