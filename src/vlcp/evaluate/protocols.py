"""Evaluation protocols (a registry): how a network is trained on a distilled set and tested.

- ``dc``: the DC paper's evaluation (published random / herding / k-center / DC numbers).
- ``dsa``: DSA's and DM's evaluation (DC's with 1000 epochs and DSA augmentation).
- ``minimax``: Minimax diffusion's hard-label evaluation on ImageNet subsets.
- ``ddranking`` (and ``ddranking_noaug``, ``ddranking_best``): DD-Ranking 0.2.0's hard-label evaluation.
- ``rded``: RDED's soft-label evaluation (a teacher: ``--teacher PATH``, else one trained by vlcp on the
  full real training set). Its defaults are RDED's: BatchNorm networks, RDED's input side per dataset
  (32 px CIFAR, 64 px Tiny ImageNet, 128 px for its ConvNets on ImageNet subsets, else 224 px), the test
  transform Resize(side·8/7) + CenterCrop(side) and ImageNet's mean / std for colour images.

A protocol is data: epochs / batch size by IPC, lr, weight decay, and its parts named by registry key
(``vlcp.evaluate.parts``: optimiser, schedule, augmentation, loss, test points), so a TOML file or a flag
names a protocol and a protocol names its parts. Each part describes itself for the results and does its
work; ``vlcp.evaluate.trainer`` runs them.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

from vlcp.evaluate.parts import (AUGMENTATIONS, LOSSES, OPTIMIZERS, SCHEDULES, TEST_POINTS, Augmentation, Loss,
                                 OptimizerPart)
from vlcp.settings.registry import Registry

PROTOCOLS: Registry["Protocol"] = Registry("protocol")


def minimax_epochs(ipc: int, num_classes: int) -> int:
    """Minimax's epochs by IPC (``ipc_epoch``); 100 classes train 2/3 as long, down to a multiple of 100."""
    if ipc <= 1:
        e = 3000
    elif ipc <= 10:
        e = 2000
    elif ipc <= 50:
        e = 1500
    elif ipc <= 200:
        e = 1000
    elif ipc <= 500:
        e = 500
    else:
        e = 300
    if num_classes == 100:
        e = int(2 / 3 * e)
        e -= e % 100
    return e


IMAGENET_STATS = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
"""ImageNet's published per-channel mean and std (torchvision; RDED normalises every dataset with them)."""


def rded_input_side(model: str, native: int) -> int:
    """RDED's ``input_size``: the dataset's own side up to 64 px (CIFAR 32, Tiny ImageNet 64); above it
    128 px for its ConvNets (ImageNette / ImageWoof / ImageNet-100) and 224 px for every other network."""
    if native <= 64:
        return native
    return 128 if model.startswith("convnet") else 224


def rded_batch_size(ipc: int, num_classes: int) -> int:
    """RDED's batch size: 10 / 50 / 100 for IPC 1 / 10 / 50 (×2 from 100 classes), at most the set size."""
    b = 100 if ipc >= 50 else 50 if ipc >= 10 else 10
    if num_classes >= 100:
        b *= 2
    return max(1, min(b, ipc * num_classes))


