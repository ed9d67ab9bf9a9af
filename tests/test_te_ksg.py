"""KSG transfer entropy: AR(1) closed form, parity with infomeasure, surrogates, Theiler."""


import jax
import numpy as np
import pytest

import infoest
from infoest.tasks import processes

TRUTH = 0.5 * np.log(55 / 42)  # 0.134832 nats


@pytest.fixture(scope="module")
def ar_long():
    x, y = processes.coupled_ar1().sample(jax.random.PRNGKey(3), 20_000)
    return np.asarray(x[:, 0]), np.asarray(y[:, 0])


def test_ksg_te_recovers_ar1_truth(ar_long):
    x, y = ar_long
    est = infoest.transfer_entropy(x, y, method="ksg")  # k = 4, max-norm
    assert abs(float(est) - TRUTH) < 0.03
    assert abs(float(infoest.transfer_entropy(y, x, method="ksg"))) < 0.01


def test_parity_with_infomeasure(ar_long, global_x64):
    im = pytest.importorskip("infomeasure")
    x, y = (a[:2000].astype(np.float64) for a in ar_long)
    with global_x64():
        for hist in (1, 2):
            ours = infoest.transfer_entropy(x, y, method="ksg", history=hist, standardize=False)
            theirs = im.transfer_entropy(x, y, approach="ksg", k=4, noise_level=0,
                                         src_hist_len=hist, dest_hist_len=hist)
            np.testing.assert_allclose(float(ours), theirs, rtol=1e-6, atol=1e-9)


def test_surrogate_p_values(ar_long):
    x, y = (a[:1500] for a in ar_long)
    key = jax.random.PRNGKey(0)
    fwd = infoest.transfer_entropy(x, y, method="ksg", surrogates=100, key=key)
    bwd = infoest.transfer_entropy(y, x, method="ksg", surrogates=100, key=key)
    assert float(fwd.diagnostics["p_value"]) < 0.01
    assert float(bwd.diagnostics["p_value"]) > 0.05
    assert float(fwd.diagnostics["effective_te"]) > 0.08
    assert abs(float(bwd.diagnostics["effective_te"])) < 0.03


def test_theiler_window_and_backends_agree(ar_long):
    x, y = (a[:600] for a in ar_long)
    kw = dict(method="ksg", history=2, theiler=5)
    tree = infoest.transfer_entropy(x, y, backend="tree", **kw)
    brute = infoest.transfer_entropy(x, y, backend="brute", **kw)
    plain = infoest.transfer_entropy(x, y, backend="tree", method="ksg", history=2)
    np.testing.assert_allclose(float(tree), float(brute), rtol=1e-5, atol=1e-6)
    assert float(tree) != float(plain)


def test_jitter_needs_key_and_is_reproducible(ar_long):
    x, y = (a[:500] for a in ar_long)
    key = jax.random.PRNGKey(2)
    a = infoest.transfer_entropy(x, y, method="ksg", jitter=1e-5, key=key)
    b = infoest.transfer_entropy(x, y, method="ksg", jitter=1e-5, key=key)
    assert float(a) == float(b)
    with pytest.raises(ValueError, match="key"):
        infoest.transfer_entropy(x, y, method="ksg", jitter=1e-5)
    with pytest.raises(ValueError, match="k"):
        infoest.transfer_entropy(x[:4], y[:4], method="ksg")
