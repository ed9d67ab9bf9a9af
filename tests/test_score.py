"""Score-based family: VP SDE, importance sampling, exact-score identities, MINDE training.

The exact-score tests plug the analytic Gaussian denoiser (no network) into the MINDE and
SΩI integrals: they test the integration, importance sampling and masks against the Gaussian
closed forms (reference ``score_based.md`` §9, tolerance 0.01 nat).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import infoest
from infoest import gaussian
from infoest.score import integrals, masks, sde
from infoest.score.gaussian_scores import gaussian_denoiser
from infoest.tasks.blocks import redundant_block, synergistic_block


def test_schedule_constants():
    assert float(sde.is_normaliser()) == pytest.approx(20.2559, abs=1e-3)
    assert float(sde.mean_coef(1.0)) == pytest.approx(np.exp(-5.025), rel=1e-5)
    t = jnp.linspace(1e-4, 1.0, 7)
    np.testing.assert_allclose(sde.std(t) ** 2 + sde.mean_coef(t) ** 2, 1.0, atol=1e-6)


def test_importance_sampling_is_unbiased():
    """E_q[w(t) f(t) σ²/β] = ∫₀¹ f for a smooth f, with and without stratification."""
    f = lambda t: jnp.sin(3.0 * t)  # noqa: E731
    exact = (1 - np.cos(3.0)) / 3.0
    for stratified in (False, True):
        t = sde.sample_time(jax.random.PRNGKey(0), (100_000,), stratified=stratified)
        assert float(t.min()) > 0 and float(t.max()) <= 1
        est = jnp.mean(sde.is_weight(t) * f(t) / (sde.beta(t) / sde.std(t) ** 2))
        assert float(est) == pytest.approx(exact, abs=5e-3)


def test_constant_eps_error_is_not_amplified_near_t0():
    """A fixed ε-prediction error δ contributes Z·½‖δ‖² (weights bounded by Z), not more.

    The ratio (β/σ²)/q is unbounded on the flat part of q below t_ε; weighting a trained
    network's non-vanishing small-t error by it inflated every SΩI term (weights up to 2·10⁴).
    """
    x0 = jnp.zeros((200_000, 1))
    half_sq = 0.5 * 0.3**2  # ½‖δ‖² for δ = 0.3 at every t

    def integrand(x0, xt, t):
        return jnp.full((1,), half_sq, xt.dtype)

    mean, se = integrals.monte_carlo(integrand, x0, jax.random.PRNGKey(4))
    assert float(mean[0]) == pytest.approx(float(sde.is_normaliser()) * half_sq, rel=1e-4)
    t = sde.sample_time(jax.random.PRNGKey(5), (100_000,))
    assert float(jnp.max(sde.is_weight(t))) <= float(sde.is_normaliser()) * (1 + 1e-6)


def _draw(cov, n, seed=1):
    cov = jnp.asarray(cov, jnp.float32)
    return jax.random.multivariate_normal(jax.random.PRNGKey(seed), jnp.zeros(cov.shape[0]),
                                          cov, (n,))


@pytest.mark.parametrize("variant", ["c", "j"])
def test_minde_exact_scores_reproduce_gaussian_mi(variant):
    rho = 0.8
    cov = np.array([[1.0, rho], [rho, 1.0]])
    truth = -0.5 * np.log(1 - rho**2)
    index = masks.var_index((1, 1))
    integrand = integrals.minde_integrand(gaussian_denoiser(cov, index), index, variant)
    mean, se = jax.jit(lambda x: integrals.monte_carlo(integrand, x, jax.random.PRNGKey(2)))(
        _draw(cov, 200_000))
    mi, mi_sigma, kl = np.asarray(mean)
    assert mi == pytest.approx(truth, abs=0.01)
    assert mi_sigma == pytest.approx(truth, abs=0.01)
    # KL to N(0, I): 0 for the marginal X (variant c), −½ log det Σ for (X, Y) (variant j).
    assert kl == pytest.approx(0.0 if variant == "c" else truth, abs=0.01)
    assert 0 < float(se[0]) < 0.01


def test_soi_exact_scores_reproduce_tc_dtc_omega_and_gradient():
    """Redundant and synergistic triplets in one compiled call (vmap over the covariance)."""
    covs = np.stack([redundant_block(3, 0.7), synergistic_block(3, 0.7)])
    index = masks.var_index((1, 1, 1))
    subsets = jnp.asarray(np.vstack([np.ones(3, bool), ~np.eye(3, dtype=bool)]))

    def run(cov, x):
        integrand = integrals.soi_integrand(gaussian_denoiser(cov, index), index, subsets)
        return integrals.monte_carlo(integrand, x, jax.random.PRNGKey(3))[0]

    xs = jnp.stack([_draw(c, 100_000) for c in covs])
    est = np.asarray(jax.jit(jax.vmap(run))(jnp.asarray(covs, jnp.float32), xs))  # (2, 4, 2)
    for cov, e in zip(covs, est, strict=True):
        tc, dtc = float(gaussian.total_correlation_from_cov(cov)), float(
            gaussian.dual_total_correlation_from_cov(cov))
        assert e[0, 0] == pytest.approx(tc, abs=0.01)
        assert e[0, 1] == pytest.approx(dtc, abs=0.01)
        assert e[0, 0] - e[0, 1] == pytest.approx(tc - dtc, abs=0.01)
        # leave-one-out subsets: Ω of two variables is 0, so ∂_iΩ = Ω(X).
        np.testing.assert_allclose(e[1:, 0] - e[1:, 1], 0.0, atol=0.01)
        # TC of the pair (i ≠ 0) is its MI
        mi_12 = float(gaussian.mutual_information_from_cov(cov[1:, 1:], 1))
        assert e[1, 0] == pytest.approx(mi_12, abs=0.01)
    # the two systems have opposite signs of Ω
    assert est[0, 0, 0] - est[0, 0, 1] > 0.2 and est[1, 0, 0] - est[1, 0, 1] < -0.15


def test_masks():
    m = masks.soi_masks(3)
    assert m.shape == (7, 3)
    g = masks.soi_masks(3, gradient=True)
    assert g.shape == (1 + 3 + 3 + 3 + 6, 3)  # + leave-one-out joints, X_j | X_−ij
    w = masks.mask_weights(g)
    assert w.sum() == pytest.approx(1.0) and (w > 0).all()
    z, tvec = masks.assemble(jnp.array([1.0, 2.0, 3.0]), jnp.array([4.0, 5.0, 6.0]), 0.3,
                             jnp.array([1, 0, -1]), masks.var_index((1, 1, 1)))
    np.testing.assert_allclose(z, [4.0, 2.0, 0.0])
    np.testing.assert_allclose(tvec, [0.3, 0.0, 1.0])


def test_minde_short_training_gaussian():
    """A small network trained briefly gets within 0.15 nat on a 1+1 Gaussian (ρ = 0.8)."""
    rho = 0.8
    task = infoest.tasks.bivariate_normal(rho)
    x, y = task.sample(jax.random.PRNGKey(0), 4000)
    est = infoest.mutual_information(x, y, method="minde", key=jax.random.PRNGKey(1),
                                     steps=1000, batch_size=128, mc_iter=2)
    assert float(est) == pytest.approx(task.value, abs=0.15)
    assert float(est.diagnostics["mi_sigma"]) == pytest.approx(task.value, abs=0.15)
    # entropy by-product H(X) of a standard normal
    assert float(est.diagnostics["entropy"]) == pytest.approx(0.5 * np.log(2 * np.pi * np.e),
                                                              abs=0.15)
    assert est.diagnostics["train_loss"].shape == (1000,)


def test_minde_rejects_bad_options():
    x = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
    key = jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match="variant"):
        infoest.mutual_information(x[:, :1], x[:, 1:], method="minde", key=key, variant="x")
    with pytest.raises(TypeError, match="steps"):
        infoest.mutual_information(x[:, :1], x[:, 1:], method="minde", key=key, steps=1.5)
    with pytest.raises(TypeError, match="gradient"):
        infoest.o_information(x, method="soi", key=key, gradient="yes")


def test_cosine_schedule_warms_up_and_decays_to_zero():
    from infoest.score import network

    opt = network.optimizer(1e-3, 1000, "cosine", warmup=0.1)
    params = {"w": jnp.zeros(())}
    state = opt.init(params)
    sizes = []
    for _ in range(1000):  # Adam's first step moves by ≈ lr whatever the gradient scale
        upd, state = opt.update({"w": jnp.ones(())}, state, params)
        sizes.append(abs(float(upd["w"])))
    assert sizes[0] == pytest.approx(1e-5, rel=0.05)  # (step 1 of 100 warmup) · lr
    assert max(sizes) == pytest.approx(1e-3, rel=0.05) and int(np.argmax(sizes)) in (99, 100)
    assert sizes[-1] < 1e-7
    with pytest.raises(ValueError, match="schedule"):
        network.optimizer(1e-3, 10, "step")


def test_soi_mask_probs_set_joint_and_marginal_shares():
    for gradient in (False, True):
        m = masks.soi_masks(4, gradient=gradient)
        p = masks.soi_mask_probs(m, 0.5, 0.04)
        assert p.sum() == pytest.approx(1.0) and (p > 0).all()
        assert p[(m == 1).all(1)].sum() == pytest.approx(0.5)
        marg = ((m == 1).sum(1) == 1) & ((m == -1).sum(1) == 3)
        np.testing.assert_allclose(p[marg], 0.01)
        np.testing.assert_allclose(masks.soi_mask_probs(m), masks.mask_weights(m))
    with pytest.raises(ValueError, match="shares"):
        masks.soi_mask_probs(masks.soi_masks(3), 0.9, 0.2)


def test_sigma_out_scales_the_network_part_by_sigma():
    """ε̂ = σ(t)(z + net): the prediction vanishes as t → 0 whatever the network outputs."""
    import equinox as eqx

    from infoest.score import network

    index = masks.var_index((2, 3))
    for film in (False, True):
        nets = [network.ScoreNet(5, 2, 16, key=jax.random.PRNGKey(0), skip_index=skip,
                                 sigma_out=True, film=film) for skip in (index, None)]
        rand = jax.random.normal(jax.random.PRNGKey(1), nets[0].out.weight.shape)
        net, raw = (eqx.tree_at(lambda n: n.out.weight, n, rand) for n in nets)  # net ≠ 0
        z = jnp.arange(5.0)
        for t in (1e-6, 0.3, 1.0):
            tvec = jnp.full((2,), t)
            s = float(sde.std(t))
            np.testing.assert_allclose(net(z, tvec), s * (z + raw(z, tvec)), rtol=1e-5,
                                       atol=1e-6)
        assert float(jnp.abs(raw(z, jnp.full((2,), 1e-8))).max()) > 0.1
        assert float(jnp.abs(net(z, jnp.full((2,), 1e-8))).max()) < 1e-3


# ----------------------------------------------------------------------------- contract


def _lr_batch(n=64, seed=0):
    """Four datasets (normal, normal, normal, one constant variable) and learning rates
    (fine, exploding, negative, fine): one vmapped call per estimator."""
    z = np.random.default_rng(seed).normal(size=(n, 3)).astype(np.float32)
    z[:, 1] += z[:, 0]
    const = z.copy()
    const[:, 1] = 2.0
    data = jnp.asarray(np.stack([z, z, z, const]))
    lrs = jnp.asarray([1e-3, 1e6, -1e-3, 1e-3], jnp.float32)
    return data, lrs


def test_minde_flags_divergence_and_constant_variable_under_vmap():
    """learning_rate 1e6 and (traced) −1e-3 end in Status.DIVERGED, EMA weights included;
    a constant Y gives I = 0 exactly (one vmapped call, throw=False)."""
    data, lrs = _lr_batch()

    def run(z, lr):
        return infoest.mutual_information(z[:, :1], z[:, 1:2], method="minde",
                                          key=jax.random.PRNGKey(0), steps=40, batch_size=32,
                                          width=16, mc_iter=1, learning_rate=lr, throw=False)

    est = jax.jit(jax.vmap(run))(data, lrs)
    np.testing.assert_array_equal(est.status, [0, 4, 4, 0])
    assert np.isfinite(float(est.value[0])) and np.isfinite(float(est.stderr[0]))
    assert np.isnan(est.value[1]) and np.isnan(est.value[2])
    assert float(est.value[3]) == 0.0 and float(est.stderr[3]) == 0.0


def test_soi_flags_divergence_and_trivial_systems_under_vmap():
    """Ω with one constant of three variables is Ω of two variables, 0 exactly."""
    data, lrs = _lr_batch()

    def run(z, lr):
        return infoest.o_information(z, method="soi", key=jax.random.PRNGKey(0), steps=40,
                                     batch_size=32, width=16, mc_iter=1, learning_rate=lr,
                                     throw=False)

    est = jax.jit(jax.vmap(run))(data, lrs)
    np.testing.assert_array_equal(est.status, [0, 4, 4, 0])
    assert np.isnan(est.value[1]) and np.isnan(est.value[2])
    assert float(est.value[3]) == 0.0 and float(est.stderr[3]) == 0.0


def test_score_eager_errors_name_the_problem():
    z = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32)
    key = jax.random.PRNGKey(0)
    small = dict(steps=40, batch_size=32, width=16, mc_iter=1)
    for lr in (float("nan"), -1e-3, 0.0):
        with pytest.raises(ValueError, match="learning_rate"):
            infoest.mutual_information(z[:, :1], z[:, 1:2], method="minde", key=key,
                                       learning_rate=lr)
    with pytest.raises(ValueError, match="ema_decay"):
        infoest.o_information(z, method="soi", key=key, ema_decay=1.5)
    with pytest.raises(ValueError, match="joint_share"):
        infoest.o_information(z, method="soi", key=key, joint_share=1.2)
    with pytest.raises(TypeError, match="'stepz'"):
        infoest.o_information(z, method="soi", key=key, stepz=3)
    with pytest.raises(ValueError, match="needs at least 16"):
        infoest.o_information(z[:10], method="soi", key=key)
    # the same program as the vmapped test above, eagerly: an exploding rate raises
    with pytest.raises(infoest.EstimationError, match="diverged"):
        infoest.o_information(z, method="soi", key=key, learning_rate=1e6, **small)
    # identical rows: every variable constant, Ω = 0 (was 5.21)
    same = np.ones((64, 3), np.float32)
    est = infoest.o_information(same, method="soi", key=key, **small)
    assert float(est.value) == 0.0 and est.ok
    # the entropy of a constant column is −∞ with a degenerate status
    ent = infoest.entropy(same[:, :2], method="minde", key=key, throw=False, **small)
    assert float(ent.value) == -np.inf and int(ent.status) == infoest.Status.DEGENERATE


def test_soi_mask_shares_are_traced():
    """A new joint share neither recompiles nor blocks vmap (it was a static float)."""
    from infoest.score import soi

    z = jnp.asarray(np.random.default_rng(0).normal(size=(64, 3)), jnp.float32)
    cfg = infoest.score.SOIConfig(steps=4, batch_size=32, width=8, mc_iter=1)
    shares = jnp.asarray([0.3, 0.6], jnp.float32)
    est = jax.vmap(lambda s: soi.o_information(z, key=jax.random.PRNGKey(0), config=cfg,
                                               joint_share=s))(shares)
    assert est.value.shape == (2,) and np.all(np.isfinite(est.value))
    assert float(est.value[0]) != float(est.value[1])
    probs = jax.jit(lambda s: masks.soi_mask_probs(masks.soi_masks(3), s, 0.04))(0.5)
    assert float(probs.sum()) == pytest.approx(1.0, abs=1e-6)
