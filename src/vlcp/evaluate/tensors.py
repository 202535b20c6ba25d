"""Datasets as tensors for evaluation: whole splits as uint8, channel statistics for normalisation."""
from __future__ import annotations

import warnings
import weakref

import numpy as np
import torch

from vlcp.data import ImageDataset

FASHION_MNIST_STATS = ((0.2861,), (0.3530,))
"""The DC code's Fashion-MNIST mean / std. vlcp computes the statistics from the training split
instead (for Debian's Fashion-MNIST: mean 0.2860, std 0.3530), which agree to 4 decimals."""

_CACHE: dict[tuple[int, str], tuple[weakref.ref, object]] = {}


def _cached(ds: object, key: str, make, keep: int = 2):
    """Memoise per dataset object (by identity, held weakly): the ``keep`` latest datasets per key."""
    k = (id(ds), key)
    hit = _CACHE.get(k)
    if hit is not None and hit[0]() is ds:
        _CACHE[k] = _CACHE.pop(k)  # most recent last
        return hit[1]
    value = make()
    same = [c for c in _CACHE if c[1] == key]
    for old in same[:max(0, len(same) - keep + 1)]:
        del _CACHE[old]
    try:
        _CACHE[k] = (weakref.ref(ds), value)
    except TypeError:  # not weak-referenceable: do not cache
        pass
    return value


def _tensor(arr: np.ndarray) -> torch.Tensor:
    """``torch.from_numpy`` for arrays we only read (IDX data is a read-only buffer)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(arr)


def _raw_uint8(ds: ImageDataset) -> np.ndarray | None:
    data = getattr(ds, "data", None)
    if isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 4 \
            and data.shape[1] == ds.channels and data.shape[2] == data.shape[3] == ds.resolution:
        return data
    return None


def images_uint8(ds: ImageDataset, indices=None, chunk: int = 512) -> torch.Tensor:
    """(n, C, R, R) uint8 images of ``ds`` (all, or ``indices``); in-memory datasets without decoding."""
    raw = _raw_uint8(ds)
    if raw is not None:
        arr = raw if indices is None else raw[np.asarray(indices, dtype=np.int64)]
        return _tensor(np.ascontiguousarray(arr))
    idx = np.arange(len(ds)) if indices is None else np.asarray(indices, dtype=np.int64)
    out = torch.empty(len(idx), ds.channels, ds.resolution, ds.resolution, dtype=torch.uint8)
    for i in range(0, len(idx), chunk):
        part = ds.images(idx[i:i + chunk])
        out[i:i + len(part)] = part.mul(255.0).round_().clamp_(0, 255).to(torch.uint8)
    return out


def split_tensors(ds: ImageDataset) -> tuple[torch.Tensor, torch.Tensor]:
    """A whole split as (uint8 images, int64 labels), memoised for the latest dataset object."""
    return _cached(ds, "split", lambda: (images_uint8(ds), torch.as_tensor(np.asarray(ds.labels), dtype=torch.int64)))


def channel_stats(ds: ImageDataset, max_images: int = 2000) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std (population) of ``ds``'s pixels in [0, 1].

    In-memory datasets use every image; others an evenly spaced sample of at most ``max_images``.
    """
    def make():
        raw = _raw_uint8(ds)
        if raw is None:
            n = len(ds)
            idx = np.unique(np.linspace(0, n - 1, min(n, max_images)).round().astype(np.int64))
            raw_t = images_uint8(ds, idx)
        else:
            raw_t = _tensor(raw)
        return tensor_stats(raw_t)

    return _cached(ds, "stats", make)


def tensor_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and population std of (n, C, H, W) images (uint8, or float in [0, 1])."""
    scale = 255.0 if x.dtype == torch.uint8 else 1.0
    c = x.shape[1]
    flat = x.transpose(0, 1).reshape(c, -1)
    s = torch.zeros(c, dtype=torch.float64)
    s2 = torch.zeros(c, dtype=torch.float64)
    for i in range(0, flat.shape[1], 1 << 24):
        part = flat[:, i:i + (1 << 24)].to(torch.float64)
        s += part.sum(1)
        s2 += (part * part).sum(1)
    m = s / flat.shape[1]
    var = (s2 / flat.shape[1] - m * m).clamp_min(0)
    mean = tuple(round(float(v / scale), 6) for v in m)
    std = tuple(round(float(torch.sqrt(v) / scale), 6) for v in var)
    return mean, std


class ClassSubset:
    """The samples of some classes of a dataset, relabelled 0..k-1 in the given class order (an ImageDataset)."""

    def __init__(self, base: ImageDataset, classes) -> None:
        self.base = base
        self.classes = list(classes)
        pos = {c: i for i, c in enumerate(base.classes)}
        chosen = [pos[c] for c in self.classes]
        self.class_names = [base.class_names[i] for i in chosen]
        labels = np.asarray(base.labels)
        remap = np.full(len(base.classes), -1, dtype=np.int64)
        remap[chosen] = np.arange(len(chosen))
        self.index = np.flatnonzero(remap[labels] >= 0)
        self.labels = remap[labels[self.index]]
        self.channels, self.resolution = base.channels, base.resolution

    def __len__(self) -> int:
        return len(self.index)

    def file_name(self, index: int) -> str:
        return self.base.file_name(int(self.index[index]))

    def images(self, indices) -> torch.Tensor:
        return self.base.images(self.index[np.asarray(indices, dtype=np.int64)])


_SUBSETS: dict[tuple, tuple[weakref.ref, ClassSubset]] = {}


def class_subset(ds: ImageDataset, classes) -> ImageDataset:
    """``ds`` restricted to ``classes`` (the same object when that is all of them, in order); memoised."""
    classes = list(classes)
    if classes == list(ds.classes):
        return ds
    key = (id(ds), tuple(classes))
    hit = _SUBSETS.get(key)
    if hit is not None and hit[0]() is ds:
        return hit[1]
    sub = ClassSubset(ds, classes)
    while len(_SUBSETS) >= 4:
        del _SUBSETS[next(iter(_SUBSETS))]
    try:
        _SUBSETS[key] = (weakref.ref(ds), sub)
    except TypeError:
        pass
    return sub
