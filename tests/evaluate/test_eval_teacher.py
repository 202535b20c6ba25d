"""Issue 9 item 6, RDED protocol: --teacher weights, the teacher's accuracy in every row, pooling only with
the same teacher, RDED's defaults (BatchNorm, input sides, Resize + CenterCrop test transform, ImageNet stats)."""
from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from evalhelpers import pattern_images, write_folder
from reference_nets import TorchvisionResNet18, randomise
from vlcp.data import TensorDataset
from vlcp.errors import VlcpError
from vlcp.evaluate import EvalConfig, ResultRow, evaluate_folder
from vlcp.evaluate.cli import add_parsers
from vlcp.evaluate import evaluation
from vlcp.evaluate.evaluation import default_side, scaled_test_images
from vlcp.evaluate.networks import build_network
from vlcp.evaluate.protocols import IMAGENET_STATS, PROTOCOLS
from vlcp.evaluate.results import markdown_table, merge_rows
from vlcp.evaluate.teacher import load_teacher, weights_digest


def _bn_convnet(classes: int = 2, channels: int = 1, side: int = 28, seed: int = 3):
    return randomise(build_network("convnet3", channels, classes, side, norm="batch"), seed)


def _accuracy(net, x, y, mean, std) -> float:
    """Top-1 accuracy (%) computed here, independently of vlcp's scorer."""
    m = torch.tensor(mean).view(1, -1, 1, 1)
    s = torch.tensor(std).view(1, -1, 1, 1)
    with torch.no_grad():
        pred = net.eval()((x.float() / 255 - m) / s).argmax(1)
    return 100.0 * float((pred == y).float().mean())


def test_teacher_from_safetensors_and_from_a_wrapped_torch_state_dict(tmp_path):
    teacher = _bn_convnet()
    state = teacher.state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, tmp_path / "t.safetensors")
    # RDED's checkpoints: {"model": state dict of a DataParallel module}
    torch.save({"model": {f"module.{k}": v for k, v in state.items()}, "epoch": 7}, tmp_path / "t.pth")
    x = torch.rand(4, 1, 28, 28)
    loaded = []
    for name in ("t.safetensors", "t.pth"):
        net, meta = load_teacher(tmp_path / name, "convnet3", 1, 2, 28, norm="instance")
        assert meta["norm"] == "batch"  # found from the weights (running statistics), not from the norm asked for
        assert torch.equal(net(x), teacher(x))
        loaded.append(meta["digest"])
    assert loaded[0] == loaded[1] == weights_digest(state)


def test_a_torchvision_resnet18_file_is_a_resnet18_teacher(tmp_path):
    ref = randomise(TorchvisionResNet18(3, norm="batch"), seed=1)
    torch.save(ref.state_dict(), tmp_path / "resnet18.pth")
    net, meta = load_teacher(tmp_path / "resnet18.pth", "resnet18", 3, 3, 32)
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(net(x), ref(x), atol=1e-5) and meta["model"] == "resnet18"


class _NotWeights:
    pass


def test_bad_teacher_files_are_one_line_errors_naming_the_file(tmp_path):
    cases = []
    torch.save({"model": _NotWeights()}, tmp_path / "code.pth")  # weights_only refuses to unpickle it
    cases.append(("code.pth", "convnet3", 2, "the file holds more than weights (pickled objects or code), so it was "
                                             "refused"))
    save_file(dict(_bn_convnet(classes=5).state_dict()), tmp_path / "five.safetensors")
    cases.append(("five.safetensors", "convnet3", 2, "classifier has 5 outputs but the evaluation has 2 classes"))
    save_file(dict(_bn_convnet().state_dict()), tmp_path / "conv.safetensors")
    cases.append(("conv.safetensors", "resnet18_modified", 2, "do not fit resnet18_modified"))
    cases.append(("missing.pt", "convnet3", 2, "file not found"))
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    cases.append(("junk.safetensors", "convnet3", 2, "not a readable safetensors file"))
    for name, model, classes, message in cases:
        with pytest.raises(VlcpError) as e:
            load_teacher(tmp_path / name, model, 1, classes, 28)
        text = str(e.value)
        assert message in text and str(tmp_path / name) in text and "\n" not in text, text
        assert "weights_only` set to `False`" not in text  # never torch's advice to turn the check off


