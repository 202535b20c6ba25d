"""Issue 9 item 8: RandomResizedCrop clamps to the border like torchvision (no blending with zero)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from vlcp.evaluate.transforms import resized_crop


def test_all_ones_crop_at_the_corner_stays_one():
    out = resized_crop(torch.ones(1, 3, 32, 32), torch.tensor([[0, 0, 10, 10]]), 32)
    assert torch.allclose(out, torch.ones_like(out))  # was 0.43 at the edge


def test_border_crop_equals_interpolating_the_crop():
    x = torch.arange(32.0).view(1, 1, 1, 32).expand(1, 2, 32, 32).contiguous()
    out = resized_crop(x, torch.tensor([[22, 20, 10, 12]]), 32)  # touches the bottom and right borders
    ref = F.interpolate(x[..., 22:, 20:], size=(32, 32), mode="bilinear", align_corners=False)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-4)
