"""``DataConfig``: which dataset a stage reads, shared by every subcommand (``[data]`` in TOML)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vlcp.errors import VlcpError
from vlcp.settings.config import check, check_choices


def _preset_names() -> list[str]:
    from vlcp.data.presets import preset_names

    return preset_names()


@dataclass(frozen=True)
class DataConfig:
    preset: str | None = field(default=None, metadata={
        "help": "dataset preset of the paper (class list, class names, resolution), read from data_dir: "
                "imagenette, imagewoof, imageidc, imagenet100, imagenet1k (ImageNet-layout root), cifar10, cifar100",
        "choices": _preset_names})
    data_dir: str | None = field(default=None, metadata={
        "help": "dataset folder: four MNIST-format IDX files, or an ImageFolder tree root/{train,val}/<class>/* "
                "(default: Fashion-MNIST from Debian's dataset-fashion-mnist)"})
    num_classes: int = field(default=0, metadata={"help": "use only the first N classes (0: all)"})
    per_class: int = field(default=0, metadata={"help": "use only the first N training images of each class (0: all)"})
    resolution: int = field(default=0, metadata={
        "help": "image side for ImageFolder data (0: the preset's, else the images' most common short side)"})
    holdout_per_class: int = field(default=0, metadata={
        "help": "hold out the last N training images of each class as a validation split ('val'): "
                "excluded from 'train' (captions, generator, prototypes, baselines), used to tune (0: none)"})

    def __post_init__(self) -> None:
        for name in ("num_classes", "per_class", "resolution", "holdout_per_class"):
            check(getattr(self, name) >= 0, name, "must be >= 0")
        check_choices(self)
        if self.preset is not None:
            from vlcp.data.presets import get_preset

            get_preset(self.preset)  # raises on an unknown name

    @property
    def name(self) -> str:
        """The dataset's name: the preset, the data folder's name, or Fashion-MNIST (the default)."""
        if self.preset:
            return self.preset
        if self.data_dir:
            return Path(self.data_dir).name or str(self.data_dir)
        return "Fashion-MNIST"

    def describe(self, total_classes: int | None = None) -> str:
        """The dataset and subset in words, e.g. ``Fashion-MNIST, 3 of 10 classes, first 50 training images per
        class, last 500 per class held out``; ``total_classes``: the dataset's class count, when known."""
        parts = [self.name]
        if self.num_classes and total_classes and self.num_classes < total_classes:
            parts.append(f"{self.num_classes} of {total_classes} classes")
        elif self.num_classes and not total_classes:
            parts.append(f"first {self.num_classes} classes")
        elif total_classes:
            parts.append(f"all {total_classes} classes")
        if self.per_class:
            parts.append(f"first {self.per_class} training images per class")
        if self.holdout_per_class:
            parts.append(f"last {self.holdout_per_class} per class held out for validation")
        return ", ".join(parts)

    def load(self, split: str = "train", resolution: int | None = None):
        """The dataset split this config names: ``train``, ``val`` (the held-out last
        ``holdout_per_class`` training images of each class) or ``test`` (every test image of the
        chosen classes). The validation images are never part of ``train``; ``per_class`` counts
        from the start of what remains.

        ``resolution`` overrides the side images are read at (e.g. a model's resolution for training).
        The dataset carries this config as ``data_config``.
        """
        from vlcp.data import SubsetDataset, load_dataset

        if split == "val" and not self.holdout_per_class:
            raise VlcpError("setting 'holdout_per_class': must be > 0 for a validation split")
        res = resolution or self.resolution or None
        source = "train" if split == "val" else split
        if self.preset:
            from vlcp.data.presets import load_preset

            ds = load_preset(self.preset, self.data_dir, source, resolution=res)
        else:
            ds = load_dataset(self.data_dir, source, resolution=res)
        classes = list(range(self.num_classes)) if self.num_classes else None
        per_class = self.per_class if split == "train" else 0
        if source == "train" and self.holdout_per_class:
            ds = SubsetDataset(ds, classes, per_class, holdout=self.holdout_per_class, take_holdout=split == "val")
        elif classes is not None or per_class:
            ds = SubsetDataset(ds, classes, per_class)
        ds.data_config = self  # what a stage function records as its run's [data] (vlcp.run.state.note_inputs)
        return ds