@dataclass(frozen=True)
class Protocol:
    """One evaluation protocol. ``lr_factor(epoch, epochs)`` multiplies ``lr`` during 0-based ``epoch``."""

    name: str
    title: str
    default_epochs: Callable[[int, int], int]
    default_batch_size: Callable[[int, int], int]
    optimizer: str  # an OPTIMIZERS key: "sgd" | "adamw"
    lr: float
    weight_decay: float
    momentum: float = 0.0
    schedule: str = "constant"  # a SCHEDULES key: "half" | "multistep" | "rded_cosine"
    augment: str = "none"  # an AUGMENTATIONS key: "none" | "dsa" | "minimax" | "rded" | "crop_flip" (full set)
    normalize_first: bool = True  # True: augment normalised images (DC/DSA); False: augment [0, 1] images
    loss: str = "ce"  # a LOSSES key: "ce" | "cutmix_ce" | "kd_cutmix" (soft labels: needs a teacher)
    temperature: float = 1.0
    test_points: str = "last"  # a TEST_POINTS key: "minimax" (every epochs//100) | "rded" | "every10"
    reset_momentum_on_decay: bool = False
    default_resolution: int | Callable[[str, int], int] | None = None  # a side, or (model, native side) → side
    default_norm: str = "instance"  # normalisation layers of the networks (EvalConfig norm = "auto")
    test_crop: bool = False  # True: test images resized to side·8/7 (short side), centre-cropped to side (RDED)
    default_stats: tuple[tuple[float, ...], tuple[float, ...]] | None = None  # published mean / std (3 channels)
    notes: tuple[str, ...] = field(default_factory=tuple)
    by_classes: Callable[[int], dict] | None = None  # num_classes → field overrides (e.g. ImageNet-1K)
    whole_set: dict | None = None  # field overrides for the whole-training-set row (its own recipe)
    lr_grid: tuple[float, ...] = ()  # each run trains once per lr; the best test accuracy of all is reported
    report: str = "final"  # the row's number: "final" epoch, or "best" test check (selected on the test set)
    default_channels: int | None = None  # networks see this many channels (grey images repeated); None: as loaded
    description: str = ""  # one sentence for a summary or report: how a set is scored under this protocol

    def for_classes(self, num_classes: int) -> "Protocol":
        """The protocol as it runs for ``num_classes`` (``by_classes`` overrides applied)."""
        over = self.by_classes(num_classes) if self.by_classes is not None else {}
        return replace(self, **over, by_classes=None) if over else self

    def for_method(self, method: str) -> "Protocol":
        """The protocol as it trains ``method``: the whole training set (``full``) by ``whole_set``'s recipe."""
        if method == "full" and self.whole_set:
            return replace(self, **self.whole_set, whole_set=None)
        return self

    def input_side(self, model: str, native: int) -> int | None:
        """The side the networks see by default for a dataset of side ``native`` (None: the dataset's own)."""
        if callable(self.default_resolution):
            return self.default_resolution(model, native)
        return self.default_resolution

    def test_load_side(self, side: int) -> int:
        """The short side test images are resized to before the centre crop to ``side``."""
        return side // 7 * 8 if self.test_crop else side

    def __post_init__(self) -> None:
        """Every part key must be registered."""
        for registry, key in self._part_keys():
            registry.get(key)  # an unknown part: one VlcpError line naming the choices

    def _part_keys(self) -> tuple[tuple[Registry, str], ...]:
        return ((AUGMENTATIONS, self.augment), (LOSSES, self.loss), (SCHEDULES, self.schedule),
                (TEST_POINTS, self.test_points), (OPTIMIZERS, self.optimizer))

    @property
    def augmentation(self) -> Augmentation:
        """The augmentation part ``augment`` names."""
        return AUGMENTATIONS.get(self.augment)

    @property
    def loss_part(self) -> Loss:
        """The loss part ``loss`` names."""
        return LOSSES.get(self.loss)

    @property
    def needs_teacher(self) -> bool:
        """True for soft labels: the loss part learns from a teacher network."""
        return self.loss_part.needs_teacher

    @property
    def optimizer_part(self) -> OptimizerPart:
        """The optimiser part ``optimizer`` names."""
        return OPTIMIZERS.get(self.optimizer)

    def lr_factor(self, epoch: int, epochs: int) -> float:
        """What multiplies ``lr`` during 0-based ``epoch`` of ``epochs`` (the ``schedule`` part)."""
        return SCHEDULES.get(self.schedule).factor(epoch, epochs)

    def test_epochs(self, epochs: int) -> list[int]:
        """0-based epochs after which the test set is scored (the ``test_points`` part's; the last one always)."""
        return sorted(set(TEST_POINTS.get(self.test_points).points(epochs)) | {epochs - 1})

    def settings(self, epochs: int, batch_size: int) -> dict:
        """The protocol as it ran, for the results' settings."""
        d = {"protocol": self.name, "title": self.title, "epochs": epochs, "batch_size": batch_size,
             "optimizer": self.optimizer, "lr": self.lr, "weight_decay": self.weight_decay,
             "schedule": self.schedule_text(epochs), "augmentation": self.augment_text(),
             "loss": self.loss_text(), "test": self.test_text(epochs)}
        if self.optimizer_part.uses_momentum:
            d["momentum"] = self.momentum
        if self.lr_grid:
            d["lr"] = f"best of the grid {', '.join(f'{x:g}' for x in self.lr_grid)} (selected on the test set)"
        if self.notes:
            d["notes"] = list(self.notes)
        return d

    def schedule_text(self, epochs: int) -> str:
        """The schedule part's text for ``epochs``."""
        return SCHEDULES.get(self.schedule).describe(epochs)

    def augment_text(self) -> str:
        """The augmentation part's text."""
        return self.augmentation.text

    def loss_text(self) -> str:
        """The loss part's text (with this protocol's temperature)."""
        return self.loss_part.describe(self.temperature)

    def test_text(self, epochs: int) -> str:
        """The test points part's text (which number the row reports)."""
        return TEST_POINTS.get(self.test_points).describe(epochs, self.report)


