"""Train one network under a protocol and score it on the test set.

Everything lives in tensors on the chosen device: the training images (float in [0, 1], or uint8) are
indexed per batch, normalised and augmented as whole batches; the test set is scored in large batches
without gradients, only at the protocol's test points. All randomness (batch order, augmentation,
CutMix) comes from one ``Rng`` built from the run's seed: no global seeding.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from vlcp.run.progress import progress_bar as tqdm  # a bar on a terminal, plain lines otherwise
import vlcp.evaluate.dsa as dsa_ops
import vlcp.evaluate.transforms as T
from vlcp.evaluate.protocols import Protocol


class Rng:
    """A run's random streams: a CPU ``torch.Generator`` and a numpy ``Generator``, both from ``seed``."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self.torch = torch.Generator().manual_seed(self.seed)
        self.np = np.random.default_rng(self.seed)


@dataclass
class RunOutcome:
    """One trained network: final test accuracy (%) and, where the protocol tests during training, the best."""

    seed: int
    final: float
    best: float
    best_epoch: int
    tests: list[tuple[int, float]] = field(default_factory=list)
    train_loss: float = float("nan")
    seconds: float = 0.0
    lr: float | None = None  # the lr chosen from a protocol's lr grid (ddranking_best); None: the protocol's

    def to_dict(self) -> dict:
        d = {"seed": self.seed, "accuracy": round(self.final, 4), "best": round(self.best, 4),
             "best_epoch": self.best_epoch, "train_loss": round(self.train_loss, 6),
             "seconds": round(self.seconds, 2)}
        if self.lr is not None:
            d["lr"] = self.lr
        return d


def to_float(x: torch.Tensor) -> torch.Tensor:
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()


class Normalizer:
    def __init__(self, mean, std, device: torch.device) -> None:
        self.mean = torch.tensor(list(mean), dtype=torch.float32, device=device).view(1, -1, 1, 1)
        self.std = torch.tensor(list(std), dtype=torch.float32, device=device).view(1, -1, 1, 1)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return (to_float(x) - self.mean) / self.std


def batch_transform(protocol: Protocol, norm: Normalizer, *, dc_augment: bool = False
                    ) -> Callable[[torch.Tensor, Rng], torch.Tensor]:
    """The protocol's per-batch input pipeline: raw batch (uint8 or [0, 1]) → network input."""
    aug = protocol.augment

    def run(x: torch.Tensor, rng: Rng) -> torch.Tensor:
        if protocol.normalize_first:
            x = norm(x)
            if aug == "dsa":
                x = dsa_ops.dsa_augment(x, rng.torch)
            elif aug == "crop_flip":
                x = dsa_ops.rand_flip(dsa_ops.rand_crop(x, rng.torch), rng.torch)
            if dc_augment:
                x = dsa_ops.dc_augment(x, rng.torch)
            return x
        x = to_float(x)
        if aug in ("minimax", "rded"):
            x = T.random_resized_crop(x, rng.torch, scale=(0.5, 1.0))
            x = T.random_hflip(x, rng.torch)
        if aug == "minimax":
            x = T.color_jitter(x, rng.torch, 0.4, 0.4, 0.4)
            x = T.lighting(x, rng.torch, 0.1)
        return norm(x)

    return run


def make_optimizer(protocol: Protocol, net: nn.Module) -> torch.optim.Optimizer:
    if protocol.optimizer == "adamw":
        decay = [p for n, p in net.named_parameters() if "weight" in n and p.ndim > 1]
        rest = [p for n, p in net.named_parameters() if not ("weight" in n and p.ndim > 1)]
        return torch.optim.AdamW([{"params": decay}, {"params": rest, "weight_decay": 0.0}], lr=protocol.lr,
                                 betas=(0.9, 0.999), weight_decay=protocol.weight_decay)
    return torch.optim.SGD(net.parameters(), lr=protocol.lr, momentum=protocol.momentum,
                           weight_decay=protocol.weight_decay)


@torch.inference_mode()
def test_accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: Normalizer, batch_size: int,
                  device: torch.device) -> float:
    """Top-1 accuracy (%) of ``net`` on (x, y) in batches, without gradients.

    On the CPU a channels-last copy of the network scores the batches (about 1.5× faster inference with
    oneDNN here; training stays in the default layout, which is faster for the backward pass).
    """
    fmt = torch.channels_last if device.type == "cpu" else torch.contiguous_format
    model = copy.deepcopy(net).to(memory_format=fmt) if fmt is torch.channels_last else net
    was_training = net.training
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=device)
    for i in range(0, len(x), batch_size):
        xb = norm(x[i:i + batch_size].to(device, non_blocking=True)).contiguous(memory_format=fmt)
        yb = y[i:i + batch_size].to(device, non_blocking=True)
        correct += (model(xb).argmax(dim=1) == yb).sum()
    net.train(was_training)
    return 100.0 * int(correct) / max(1, len(x))


