"""Every image mode PIL opens is read into [0, 1] at its true brightness, or refused with one line."""
import numpy as np
import pytest
from PIL import Image

from vlcp.data import ImageFolderDataset
from vlcp.errors import VlcpError


def grey(value: float, mode: str) -> Image.Image:
    """An 8×8 image of brightness ``value`` (0..1) in ``mode``."""
    v8 = int(round(value * 255))
    if mode == "I;16B":
        return Image.frombytes("I;16B", (8, 8), np.full((8, 8), round(value * 65535), ">u2").tobytes())
    if mode in ("I;16", "I"):
        return Image.fromarray(np.full((8, 8), round(value * 65535), np.uint16 if mode == "I;16" else np.int32))
    if mode == "F":
        return Image.fromarray(np.full((8, 8), value, np.float32), "F")
    if mode == "P":
        img = Image.new("P", (8, 8), 1)
        img.putpalette([0, 0, 0] + [v8] * 3 + [0] * 762)
        return img
    if mode == "CMYK":
        return Image.new("CMYK", (8, 8), (0, 0, 0, 255 - v8))
    return Image.new("L", (8, 8), v8).convert(mode)


def read(tmp_path, img: Image.Image, fmt: str = "PNG", channels=None, **save) -> np.ndarray:
    folder = tmp_path / "train" / "cls"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"x.{'png' if fmt == 'PNG' else 'tif' if fmt == 'TIFF' else 'jpg'}"
    img.save(path, fmt, **save)
    return ImageFolderDataset(tmp_path / "train", channels=channels).images([0]).numpy()


@pytest.mark.parametrize("mode,fmt", [("I;16", "PNG"), ("I;16B", "TIFF"), ("I", "TIFF"), ("F", "TIFF"), ("L", "PNG"),
                                      ("1", "PNG"), ("P", "PNG"), ("LA", "PNG"), ("RGB", "PNG"), ("RGBA", "PNG"),
                                      ("CMYK", "TIFF"), ("CMYK", "JPEG"), ("YCbCr", "JPEG")])
def test_mid_grey_stays_mid_grey(tmp_path, mode, fmt):
    img = grey(0.5, mode) if mode not in ("1", "YCbCr") else grey(1.0, "1") if mode == "1" else grey(0.5, "RGB").convert("YCbCr")
    x = read(tmp_path, img, fmt, channels=1)
    expect = 1.0 if mode == "1" else 0.5
    assert abs(float(x.mean()) - expect) < 0.02, (mode, x.mean())


def test_16bit_png_is_greyscale_and_scaled(tmp_path):
    x = read(tmp_path, grey(0.25, "I;16"))  # channels from the file: 16-bit greyscale is one channel
    assert x.shape[1] == 1 and abs(float(x.mean()) - 0.25) < 0.01


def test_palette_transparency_is_composited_not_dropped(tmp_path):
    img = Image.new("P", (8, 8), 1)
    img.putpalette([0, 0, 0] + [200, 200, 200] + [0] * 762)
    x = read(tmp_path, img, transparency=1, channels=1)  # every pixel is the transparent colour
    assert float(x.max()) == 0.0  # onto black, not the hidden grey


def test_alpha_is_composited(tmp_path):
    x = read(tmp_path, Image.new("LA", (8, 8), (200, 0)), channels=1)
    assert float(x.max()) == 0.0
    x = read(tmp_path, Image.new("RGBA", (8, 8), (200, 200, 200, 255)), channels=3)
    assert abs(float(x.mean()) - 200 / 255) < 1e-6


def test_lab_reads_as_colour(tmp_path):
    x = read(tmp_path, Image.new("LAB", (8, 8), (50, 0, 0)), "TIFF", channels=1)  # PIL has no LAB→L
    assert 0.3 < float(x.mean()) < 0.6


@pytest.mark.parametrize("img,what", [
    (Image.fromarray(np.full((8, 8), 2.0, np.float32), "F"), "floating-point image with values outside 0..1"),
    (Image.fromarray(np.full((8, 8), np.nan, np.float32), "F"), "floating-point image"),
    (Image.fromarray(np.full((8, 8), 100_000, np.int32), "I"), "32-bit integer image with values 100000..100000, outside 16-bit 0..65535"),
])
def test_out_of_range_images_are_refused_with_the_file(tmp_path, img, what):
    with pytest.raises(VlcpError, match=rf"x\.tif: {what}"):
        read(tmp_path, img, "TIFF", channels=1)


def test_decompression_bomb_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)  # an 8×8 image is then a "bomb" (> 2× the limit)
    with pytest.raises(VlcpError, match=r"x\.png: image too large to decode safely .*; shrink or remove it"):
        read(tmp_path, grey(0.5, "L"))
