"""Each network's output shape and pinned parameter count for its standard input."""
from __future__ import annotations

import pytest
import torch

from vlcp.errors import VlcpError
from vlcp.evaluate.networks import NETWORKS, STANDARD_INPUT, build_network, count_parameters

# Parameter counts for 10 classes at each network's standard input (derived by hand in the comments).
PINNED = {
    # conv 1→128 (1,280) + GN (256) + 2 × [conv 128→128 (147,584) + GN (256)] + linear 2048→10 (20,490)
    "convnet3": 317_706,
    # RDED's ConvNet-4 at 64 px: conv 3→128 (3,584) + GN (256) + 3 × [conv (147,584) + GN] + linear 128·4·4→10
    "convnet4": 467_850,
    # RDED's ConvNet-5 at 128 px: conv 3→128 + GN + 4 × [conv + GN] + linear 128·4·4→10 (20,490)
    "convnet5": 615_690,
    # conv 3→128 (3,584) + GN + 5 × [conv (147,584) + GN] + linear 128·3·3→10 (11,530); 224 → 3 after 6 pools
    "convnet6": 754_570,
    # stem 7×7 3→64 (9,408) + GN (128); blocks 64: 73,984; 128: 230,144; 256: 919,040; 512: 3,673,088; fc 5,130
    "resnet_ap10": 4_910_922,
    # torchvision resnet18 (11,689,512 for 1000 classes) with a 10-class fc: −513,000 + 5,130
    "resnet18": 11_181_642,
    # RDED's resnet18_modified: the 7×7 stem conv (9,408) becomes 3×3 (1,728)
    "resnet18_modified": 11_173_962,
}


def test_registry_lists_every_network():
    assert NETWORKS.names() == sorted(PINNED)


@pytest.mark.parametrize("name", sorted(PINNED))
def test_parameter_count_at_standard_input(name):
    channels, side = STANDARD_INPUT[name]
    net = build_network(name, channels, 10, side)
    assert count_parameters(net) == PINNED[name]


@pytest.mark.parametrize("name,channels,side", [("convnet3", 1, 28), ("convnet3", 3, 32), ("convnet6", 3, 64),
                                                 ("resnet_ap10", 3, 32), ("resnet_ap10", 3, 96),
                                                 ("resnet18_modified", 1, 28), ("resnet18", 3, 64)])
def test_output_shape(name, channels, side):
    net = build_network(name, channels, 7, side)
    x = torch.rand(3, channels, side, side)
    assert net(x).shape == (3, 7)
    assert net.features(x).shape == (3, net.num_features)


def test_convnet3_fashion_mnist_maps_to_2048_features():
    net = build_network("convnet3", 1, 10, 28)
    assert net.body[0].padding == (3, 3)  # 28 → 32, as the DC code
    assert net.features(torch.zeros(1, 1, 28, 28)).shape == (1, 2048)


def test_resnet18_modified_keeps_the_side_until_the_first_stage():
    net = build_network("resnet18_modified", 3, 10, 32)
    assert net.stem(torch.zeros(1, 3, 32, 32)).shape == (1, 64, 32, 32)  # torchvision's stem: 8 × 8
    net = build_network("resnet18", 3, 10, 32, norm="batch")
    assert net.stem(torch.zeros(1, 3, 32, 32)).shape == (1, 64, 8, 8)


def test_convnet6_at_224_and_resnet_ap_stems():
    assert build_network("convnet6", 3, 10, 224).num_features == 128 * 3 * 3
    assert build_network("resnet_ap10", 3, 10, 224).stem_size == "large"
    assert build_network("resnet_ap10", 3, 10, 128).stem_size == "mid"
    assert build_network("resnet_ap10", 3, 10, 32).stem_size == "small"


def test_instance_norm_is_default():
    net = build_network("resnet18", 3, 10, 64)
    norms = [m for m in net.modules() if isinstance(m, torch.nn.GroupNorm)]
    assert norms and all(m.num_groups == m.num_channels for m in norms)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())


def test_initialisation_follows_the_seed():
    a = build_network("convnet3", 1, 10, 28, seed=3).state_dict()
    b = build_network("convnet3", 1, 10, 28, seed=3).state_dict()
    c = build_network("convnet3", 1, 10, 28, seed=4).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["body.0.weight"], c["body.0.weight"])


def test_too_small_input_is_a_clear_error():
    with pytest.raises(VlcpError, match="larger input"):
        build_network("convnet6", 3, 10, 28)


@pytest.mark.parametrize("name,side", [("resnet18", 28), ("resnet18", 32), ("resnet18_modified", 8)])
def test_a_resnet18_whose_last_stage_instance_norm_sees_one_pixel_is_refused(name, side):
    norm = torch.nn.GroupNorm(4, 4)  # instance norm over a 1×1 map: every output is its bias (0) up to rounding
    assert norm(torch.randn(2, 4, 1, 1)).abs().max() < 1e-4
    with pytest.raises(VlcpError, match=f"instance norm at {side} px: its last stage's maps are 1×1"):
        build_network(name, 1, 10, side)
    build_network(name, 1, 10, side, norm="batch")  # batch norm pools over the batch: allowed