DC = PROTOCOLS.register("dc")(Protocol(
    name="dc", title="DC evaluation (Zhao et al. 2021)",
    description="networks trained from scratch on the set with hard labels (SGD, the learning rate ×0.1 at the "
                "half, no augmentation), as the DC code",
    default_epochs=lambda ipc, k: 300, default_batch_size=lambda ipc, k: 256,
    optimizer="sgd", lr=0.01, momentum=0.9, weight_decay=5e-4, schedule="half",
    augment="none", normalize_first=True, loss="ce", reset_momentum_on_decay=True,
    notes=("inputs normalised with the real training set's mean and std",
           "no augmentation (DC's crop/scale/rotate is for MNIST only: dc_augment=true)",
           "the DC code runs epochs+1 passes and decays after pass epochs//2+1; here exactly `epochs` passes, "
           "decay at the half; like the DC code the optimiser (momentum) restarts at the decay")))

DSA = PROTOCOLS.register("dsa")(Protocol(
    name="dsa", title="DSA / DM evaluation (Zhao & Bilen 2021, 2023)",
    description="networks trained from scratch on the set with hard labels and DSA's augmentation on every batch "
                "(SGD, the learning rate ×0.1 at the half), as the DSA and DM codes",
    default_epochs=lambda ipc, k: 1000, default_batch_size=lambda ipc, k: 256,
    optimizer="sgd", lr=0.01, momentum=0.9, weight_decay=5e-4, schedule="half",
    augment="dsa", normalize_first=True, loss="ce", reset_momentum_on_decay=True,
    notes=("DSA augmentation on normalised images, as the DSA code",)))

MINIMAX = PROTOCOLS.register("minimax")(Protocol(
    name="minimax", title="Minimax diffusion hard-label evaluation (Gu et al. 2024)",
    description="networks trained on the set with hard labels and CutMix at 224 px (SGD, multistep schedule), as "
                "the Minimax diffusion code",
    default_epochs=minimax_epochs, default_batch_size=lambda ipc, k: 64 if k <= 100 else 128,
    optimizer="sgd", lr=0.01, momentum=0.9, weight_decay=5e-4, schedule="multistep",
    augment="minimax", normalize_first=False, loss="cutmix_ce", test_points="minimax", default_resolution=224,
    notes=("test set: the real validation images of the subset's classes, resized and centre-cropped",),
    # the Minimax code's ImageNet-1K settings (above 100 classes): lr 0.1, weight decay 1e-4, batch 128
    by_classes=lambda k: {"lr": 0.1, "weight_decay": 1e-4} if k > 100 else {}))

