"""Forward equivalence of every evaluation network with a frozen copy of its reference definition
(``reference_nets.py``): one random state dict (BatchNorm statistics included) loaded into both — through
``vlcp.evaluate.layouts`` for the reference codes' parameter names — gives the same outputs."""
from __future__ import annotations

import copy

import pytest
import torch

from reference_nets import DCConvNet, RDEDConvNet, ResNetAP, TorchvisionResNet18, randomise
from vlcp.evaluate.layouts import to_vlcp_layout
from vlcp.evaluate.networks import NETWORKS, build_network

# (network, channels, side, norm, reference factory(num_classes))
CASES = [
    ("convnet3", 1, 28, "instance", lambda k: DCConvNet(1, k, depth=3, norm="instance", im_size=28)),  # DC, MNIST
    ("convnet3", 3, 32, "instance", lambda k: DCConvNet(3, k, depth=3, norm="instance", im_size=32)),  # DC, CIFAR
    ("convnet3", 3, 32, "batch", lambda k: DCConvNet(3, k, depth=3, norm="batch", im_size=32)),
    ("convnet3", 3, 32, "none", lambda k: DCConvNet(3, k, depth=3, norm="none", im_size=32)),
    ("convnet3", 3, 32, "batch", lambda k: RDEDConvNet(k, depth=3, norm="batch", im_size=32)),  # RDED conv3
    ("convnet4", 3, 64, "batch", lambda k: RDEDConvNet(k, depth=4, norm="batch", im_size=64)),  # RDED conv4
    ("convnet5", 3, 128, "batch", lambda k: RDEDConvNet(k, depth=5, norm="batch", im_size=128)),  # RDED conv5
    ("convnet6", 3, 64, "instance", lambda k: DCConvNet(3, k, depth=6, norm="instance", im_size=64)),  # Minimax
    ("convnet6", 3, 128, "batch", lambda k: RDEDConvNet(k, depth=6, norm="batch", im_size=128)),  # RDED conv6
    ("resnet_ap10", 3, 224, "instance", lambda k: ResNetAP(10, k, norm="instance", size=224)),  # "large" stem
    ("resnet_ap10", 3, 96, "instance", lambda k: ResNetAP(10, k, norm="instance", size=96)),  # "mid" stem
    ("resnet_ap10", 3, 32, "batch", lambda k: ResNetAP(10, k, norm="batch", size=32)),  # "small" stem
    ("resnet18", 3, 64, "batch", lambda k: TorchvisionResNet18(k, norm="batch")),
    ("resnet18", 3, 64, "instance", lambda k: TorchvisionResNet18(k, norm="instance")),
    ("resnet18_modified", 3, 32, "batch", lambda k: TorchvisionResNet18(k, norm="batch", modified=True)),
]


def test_every_network_has_a_reference():
    assert {c[0] for c in CASES} == set(NETWORKS.names())


@pytest.mark.parametrize("name,channels,side,norm,make", CASES,
                         ids=[f"{i}-{c[0]}-{c[1]}x{c[2]}-{c[3]}" for i, c in enumerate(CASES)])
def test_forward_equals_the_reference(name, channels, side, norm, make):
    ref = randomise(make(5), seed=7)
    net = build_network(name, channels, 5, side, norm=norm)
    net.load_state_dict(to_vlcp_layout(name, ref.state_dict()))  # strict: every parameter and buffer matched
    x = torch.randn(2, channels, side, side, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        for mode in ("eval", "train"):  # running statistics, then batch statistics
            a, b = copy.deepcopy(net), copy.deepcopy(ref)
            getattr(a, mode)(), getattr(b, mode)()
            expected = b(x)
            assert expected.std() > 0  # the reference computes something
            torch.testing.assert_close(a(x), expected, rtol=1e-4, atol=1e-5)
