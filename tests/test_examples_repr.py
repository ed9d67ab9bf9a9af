"""The representation examples run end to end (``--smoke`` in CI, ``--quick`` under slow)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name):
    if str(EXAMPLES) not in sys.path:  # the examples import their sibling `_common`
        sys.path.insert(0, str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _finite(tree):
    if isinstance(tree, dict):  # timings are measured, not results
        return all(_finite(v) for k, v in tree.items() if k != "timing")
    if isinstance(tree, list | tuple):
        return all(_finite(v) for v in tree)
    return bool(np.isfinite(tree))


def test_representations_during_training_smoke(tmp_path):
    report = _load("representations_during_training").main(["--smoke", "--out-dir",
                                                             str(tmp_path)])
    assert (tmp_path / "repr_training_mlp.png").stat().st_size > 10_000
    clean = report["mlp"]["noise_0"]
    assert _finite(clean)
    # two epochs of clean training already beat chance (0.1) by far
    assert clean["test_acc_last"] > 0.5
    # DSE is bounded by log n of the held-out subset (150 rows)
    assert max(clean["dse"]["max"]) <= np.log(150) + 1e-4
    _timing_reported(report["mlp"]["timing"])


def _timing_reported(timing):
    """Training and estimate seconds per epoch, wall and CPU, both positive."""
    for part in ("train_per_epoch", "estimates_per_epoch"):
        assert timing[part]["wall_s"] > 0 and timing[part]["cpu_s"] >= 0
    assert timing["evaluations_per_epoch"] > 0


def test_info_regularised_training_smoke(tmp_path):
    report = _load("info_regularised_training").main(["--smoke", "--out-dir", str(tmp_path)])
    assert (tmp_path / "info_regularised_training.png").stat().st_size > 10_000
    assert _finite(report)
    # the penalty lowers the held-out I(Z; S) already after two epochs
    assert report["lambda_3"]["mi_s"] < report["lambda_0"]["mi_s"]
    _timing_reported(report["timing"])


def test_language_model_matrix_entropy_smoke(tmp_path):
    report = _load("language_model_matrix_entropy").main(["--smoke", "--out-dir",
                                                          str(tmp_path)])
    assert (tmp_path / "lm_matrix_entropy.png").stat().st_size > 10_000
    assert (tmp_path / "lm_uncomp_heads.png").stat().st_size > 10_000
    s = report["S"]
    assert _finite(s)
    assert s["loss_last"] < s["loss_first"]
    # normalised truncated / full entropies lie in [0, 1]; truncation never adds entropy
    trunc, full = np.array(s["key_trunc_per_layer_trained"]), np.array(
        s["key_full_per_layer_trained"])
    assert np.all((trunc >= 0) & (trunc <= full + 1e-6) & (full <= 1 + 1e-6))
    _timing_reported(s["timing"])


def test_clock_amortises_the_estimates_over_epochs():
    clock = _load("_common").Clock()
    clock.wall = {"train": [9.0, 1.0, 1.0, 3.0], "estimates": [50.0, 2.0, 2.0]}
    clock.cpu = {"train": [5.0, 0.5, 0.5, 0.5], "estimates": [20.0, 1.0, 1.0]}
    clock.load = [2.0, 3.0]
    t = clock.report("train", "estimates", epochs=4)  # 3 evaluations over 4 epochs
    assert t["train_per_epoch"] == {"wall_s": 1.0, "cpu_s": 0.5}  # medians without the first
    assert t["estimates_per_epoch"] == {"wall_s": 1.5, "cpu_s": 0.75}
    assert t["ratio_cpu"] == 1.5 and t["first_call_wall_s"] == {"train": 9.0, "estimates": 50.0}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["representations_during_training",
                                  "info_regularised_training",
                                  "language_model_matrix_entropy"])
def test_quick_settings(tmp_path, name):
    report = _load(name).main(["--quick", "--out-dir", str(tmp_path)])
    assert _finite(report)
