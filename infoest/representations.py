"""Information in a network's representations: every layer, in one compiled call.

Tools for measuring layer activations during training (the use case of Liao, Liu et al.,
"Assessing Neural Network Representations During Training Using Noise-Resilient Diffusion
Spectral Entropy", arXiv:2312.04823, and of the matrix-entropy studies of language models,
Wei et al., "Diff-eRank", NeurIPS 2024):

- [stack_layers][infoest.representations.stack_layers]: flatten every layer's activations
  to (n, d_l) and zero-pad them to one (L, n, D) array, so that an estimator can be
  ``vmap``-ped over layers of different widths;
- [estimate_all][infoest.representations.estimate_all] /
  [layer_estimates][infoest.representations.layer_estimates]: several estimators on the same
  data in one call (optionally sharing one bandwidth, resolved once), and that for every
  layer at once: ``vmap`` over a padded layer axis, or over groups of equal width
  ([width_groups][infoest.representations.width_groups]) for ragged layers;
- [class_dsmi][infoest.representations.class_dsmi]: diffusion spectral mutual information
  with class labels computed on per-class blocks (cost O(C (1 + R) m³) with m the largest
  class, instead of O(C (1 + R) n³) for masks of the full n × n operator);
- [label_matrix_mi][infoest.representations.label_matrix_mi]: differentiable matrix-based
  Rényi mutual information between a representation and integer labels (label kernel),
  usable as a training loss.

All values are in nats. Samples lie on axis 0.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
from jax import Array

from infoest._estimate import Estimate, make_estimate
from infoest.ops.kernels import bandwidth, gaussian_affinity, label_gram
from infoest.ops.resampling import (
    influence_stderr,
    jackknife_stderr,
    median_pairs,
    rebandwidth,
)
from infoest.ops.spectral import eigvalsh_psd, spectrum_entropy
from infoest.spectral import diffusion_spectrum, dse_from_spectrum, normalize_gram

__all__ = [
    "flatten_samples",
    "stack_layers",
    "estimate_all",
    "width_groups",
    "layer_estimates",
    "class_dsmi",
    "label_matrix_mi",
]

Estimator = Callable[[Array, Array], Any]


def flatten_samples(a) -> Array:
    """Reshape activations ``(n, ...)`` (e.g. conv maps ``(n, h, w, c)``) to ``(n, prod(...))``."""
    a = jnp.asarray(a)
    if a.ndim < 1:
        raise ValueError(f"activations must have a sample axis, got shape {a.shape}")
    return a.reshape(a.shape[0], -1)


def stack_layers(activations: Sequence, *, width: int | None = None) -> tuple[Array, Array]:
    """Flatten each layer to ``(n, d_l)`` and zero-pad the columns to one ``(L, n, D)`` array.

    Zero columns change no pairwise distance and no inner product, so every estimator that
    depends on the data only through distances or a Gram / covariance spectrum gives the same
    value on the padded layer as on the original: DSE and DSMI (fixed σ or the ``"median"``
    rule), matrix entropy and effective rank (the zero columns stay zero after centring and
    row normalisation and add zero eigenvalues), matrix Rényi entropies and mutual
    information, kNN estimators. It is **not** exact for width-dependent conventions
    (``sigma="sqrt_dim"``, ``normalize="log_d"``) nor for estimators that invert a covariance
    (Gaussian MI: the padded covariance is singular). Group layers by width for those.

    Args:
        activations: L arrays with the same number of samples n (any trailing shape).
        width: pad to this many columns (default: the widest layer).

    Returns:
        ``(stack, widths)``: ``stack`` of shape (L, n, D) and the true widths ``(L,)`` (int32).
    """
    flat = [flatten_samples(a) for a in activations]
    if not flat:
        raise ValueError("`activations`: give at least one layer")
    n = {f.shape[0] for f in flat}
    if len(n) != 1:
        raise ValueError(f"`activations` have different numbers of samples: {sorted(n)}")
    widths = [f.shape[1] for f in flat]
    width = max(widths) if width is None else width
    if width < max(widths):
        raise ValueError(f"`width`={width} is smaller than the widest layer ({max(widths)})")
    dtype = jnp.result_type(*flat)
    stack = jnp.stack([jnp.pad(f.astype(dtype), ((0, 0), (0, width - f.shape[1])))
                       for f in flat])
    return stack, jnp.asarray(widths, jnp.int32)


def estimate_all(z, estimators: Mapping[str, Estimator], *, key: Array | None = None,
                 sigma=None) -> dict[str, Any]:
    """Evaluate several estimators on the same data; one dict, one trace.

    Each estimator is called as ``fn(z, key_i)`` with its own key (``fold_in(key, i)``, i its
    position in ``estimators``; ``None`` when ``key`` is None) and may return an
    [Estimate][infoest.Estimate] or any PyTree of arrays. Inside ``jax.jit`` the estimators
    share one compiled program.

    With ``sigma`` (a number or a rule, ``"median"`` / ``"sqrt_dim"``, as in
    `infoest.ops.kernels.bandwidth`) the bandwidth is resolved **once** on ``z`` and every
    estimator is called as ``fn(z, key_i, s)`` with the resolved σ (a traced scalar): kernel
    estimators on the same data then share one bandwidth instead of each recomputing the
    median of the n (n − 1) / 2 pairwise distances (XLA does not merge those sorts; at
    n = 300 the median costs more than the 300 × 300 eigenvalues of DSE). The values are
    those of the estimators called with the rule itself.
    """
    s = None if sigma is None else bandwidth(z, sigma)
    out = {}
    for i, (name, fn) in enumerate(estimators.items()):
        k = None if key is None else jax.random.fold_in(key, i)
        out[name] = fn(z, k) if s is None else fn(z, k, s)
    return out


def _vmap_layers(stack: Array, estimators, key, indices, sigma) -> dict[str, Any]:
    """`estimate_all` vmapped over ``stack: (G, n, d)``; row g is layer ``indices[g]`` and
    uses the key ``fold_in(key, indices[g])``."""
    run = partial(estimate_all, estimators=estimators, sigma=sigma)
    if key is None:
        return jax.vmap(lambda z: run(z))(stack)
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.asarray(indices))
    return jax.vmap(lambda z, k: run(z, key=k))(stack, keys)


def width_groups(activations: Sequence) -> list[list[int]]:
    """Indices of the layers that share a flattened width, in order of first appearance.

    ``[[0, 1], [2], [3]]`` for widths (128, 128, 64, 10): the layers of each group can be
    stacked without padding and ``vmap``-ped together.
    """
    groups: dict[int, list[int]] = {}
    for i, a in enumerate(activations):
        groups.setdefault(flatten_samples(a).shape[1], []).append(i)
    return list(groups.values())


def layer_estimates(layers, estimators: Mapping[str, Estimator], *, key: Array | None = None,
                    sigma=None) -> dict[str, Any]:
    """[estimate_all][infoest.representations.estimate_all] for every layer at once.

    ``layers`` is either

    - one array of shape (L, n, D) (e.g. zero-padded by
      [stack_layers][infoest.representations.stack_layers]): the estimators are ``vmap``-ped
      over the layer axis; or
    - a sequence of L activations ``(n, ...)`` of any widths: the layers are grouped by
      flattened width ([width_groups][infoest.representations.width_groups]), each group is
      stacked without padding and ``vmap``-ped, and the results are put back in layer order.
      No padding: exact for every estimator (also width-dependent ones), and no work is spent
      on zero columns (a CNN's 1 024-wide conv map next to its 10 logits).

    The result holds arrays (or [Estimate][infoest.Estimate]s) with a leading axis of length L;
    with ragged layers every estimator's output must have a shape that does not depend on the
    width. Layer l uses the key ``fold_in(key, l)`` either way. ``sigma``: a bandwidth resolved
    once per layer and shared by the estimators (see ``estimate_all``). Call it inside your
    jitted evaluation step: one compiled call evaluates every estimator on every layer.
    """
    if not isinstance(layers, list | tuple):
        stack = jnp.asarray(layers)
        if stack.ndim != 3:
            raise ValueError(f"`layers` must have shape (layers, n, d) or be a list of "
                             f"layers, got shape {stack.shape}")
        return _vmap_layers(stack, estimators, key, jnp.arange(stack.shape[0]), sigma)
    flat = [flatten_samples(a) for a in layers]
    if not flat:
        raise ValueError("`layers`: give at least one layer")
    if len({f.shape[0] for f in flat}) != 1:
        raise ValueError(f"`layers` have different numbers of samples: "
                         f"{sorted({f.shape[0] for f in flat})}")
    groups = width_groups(flat)
    parts = [_vmap_layers(jnp.stack([flat[i] for i in idx]), estimators, key, idx, sigma)
             for idx in groups]
    order = jnp.argsort(jnp.asarray([i for idx in groups for i in idx]))
    return jax.tree.map(lambda *xs: jnp.concatenate(xs)[order], *parts)


def _dse_block(z: Array, idx: Array, mask: Array, sigma: Array, t) -> Array:
    """DSE (nats) of the rows ``z[idx][mask]`` (masked rows add zero eigenvalues).

    The block is centred on its own mean first: distances are translation invariant, and
    centring removes the float32 cancellation of ‖a‖² + ‖b‖² − 2 a·b for a tight block far
    from the origin.
    """
    block = z[idx]
    w = mask.astype(z.dtype)[:, None]
    block = block - jnp.sum(w * block, axis=0) / jnp.maximum(jnp.sum(w), 1.0)
    return dse_from_spectrum(diffusion_spectrum(block, sigma, mask=mask), t)


def _random_rows(u: Array, size: int) -> Array:
    """Indices of the ``size`` largest entries of ``u`` (``lax.top_k``, not a full sort:
    a 20-of-150 draw is ~5x cheaper than ``argsort`` on CPU). With ``u`` i.i.d. uniform the
    set is a uniformly random ``size``-subset, in random order."""
    return jax.lax.top_k(u, size)[1]


def _class_blocks(labels: Array, n_classes: int, size: int, key: Array):
    """Per class: up to ``size`` random member indices (members first: their scores lie in
    [1, 2), the others' in [0, 1)), a validity mask and the class count."""
    u = jax.random.uniform(key, labels.shape)

    def one(c):
        member = labels == c
        idx = _random_rows(jnp.where(member, 1.0 + u, u), size)
        count = jnp.sum(member)
        return idx, jnp.arange(size) < count, count

    return jax.vmap(one)(jnp.arange(n_classes))


def class_dsmi(z, labels, *, n_classes: int, max_class_size: int, key: Array,
               sigma="median", t=1.0, num_repetitions: int = 5) -> Estimate:
    """Diffusion spectral mutual information I_D(Z; Y) with integer class labels, per block.

    $$I_D(Z; Y) = \\sum_c \\frac{n_c}{n}\\Big[\\frac{1}{R}\\sum_{r=1}^{R} \\mathrm{DSE}(Z^*_{c,r})
    - \\mathrm{DSE}(Z \\mid Y = c)\\Big]$$

    (Liao, Liu et al., arXiv:2312.04823; the algorithm of
    [infoest.spectral.dsmi][infoest.spectral.dsmi], which builds every subset as a mask of the
    n × n operator). Here class c and its R size-matched random subsets $Z^*_{c,r}$ of all rows
    are gathered into blocks of ``max_class_size`` rows (masked where the class is smaller), so
    the cost is C (1 + R) eigenvalue problems of size ``max_class_size``, not n. A class with
    more than ``max_class_size`` members is represented by a random subset of that size (and
    its marginal by subsets of the same size), like the reference's ``max_N``. The bandwidth is
    resolved once on all of ``z`` and shared by every block (as in the reference).

    Args:
        z: representation, shape (n, d).
        labels: integer labels in [0, n_classes), shape (n,) (may be traced).
        n_classes: number of classes C (static).
        max_class_size: rows per block (static); set it to the largest class for the exact
            reference estimator.
        key: PRNG key (class subsets and random marginal subsets).
        sigma: bandwidth: a positive number (traced) or ``"median"`` / ``"sqrt_dim"``.
        t: diffusion time (traced).
        num_repetitions: R, random subsets per class (static; reference: 5).

    Returns:
        [Estimate][infoest.Estimate] in nats. ``stderr`` is the Monte-Carlo standard error of
        the size-matched marginal term (standard deviation over the R repetitions of
        $\\sum_c (n_c/n)\\,\\mathrm{DSE}(Z^*_{c,r})$, divided by √R); it does not cover the
        sampling variation of the data. ``diagnostics``: ``sigma``, ``conditional``
        (per-class DSE), ``marginal`` (per-class mean marginal DSE).
    """
    z = jnp.asarray(z)
    labels = jnp.asarray(labels).astype(jnp.int32).ravel()
    if z.ndim != 2 or labels.shape[0] != z.shape[0]:
        raise ValueError(f"`z` must be (n, d) and `labels` (n,), got {z.shape}, {labels.shape}")
    if num_repetitions < 2:
        raise ValueError(f"`num_repetitions` must be >= 2, got {num_repetitions}")
    n = z.shape[0]
    size = min(int(max_class_size), n)
    sig = bandwidth(z, sigma)
    k_cls, k_marg = jax.random.split(key)
    idx, mask, count = _class_blocks(labels, n_classes, size, k_cls)
    cond = jax.vmap(lambda i, m: _dse_block(z, i, m, sig, t))(idx, mask)
    u = jax.random.uniform(k_marg, (n_classes, num_repetitions, n))
    perms = _random_rows(u, size)  # (C, R, size): R random size-subsets of all rows per class
    marg = jax.vmap(lambda ps, m: jax.vmap(lambda p: _dse_block(z, p, m, sig, t))(ps))(perms,
                                                                                       mask)
    w = count.astype(z.dtype) / n
    totals = w @ marg  # (R,)
    value = jnp.mean(totals) - w @ cond
    stderr = jnp.std(totals, ddof=1) / jnp.sqrt(num_repetitions)
    return make_estimate(value, stderr, method="class_dsmi", sigma=sig, conditional=cond,
                         marginal=jnp.mean(marg, axis=1))


def _class_entropy(ky: Array, w: Array, alpha) -> Array:
    """S_α of the weighted label kernel √w_i K_ij √w_j / tr: its eigenvalues are the class
    weights p_c = Σ_{j ∈ c} w_j / Σ w, so S_α = log(Σ_c p_c^α) / (1 − α) (von Neumann at
    α = 1), written with q_i = (K w)_i / Σ w = p_{c(i)}: Σ_c p_c^α = Σ_i (w_i / Σ w) q_i^{α−1}.
    No eigendecomposition; 0/1 weights drop samples (and classes)."""
    total = jnp.sum(w)
    share = w / total
    q = (ky @ w) / total
    pos = share > 0
    logq = jnp.where(pos, jnp.log(jnp.where(pos, q, 1.0)), 0.0)
    alpha = jnp.asarray(alpha, dtype=w.dtype)
    is_one = alpha == 1.0
    a = jnp.where(is_one, 2.0, alpha)
    renyi = jnp.log(jnp.sum(share * jnp.exp((a - 1.0) * logq))) / (1.0 - a)
    return jnp.where(is_one, -jnp.sum(share * logq), renyi)


def _gram_entropy_weighted(k: Array, w: Array, alpha) -> Array:
    """S_α of the weighted normalised Gram matrix √w_i A_ij √w_j (w ∝ 1: `gram_entropy`)."""
    root = jnp.sqrt(w)
    a = normalize_gram(k) * root[:, None] * root[None, :]
    return spectrum_entropy(eigvalsh_psd(a, entrywise=True), alpha)


def _label_mi(w: Array, grams, alpha) -> Array:
    """I_α of the sample weighted by ``w`` (see `label_matrix_mi`)."""
    kz, ky = grams
    return (_gram_entropy_weighted(kz, w, alpha) + _class_entropy(ky, w, alpha)
            - _gram_entropy_weighted(kz * ky, w, alpha))


def label_matrix_mi(z, labels, *, sigma="median", alpha=1.01) -> Estimate:
    """Matrix-based Rényi-α mutual information between ``z: (n, d)`` and integer labels.

    $$I_\\alpha(Z; Y) = S_\\alpha(A_Z) + S_\\alpha(A_Y) - S_\\alpha\\Big(\\frac{A_Z \\circ A_Y}
    {\\operatorname{tr}(A_Z \\circ A_Y)}\\Big)$$

    with $A_Z$ the normalised Gaussian Gram matrix of z and $A_Y$ that of the label kernel
    $K_{ij} = 1[y_i = y_j]$ (Giraldo, Rao & Príncipe, IEEE T-IT 2015; the label kernel as in
    Yu et al.'s information-plane studies). $S_\\alpha(A_Y)$ is the Rényi-α entropy of the
    class proportions (computed from them, without an eigendecomposition), so
    $0 \\le I_\\alpha \\le S_\\alpha(A_Y) \\le \\log C$ when A_Z is a kernel of well
    separated class clusters. Differentiable in ``z`` (eigenvalues only):
    ``-label_matrix_mi(...).value`` is a training loss that pulls classes apart. Nats.

    Args:
        z: representation, shape (n, d).
        labels: integer labels, shape (n,).
        sigma: bandwidth of z's Gaussian kernel (number, traced; or ``"median"``).
        alpha: Rényi order (traced; 1.01 is the usual Shannon proxy).

    Returns:
        [Estimate][infoest.Estimate] in nats with a finite ``stderr``: the sampling standard
        deviation of the estimate at this n (not its bias), computed as the spectral family
        computes it for `infoest.spectral.matrix_mutual_information` (docs/spectral.md,
        "Error bars"). With a numeric σ: the influence function (infinitesimal jackknife),
        $\\mathrm{stderr}^2 = \\sum_j \\mathrm{IF}_j^2 / (n(n-1))$, IF_j the derivative of
        I_α of the weighted sample ($\\sqrt{w_i} A_{ij} \\sqrt{w_j}$ for both Gram matrices,
        class weights for the labels) in the direction of sample j at w = 1/n (one reverse
        pass). With ``sigma="median"``: the delete-a-group jackknife over 20 interleaved
        groups, σ recomputed on each reduced sample (so its variability is covered), stderr²
        = (B − 1)/B Σ_b (θ_(b) − θ̄)² (40 more eigenvalue decompositions of n × n). Measured
        (docs/representations.md, "Error bars"): sd / stderr ≈ 1 over 200 replicates. The
        standard error carries no gradient; under ``jit`` it is not computed when only
        ``.value`` is used (XLA drops the unused work).
    """
    z = jnp.asarray(z)
    labels = jnp.asarray(labels).ravel()
    if z.ndim != 2 or labels.shape[0] != z.shape[0]:
        raise ValueError(f"`z` must be (n, d) and `labels` (n,), got {z.shape}, {labels.shape}")
    median = isinstance(sigma, str) and sigma == "median"
    kz = gaussian_affinity(z, bandwidth(z, sigma))
    grams = (kz, label_gram(labels, z.dtype))
    n = z.shape[0]
    value = _label_mi(jnp.full((n,), 1.0 / n, z.dtype), grams, alpha)
    if not median:
        stderr = influence_stderr(lambda w, d: _label_mi(w, *d), (grams, alpha))
    else:
        def deleted(keep, data):
            (kz, ky), pairs, a = data
            return _label_mi(keep, (rebandwidth(kz, pairs, keep), ky), a)

        stderr = jackknife_stderr(deleted, (grams, median_pairs(kz), alpha))
    return make_estimate(value, stderr, method="label_matrix_mi")
