"""Fine-tuning a diffusers model: LoRA through peft (merged on save), checkpoints and resume."""
from __future__ import annotations

import numpy as np
import torch
from safetensors.torch import load_file

from vlcp.data import TensorDataset
from vlcp.io import read_json
from vlcp.models import load_model
from vlcp.models.hub import save_stable_diffusion
from vlcp.train import TrainConfig, train


def _data():
    rng = np.random.default_rng(0)
    data = rng.integers(0, 255, (4, 3, 64, 64), dtype=np.uint8)
    ds = TensorDataset(data, np.array([0, 1, 0, 1]), ["a", "b"], ["apple", "bee"])
    caps = {ds.file_name(i): f"a photo of a red {ds.class_names[ds.labels[i]]} number {i}" for i in range(4)}
    return ds, caps


def _unet_weights(folder):
    return load_file(str(next((folder / "unet").glob("*.safetensors"))))


def test_lora_is_merged_into_a_stock_unet(tiny_sd, tmp_path):
    ds, caps = _data()
    model = load_model(str(tiny_sd))
    config = TrainConfig(unet_steps=2, batch_size=2, lr=1e-2, lora_rank=4, ema_decay=0.99, checkpoint_every=10)
    train(model, ds, caps, tmp_path / "m", config, save=save_stable_diffusion, progress=False)
    tuned, base = _unet_weights(tmp_path / "m"), _unet_weights(tiny_sd)
    assert tuned.keys() == base.keys() and not any("lora" in k for k in tuned)
    attn = [k for k in base if k.endswith(("to_q.weight", "to_k.weight", "to_v.weight", "to_out.0.weight"))]
    assert attn and any(not torch.equal(tuned[k], base[k]) for k in attn)
    assert all(torch.equal(tuned[k], base[k]) for k in base if k not in attn)  # only the adapted layers changed
    assert load_model(str(tmp_path / "m")).unet.config.sample_size == 8


def test_checkpoint_and_resume(tiny_sd, tmp_path):
    ds, caps = _data()
    config = TrainConfig(unet_steps=2, batch_size=2, checkpoint_every=1, gradient_checkpointing=True)
    train(load_model(str(tiny_sd)), ds, caps, tmp_path / "m", config, save=save_stable_diffusion, progress=False)
    state = read_json(tmp_path / "m" / "checkpoint" / "state.json")
    assert state["step"] == 2 and (tmp_path / "m" / "checkpoint" / state["dir"] / "ema.safetensors").exists()
    model = load_model(str(tiny_sd))
    calls = []
    model.unet.register_forward_pre_hook(lambda *a: calls.append(1))
    longer = TrainConfig(unet_steps=3, batch_size=2, checkpoint_every=1)
    train(model, ds, caps, tmp_path / "m", longer, save=save_stable_diffusion, progress=False)
    assert len(calls) == 1  # steps 0 and 1 came from the checkpoint
    assert read_json(tmp_path / "m" / "checkpoint" / "state.json")["step"] == 3
