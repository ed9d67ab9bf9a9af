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

from infoest.spectral._dse import diffusion_spectrum, dse, dse_from_spectrum
from infoest.spectral._dsmi import bin_labels, dsmi, spectral_clusters
from infoest.spectral._matrix import (
    covariance_spectrum,
    diff_erank,
    effective_rank,
    matrix_entropy,
    truncated_entropy,
)
from infoest.spectral._renyi import (
    gram_entropy,
    gram_matrix,
    joint_renyi_entropy,
    matrix_mutual_information,
    normalize_gram,
    renyi_entropy,
)

__all__ = [
    "covariance_spectrum",
    "matrix_entropy",
    "effective_rank",
    "diff_erank",
    "truncated_entropy",
    "gram_matrix",
    "normalize_gram",
    "gram_entropy",
    "renyi_entropy",
    "joint_renyi_entropy",
    "matrix_mutual_information",
    "diffusion_spectrum",
    "dse_from_spectrum",
    "dse",
    "bin_labels",
    "spectral_clusters",
    "dsmi",
]
