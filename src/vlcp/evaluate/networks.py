"""Evaluation networks (a registry): the DC/DSA/DM ConvNet (and RDED's depths), Minimax's ResNetAP, a
torchvision-layout ResNet-18 and RDED's ``resnet18_modified``.

Every network maps ``(b, channels, R, R)`` to ``(b, num_classes)`` logits and exposes ``features(x)``
(the penultimate activations: herding / k-center work in that space). Normalisation layers default to
instance norm, implemented as ``GroupNorm(C, C)`` with affine parameters, as in the DC and Minimax code.

Weights are initialised by ``init_weights(generator)`` from an explicit ``torch.Generator`` (each
network family follows its reference code's initialisation), so a run's seed fixes its network
without touching the global random state.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from vlcp.errors import VlcpError
from vlcp.settings.registry import Registry

NORMS = ("instance", "batch", "none")

# name -> factory(channels, num_classes, resolution, norm="instance") -> EvalNet
NETWORKS: Registry[Callable[..., "EvalNet"]] = Registry("network")


def norm_layer(kind: str, channels: int) -> nn.Module:
    if kind == "instance":
        return nn.GroupNorm(channels, channels, affine=True)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "none":
        return nn.Identity()
    raise VlcpError(f"setting 'norm': {kind!r} is not one of {', '.join(NORMS)}")


def _default_init(m: nn.Module, g: torch.Generator) -> None:
    """PyTorch's own default initialisation of conv / linear layers, drawn from ``g``."""
    nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=g)
    if m.bias is not None:
        fan_in = m.weight[0].numel()
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        nn.init.uniform_(m.bias, -bound, bound, generator=g)


def _init_norms(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, (nn.GroupNorm, nn.BatchNorm2d)) and m.weight is not None:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class EvalNet(nn.Module):
    """Base class: ``forward(x) = head(features(x))``."""

    head: nn.Linear

    def features(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def init_weights(self, generator: torch.Generator) -> "EvalNet":  # pragma: no cover - abstract
        raise NotImplementedError


class ConvNet(EvalNet):
    """DC's ConvNet: ``depth`` × [conv 3×3 (width) → norm → ReLU → avg-pool 2], then a linear head.

    For 28×28 one-channel input the first conv pads by 3 (28 → 32), as the DC code does, so
    Fashion-MNIST maps 32 → 16 → 8 → 4 and the head sees 128·4·4 = 2048 features.
    """

    def __init__(self, channels: int, num_classes: int, resolution: int, depth: int = 3, width: int = 128,
                 norm: str = "instance") -> None:
        super().__init__()
        side = resolution
        blocks: list[nn.Module] = []
        c_in = channels
        for d in range(depth):
            pad = 3 if (d == 0 and channels == 1 and resolution == 28) else 1
            side = side + 2 * pad - 2
            blocks += [nn.Conv2d(c_in, width, 3, padding=pad), norm_layer(norm, width), nn.ReLU(inplace=True),
                       nn.AvgPool2d(2, 2)]
            side //= 2
            c_in = width
            if side < 1:
                raise VlcpError(f"ConvNet-{depth} needs larger input than {resolution}×{resolution} "
                                f"(feature map vanishes after block {d + 1}): resize the images, e.g. setting "
                                f"'resolution' = {2 ** depth}")
        self.body = nn.Sequential(*blocks)
        self.num_features = width * side * side
        self.head = nn.Linear(self.num_features, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).flatten(1)

    def init_weights(self, generator: torch.Generator) -> "ConvNet":
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    _default_init(m, generator)
            _init_norms(self)
        return self


# ---------------------------------------------------------------------------------------------
# ResNets


def _conv(c_in: int, c_out: int, k: int, stride: int = 1, norm: str = "instance") -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, k, stride=stride, padding=k // 2, bias=norm == "none")


class APBlock(nn.Module):
    """Minimax's ResNetAP basic block: stride-1 convs, downsampling by average pooling inside the block."""

    def __init__(self, c_in: int, c_out: int, stride: int, norm: str) -> None:
        super().__init__()
        self.conv1, self.bn1 = _conv(c_in, c_out, 3, norm=norm), norm_layer(norm, c_out)
        self.conv2, self.bn2 = _conv(c_out, c_out, 3, norm=norm), norm_layer(norm, c_out)
        self.stride = stride
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(_conv(c_in, c_out, 1, norm=norm), nn.AvgPool2d(stride, stride),
                                            norm_layer(norm, c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        if self.stride != 1:
            out = F.avg_pool2d(out, self.stride, self.stride)
        out = self.bn2(self.conv2(out))
        res = x if self.downsample is None else self.downsample(x)
        return F.relu(out + res)


class ResNetAP(EvalNet):
    """Minimax diffusion's ResNetAP (ImageNet layout, widths 64-128-256-512).

    Stem by input size: above 128 px a 7×7 stride-1 conv + avg-pool 4 ("large"); 65-128 px a 3×3 conv +
    avg-pool 2 ("mid"); up to 64 px a 3×3 conv alone ("small"). Global average pooling, linear head.
    """

    LAYERS = {10: (1, 1, 1, 1), 18: (2, 2, 2, 2)}

    def __init__(self, channels: int, num_classes: int, resolution: int, depth: int = 10, norm: str = "instance",
                 width: int = 64) -> None:
        super().__init__()
        if resolution > 128:
            self.stem_size = "large"
            stem = [_conv(channels, width, 7, norm=norm), norm_layer(norm, width), nn.ReLU(inplace=True),
                    nn.AvgPool2d(4, 4)]
        elif resolution > 64:
            self.stem_size = "mid"
            stem = [_conv(channels, width, 3, norm=norm), norm_layer(norm, width), nn.ReLU(inplace=True),
                    nn.AvgPool2d(2, 2)]
        else:
            self.stem_size = "small"
            stem = [_conv(channels, width, 3, norm=norm), norm_layer(norm, width), nn.ReLU(inplace=True)]
        self.stem = nn.Sequential(*stem)
        blocks, c_in = [], width
        for i, n in enumerate(self.LAYERS[depth]):
            c_out = width * 2 ** i
            for j in range(n):
                blocks.append(APBlock(c_in, c_out, 2 if (i > 0 and j == 0) else 1, norm))
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.num_features = c_in
        self.head = nn.Linear(c_in, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(x))
        return x.mean(dim=(2, 3))

    def init_weights(self, generator: torch.Generator) -> "ResNetAP":
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, nn.Conv2d):  # as the Minimax code: N(0, sqrt(2 / (k·k·out)))
                    n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                    nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / n), generator=generator)
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)
                elif isinstance(m, nn.Linear):
                    _default_init(m, generator)
            _init_norms(self)
        return self


