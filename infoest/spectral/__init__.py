"""Spectral (matrix-based) information measures.

- matrix entropy (`infoest.spectral._matrix`): von Neumann / Rényi entropy of a
  representation's trace-normalised covariance, effective rank, Diff-eRank, truncated entropy;
- matrix Rényi-α (`infoest.spectral._renyi`): Giraldo et al.'s entropy, joint entropy and
  mutual information of Gram matrices;
- DSE (`infoest.spectral._dse`) / DSMI (`infoest.spectral._dsmi`): diffusion spectral
  entropy and mutual information.

Registered methods: ``entropy``: ``"matrix"``, ``"renyi"``, ``"dse"``;
``mutual_information``: ``"matrix"``, ``"dsmi"``. All values in nats unless ``units="bits"``.
"""

from infoest.spectral import _dse, _dsmi, _matrix, _renyi
from infoest.spectral._dse import *  # noqa: F403
from infoest.spectral._dsmi import *  # noqa: F403
from infoest.spectral._matrix import *  # noqa: F403
from infoest.spectral._renyi import *  # noqa: F403

#: every public name of the four modules (each module's ``__all__`` is the one list).
__all__ = [*_matrix.__all__, *_renyi.__all__, *_dse.__all__, *_dsmi.__all__]
