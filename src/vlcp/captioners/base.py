"""The captioner interface and registry (``attributes`` offline; ``llava`` via transformers)."""
from __future__ import annotations

from typing import Protocol, Sequence

import torch

from vlcp.settings.registry import Registry

PAPER_PROMPT = ("Describe the physical appearance of the {CLASSNAME} in the image. "
                "Include details about its shape, posture, color, and any distinct features.")


class Captioner(Protocol):
    """Describes images. ``images``: (b, C, H, W) float32 in [0, 1]; ``class_names``: one per image.
    Returns one caption per image. Deterministic unless the captioner says otherwise.

    A captioner with ``reads_source_images = True`` is given PIL images at the files' own size and
    aspect instead (``vlcp.data.base.source_images``), and sizes them itself."""

    def caption(self, images: torch.Tensor, class_names: Sequence[str]) -> list[str]: ...


# name -> factory(**options) -> Captioner
CAPTIONERS: Registry = Registry("captioner")
