"""The sampler interface and registry (see ``vlcp.samplers``)."""
from __future__ import annotations

from typing import Callable, Protocol

import torch

from vlcp.settings.registry import Registry


class Sampler(Protocol):
    name: str

    def __call__(self, latents: torch.Tensor, cond: torch.Tensor, uncond: torch.Tensor,
                 generators: list[torch.Generator], config) -> torch.Tensor: ...


SAMPLERS: Registry[Callable[..., Sampler]] = Registry("sampler")
