"""--repeats: N distinct seeded networks, mean ± population std over them, reproducible."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vlcp.errors import VlcpError
from vlcp.evaluate import EvalConfig, evaluate_tensors
from vlcp.evaluate import evaluation as ev


def tensors(ds):
    return torch.from_numpy(ds.data).float() / 255, torch.from_numpy(ds.labels)


def test_three_repeats_are_distinct_seeded_runs(tiny_train, tiny_test, monkeypatch):
    x, y = tensors(tiny_train)
    tx, ty = tensors(tiny_test)
    seeds = []
    real = ev.train_and_test

    def spy(net, *a, rng, **k):
        seeds.append((rng.seed, net.body[0].weight.detach().clone()))
        return real(net, *a, rng=rng, **k)

    monkeypatch.setattr(ev, "train_and_test", spy)
    cfg = EvalConfig(repeats=3, seed=5, epochs=1, progress=False)
    row = evaluate_tensors(x[::3], y[::3], tx, ty, cfg, method="m", ipc=10, num_classes=2)
    assert [s for s, _ in seeds] == [5, 6, 7]
    w = [w for _, w in seeds]
    assert not torch.equal(w[0], w[1]) and not torch.equal(w[1], w[2])  # three fresh initialisations
    assert row.runs == 3 and len(row.accuracies) == 3
    assert row.settings["seeds"] == [5, 6, 7]
    losses = [r["train_loss"] for r in row.settings["runs_detail"]]
    assert len(set(losses)) == 3
    assert row.mean == pytest.approx(np.mean(row.accuracies))
    assert row.std == pytest.approx(np.std(row.accuracies))  # population std, as the DC code


def test_same_seed_reproduces(tiny_train, tiny_test):
    x, y = tensors(tiny_train)
    tx, ty = tensors(tiny_test)
    cfg = EvalConfig(repeats=2, seed=1, epochs=2, protocol="dsa", progress=False)
    a = evaluate_tensors(x[::4], y[::4], tx, ty, cfg, method="m", ipc=8, num_classes=2)
    b = evaluate_tensors(x[::4], y[::4], tx, ty, cfg, method="m", ipc=8, num_classes=2)
    assert a.accuracies == b.accuracies
    assert [r["train_loss"] for r in a.settings["runs_detail"]] == [r["train_loss"] for r in b.settings["runs_detail"]]


def test_mean_std_from_accuracies():
    from vlcp.evaluate import ResultRow
    row = ResultRow.from_accuracies("m", 10, "convnet3", "dc", [80.0, 82.0, 84.0])
    assert row.mean == pytest.approx(82.0)
    assert row.std == pytest.approx(np.sqrt(8 / 3))
    assert row.runs == 3


def test_learning_separates_the_toy_classes(tiny_train, tiny_test):
    x, y = tensors(tiny_train)
    tx, ty = tensors(tiny_test)
    row = evaluate_tensors(x, y, tx, ty, EvalConfig(repeats=1, epochs=6, progress=False), method="m", ipc=30,
                           num_classes=2)
    assert row.mean >= 90.0
    s = row.settings
    assert (s["protocol"], s["model"], s["epochs"], s["batch_size"], s["parameters"]) == ("dc", "convnet3", 6, 256, 317_706 - 8 * 2048 - 8)


def test_minimax_reports_final_and_best(tiny_train, tiny_test, monkeypatch):
    """The row's number is the last test (final epoch); ``best`` the highest test, at its epoch."""
    from vlcp.evaluate import trainer

    scripted = iter([70.0, 90.0, 80.0])  # test accuracy after epochs 0, 1, 2 (minimax tests every epoch here)
    monkeypatch.setattr(trainer, "test_accuracy", lambda *a, **k: next(scripted))
    x, y = tensors(tiny_train)
    tx, ty = tensors(tiny_test)
    row = evaluate_tensors(x[::6], y[::6], tx, ty, EvalConfig(protocol="minimax", repeats=1, epochs=3,
                                                              progress=False), method="m", ipc=5, num_classes=2)
    assert row.accuracies == [80.0] and row.best_accuracies == [90.0]
    assert row.settings["runs_detail"][0]["best_epoch"] == 1
    d = row.to_dict()
    assert "selected on the test set" in d["best_note"]
    assert [t for t in ("method", "ipc", "model", "protocol", "mean", "std", "runs") if t not in d] == []


def test_rded_needs_teacher_and_runs_with_one(tiny_train, tiny_test):
    from vlcp.evaluate.networks import build_network
    x, y = tensors(tiny_train)
    tx, ty = tensors(tiny_test)
    cfg = EvalConfig(protocol="rded", repeats=1, epochs=2, progress=False)
    with pytest.raises(VlcpError, match="teacher"):
        evaluate_tensors(x, y, tx, ty, cfg, method="m", ipc=30, num_classes=2)
    teacher = build_network("convnet3", 1, 2, 28, seed=0)
    row = evaluate_tensors(x[::6], y[::6], tx, ty, cfg, method="m", ipc=5, num_classes=2, teacher=teacher)
    assert row.runs == 1 and row.settings["batch_size"] == 10 and "KL" in row.settings["loss"]


def test_shape_mismatch_is_an_error(tiny_train):
    x, y = tensors(tiny_train)
    with pytest.raises(VlcpError, match="differ"):
        evaluate_tensors(x, y, torch.rand(2, 3, 28, 28), torch.tensor([0, 1]), EvalConfig(progress=False),
                         method="m", ipc=1, num_classes=2)


@pytest.mark.parametrize("kw,setting", [({"model": "vgg"}, "model"), ({"protocol": "x"}, "protocol"),
                                        ({"repeats": 0}, "repeats"), ({"epochs": 0}, "epochs"),
                                        ({"device": "gpu"}, "device"), ({"mean": (0.5,)}, "mean"),
                                        ({"mean": (0.5,), "std": (0.0,)}, "std"), ({"norm": "layer"}, "norm")])
def test_config_validation_names_the_setting(kw, setting):
    with pytest.raises(VlcpError, match=f"'{setting}'"):
        EvalConfig(**kw)
