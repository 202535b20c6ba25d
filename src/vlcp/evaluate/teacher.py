"""Networks trained on the full real training set: herding / k-center feature extractors and RDED
teachers. ``train_on_full`` trains one (cached as safetensors); ``load_teacher`` reads a teacher trained
elsewhere (``vlcp evaluate --teacher PATH``: safetensors, or a torch state dict read with
``weights_only=True``; the reference codes' parameter names are renamed by ``vlcp.evaluate.layouts``).
Nothing is downloaded; no code runs from a weights file.

Recipe (``FULL``): SGD lr 0.01, momentum 0.9, weight decay 5e-4, batch 256, lr ×0.1 for the second
half, random crop (shift ≤ 1/8 side) + horizontal flip per image, cross-entropy, inputs normalised with
the training set's mean and std.
"""
from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Mapping

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file

from vlcp.data import ImageDataset
from vlcp.errors import VlcpError
from vlcp.evaluate.layouts import to_vlcp_layout
from vlcp.evaluate.networks import NORMS, EvalNet, build_network
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
    """The cached state dict when ``path`` holds finite weights made with exactly ``expect``; else None
    (the caller retrains and overwrites it: a damaged or edited cache file never scores a row)."""
    if not path.exists():
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        if any(meta.get(k) != v for k, v in expect.items()):
            return None
        state = load_file(str(path))
        finite = all(bool(torch.isfinite(t).all()) for t in state.values() if t.is_floating_point())
        return state if finite else None
    except (SafetensorError, OSError, ValueError):
        return None


def train_on_full(train: ImageDataset, *, model: str = "convnet3", epochs: int = 5, seed: int = 0,
                  device: str | torch.device = "cpu", norm: str = "instance", mean=None, std=None,
                  cache: Path | None = None, progress: bool = True,
                  compile: bool = False) -> tuple[EvalNet, dict[str, str]]:
    """A ``model`` network trained on all of ``train`` (or loaded from ``cache`` when it matches).

    ``compile``: ``torch.compile`` the training step (same recipe and cache key; faster on a CPU).

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
                   device=device, progress=progress, desc=f"{model} on the full training set", compile=compile)
    if cache is not None:
        tensors = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
        from vlcp.files.tensors import save_safetensors

        save_safetensors(cache, tensors, {k: str(v) for k, v in meta.items()})  # sorted: byte-reproducible
    return net.eval(), meta


def weights_digest(state: Mapping[str, torch.Tensor]) -> str:
    """sha256 (16 hex digits) of a state dict's names, dtypes, shapes and bytes: a teacher's identity."""
    h = hashlib.sha256()
    for k in sorted(state):
        t = state[k].detach().cpu().contiguous()
        h.update(f"{k}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:16]


STATE_KEYS = ("model", "state_dict", "model_state_dict", "net")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a weights file: safetensors, or ``torch.load(weights_only=True)`` of a state dict
    (also nested under ``model`` / ``state_dict``, as RDED's and torchvision's checkpoints are)."""
    path = Path(path)
    if not path.exists():
        raise VlcpError(f"setting 'teacher': {path}: file not found")
    if not path.is_file():
        raise VlcpError(f"setting 'teacher': {path}: not a regular file (a folder, device or pipe); "
                        "give the path of a weights file (.safetensors or .pt)")
    state = _read_weights(path)
    from vlcp.files.tensors import check_finite

    check_finite(state, f"setting 'teacher': {path}", "retrain the teacher or give other weights")
    return state


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as e:
            raise VlcpError(f"setting 'teacher': {path}: not a readable safetensors file ({e})") from None
    from vlcp.files.tensors import torch_load_weights

    obj = torch_load_weights(path, "setting 'teacher': ", "save the weights alone (torch.save(model.state_dict(), "
                             "PATH)) or as safetensors")
    for key in STATE_KEYS:
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
            break
    if not isinstance(obj, Mapping) or not obj or not all(torch.is_tensor(v) for v in obj.values()):
        raise VlcpError(f"setting 'teacher': {path}: holds no state dict of tensors (top-level keys: "
                        f"{', '.join(map(str, list(obj)[:8])) if isinstance(obj, Mapping) else type(obj).__name__})")
    return {str(k): v for k, v in obj.items()}


def _mismatch(net: torch.nn.Module, state: Mapping[str, torch.Tensor]) -> list[str]:
    """Differences between ``net``'s parameter names / shapes and ``state`` (empty: it loads)."""
    own = net.state_dict()
    missing = sorted(k for k in set(own) - set(state) if not k.endswith("num_batches_tracked"))  # old BN files
    extra = sorted(set(state) - set(own))
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in sorted(set(own) & set(state))
              if state[k].shape != own[k].shape]
    out = []
    if missing:
        out.append(f"missing {', '.join(missing[:3])}{' …' if len(missing) > 3 else ''}")
    if extra:
        out.append(f"unexpected {', '.join(extra[:3])}{' …' if len(extra) > 3 else ''}")
    if shapes:
        out.append(f"shape {', '.join(shapes[:2])}{' …' if len(shapes) > 2 else ''}")
    return out


def load_teacher(path: str | Path, model: str, channels: int, num_classes: int, resolution: int,
                 norm: str = "batch") -> tuple[EvalNet, dict]:
    """The ``model`` network (``channels`` × ``resolution``², ``num_classes`` outputs) with the weights in ``path``.

    Its normalisation layers follow the weights (running statistics: batch norm; affine only: instance
    norm; none), trying ``norm`` first. Returns (network in eval mode, metadata: source, model, norm, digest).
    """
    state = to_vlcp_layout(model, read_state_dict(path))
    problems = {}
    for kind in [norm] + [n for n in NORMS if n != norm]:
        net = build_network(model, channels, num_classes, resolution, norm=kind)
        problems[kind] = _mismatch(net, state)
        if not problems[kind]:
            break
    else:
        head = state.get("head.weight")
        if head is not None and head.ndim == 2 and head.shape[0] != num_classes:
            raise VlcpError(f"setting 'teacher': {path}: the teacher's classifier has {head.shape[0]} outputs but the "
                            f"evaluation has {num_classes} classes (a teacher for exactly these classes is needed)")
        raise VlcpError(f"setting 'teacher': {path}: the weights do not fit {model} ({channels}×{resolution}×"
                        f"{resolution}, {num_classes} classes, {norm} norm): {'; '.join(problems[norm])} "
                        "(set teacher_model to the teacher's network)")
    net.load_state_dict(state)
    return net.eval(), {"source": str(path), "model": model, "norm": kind, "digest": weights_digest(state)}


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
