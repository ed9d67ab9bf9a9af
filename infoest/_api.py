"""The quantity-level entry points: one function per quantity, dispatching on ``method=``.

``discrete=`` (MI, CMI, TE) names the discrete variables (integer arrays of symbols) and
dispatches to [infoest.discrete][]: the estimator is then chosen by which variables are
discrete, so ``method=`` must be left out. Integer arrays are accepted only there; without
``discrete=`` they are refused with an error naming the option.
"""

from __future__ import annotations

from typing import Any

from infoest._estimate import Estimate
from infoest._registry import get


def entropy(x, *, method: str = "kl", **kwargs: Any) -> Estimate:
    """Differential entropy H(X) in nats of samples ``x: (n, d)``.

    ``method`` names a registered estimator (``infoest.methods("entropy")``); the remaining
    keyword arguments go to it unchanged.
    """
    return get("entropy", method).fn(x, **kwargs)


def _discrete_entry(quantity: str, method: str | None, discrete: str):
    from infoest import discrete as _discrete  # its estimators are not registered methods

    if method is not None:
        raise ValueError(f"`method={method!r}` cannot be combined with `discrete={discrete!r}`: "
                         f"with discrete variables the estimator follows from `discrete` "
                         f"(see infoest.discrete)")
    return getattr(_discrete, quantity)


#: ``method="neural"``: the default neural estimator, a registered method and the options it
#: runs with unless given (MINDE-C at its defaults on normal scores of the ranks; measured
#: on the 40 BMI tasks in docs/bmi.md, "Neural default").
NEURAL = ("minde", {"copula": True})


def mutual_information(x, y, *, method: str | None = None, discrete: str | None = None,
                       **kwargs: Any) -> Estimate:
    """Mutual information I(X;Y) in nats of paired samples ``x: (n, dx)``, ``y: (n, dy)``.

    ``method`` (default ``"ksg"``) names a registered estimator; ``"neural"`` is the default
    neural estimator (``NEURAL``: ``"minde"`` with ``copula=True``; a key is required as for
    any stochastic method; keywords override its options). ``discrete`` names the
    discrete variables, integer arrays of symbols: ``"y"`` (e.g. class labels; Ross 2014
    nearest neighbours), ``"x"``, ``"both"`` (plug-in with the Miller–Madow correction) or
    ``"mixed"`` (float data whose columns have ties with positive probability; Gao et al.
    2017); see [infoest.discrete][].
    """
    if discrete is not None:
        return _discrete_entry("mutual_information", method, discrete)(
            x, y, discrete=discrete, **kwargs)
    if method == "neural":
        name, defaults = NEURAL
        return get("mutual_information", name).fn(x, y, **{**defaults, **kwargs})
    return get("mutual_information", method or "ksg").fn(x, y, **kwargs)


def conditional_mutual_information(x, y, z, *, method: str | None = None,
                                   discrete: str | None = None, **kwargs: Any) -> Estimate:
    """Conditional mutual information I(X;Y|Z) in nats of paired samples.

    ``method`` (default ``"ksg"``) names a registered estimator; ``discrete`` (``"z"``,
    ``"y"``, ``"x"`` or ``"all"``) the discrete variables (see [infoest.discrete][]).
    """
    if discrete is not None:
        return _discrete_entry("conditional_mutual_information", method, discrete)(
            x, y, z, discrete=discrete, **kwargs)
    return get("conditional_mutual_information", method or "ksg").fn(x, y, z, **kwargs)


def o_information(variables, *, method: str = "gaussian", **kwargs: Any) -> Estimate:
    """O-information Ω = TC − DTC in nats.

    ``variables`` is either a sequence of arrays ``(n, d_i)`` (vector-valued variables) or one
    ``(n, k)`` array of k scalar variables. Ω > 0: redundancy dominates; Ω < 0: synergy.
    """
    return get("o_information", method).fn(variables, **kwargs)


def transfer_entropy(source, target, *, method: str | None = None,
                     discrete: str | None = None, **kwargs: Any) -> Estimate:
    """Transfer entropy TE(source → target) in nats of time series (time on axis 0).

    ``method`` (default ``"ksg"``) names a registered estimator; ``discrete`` (``"both"``:
    symbol sequences, or ``"source"``) the discrete series (see [infoest.discrete][]).
    """
    if discrete is not None:
        return _discrete_entry("transfer_entropy", method, discrete)(
            source, target, discrete=discrete, **kwargs)
    return get("transfer_entropy", method or "ksg").fn(source, target, **kwargs)
