"""Diffusers folders / hub ids: stock classes in, a diffusers folder out."""
from __future__ import annotations

import pytest
import torch

from vlcp.errors import VlcpError


def test_load_builds_stock_classes(tiny_sd):
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel

    from vlcp.models import load_model
    from vlcp.models.clip_text import CLIPTextEncoder

    m = load_model(str(tiny_sd))
    assert type(m.vae) is AutoencoderKL and type(m.unet) is UNet2DConditionModel
    assert type(m.scheduler) is DDPMScheduler and m.scheduler.config.beta_schedule == "scaled_linear"
    assert m.scheduler.config.steps_offset == 1 and m.scheduler.config.clip_sample is False
    assert isinstance(m.text_encoder, CLIPTextEncoder) and type(m.text_encoder.model) is CLIPTextModel
    assert (m.resolution, m.channels, m.latent_scale) == (64, 3, pytest.approx(0.18215))
    assert not any(p.requires_grad for p in m.unet.parameters())


def test_save_roundtrip_at_another_resolution(tiny_sd, tmp_path):
    from diffusers import StableDiffusionPipeline

    from vlcp.models import load_model
    from vlcp.models.hub import save_stable_diffusion, set_resolution

    m = load_model(str(tiny_sd))
    set_resolution(m, 32)  # SD v1.5 at 256 px, in miniature
    save_stable_diffusion(m, tmp_path / "ft")
    assert (tmp_path / "ft" / "model_index.json").exists() and (tmp_path / "ft" / "vlcp_model.json").exists()
    back = load_model(str(tmp_path / "ft"))
    assert back.resolution == 32 and back.unet.config.sample_size == 4
    for a, b in zip(back.unet.state_dict().values(), m.unet.state_dict().values()):
        assert torch.equal(a, b)
    # the folder is a stock Stable Diffusion folder
    pipe = StableDiffusionPipeline.from_pretrained(tmp_path / "ft")
    assert pipe.unet.config.sample_size == 4 and pipe.tokenizer.model_max_length == 77
    with pytest.raises(VlcpError, match="multiple"):
        set_resolution(m, 30)


def test_save_in_half_precision_keeps_the_model(tiny_sd, tmp_path):
    from vlcp.models import load_model
    from vlcp.models.hub import save_stable_diffusion

    m = load_model(str(tiny_sd))
    save_stable_diffusion(m, tmp_path / "h", dtype=torch.float16)
    assert next(m.unet.parameters()).dtype == torch.float32
    back = load_model(str(tmp_path / "h"), dtype=torch.float16)
    assert next(back.unet.parameters()).dtype == torch.float16
    assert next(back.text_encoder.model.parameters()).dtype == torch.float16


def test_not_a_diffusers_folder(tmp_path):
    from vlcp.models import load_model

    (tmp_path / "x").mkdir()
    with pytest.raises(VlcpError, match="not a diffusers"):
        load_model(str(tmp_path / "x"))


def test_hub_id_not_in_cache_is_a_clear_error(monkeypatch, tmp_path):
    import huggingface_hub.constants

    from vlcp.models.hub import load_stable_diffusion

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(VlcpError, match="hub id"):
        load_stable_diffusion("vlcp-tests/no-such-model")
