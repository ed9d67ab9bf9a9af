"""The table of bad, degenerate and extreme inputs every registered estimator must handle.

Shared by ``tests/test_conformance.py`` (which enforces it) and ``benchmarks/fuzz_contract.py``
(which re-runs all of it and counts the outcomes). Each :class:`Case` turns the good inputs of
a method (``conftest.inputs_for``) into a bad or extreme variant and says what must happen:

- ``"error"``: an exception of type ``exc`` whose message matches ``match`` (eagerly; under
  ``jax.jit`` the same type for trace-time checks, a ``RuntimeError`` carrying the message for
  value checks, which run inside the compiled code);
- ``"same"``: the estimate equals the one on the good data (status ok);
- ``"zero"``: the quantity is 0 (MI, CMI, Ω, TE with a constant variable, and a spectral
  entropy of a rank-one Gram matrix; Ω's data are one ``(n, 40)`` array, so "constant
  variable" makes all 40 variables constant: Ω = 0. With some variables constant Ω is that
  of the others, not 0 in general: docs/classical.md, "Degenerate data"); for Shannon
  entropy the documented limit -inf with status ``DEGENERATE`` (or a clear error);
- ``"shift"``: entropy of ``s·x`` is ``H(x) + d log s`` (Shannon entropy only);
- ``"defined"``: a finite value with status ok, or a flagged status / clear error, never a
  silent NaN.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable

import numpy as np
from conftest import inputs_for

from infoest._estimate import STATUS_TEXT, Status

NAN_MESSAGE = "contains NaN or inf"


@dataclasses.dataclass(frozen=True)
class Case:
    """One row of the table.

    Attributes:
        name: short identifier.
        make: ``make(method, good) -> data args`` (``good``: list of float32 arrays).
        expect: ``"error" | "same" | "zero" | "shift" | "defined"``.
        exc: the exception type(s) for ``"error"``.
        match: a regex the error message must contain.
        traced: True when the check runs on values inside compiled code (so under ``jit`` it
            surfaces as a runtime error, and with ``throw=False`` as a status).
        scale: the factor applied to the data (``"shift"``/scale-invariance rows).
        batchable: same shape and dtype as the good data (can join the vmapped status batch).
        jittable: the data can be passed to a ``jax.jit``-ed function (arrays, not ``None``,
            strings or ragged lists, which ``jit`` itself rejects).
        applies: which methods the row applies to.
    """

    name: str
    make: Callable
    expect: str
    exc: type | tuple[type, ...] = ()
    match: str = ""
    traced: bool = False
    scale: float = 1.0
    batchable: bool = False
    jittable: bool = True
    applies: Callable = lambda m: True


# ----------------------------------------------------------------------------- helpers


def _first(good, fn):
    """Apply ``fn`` to the first data array, keep the others."""
    return [fn(np.array(good[0], copy=True)), *good[1:]]


def _all(good, fn):
    return [fn(np.array(a, copy=True)) for a in good]


def _set(a, index, value):
    a.reshape(-1)[index] = value
    return a


def _constant_first_column(a):
    if a.ndim == 1:
        a[:] = 1.5
    else:
        a[:, 0] = 1.5
    return a


def _duplicate_rows(a):
    half = a[: len(a) // 2]
    return np.concatenate([half, half])[: len(a)]


def _scale_invariant(m) -> bool:
    return bool(getattr(m, "scale_invariant", False))


def _shannon_entropy(m) -> bool:
    return m.quantity == "entropy" and m.measure == "shannon"


def _not_entropy(m) -> bool:
    return m.quantity != "entropy"


def _multi_arg(m) -> bool:
    return m.quantity in ("mutual_information", "conditional_mutual_information",
                          "transfer_entropy")


def _not_series(m) -> bool:
    return m.quantity != "transfer_entropy"


def takes_learning_rate(m) -> bool:
    """Trained methods: those whose family function (or the bound they wrap) has one, as a
    keyword or a registered continuous hyperparameter (a config field)."""
    if "learning_rate" in inspect.signature(m.raw).parameters \
            or "learning_rate" in (m.continuous or ()):
        return True
    return m.stochastic and m.quantity in ("mutual_information", "entropy") and \
        "steps" in m.test_kwargs


def _below_min(m, good):
    return [a[: m.min_n - 1] for a in good]


def _n_below_d(m, good):
    """Independent standard normal data with fewer samples than dimensions (truth: 0)."""
    n = max(m.min_n, 24)
    rng = np.random.default_rng(7)
    shapes = {"entropy": [(n, 40)], "mutual_information": [(n, 30), (n, 30)],
              "conditional_mutual_information": [(n, 20), (n, 20), (n, 20)],
              "o_information": [(n, 40)]}[m.quantity]
    return [rng.normal(size=s).astype(np.float32) for s in shapes]


def n_below_d_truth(m) -> float:
    if m.quantity == "entropy":
        return 0.5 * 40 * float(np.log(2 * np.pi * np.e))
    return 0.0


# ----------------------------------------------------------------------------- the table

_STATUS = "|".join(STATUS_TEXT[c] for c in Status if c != Status.OK)
_SHAPE = r"shape|rank|dimension|ndim"
_DTYPE = r"dtype|floating"

CASES: tuple[Case, ...] = (
    # non-finite values: checked inside compiled code (status NONFINITE_INPUT)
    Case("nan", lambda m, g: _first(g, lambda a: _set(a, 3, np.nan)), "error", ValueError,
         NAN_MESSAGE, traced=True, batchable=True),
    Case("inf in last argument", lambda m, g: [*g[:-1], _set(np.array(g[-1]), 5, np.inf)],
         "error", ValueError, NAN_MESSAGE, traced=True, batchable=True),
    Case("-inf", lambda m, g: _first(g, lambda a: _set(a, 0, -np.inf)), "error", ValueError,
         NAN_MESSAGE, traced=True, batchable=True),
    Case("all nan", lambda m, g: _first(g, lambda a: np.full_like(a, np.nan)), "error",
         ValueError, NAN_MESSAGE, traced=True, batchable=True),
    # shapes: trace-time errors
    Case("rank 3", lambda m, g: _first(g, lambda a: a.reshape(1, a.shape[0], -1)), "error",
         ValueError, _SHAPE),
    Case("rank 0", lambda m, g: _first(g, lambda a: np.float32(1.0)), "error", ValueError,
         rf"{_SHAPE}|samples"),
    Case("no features", lambda m, g: _first(g, lambda a: np.zeros((a.shape[0], 0), a.dtype)),
         "error", ValueError, r"feature|shape|variable", applies=_not_series),
    Case("no samples", lambda m, g: _all(g, lambda a: a[:0]), "error", ValueError,
         r"samples|at least"),
    Case("mismatched n", lambda m, g: [g[0][:-3], *g[1:]], "error", ValueError,
         r"mismatch|samples|length|same", applies=_multi_arg),
    # dtypes: trace-time errors
    Case("int32", lambda m, g: _first(g, lambda a: (a * 3).astype(np.int32)), "error",
         TypeError, _DTYPE),
    Case("bool", lambda m, g: _first(g, lambda a: a > 0), "error", TypeError, _DTYPE),
    Case("complex64", lambda m, g: _first(g, lambda a: a.astype(np.complex64)), "error",
         TypeError, rf"{_DTYPE}|complex"),
    Case("strings", lambda m, g: _first(g, lambda a: a.astype(str)), "error", TypeError,
         rf"{_DTYPE}|array", jittable=False),
    Case("None", lambda m, g: [None, *g[1:]], "error", TypeError, r"array|None|dtype",
         jittable=False),
    Case("ragged list", lambda m, g: _first(g, lambda a: [[1.0, 2.0], [3.0]] * 8), "error",
         (TypeError, ValueError), r"ragged|array|shape", jittable=False),
    # too few samples: trace-time ValueError naming the minimum
    Case("n = min_n - 1", lambda m, g: _below_min(m, g), "error", ValueError,
         r"at least \d+"),
    Case("n = 2", lambda m, g: [a[:2] for a in g], "error", ValueError, r"at least \d+"),
    Case("n = 1", lambda m, g: [a[:1] for a in g], "error", ValueError, r"at least \d+"),
    # conversions: the same estimate as the float32 array
    Case("float16", lambda m, g: _all(g, lambda a: a.astype(np.float16)), "same"),
    Case("float64 (x64 off)", lambda m, g: _all(g, lambda a: a.astype(np.float64)), "same"),
    Case("nested lists", lambda m, g: [a.tolist() for a in g], "same", jittable=False),
    Case("strided view", lambda m, g: _all(g, lambda a: np.repeat(a, 2, axis=0)[::2]), "same"),
    Case("Fortran order", lambda m, g: _all(g, np.asfortranarray), "same"),
    # invariances: every quantity here is invariant under translation and sign flips
    Case("+1e4", lambda m, g: _all(g, lambda a: a + np.float32(1e4)), "same",
         batchable=True),
    Case("-x", lambda m, g: _all(g, lambda a: -a), "same", batchable=True),
    Case("x1e30", lambda m, g: _all(g, lambda a: a * np.float32(1e30)), "same", scale=1e30,
         batchable=True, applies=_scale_invariant),
    Case("x1e-30", lambda m, g: _all(g, lambda a: a * np.float32(1e-30)), "same",
         scale=1e-30, batchable=True, applies=_scale_invariant),
    Case("entropy x1e30", lambda m, g: _all(g, lambda a: a * np.float32(1e30)), "shift",
         scale=1e30, batchable=True, applies=_shannon_entropy),
    Case("entropy x1e-30", lambda m, g: _all(g, lambda a: a * np.float32(1e-30)), "shift",
         scale=1e-30, batchable=True, applies=_shannon_entropy),
    Case("x1e30 (not scale invariant)", lambda m, g: _all(g, lambda a: a * np.float32(1e30)),
         "defined", batchable=True, applies=lambda m: not _scale_invariant(m)),
    Case("x1e-30 (not scale invariant)",
         lambda m, g: _all(g, lambda a: a * np.float32(1e-30)), "defined", batchable=True,
         applies=lambda m: not _scale_invariant(m)),
    # degenerate data
    Case("constant variable", lambda m, g: _first(g, lambda a: np.full_like(a, 2.5)), "zero",
         batchable=True),
    Case("all rows identical", lambda m, g: _all(g, lambda a: np.full_like(a, 0.5)), "zero",
         batchable=True),
    Case("constant column", lambda m, g: _first(g, _constant_first_column), "defined",
         batchable=True, applies=_not_series),
    Case("duplicated rows", lambda m, g: _all(g, _duplicate_rows), "defined", batchable=True),
    Case("n < d (independent)", _n_below_d, "defined", applies=_not_series),
    # training hyperparameters that must end in an error or a flagged status
    *(Case(f"learning_rate={lr}", lambda m, g: g, "defined", applies=takes_learning_rate)
      for lr in (1e6, 1e30, float("nan"), -1.0)),
)


def learning_rate_of(case: Case) -> float | None:
    if case.name.startswith("learning_rate="):
        return float(case.name.split("=", 1)[1])
    return None


def cases_for(m) -> list[Case]:
    return [c for c in CASES if c.applies(m)]


def good_inputs(m, n: int | None = None, seed: int = 0) -> list[np.ndarray]:
    return inputs_for(m.quantity, n or max(m.min_samples, 64), seed=seed)


def expected_value(case: Case, m, reference: float, good) -> float | None:
    """The value a correct estimator returns for ``case`` (None: no single value)."""
    if case.expect == "same":
        return reference
    if case.expect == "zero":  # Shannon entropy of a constant: -inf; a spectral one: 0
        return -np.inf if _shannon_entropy(m) else 0.0
    if case.expect == "shift":
        d = int(np.prod(np.asarray(good[0]).shape[1:]))
        return reference + d * float(np.log(case.scale))
    return None


def tolerance(m, reference: float, case: Case | None = None) -> float:
    """Agreement asked of a correct estimator: float32 rounding for deterministic methods,
    the run-to-run spread of a few training steps for trained ones."""
    if m.stochastic:
        return 0.2 + 0.1 * abs(reference)
    loose = case is not None and case.name in ("+1e4", "float16")  # the data are rounded
    return (0.05 if loose else 0.01) + 0.01 * abs(reference)


STATUS_PATTERN = _STATUS
