r"""Information with discrete variables: class labels, symbols, and mixed data (nats).

Reached through the quantity entry points with ``discrete=`` (which variables are discrete),
e.g. ``infoest.mutual_information(x, labels, discrete="y")``; the functions here take the
same arguments and are wrapped by the result contract (``key=``, ``throw=``, status, stderr).
A discrete variable is an integer (or boolean) array ``(n,)`` or ``(n, d)``: a row is one
symbol, its values are arbitrary integers (no ``num_classes`` is needed).

| call | estimator |
|---|---|
| MI, ``discrete="y"`` (or ``"x"``) | Ross (2014) nearest neighbours within each class |
| MI, ``discrete="both"`` | plug-in with the Miller–Madow correction |
| MI, ``discrete="mixed"`` | Gao, Kannan, Oh, Viswanath (2017), float data with ties |
| CMI, ``discrete="z"`` | KSG within each class of Z, weighted by p(z) |
| CMI, ``discrete="y"`` (or ``"x"``) | I(X; Y, Z) − I(Z; Y), two Ross terms on one search each |
| CMI, ``discrete="all"`` | plug-in with the Miller–Madow correction |
| TE, ``discrete="both"`` | plug-in CMI of the delay embedding |
| TE, ``discrete="source"`` | the CMI with a discrete Y above, on the delay embedding |

Shapes are static throughout: symbols are counted by sorting rows (a group id per row from a
lexicographic sort and a segment sum over n slots), so the number of classes may depend on
the data and every function works under ``jax.jit`` and ``jax.vmap``. Neighbour searches are
brute force in row blocks (O(n²) time, O(2²²) memory per block), with the max-norm.

**Standard errors.** Every estimator here is a mean of per-sample terms ξ_i (written in each
docstring); ``stderr`` = sd(ξ)/√n, the delta-method (plug-in: Basharin 1959) or first-order
(kNN) sampling deviation; the plug-in ones replace the count noise in var(ξ) by the χ²
variance df/(2n²) that dominates near independence (2n Î → χ²_df, df = (K_x − 1)(K_y − 1)).
Coverage is measured in ``tests/test_discrete.py`` and reported in ``docs/bmi.md``.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax import Array
from jax.scipy.special import digamma

from infoest import _checks
from infoest._contract import apply_contract
from infoest._estimate import Estimate, make_estimate
from infoest.ops.copula import copula_normalize
from infoest.temporal.embedding import check_lags, embed

__all__ = [
    "MODES",
    "conditional_mutual_information",
    "counts",
    "group_ids",
    "mixed_mutual_information",
    "mutual_information",
    "plugin_conditional_mutual_information",
    "plugin_mutual_information",
    "ross_mutual_information",
    "transfer_entropy",
]

#: The ``discrete=`` values each quantity accepts.
MODES = {
    "mutual_information": ("x", "y", "both", "mixed"),
    "conditional_mutual_information": ("x", "y", "z", "all"),
    "transfer_entropy": ("source", "both"),
}


# ----------------------------------------------------------------------------- counting


def _rows(a: Array) -> Array:
    return a.reshape(a.shape[0], -1)


def group_ids(a: Array) -> tuple[Array, Array]:
    """Symbol of each row of ``a: (n, d)`` as ``(ids, n_symbols)``: rows equal ⇔ ids equal.

    ids lie in [0, n); they come from a lexicographic sort of the rows, so shapes are static
    (jit/vmap-able) whatever the number of distinct rows.
    """
    a = _rows(a)
    order = jnp.lexsort(tuple(a[:, c] for c in reversed(range(a.shape[1]))))
    s = a[order]
    new = jnp.concatenate([jnp.ones((1,), bool), jnp.any(s[1:] != s[:-1], axis=1)])
    ids = jnp.zeros(a.shape[0], jnp.int32).at[order].set(
        (jnp.cumsum(new) - 1).astype(jnp.int32))
    return ids, jnp.sum(new)


def counts(*arrays: Array) -> tuple[Array, Array]:
    """``(c, K)``: c_i = #{j : row j of every array equals row i} and K distinct joint rows."""
    joint = jnp.concatenate([_rows(a).astype(jnp.result_type(*arrays)) for a in arrays],
                            axis=1)
    ids, k = group_ids(joint)
    c = jax.ops.segment_sum(jnp.ones_like(ids), ids, num_segments=ids.shape[0])
    return c[ids], k