class BasicBlock(nn.Module):
    """torchvision's ResNet basic block (strided 3×3 conv; 1×1 strided conv shortcut)."""

    def __init__(self, c_in: int, c_out: int, stride: int, norm: str) -> None:
        super().__init__()
        self.conv1, self.bn1 = _conv(c_in, c_out, 3, stride, norm), norm_layer(norm, c_out)
        self.conv2, self.bn2 = _conv(c_out, c_out, 3, 1, norm), norm_layer(norm, c_out)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=norm == "none"),
                                            norm_layer(norm, c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        res = x if self.downsample is None else self.downsample(x)
        return F.relu(out + res)


def _halved(side: int) -> int:
    """The side after a stride-2 layer padded to keep ``side / 2`` (3×3 pad 1, 7×7 pad 3, 3×3 max-pool pad 1)."""
    return (side - 1) // 2 + 1


def _check_last_stage(resolution: int, norm: str, small_stem: bool) -> None:
    """Refuse a ResNet-18 whose last stage sees 1×1 maps under instance norm: it normalises each channel over
    one pixel, so every activation there is zero and the network cannot learn (torchvision's layout at 28 or
    32 px)."""
    side = resolution if small_stem else _halved(_halved(resolution))
    for _ in range(3):
        side = _halved(side)
    if norm == "instance" and side < 2:
        layout, other = (("the small-stem layout", "") if small_stem else
                         ("torchvision's layout", "resnet18_modified (the small-image layout), "))
        raise VlcpError(f"ResNet-18 in {layout} with instance norm at {resolution} px: its last stage's maps are "
                        f"{side}×{side}, which instance norm sets to zero; use {other}setting 'norm' = 'batch', or a "
                        "larger setting 'resolution'")


class ResNet18(EvalNet):
    """ResNet-18 in torchvision's layout (7×7/2 conv, max-pool, 4 stages of 2 blocks, global pool, fc).

    ``small_stem``: RDED's ``resnet18_modified`` for 32-64 px images — a 3×3 stride-1 first conv and no
    max-pool (the rest unchanged).
    """

    def __init__(self, channels: int, num_classes: int, resolution: int, norm: str = "instance",
                 small_stem: bool = False) -> None:
        super().__init__()
        _check_last_stage(resolution, norm, small_stem)
        if small_stem:
            self.stem = nn.Sequential(nn.Conv2d(channels, 64, 3, stride=1, padding=1, bias=norm == "none"),
                                      norm_layer(norm, 64), nn.ReLU(inplace=True), nn.Identity())
        else:
            self.stem = nn.Sequential(nn.Conv2d(channels, 64, 7, stride=2, padding=3, bias=norm == "none"),
                                      norm_layer(norm, 64), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
        blocks, c_in = [], 64
        for i in range(4):
            c_out = 64 * 2 ** i
            for j in range(2):
                blocks.append(BasicBlock(c_in, c_out, 2 if (i > 0 and j == 0) else 1, norm))
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.num_features = 512
        self.head = nn.Linear(512, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x)).mean(dim=(2, 3))

    def init_weights(self, generator: torch.Generator) -> "ResNet18":
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, nn.Conv2d):  # torchvision: kaiming normal, fan_out, relu
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu", generator=generator)
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)
                elif isinstance(m, nn.Linear):
                    _default_init(m, generator)
            _init_norms(self)
        return self


