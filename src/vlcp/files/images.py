"""Writing image tensors as PNG files (atomically) in ImageFolder layout."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vlcp.errors import VlcpError


def to_pil(image: torch.Tensor) -> Image.Image:
    """(C, H, W) float in [0, 1] → PIL image (mode L for one channel, RGB for three)."""
    arr = (image.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    if arr.shape[0] == 1:
        return Image.fromarray(arr[0], mode="L")
    return Image.fromarray(np.ascontiguousarray(arr.transpose(1, 2, 0)), mode="RGB")


def save_png(image: torch.Tensor, path: str | Path) -> None:
    """Write ``image`` ((C, H, W) in [0, 1]) to ``path`` atomically; NaN or inf values stop with one line."""
    path = Path(path)
    if not bool(torch.isfinite(image).all()):
        raise VlcpError(f"{path}: the generated image holds NaN or infinite values (a float16 model can overflow: "
                        "rerun with --dtype float32; else check the model and prototypes)")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    to_pil(image).save(tmp, format="PNG")
    os.replace(tmp, path)
