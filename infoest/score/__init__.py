"""Score-based estimators: MINDE (MI, entropy) and SΩI (O-information).

Franzese, Bounoua, Michiardi, "MINDE: Mutual Information Neural Diffusion Estimation"
(ICLR 2024); Bounoua, Franzese, Michiardi, "SΩI: Score-based O-INFORMATION Estimation"
(ICML 2024). Modules: `infoest.score.sde` (VP SDE, importance sampling of t),
`infoest.score.masks` (per-variable masks of the amortised network),
`infoest.score.network` (the network and its training through `infoest.train.fit`),
`infoest.score.integrals` (score-difference integrands, Monte-Carlo estimation),
`infoest.score.config` (the options Modules `MINDEConfig`, `SOIConfig`; divergence test),
`infoest.score.data` (standardisation, constant columns),
`infoest.score.gaussian_scores` (exact Gaussian denoiser, for tests),
`infoest.score.minde` (`mutual_information`, `entropy`; method `"minde"`),
`infoest.score.soi` (`o_information`; method `"soi"`).
"""

from infoest.score import (
    config,
    data,
    gaussian_scores,
    integrals,
    masks,
    minde,
    network,
    sde,
    soi,
)
from infoest.score.config import MINDEConfig, SOIConfig
from infoest.score.network import ScoreNet

__all__ = ["config", "data", "gaussian_scores", "integrals", "masks", "minde", "network",
           "sde", "soi", "MINDEConfig", "SOIConfig", "ScoreNet"]
