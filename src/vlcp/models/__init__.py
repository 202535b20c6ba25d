"""Model loaders: they build the modules that stage functions take (stages never load checkpoints)."""
from __future__ import annotations

from pathlib import Path

import torch

from vlcp.errors import VlcpError
from vlcp.models.generator import LatentDiffusion, PixelAdapter

__all__ = ["LatentDiffusion", "PixelAdapter", "load_model", "EMBEDDED"]

EMBEDDED = "embedded"


def load_model(spec: str | Path | None = None, device: torch.device | str = "cpu",
               dtype: torch.dtype = torch.float32) -> LatentDiffusion:
    """Build a generator from ``spec``: None / "embedded" (the committed Fashion-MNIST model), a folder
    written by ``vlcp train`` (has ``vlcp_model.json``), or a diffusers Stable Diffusion folder or hub id."""
    model = _load(spec, device, dtype)
    model.spec = EMBEDDED if spec is None else str(spec)  # recorded as the run's model (vlcp.run.state)
    return model


def _load(spec, device, dtype) -> LatentDiffusion:
    from vlcp.models.embedded import MODEL_INFO, load_generator

    if spec is None or str(spec) == EMBEDDED:
        return load_generator(None, device=device, dtype=dtype)
    path = Path(spec)
    if _looks_local(str(spec)) and not path.exists():
        raise VlcpError(f"{spec}: model folder not found (a local path; hub ids look like 'org/name')")
    try:
        if (path / MODEL_INFO).exists() and not (path / "model_index.json").exists():
            return load_generator(path, device=device, dtype=dtype)
        from vlcp.models.hub import load_stable_diffusion

        return load_stable_diffusion(str(spec), device=device, dtype=dtype)
    except VlcpError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError, TypeError) as e:
        what = " ".join(str(e).split())[:240]
        raise VlcpError(f"{spec}: cannot load the model ({type(e).__name__}: {what}); check that its weights and "
                        f"config files are complete, or retrain / re-download it") from None


def _looks_local(spec: str) -> bool:
    """A path rather than a hub id: absolute, ./ or ../, ~, or more than two parts, or existing."""
    return (spec.startswith(("/", "./", "../", "~", ".\\")) or spec.count("/") > 1 or Path(spec).exists()
            or spec in (".", ".."))
