"""Dataset presets of the paper: ImageNet subsets by WordNet id, ImageNet-1K, CIFAR-10/100.

``[data] preset = "imagenette"`` with ``data_dir`` at an ImageNet-layout root
(``root/train/<wnid>/*.JPEG`` and ``root/val/<wnid>/*.JPEG``: the full ImageNet with its val images
sorted into class folders, or fast.ai's ``imagenette2``/``imagewoof2`` downloads, which have the
same layout) reads only the preset's classes, in the preset's order, with the ImageNet class names
(``LOC_synset_mapping``'s, e.g. "Saluki, gazelle hound") used in the caption prompts. The test split
is ImageNet's val images of those classes.

==============  =======  ====  =========================================================
preset          classes  px    classes
==============  =======  ====  =========================================================
imagenette      10       256   fast.ai ImageNette (sorted WordNet ids)
imagewoof       10       256   fast.ai ImageWoof, 10 dog breeds (sorted WordNet ids)
imageidc        10       256   the first 10 classes of ImageNet-100 (IDC's ImageNet-10)
imagenet100     100      256   ImageNet-100 of CMC (Tian et al.), in its published order
imagenet1k      1000     224   ImageNet-1K (sorted WordNet ids = the standard label order)
cifar10         10       32    CIFAR-10, official label order
cifar100        100      32    CIFAR-100 fine labels, official label order
==============  =======  ====  =========================================================

``px`` is the dataset resolution: images are read at it (short side resized, centre-cropped) for
the real test set, and distilled images are saved at it (the paper: 256 for the ImageNet subsets,
224 for ImageNet-1K, 32 for CIFAR). CIFAR reads the official python batches (``cifar-10-batches-py``
/ ``cifar-100-python``, or the folder holding them) or an ImageFolder tree
``root/{train,test}/<class>/*`` with the class names below as folder names.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from vlcp.errors import VlcpError

IMAGENETTE = ("n01440764 n02102040 n02979186 n03000684 n03028079 "
              "n03394916 n03417042 n03425413 n03445777 n03888257").split()
IMAGEWOOF = ("n02086240 n02087394 n02088364 n02089973 n02093754 "
             "n02096294 n02099601 n02105641 n02111889 n02115641").split()
# ImageNet-100 as published by CMC (github.com/HobbitLong/CMC, imagenet100.txt); IDC's ImageNet-10
# (ImageIDC) is its first 10 classes.
IMAGENET100 = """
n02869837 n01749939 n02488291 n02107142 n13037406 n02091831 n04517823 n04589890 n03062245 n01773797
n01735189 n07831146 n07753275 n03085013 n04485082 n02105505 n01983481 n02788148 n03530642 n04435653
n02086910 n02859443 n13040303 n03594734 n02085620 n02099849 n01558993 n04493381 n02109047 n04111531
n02877765 n04429376 n02009229 n01978455 n02106550 n01820546 n01692333 n07714571 n02974003 n02114855
n03785016 n03764736 n03775546 n02087046 n07836838 n04099969 n04592741 n03891251 n02701002 n03379051
n02259212 n07715103 n03947888 n04026417 n02326432 n03637318 n01980166 n02113799 n02086240 n03903868
n02483362 n04127249 n02089973 n03017168 n02093428 n02804414 n02396427 n04418357 n02172182 n01729322
n02113978 n03787032 n02089867 n02119022 n03777754 n04238763 n02231487 n03032252 n02138441 n02104029
n03837869 n03494278 n04136333 n03794056 n03492542 n02018207 n04067472 n03930630 n03584829 n02123045
n04229816 n02100583 n03642806 n04336792 n03259280 n02116738 n02108089 n03424325 n01855672 n02090622
""".split()

CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR100 = """
apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly camel can
castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup dinosaur dolphin
elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard lion lizard lobster
man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree pear pickup_truck
pine_tree plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk
skyscraper snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television tiger
tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm
""".split()


@lru_cache(maxsize=1)
def imagenet_class_names() -> dict[str, str]:
    """WordNet id → ImageNet-1K class name (LOC_synset_mapping's synonyms, e.g. "tench, Tinca tinca")."""
    text = (resources.files("vlcp") / "resources" / "imagenet1k_classes.tsv").read_text("utf-8")
    return dict(line.split("\t", 1) for line in text.splitlines() if line)


@dataclass(frozen=True)
class Preset:
    """``classes``: folder ids (WordNet ids / CIFAR names); ``resolution``: the dataset's side in px;
    ``kind``: "imagenet" or "cifar"."""

    name: str
    classes: tuple[str, ...]
    resolution: int
    kind: str
    description: str

    @property
    def class_names(self) -> list[str]:
        if self.kind == "imagenet":
            names = imagenet_class_names()
            return [names[c] for c in self.classes]
        return [c.replace("_", " ") for c in self.classes]


def _imagenet1k() -> tuple[str, ...]:
    return tuple(imagenet_class_names())


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("imagenette", tuple(IMAGENETTE), 256, "imagenet", "fast.ai ImageNette: 10 easy ImageNet classes"),
    Preset("imagewoof", tuple(IMAGEWOOF), 256, "imagenet", "fast.ai ImageWoof: 10 dog breeds"),
    Preset("imageidc", tuple(IMAGENET100[:10]), 256, "imagenet", "ImageIDC: the first 10 classes of ImageNet-100"),
    Preset("imagenet100", tuple(IMAGENET100), 256, "imagenet", "ImageNet-100 (CMC's class list)"),
    Preset("imagenet1k", (), 224, "imagenet", "ImageNet-1K"),
    Preset("cifar10", CIFAR10, 32, "cifar", "CIFAR-10"),
    Preset("cifar100", tuple(CIFAR100), 32, "cifar", "CIFAR-100 (fine labels)"),
)}


