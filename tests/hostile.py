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


SHARD_FAULTS = ("fewer_rows", "more_rows", "int_latents", "huge", "float_ids", "missing_middle")


def damaged_latents_run(run: Path, kind: str, n: int = 6) -> Path:
    """A run folder with captions and a one-class latents store (``bag``, ``n`` images, 4×16×16 latents) whose
    only shard is damaged as ``kind`` (``SHARD_FAULTS``): fewer latent rows than file names, more, integer
    latents, one value of 1e30, float ids; or a sound shard followed by shard 2 (1 is missing). Returns the
    damaged (or missing) shard's path."""
    import json

    from safetensors.numpy import save_file

    names = [f"train/bag/{i}.png" for i in range(n)]
    lat = np.random.default_rng(0).normal(size=(n, 4, 16, 16)).astype(np.float32)
    ids = np.arange(n)
    if kind == "fewer_rows":
        lat, ids = lat[:n - 2], ids[:n - 2]
    elif kind == "more_rows":
        names = names[:n - 2]
    elif kind == "int_latents":
        lat = np.round(lat * 10).astype(np.int32)
    elif kind == "huge":
        lat[0, 0, 0, 0] = 1e30
    elif kind == "float_ids":
        ids = ids.astype(np.float32)
    shard = run / "latents" / "bag" / "00000.safetensors"
    shard.parent.mkdir(parents=True, exist_ok=True)
    (run / "latents" / "index.json").write_text(json.dumps({"classes": ["bag"], "class_names": ["bag"],
                                                            "shape": [4, 16, 16], "scaling_factor": 1.0,
                                                            "shard_size": 8}))
    save_file({"latents": lat, "ids": ids}, str(shard), metadata={"file_names": json.dumps(names)})
    if kind == "missing_middle":
        more = [f"train/bag/{i}.png" for i in range(n, n + 2)]
        save_file({"latents": lat[:2], "ids": np.arange(n, n + 2)}, str(shard.with_name("00001.safetensors")),
                  metadata={"file_names": json.dumps(more)})
        names += more
        shard.with_name("00001.safetensors").rename(shard.with_name("00002.safetensors"))
        shard = shard.with_name("00001.safetensors")
    (run / "captions").mkdir(parents=True, exist_ok=True)
    (run / "captions" / "metadata.jsonl").write_text(
        "".join(json.dumps({"file_name": name, "text": "a bag"}) + "\n" for name in names))
    return shard


def damaged_prototypes(folder: Path, kind: str, classes: tuple[str, ...] = ("bag", "trouser")) -> Path:
    """``prototypes.safetensors`` + ``text_prototypes.json`` (one 4×16×16 centre per class of ``classes``)
    whose second class's centre is ``kind``: ``int`` (int32 values), ``huge`` (one value of 1e30) or
    ``none`` (sound)."""
    import json

    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    good = np.zeros((1, 4, 16, 16), np.float32)
    bad = good.astype(np.int32) if kind == "int" else good.copy()
    if kind == "huge":
        bad[0, 0, 0, 0] = 1e30
    tensors = {c: good.copy() for c in classes}
    tensors[classes[1]] = bad
    save_file(tensors, str(folder / "prototypes.safetensors"))
    (folder / "text_prototypes.json").write_text(json.dumps({"strategy": "label", "classes": {
        c: [{"cluster": 0, "text": f"a {c}", "size": 1}] for c in classes}}))
    return folder / "prototypes.safetensors"


def prototypes_without_class(folder: Path, missing: str, record: bool) -> Path:
    """Prototype files of the classes bag and trouser with ``missing`` left out of both files alike;
    ``record``: ``prototypes.safetensors`` still records both classes (as the prototypes stage writes it)."""
    import json

    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    kept = [c for c in ("bag", "trouser") if c != missing]
    meta = {"classes": json.dumps(["bag", "trouser"]), "shape": "[4, 16, 16]"} if record else None
    save_file({c: np.zeros((1, 4, 16, 16), np.float32) for c in kept}, str(folder / "prototypes.safetensors"),
              metadata=meta)
    (folder / "text_prototypes.json").write_text(json.dumps({"strategy": "label", "classes": {
        c: [{"cluster": 0, "text": f"a {c}", "size": 1}] for c in kept}}))
    return folder / "prototypes.safetensors"


def tamper_images(folder: Path, names: list[str]) -> dict[str, str]:
    """Change three images of a synthesized ``folder`` behind the stage's back: the first of ``names`` deleted,
    the second overwritten with bytes that are no image, the third with another valid PNG of the same size.
    Returns name → what was done."""
    first, second, third = names[:3]
    (folder / first).unlink()
    (folder / second).write_bytes(b"not a png at all")
    with Image.open(folder / third) as img:
        size, mode = img.size, img.mode
    Image.new(mode, size, 255).save(folder / third)
    return {first: "deleted", second: "garbage", third: "another image"}


CAPTION_FAULTS = ("bom", "lone_surrogate", "duplicate_other_text", "duplicate_same_text")


def awkward_captions(path: Path, names: list[str], kind: str) -> Path:
    """A captions ``metadata.jsonl`` for ``names`` that is awkward as ``kind`` (``CAPTION_FAULTS``): a UTF-8
    byte order mark first, a lone surrogate escape (``\\ud800``) in the second caption, or the first image
    repeated on a last line with other (or the same) text."""
    import json

    rows = [{"file_name": n, "text": "a bag"} for n in names]
    lines = [json.dumps(r) for r in rows]
    if kind == "lone_surrogate":
        lines[1] = lines[1].replace("a bag", "a bag \\ud800")  # JSON's escape of a lone surrogate
    if kind.startswith("duplicate"):
        lines.append(json.dumps({"file_name": names[0], "text": "a bag" if kind.endswith("same_text") else "a shoe"}))
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    path.write_bytes(b"\xef\xbb\xbf" + data if kind == "bom" else data)
    return path


def gif_and_hidden_tree(root: Path) -> Path:
    """A train split of classes ``a`` and ``b`` (two 12-px PNGs each) where ``a`` also holds an animated GIF
    (``2.gif``: a white first frame, then a black one), macOS's AppleDouble companion ``._0.png`` (not an image)
    and a hidden valid PNG ``.3.png``."""
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (root / "train" / c).mkdir(parents=True, exist_ok=True)
        for i in range(2):
            Image.fromarray(rng.integers(0, 255, (SIDE, SIDE), dtype=np.uint8)).save(root / "train" / c / f"{i}.png")
    frames = [Image.new("L", (SIDE, SIDE), v) for v in (255, 0)]
    frames[0].save(root / "train" / "a" / "2.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    (root / "train" / "a" / "._0.png").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        ")
    Image.new("L", (SIDE, SIDE), 128).save(root / "train" / "a" / ".3.png")
    return root


def large_image(folder: Path, side: int = SIDE) -> Path:
    """A ``side``-px PNG ``big.png`` (a test lowers ``Image.MAX_IMAGE_PIXELS`` below its size to make it
    'very large' without writing 100 megapixels)."""
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.round(pattern() * 255).astype(np.uint8)).resize((side, side)).save(folder / "big.png")
    return folder / "big.png"


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
