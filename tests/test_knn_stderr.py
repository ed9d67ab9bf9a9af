"""The kNN error bar at large n: m-out-of-n subsampling over disjoint subsamples.

Below `knn.LARGE_N` rows the error bar is the half-sample jackknife (calibrated in
tests/test_coverage_classical.py); from `LARGE_N` on it uses B = max(20, n // 10 000)
disjoint random subsamples of m = n // B rows and var = (m / n) · var_s. Measured coverage
of both rules: docs/classical.md, "Error bars".
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import compute_jit
from test_coverage_classical import coverage

from infoest import knn, tasks


@pytest.mark.parametrize(("n", "block", "shape", "factor"), [
    (19_999, 1, (20, 9_999), 9_999 / 10_000),  # half-samples: m / (n - m)
    (20_000, 1, (20, 1_000), 0.05),            # 20 disjoint parts: m / n
    (1_000_000, 1, (100, 10_000), 0.01),       # parts of 10 000 rows
    (50_000, 7, (20, 2_499), 2_499 / 50_000),  # whole blocks of 7 consecutive rows
])
def test_subsample_rule(n, block, shape, factor):
    idx, got = knn.subsample_indices(jax.random.PRNGKey(3), n, block=block)
    idx = np.asarray(idx)
    assert idx.shape == shape and got == pytest.approx(factor)
    assert np.all(np.diff(idx, axis=1) > 0) and idx.min() >= 0 and idx.max() < n
    if n >= knn.LARGE_N:
        assert np.unique(idx).size == idx.size  # disjoint
        starts = idx[:, ::block]
        assert np.all(starts % block == 0)  # blocks kept whole
        assert np.array_equal(idx.reshape(shape[0], -1, block) - starts[:, :, None],
                              np.broadcast_to(np.arange(block), (*starts.shape, block)))


def test_disjoint_subsamples_give_the_variance_of_a_mean():
    """For the sample mean of N(0, 1) the rule must give E[stderr²] = 1/n exactly: over
    1 000 datasets of n = 20 000 the mean of stderr² · n has relative sd √(2/19)/√1000
    = 0.010, so the 4 % band is 4 sd; the half-sample factor m/(n − m) applied to disjoint
    parts would give 20/19 (+5.3 %), no factor 20 (+1 900 %)."""
    n = knn.LARGE_N

    def one(key):
        k_data, k_sub = jax.random.split(key)
        x = jax.random.normal(k_data, (n, 1))
        return knn.subsample_stderr(lambda a: jnp.mean(a), (x,), k_sub)

    se = compute_jit(jax.vmap(one))(jax.random.split(jax.random.PRNGKey(0), 1000))
    assert float(jnp.mean(se**2) * n) == pytest.approx(1.0, abs=0.04)


def test_large_n_ksg_coverage():
    """KSG MI at n = 20 000 (the smallest n of the rule: parts of 1 000 rows), 100
    replicates; bands and their reasoning as in tests/test_coverage_classical.py."""
    got = coverage("mutual_information", "ksg", tasks.bivariate_normal(0.75), n=20_000,
                   reps=100)
    assert 0.85 <= got["coverage"] <= 1.0, got
    assert 0.75 <= got["ratio"] <= 1.4, got


@pytest.mark.slow
@pytest.mark.parametrize(("quantity", "method", "task"), [
    ("mutual_information", "ksg", tasks.bivariate_normal(0.75)),
    ("entropy", "kl", tasks.gaussian_entropy(np.eye(1) * 4.0, name="gaussian-entropy-1d")),
], ids=["ksg-1v1-normal-0.75", "kl-gaussian-entropy-1d"])
def test_large_n_coverage_full(quantity, method, task):
    got = coverage(quantity, method, task, n=20_000, reps=200, seed=1)
    assert 0.90 <= got["coverage"] <= 0.99, got
    assert 0.8 <= got["ratio"] <= 1.25, got
