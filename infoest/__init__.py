"""infoest: estimators of information quantities (entropy, mutual information,
O-information, transfer entropy) from samples of continuous data, in JAX.

All values are in nats; samples lie on axis 0 (``x: (n, d)``). Quantity entry points dispatch
on ``method=``; the family modules expose each estimator with its full options.
"""

from infoest import (  # noqa: F401  (importing a family registers its methods)
    discrete,
    gaussian,
    knn,
    multivariate,
    ops,
    representations,
    score,
    spectral,
    tasks,
    temporal,
    variational,
)
from infoest._api import (
    conditional_mutual_information,
    entropy,
    mutual_information,
    o_information,
    transfer_entropy,
)
from infoest._contract import EstimationError
from infoest._estimate import Estimate, Status
from infoest._registry import methods

__version__ = "0.1.0"

__all__ = [
    "Estimate",
    "EstimationError",
    "Status",
    "entropy",
    "mutual_information",
    "conditional_mutual_information",
    "o_information",
    "transfer_entropy",
    "methods",
    "discrete",
    "gaussian",
    "knn",
    "multivariate",
    "ops",
    "representations",
    "score",
    "spectral",
    "tasks",
    "temporal",
    "variational",
]
