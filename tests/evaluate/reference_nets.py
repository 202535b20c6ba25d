"""Frozen reference definitions of the evaluation networks, written from the reference codes' architectures
with their parameter names — the forward-equivalence tests load one state dict into these and into
``vlcp.evaluate.networks`` and compare outputs. Do not "fix" these to match vlcp: they are the yardstick.

- ``DCConvNet``: DC / DSA / DM (``features`` = [conv 3×3, norm, ReLU, avg-pool 2] × depth, ``classifier``;
  the first conv pads by 3 for one-channel input, 28 px counted as 32; without norm the layer is left out).
- ``RDEDConvNet``: RDED's ConvNet (``layers.conv`` / ``layers.norm`` lists applied by index, ``classifier``).
- ``ResNetAP``: Minimax's / IDC's ResNetAP (``layer0`` intro block by input size, stride-1 convs with
  average pooling inside the blocks, shortcut conv 1×1 → avg-pool → norm, ``fc``).
- ``TorchvisionResNet18``: torchvision's ``resnet18`` (``conv1`` 7×7/2, ``bn1``, max-pool, ``layer1``-``layer4``,
  adaptive avg-pool, ``fc``); ``modified=True`` is RDED's ``resnet18_modified`` (3×3/1 ``conv1``, no max-pool).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def norm2d(kind: str, c: int) -> nn.Module | None:
    if kind == "instance":
        return nn.GroupNorm(c, c, affine=True)
    if kind == "batch":
        return nn.BatchNorm2d(c)
    return None


class DCConvNet(nn.Module):
    def __init__(self, channel: int, num_classes: int, width: int = 128, depth: int = 3, norm: str = "instance",
                 im_size: int = 32) -> None:
        super().__init__()
        side = 32 if im_size == 28 else im_size
        layers: list[nn.Module] = []
        c_in = channel
        for d in range(depth):
            layers.append(nn.Conv2d(c_in, width, kernel_size=3, padding=3 if channel == 1 and d == 0 else 1))
            n = norm2d(norm, width)
            if n is not None:
                layers.append(n)
            layers.append(nn.ReLU(inplace=True))
            layers.append(nn.AvgPool2d(kernel_size=2, stride=2))
            c_in = width
            side //= 2
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(width * side * side, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.features(x)
        return self.classifier(out.view(out.size(0), -1))


class RDEDConvNet(nn.Module):
    def __init__(self, num_classes: int, depth: int = 3, width: int = 128, channel: int = 3, norm: str = "batch",
                 im_size: int = 32) -> None:
        super().__init__()
        side = 32 if im_size == 28 else im_size
        self.depth = depth
        conv, norms = [], []
        c_in = channel
        for d in range(depth):
            conv.append(nn.Conv2d(c_in, width, kernel_size=3, padding=3 if channel == 1 and d == 0 else 1))
            if norm != "none":
                norms.append(norm2d(norm, width))
            c_in = width
            side //= 2
        self.layers = nn.ModuleDict({"conv": nn.ModuleList(conv), "norm": nn.ModuleList(norms)})
        self.act = nn.ReLU()
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2)
        self.classifier = nn.Linear(width * side * side, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for d in range(self.depth):
            x = self.layers["conv"][d](x)
            if len(self.layers["norm"]) > 0:
                x = self.layers["norm"][d](x)
            x = self.pool(self.act(x))
        return self.classifier(x.view(x.shape[0], -1))


def _ap_norm(kind: str, c: int) -> nn.Module:
    return nn.GroupNorm(c, c) if kind == "instance" else nn.BatchNorm2d(c) if kind == "batch" else nn.Identity()


def _ap_conv(c_in: int, c_out: int, k: int, norm: str) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, kernel_size=k, stride=1, padding=k // 2, bias=norm == "none")


class IntroBlock(nn.Module):
    def __init__(self, size: str, planes: int, norm: str, nch: int = 3) -> None:
        super().__init__()
        self.size = size
        self.conv1 = _ap_conv(nch, planes, 7 if size == "large" else 3, norm)
        self.bn1 = _ap_norm(norm, planes)
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.AvgPool2d(kernel_size=4 if size == "large" else 2, stride=4 if size == "large" else 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        return x if self.size == "small" else self.pool(x)


class APBasicBlock(nn.Module):
    def __init__(self, inplanes: int, planes: int, norm: str, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = _ap_conv(inplanes, planes, 3, norm)
        self.bn1 = _ap_norm(norm, planes)
        self.conv2 = _ap_conv(planes, planes, 3, norm)
        self.bn2 = _ap_norm(norm, planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        if self.stride != 1:
            out = F.avg_pool2d(out, kernel_size=self.stride, stride=self.stride)
        out = self.bn2(self.conv2(out))
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(out + residual)


class ResNetAP(nn.Module):
    LAYERS = {10: (1, 1, 1, 1), 18: (2, 2, 2, 2)}

    def __init__(self, depth: int, num_classes: int, norm: str = "instance", size: int = 224, nch: int = 3):
        super().__init__()
        self.norm = norm
        net_size = "small" if size <= 64 else "mid" if size <= 128 else "large"
        self.inplanes = 64
        self.layer0 = IntroBlock(net_size, 64, norm, nch)
        layers = self.LAYERS[depth]
        self.layer1 = self._make_layer(64, layers[0])
        self.layer2 = self._make_layer(128, layers[1], stride=2)
        self.layer3 = self._make_layer(256, layers[2], stride=2)
        self.layer4 = self._make_layer(512, layers[3], stride=2)
        self.fc = nn.Linear(self.inplanes, num_classes)

    def _make_layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(_ap_conv(self.inplanes, planes, 1, self.norm),
                                       nn.AvgPool2d(kernel_size=stride, stride=stride), _ap_norm(self.norm, planes))
        out = [APBasicBlock(self.inplanes, planes, self.norm, stride, downsample)]
        self.inplanes = planes
        out += [APBasicBlock(planes, planes, self.norm) for _ in range(1, blocks)]
        return nn.Sequential(*out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.layer0(x)))))
        x = F.avg_pool2d(x, x.shape[-1])
        return self.fc(x.view(x.size(0), -1))


class TVBasicBlock(nn.Module):
    def __init__(self, inplanes: int, planes: int, stride: int, norm: str, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = norm2d(norm, planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = norm2d(norm, planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class TorchvisionResNet18(nn.Module):
    def __init__(self, num_classes: int, norm: str = "batch", modified: bool = False, nch: int = 3) -> None:
        super().__init__()
        if modified:
            self.conv1 = nn.Conv2d(nch, 64, kernel_size=3, stride=1, padding=1, bias=False)
            self.maxpool = nn.Identity()
        else:
            self.conv1 = nn.Conv2d(nch, 64, kernel_size=7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.bn1 = norm2d(norm, 64)
        self.relu = nn.ReLU(inplace=True)
        self.inplanes = 64
        self.layer1 = self._make_layer(64, 1, norm)
        self.layer2 = self._make_layer(128, 2, norm)
        self.layer3 = self._make_layer(256, 2, norm)
        self.layer4 = self._make_layer(512, 2, norm)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, num_classes)

    def _make_layer(self, planes: int, stride: int, norm: str) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, stride=stride, bias=False),
                                       norm2d(norm, planes))
        blocks = [TVBasicBlock(self.inplanes, planes, stride, norm, downsample), TVBasicBlock(planes, planes, 1, norm)]
        self.inplanes = planes
        return nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def randomise(net: nn.Module, seed: int) -> nn.Module:
    """Fill every parameter and buffer (BatchNorm running statistics too) with seeded random values, so that
    equal outputs mean equal computations, not equal initialisations."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(net.named_parameters()) + list(net.named_buffers()):
            if name.endswith("num_batches_tracked"):
                continue
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif name.endswith(("weight", "running_mean")) and t.ndim == 1:
                t.copy_(torch.randn(t.shape, generator=g) * 0.2 + (1.0 if name.endswith("weight") else 0.0))
            else:
                fan_in = t[0].numel() if t.ndim > 1 else 1
                t.copy_(torch.randn(t.shape, generator=g) / fan_in ** 0.5)
    return net.eval()
