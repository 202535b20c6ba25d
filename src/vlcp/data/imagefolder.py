"""ImageFolder trees: ``root/train/<class>/*`` and ``root/val/<class>/*`` (or ``test``)."""
from __future__ import annotations

import hashlib
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from PIL import Image

from vlcp.errors import VlcpError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif"}  # GIF: its first frame
SIZE_SAMPLE = 32  # images whose headers set the default resolution and channels
FAR_OFF = 4  # an image whose short side is this many times below the typical one is refused


def is_image_file(path: Path) -> bool:
    """An image is a regular file (after resolving symlinks) with an image suffix whose name does not start
    with '.': a FIFO, socket or device named ``*.png`` is not opened (opening a FIFO blocks forever), and
    hidden files (``._x.png`` from macOS, editors' backups) are skipped as hidden class folders are."""
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".") and path.is_file()


GREY_MODES = ("1", "L", "LA", "La", "I", "F", "I;16", "I;16B", "I;16L", "I;16N")
ALPHA_MODES = ("LA", "La", "PA", "RGBA", "RGBa")


def standard_mode(img: Image.Image, channels: int, path: str | Path = "image") -> Image.Image:
    """``img`` as 8-bit L (``channels`` 1) or RGB, every mode PIL opens scaled into 0..255.

    16-bit greyscale (``I;16*``, and ``I`` holding 0..65535) is scaled by 255/65535, ``F`` holding
    0..1 by 255; transparency (LA, PA, RGBA, a palette's or a colour key) is composited onto black,
    the background of the datasets vlcp ships with. Other value ranges stop with a ``VlcpError``
    naming ``path``."""
    mode = img.mode
    if mode.startswith("I"):  # I;16, I;16B, I;16L, I;16N, I (32-bit integers)
        arr = np.asarray(img).astype(np.float64)
        if arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise VlcpError(f"{path}: 32-bit integer image with values {arr.min():.0f}..{arr.max():.0f}, outside "
                            "16-bit 0..65535 (save it as an 8- or 16-bit PNG)")
        img = Image.fromarray(np.round(arr * (255 / 65535)).astype(np.uint8), mode="L")
    elif mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        if arr.size and not (np.isfinite(arr).all() and arr.min() >= 0 and arr.max() <= 1):
            raise VlcpError(f"{path}: floating-point image with values outside 0..1 (or NaN); "
                            "save it as an 8- or 16-bit PNG")
        img = Image.fromarray(np.round(arr * 255).astype(np.uint8), mode="L")
    elif mode in ALPHA_MODES or "transparency" in img.info:
        rgba = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", rgba.size, (0, 0, 0, 255)), rgba)
        img = img.convert("L") if mode in GREY_MODES else img.convert("RGB")
    target = "L" if channels == 1 else "RGB"
    if img.mode == target:
        return img
    try:
        return img.convert(target) if img.mode in ("L", "RGB", "1", "P", "CMYK", "YCbCr", "HSV") \
            else img.convert("RGB").convert(target)
    except ValueError as e:
        raise VlcpError(f"{path}: image mode {mode} cannot be read ({e}); save it as RGB or greyscale PNG") from None


_WARNED_LARGE: set[str] = set()  # images already named as very large (once per process)


def _open_quietly(path: Path) -> Image.Image:
    """``Image.open(path)``; PIL's two-line ``DecompressionBombWarning`` (over ``Image.MAX_IMAGE_PIXELS``)
    becomes one warning line of vlcp's, once per file."""
    import warnings

    from vlcp.errors import warn

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        img = Image.open(path)
    if img.size[0] * img.size[1] > (Image.MAX_IMAGE_PIXELS or float("inf")) and str(path) not in _WARNED_LARGE:
        _WARNED_LARGE.add(str(path))
        warn(f"{path}: {img.size[0]}x{img.size[1]} image ({img.size[0] * img.size[1] / 1e6:.0f} megapixels) is slow "
             "and memory-hungry to decode; shrink it if it is not meant to be this large")
    return img


@contextmanager
def reading_image(path: Path) -> Iterator[Image.Image]:
    """``Image.open(path)`` whose decoding faults (too large, corrupt, truncated) stop with one line naming it;
    a very large one is named in one warning line (``_open_quietly``)."""
    try:
        with _open_quietly(path) as img:
            yield img
    except Image.DecompressionBombError as e:
        raise VlcpError(f"{path}: image too large to decode safely ({e}); shrink or remove it") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise VlcpError(f"{path}: cannot read image ({_first_line(e)}); replace or remove it") from None


def open_image(path: Path, channels: int) -> Image.Image:
    """The image file at ``path`` as 8-bit L or RGB (``standard_mode``); unreadable files stop with one line."""
    with reading_image(path) as img:
        out = standard_mode(img, channels, path)
        return img.copy() if out is img else out  # a copy outlives the closed file


def _check_names(folder: Path, names: Sequence[str], what: str) -> None:
    """Names become keys of UTF-8 JSON files (captions, latents): one that is not valid UTF-8 stops."""
    for name in names:
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            shown = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            raise VlcpError(f"{folder}: {what} name {shown!r} is not valid UTF-8; rename it "
                            "(e.g. convmv -f latin1 -t utf-8)") from None


def _first_line(e: BaseException) -> str:
    return next((s.strip() for s in str(e).splitlines() if s.strip()), type(e).__name__)


