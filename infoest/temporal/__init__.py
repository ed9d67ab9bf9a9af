"""Transfer entropy: delay embedding, Gaussian and KSG estimators, surrogate significance
tests, TREET (transformer DV estimator) and TE matrices over channel pairs.

Every method is reachable as ``infoest.transfer_entropy(source, target, method=...)``; the
modules here expose the full options (TREET's in one Module,
[TREETConfig][infoest.temporal.config.TREETConfig]).
"""

from infoest.temporal import config, embedding, gaussian, ksg, surrogates, treet  # noqa: F401
from infoest.temporal.config import TREETConfig  # noqa: F401
from infoest.temporal.embedding import Lags, embed, embedding_indices  # noqa: F401
from infoest.temporal.matrix import te_matrix  # noqa: F401
