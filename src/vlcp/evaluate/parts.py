"""The parts a protocol is made of, each a registered object that describes itself and does its work.

- ``AUGMENTATIONS``: a training batch → the augmented batch (normalised or in [0, 1], as the protocol says);
- ``LOSSES``: the batch's mixing (CutMix) and the loss on it; ``needs_teacher`` marks soft labels;
- ``SCHEDULES``: the lr factor of an epoch (``vlcp.models.schedules``' shapes);
- ``TEST_POINTS``: the epochs after which the test set is scored;
- ``OPTIMIZERS``: the network's optimiser from the protocol's lr / weight decay / momentum.

A protocol names its parts by registry key (``Protocol.augment = "dsa"``), so a protocol stays plain data
and its recorded settings are the parts' texts. A new part is one ``register`` call (see
``tests/evaluate/test_protocol_parts.py``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import vlcp.evaluate.dsa as dsa_ops
import vlcp.evaluate.transforms as T
from vlcp.models.schedules import cosine_factor, step_factor
from vlcp.settings.registry import Registry


def _identity(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    return x


@dataclass(frozen=True)
class Augmentation:
    """``apply(batch, generator)``: the training batch augmented; ``text``: how, for the results."""

    text: str
    apply: Callable[[torch.Tensor, torch.Generator], torch.Tensor] = _identity


@dataclass(frozen=True)
class LossBatch:
    """A training batch as the loss sees it: CutMix's partner order and first-image area weight, if mixed."""

    x: torch.Tensor
    y: torch.Tensor
    partner: torch.Tensor | None = None
    weight: float = 1.0


LossForward = Callable[[nn.Module, LossBatch, "nn.Module | None", float], torch.Tensor]


@dataclass(frozen=True)
class Loss:
    """``forward(model, batch, teacher, temperature)``: the batch's loss; ``describe(temperature)``: its text.
    ``mixes``: CutMix each batch first (in the data stage); ``needs_teacher``: soft labels from a teacher."""

    describe: Callable[[float], str]
    forward: LossForward
    mixes: bool = False
    needs_teacher: bool = False

    def batch(self, x: torch.Tensor, y: torch.Tensor, g: torch.Generator, rng: np.random.Generator) -> LossBatch:
        """The batch the loss is computed on (CutMixed when ``mixes``)."""
        if not self.mixes:
            return LossBatch(x, y)
        mixed, partner, w = T.cutmix(x, g, rng)
        return LossBatch(mixed, y, partner, w)


@dataclass(frozen=True)
class Schedule:
    """``factor(epoch, epochs)``: what multiplies the lr during 0-based ``epoch``; ``describe(epochs)``: text."""

    factor: Callable[[int, int], float]
    describe: Callable[[int], str]


@dataclass(frozen=True)
class TestPoints:
    """``points(epochs)``: 0-based epochs after which the test set is scored (the last is always added);
    ``describe(epochs, report)``: the text (``report``: the protocol's "final" or "best")."""

    __test__ = False  # not a pytest class
    points: Callable[[int], list[int]]
    describe: Callable[[int, str], str]


@dataclass(frozen=True)
class OptimizerPart:
    """``build(net, lr, weight_decay, momentum)``: the optimiser; ``uses_momentum``: momentum is recorded."""

    build: Callable[[nn.Module, float, float, float], torch.optim.Optimizer]
    uses_momentum: bool = False


AUGMENTATIONS: Registry[Augmentation] = Registry("augmentation")
LOSSES: Registry[Loss] = Registry("loss")
SCHEDULES: Registry[Schedule] = Registry("schedule")
TEST_POINTS: Registry[TestPoints] = Registry("test points")
OPTIMIZERS: Registry[OptimizerPart] = Registry("optimizer")


# ---- augmentations ------------------------------------------------------------------------------


