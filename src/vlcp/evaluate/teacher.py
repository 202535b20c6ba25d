"""Networks trained by vlcp on the full real training set: herding / k-center feature extractors and
RDED teachers. Nothing is downloaded; weights are cached as safetensors and loaded with safetensors only.

Recipe (``FULL``): SGD lr 0.01, momentum 0.9, weight decay 5e-4, batch 256, lr ×0.1 for the second
half, random crop (shift ≤ 1/8 side) + horizontal flip per image, cross-entropy, inputs normalised with
the training set's mean and std.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file

from vlcp.data import ImageDataset
from vlcp.errors import VlcpError
from vlcp.evaluate.networks import EvalNet, build_network
from vlcp.evaluate.protocols import Protocol
from vlcp.evaluate.tensors import channel_stats, split_tensors
from vlcp.evaluate.trainer import Normalizer, Rng, train_and_test

FULL = Protocol(
    name="full", title="training on the full real training set",
    default_epochs=lambda ipc, k: 5, default_batch_size=lambda ipc, k: 256,
    optimizer="sgd", lr=0.01, momentum=0.9, weight_decay=5e-4, schedule="half",
    augment="crop_flip", normalize_first=True, loss="ce")


def describe(model: str, epochs: int) -> str:
    return (f"{model} trained by vlcp on the full training set, {epochs} epoch{'s' if epochs != 1 else ''} "
            "(SGD lr 0.01, batch 256, crop+flip)")


def _metadata(train: ImageDataset, model: str, epochs: int, seed: int, norm: str, mean, std) -> dict[str, str]:
    return {"vlcp": "full-training-set network", "model": model, "epochs": str(epochs), "seed": str(seed),
            "norm": norm, "images": str(len(train)), "classes": json.dumps(list(train.classes)),
            "channels": str(train.channels), "resolution": str(train.resolution),
            "mean": json.dumps(list(mean)), "std": json.dumps(list(std))}


def load_cached(path: Path, expect: dict[str, str]) -> dict[str, torch.Tensor] | None:
    """The cached state dict when ``path`` holds weights made with exactly ``expect``; else None."""
    if not path.exists():
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        if any(meta.get(k) != v for k, v in expect.items()):
            return None
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError):
        return None


def train_on_full(train: ImageDataset, *, model: str = "convnet3", epochs: int = 5, seed: int = 0,
                  device: str | torch.device = "cpu", norm: str = "instance", mean=None, std=None,
                  cache: Path | None = None, progress: bool = True) -> tuple[EvalNet, dict[str, str]]:
    """A ``model`` network trained on all of ``train`` (or loaded from ``cache`` when it matches).

    Returns (network in eval mode on ``device``, metadata: model, epochs, seed, mean, std, ...).
    """
    if epochs < 1:
        raise VlcpError(f"setting 'epochs': must be at least 1 to train {model} on the full training set")
    if mean is None or std is None:
        mean, std = channel_stats(train)
    meta = _metadata(train, model, epochs, seed, norm, mean, std)
    device = torch.device(device)
    net = build_network(model, train.channels, len(train.classes), train.resolution, norm=norm, seed=seed)
    state = load_cached(Path(cache), meta) if cache is not None else None
    if state is not None:
        net.load_state_dict(state)
        meta["cached"] = str(cache)
        return net.to(device).eval(), meta
    x, y = split_tensors(train)
    if len(x) == 0:
        raise VlcpError("the training set is empty")
    train_and_test(net, x, y, None, None, FULL, epochs=epochs, batch_size=256, rng=Rng(seed), mean=mean, std=std,
                   device=device, progress=progress, desc=f"{model} on the full training set")
    if cache is not None:
        tensors = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
        from vlcp.tensorfile import save_safetensors

        save_safetensors(cache, tensors, {k: str(v) for k, v in meta.items()})  # sorted: byte-reproducible
    return net.eval(), meta


@torch.inference_mode()
def extract_features(net: EvalNet, images: torch.Tensor, mean, std, device: str | torch.device = "cpu",
                     batch_size: int = 512) -> torch.Tensor:
    """(n, d) float32 penultimate features of ``images`` (uint8 or [0, 1] float), on the CPU."""
    device = torch.device(device)
    fmt = torch.channels_last if device.type == "cpu" else torch.contiguous_format  # faster CPU inference
    model = copy.deepcopy(net).to(device=device, memory_format=fmt).eval()
    norm = Normalizer(mean, std, device)
    out = [model.features(norm(images[i:i + batch_size].to(device)).contiguous(memory_format=fmt)).float().cpu()
           for i in range(0, len(images), batch_size)]
    return torch.cat(out) if out else torch.empty(0, 0)
