"""Helpers for the evaluation tests: small constructed datasets and ImageFolders (no downloads)."""
from __future__ import annotations

import numpy as np
from PIL import Image

from vlcp.data import TensorDataset

CLASSES = ["square", "bar"]


def pattern_images(n_per_class: int, seed: int, side: int = 28, channels: int = 1) -> TensorDataset:
    """Class 0: a bright square top-left; class 1: a bright vertical bar on the right; noisy background."""
    rng = np.random.default_rng(seed)
    data, labels = [], []
    for c in range(2):
        for _ in range(n_per_class):
            img = rng.integers(0, 60, size=(channels, side, side)).astype(np.int64)
            o = int(rng.integers(0, 4))
            if c == 0:
                img[:, 3 + o:12 + o, 3 + o:12 + o] += 180
            else:
                img[:, 4:24, 18 + o // 2:22 + o // 2] += 180
            data.append(np.clip(img, 0, 255).astype(np.uint8))
            labels.append(c)
    return TensorDataset(np.stack(data), np.asarray(labels, dtype=np.int64), list(CLASSES), ["square", "bar"])


def write_folder(root, ds: TensorDataset, per_class: int):
    """Write the first ``per_class`` images of each class as <root>/<class>/<n>.png."""
    for c, name in enumerate(ds.classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        idx = np.flatnonzero(ds.labels == c)[:per_class]
        for n, i in enumerate(idx):
            Image.fromarray(ds.data[i, 0]).save(root / name / f"{n}.png")
    return root
