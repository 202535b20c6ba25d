import gzip
import struct

import numpy as np
import pytest
from PIL import Image

from vlcp.data import ImageFolderDataset, SubsetDataset, load_dataset
from vlcp.data.config import DataConfig
from vlcp.errors import VlcpError


def write_idx(path, arr):
    header = struct.pack(">HBB", 0, 8, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


@pytest.fixture()
def idx_dir(tmp_path):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 30), ("t10k", 10)):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 255, (n, 28, 28)))
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    return tmp_path


def test_idx_folder(idx_dir):
    ds = load_dataset(idx_dir)
    assert len(ds) == 30 and ds.channels == 1 and ds.resolution == 28
    x = ds.images([0, 5])
    assert x.shape == (2, 1, 28, 28) and 0 <= x.min() and x.max() <= 1
    assert ds.file_name(3) == "train/dress/00003.png"
    assert len(load_dataset(idx_dir, "test")) == 10


def test_missing_idx_file_is_named(idx_dir):
    (idx_dir / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(VlcpError, match="t10k-labels-idx1-ubyte"):
        load_dataset(idx_dir, "test")


def test_imagefolder_tree(tmp_path):
    for split in ("train", "val"):
        for c in ("cat", "dog"):
            (tmp_path / split / c).mkdir(parents=True)
            for i in range(3):
                Image.new("RGB", (40, 30), (i * 50, 0, 0)).save(tmp_path / split / c / f"{i}.png")
    ds = load_dataset(tmp_path, resolution=16)
    assert ds.classes == ["cat", "dog"] and list(ds.labels) == [0, 0, 0, 1, 1, 1]
    assert ds.images([0, 4]).shape == (2, 3, 16, 16)
    assert ds.file_name(4) == "train/dog/1.png"
    assert len(load_dataset(tmp_path, "test")) == 6


def test_missing_folder_message(tmp_path):
    with pytest.raises(VlcpError, match="data folder not found"):
        load_dataset(tmp_path / "nothing")


def test_subset_keeps_file_names(idx_dir):
    ds = load_dataset(idx_dir)
    sub = SubsetDataset(ds, classes=[3, 4], per_class=2)
    assert list(sub.labels) == [0, 1, 0, 1]
    assert sub.file_name(0) == ds.file_name(3)
    assert (sub.images([1]) == ds.images([4])).all()
    cfg = DataConfig(data_dir=str(idx_dir), num_classes=2, per_class=1)
    assert len(cfg.load("train")) == 2 and len(cfg.load("test")) == 2


def test_data_config_validates():
    with pytest.raises(VlcpError, match="per_class"):
        DataConfig(per_class=-1)
