"""Issue 9 added tests: img2img's first timestep and the strength → 0 latent round trip."""
from __future__ import annotations

import pytest
import torch

from vlcp.samplers.img2img import make_pipeline
from vlcp.synthesize import SynthesizeConfig, decode_latents, make_sampler, synthesize_batch


@pytest.fixture(scope="module")
def sd_model(tiny_sd):
    from vlcp.models import load_model

    return load_model(str(tiny_sd))


def test_first_timestep_is_681_for_50_steps_at_strength_07(sd_model):
    pipe = make_pipeline(sd_model)
    pipe.scheduler.set_timesteps(50)
    timesteps, n = pipe.get_timesteps(50, 0.7, "cpu")
    assert (int(timesteps[0]), n) == (681, 35)  # SD's schedule, DDIM with steps_offset 1


def test_tiny_strength_gives_the_vae_reconstruction(sd_model):
    lat = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    pipe = make_sampler(sd_model)
    cfg = SynthesizeConfig(strength=0.02, steps=50, guidance_scale=1.0)  # one step from t = 1
    out = synthesize_batch(pipe, sd_model, lat, ["a dog", "a cat"], [0, 1], cfg)
    adapter = sd_model.adapter(64, 3)
    ref = decode_latents(sd_model, lat, adapter)
    near = (adapter.to_data(out) - ref).abs().mean()
    assert near < 0.01
    far = synthesize_batch(pipe, sd_model, lat, ["a dog", "a cat"], [0, 1], SynthesizeConfig(strength=0.9, steps=10))
    assert (adapter.to_data(far) - ref).abs().mean() > 5 * near  # the comparison can fail
