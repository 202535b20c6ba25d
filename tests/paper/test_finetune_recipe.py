"""Issue 9 items 1–2 in fine-tuning: per-length UNet calls, gradient accumulation and clipping."""
from __future__ import annotations

import json
import numpy as np
import torch
from safetensors.torch import load_file

from vlcp.data import TensorDataset
from vlcp.files.atomic import read_json
from vlcp.models import load_model
from vlcp.models.hub import save_stable_diffusion
from vlcp.train import TrainConfig, predict_by_length, train


def _data():
    rng = np.random.default_rng(0)
    data = rng.integers(0, 255, (4, 3, 64, 64), dtype=np.uint8)
    ds = TensorDataset(data, np.array([0, 1, 0, 1]), ["a", "b"], ["apple", "bee"])
    caps = {ds.file_name(i): " ".join(["dog"] * (10 + 60 * i)) for i in range(4)}  # 1 to 3 chunks
    return ds, caps


def test_prediction_does_not_depend_on_batch_neighbours(tiny_sd, clip_encoder):
    unet = load_model(str(tiny_sd)).unet
    short, long = clip_encoder.encode_each(["a grey dog", " ".join(["dog"] * 200)])
    noisy = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([500, 300])
    with torch.no_grad():
        pred = predict_by_length(unet, noisy, t, [short, long])
        alone = [unet(noisy[i:i + 1], t[i:i + 1], encoder_hidden_states=c[None]).sample[0]
                 for i, c in enumerate((short, long))]
        padded = unet(noisy, t, encoder_hidden_states=clip_encoder.collate([short, long])).sample
    torch.testing.assert_close(pred[0], alone[0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(pred[1], alone[1], rtol=1e-4, atol=1e-5)
    assert (padded[0] - alone[0]).abs().max() > 1e-3  # what one padded call did to the short caption


def test_accumulation_counts_optimizer_steps(tiny_sd, tmp_path):
    ds, caps = _data()
    model = load_model(str(tiny_sd))
    calls = []
    model.unet.register_forward_pre_hook(lambda *a: calls.append(1))
    config = TrainConfig(unet_steps=2, batch_size=2, gradient_accumulation_steps=3, checkpoint_every=1)
    train(model, ds, caps, tmp_path / "m", config, save=save_stable_diffusion, progress=False)
    assert read_json(tmp_path / "m" / "checkpoint" / "state.json")["step"] == 2
    assert len(calls) >= 6  # 3 batches per optimizer step (more calls when a batch mixes lengths)


def _change(tiny_sd, tmp_path, name, **kw):
    ds, caps = _data()
    config = TrainConfig(unet_steps=1, batch_size=2, lr=1e-3, ema_decay=0.0, checkpoint_every=10, **kw)
    train(load_model(str(tiny_sd)), ds, caps, tmp_path / name, config, save=save_stable_diffusion, progress=False)
    tuned = load_file(str(next((tmp_path / name / "unet").glob("*.safetensors"))))
    base = load_file(str(next((tiny_sd / "unet").glob("*.safetensors"))))
    return max((tuned[k] - base[k]).abs().max().item() for k in base)


def test_gradient_clipping_limits_the_update(tiny_sd, tmp_path):
    free = _change(tiny_sd, tmp_path, "free")
    clipped = _change(tiny_sd, tmp_path, "clipped", max_grad_norm=1e-12)
    assert free > 5e-4 and clipped < free / 10  # Adam's first step is ~lr; a 1e-12 gradient is below eps


def test_saved_model_keeps_the_base_sampling_scheduler(tiny_sd, tmp_path):
    """Issue 9 item 4: RUN/model samples with the base model's scheduler (PNDM for SD v1.5), not DDPM."""
    from diffusers import PNDMScheduler, StableDiffusionPipeline

    ds, caps = _data()
    config = TrainConfig(unet_steps=1, batch_size=2, checkpoint_every=10)
    train(load_model(str(tiny_sd)), ds, caps, tmp_path / "m", config, save=save_stable_diffusion, progress=False)
    pipe = StableDiffusionPipeline.from_pretrained(tmp_path / "m", safety_checker=None, requires_safety_checker=False)
    base = StableDiffusionPipeline.from_pretrained(tiny_sd, safety_checker=None, requires_safety_checker=False)
    assert type(pipe.scheduler) is PNDMScheduler
    assert dict(pipe.scheduler.config) == dict(base.scheduler.config)
    assert load_model(str(tmp_path / "m")).scheduler.config.num_train_timesteps == 1000  # training still DDPM


def test_a_missing_caption_after_5000_images_fails_before_training(tmp_path):
    """Issue 9 item 5: every caption is checked up front (the 5,001st image's too)."""
    import pytest

    from vlcp.errors import VlcpError

    n = 5002
    ds = TensorDataset(np.zeros((n, 1, 4, 4), dtype=np.uint8), np.zeros(n, dtype=np.int64), ["a"], ["apple"])
    caps = {ds.file_name(i): "an apple" for i in range(n - 1)}
    with pytest.raises(VlcpError, match="1 training image") as e:
        train(None, ds, caps, tmp_path / "m", TrainConfig(unet_steps=1), progress=False)
    assert ds.file_name(n - 1) in str(e.value)


def test_saved_unet_equals_the_ema_weights(tiny_sd, tmp_path):
    """The saved UNet is the EMA shadow (checkpointed at the last step), not the raw trained weights."""
    ds, caps = _data()
    config = TrainConfig(unet_steps=2, batch_size=2, lr=1e-2, ema_decay=0.5, checkpoint_every=1)
    train(load_model(str(tiny_sd)), ds, caps, tmp_path / "m", config, save=save_stable_diffusion, progress=False)
    ckpt = tmp_path / "m" / "checkpoint"
    last = ckpt / json.loads((ckpt / "state.json").read_text())["dir"]  # the last checkpoint's folder
    ema = load_file(str(last / "ema.safetensors"))
    raw = load_file(str(last / "unet.safetensors"))
    unet = load_model(str(tmp_path / "m")).unet
    names = [n for n, _ in unet.named_parameters()]
    saved = dict(unet.named_parameters())
    assert len(ema) == len(names)
    for i, n in enumerate(names):
        torch.testing.assert_close(saved[n].detach(), ema[str(i)], rtol=0, atol=0)
    assert any(not torch.equal(saved[n].detach(), raw[n]) for n in names)  # EMA differs from the raw weights
