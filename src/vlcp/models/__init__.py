"""Model loaders: they build the modules that stage functions take (stages never load checkpoints)."""
from __future__ import annotations

from pathlib import Path

import torch

from vlcp.models.generator import LatentDiffusion, PixelAdapter

__all__ = ["LatentDiffusion", "PixelAdapter", "load_model", "EMBEDDED"]

EMBEDDED = "embedded"


def load_model(spec: str | Path | None = None, device: torch.device | str = "cpu",
               dtype: torch.dtype = torch.float32) -> LatentDiffusion:
    """Build a generator from ``spec``: None / "embedded" (the committed Fashion-MNIST model), a folder
    written by ``vlcp train`` (has ``vlcp_model.json``), or a diffusers Stable Diffusion folder or hub id."""
    from vlcp.models.embedded import MODEL_INFO, load_generator

    if spec is None or str(spec) == EMBEDDED:
        return load_generator(None, device=device, dtype=dtype)
    path = Path(spec)
    if (path / MODEL_INFO).exists() and not (path / "model_index.json").exists():
        return load_generator(path, device=device, dtype=dtype)
    from vlcp.models.hub import load_stable_diffusion

    return load_stable_diffusion(str(spec), device=device, dtype=dtype)