def test_evaluate_with_a_given_teacher_records_its_test_accuracy(tmp_path, tiny_train, tiny_test):
    from vlcp.evaluate.teacher import train_on_full

    trained, _ = train_on_full(tiny_train, epochs=2, norm="batch", progress=False)
    save_file({k: v.contiguous() for k, v in trained.state_dict().items()}, tmp_path / "teacher.safetensors")
    folder = write_folder(tmp_path / "d", tiny_train, per_class=3)
    cfg = EvalConfig(protocol="rded", teacher=str(tmp_path / "teacher.safetensors"), epochs=1, repeats=1,
                     progress=False)
    row = evaluate_folder(folder, tiny_test, cfg)  # no training split needed with a teacher
    norm = row.settings["normalisation"]
    expected = _accuracy(trained, torch.from_numpy(tiny_test.data), torch.from_numpy(tiny_test.labels),
                         norm["mean"], norm["std"])
    assert row.settings["teacher_accuracy"] == pytest.approx(expected, abs=1e-3)
    assert row.to_dict()["teacher_accuracy"] == pytest.approx(expected, abs=1e-3)
    t = row.settings["teacher"]
    assert t["source"] == str(tmp_path / "teacher.safetensors") and t["digest"] == weights_digest(trained.state_dict())
    assert row.settings["norm"] == "batch"  # RDED's networks


def test_rows_with_different_teachers_do_not_pool():
    def row(digest, accs):
        teacher = None if digest is None else {"source": f"t-{digest}.pt", "digest": digest, "accuracy": 91.0}
        return ResultRow.from_accuracies("vlcp", 10, "resnet18", "rded", accs, {"epochs": 300, "teacher": teacher}
                                         if teacher else {"epochs": 300})

    pooled = merge_rows([row("aaaa", [50.0]), row("aaaa", [52.0])])
    assert pooled[0].runs == 2 and pooled[0].teacher_accuracy == 91.0
    for other in ("bbbb", None):
        with pytest.raises(VlcpError, match="different teachers") as e:
            merge_rows([row("aaaa", [50.0]), row(other, [52.0])])
        assert "\n" not in str(e.value) and "t-aaaa.pt" in str(e.value)
    table = markdown_table([row("aaaa", [50.0]), ResultRow.from_accuracies(
        "random", 10, "resnet18", "rded", [40.0], {"teacher": {"source": "u.pt", "digest": "cccc", "accuracy": 80.0}})])
    assert "its own test accuracy 91.0 %" in table and "2 different teachers" in table


def test_one_teacher_trained_then_read_from_its_cache_is_one_teacher_in_the_notes():
    trained = {"description": "convnet3 trained by vlcp on the full training set, 10 epochs", "digest": "aaaa",
               "accuracy": 89.9}
    cached = {**trained, "cached": "/somewhere/teacher_convnet3.safetensors"}
    table = markdown_table([ResultRow.from_accuracies(m, 10, "convnet3", "rded", [80.0], {"teacher": t})
                            for m, t in (("random", trained), ("vlcp", cached))])
    assert table.count("teacher (soft labels)") == 1 and "different teachers" not in table
    assert "/somewhere" not in table  # the recipe names the teacher, not this machine's cache path


def _parser():
    p = argparse.ArgumentParser(prog="vlcp")
    add_parsers(p.add_subparsers(dest="command", required=True))
    return p


def test_cli_teacher_flag_and_merge_refusal(tmp_path, tiny_train, tiny_test):
    data = tmp_path / "data"
    write_folder(data / "train", tiny_train, per_class=30)
    write_folder(data / "val", tiny_test, per_class=20)
    distilled = write_folder(tmp_path / "vlcp", tiny_train, per_class=3)
    outs = []
    for seed in (3, 4):
        path = tmp_path / f"teacher{seed}.safetensors"
        save_file(dict(_bn_convnet(seed=seed).state_dict()), path)
        outs.append(tmp_path / f"out{seed}")
        args = _parser().parse_args(["evaluate", str(distilled), "--data-dir", str(data), "--protocol", "rded",
                                     "--teacher", str(path), "--epochs", "1", "--repeats", "1", "--out", str(outs[-1]),
                                     "--no-progress"])
        assert args.func(args) == 0
        row = json.loads((outs[-1] / "results.json").read_text())["rows"][0]
        assert row["settings"]["teacher"]["source"] == str(path) and "teacher_accuracy" in row
        assert "its own test accuracy" in (outs[-1] / "results.md").read_text()
    args = _parser().parse_args(["evaluate", "--merge", str(outs[0] / "results.json"), str(outs[1] / "results.json"),
                                 "--out", str(tmp_path / "merged")])
    with pytest.raises(VlcpError, match="different teachers"):
        args.func(args)


