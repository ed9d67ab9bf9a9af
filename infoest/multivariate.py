"""Multivariate information: total correlation, dual total correlation, O- and S-information.

For variables X = (X_1, …, X_k), each possibly vector-valued (Rosas, Mediano, Gastpar,
Jensen, "Quantifying high-order interdependencies via multivariate extensions of the mutual
information", Phys. Rev. E 100, 032305, 2019), in nats:

- total correlation      TC  = Σ_i H(X_i) − H(X)
- dual total correlation DTC = H(X) − Σ_i H(X_i | X_−i) = Σ_i H(X_−i) − (k − 1) H(X)
- O-information          Ω   = TC − DTC   (> 0 redundancy-dominated, < 0 synergy-dominated)
- S-information          S   = TC + DTC = Σ_i I(X_i; X_−i)
- gradient of Ω          ∂_iΩ = Ω(X) − Ω(X_−i)   (Scagliarini et al., PRR 2023)

``variables`` is a sequence of arrays ``(n, d_i)`` (vector-valued variables) or one ``(n, k)``
array of k scalar variables. Methods of [`o_information`][infoest.multivariate.o_information] (also
via
``infoest.o_information(variables, method=...)``):

- ``"gaussian"``: closed form from the sample covariance (optionally after a Gaussian-copula
  transform of each column, as ``hoi``'s ``gc``); differentiable.
- ``"ksg"``: every entropy of Ω = (k − 2) H(X) + Σ_i [H(X_i) − H(X_−i)] at the radius of
  one joint-space k-NN search (max-norm; the log-radius terms cancel, as in KSG MI and the
  Frenzel–Pompe CMI), then the bias of that estimate on Gaussian surrogates of the sample
  correlation is subtracted ([`infoest.multivariate_knn`][infoest.multivariate_knn];
  option ``surrogates``, default 4; 0 switches the correction off). Before session 6 this
  method summed 2k − 1 KSG mutual informations, each with its own search, whose biases did
  not cancel (−46 % to −300 % on synergistic systems; the table is in docs/classical.md).
- ``"soi"``: SΩI, score-based ([`infoest.score.soi`][infoest.score.soi]).

[`from_entropies`][infoest.multivariate.from_entropies] composes TC/DTC/Ω/S from any entropy
function (beware the bias caveat
above), and [`o_information_multiplets`][infoest.multivariate.o_information_multiplets] evaluates Ω
for every multiplet of given sizes
of a set of scalar variables in one compiled call.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.scipy.special import ndtri

from infoest import _checks
from infoest._estimate import Estimate, Status, make_estimate
from infoest._registry import get, register
from infoest.gaussian import (
    Terms,
    check_dimension,
    o_information_from_cov,
    plugin,
    sample_covariance,
)
from infoest.ops.standardize import is_constant
from infoest.ops.ties import duplicate_rows

__all__ = [
    "as_variables",
    "gaussian_copula",
    "from_entropies",
    "o_information",
    "total_correlation",
    "dual_total_correlation",
    "s_information",
    "o_information_gradient",
    "MultipletTable",
    "o_information_multiplets",
]


# ----------------------------------------------------------------------------- input


def as_variables(variables, name: str = "variables", *, min_vars: int = 2,
                 min_samples: int = 2) -> tuple[Array, tuple[int, ...]]:
    """Validate ``variables`` and return ``(z, sizes)``: z ``(n, Σ d_i)`` and each d_i.

    A single array ``(n, k)`` is k scalar variables; a list/tuple of arrays holds one
    ``(n, d_i)`` (or ``(n,)``) array per variable; a nested list of numbers is read as one
    ``(n, k)`` array (as the registry reads it). Raises ValueError/TypeError naming the
    offending argument.
    """
    if isinstance(variables, list | tuple) and not all(
            isinstance(v, jax.Array | np.ndarray) for v in variables):
        variables = np.asarray(variables)  # a nested list of numbers: one (n, k) array
        if variables.dtype == object:
            raise TypeError(f"`{name}` must be an (n, k) array or a sequence of (n, d_i) "
                            "arrays, got a ragged nested list")
    if isinstance(variables, jax.Array | np.ndarray):
        z = _checks.as_samples(variables, name, min_samples=min_samples)
        if np.ndim(variables) != 2:
            raise ValueError(f"`{name}` as one array must have shape (n_samples, n_variables), "
                             f"got shape {tuple(np.shape(variables))}")
        sizes = (1,) * z.shape[1]
    elif isinstance(variables, list | tuple):
        arrays = _checks.paired_samples(*[(v, f"{name}[{i}]") for i, v in enumerate(variables)],
                                        min_samples=min_samples) if variables else ()
        sizes = tuple(int(a.shape[1]) for a in arrays)
        z = jnp.concatenate(arrays, axis=1) if arrays else None
    else:
        raise TypeError(f"`{name}` must be an (n, k) array or a sequence of (n, d_i) arrays, "
                        f"got {type(variables).__name__}")
    if len(sizes) < min_vars:
        raise ValueError(f"`{name}` holds {len(sizes)} variables, at least {min_vars} needed")
    return z, sizes


def _groups(sizes: Sequence[int]) -> list[np.ndarray]:
    bounds = np.cumsum([0, *sizes])
    return [np.arange(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def gaussian_copula(z: Array) -> Array:
    """Per-column Gaussian copula transform: rank r ∈ 1..n ↦ Φ⁻¹(r / (n + 1))."""
    n = z.shape[0]
    ranks = jnp.argsort(jnp.argsort(z, axis=0), axis=0).astype(z.dtype) + 1
    return ndtri(ranks / (n + 1))


# ----------------------------------------------------------------------------- compositions


def from_entropies(variables, entropy_fn: Callable[[Array], Array]) -> dict[str, Array]:
    """TC, DTC, Ω and S from H(X), H(X_i), H(X_−i) computed by ``entropy_fn(z_subset)``.

    2k + 1 entropy calls (a Python loop: subsets differ in shape). Exact for exact
    entropies; with estimated entropies the biases of the signed sums need not cancel.
    """
    z, sizes = as_variables(variables)
    groups = _groups(sizes)
    all_cols = np.arange(z.shape[1])
    h = entropy_fn(z)
    h_i = [entropy_fn(z[:, g]) for g in groups]
    h_rest = [entropy_fn(z[:, np.setdiff1d(all_cols, g)]) for g in groups]
    k = len(sizes)
    tc = sum(h_i) - h
    dtc = sum(h_rest) - (k - 1) * h
    return {"tc": tc, "dtc": dtc, "o_information": tc - dtc, "s_information": tc + dtc}


def _gaussian_cov(z, shrinkage, copula: bool):
    return sample_covariance(gaussian_copula(z) if copula else z, shrinkage)


def _measure_terms(sizes: Sequence[int]) -> dict[str, Terms]:
    """Log-det terms (column indices, coefficient) of TC, DTC, Ω and S."""
    groups = [tuple(int(c) for c in g) for g in _groups(sizes)]
    every = tuple(range(int(sum(sizes))))
    rest = [tuple(c for c in every if c not in g) for g in groups]
    m = len(groups)
    tc = [(g, 0.5) for g in groups] + [(every, -0.5)]
    dtc = [(r, 0.5) for r in rest] + [(every, -0.5 * (m - 1))]
    neg = lambda terms: [(i, -c) for i, c in terms]
    return {"tc": tuple(tc), "dtc": tuple(dtc), "o_information": tuple(tc + neg(dtc)),
            "s_information": tuple(tc + dtc)}


@functools.partial(jax.jit, static_argnames=("sizes", "copula"))
def _gaussian_all(z, shrinkage, *, sizes, copula):
    """{measure: (value, stderr)} and the status, from the sample correlation."""
    z = gaussian_copula(z) if copula else z
    out, status = {}, Status.OK
    for name, terms in _measure_terms(sizes).items():
        value, stderr, st = plugin(z, terms, shrinkage)
        out[name] = (value, stderr)
        status = jnp.maximum(status, st)
    tc, dtc = out["tc"][0], out["dtc"][0]  # Ω and S exactly as TC ∓ DTC
    out["o_information"] = (tc - dtc, out["o_information"][1])
    out["s_information"] = (tc + dtc, out["s_information"][1])
    return out, status


@functools.partial(jax.jit, static_argnames=("sizes", "copula"))
def _gaussian_gradient(z, shrinkage, *, sizes, copula):
    cov = _gaussian_cov(z, shrinkage, copula)
    groups = _groups(sizes)
    full = o_information_from_cov(cov, sizes)
    out = []
    for i in range(len(sizes)):
        keep = np.concatenate([g for j, g in enumerate(groups) if j != i])
        rest_sizes = [s for j, s in enumerate(sizes) if j != i]
        sub = cov[np.ix_(keep, keep)]
        out.append(full - (o_information_from_cov(sub, rest_sizes) if len(rest_sizes) > 1
                           else 0.0))
    return jnp.stack(out)


_MEASURES = ("tc", "dtc", "o_information", "s_information")


@functools.partial(jax.jit, static_argnames=("sizes", "k", "surrogates"))
def _ksg_all(z, key, *, sizes, k, surrogates):
    """{measure: (value, stderr)}: one-search kNN measures, Gaussian-reference corrected,
    and the half-sample jackknife stderr of the whole corrected estimate."""
    from infoest import knn, multivariate_knn

    base = knn.subsample_key(key)
    k_ref = jax.random.fold_in(base, 1)

    def core(x, s):
        return multivariate_knn.corrected_measures(x, jax.random.fold_in(k_ref, s),
                                                   sizes=sizes, k=k, surrogates=surrogates)

    full = core(z, 0)
    # Half-samples at every n, not `knn.subsample_indices`' disjoint parts from 20 000 rows:
    # their m/n rescaling assumes var ∝ 1/n, but this corrected estimate's spread falls
    # more slowly (replicate sd 0.034, 0.025, 0.021 at n = 1 000, 2 000, 4 000), and with
    # parts of n/20 rows the stderr came out 0.68 of the spread (docs/classical.md).
    idx = knn.half_sample_indices(base, z.shape[0])
    m = idx.shape[1]
    tags = jnp.arange(1, idx.shape[0] + 1, dtype=idx.dtype)[:, None]  # surrogate key per half
    halves = jax.lax.map(lambda a: core(z[a[1:]], a[0]), jnp.concatenate([tags, idx], 1))
    stderr = jnp.sqrt(m / (z.shape[0] - m) * jnp.var(halves, axis=0, ddof=1))
    return {name: (full[i], stderr[i]) for i, name in enumerate(_MEASURES)}


def _all_measures(variables, method: str, key=None, **kwargs):
    """({measure: (value, stderr)}, status, method) for one of the methods."""
    _checks.check_choice(method, "method", ("gaussian", "ksg", "soi"))
    if method == "soi":
        est = get("o_information", "soi").fn(variables, key=key, **kwargs)
        d = est.diagnostics
        nan = jnp.full_like(est.value, jnp.nan)
        out = {"tc": (d["tc"], nan), "dtc": (d["dtc"], nan),
               "o_information": (est.value, est.stderr),
               "s_information": (d["tc"] + d["dtc"], nan)}
        return out, est.status, "soi", {}
    z, sizes = as_variables(variables)
    if method == "gaussian":
        shrinkage = kwargs.pop("shrinkage", 0.0)
        copula = kwargs.pop("copula", False)
        _reject_extra(kwargs)
        check_dimension(*z.shape, shrinkage, "`variables`")
        out, status = _gaussian_all(z, shrinkage, sizes=sizes, copula=bool(copula))
        return out, status, method, {}
    k = _checks.check_k(kwargs.pop("k", 4), z.shape[0])
    surrogates = _surrogates(kwargs.pop("surrogates", SURROGATES), z.shape)
    _reject_extra(kwargs)
    from infoest import knn

    knn.check_half_samples(z.shape[0], k)
    # exact duplicate rows inflate kNN terms: flagged as in knn (constant data gives 0)
    copies = jnp.where(is_constant(z), 0, duplicate_rows(z))
    status = jnp.where(copies > 0, Status.DEGENERATE, Status.OK)
    out = _ksg_all(z, key, sizes=sizes, k=k, surrogates=surrogates)
    return out, status, method, {"duplicates": copies}


#: Gaussian surrogates of the KSG bias correction (``surrogates=`` of the ``"ksg"`` method).
SURROGATES = 4


def _surrogates(value, shape) -> int:
    """The surrogate count: 0 (no correction) also when a half-sample has fewer than
    Σ d_i + 2 rows (the sample correlation would be singular)."""
    b = _checks.check_positive_int(value, "surrogates", minimum=0)
    return b if shape[0] // 2 >= shape[1] + 2 else 0


def _reject_extra(kwargs):
    if kwargs:
        raise TypeError(f"unexpected keyword arguments: {', '.join(sorted(kwargs))}")


def _estimate(which: str, variables, method: str, key, kwargs) -> Estimate:
    out, status, m, extra = _all_measures(variables, method, key=key, **kwargs)
    value, stderr = out[which]
    tc, dtc = out["tc"][0], out["dtc"][0]
    return make_estimate(value, stderr, status=status, method=m, tc=tc, dtc=dtc,
                         o_information=tc - dtc, s_information=tc + dtc, **extra)


_STDERR = """

    stderr: ``"gaussian"``: delta method from the per-sample influence function of the
    log-dets ([infoest.gaussian.plugin][]); ``"ksg"``: delete-d jackknife over 20
    half-samples of the whole corrected kNN estimate ([infoest.knn.subsample_stderr][]; drawn
    from ``key``, a fixed key when None); sampling error only, not the bias. A constant
    variable is independent of the others and adds 0 to every measure: Ω(X) is Ω of the
    other variables (0 when fewer than three are left).
