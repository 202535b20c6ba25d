"""The dataset interface every stage reads: labelled images as float tensors in [0, 1]."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Protocol, Sequence

import numpy as np
import torch

from vlcp.errors import VlcpError


class ImageDataset(Protocol):
    """A labelled image split.

    Attributes: ``classes`` (folder-safe class ids, index = label), ``class_names`` (names used in
    prompts), ``labels`` (int64 array, one per sample), ``channels`` (1 or 3), ``resolution``
    (side in pixels of the tensors ``images`` returns).
    """

    classes: list[str]
    class_names: list[str]
    labels: np.ndarray
    channels: int
    resolution: int

    def __len__(self) -> int: ...

    def file_name(self, index: int) -> str:
        """A stable relative name for sample ``index`` (the key of captions and latents)."""

    def images(self, indices: Sequence[int]) -> torch.Tensor:
        """(b, channels, resolution, resolution) float32 in [0, 1]."""


def source_images(dataset: ImageDataset, indices: Sequence[int]) -> list:
    """The samples as PIL images before any resize or crop: the files' own size and aspect where the
    dataset reads files (``source_images`` method), else its tensors converted (e.g. CIFAR's 32 px)."""
    own = getattr(dataset, "source_images", None)
    if own is not None:
        return own(indices)
    from PIL import Image

    x = dataset.images(indices)
    arr = (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return [Image.fromarray(np.ascontiguousarray(a[..., 0] if a.shape[-1] == 1 else a)) for a in arr]


def content_digest(dataset: ImageDataset, indices: Sequence[int]) -> str:
    """A digest that changes when any of the samples' images changes: the dataset's own
    ``content_digest`` method (files: size and modification time; arrays: their bytes), else
    sha256 of the tensors ``images`` returns, 1024 at a time."""
    own = getattr(dataset, "content_digest", None)
    if own is not None:
        return own(indices)
    h = hashlib.sha256()
    idx = np.asarray(indices, dtype=np.int64)
    for start in range(0, len(idx), 1024):
        h.update(dataset.images(idx[start:start + 1024]).numpy().tobytes())
    return h.hexdigest()


@dataclass
class TensorDataset:
    """An in-memory dataset: uint8 images (n, C, H, W) and labels; used by Fashion-MNIST and slices."""

    data: np.ndarray
    labels: np.ndarray
    classes: list[str]
    class_names: list[str]
    split: str = "train"
    names: list[str] | None = field(default=None, repr=False)

    @property
    def channels(self) -> int:
        return int(self.data.shape[1])

    @property
    def resolution(self) -> int:
        return int(self.data.shape[-1])

    def __len__(self) -> int:
        return len(self.labels)

    def file_name(self, index: int) -> str:
        if self.names is not None:
            return self.names[index]
        return f"{self.split}/{self.classes[self.labels[index]]}/{index:05d}.png"

    def images(self, indices: Sequence[int]) -> torch.Tensor:
        idx = np.asarray(indices, dtype=np.int64)
        return torch.from_numpy(self.data[idx].astype(np.float32) / 255.0)

    def content_digest(self, indices: Sequence[int]) -> str:
        """sha256 of the samples' pixels (the array is in memory: cheap even for 60,000 images)."""
        return hashlib.sha256(np.ascontiguousarray(self.data[np.asarray(indices, dtype=np.int64)]).data).hexdigest()

    def subset(self, indices: Sequence[int]) -> "TensorDataset":
        """A dataset of the given samples; file names keep their original indices."""
        idx = np.asarray(indices, dtype=np.int64)
        return TensorDataset(self.data[idx], self.labels[idx], self.classes, self.class_names, self.split,
                             [self.file_name(int(i)) for i in idx])


def class_indices(dataset: ImageDataset, label: int) -> np.ndarray:
    """Indices of the samples of class ``label``, in dataset order."""
    return np.flatnonzero(np.asarray(dataset.labels) == label)


class SubsetDataset:
    """Any ``ImageDataset`` cut to chosen classes and the first ``per_class`` samples of each.

    ``holdout``: the last ``holdout`` samples of each class are set aside — excluded, or, with
    ``take_holdout``, the only ones kept (a validation split disjoint from the rest).
    Labels are renumbered 0..len(classes)-1; file names are the parent's, so captions and latents
    of the full dataset still match.
    """

    def __init__(self, parent: ImageDataset, classes: Sequence[int] | None = None, per_class: int = 0,
                 holdout: int = 0, take_holdout: bool = False) -> None:
        chosen = list(range(len(parent.classes))) if classes is None else [int(c) for c in classes]
        if chosen and max(chosen) >= len(parent.classes):
            raise VlcpError(f"setting 'num_classes': {max(chosen) + 1} is more than the dataset's "
                            f"{len(parent.classes)} classes (use at most {len(parent.classes)}, or 0 for all)")
        labels = np.asarray(parent.labels)
        keep, new = [], []
        for n, c in enumerate(chosen):
            idx = np.flatnonzero(labels == c)
            if holdout:
                if holdout >= len(idx):
                    raise VlcpError(f"setting 'holdout_per_class': {holdout} leaves no training image of class "
                                    f"{parent.classes[c]!r} ({len(idx)} images)")
                idx = idx[-holdout:] if take_holdout else idx[:-holdout]
            idx = idx[:per_class] if per_class else idx
            keep.append(idx)
            new.append(np.full(len(idx), n, dtype=np.int64))
        idx = np.concatenate(keep)
        order = np.argsort(idx, kind="stable")
        self.parent = parent
        self.indices = idx[order]
        self.labels = np.concatenate(new)[order]
        self.classes = [parent.classes[c] for c in chosen]
        self.class_names = [parent.class_names[c] for c in chosen]
        self.channels = parent.channels
        self.resolution = parent.resolution

    def __len__(self) -> int:
        return len(self.indices)

    def file_name(self, index: int) -> str:
        return self.parent.file_name(int(self.indices[index]))

    def images(self, indices: Sequence[int]) -> torch.Tensor:
        return self.parent.images(self.indices[np.asarray(indices, dtype=np.int64)])

    def content_digest(self, indices: Sequence[int]) -> str:
        """The parent's ``content_digest`` of these samples (see ``vlcp.data.base.content_digest``)."""
        return content_digest(self.parent, self.indices[np.asarray(indices, dtype=np.int64)])

    def source_images(self, indices: Sequence[int]) -> list:
        """The parent's ``source_images`` of these samples (see ``vlcp.data.base.source_images``)."""
        return source_images(self.parent, self.indices[np.asarray(indices, dtype=np.int64)])
