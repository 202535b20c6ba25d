"""Shared fixtures: the offline MiniLM text encoder and a tiny embedded-shaped generator."""
from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def minilm():
    from vlcp.models.text import load_minilm

    return load_minilm(max_length=32)


@pytest.fixture()
def tiny_model(minilm):
    """A tiny random generator with the embedded model's structure (1×32×32 pixels, 4×16×16 latents)."""
    from vlcp.models.embedded import build_embedded

    torch.manual_seed(0)
    return build_embedded(minilm, vae_blocks=(32, 32), unet_blocks=(32, 32))
