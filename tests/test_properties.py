"""Invariances of the kNN estimators (hypothesis, deterministic, few examples, fixed n)."""

from __future__ import annotations

import jax
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from infoest import knn

N = 48  # one shape: every example reuses the compiled estimator
FEW = settings(max_examples=12, deadline=None, derandomize=True, database=None)

seeds = st.integers(0, 2**32 - 1)
# coarse values: many exact ties and duplicated samples
tied = arrays(np.float32, (N, 2), elements=st.integers(-3, 3).map(float))


def continuous(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, 2))
    y = np.hstack([x[:, :1] + 0.7 * rng.normal(size=(N, 1)), rng.normal(size=(N, 1))])
    return x, y


@FEW
@given(seed=seeds, perm_seed=seeds)
def test_invariant_to_permuting_samples_jointly(seed, perm_seed):
    x, y = continuous(seed)
    perm = np.random.default_rng(perm_seed).permutation(N)
    with jax.enable_x64(True):
        for algorithm in (1, 2):
            a = knn.mutual_information(x, y, k=3, algorithm=algorithm, standardize=False)
            b = knn.mutual_information(x[perm], y[perm], k=3, algorithm=algorithm,
                                       standardize=False)
            np.testing.assert_allclose(float(a), float(b), atol=1e-12)
        z = y[:, 1:]
        a = knn.conditional_mutual_information(x, y[:, :1], z, k=3)
        b = knn.conditional_mutual_information(x[perm], y[perm, :1], z[perm], k=3)
        np.testing.assert_allclose(float(a), float(b), atol=1e-9)


@FEW
@given(seed=seeds, scale=st.floats(1e-3, 1e3), shift=st.floats(-1e2, 1e2))
def test_invariant_to_rescaling_a_variable_when_standardized(seed, scale, shift):
    x, y = continuous(seed)
    with jax.enable_x64(True):
        a = knn.mutual_information(x, y, k=3)
        b = knn.mutual_information(x * scale + shift, y, k=3)
    np.testing.assert_allclose(float(a), float(b), atol=1e-9)


@FEW
@given(x=tied, y=tied)
def test_algorithm_1_symmetric_and_finite_even_with_ties(x, y):
    # duplicated joint rows are flagged DEGENERATE; throw=False keeps the finite value
    a = knn.mutual_information(x, y, k=3, standardize=False, throw=False)
    b = knn.mutual_information(y, x, k=3, standardize=False, throw=False)
    assert float(a) == float(b)
    assert np.isfinite(float(a))
    assert int(a.status) == (3 if int(a.diagnostics["duplicates"]) else 0)