@NETWORKS.register("convnet3")
def convnet3(channels: int, num_classes: int, resolution: int, norm: str = "instance") -> ConvNet:
    """DC/DSA/DM ConvNet-3 (width 128, instance norm, avg-pool)."""
    return ConvNet(channels, num_classes, resolution, depth=3, norm=norm)


@NETWORKS.register("convnet4")
def convnet4(channels: int, num_classes: int, resolution: int, norm: str = "instance") -> ConvNet:
    """ConvNet-4: RDED's ConvNet for 64 px images (Tiny ImageNet)."""
    return ConvNet(channels, num_classes, resolution, depth=4, norm=norm)


@NETWORKS.register("convnet5")
def convnet5(channels: int, num_classes: int, resolution: int, norm: str = "instance") -> ConvNet:
    """ConvNet-5: RDED's ConvNet for ImageNette / ImageWoof at 128 px."""
    return ConvNet(channels, num_classes, resolution, depth=5, norm=norm)


@NETWORKS.register("convnet6")
def convnet6(channels: int, num_classes: int, resolution: int, norm: str = "instance") -> ConvNet:
    """ConvNet-6 as Minimax evaluates it at 224 px (224 → 3 after six pools)."""
    return ConvNet(channels, num_classes, resolution, depth=6, norm=norm)


@NETWORKS.register("resnet_ap10")
def resnet_ap10(channels: int, num_classes: int, resolution: int, norm: str = "instance") -> ResNetAP:
    """Minimax's ResNetAP-10."""
    return ResNetAP(channels, num_classes, resolution, depth=10, norm=norm)


@NETWORKS.register("resnet18")
def resnet18(channels: int, num_classes: int, resolution: int, norm: str = "instance") -> ResNet18:
    """ResNet-18, torchvision layout (7×7 stride-2 stem and max-pool, as in the paper's ImageNet tables),
    instance norm by default (refused below 64 px, where its last stage's maps are 1×1: `resnet18_modified`)."""
    return ResNet18(channels, num_classes, resolution, norm=norm)


@NETWORKS.register("resnet18_modified")
def resnet18_modified(channels: int, num_classes: int, resolution: int, norm: str = "instance") -> ResNet18:
    """RDED's ResNet-18 for CIFAR / Tiny ImageNet: 3×3 stride-1 first conv, no max-pool."""
    return ResNet18(channels, num_classes, resolution, norm=norm, small_stem=True)


STANDARD_INPUT = {"convnet3": (1, 28), "convnet4": (3, 64), "convnet5": (3, 128), "convnet6": (3, 224),
                  "resnet_ap10": (3, 224), "resnet18": (3, 224), "resnet18_modified": (3, 32)}
"""Each network's standard input (channels, side): Fashion-MNIST for ConvNet-3, 224 px ImageNet subsets for
ConvNet-6 / ResNetAP-10 / ResNet-18, and RDED's sides for its variants (Tiny ImageNet 64, ImageNette 128, CIFAR 32)."""


def build_network(name: str, channels: int, num_classes: int, resolution: int, *, norm: str = "instance",
                  generator: torch.Generator | None = None, seed: int | None = None) -> EvalNet:
    """A fresh network from the registry, initialised from ``generator`` (or ``seed``; default seed 0)."""
    factory = NETWORKS.get(name)
    net = factory(channels, num_classes, resolution, norm=norm)
    if generator is None:
        generator = torch.Generator().manual_seed(0 if seed is None else seed)
    return net.init_weights(generator)


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