# ----------------------------------------------------------------------------- plug-in


def _mean_se(terms: Array) -> tuple[Array, Array]:
    """Mean of per-sample terms and its first-order standard error sd/√n."""
    return jnp.mean(terms), jnp.sqrt(jnp.var(terms) / terms.shape[0])


def _entropy_terms(*arrays: Array, dtype) -> tuple[Array, Array]:
    """Per-sample plug-in entropy terms log(n/c_i) of the joint rows, and K."""
    c, k = counts(*arrays)
    n = c.shape[0]
    return jnp.log(n / c.astype(dtype)), k.astype(dtype)


def _plugin(plus, minus, dtype, df, method: str) -> Estimate:
    """Σ H(plus) − Σ H(minus), each plug-in + Miller–Madow (K − 1)/(2n)."""
    n = plus[0][0].shape[0]
    terms = jnp.zeros(n, dtype)
    correction = jnp.zeros((), dtype)
    for sign, groups in ((1.0, plus), (-1.0, minus)):
        for group in groups:
            t, k = _entropy_terms(*group, dtype=dtype)
            terms, correction = terms + sign * t, correction + sign * (k - 1) / (2 * n)
    dof = jnp.maximum(df(n), 0.0)
    # var(ξ)/n carries ≈ df/n² of sampling noise of the counts (the χ² statistic / n); it is
    # removed and the χ² variance df/(2n²) of the corrected estimate added instead.
    se = jnp.sqrt(jnp.maximum(jnp.var(terms) / n - dof / n**2, 0.0) + dof / (2.0 * n * n))
    return make_estimate(jnp.mean(terms) + correction, se, method=method)


def plugin_mutual_information(x: Array, y: Array) -> Estimate:
    r"""Plug-in MI of two discrete variables with the Miller–Madow correction, in nats.

    $\hat I = \hat H(X) + \hat H(Y) - \hat H(X,Y) + (K_X + K_Y - K_{XY} - 1)/(2n)$ with
    $\hat H = -\sum \hat p \log \hat p$ over the K observed symbols (Miller, "Note on the bias
    of information estimates", 1955). Per-sample terms
    $\xi_i = \log\frac{n\,c_{xy}(i)}{c_x(i)\,c_y(i)}$;
    stderr² = max(var(ξ)/n − df/n², 0) + df/(2n²), df = (K_X − 1)(K_Y − 1): the
    delta-method variance var(ξ)/n (Basharin 1959), less its ≈ df/n² count noise, plus the
    variance df/(2n²) of the χ²_df law of 2nÎ at independence.
    """
    dtype = jnp.result_type(float)
    kx, ky = counts(x)[1].astype(dtype), counts(y)[1].astype(dtype)
    return _plugin(((x,), (y,)), ((x, y),), dtype, lambda n: (kx - 1) * (ky - 1), "plugin")


def plugin_conditional_mutual_information(x: Array, y: Array, z: Array) -> Estimate:
    r"""Plug-in I(X;Y|Z) of discrete variables with the Miller–Madow correction, in nats.

    $\hat H(XZ) + \hat H(YZ) - \hat H(Z) - \hat H(XYZ)$, each corrected by (K − 1)/(2n);
    per-sample terms $\xi_i = \log\frac{c_{xyz}(i)\,c_z(i)}{c_{xz}(i)\,c_{yz}(i)}$;
    df = K_XYZ − K_XZ − K_YZ + K_Z (observed analogue of Σ_z (K_{X|z} − 1)(K_{Y|z} − 1)).
    """
    dtype = jnp.result_type(float)
    k = {name: counts(*g)[1].astype(dtype)
         for name, g in (("xyz", (x, y, z)), ("xz", (x, z)), ("yz", (y, z)), ("z", (z,)))}
    return _plugin(((x, z), (y, z)), ((z,), (x, y, z)), dtype,
                   lambda n: k["xyz"] - k["xz"] - k["yz"] + k["z"], "plugin")


