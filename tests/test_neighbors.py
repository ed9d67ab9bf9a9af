"""The shared k-NN primitive against a dense numpy reference; both backends bit-identical."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from infoest.ops import neighbors as nb

MI_GROUPS = ((0,), (1,))
CMI_GROUPS = ((0, 2), (1, 2), (2,))


def reference(blocks, k, groups, algorithm=1, theiler=0, norm="max"):
    """Dense O(n²) numpy version of neighbors.neighbor_counts."""
    n = blocks[0].shape[0]
    if norm == "max":
        dists = [np.abs(b[:, None, :] - b[None, :, :]).max(-1) for b in blocks]
    else:
        dists = [np.sqrt(((b[:, None, :] - b[None, :, :]) ** 2).sum(-1)) for b in blocks]
    i = np.arange(n)
    excluded = np.abs(i[:, None] - i[None, :]) <= theiler
    joint = np.where(excluded, np.inf, np.max(dists, axis=0))
    order = np.argsort(joint, axis=1, kind="stable")[:, :k]
    eps = np.take_along_axis(joint, order, 1)[:, -1]
    radii, counts = [], []
    for g in groups:
        dg = np.max([dists[b] for b in g], axis=0)
        if algorithm == 1:
            counts.append(((dg < eps[:, None]) & ~excluded).sum(1))
        else:
            r = np.take_along_axis(dg, order, 1).max(1)
            radii.append(r)
            counts.append(((dg <= r[:, None]) & ~excluded).sum(1))
    radius = eps if algorithm == 1 else np.stack(radii, 1)
    return radius, np.stack(counts, 1) if counts else np.zeros((n, 0), int)


def make_blocks(n, dims, dtype, seed=0, ties=False):
    rng = np.random.default_rng(seed)
    blocks = [rng.normal(size=(n, d)).astype(dtype) for d in dims]
    if ties:  # many exactly equal coordinates and distances
        blocks[0] = np.round(blocks[0], 1).astype(dtype)
    return blocks


CASES = [  # dtype, algorithm, theiler, ties, k
    (np.float32, 1, 3, True, 4),
    (np.float64, 1, 0, True, 1),
    (np.float32, 2, 2, False, 4),
    (np.float64, 2, 0, False, 3),
]


@pytest.mark.parametrize("dtype,algorithm,theiler,ties,k", CASES)
def test_neighbor_counts_match_numpy_on_both_backends(dtype, algorithm, theiler, ties, k):
    with jax.enable_x64(dtype == np.float64):
        blocks = make_blocks(700, (1, 2, 1), dtype, ties=ties)  # 700: several row blocks
        want_r, want_c = reference(blocks, k, CMI_GROUPS, algorithm, theiler)
        for backend in ("brute", "tree"):
            r, c = nb.neighbor_counts(blocks, k, CMI_GROUPS, algorithm=algorithm,
                                      theiler=theiler, backend=backend)
            assert r.dtype == dtype
            np.testing.assert_array_equal(np.asarray(r), want_r.astype(dtype))
            np.testing.assert_array_equal(np.asarray(c), want_c)


def test_backends_identical_on_float32_ties_and_duplicates():
    blocks = make_blocks(500, (2, 1), np.float32, seed=3, ties=True)
    for b in blocks:  # sample 0 repeated five times
        b[1:5] = b[0]
    a = nb.neighbor_counts(blocks, 3, MI_GROUPS, backend="brute")
    b = nb.neighbor_counts(blocks, 3, MI_GROUPS, backend="tree")
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))
    assert np.all(np.asarray(a[0])[:5] == 0.0)  # duplicates give zero radius


@pytest.mark.parametrize("backend", ["brute", "tree"])
def test_knn_distance_euclidean(backend):
    x = make_blocks(300, (3,), np.float32, seed=1)[0]
    want, _ = reference([x.astype(np.float64)], 5, (), norm="euclidean")
    got = nb.knn_distance(x, 5, norm="euclidean", backend=backend)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6)


@pytest.mark.parametrize("backend", ["brute", "tree"])
@pytest.mark.parametrize("strict", [True, False])
def test_count_within_matches_numpy(backend, strict):
    x, y = make_blocks(400, (2, 1), np.float32, seed=2, ties=True)
    radius = nb.knn_distance((x, y), 4, backend="brute")  # radii that hit exact distances
    d = np.maximum(np.abs(x[:, None] - x[None]).max(-1), np.abs(y[:, None] - y[None]).max(-1))
    inside = d < radius[:, None] if strict else d <= radius[:, None]
    i = np.arange(400)
    want = (inside & (np.abs(i[:, None] - i[None]) > 2)).sum(1)
    got = nb.count_within((x, y), radius, strict=strict, theiler=2, backend=backend)
    np.testing.assert_array_equal(np.asarray(got), want)


@pytest.mark.parametrize("backend", ["brute", "tree"])
def test_jit_and_vmap(backend):
    batch = np.stack([make_blocks(120, (2,), np.float32, seed=s)[0] for s in range(3)])

    def f(a):
        return nb.neighbor_counts((a[:, :1], a[:, 1:]), 3, MI_GROUPS, backend=backend)

    r, c = jax.jit(jax.vmap(f))(jnp.asarray(batch))
    for s in range(3):
        rs, cs = f(batch[s])
        np.testing.assert_array_equal(np.asarray(r[s]), np.asarray(rs))
        np.testing.assert_array_equal(np.asarray(c[s]), np.asarray(cs))



@pytest.mark.parametrize("algorithm", [1, 2])
def test_vmap_over_one_block_matches_loop_and_numpy(algorithm):
    """Surrogate-style vmap: only the middle block is batched, so the tree backend builds the
    subspaces of the other blocks once and reuses them; every element must still be exact."""
    # ties only for algorithm 1: with algorithm 2 tied k-th neighbours may differ (documented)
    y_now, x_past, y_past = make_blocks(300, (1, 1, 1), np.float32, seed=5,
                                        ties=algorithm == 1)
    perms = np.stack([np.random.default_rng(s).permutation(300) for s in range(3)])

    def f(perm, backend):
        return nb.neighbor_counts((y_now, jnp.asarray(x_past)[perm], y_past), 3, CMI_GROUPS,
                                  algorithm=algorithm, theiler=1, backend=backend)

    for backend in ("tree", "brute"):
        r, c = jax.jit(jax.vmap(lambda p, b=backend: f(p, b)))(jnp.asarray(perms))
        for s in range(3):
            want_r, want_c = reference([y_now, x_past[perms[s]], y_past], 3, CMI_GROUPS,
                                       algorithm, theiler=1)
            np.testing.assert_array_equal(np.asarray(r[s]), want_r.astype(np.float32))
            np.testing.assert_array_equal(np.asarray(c[s]), want_c)


@pytest.mark.parametrize("dims", [(1,), (2,), (1, 1)])
def test_sorted_counts_match_a_tree_on_exact_distances(dims):
    from scipy.spatial import cKDTree

    from infoest.ops._sorted_counts import SortedCounter

    data = np.concatenate(make_blocks(400, dims, np.float64, seed=7, ties=True), axis=1)
    data[:, -1] = np.round(data[:, -1], 1)  # many equal values along every axis
    thr = np.abs(np.round(np.random.default_rng(0).normal(size=400), 1))  # exact distances
    thr[::5] = np.nextafter(thr[::5], -np.inf)
    thr[::13] = -1.0  # nothing qualifies
    want = cKDTree(data).query_ball_point(data, np.maximum(thr, 0), p=np.inf,
                                          return_length=True)
    got = SortedCounter(data).count(thr)
    np.testing.assert_array_equal(got, np.where(thr >= 0, want, 0))

def test_auto_backend_choice():
    on_cpu = jax.default_backend() == "cpu"
    assert nb.resolve_backend("auto", [2, 2], "max") == ("tree" if on_cpu else "brute")
    assert nb.resolve_backend("auto", [5, 5], "max") == "brute"
    assert nb.resolve_backend("auto", [5, 5], "max", n=10_000) == "brute"
    big = nb.resolve_backend("auto", [5, 5], "max", n=nb.TREE_MIN_N)
    assert big == ("tree" if on_cpu else "brute")  # large n: the tree on CPU
    assert nb.resolve_backend("auto", [16, 16], "max", n=10**6) == "brute"  # high dimension
    assert nb.resolve_backend("auto", [1, 1], "euclidean") == "brute"  # two Euclidean blocks
    assert nb.resolve_backend("brute", [1], "max") == "brute"


def test_bad_arguments():
    x = np.zeros((20, 2), np.float32)
    with pytest.raises(ValueError, match="backend"):
        nb.knn_distance(x, 2, backend="gpu")
    with pytest.raises(ValueError, match="norm"):
        nb.knn_distance(x, 2, norm="l1")
    with pytest.raises(ValueError, match="tree"):
        nb.neighbor_counts((x, x), 2, MI_GROUPS, norm="euclidean", backend="tree")
    with pytest.raises(ValueError, match="theiler"):
        nb.knn_distance(x, 5, theiler=8)
    with pytest.raises(ValueError, match="k"):
        nb.knn_distance(x, 20)
    with pytest.raises(ValueError, match="radius"):
        nb.count_within(x, np.ones(3, np.float32))


def test_auto_takes_the_device_path_under_a_mesh():
    """Under an ambient mesh of more than one device, auto never picks the host tree; with
    one device it behaves as without a mesh."""
    from jax.sharding import AbstractMesh, AxisType

    for name, kind in (("batch", "brute"), ("samples", "ring")):
        mesh = AbstractMesh((4,), (name,), axis_types=(AxisType.Auto,))
        with jax.sharding.use_abstract_mesh(mesh):
            plan = nb.choose_backend("auto", [1, 1], "max", n=1000)
            assert plan.kind == kind
            if kind == "ring":
                assert plan.axis == "samples"
            with pytest.raises(ValueError, match="gather"):
                nb.choose_backend("tree", [1, 1], "max", n=1000)
    one = AbstractMesh((1,), ("samples",), axis_types=(AxisType.Auto,))
    with jax.sharding.use_abstract_mesh(one):
        assert nb.choose_backend("brute", [1, 1], "max").kind == "brute"
