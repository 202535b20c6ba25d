"""``DataConfig``: which dataset a stage reads, shared by every subcommand (``[data]`` in TOML)."""
from __future__ import annotations

from dataclasses import dataclass, field

from vlcp.config import check


@dataclass(frozen=True)
class DataConfig:
    data_dir: str | None = field(default=None, metadata={
        "help": "dataset folder: four MNIST-format IDX files, or an ImageFolder tree root/{train,val}/<class>/* "
                "(default: Fashion-MNIST from Debian's dataset-fashion-mnist)"})
    num_classes: int = field(default=0, metadata={"help": "use only the first N classes (0: all)"})
    per_class: int = field(default=0, metadata={"help": "use only the first N training images of each class (0: all)"})
    resolution: int = field(default=0, metadata={"help": "image side for ImageFolder data (0: the first image's)"})

    def __post_init__(self) -> None:
        for name in ("num_classes", "per_class", "resolution"):
            check(getattr(self, name) >= 0, name, "must be >= 0")

    def load(self, split: str = "train"):
        """The dataset split this config names (test split: every test image of the chosen classes)."""
        from vlcp.data import SubsetDataset, load_dataset

        ds = load_dataset(self.data_dir, split, resolution=self.resolution or None)
        classes = list(range(self.num_classes)) if self.num_classes else None
        per_class = self.per_class if split == "train" else 0
        if classes is None and not per_class:
            return ds
        return SubsetDataset(ds, classes, per_class)