class _Clock:
    """Accumulates seconds per part into ``timings`` (a no-op when it is None)."""

    def __init__(self, timings: dict | None, device: torch.device) -> None:
        self.timings = timings
        self.cuda = device.type == "cuda"
        self.t = 0.0
        if timings is not None:
            for k in ("data", "forward", "backward", "step", "test"):
                timings.setdefault(k, 0.0)

    def start(self) -> None:
        if self.timings is not None:
            if self.cuda:
                torch.cuda.synchronize()
            self.t = time.perf_counter()

    def lap(self, part: str) -> None:
        if self.timings is not None:
            if self.cuda:
                torch.cuda.synchronize()
            now = time.perf_counter()
            self.timings[part] += now - self.t
            self.t = now


def train_and_test(net: nn.Module, train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor | None,
                   test_y: torch.Tensor | None, protocol: Protocol, *, epochs: int, batch_size: int, rng: Rng,
                   mean, std, device: torch.device, teacher: nn.Module | None = None, dc_augment: bool = False,
                   test_batch_size: int = 512, compile: bool = False, progress: bool = False,
                   desc: str = "train", timings: dict | None = None, amp: bool = False) -> RunOutcome:
    """Train ``net`` (already initialised) on (train_x, train_y) under ``protocol`` and test it.

    ``train_x``: (n, C, H, W) float in [0, 1] or uint8, ``train_y``: (n,) int64; both ideally already on
    ``device``. ``test_x`` likewise (None: train only). ``teacher`` is needed by soft-label protocols (``kd_cutmix``).
    ``timings``: when a dict, seconds spent in data (indexing + augmentation), forward (incl. loss), backward,
    step, test and total are added to it — for benchmarks (on CUDA this synchronises around each part).
    ``amp``: bf16 autocast for the forward pass on CUDA (the reference protocols train in fp32).
    """
    start = time.perf_counter()
    net = net.to(device).train()
    norm = Normalizer(mean, std, device)
    transform = batch_transform(protocol, norm, dc_augment=dc_augment)
    optimizer = make_optimizer(protocol, net)
    model = torch.compile(net) if compile else net
    if protocol.loss == "kd_cutmix":
        if teacher is None:
            raise ValueError(f"protocol {protocol.name} needs a teacher network")
        teacher = teacher.to(device).eval()
    x, y = train_x.to(device), train_y.to(device)
    n = len(x)
    test_at = set(protocol.test_epochs(epochs))
    tests: list[tuple[int, float]] = []
    last_loss = torch.zeros((), device=device)
    prev_factor = None
    clock = _Clock(timings, device)
    use_amp = bool(amp) and device.type == "cuda"
    for epoch in tqdm(range(epochs), desc=desc, leave=False, disable=not progress, unit="epoch"):
        factor = protocol.lr_factor(epoch, epochs)
        if factor != prev_factor:
            if prev_factor is not None and protocol.reset_momentum_on_decay:
                optimizer.state.clear()  # the DC code builds a fresh optimiser at the decay
            for group in optimizer.param_groups:
                group["lr"] = protocol.lr * factor
            prev_factor = factor
        order = dsa_ops.put(torch.randperm(n, generator=rng.torch), device)
        epoch_loss = torch.zeros((), device=device)
        for b in range(0, n, batch_size):
            clock.start()
            idx = order[b:b + batch_size]
            xb = transform(x[idx], rng)
            yb = y[idx]
            if protocol.loss != "ce":
                xb, partner, w = T.cutmix(xb, rng.torch, rng.np)
            clock.lap("data")
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_amp):
                if protocol.loss == "ce":
                    loss = F.cross_entropy(model(xb).float(), yb)
                elif protocol.loss == "cutmix_ce":
                    out = model(xb).float()
                    loss = F.cross_entropy(out, yb) * w + F.cross_entropy(out, yb[partner]) * (1.0 - w)
                else:  # kd_cutmix: soft labels from the teacher on the same mixed batch
                    with torch.no_grad():
                        soft = F.softmax(teacher(xb).float() / protocol.temperature, dim=1)
                    out = F.log_softmax(model(xb).float() / protocol.temperature, dim=1)
                    loss = F.kl_div(out, soft, reduction="batchmean")
            clock.lap("forward")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            clock.lap("backward")
            optimizer.step()
            clock.lap("step")
            epoch_loss += loss.detach() * len(idx)
        last_loss = epoch_loss / n
        if epoch in test_at and test_x is not None:
            clock.start()
            tests.append((epoch, test_accuracy(net, test_x, test_y, norm, test_batch_size, device)))
            clock.lap("test")
    if timings is not None:
        timings["total"] = timings.get("total", 0.0) + time.perf_counter() - start
    final = tests[-1][1] if tests else float("nan")
    best_epoch, best = max(tests, key=lambda t: t[1]) if tests else (-1, float("nan"))
    return RunOutcome(seed=rng.seed, final=final, best=best, best_epoch=best_epoch, tests=tests,
                      train_loss=float(last_loss), seconds=time.perf_counter() - start)
