"""A generator of hostile and awkward input files for tests/test_hostile_files.py: every PIL image mode,
files cut at random byte offsets, NaN / inf tensors, JSONL torn at every byte of its last line, text in
other encodings. Each function writes files and returns what it wrote; nothing here runs a stage."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

SIDE = 12


def pattern() -> np.ndarray:
    """A (SIDE, SIDE) brightness ramp in [0, 1] with 256-level steps (exact in 8 bits)."""
    ramp = np.add.outer(np.arange(SIDE), np.arange(SIDE)) * (255 // (2 * SIDE - 2))
    return ramp.astype(np.float64) / 255


def in_mode(value: np.ndarray, mode: str) -> Image.Image:
    """``value`` (brightness in [0, 1], opaque) as an image in ``mode``, at that mode's full range."""
    v8 = np.round(value * 255).astype(np.uint8)
    grey = Image.fromarray(v8, "L")
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        v16 = np.round(value * 65535).astype("<u2" if mode != "I;16B" else ">u2")
        return Image.frombytes(mode, grey.size, v16.tobytes())
    if mode == "I":
        return Image.fromarray(np.round(value * 65535).astype(np.int32), "I")
    if mode == "F":
        return Image.fromarray(value.astype(np.float32), "F")
    if mode == "P":
        img = Image.fromarray(v8, "P")
        img.putpalette([g for i in range(256) for g in (i, i, i)])
        return img
    if mode == "PA":
        img = in_mode(value, "P").convert("PA")
        return img
    if mode == "CMYK":
        return Image.merge("CMYK", [Image.new("L", grey.size, 0)] * 3 + [Image.fromarray(255 - v8, "L")])
    if mode == "1":
        return grey.convert("1", dither=Image.Dither.NONE)  # a threshold at 128
    if mode in ("RGB", "RGBA", "RGBX", "RGBa", "YCbCr", "HSV", "LAB", "LA", "La"):
        return grey.convert("RGB").convert(mode) if mode not in ("LA", "La") else grey.convert(mode)
    return grey.convert(mode)


def saved(img: Image.Image) -> tuple[bytes, str] | None:
    """``img`` encoded losslessly as PNG, else TIFF (bytes, suffix); None if PIL can write it in neither."""
    for fmt, suffix in (("PNG", ".png"), ("TIFF", ".tif")):
        buf = io.BytesIO()
        try:
            img.save(buf, fmt)
        except (OSError, ValueError, KeyError):
            continue
        try:
            if Image.open(io.BytesIO(buf.getvalue())).mode != img.mode and fmt == "PNG":
                continue  # PNG stored it in another mode; TIFF may keep it
        except OSError:
            continue
        return buf.getvalue(), suffix
    return None


def every_mode_file(folder: Path) -> dict[str, Path | str]:
    """One file per PIL mode holding ``pattern()`` (mode → path), or the reason no file can hold it."""
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path | str] = {}
    for mode in Image.MODES:
        try:
            img = in_mode(pattern(), mode)
        except (ValueError, OSError) as e:
            out[mode] = f"cannot be made ({e})"
            continue
        enc = saved(img)
        if enc is None:
            out[mode] = "neither PNG nor TIFF can store it"
            continue
        path = folder / f"{mode.replace(';', '_')}{enc[1]}"
        path.write_bytes(enc[0])
        out[mode] = path
    return out


def truncations(data: bytes, n: int, seed: int = 0) -> list[int]:
    """``n`` distinct random byte offsets in [1, len(data)) to cut ``data`` at."""
    rng = np.random.default_rng(seed)
    return sorted(set(int(x) for x in rng.integers(1, len(data), n)))


def nonfinite(shape: tuple[int, ...], kind: str, seed: int = 0) -> np.ndarray:
    """A float32 array of ``shape`` with one value (at a random place) set to NaN, inf or -inf."""
    rng = np.random.default_rng(seed)
    arr = rng.normal(size=shape).astype(np.float32)
    arr.reshape(-1)[int(rng.integers(arr.size))] = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf}[kind]
    return arr


def torn_tails(data: bytes) -> Iterator[bytes]:
    """``data`` (a JSONL file) cut at every byte of its last line (the complete file excluded)."""
    start = data.rstrip(b"\n").rfind(b"\n") + 1
    for cut in range(start, len(data)):
        yield data[:cut]


def other_encodings(text: str) -> dict[str, bytes]:
    """``text`` encoded in encodings other than UTF-8 that differ from it (and a UTF-8 BOM-less UTF-16)."""
    out = {}
    for enc in ("latin-1", "cp1252", "utf-16", "shift_jis"):
        try:
            data = text.encode(enc)
        except UnicodeEncodeError:
            continue
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            out[enc] = data
    return out


def fifo_named_image(folder: Path, name: str = "z.png") -> Path:
    """A named pipe with an image suffix in ``folder`` (opening it for reading blocks until a writer comes)."""
    import os

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    os.mkfifo(path)
    return path


def odd_size_tree(root: Path, side: int = 28, n: int = 4, odd: tuple[int, int] = (1, 1)) -> Path:
    """A train split of two classes of ``side``-px images where the first file of the first class
    (``a/0.png``, which sorts first) is ``odd`` in size."""
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (root / "train" / c).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            size = odd if (c, i) == ("a", 0) else (side, side)
            Image.fromarray(rng.integers(0, 255, size[::-1], dtype=np.uint8)).save(root / "train" / c / f"{i}.png")
    return root


class _RunsCode:
    """Unpickling this calls ``print`` — what a weights file that holds code does."""

    def __reduce__(self):
        return (print, ("code ran",))


def code_pickle(path: Path, extra: dict | None = None) -> Path:
    """A torch.save file whose unpickling would run code (``print("code ran")``), beside ``extra`` entries."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({**(extra or {}), "x": _RunsCode()}, path)
    return path
