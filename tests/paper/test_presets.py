"""Dataset presets: class lists by WordNet id, names used in prompts, ImageNet layout, CIFAR batches."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from vlcp.data.config import DataConfig
from vlcp.data.presets import (CIFAR10, CIFAR100, IMAGENET100, IMAGENETTE, IMAGEWOOF, get_preset,
                               imagenet_class_names, load_preset)
from vlcp.errors import VlcpError


def test_class_lists():
    names = imagenet_class_names()
    assert len(names) == 1000 and list(names) == sorted(names)
    sizes = {"imagenette": 10, "imagewoof": 10, "imageidc": 10, "imagenet100": 100, "imagenet1k": 1000,
             "cifar10": 10, "cifar100": 100}
    for name, n in sizes.items():
        p = get_preset(name)
        assert len(p.classes) == len(set(p.classes)) == n, name
        if p.kind == "imagenet":
            assert set(p.classes) <= set(names)
    assert get_preset("ImageNet-1K").name == "imagenet1k"
    assert get_preset("imageidc").classes == tuple(IMAGENET100[:10])
    assert IMAGENETTE == sorted(IMAGENETTE) and IMAGEWOOF == sorted(IMAGEWOOF)
    assert [get_preset(n).resolution for n in ("imagenette", "imagenet1k", "cifar10")] == [256, 224, 32]
    assert get_preset("imagenette").class_names[:2] == ["tench, Tinca tinca", "English springer, English springer spaniel"]
    assert "Saluki, gazelle hound" in get_preset("imageidc").class_names  # Table 6's class
    assert get_preset("imagewoof").class_names[0] == "Shih-Tzu"
    assert CIFAR10[0] == "airplane" and CIFAR100[:3] == ["apple", "aquarium_fish", "baby"]
    assert get_preset("cifar100").class_names[1] == "aquarium fish"
    with pytest.raises(VlcpError, match="unknown dataset preset"):
        get_preset("imagenet-22k")


def test_imagenet_layout(imagenet_root):
    train = load_preset("imagenette", imagenet_root, "train")
    assert train.classes == IMAGENETTE and train.resolution == 256 and train.channels == 3
    assert train.class_names[0] == "tench, Tinca tinca"
    assert len(train) == 2 * 4 + 8 * 1  # the extra class folder n09999999 is not read
    assert train.images([0]).shape == (1, 3, 256, 256)
    test = load_preset("imagenette", imagenet_root, "test", resolution=32)
    assert test.root.name == "val" and len(test) == 2 * 2 + 8 and test.images([0]).shape == (1, 3, 32, 32)
    with pytest.raises(VlcpError, match="class folders of preset 'imagewoof' are missing"):
        load_preset("imagewoof", imagenet_root, "train")
    with pytest.raises(VlcpError, match="needs the dataset's folder"):
        load_preset("imagenette", None)


def test_flat_val_folder_is_explained(tmp_path):
    from PIL import Image

    (tmp_path / "train").mkdir()
    (tmp_path / "val").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "val" / "ILSVRC2012_val_00000001.JPEG")
    with pytest.raises(VlcpError, match="valprep"):
        load_preset("imagenette", tmp_path, "test")


def test_data_config_preset(imagenet_root):
    cfg = DataConfig(preset="imagenette", data_dir=str(imagenet_root), num_classes=2, per_class=3)
    ds = cfg.load("train")
    assert ds.classes == IMAGENETTE[:2] and len(ds) == 6 and ds.resolution == 256
    assert ds.file_name(0) == f"train/{IMAGENETTE[0]}/{IMAGENETTE[0]}_0000.JPEG"
    assert cfg.load("train", resolution=64).images([0]).shape[-1] == 64
    assert len(cfg.load("test")) == 4
    with pytest.raises(VlcpError, match="preset"):
        DataConfig(preset="nope")


def _write_cifar(folder, n_classes, labels_key, files):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, n in files:
        d = {b"data": rng.integers(0, 255, (n, 3072), dtype=np.uint8),
             labels_key: [int(i % n_classes) for i in range(n)]}
        with open(folder / name, "wb") as f:
            pickle.dump(d, f)


def test_cifar_python_batches(tmp_path):
    _write_cifar(tmp_path / "cifar-10-batches-py", 10, b"labels",
                 [(f"data_batch_{i}", 4) for i in range(1, 6)] + [("test_batch", 3)])
    train = load_preset("cifar10", tmp_path, "train")
    assert len(train) == 20 and train.resolution == 32 and train.channels == 3
    assert train.classes == list(CIFAR10) and train.labels[:3].tolist() == [0, 1, 2]
    assert train.file_name(1) == "train/automobile/00001.png"
    assert len(load_preset("cifar10", tmp_path / "cifar-10-batches-py", "test")) == 3
    _write_cifar(tmp_path / "c100", 100, b"fine_labels", [("train", 5), ("test", 2)])
    ds = DataConfig(preset="cifar100", data_dir=str(tmp_path / "c100"), num_classes=3).load("train")
    assert ds.classes == ["apple", "aquarium_fish", "baby"] and len(ds) == 3


def test_cifar_image_folder(tmp_path):
    from PIL import Image

    for split in ("train", "test"):
        for c in CIFAR10:
            (tmp_path / split / c).mkdir(parents=True)
            Image.new("RGB", (32, 32), (10, 20, 30)).save(tmp_path / split / c / "0.png")
    ds = load_preset("cifar10", tmp_path, "test")
    assert ds.classes == list(CIFAR10) and ds.resolution == 32 and len(ds) == 10