"""

# ----------------------------------------------------------------------------- public


def o_information(variables, *, method: str = "gaussian", key=None, **kwargs) -> Estimate:
    """O-information Ω = TC − DTC in nats (diagnostics: ``tc``, ``dtc``, ``s_information``).

    ``method``: ``"gaussian"`` (options ``shrinkage``, ``copula``; needs n ≥ Σ d_i + 2 or
    ``shrinkage`` > 0), ``"ksg"`` (options ``k``, ``surrogates``; n ≥ 2(k + 1)) or ``"soi"``
    (options of [`infoest.score.soi.o_information`][infoest.score.soi.o_information], ``key=``
    required).
    """
    return _estimate("o_information", variables, method, key, kwargs)


def total_correlation(variables, *, method: str = "gaussian", key=None, **kwargs) -> Estimate:
    """Total correlation TC = Σ_i H(X_i) − H(X) in nats (methods as
    [`o_information`][infoest.multivariate.o_information])."""
    return _estimate("tc", variables, method, key, kwargs)


def dual_total_correlation(variables, *, method: str = "gaussian", key=None,
                           **kwargs) -> Estimate:
    """Dual total correlation DTC = H(X) − Σ_i H(X_i | X_−i) in nats."""
    return _estimate("dtc", variables, method, key, kwargs)


def s_information(variables, *, method: str = "gaussian", key=None, **kwargs) -> Estimate:
    """S-information S = TC + DTC = Σ_i I(X_i; X_−i) in nats."""
    return _estimate("s_information", variables, method, key, kwargs)


for _fn in (o_information, total_correlation, dual_total_correlation, s_information):
    _fn.__doc__ += _STDERR


def o_information_gradient(variables, *, method: str = "gaussian", **kwargs) -> Estimate:
    """Per-variable contributions ∂_iΩ = Ω(X) − Ω(X_−i) in nats; ``value`` has shape (k,).

    ``method="gaussian"`` (closed form; options ``shrinkage``, ``copula``) or ``"soi"``
    (one network, trained with the extra masks; options of
    [`infoest.score.soi.o_information`][infoest.score.soi.o_information]).
    """
    _checks.check_choice(method, "method", ("gaussian", "soi"))
    if method == "soi":
        est = get("o_information", "soi").fn(variables, gradient=True, **kwargs)
        return make_estimate(est.diagnostics["gradient"], method="soi",
                             o_information=est.value)
    z, sizes = as_variables(variables, min_vars=3)
    shrinkage = kwargs.pop("shrinkage", 0.0)
    copula = bool(kwargs.pop("copula", False))
    _reject_extra(kwargs)
    grad = _gaussian_gradient(z, shrinkage, sizes=sizes, copula=copula)
    return make_estimate(grad, method="gaussian")


@register("o_information", "gaussian", differentiable=True, min_n=4)
def _gaussian_method(variables, *, shrinkage=0.0, copula: bool = False) -> Estimate:
    """Gaussian O-information from the (optionally copula-transformed) sample correlation.

    stderr: delta method from the per-sample influence function of the log-dets
    ([infoest.gaussian.plugin][]; with ``copula`` the rank transform's own variability is
    ignored, which is asymptotically exact for Gaussian data). Needs n ≥ Σ d_i + 2.
    """
    return o_information(variables, method="gaussian", shrinkage=shrinkage, copula=copula)


@register("o_information", "ksg", test_kwargs={"k": 3}, min_n=4)
def _ksg_method(variables, *, k: int = 4, surrogates: int = SURROGATES, key=None) -> Estimate:
    """kNN O-information from one joint-space search, Gaussian-reference bias corrected.

    Ω̂ = (2 − m) ψ(k) + (m − 2) ψ(n) − Σ_i ⟨ψ(n_i + 1)⟩ + Σ_i ⟨ψ(n_−i + 1)⟩ for m variables
    (max-norm; counts inside the joint k-th neighbour distance), minus its mean bias on
    ``surrogates`` Gaussian surrogates of the sample correlation
    ([`infoest.multivariate_knn`][infoest.multivariate_knn]; ``surrogates=0``: the
    one-search estimate alone, also used when a half-sample has fewer than Σ d_i + 2 rows).

    stderr: delete-d jackknife over 20 half-samples of the whole corrected estimate
    ([infoest.knn.subsample_stderr][]; fresh surrogates per half-sample), from ``key`` (a
    fixed key when None). Needs n ≥ 2(k + 1). Exact duplicate rows give status DEGENERATE
    (``diagnostics["duplicates"]``; see [infoest.knn][]).
    """
    return o_information(variables, method="ksg", k=k, surrogates=surrogates, key=key)


# ----------------------------------------------------------------------------- multiplets


@dataclasses.dataclass(frozen=True)
class MultipletTable:
    """O-information of every multiplet: ``multiplets[j]`` (a tuple of variable indices) has
    Ω = ``values[j]`` nats. ``table[(0, 3, 5)]`` looks one up; ``to_dict()`` gives them all."""

    multiplets: tuple[tuple[int, ...], ...]
    values: Array

    def __getitem__(self, multiplet) -> Array:
        return self.values[self.multiplets.index(tuple(multiplet))]

    def __len__(self) -> int:
        return len(self.multiplets)

    def to_dict(self) -> dict[tuple[int, ...], float]:
        return dict(zip(self.multiplets, np.asarray(self.values).tolist(), strict=True))


def _multiplet_indices(k: int, orders: tuple[int, ...]) -> list[np.ndarray]:
    return [np.array(list(itertools.combinations(range(k), s)), dtype=np.int32).reshape(-1, s)
            for s in orders]


@functools.partial(jax.jit, static_argnames=("k", "orders", "method", "copula", "knn_k",
                                             "surrogates"))
def _multiplets(z, shrinkage, *, k, orders, method, copula, knn_k, surrogates):
    out = []
    if method == "gaussian":
        cov = _gaussian_cov(z, shrinkage, copula)
        for idx in _multiplet_indices(k, orders):
            out.append(jax.vmap(lambda ii: o_information_from_cov(cov[jnp.ix_(ii, ii)]))(idx))
    else:
        for idx in _multiplet_indices(k, orders):
            sizes = (1,) * idx.shape[1]
            b = _surrogates(surrogates, (z.shape[0], idx.shape[1]))

            def one(ii, sizes=sizes, b=b):
                from infoest import knn, multivariate_knn

                key = jax.random.fold_in(knn.subsample_key(None), 1)
                return multivariate_knn.corrected_measures(
                    z[:, ii], jax.random.fold_in(key, 0), sizes=sizes, k=knn_k,
                    surrogates=b)[2]

            out.append(jax.lax.map(one, idx))
    return jnp.concatenate(out)


def o_information_multiplets(x, *, orders: Sequence[int] = (3,), method: str = "gaussian",
                             shrinkage=0.0, copula: bool = False, k: int = 4,
                             surrogates: int = SURROGATES) -> MultipletTable:
    """Ω of every multiplet of the given ``orders`` (sizes) of the k scalar columns of ``x``.

    One compiled call: the covariance is computed once and Ω of all C(k, s) sub-matrices is
    ``vmap``-ed (``method="gaussian"``), or the KSG O-information is ``lax.map``-ped over
    the index sets (``method="ksg"``, neighbour count ``k``). Returns a
    [`MultipletTable`][infoest.multivariate.MultipletTable] keyed by index tuples, in lexicographic
    order within each size.
    """
    z, sizes = as_variables(x, "x", min_vars=3)
    if not isinstance(x, jax.Array | np.ndarray):
        raise TypeError("`x` must be one (n, k) array of scalar variables")
    kvars = len(sizes)
    _checks.check_choice(method, "method", ("gaussian", "ksg"))
    orders = tuple(sorted({_checks.check_positive_int(s, "orders", minimum=3) for s in orders}))
    if not orders or orders[-1] > kvars:
        raise ValueError(f"`orders` must be sizes in [3, {kvars}], got {orders}")
    knn_k = _checks.check_k(k, z.shape[0]) if method == "ksg" else 0
    surrogates = _checks.check_positive_int(surrogates, "surrogates", minimum=0)
    values = _multiplets(z, shrinkage, k=kvars, orders=orders, method=method,
                         copula=bool(copula), knn_k=knn_k, surrogates=surrogates)
    names = tuple(c for s in orders for c in itertools.combinations(range(kvars), s))
    return MultipletTable(names, values)
