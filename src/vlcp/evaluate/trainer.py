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

from vlcp.run.progress import progress_bar as tqdm  # a bar on a terminal, plain lines otherwise
import vlcp.evaluate.dsa as dsa_ops
from vlcp.evaluate.parts import Loss
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
    """The protocol's per-batch input pipeline: raw batch (uint8 or [0, 1]) → network input. The augmentation
    part sees normalised images (``normalize_first``, then DC's MNIST augmentation when asked) or [0, 1] ones."""
    augment = protocol.augmentation.apply

    def run(x: torch.Tensor, rng: Rng) -> torch.Tensor:
        if protocol.normalize_first:
            x = augment(norm(x), rng.torch)
            return dsa_ops.dc_augment(x, rng.torch) if dc_augment else x
        return norm(augment(to_float(x), rng.torch))

    return run


def make_optimizer(protocol: Protocol, net: nn.Module) -> torch.optim.Optimizer:
    """The protocol's optimiser part built for ``net``."""
    return protocol.optimizer_part.build(net, protocol.lr, protocol.weight_decay, protocol.momentum)


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


@dataclass
class _Steps:
    """What every training batch uses: the network as called, its optimiser, the input pipeline, the loss part."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    transform: Callable[[torch.Tensor, Rng], torch.Tensor]
    loss: Loss
    teacher: nn.Module | None
    temperature: float
    clock: _Clock
    device: torch.device
    amp: bool


def _steps(net: nn.Module, protocol: Protocol, norm: Normalizer, device: torch.device, *, teacher: nn.Module | None,
           dc_augment: bool, compile: bool, timings: dict | None, amp: bool) -> _Steps:
    """The training steps of ``net`` under ``protocol`` (a soft-label loss part needs ``teacher``)."""
    transform = batch_transform(protocol, norm, dc_augment=dc_augment)
    optimizer = make_optimizer(protocol, net)
    model = torch.compile(net) if compile else net
    if protocol.needs_teacher:
        if teacher is None:
            raise ValueError(f"protocol {protocol.name} needs a teacher network")
        teacher = teacher.to(device).eval()
    return _Steps(model, optimizer, transform, protocol.loss_part, teacher, protocol.temperature,
                  _Clock(timings, device), device, bool(amp) and device.type == "cuda")


def _set_lr(optimizer: torch.optim.Optimizer, protocol: Protocol, epoch: int, epochs: int,
            previous: float | None) -> float:
    """Set the epoch's lr when the schedule part's factor changes (DC restarts the optimiser at the decay);
    returns the factor."""
    factor = protocol.lr_factor(epoch, epochs)
    if factor != previous:
        if previous is not None and protocol.reset_momentum_on_decay:
            optimizer.state.clear()  # the DC code builds a fresh optimiser at the decay
        for group in optimizer.param_groups:
            group["lr"] = protocol.lr * factor
    return factor


def _train_batch(s: _Steps, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor, rng: Rng) -> torch.Tensor:
    """One optimiser step on the images ``idx``: augmented, mixed by the loss part, its loss; returns the loss."""
    s.clock.start()
    batch = s.loss.batch(s.transform(x[idx], rng), y[idx], rng.torch, rng.np)
    s.clock.lap("data")
    with torch.autocast(device_type=s.device.type, dtype=torch.bfloat16, enabled=s.amp):
        loss = s.loss.forward(s.model, batch, s.teacher, s.temperature)
    s.clock.lap("forward")
    s.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    s.clock.lap("backward")
    s.optimizer.step()
    s.clock.lap("step")
    return loss.detach()


def _train_epoch(s: _Steps, x: torch.Tensor, y: torch.Tensor, batch_size: int, rng: Rng) -> torch.Tensor:
    """One pass over (x, y) in a random order; returns the mean training loss (a tensor on the device)."""
    n = len(x)
    order = dsa_ops.put(torch.randperm(n, generator=rng.torch), s.device)
    epoch_loss = torch.zeros((), device=s.device)
    for b in range(0, n, batch_size):
        idx = order[b:b + batch_size]
        epoch_loss += _train_batch(s, x, y, idx, rng) * len(idx)
    return epoch_loss / n


def _outcome(seed: int, tests: list[tuple[int, float]], last_loss: torch.Tensor, start: float) -> RunOutcome:
    final = tests[-1][1] if tests else float("nan")
    best_epoch, best = max(tests, key=lambda t: t[1]) if tests else (-1, float("nan"))
    return RunOutcome(seed=seed, final=final, best=best, best_epoch=best_epoch, tests=tests,
                      train_loss=float(last_loss), seconds=time.perf_counter() - start)


def train_and_test(net: nn.Module, train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor | None,
                   test_y: torch.Tensor | None, protocol: Protocol, *, epochs: int, batch_size: int, rng: Rng,
                   mean, std, device: torch.device, teacher: nn.Module | None = None, dc_augment: bool = False,
                   test_batch_size: int = 512, compile: bool = False, progress: bool = False,
                   desc: str = "train", timings: dict | None = None, amp: bool = False) -> RunOutcome:
    """Train ``net`` (already initialised) on (train_x, train_y) under ``protocol`` and test it.

    ``train_x``: (n, C, H, W) float in [0, 1] or uint8, ``train_y``: (n,) int64; both ideally already on
    ``device``. ``test_x`` likewise (None: train only). ``teacher`` is needed by soft-label protocols (a loss
    part with ``needs_teacher``).
    ``timings``: when a dict, seconds spent in data (indexing + augmentation), forward (incl. loss), backward,
    step, test and total are added to it — for benchmarks (on CUDA this synchronises around each part).
    ``amp``: bf16 autocast for the forward pass on CUDA (the reference protocols train in fp32).
    """
    start = time.perf_counter()
    net = net.to(device).train()
    norm = Normalizer(mean, std, device)
    steps = _steps(net, protocol, norm, device, teacher=teacher, dc_augment=dc_augment, compile=compile,
                   timings=timings, amp=amp)
    x, y = train_x.to(device), train_y.to(device)
    test_at = set(protocol.test_epochs(epochs))
    tests: list[tuple[int, float]] = []
    last_loss = torch.zeros((), device=device)
    factor = None
    for epoch in tqdm(range(epochs), desc=desc, leave=False, disable=not progress, unit="epoch"):
        factor = _set_lr(steps.optimizer, protocol, epoch, epochs, factor)
        last_loss = _train_epoch(steps, x, y, batch_size, rng)
        if epoch in test_at and test_x is not None:
            steps.clock.start()
            tests.append((epoch, test_accuracy(net, test_x, test_y, norm, test_batch_size, device)))
            steps.clock.lap("test")
    if timings is not None:
        timings["total"] = timings.get("total", 0.0) + time.perf_counter() - start
    return _outcome(rng.seed, tests, last_loss, start)