def _crop_flip(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    return dsa_ops.rand_flip(dsa_ops.rand_crop(x, g), g)


def _rded_augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    return T.random_hflip(T.random_resized_crop(x, g, scale=(0.5, 1.0)), g)


def _minimax_augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    return T.lighting(T.color_jitter(_rded_augment(x, g), g, 0.4, 0.4, 0.4), g, 0.1)


AUGMENTATIONS.register("none")(Augmentation("none"))
AUGMENTATIONS.register("dsa")(Augmentation(
    "DSA color_crop_cutout_flip_scale_rotate (one op per batch, parameters per image)", dsa_ops.dsa_augment))
AUGMENTATIONS.register("crop_flip")(Augmentation(
    "DSA's random crop and horizontal flip on normalised images (the full-set recipe)", _crop_flip))
AUGMENTATIONS.register("minimax")(Augmentation(
    "RandomResizedCrop(scale 0.5-1) + hflip + ColorJitter(0.4, 0.4, 0.4) + PCA lighting 0.1; "
    "CutMix every batch (beta 1)", _minimax_augment))
AUGMENTATIONS.register("rded")(Augmentation(
    "RandomResizedCrop(scale 0.5-1) + hflip; CutMix every batch (beta 1)", _rded_augment))


# ---- losses -------------------------------------------------------------------------------------


def _ce(model: nn.Module, b: LossBatch, teacher: nn.Module | None, temperature: float) -> torch.Tensor:
    return F.cross_entropy(model(b.x).float(), b.y)


def _cutmix_ce(model: nn.Module, b: LossBatch, teacher: nn.Module | None, temperature: float) -> torch.Tensor:
    out = model(b.x).float()
    return F.cross_entropy(out, b.y) * b.weight + F.cross_entropy(out, b.y[b.partner]) * (1.0 - b.weight)


def _kd(model: nn.Module, b: LossBatch, teacher: nn.Module | None, temperature: float) -> torch.Tensor:
    """KL(student ‖ teacher): soft labels from the teacher on the same (mixed) batch."""
    with torch.no_grad():
        soft = F.softmax(teacher(b.x).float() / temperature, dim=1)
    out = F.log_softmax(model(b.x).float() / temperature, dim=1)
    return F.kl_div(out, soft, reduction="batchmean")


LOSSES.register("ce")(Loss(lambda t: "cross-entropy, hard labels", _ce))
LOSSES.register("cutmix_ce")(Loss(lambda t: "cross-entropy, hard labels weighted by CutMix area", _cutmix_ce,
                                  mixes=True))
LOSSES.register("kd_cutmix")(Loss(
    lambda t: f"KL(student ‖ teacher soft labels), temperature {t:g}, teacher on the same CutMix batch", _kd,
    mixes=True, needs_teacher=True))


# ---- lr schedules -------------------------------------------------------------------------------


def _multistep(epochs: int) -> tuple[int, int]:
    """MultiStepLR's milestones of the Minimax code: 2/3 and 5/6 of training."""
    return 2 * epochs // 3, 5 * epochs // 6


SCHEDULES.register("constant")(Schedule(lambda e, epochs: 1.0, lambda epochs: "constant"))
SCHEDULES.register("half")(Schedule(  # ×0.1 for the second half of training
    lambda e, epochs: step_factor(e, (epochs // 2,), 0.1),
    lambda epochs: f"lr ×0.1 from epoch {epochs // 2} (0-based) of {epochs}"))
SCHEDULES.register("multistep")(Schedule(  # MultiStepLR(milestones=[2E//3, 5E//6], gamma=0.2), stepped per epoch
    lambda e, epochs: step_factor(e, _multistep(epochs), 0.2),
    lambda epochs: "MultiStepLR milestones [{}, {}], gamma 0.2".format(*_multistep(epochs))))
SCHEDULES.register("rded_cosine")(Schedule(  # RDED's LambdaLR: 0.5 (1 + cos(π e / E / 2)), stepped per epoch
    lambda e, epochs: cosine_factor(e, epochs, span=2) if e <= epochs else 0.0,
    lambda epochs: "cosine, RDED's LambdaLR 0.5·(1 + cos(π·epoch/epochs/2)) per epoch"))


# ---- test points --------------------------------------------------------------------------------


def _every10_text(epochs: int, report: str) -> str:
    if report == "best":
        return ("REPORTED: best of tests every 10 epochs (and of the lr grid), selected on the test set, as "
                "ddranking 0.2.0 reports; not comparable with final-epoch numbers")
    return "final epoch reported; also best of tests every 10 epochs (selected on the test set, as ddranking)"


TEST_POINTS.register("last")(TestPoints(lambda epochs: [], lambda epochs, report: "after the last epoch"))
TEST_POINTS.register("minimax")(TestPoints(  # every epochs // 100 epochs
    lambda epochs: [e - 1 for e in range(max(1, epochs // 100), epochs + 1, max(1, epochs // 100))],
    lambda epochs, report: (f"final epoch reported; also best of tests every {max(1, epochs // 100)} epochs "
                            "(selected on the test set, as the Minimax code reports)")))
TEST_POINTS.register("rded")(TestPoints(  # every 10th epoch in the last 20 %
    lambda epochs: [e for e in range(epochs) if e % 10 == 9 and e > 0.8 * epochs],
    lambda epochs, report: "final epoch reported; also best of tests every 10 epochs in the last 20 % "
                           "(selected on the test set)"))
TEST_POINTS.register("every10")(TestPoints(lambda epochs: [e for e in range(epochs) if e % 10 == 9], _every10_text))


# ---- optimisers ---------------------------------------------------------------------------------


def _adamw(net: nn.Module, lr: float, weight_decay: float, momentum: float) -> torch.optim.Optimizer:
    """RDED's AdamW: betas (0.9, 0.999), weight decay on weight matrices / kernels only."""
    decay = [p for n, p in net.named_parameters() if "weight" in n and p.ndim > 1]
    rest = [p for n, p in net.named_parameters() if not ("weight" in n and p.ndim > 1)]
    return torch.optim.AdamW([{"params": decay}, {"params": rest, "weight_decay": 0.0}], lr=lr,
                             betas=(0.9, 0.999), weight_decay=weight_decay)


def _sgd(net: nn.Module, lr: float, weight_decay: float, momentum: float) -> torch.optim.Optimizer:
    return torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)


OPTIMIZERS.register("sgd")(OptimizerPart(_sgd, uses_momentum=True))
OPTIMIZERS.register("adamw")(OptimizerPart(_adamw))
