"""Fine-tuning a diffusers model: LoRA through peft (merged on save), checkpoints and resume."""
from __future__ import annotations

import numpy as np
import torch
from safetensors.torch import load_file

from vlcp.data import TensorDataset
from vlcp.files.atomic import read_json
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


def _checkpoint(folder):
    """(state.json, unet weights, EMA weights, optimizer state) of a run's current checkpoint."""
    ckpt = folder / "checkpoint"
    state = read_json(ckpt / "state.json")
    step = ckpt / state["dir"]
    return (state, load_file(str(step / "unet.safetensors")), load_file(str(step / "ema.safetensors")),
            torch.load(step / "optimizer.pt", weights_only=True))


def _same(a, b) -> bool:
    """Nested dicts / lists of tensors and numbers, equal exactly."""
    if torch.is_tensor(a):
        return torch.is_tensor(b) and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def test_checkpoint_and_resume(tiny_sd, tmp_path):
    """A fine-tune stopped after 2 steps resumes from the checkpoint's UNet weights, EMA weights and
    optimizer state: 2 + 1 steps end exactly where 3 uninterrupted steps do."""
    ds, caps = _data()
    three = TrainConfig(unet_steps=3, batch_size=2, checkpoint_every=1, ema_decay=0.9, gradient_checkpointing=True)
    two = TrainConfig(unet_steps=2, batch_size=2, checkpoint_every=1, ema_decay=0.9, gradient_checkpointing=True)
    train(load_model(str(tiny_sd)), ds, caps, tmp_path / "full", three, save=save_stable_diffusion, progress=False)
    train(load_model(str(tiny_sd)), ds, caps, tmp_path / "m", two, save=save_stable_diffusion, progress=False)
    state, unet2, ema2, opt2 = _checkpoint(tmp_path / "m")
    assert state["step"] == 2 and len(opt2["state"]) > 0 and not _same(unet2, ema2)

    model = load_model(str(tiny_sd))
    first_forward = []
    model.unet.register_forward_pre_hook(
        lambda m, *a: first_forward.append({k: v.detach().clone() for k, v in m.state_dict().items()})
        if not first_forward else None)
    train(model, ds, caps, tmp_path / "m", three, save=save_stable_diffusion, progress=False)
    assert _same(first_forward[0], unet2)  # step 2 started from the checkpoint's weights, not the base model's
    resumed, reference = _checkpoint(tmp_path / "m"), _checkpoint(tmp_path / "full")
    assert resumed[0]["step"] == reference[0]["step"] == 3
    for part, a, b in zip(("unet", "ema", "optimizer"), resumed[1:], reference[1:]):
        assert _same(a, b), f"resumed {part} differs from the uninterrupted run's"
    assert _same(_unet_weights(tmp_path / "m"), _unet_weights(tmp_path / "full"))  # the saved (EMA) UNet
