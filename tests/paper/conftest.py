"""Session fixtures of the paper-configuration tests: tiny random models saved once (no network)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tiny import make_imagenet_tree, make_tiny_llava, make_tiny_sd  # noqa: E402

from vlcp.data.presets import IMAGENETTE  # noqa: E402


@pytest.fixture(scope="session")
def tiny_sd(tmp_path_factory) -> Path:
    """A tiny SD-v1.5-shaped diffusers folder (64 px, latents 4×8×8, CLIP width 32)."""
    return make_tiny_sd(tmp_path_factory.mktemp("tiny-sd") / "sd")


@pytest.fixture(scope="session")
def tiny_llava(tmp_path_factory) -> Path:
    return make_tiny_llava(tmp_path_factory.mktemp("tiny-llava") / "llava")


@pytest.fixture(scope="session")
def imagenet_root(tmp_path_factory) -> Path:
    """An ImageNet-layout tree with ImageNette's classes: 4 train and 2 val images for the first two
    classes, one image for the others, plus a class outside the preset."""
    return make_imagenet_tree(tmp_path_factory.mktemp("imagenet") / "root", IMAGENETTE[:2], n_train=4, n_val=2,
                              all_classes=IMAGENETTE + ["n09999999"])


@pytest.fixture(scope="session")
def clip_encoder(tiny_sd):
    from vlcp.models.clip_text import load_clip_text

    return load_clip_text(str(tiny_sd))