def to_tensor(img: Image.Image, resolution: int, channels: int) -> torch.Tensor:
    """Resize the short side to ``resolution``, centre-crop square, return (C, H, W) float in [0, 1]."""
    img = standard_mode(img, channels)
    w, h = img.size
    if (w, h) != (resolution, resolution):
        scale = resolution / min(w, h)
        img = img.resize((max(resolution, round(w * scale)), max(resolution, round(h * scale))), Image.BICUBIC)
        w, h = img.size
        left, top = (w - resolution) // 2, (h - resolution) // 2
        img = img.crop((left, top, left + resolution, top + resolution))
    arr = np.asarray(img, dtype=np.float32) / 255.0
    if arr.ndim == 2:
        arr = arr[None]
    else:
        arr = arr.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(arr))


class ImageFolderDataset:
    """Images read lazily from ``<root>/<class>/*``; labels follow the sorted class folders.

    ``resolution`` (default: the most common short side among up to ``SIZE_SAMPLE`` images spread
    over the tree) and ``channels`` (default: 1 if most of them are greyscale, else 3) fix the tensor
    shape. Only regular files with an image suffix are images (``is_image_file``); an image whose
    short side is ``FAR_OFF`` times below the typical one stops with one line naming it.
    ``class_names`` (prompt names) default to the folder names with '_' as spaces.
    """

    def __init__(self, root: str | Path, resolution: int | None = None, channels: int | None = None,
                 class_names: dict[str, str] | None = None, classes: Sequence[str] | None = None) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise VlcpError(f"{self.root}: image folder not found")
        found = sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))
        _check_names(self.root, found, "class folder")
        self.classes = list(classes) if classes is not None else found
        missing = [c for c in self.classes if c not in found]
        if missing:
            raise VlcpError(f"{self.root}: class folder(s) missing: {', '.join(missing[:5])}")
        if not self.classes:
            raise VlcpError(f"{self.root}: no class folders (expected <root>/<class>/<image>)")
        names = class_names or {}
        self.class_names = [names.get(c, c.replace("_", " ")) for c in self.classes]
        self.paths: list[Path] = []
        labels = []
        for label, c in enumerate(self.classes):
            files = sorted(p for p in (self.root / c).iterdir() if is_image_file(p))
            _check_names(self.root / c, [p.name for p in files], "image file")
            if not files:
                raise VlcpError(f"{self.root / c}: class folder has no images (add images or remove the folder)")
            self.paths += files
            labels += [label] * len(files)
        if not self.paths:
            raise VlcpError(f"{self.root}: no images found")
        self.labels = np.asarray(labels, dtype=np.int64)
        sides, grey = self._sample_headers()
        self.typical_side_ = Counter(sides).most_common(1)[0][0]
        self.resolution = int(resolution or self.typical_side_)
        self.channels = int(channels or (1 if sum(grey) * 2 > len(grey) else 3))

    def _sample_headers(self) -> tuple[list[int], list[bool]]:
        """Short sides and greyscale flags of up to ``SIZE_SAMPLE`` images spread over the tree (headers
        only): the default resolution is the most common one, so one odd image cannot set it."""
        picks = sorted({int(i) for i in np.linspace(0, len(self.paths) - 1, min(SIZE_SAMPLE, len(self.paths)))})
        sides, grey = [], []
        for i in picks:
            with reading_image(self.paths[i]) as img:
                sides.append(min(img.size))
                grey.append(img.mode in GREY_MODES)
        return sides, grey

    def _check_size(self, path: Path, img: Image.Image) -> Image.Image:
        """Refuse an image far smaller than the tree's typical one (a 1x1 among 28-px images)."""
        side = min(img.size)
        if side * FAR_OFF < self.typical_side_:
            raise VlcpError(f"{path}: image is {img.size[0]}x{img.size[1]}, far below the folder's typical "
                            f"short side {self.typical_side_} px; remove or replace it")
        return img

    def __len__(self) -> int:
        return len(self.paths)

    def file_name(self, index: int) -> str:
        return self.paths[index].relative_to(self.root.parent).as_posix()

    def images(self, indices: Sequence[int]) -> torch.Tensor:
        out = [to_tensor(self._open(int(i)), self.resolution, self.channels) for i in indices]
        return torch.stack(out) if out else torch.empty(0, self.channels, self.resolution, self.resolution)


    def content_digest(self, indices: Sequence[int]) -> str:
        """Digest of the files' names, sizes and modification times (one ``stat`` each, as ``make`` and
        ``rsync`` decide): any rewrite of an image changes it. Reading every file's bytes instead costs
        minutes on ImageNet-sized trees (``benchmarks/results/fingerprint_cost.md``)."""
        h = hashlib.sha256()
        for i in indices:
            path = self.paths[int(i)]
            try:
                s = path.stat()
            except OSError as e:
                raise VlcpError(f"{path}: cannot read image ({e.strerror or e}); replace or remove it") from None
            h.update(f"{self.file_name(int(i))}\0{s.st_size}\0{s.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
        return h.hexdigest()

    def source_images(self, indices: Sequence[int]) -> list[Image.Image]:
        """The image files as read (RGB, or greyscale for one channel): their own size, no resize or crop."""
        return [self._open(int(i)) for i in indices]

    def _open(self, index: int) -> Image.Image:
        path = self.paths[index]
        return self._check_size(path, open_image(path, self.channels))


def find_split(root: Path, split: str) -> Path:
    """``root/train`` for train; ``root/val`` or ``root/test`` for test."""
    candidates = ["train"] if split == "train" else ["val", "test"]
    for c in candidates:
        if (root / c).is_dir():
            return root / c
    raise VlcpError(f"{root}: no {' or '.join(candidates)} folder (expected an ImageFolder tree root/train/<class>/*)")