def test_rded_defaults_per_dataset():
    rded = PROTOCOLS.get("rded")
    assert rded.default_norm == "batch" and PROTOCOLS.get("dc").default_norm == "instance"
    assert EvalConfig(protocol="rded").resolved_norm() == "batch" and EvalConfig().resolved_norm() == "instance"
    assert EvalConfig(protocol="rded", norm="instance").resolved_norm() == "instance"
    # RDED's input_size: CIFAR 32, Tiny ImageNet 64, ConvNets on ImageNet subsets 128, ImageNet networks 224
    sides = {(m, n): rded.input_side(m, n) for m, n in [("convnet3", 32), ("resnet18_modified", 32),
                                                         ("convnet4", 64), ("convnet5", 256), ("convnet6", 256),
                                                         ("resnet18", 256), ("resnet18", 224)]}
    assert list(sides.values()) == [32, 32, 64, 128, 128, 224, 224]
    # test transform: Resize(side // 7 * 8) + CenterCrop(side)
    assert [rded.test_load_side(s) for s in (224, 128, 32)] == [256, 144, 32]
    assert PROTOCOLS.get("minimax").test_load_side(224) == 224
    assert default_side(EvalConfig(protocol="rded", model="resnet18"), 256) == 224
    assert default_side(EvalConfig(protocol="rded", model="resnet18", resolution=160), 256) == 160
    assert default_side(EvalConfig(protocol="dc"), 32) == 32


def test_rded_test_transform_is_resize_then_centre_crop():
    x = torch.rand(2, 3, 256, 256)
    out, how = scaled_test_images(x, 224, crop=True)
    assert torch.equal(out, x[..., 16:240, 16:240]) and "centre crop 224" in how
    out, _ = scaled_test_images(x, 224, crop=False)  # other protocols resize the whole image
    assert out.shape[-1] == 224 and not torch.equal(out, x[..., 16:240, 16:240])


def _rgb_set(n_per_class: int, seed: int, side: int) -> TensorDataset:
    grey = pattern_images(n_per_class, seed, side=side)
    rgb = np.repeat(grey.data, 3, axis=1)
    rgb[:, 0] = rgb[:, 0] // 2  # colour, so that per-channel statistics differ
    return TensorDataset(rgb, grey.labels, grey.classes, grey.class_names, "test")


def test_rded_colour_images_use_imagenet_statistics_and_the_centre_crop(tmp_path, monkeypatch):
    test = _rgb_set(6, seed=2, side=72)  # 72 = 64 // 7 * 8: RDED's test images for 64 px networks
    folder = tmp_path / "d"
    for c, name in enumerate(test.classes):
        (folder / name).mkdir(parents=True)
        for i in np.flatnonzero(test.labels == c)[:2]:
            Image.fromarray(test.data[i].transpose(1, 2, 0)).save(folder / name / f"{i}.png")
    save_file(dict(_bn_convnet(channels=3, side=64).state_dict()), tmp_path / "t.safetensors")
    cfg = EvalConfig(protocol="rded", teacher=str(tmp_path / "t.safetensors"), epochs=1, repeats=1, progress=False)
    seen = {}
    real = evaluation.evaluate_tensors

    def spy(x, y, test_x, *a, **k):
        seen["test_x"] = test_x
        return real(x, y, test_x, *a, **k)

    monkeypatch.setattr(evaluation, "evaluate_tensors", spy)
    row = evaluate_folder(folder, test, cfg, side=64)
    s = row.settings
    assert tuple(s["normalisation"]["mean"]) == IMAGENET_STATS[0] and "ImageNet" in s["normalisation"]["source"]
    assert s["resolution"] == 64 and s["test_transform"].startswith("short side 72 px, centre crop 64 px")
    assert torch.equal(seen["test_x"], torch.from_numpy(test.data)[..., 4:68, 4:68])  # the central crop, not resized


def test_a_tampered_teacher_cache_is_retrained_not_used(tmp_path, tiny_train):
    """A cached full-training-set network with NaN weights (edited, or damaged) is retrained and overwritten."""
    from vlcp.evaluate.teacher import train_on_full

    cache = tmp_path / "teacher.safetensors"
    net, _ = train_on_full(tiny_train, epochs=1, cache=cache, progress=False)
    from safetensors import safe_open

    with safe_open(str(cache), framework="pt") as f:
        meta = f.metadata()
    state = {k: v.clone() for k, v in net.state_dict().items()}
    first = next(k for k, v in state.items() if v.is_floating_point())
    state[first].fill_(float("nan"))
    save_file(state, str(cache), metadata=meta)
    again, meta2 = train_on_full(tiny_train, epochs=1, cache=cache, progress=False)
    assert "cached" not in meta2 and all(torch.isfinite(v).all() for v in again.state_dict().values()
                                         if v.is_floating_point())
