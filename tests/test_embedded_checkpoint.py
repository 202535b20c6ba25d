"""The committed embedded checkpoint loads offline and reproduces a pinned slice of one synthesized image."""
from pathlib import Path

import pytest
import torch

from vlcp.models.embedded import embedded_checkpoint, load_generator
from vlcp.synthesize import SynthesizeConfig, make_sampler, synthesize_batch

PROMPT = ("The sneaker is grey, low-cut and facing left. It has a flat dark sole, a wide profile, "
          "and a subtle textured pattern.")
# model-space pixels [-1, 1], rows 14–16, columns 10–13 of the image for latent seed 0, generator seed 0
PINNED = [[-0.7276, 0.2637, 0.2471, 0.1597],  # generator v1.0 (10,000 UNet steps, 55,000 images)
          [0.1747, -0.067, -0.1167, 0.0015],
          [0.0247, -0.1353, -0.0216, 0.1067]]


def test_checkpoint_is_small_and_safetensors_only():
    folder = embedded_checkpoint()
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) <= 30 * 2**20
    weights = [p for p in files if p.suffix in (".safetensors", ".bin", ".pt", ".ckpt")]
    assert weights and all(p.suffix == ".safetensors" for p in weights)


def test_pinned_slice_of_a_synthesized_image(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = load_generator()
    assert model.unet.dtype == torch.float32 and model.resolution == 32 and model.channels == 1
    latent = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    out = synthesize_batch(make_sampler(model), model, latent, [PROMPT], [0],
                           SynthesizeConfig(steps=20, guidance_scale=3.0, negative_prompt=""))
    assert out.shape == (1, 1, 32, 32)
    torch.testing.assert_close(out[0, 0, 14:17, 10:14], torch.tensor(PINNED), atol=2e-2, rtol=0)
