"""Issue 9 item 5: the embedded model's pad/crop rule applies to the embedded model only."""
from __future__ import annotations

import torch


def test_sd_model_resizes_a_slightly_smaller_image(tiny_sd):
    from vlcp.models import load_model

    adapter = load_model(str(tiny_sd)).adapter(60, 3)  # 64 px model: padding would put black borders in
    x = adapter.to_model(torch.ones(1, 3, 60, 60))
    assert x.shape[-1] == 64 and torch.allclose(x, torch.ones_like(x))  # white to the edge (padded: -1)
    assert adapter.to_data(x).shape[-1] == 60


def test_embedded_model_keeps_padding(tiny_model):
    adapter = tiny_model.adapter(28, 1)
    x = adapter.to_model(torch.ones(1, 1, 28, 28))
    assert x[0, 0, 0, 0] == -1 and x[0, 0, 2, 2] == 1  # 2-pixel zero border, image exactly inside
    torch.testing.assert_close(adapter.to_data(x), torch.ones(1, 1, 28, 28))
