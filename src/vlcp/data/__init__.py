"""Datasets: Fashion-MNIST IDX files, ImageFolder trees, all behind ``ImageDataset``.

``latent_cache`` is where training's UNet phase draws a dataset's latents from (encoded once, or by the VAE
each batch).
"""
from __future__ import annotations

from pathlib import Path

from vlcp.data.base import ImageDataset, SubsetDataset, TensorDataset, class_indices
from vlcp.data.idx import DEBIAN_FASHION_MNIST, has_idx_files, load_idx_dataset
from vlcp.data.imagefolder import ImageFolderDataset, find_split
from vlcp.errors import VlcpError

__all__ = ["ImageDataset", "SubsetDataset", "TensorDataset", "ImageFolderDataset", "load_dataset", "class_indices",
           "DEBIAN_FASHION_MNIST"]


def load_dataset(data_dir: str | Path | None = None, split: str = "train", resolution: int | None = None,
                 channels: int | None = None) -> ImageDataset:
    """Open a dataset split.

    ``data_dir`` None means Fashion-MNIST from Debian's package. A folder holding the four IDX files
    is read as MNIST-format; a folder with ``train/`` and ``val/`` (or ``test/``) as an ImageFolder
    tree; a folder of class folders directly as one ImageFolder split.
    """
    root = Path(data_dir) if data_dir is not None else DEBIAN_FASHION_MNIST
    if not root.is_dir():
        hint = " (install Debian's dataset-fashion-mnist: make setup)" if data_dir is None else ""
        raise VlcpError(f"{root}: data folder not found{hint}")
    if has_idx_files(root):
        return load_idx_dataset(root, split)
    if (root / "train").is_dir():
        return ImageFolderDataset(find_split(root, split), resolution, channels)
    return ImageFolderDataset(root, resolution, channels)
