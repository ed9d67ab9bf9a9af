"""Method registry: quantity -> method name -> estimator.

Each family module registers its estimators with `register`; the quantity entry points
([`infoest.entropy`][infoest.entropy], ...), the conformance tests and ``infoest bench`` all read
from here,
so a newly registered estimator is dispatched, tested and benchmarked at once.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

from infoest._contract import apply_contract

QUANTITIES = (
    "entropy",
    "mutual_information",
    "conditional_mutual_information",
    "o_information",
    "transfer_entropy",
)


@dataclasses.dataclass(frozen=True)
class Method:
    """A registered estimator.

    Attributes:
        quantity: one of `QUANTITIES`.
        name: the ``method=`` string.
        fn: the estimator; positional data arguments, keyword-only hyperparameters.
        stochastic: True when ``fn`` requires ``key=``.
        differentiable: True when ``jax.grad`` through the value is meaningful.
        test_kwargs: small, fast hyperparameters used by the conformance tests and the quick
            benchmark (e.g. few training steps).
        bench_kwargs: hyperparameters for ``infoest bench`` (defaults to ``test_kwargs``).
        min_samples: the smallest sample size the conformance tests should use.
        min_n: the fewest samples the method accepts (fewer is a ``ValueError``).
        raw: the family's function before `infoest._contract.apply_contract`.
        center: the contract centres every data column first (False for a method whose
            quantity is not translation invariant in all its options, e.g. matrix entropy
            with ``center=False``, which centres itself when asked).
        scale_invariant: True when the quantity is unchanged by rescaling any variable
            (``x -> s·x``); the conformance suite then asks for the same value at ×1e±30.
            Default: Shannon MI, CMI, O-information and TE (``measure == "shannon"``).
        continuous: names of continuous hyperparameters, which must be traced (changing one
            neither recompiles nor fails under ``jit``). Default: every keyword parameter of
            ``raw`` with a float default.
        measure: the functional estimated (``"shannon"``, or a spectral measure such as
            ``"diffusion"``); ``infoest bench`` pairs methods and tasks of the same quantity
            and measure (`infoest.tasks.Task.measure`).
    """

    quantity: str
    name: str
    fn: Callable[..., Any]
    stochastic: bool = False
    differentiable: bool = False
    test_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    bench_kwargs: dict[str, Any] | None = None
    min_samples: int = 64
    measure: str = "shannon"
    min_n: int = 8
    raw: Callable[..., Any] | None = None
    center: bool = True
    scale_invariant: bool | None = None
    continuous: tuple[str, ...] | None = None


_REGISTRY: dict[str, dict[str, Method]] = {q: {} for q in QUANTITIES}


def register(quantity: str, name: str, **meta: Any) -> Callable[[Callable], Callable]:
    """Decorator registering ``fn`` as ``method=name`` for ``quantity``.

    Returns ``fn`` wrapped by `infoest._contract.apply_contract` (the shared calling
    convention: ``key=``, ``throw=``, input checks, status), so the family's public function
    and ``method=name`` behave identically.
    """
    if quantity not in _REGISTRY:
        raise ValueError(f"unknown quantity {quantity!r}; valid: {QUANTITIES}")

    def decorator(fn: Callable) -> Callable:
        if name in _REGISTRY[quantity]:
            raise ValueError(f"method {name!r} is already registered for {quantity}")
        method = Method(quantity, name, fn, **meta)
        wrapped = apply_contract(
            fn, quantity=quantity, name=name, min_n=method.min_n,
            differentiable=method.differentiable, center=method.center,
            alternatives=lambda: [m.name for m in methods(quantity) if m.differentiable])
        _REGISTRY[quantity][name] = dataclasses.replace(
            method, fn=wrapped, raw=fn, scale_invariant=_scale_invariant(method),
            continuous=_continuous(method, fn))
        return wrapped

    return decorator


def _scale_invariant(method: Method) -> bool:
    if method.scale_invariant is not None:
        return method.scale_invariant
    return method.quantity != "entropy" and method.measure == "shannon"


def _continuous(method: Method, fn: Callable) -> tuple[str, ...]:
    if method.continuous is not None:
        return tuple(method.continuous)
    params = inspect.signature(fn).parameters.values()
    return tuple(p.name for p in params if type(p.default) is float)


def get(quantity: str, method: str) -> Method:
    """The registered estimator for ``quantity`` and ``method``; ValueError listing the valid."""
    table = _REGISTRY[quantity]
    if method not in table:
        valid = ", ".join(repr(m) for m in sorted(table))
        raise ValueError(f"unknown method={method!r} for {quantity}; valid methods: {valid}")
    return table[method]


def methods(quantity: str | None = None) -> list[Method]:
    """All registered estimators (of one quantity, or of all)."""
    quantities = QUANTITIES if quantity is None else (quantity,)
    return [m for q in quantities for m in _REGISTRY[q].values()]