RDED = PROTOCOLS.register("rded")(Protocol(
    name="rded", title="RDED soft-label evaluation (Sun et al. 2024)",
    description="networks trained on the set with a teacher's soft labels (KL divergence at temperature 20 over "
                "CutMix batches, AdamW, cosine schedule), as the RDED code",
    default_epochs=lambda ipc, k: 300, default_batch_size=rded_batch_size,
    optimizer="adamw", lr=1e-3, weight_decay=0.01, schedule="rded_cosine",
    augment="rded", normalize_first=False, loss="kd_cutmix", temperature=20.0, test_points="rded",
    default_resolution=rded_input_side, default_norm="batch", test_crop=True, default_stats=IMAGENET_STATS,
    notes=("teacher: --teacher weights, else the same network trained by vlcp on the full real training set; "
           "soft-label accuracy is capped by the teacher: compare only numbers made with the same teacher",
           "RDED's defaults: BatchNorm networks, input side 32 (CIFAR) / 64 / 128 (ConvNets on ImageNet subsets) / "
           "224, test images Resize(side·8/7) + CenterCrop(side), ImageNet mean / std for colour images",
           "AdamW betas (0.9, 0.999); weight decay on weight matrices / kernels only, as RDED",
           "RDED's ShufflePatches (for its patch-mosaic images) is not applied")))


def ddranking_input_side(model: str, native: int) -> int:
    """ddranking 0.2.0's ``im_size``: 32 px for CIFAR and for 28 px sets (its ConvNet is built for 3 × 32 × 32:
    ``utils/networks.py`` ``_make_layers`` sizes 28 px as 32 but pads by 1, so 28 px input does not fit the head),
    64 px Tiny ImageNet, 128 px ImageNet subsets with ConvNets, else 224 px (``utils/data.py`` ``get_dataset``)."""
    return 32 if native < 32 else rded_input_side(model, native)


DDRANKING_SOURCE = "ddranking 0.2.0 (PyPI wheel; github NUS-HPC-AI-Lab/DD-Ranking at the 0.2.0 setup.py, 97082f6)"
DDRANKING_NOTES = (
    f"every setting is {DDRANKING_SOURCE}'s: configs/Demo_LRS_Hard_Label.yaml (the hard-label demo config that "
    "demo_hard.py loads) and the LabelRobustScoreHard defaults (ddranking/metrics/hard_label.py lines 23-28)",
    "network: model_name ConvNet-3 → build_model (utils/model.py lines 124-129): ConvNet width 128, depth 3, ReLU, "
    "avg-pooling, instancenorm = GroupNorm(C, C) (utils/networks.py _get_normlayer), always channel=3 (model.py "
    "line 128): vlcp convnet3, norm instance, grey images repeated to 3 channels",
    "input: im_size [32, 32] (yaml); Fashion-MNIST / MNIST are not in ddranking's get_dataset (utils/data.py lines "
    "55-177: CIFAR10/100, TinyImageNet, ImageNet subsets, ImageNet1K), so 28 px sets take its CIFAR-style default: "
    "32 px (bilinear resize), normalised with the real training split's mean / std (its CIFAR constants are for CIFAR)",
    "optimiser: optimizer sgd, momentum 0.9, weight_decay 0.0005 (yaml; get_optimizer, utils/train_and_eval.py line "
    "106); lr 0.01 (demo_hard.py syn_lr=0.01; yaml default_lr 0.01, which the class never reads)",
    "schedule: lr_scheduler step, step_size 500 of num_epochs 1000, gamma 0.1 (get_lr_scheduler default, "
    "train_and_eval.py line 117), stepped per epoch, momentum kept: lr ×0.1 from the half (scaled with --epochs)",
    "epochs 1000, syn_batch_size 128 (yaml); num_eval 5 runs (yaml; vlcp --repeats, default 3)",
    "augmentation: data_aug_func dsa with flip 0.5, rotate 15, saturation 2, brightness 1, contrast 0.5, scale 1.2, "
    "crop 0.125, cutout 0.5 (yaml); ddranking's DSA (aug/dsa.py) draws one of scale, rotate, flip, color, crop, "
    "cutout per batch with per-image parameters on normalised images: vlcp's dsa augmentation",
    "test: every 10 epochs (test_interval = 10, hard_label.py line 119) and ddranking reports the best of those "
    "checks (lines 278-288), selected on the test set; vlcp reports the final epoch and shows that best as †",
    "ddranking seeds each run from the clock (utils/misc.py set_seed, lines 9-11); vlcp seeds run i with seed+i",
    "the whole training set (for HLR) by ddranking's REAL_DATA_TRAINING_CONFIG['CIFAR10-ConvNet-3'] "
    "(train_and_eval.py lines 54-64): sgd lr 0.01, momentum 0.9, weight decay 5e-4, 200 epochs, StepLR step 100 "
    "(gamma 0.1), real_batch_size 256 (its batch_size 512 is not read), no augmentation (hard_label.py line 273)",
)

