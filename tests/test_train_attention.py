"""The ``attention`` training setting: 'classic' trains with diffusers' AttnProcessor (the speed fix for
bf16 on a CPU), gives the UNet its own processors back, and trains the same weights as 'sdpa' up to
float rounding (same function, different kernels)."""
import sys
from pathlib import Path

import pytest
import torch
from diffusers.models.attention_processor import AttnProcessor

from vlcp.errors import VlcpError
from vlcp.train import TrainConfig, train

sys.path.insert(0, str(Path(__file__).parent))
from train_child import build, data  # noqa: E402

CONFIG = dict(unet_steps=3, batch_size=4, lr=1e-3, ema_decay=0.0, checkpoint_every=100, seed=1)


def _train(minilm, tmp_path, attention, seen=None):
    ds, caps = data()
    model = build(minilm)
    if seen is not None:
        model.unet.register_forward_pre_hook(
            lambda m, a: seen.append({type(p) for p in m.attn_processors.values()}))
    train(model, ds, caps, tmp_path / attention, TrainConfig(attention=attention, **CONFIG),
          save=lambda m, f, d: None, progress=False)
    return model


def test_classic_attention_trains_with_attn_processor_and_restores_the_own(minilm, tmp_path):
    seen = []
    model = _train(minilm, tmp_path, "classic", seen)
    assert seen and all(kinds == {AttnProcessor} for kinds in seen)
    assert AttnProcessor not in {type(p) for p in model.unet.attn_processors.values()}


def test_classic_and_sdpa_compute_the_same_unet(minilm):
    unet = build(minilm).unet.eval()
    gen = torch.Generator().manual_seed(0)
    z, ctx = torch.randn(3, 4, 8, 8, generator=gen), torch.randn(3, 32, minilm.dim, generator=gen)
    t = torch.tensor([10, 500, 990])
    with torch.no_grad():
        ref = unet(z, t, encoder_hidden_states=ctx).sample
        unet.set_attn_processor(AttnProcessor())
        classic = unet(z, t, encoder_hidden_states=ctx).sample
    assert torch.allclose(ref, classic, atol=1e-5) and ref.abs().max() > 1e-2


def test_unknown_attention_is_refused():
    with pytest.raises((VlcpError, ValueError), match="attention"):
        TrainConfig(attention="flash")
