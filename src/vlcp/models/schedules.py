"""Learning-rate schedule shapes shared by the generator's training and the evaluation protocols."""
from __future__ import annotations

import math


def cosine_factor(step: float, total: float, span: int = 1) -> float:
    """The cosine decay factor 0.5·(1 + cos(π·step/total/span)): 1 at step 0, 0 at ``step = span × total``
    (``span = 2``: RDED's quarter-period schedule, which ends at 0.5). A function of the step alone, so a
    resumed run gets the same rates without scheduler state."""
    return 0.5 * (1 + math.cos(math.pi * step / total / span))


def step_factor(step: float, milestones: tuple[float, ...], gamma: float) -> float:
    """The step decay factor ``gamma ** (milestones passed)``: 1 before the first milestone, ×``gamma`` from
    each (PyTorch's MultiStepLR; one milestone: StepLR once). A function of the step alone, like the cosine."""
    return gamma ** sum(step >= m for m in milestones)