DDRANKING = PROTOCOLS.register("ddranking")(Protocol(
    name="ddranking", title="DD-Ranking hard-label evaluation (ddranking 0.2.0, Li et al. 2025)",
    description="ConvNet-3 networks trained on the set with hard labels and DSA augmentation at 32 px, 3 channels "
                "(SGD, the learning rate ×0.1 at the half), as the ddranking 0.2.0 package; the final epoch reported",
    default_epochs=lambda ipc, k: 1000, default_batch_size=lambda ipc, k: 128,
    optimizer="sgd", lr=0.01, momentum=0.9, weight_decay=5e-4, schedule="half",
    augment="dsa", normalize_first=True, loss="ce", test_points="every10",
    default_resolution=ddranking_input_side, default_channels=3, notes=DDRANKING_NOTES,
    whole_set={"default_epochs": lambda ipc, k: 200, "default_batch_size": lambda ipc, k: 256, "augment": "none"}))

DDRANKING_NOAUG = PROTOCOLS.register("ddranking_noaug")(replace(
    DDRANKING, name="ddranking_noaug", title="DD-Ranking hard-label evaluation without augmentation (for ARS)",
    description="ddranking's hard-label recipe without augmentation: the 'without augmentation' half of DD-Ranking's "
                "ARS",
    augment="none", notes=DDRANKING_NOTES + (
        "no augmentation: the 'without augmentation' half of ARS (metrics/aug_robust.py compute_metrics; its "
        "hard-label path fails in 0.2.0: _compute_hard_label_metrics reads self.teacher_models, set for soft labels "
        "only (line 159), and self.test_loader_real, never made (line 87 deletes its dataset), lines 298 and 304)",)))

DDRANKING_BEST = PROTOCOLS.register("ddranking_best")(replace(
    DDRANKING, name="ddranking_best", title="DD-Ranking as the package reports it: best test check over an lr grid",
    description="ddranking's hard-label recipe as the package reports it: the best test check over training and "
                "over an lr grid, selected on the test set",
    lr_grid=(0.001, 0.005, 0.01, 0.05, 0.1), report="best", notes=DDRANKING_NOTES + (
        "REPORTED NUMBER: the best test accuracy over checks every 10 epochs and over the lr grid 0.001, 0.005, 0.01, "
        "0.05, 0.1 (_hyper_param_search_for_hard_label, hard_label.py lines 168-195; used for the random subset "
        "always, for the distilled set when syn_lr is None): selected on the test set, for comparability with "
        "ddranking's numbers only; vlcp still seeds explicitly",)))
