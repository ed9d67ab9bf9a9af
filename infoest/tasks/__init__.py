"""Ground truth: distributions and processes with known information values."""

from infoest.tasks import blocks, distributions, processes  # noqa: F401
from infoest.tasks._task import Task  # noqa: F401