# ----------------------------------------------------------------------------- kNN kernels


def _row_blocks(fn, n: int, width: int):
    """``fn(idx)`` over blocks of query indices; outputs per row, concatenated to length n."""
    block = max(1, min(n, (1 << 22) // max(n * width, 1)))
    nb = -(-n // block)
    idx = jnp.minimum(jnp.arange(nb * block).reshape(nb, block), n - 1)
    out = jax.lax.map(fn, idx)
    return jax.tree.map(lambda a: a.reshape(nb * block, *a.shape[2:])[:n], out)


def _maxdist(a: Array, q: Array) -> Array:
    """Max-norm distances from rows ``q`` of ``a`` to every row: (len(q), n)."""
    return jnp.max(jnp.abs(a[q][:, None, :] - a[None, :, :]), axis=-1)


def _kth(cand: Array, k_i: Array, k: int) -> Array:
    """The k_i-th smallest entry per row of ``cand`` (k_i ≤ k, static k)."""
    smallest = -jax.lax.top_k(-cand, k)[0]
    return jnp.take_along_axis(smallest, (k_i - 1)[:, None], axis=1)[:, 0]


def _class_neighbors(labels: Array, k: int) -> tuple[Array, Array, Array, Array]:
    """Per sample: its class id, the class size N_i, whether the class occurs at least twice
    (usable), and the neighbour count k_i = min(k, N_i − 1) within the class (at least 1)."""
    ids, _ = group_ids(labels)
    size = jax.ops.segment_sum(jnp.ones_like(ids), ids, num_segments=ids.shape[0])[ids]
    return ids, size, size > 1, jnp.clip(jnp.minimum(k, size - 1), 1, k)


def _ross_terms(x: Array, labels: Array, k: int) -> tuple[Array, Array]:
    """Per-sample Ross terms ψ(k_i) − ψ(N_i) − ψ(m_i) (+ ψ(N) added by the caller's mean)
    and the mask of usable samples (class seen at least twice)."""
    n, dtype = x.shape[0], x.dtype
    ids, size, valid, k_i = _class_neighbors(labels, k)
    cols = jnp.arange(n)

    def block(q):
        d = _maxdist(x, q)
        others = q[:, None] != cols[None, :]
        same = (ids[q][:, None] == ids[None, :]) & others
        eps = _kth(jnp.where(same, d, jnp.inf), k_i[q], min(k, n - 1))
        m = jnp.sum(others & valid[None, :] & (d < eps[:, None]), axis=1) + 1
        return m

    m = _row_blocks(block, n, x.shape[1])
    psi = digamma
    terms = psi(k_i.astype(dtype)) - psi(size.astype(dtype)) - psi(m.astype(dtype))
    return terms, valid


def _masked_mean_se(terms: Array, valid: Array, offset) -> tuple[Array, Array]:
    """Mean of ``terms + offset`` over valid samples and sd/√n_valid."""
    w = valid.astype(terms.dtype)
    nv = jnp.maximum(jnp.sum(w), 1.0)
    mean = jnp.sum(w * terms) / nv
    var = jnp.sum(w * (terms - mean) ** 2) / nv
    return mean + offset, jnp.sqrt(var / nv)


@partial(jax.jit, static_argnames=("k",))
def ross_mutual_information(x: Array, labels: Array, *, k: int = 3) -> Estimate:
    r"""Ross (2014) nearest-neighbour MI between continuous ``x`` and discrete ``labels``.

    For sample i of class c with N_c members: ε_i = the distance (max-norm) to its k-th
    nearest neighbour *within its class* (k_i = min(k, N_c − 1)), m_i = the number of
    samples of any class closer than ε_i, plus one; then

    $$\hat I = \psi(N) + \langle \psi(k_i) \rangle - \langle \psi(N_{c_i}) \rangle
    - \langle \psi(m_i) \rangle$$

    over the N samples whose class occurs at least twice (Ross, "Mutual information between
    discrete and continuous data sets", PLoS ONE 9, e87357, 2014; the estimator of
    scikit-learn's ``mutual_info_classif``, which uses k = 3 and clips at 0; not clipped
    here). Per-sample terms ξ_i = ψ(N) + ψ(k_i) − ψ(N_{c_i}) − ψ(m_i); stderr = sd(ξ)/√N.
    Units: nats. Invariant to per-column scaling only if the caller standardises ``x``
    (``mutual_information`` does).
    """
    terms, valid = _ross_terms(x, labels, k)
    nv = jnp.sum(valid).astype(x.dtype)
    value, se = _masked_mean_se(terms, valid, digamma(jnp.maximum(nv, 1.0)))
    return make_estimate(value, se, method="ross")


@partial(jax.jit, static_argnames=("k",))
def mixed_mutual_information(x: Array, y: Array, *, k: int = 3) -> Estimate:
    r"""Gao, Kannan, Oh, Viswanath (2017) MI for discrete–continuous mixtures, in nats.

    ρ_i = the k-th nearest-neighbour distance of (x_i, y_i) in the joint max-norm (self
    excluded). Where ρ_i > 0: k̃_i = k and n_x(i) = #{j : ‖x_j − x_i‖ < ρ_i} (self
    included), n_y likewise. Where ρ_i = 0 (the sample sits on a discrete atom with at least
    k copies): k̃_i, n_x(i), n_y(i) count the exact copies of (x_i, y_i), x_i and y_i (self
    included). Then

    $$\hat I = \log N + \langle \psi(\tilde k_i) - \psi(n_x(i)) - \psi(n_y(i)) \rangle$$

    (Gao, Kannan, Oh, Viswanath, "Estimating mutual information for discrete-continuous
    mixtures", NeurIPS 2017, Algorithm 1, in the digamma form of the authors' published
    implementation). Consistent when coordinates have atoms (ties with positive
    probability); on continuous data it is KSG (algorithm 1) with log N for ψ(N). Per-sample
    terms ξ_i as in the sum; stderr = sd(ξ)/√N. Nats.
    """
    n, dtype = x.shape[0], x.dtype
    cols = jnp.arange(n)

    def block(q):
        dx, dy = _maxdist(x, q), _maxdist(y, q)
        d = jnp.maximum(dx, dy)
        others = q[:, None] != cols[None, :]
        rho = _kth(jnp.where(others, d, jnp.inf), jnp.full(q.shape, k), k)
        atom = rho <= 0

        def count(dist):  # self included
            below = jnp.where(atom[:, None], dist <= 0, dist < rho[:, None])
            return jnp.sum(others & below, axis=1) + 1

        return jnp.where(atom, count(d), k), count(dx), count(dy)

    k_t, nx, ny = _row_blocks(block, n, x.shape[1] + y.shape[1])
    terms = (jnp.log(jnp.asarray(n, dtype)) + digamma(k_t.astype(dtype))
             - digamma(nx.astype(dtype)) - digamma(ny.astype(dtype)))
    value, se = _mean_se(terms)
    return make_estimate(value, se, method="mixed")


@partial(jax.jit, static_argnames=("k",))
def ksg_within_classes(x: Array, y: Array, z: Array, *, k: int = 3) -> Estimate:
    r"""I(X;Y|Z) for continuous X, Y and discrete Z: KSG (algorithm 1) within each class.

    $I(X;Y|Z) = \sum_z p(z)\, I(X;Y|Z=z)$; with ε_i the k_i-th neighbour distance of
    (x_i, y_i) among the N_z samples of its class (k_i = min(k, N_z − 1)) and strict counts
    n_x, n_y within the class,
    $\xi_i = \psi(k_i) + \psi(N_{z_i}) - \psi(n_x(i) + 1) - \psi(n_y(i) + 1)$
    (Kraskov et al., PRE 69, 066138, 2004, eq. 8, per class); Î = ⟨ξ⟩ over samples whose
    class occurs at least twice; stderr = sd(ξ)/√N. Nats.
    """
    n, dtype = x.shape[0], x.dtype
    ids, size, valid, k_i = _class_neighbors(z, k)
    cols = jnp.arange(n)

    def block(q):
        dx, dy = _maxdist(x, q), _maxdist(y, q)
        same = (ids[q][:, None] == ids[None, :]) & (q[:, None] != cols[None, :])
        eps = _kth(jnp.where(same, jnp.maximum(dx, dy), jnp.inf), k_i[q], min(k, n - 1))
        nx = jnp.sum(same & (dx < eps[:, None]), axis=1)
        ny = jnp.sum(same & (dy < eps[:, None]), axis=1)
        return nx, ny

    nx, ny = _row_blocks(block, n, x.shape[1] + y.shape[1])
    terms = (digamma(k_i.astype(dtype)) + digamma(size.astype(dtype))
             - digamma(nx.astype(dtype) + 1) - digamma(ny.astype(dtype) + 1))
    value, se = _masked_mean_se(terms, valid, 0.0)
    return make_estimate(value, se, method="ksg-within-classes")


@partial(jax.jit, static_argnames=("k",))
def ross_conditional(x: Array, labels: Array, z: Array, *, k: int = 3) -> Estimate:
    r"""I(X; Y | Z) for continuous X, Z and discrete Y (``labels``), in nats.

    The chain rule $I(X;Y|Z) = I(Y; (X, Z)) - I(Y; Z)$ with both terms by Ross's estimator
    ([ross_mutual_information][infoest.discrete.ross_mutual_information]) on the same
    samples; per-sample terms ξ_i = ξ_i^{(X,Z)} − ξ_i^{(Z)}, stderr = sd(ξ)/√N (the two
    terms' common noise cancels in the difference).
    """
    joint, _ = _ross_terms(jnp.concatenate([x, z], axis=1), labels, k)
    marginal, valid = _ross_terms(z, labels, k)
    value, se = _masked_mean_se(joint - marginal, valid, 0.0)
    return make_estimate(value, se, method="ross-conditional")


# ----------------------------------------------------------------------------- public API


def _standardized(a: Array) -> Array:
    from infoest.ops.standardize import standardize

    return standardize(_rows(a))


def _discrete(a: Array, name: str, option: str) -> Array:
    a = jnp.asarray(a)
    if not (jnp.issubdtype(a.dtype, jnp.integer) or a.dtype == jnp.bool_):
        raise TypeError(f"`{name}` must be an integer (or boolean) array of symbols with "
                        f"discrete={option!r}, got dtype {a.dtype}")
    if a.ndim not in (1, 2):
        raise ValueError(f"`{name}` must have shape (n,) or (n, d), got {a.shape}")
    return _rows(a.astype(jnp.int32))


def _continuous(a: Array, name: str, option: str) -> Array:
    a = jnp.asarray(a)
    if not jnp.issubdtype(a.dtype, jnp.floating):
        raise TypeError(f"`{name}` must be floating-point (continuous) with "
                        f"discrete={option!r}, got dtype {a.dtype}; name it in `discrete=` "
                        f"if it is discrete")
    return _standardized(_checks.as_samples(a, name))


def _contract(fn, quantity, name):
    return apply_contract(fn, quantity=quantity, name=name, min_n=8, differentiable=False,
                          alternatives=lambda: [])


def _mi(x, y, *, discrete: str, k: int = 3, copula: bool = False) -> Estimate:
    _checks.check_choice(discrete, "discrete", MODES["mutual_information"])
    if copula and discrete == "mixed":
        raise ValueError("`copula=True` cannot be combined with discrete='mixed': ranking "
                         "breaks the ties the estimator relies on")
    if copula:
        x, y = (copula_normalize(a) if jnp.issubdtype(a.dtype, jnp.floating) else a
                for a in (jnp.asarray(x), jnp.asarray(y)))
    if discrete == "x":
        x, y, discrete = y, x, "y"
        names = ("y", "x")
    else:
        names = ("x", "y")
    if discrete == "both":
        return plugin_mutual_information(_discrete(x, "x", "both"), _discrete(y, "y", "both"))
    k = _checks.check_k(k, jnp.shape(x)[0])
    if discrete == "mixed":
        return mixed_mutual_information(_mixed(x, "x"), _mixed(y, "y"), k=k)
    return ross_mutual_information(_continuous(x, names[0], discrete),
                                   _discrete(y, names[1], discrete), k=k)


def _mixed(a, name):
    a = jnp.asarray(a)
    a = a.astype(jnp.result_type(float)) if not jnp.issubdtype(a.dtype, jnp.floating) else a
    return _checks.as_samples(a, name)


mutual_information = _contract(_mi, "mutual_information", "discrete")
mutual_information.__doc__ = """I(X;Y) with discrete variables (nats); ``discrete`` is "y"
(labels y, continuous x: Ross 2014), "x", "both" (plug-in, Miller–Madow) or "mixed" (Gao et
al. 2017, float data with ties). ``k``: neighbour order of the kNN estimators (default 3,
as scikit-learn). ``copula=True`` ranks the continuous variables first (refused with
"mixed", whose ties ranking would break). Standard error and status as every estimator
(see the module)."""


def _cmi(x, y, z, *, discrete: str, k: int = 3) -> Estimate:
    _checks.check_choice(discrete, "discrete", MODES["conditional_mutual_information"])
    if discrete == "all":
        return plugin_conditional_mutual_information(
            _discrete(x, "x", "all"), _discrete(y, "y", "all"), _discrete(z, "z", "all"))
    k = _checks.check_k(k, jnp.shape(z)[0])
    if discrete == "z":
        return ksg_within_classes(_continuous(x, "x", "z"), _continuous(y, "y", "z"),
                                  _discrete(z, "z", "z"), k=k)
    if discrete == "x":
        x, y = y, x
    other = "y" if discrete == "x" else "x"
    return ross_conditional(_continuous(x, other, discrete), _discrete(y, discrete, discrete),
                            _continuous(z, "z", discrete), k=k)


conditional_mutual_information = _contract(_cmi, "conditional_mutual_information", "discrete")
conditional_mutual_information.__doc__ = """I(X;Y|Z) with discrete variables (nats);
``discrete`` is "z" (KSG within each class of Z), "y" or "x" (that variable discrete, the
others continuous: two Ross terms) or "all" (plug-in, Miller–Madow)."""


def _te(source, target, *, discrete: str, history: int = 1, source_history=None,
        delay: int = 1, k: int = 3) -> Estimate:
    _checks.check_choice(discrete, "discrete", MODES["transfer_entropy"])
    lags = check_lags(history, source_history, delay)
    if discrete == "both":
        y_now, y_past, x_past = embed(_discrete(source, "source", "both"),
                                      _discrete(target, "target", "both"), lags)
        return plugin_conditional_mutual_information(y_now, x_past, y_past)
    y = _checks.as_samples(jnp.asarray(target), "target")
    y_now, y_past, x_past = embed(_discrete(source, "source", "source"), y, lags)
    k = _checks.check_k(k, y_now.shape[0])
    return ross_conditional(_standardized(y_now), x_past, _standardized(y_past), k=k)


transfer_entropy = _contract(_te, "transfer_entropy", "discrete")
transfer_entropy.__doc__ = """TE(source → target) = I(Y_t; X_past | Y_past) with discrete
series (nats); ``discrete`` is "both" (symbol sequences: plug-in CMI with Miller–Madow) or
"source" (discrete source, continuous target: the Ross conditional estimator). ``history``,
``source_history``, ``delay`` as in [infoest.temporal][]."""
