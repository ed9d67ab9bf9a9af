"""Score-based estimators: MINDE (MI, entropy) and SΩI (O-information).

Franzese, Bounoua, Michiardi, "MINDE: Mutual Information Neural Diffusion Estimation"
(ICLR 2024); Bounoua, Franzese, Michiardi, "SΩI: Score-based O-INFORMATION Estimation"
(ICML 2024). Modules: [`sde`][infoest.score.sde] (VP SDE, importance sampling of t),
[`masks`][infoest.score.masks] (per-variable masks of the amortised network),
[`network`][infoest.score.network] (the network and its training through ``infoest.train.fit``),
[`integrals`][infoest.score.integrals] (score-difference integrands, Monte-Carlo estimation),
[`gaussian_scores`][infoest.score.gaussian_scores] (exact Gaussian denoiser, for tests),
[`minde`][infoest.score.minde] (``mutual_information``, ``entropy``; methods ``"minde"``),
[`soi`][infoest.score.soi] (``o_information``, ``o_information_gradient``; method ``"soi"``).
"""

from infoest.score import gaussian_scores, integrals, masks, minde, network, sde, soi
from infoest.score.network import ScoreNet

__all__ = ["gaussian_scores", "integrals", "masks", "minde", "network", "sde", "soi", "ScoreNet"]
