"""Issue 9 item 7: Minimax's ImageNet-1K settings and DC's 1000 epochs with its MNIST augmentation."""
from __future__ import annotations

import pytest
import torch

import vlcp.evaluate.evaluation as evaluation
from vlcp.evaluate import EvalConfig
from vlcp.evaluate.protocols import PROTOCOLS


def test_minimax_imagenet1k_settings():
    big, small = PROTOCOLS.get("minimax").for_classes(1000), PROTOCOLS.get("minimax").for_classes(100)
    assert (big.lr, big.weight_decay, big.default_batch_size(10, 1000)) == (0.1, 1e-4, 128)
    assert (small.lr, small.weight_decay, small.default_batch_size(10, 100)) == (0.01, 5e-4, 64)
    assert big.settings(10, 128)["lr"] == 0.1


class _Stop(Exception):
    pass


def _epochs_used(monkeypatch, **cfg) -> int:
    """The epochs ``evaluate_tensors`` hands to the trainer (stopped before training)."""
    seen = {}

    def fake(net, *a, **kw):
        seen.update(kw)
        raise _Stop

    monkeypatch.setattr(evaluation, "train_and_test", fake)
    x, y = torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 0, 1])
    with pytest.raises(_Stop):
        evaluation.evaluate_tensors(x, y, x, y, EvalConfig(repeats=1, progress=False, **cfg), method="m", ipc=2,
                                    num_classes=2)
    return seen["epochs"]


def test_dc_augment_trains_1000_epochs(monkeypatch):
    assert _epochs_used(monkeypatch, dc_augment=True) == 1000
    assert _epochs_used(monkeypatch) == 300
    assert _epochs_used(monkeypatch, dc_augment=True, epochs=7) == 7
