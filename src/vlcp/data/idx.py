"""Fashion-MNIST (or any MNIST-format) IDX files, as shipped by Debian's ``dataset-fashion-mnist``."""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from vlcp.data.base import TensorDataset
from vlcp.errors import VlcpError

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

FASHION_MNIST_CLASSES = ["tshirt_top", "trouser", "pullover", "dress", "coat",
                         "sandal", "shirt", "sneaker", "bag", "ankle_boot"]
FASHION_MNIST_NAMES = ["t-shirt", "trouser", "pullover", "dress", "coat",
                       "sandal", "shirt", "sneaker", "bag", "ankle boot"]

_SPLIT_PREFIX = {"train": "train", "test": "t10k", "val": "t10k"}


def _find(data_dir: Path, stem: str) -> Path:
    for name in (f"{stem}.gz", stem, stem.replace("-idx", ".idx")):
        if (data_dir / name).exists():
            return data_dir / name
    raise VlcpError(f"{data_dir}: missing IDX file {stem}[.gz] (expected the four standard MNIST-format files)")


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (optionally gzipped) into a uint8 array."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
        zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
        if zero != 0 or dtype != 0x08:
            raise ValueError("not an unsigned-byte IDX file")
        shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
        data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
        return data.reshape(shape)
    except (OSError, EOFError, ValueError, struct.error, gzip.BadGzipFile) as e:
        raise VlcpError(f"{path}: cannot read IDX data ({e}; truncated or damaged?); reinstall or re-download "
                        "the file") from None


def has_idx_files(data_dir: Path) -> bool:
    return any(data_dir.glob("train-images*idx3*"))


def load_idx_dataset(data_dir: str | Path = DEBIAN_FASHION_MNIST, split: str = "train",
                     classes: list[str] | None = None, class_names: list[str] | None = None) -> TensorDataset:
    """Load ``split`` ('train' or 'test') from a folder of MNIST-format IDX files.

    Class ids/names default to Fashion-MNIST's.
    """
    data_dir = Path(data_dir)
    if split not in _SPLIT_PREFIX:
        raise VlcpError(f"setting 'split': {split!r} is not one of train, test")
    if not data_dir.is_dir():
        raise VlcpError(f"{data_dir}: data folder not found (Fashion-MNIST: apt-get install dataset-fashion-mnist)")
    prefix = _SPLIT_PREFIX[split]
    images = read_idx(_find(data_dir, f"{prefix}-images-idx3-ubyte"))
    label_file = _find(data_dir, f"{prefix}-labels-idx1-ubyte")
    labels = read_idx(label_file).astype(np.int64)
    if images.ndim != 3 or len(images) != len(labels):
        raise VlcpError(f"{data_dir}: {split} images {images.shape} and labels {labels.shape} do not match")
    classes = list(classes or FASHION_MNIST_CLASSES)
    bad = labels[(labels < 0) | (labels >= len(classes))]
    if bad.size:
        raise VlcpError(f"{label_file}: {bad.size} labels outside the {len(classes)} classes 0..{len(classes) - 1} "
                        f"(e.g. {int(bad[0])}); give the class list of this dataset or fix the file")
    return TensorDataset(images[:, None], labels, classes,
                         list(class_names or FASHION_MNIST_NAMES), "test" if split == "val" else split)
