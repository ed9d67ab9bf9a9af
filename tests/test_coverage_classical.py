"""Calibration of the classical estimators' error bars: does value ± 1.96·stderr cover the truth?

Every case draws R datasets of n samples from a ground-truth task and estimates all of them in
one vmapped call. Two checks per case:

- coverage of the 95 % interval. CI version (R = 100): the band is [0.85, 1.0]; at a true
  coverage of 0.95 the binomial sd of the observed fraction is 0.022, so 0.85 is 4.6 sd away,
  and a calibrated-but-slightly-low method (true 0.90) still passes with probability ≈ 0.95.
  Slow version (R = 200): [0.90, 0.99] as in the project contract (0.99 allows 4 misses).
- the mean reported stderr over the sd of the R estimates, in [0.75, 1.4] (R = 100; the sd
  of R = 100 draws has ≈ 7 % relative error): catches error bars that cover only because
  they are too wide.

Tasks are those where the estimator's bias is small next to its stderr at this n (the
stderr does not cover bias). Measured numbers for every method: docs/classical.md.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
from conftest import compute_jit

from infoest import _registry, tasks
from infoest.tasks import processes

EQUI3 = 0.5 * np.eye(3) + 0.5  # equicorrelated, ρ = 0.5


def _cases():
    """(quantity, method, task, kwargs) for every method this module calibrates."""
    bvn = tasks.bivariate_normal(0.75)
    dense = tasks.multinormal_dense(2, 2, 0.5)
    ent1 = tasks.gaussian_entropy(np.eye(1) * 4.0, name="gaussian-entropy-1d")
    ent2 = tasks.gaussian_entropy(np.array([[1.0, 0.6], [0.6, 1.0]]), name="gaussian-entropy-2d")
    chain = tasks.gaussian_chain(0.5)
    oinfo = tasks.gaussian_o_information(EQUI3, name="gaussian-oinfo-redundant-3-0.5")
    ar = processes.coupled_ar1()
    return [
        ("mutual_information", "gaussian", bvn, {}),
        ("mutual_information", "gaussian", dense, {}),
        ("entropy", "gaussian", ent1, {}),
        ("entropy", "gaussian", ent2, {}),
        ("conditional_mutual_information", "gaussian", chain, {}),
        ("o_information", "gaussian", oinfo, {}),
        ("transfer_entropy", "gaussian", ar, {}),
        ("mutual_information", "ksg", bvn, {}),
        ("mutual_information", "ksg", dense, {}),
        ("entropy", "kl", ent1, {}),
        ("entropy", "kl", ent2, {}),
        ("conditional_mutual_information", "ksg", chain, {}),
        ("o_information", "ksg", oinfo, {}),
        ("transfer_entropy", "ksg", ar, {}),
    ]


def coverage(quantity: str, method: str, task, *, n: int, reps: int, seed: int = 0, batch=8,
             **kwargs) -> dict[str, float]:
    """Coverage of value ± 1.96 stderr over ``reps`` datasets drawn and estimated at once."""
    fn = _registry.get(quantity, method).fn

    def one(key):
        data = task.sample(key, n)
        return fn(*data, throw=False, **kwargs)

    keys = jax.random.split(jax.random.PRNGKey(seed), reps)
    est = compute_jit(lambda k: jax.lax.map(one, k, batch_size=batch))(keys)
    value, stderr = np.asarray(est.value, np.float64), np.asarray(est.stderr, np.float64)
    assert np.all(np.asarray(est.status) == 0), f"{method} {task.name}: status not ok"
    covered = np.abs(value - task.value) <= 1.96 * stderr
    sd = value.std(ddof=1)
    return {"coverage": float(covered.mean()), "ratio": float(stderr.mean() / sd),
            "bias_over_sd": float((value.mean() - task.value) / sd), "sd": float(sd),
            "truth": float(task.value), "mean": float(value.mean())}


FAST = [c for c in _cases() if (c[1], c[2].name) in {
    ("gaussian", "1v1-normal-0.75"), ("gaussian", "gaussian-entropy-2d"),
    ("ksg", "1v1-normal-0.75"), ("ksg", "multinormal-dense-2-2-0.5"),
    ("kl", "gaussian-entropy-1d"), ("kl", "gaussian-entropy-2d")}]


def _id(case):
    return f"{case[0]}-{case[1]}-{case[2].name}"


@pytest.mark.parametrize("case", FAST, ids=_id)
def test_coverage_fast(case):
    quantity, method, task, kwargs = case
    got = coverage(quantity, method, task, n=500, reps=100, **kwargs)
    assert 0.85 <= got["coverage"] <= 1.0, got
    assert 0.75 <= got["ratio"] <= 1.4, got


@pytest.mark.slow
@pytest.mark.parametrize("case", _cases(), ids=_id)
def test_coverage_full(case):
    quantity, method, task, kwargs = case
    got = coverage(quantity, method, task, n=500, reps=200, seed=1, **kwargs)
    if method in ("gaussian", "ksg", "kl") and quantity in ("mutual_information", "entropy"):
        assert 0.90 <= got["coverage"] <= 0.99, got
    else:  # measured and reported (docs/classical.md); must at least be a sane error bar
        assert 0.80 <= got["coverage"] and 0.6 <= got["ratio"] <= 1.6, got