def preset_names() -> list[str]:
    return list(PRESETS)


def get_preset(name: str) -> Preset:
    key = name.lower().replace("-", "").replace("_", "")
    if key not in PRESETS:
        raise VlcpError(f"setting 'preset': unknown dataset preset {name!r}; known: {', '.join(PRESETS)}")
    p = PRESETS[key]
    if key == "imagenet1k":
        p = Preset(p.name, _imagenet1k(), p.resolution, p.kind, p.description)
    return p


def load_preset(name: str, data_dir: str | Path | None, split: str = "train", resolution: int | None = None):
    """Open ``split`` ("train" or "test") of preset ``name`` under ``data_dir`` as an ``ImageDataset``.

    ``resolution``: side of the returned images (default: the preset's) for image files; CIFAR's
    python batches are always 32 px (models resize them through their pixel adapter).
    """
    preset = get_preset(name)
    if data_dir is None:
        raise VlcpError(f"setting 'data_dir': preset {preset.name!r} needs the dataset's folder "
                        f"({'an ImageNet-layout root with train/ and val/' if preset.kind == 'imagenet' else 'CIFAR python batches or an ImageFolder tree'})")
    root = Path(data_dir)
    if not root.is_dir():
        raise VlcpError(f"{root}: data folder not found (preset {preset.name!r})")
    if split not in ("train", "test", "val"):
        raise VlcpError(f"setting 'split': {split!r} is not one of train, test")
    if preset.kind == "cifar":
        batches = _find_cifar_batches(root, preset)
        if batches is not None:
            return _load_cifar_batches(batches, preset, "train" if split == "train" else "test")
    return _load_folders(root, preset, split, resolution or preset.resolution)


def _load_folders(root: Path, preset: Preset, split: str, resolution: int):
    from vlcp.data.imagefolder import ImageFolderDataset, find_split, is_image_file

    folder = find_split(root, split)
    missing = [c for c in preset.classes if not (folder / c).is_dir()]
    if missing:
        flat = any(is_image_file(p) for p in list(folder.iterdir())[:100])
        hint = (" — the val images must be sorted into class folders val/<wnid>/ (e.g. with ImageNet's valprep.sh)"
                if flat else "")
        raise VlcpError(f"{folder}: {len(missing)} of the {len(preset.classes)} class folders of preset "
                        f"{preset.name!r} are missing (e.g. {missing[0]}){hint}")
    return ImageFolderDataset(folder, resolution, 3, class_names=dict(zip(preset.classes, preset.class_names)),
                              classes=list(preset.classes))


# ---- CIFAR python batches -------------------------------------------------------------------------
_CIFAR_FILES = {"cifar10": ("cifar-10-batches-py", "data_batch_1"), "cifar100": ("cifar-100-python", "train")}


def _find_cifar_batches(root: Path, preset: Preset) -> Path | None:
    sub, marker = _CIFAR_FILES[preset.name]
    for cand in (root, root / sub):
        if (cand / marker).exists():
            return cand
    return None


def _unpickle(path: Path) -> dict:
    from vlcp.data.safe_pickle import load_restricted

    d = load_restricted(path)  # no code runs from the file: only plain data and numpy arrays
    if not isinstance(d, dict):
        raise VlcpError(f"{path}: not a CIFAR batch (expected a dict)")
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in d.items()}


def _load_cifar_batches(folder: Path, preset: Preset, split: str):
    from vlcp.data.base import TensorDataset

    if preset.name == "cifar10":
        files = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
        key = "labels"
    else:
        files = ["train" if split == "train" else "test"]
        key = "fine_labels"
    data, labels = [], []
    for name in files:
        if not (folder / name).exists():
            raise VlcpError(f"{folder}: missing CIFAR batch file {name}")
        d = _unpickle(folder / name)
        data.append(np.asarray(d["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels.append(np.asarray(d[key], dtype=np.int64))
    return TensorDataset(np.concatenate(data), np.concatenate(labels), list(preset.classes), preset.class_names, split)
