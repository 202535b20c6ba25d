"""Protocol tables: learning-rate schedules, epochs by IPC, batch sizes, test points."""
from __future__ import annotations

import math

import pytest
import torch

from vlcp.evaluate.networks import build_network
from vlcp.evaluate.protocols import PROTOCOLS, minimax_epochs, rded_batch_size
from vlcp.evaluate.trainer import Rng, make_optimizer, train_and_test


def test_registry():
    assert PROTOCOLS.names() == ["dc", "ddranking", "ddranking_best", "ddranking_noaug", "dsa", "minimax", "rded"]


def test_dc_and_dsa_hyperparameters():
    for name, epochs in (("dc", 300), ("dsa", 1000)):
        p = PROTOCOLS.get(name)
        assert (p.optimizer, p.lr, p.momentum, p.weight_decay) == ("sgd", 0.01, 0.9, 5e-4)
        assert p.default_epochs(10, 10) == epochs and p.default_batch_size(10, 10) == 256
        assert p.loss == "ce" and p.test_epochs(epochs) == [epochs - 1]
    assert PROTOCOLS.get("dc").augment == "none" and PROTOCOLS.get("dsa").augment == "dsa"


def test_dc_schedule_decays_after_half():
    p = PROTOCOLS.get("dc")
    factors = [p.lr_factor(e, 300) for e in range(300)]
    assert factors[:150] == [1.0] * 150 and factors[150:] == [0.1] * 150


def test_minimax_schedule_multistep():
    p = PROTOCOLS.get("minimax")
    assert (p.optimizer, p.lr, p.momentum, p.weight_decay, p.default_batch_size(10, 10)) == ("sgd", 0.01, 0.9, 5e-4, 64)
    E = 2000  # milestones 1333 and 1666, gamma 0.2
    assert p.lr_factor(0, E) == 1.0 and p.lr_factor(1332, E) == 1.0
    assert p.lr_factor(1333, E) == pytest.approx(0.2) and p.lr_factor(1665, E) == pytest.approx(0.2)
    assert p.lr_factor(1666, E) == pytest.approx(0.04) and p.lr_factor(1999, E) == pytest.approx(0.04)


def test_minimax_matches_torch_multisteplr():
    net = torch.nn.Linear(2, 2)
    opt = torch.optim.SGD(net.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[2 * 30 // 3, 5 * 30 // 6], gamma=0.2)
    p = PROTOCOLS.get("minimax")
    for e in range(30):
        assert opt.param_groups[0]["lr"] == pytest.approx(p.lr_factor(e, 30))
        opt.step()
        sched.step()


@pytest.mark.parametrize("ipc,classes,epochs", [(1, 10, 3000), (10, 10, 2000), (20, 10, 1500), (50, 10, 1500),
                                                (100, 10, 1000), (200, 10, 1000), (500, 10, 500), (1000, 10, 300),
                                                (1, 100, 2000), (10, 100, 1300), (50, 100, 1000), (100, 100, 600)])
def test_minimax_epochs_by_ipc(ipc, classes, epochs):
    assert minimax_epochs(ipc, classes) == epochs


def test_minimax_test_points_every_hundredth():
    p = PROTOCOLS.get("minimax")
    pts = p.test_epochs(2000)
    assert pts[0] == 19 and pts[-1] == 1999 and len(pts) == 100
    assert p.test_epochs(3) == [0, 1, 2]


def test_rded_settings_and_cosine():
    p = PROTOCOLS.get("rded")
    assert (p.optimizer, p.lr, p.weight_decay, p.temperature) == ("adamw", 1e-3, 0.01, 20.0)
    assert p.lr_factor(0, 300) == 1.0
    assert p.lr_factor(150, 300) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert all(p.lr_factor(e + 1, 300) < p.lr_factor(e, 300) for e in range(299))
    assert rded_batch_size(10, 10) == 50 and rded_batch_size(50, 10) == 100 and rded_batch_size(1, 10) == 10
    assert rded_batch_size(10, 100) == 100 and rded_batch_size(1, 2) == 2
    assert p.test_epochs(300) == [249, 259, 269, 279, 289, 299]


def test_rded_adamw_decays_weights_only():
    net = build_network("convnet3", 1, 2, 28)
    opt = make_optimizer(PROTOCOLS.get("rded"), net)
    decay, rest = opt.param_groups
    assert decay["weight_decay"] == 0.01 and rest["weight_decay"] == 0.0
    assert all(p.ndim > 1 for p in decay["params"]) and all(p.ndim == 1 for p in rest["params"])


def _steps(monkeypatch, protocol: str, epochs: int = 4) -> list[tuple[float, bool]]:
    """(lr, momentum buffers present) before each optimiser step of a one-batch-per-epoch run."""
    seen = []
    real_step = torch.optim.SGD.step

    def spy(self, *a, **k):
        has_momentum = any("momentum_buffer" in self.state[q] for q in self.param_groups[0]["params"])
        seen.append((self.param_groups[0]["lr"], has_momentum))
        return real_step(self, *a, **k)

    monkeypatch.setattr(torch.optim.SGD, "step", spy)
    rng = Rng(0)
    net = build_network("convnet3", 1, 2, 28, generator=rng.torch)
    x, y = torch.rand(4, 1, 28, 28), torch.tensor([0, 1, 0, 1])
    train_and_test(net, x, y, x, y, PROTOCOLS.get(protocol), epochs=epochs, batch_size=4, rng=rng, mean=(0.5,),
                   std=(0.25,), device=torch.device("cpu"))
    return seen


def test_trainer_applies_the_schedule_and_dc_restarts_momentum_at_the_decay(monkeypatch):
    """The lr follows lr_factor epoch by epoch; DC (and DSA) build a fresh optimiser at the decay, so the
    first step after it has no momentum buffers; Minimax keeps its momentum across its milestones."""
    seen = _steps(monkeypatch, "dc")
    assert [lr for lr, _ in seen] == pytest.approx([0.01, 0.01, 0.001, 0.001])
    assert [m for _, m in seen] == [False, True, False, True]  # restarted at epoch 2
    assert [m for _, m in _steps(monkeypatch, "dsa")] == [False, True, False, True]
    seen = _steps(monkeypatch, "minimax", epochs=6)  # milestones 4 and 5
    assert [lr for lr, _ in seen] == pytest.approx([0.01] * 4 + [0.002, 0.0004])
    assert [m for _, m in seen] == [False] + [True] * 5
