"""ImageFolder trees: ``root/train/<class>/*`` and ``root/val/<class>/*`` (or ``test``)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from vlcp.errors import VlcpError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".jpeg", ".tif", ".tiff"}


def to_tensor(img: Image.Image, resolution: int, channels: int) -> torch.Tensor:
    """Resize the short side to ``resolution``, centre-crop square, return (C, H, W) float in [0, 1]."""
    img = img.convert("L" if channels == 1 else "RGB")
    w, h = img.size
    if (w, h) != (resolution, resolution):
        scale = resolution / min(w, h)
        img = img.resize((max(resolution, round(w * scale)), max(resolution, round(h * scale))), Image.BICUBIC)
        w, h = img.size
        left, top = (w - resolution) // 2, (h - resolution) // 2
        img = img.crop((left, top, left + resolution, top + resolution))
    arr = np.asarray(img, dtype=np.float32) / 255.0
    if arr.ndim == 2:
        arr = arr[None]
    else:
        arr = arr.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(arr))


class ImageFolderDataset:
    """Images read lazily from ``<root>/<class>/*``; labels follow the sorted class folders.

    ``resolution`` (default: the first image's short side) and ``channels`` (default: 1 if the
    first image is greyscale, else 3) fix the tensor shape. ``class_names`` (prompt names) default
    to the folder names with '_' as spaces.
    """

    def __init__(self, root: str | Path, resolution: int | None = None, channels: int | None = None,
                 class_names: dict[str, str] | None = None, classes: Sequence[str] | None = None) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise VlcpError(f"{self.root}: image folder not found")
        found = sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))
        self.classes = list(classes) if classes is not None else found
        missing = [c for c in self.classes if c not in found]
        if missing:
            raise VlcpError(f"{self.root}: class folder(s) missing: {', '.join(missing[:5])}")
        if not self.classes:
            raise VlcpError(f"{self.root}: no class folders (expected <root>/<class>/<image>)")
        names = class_names or {}
        self.class_names = [names.get(c, c.replace("_", " ")) for c in self.classes]
        self.paths: list[Path] = []
        labels = []
        for label, c in enumerate(self.classes):
            files = sorted(p for p in (self.root / c).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                raise VlcpError(f"{self.root / c}: class folder has no images (add images or remove the folder)")
            self.paths += files
            labels += [label] * len(files)
        if not self.paths:
            raise VlcpError(f"{self.root}: no images found")
        self.labels = np.asarray(labels, dtype=np.int64)
        try:
            with Image.open(self.paths[0]) as first:
                self.resolution = int(resolution or min(first.size))
                self.channels = int(channels or (1 if first.mode in ("L", "1", "I;16", "I") else 3))
        except (OSError, ValueError, SyntaxError) as e:
            raise VlcpError(f"{self.paths[0]}: cannot read image ({e}); replace or remove it") from None

    def __len__(self) -> int:
        return len(self.paths)

    def file_name(self, index: int) -> str:
        return self.paths[index].relative_to(self.root.parent).as_posix()

    def images(self, indices: Sequence[int]) -> torch.Tensor:
        out = []
        for i in indices:
            try:
                with Image.open(self.paths[int(i)]) as img:
                    out.append(to_tensor(img, self.resolution, self.channels))
            except (OSError, ValueError, SyntaxError) as e:
                raise VlcpError(f"{self.paths[int(i)]}: cannot read image ({e}); replace or remove it") from None
        return torch.stack(out) if out else torch.empty(0, self.channels, self.resolution, self.resolution)


    def source_images(self, indices: Sequence[int]) -> list[Image.Image]:
        """The image files as read (RGB, or greyscale for one channel): their own size, no resize or crop."""
        out = []
        for i in indices:
            try:
                with Image.open(self.paths[int(i)]) as img:
                    out.append(img.convert("L" if self.channels == 1 else "RGB"))
            except (OSError, ValueError, SyntaxError) as e:
                raise VlcpError(f"{self.paths[int(i)]}: cannot read image ({e}); replace or remove it") from None
        return out


def find_split(root: Path, split: str) -> Path:
    """``root/train`` for train; ``root/val`` or ``root/test`` for test."""
    candidates = ["train"] if split == "train" else ["val", "test"]
    for c in candidates:
        if (root / c).is_dir():
            return root / c
    raise VlcpError(f"{root}: no {' or '.join(candidates)} folder (expected an ImageFolder tree root/train/<class>/*)")
