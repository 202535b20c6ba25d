"""Writing image tensors as PNG files (atomically) in ImageFolder layout."""
from __future__ import annotations

import hashlib
import io
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


def save_png(image: torch.Tensor, path: str | Path) -> str:
    """Write ``image`` ((C, H, W) in [0, 1]) to ``path`` atomically; returns the sha256 of the bytes written
    (``png_intact`` checks a file against it). NaN or inf values stop with one line."""
    path = Path(path)
    if not bool(torch.isfinite(image).all()):
        raise VlcpError(f"{path}: the generated image holds NaN or infinite values (a float16 model can overflow: "
                        "rerun with --dtype float32; else check the model and prototypes)")
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    to_pil(image).save(buf, format="PNG")
    data = buf.getvalue()
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return hashlib.sha256(data).hexdigest()


def png_intact(path: Path, sha256: str | None) -> bool:
    """True when the image file at ``path`` is there as written: its bytes' sha256 equals ``sha256``, or, for a
    record without one (written before vlcp recorded digests), the file opens and decodes as an image."""
    if not path.is_file():
        return False
    if sha256 is not None:
        return hashlib.sha256(path.read_bytes()).hexdigest() == sha256
    try:
        with Image.open(path) as img:
            img.load()
        return True
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return False
