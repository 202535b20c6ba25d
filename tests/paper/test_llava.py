"""The llava captioner on a tiny random LLaVA (CLIP vision tower + Llama) with the committed processor."""
from __future__ import annotations

import pytest
import torch

from vlcp.captioners import CAPTIONERS, PAPER_PROMPT
from vlcp.captioners.llava import fill_prompt


def test_paper_prompt_with_the_class_name():
    assert fill_prompt(PAPER_PROMPT, "Saluki, gazelle hound") == (
        "Describe the physical appearance of the Saluki, gazelle hound in the image. "
        "Include details about its shape, posture, color, and any distinct features.")
    assert fill_prompt("A photo of a {CLASSNAME}.", "tench") == "A photo of a tench."


@pytest.fixture(scope="module")
def captioner(tiny_llava):
    return CAPTIONERS.get("llava")(model=str(tiny_llava), max_new_tokens=6)


def test_chat_prompt_and_image_size(captioner):
    text = captioner._text("tench, Tinca tinca")
    assert text.startswith("USER: <image>\n") and text.endswith("ASSISTANT:")
    assert "appearance of the tench, Tinca tinca in the image" in text
    assert captioner.image_size is None and captioner.reads_source_images  # the processor sizes the images
    assert captioner.processor.tokenizer.padding_side == "left"


def test_batched_greedy_equals_one_by_one(captioner):
    g = torch.Generator().manual_seed(0)
    images = torch.rand(3, 3, 40, 40, generator=g)
    names = ["tench, Tinca tinca", "church, church building", "golf ball"]
    batch = captioner.caption(images, names)
    assert len(batch) == 3 and all(isinstance(t, str) for t in batch)
    single = [captioner.caption(images[i:i + 1], names[i:i + 1])[0] for i in range(3)]
    assert batch == single  # left padding: every prompt ends where generation starts
    assert captioner.caption(images, names) == batch  # greedy: deterministic
    grey = captioner.caption(images[:1, :1], names[:1])  # greyscale images are repeated to RGB
    assert len(grey) == 1


def test_generation_settings(captioner, monkeypatch):
    seen = {}
    real = captioner.model.generate

    def spy(**kwargs):
        out = real(**kwargs)
        seen.update(kwargs, new_tokens=out.shape[1] - kwargs["input_ids"].shape[1])
        return out

    monkeypatch.setattr(captioner.model, "generate", spy)
    captioner.caption(torch.rand(2, 3, 32, 32), ["dog", "golf ball"])
    assert seen["do_sample"] is False and seen["max_new_tokens"] == 6 and 1 <= seen["new_tokens"] <= 6
    assert seen["input_ids"].shape[0] == 2 and (seen["attention_mask"][:, -1] == 1).all()  # left padded


def test_sampling_is_seeded(tiny_llava):
    a = CAPTIONERS.get("llava")(model=str(tiny_llava), max_new_tokens=6, temperature=1.0, seed=3)
    b = CAPTIONERS.get("llava")(model=str(tiny_llava), max_new_tokens=6, temperature=1.0, seed=3)
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    assert a.caption(images, ["dog", "cat"]) == b.caption(images, ["dog", "cat"])


def test_caption_stage_appends_and_resumes(tiny_llava, imagenet_root, tmp_path):
    """metadata.jsonl from the llava captioner; an interrupted run continues where it stopped."""
    from vlcp.caption import CaptionConfig, caption
    from vlcp.data.config import DataConfig
    from vlcp.files.atomic import read_jsonl

    data = DataConfig(preset="imagenette", data_dir=str(imagenet_root), num_classes=2, per_class=3).load(
        "train", resolution=32)
    cap = CAPTIONERS.get("llava")(model=str(tiny_llava), max_new_tokens=4)
    calls = []
    real = cap.caption
    cap.caption = lambda images, names: calls.append(len(names)) or real(images, names)
    config = CaptionConfig(captioner="llava", batch_size=2)
    out = caption(data, cap, tmp_path / "captions", config, progress=False)
    recs = list(read_jsonl(out))
    assert [r["file_name"] for r in recs] == [data.file_name(i) for i in range(len(data))]
    assert all(set(r) == {"file_name", "text", "label"} for r in recs)
    assert calls == [2, 2, 2]
    # interrupt: the last batch never finished
    part = next((tmp_path / "captions").rglob("metadata-000-of-001.jsonl"))
    lines = part.read_text().splitlines(keepends=True)
    part.write_text("".join(lines[:4]))
    out.unlink()
    calls.clear()
    out = caption(data, cap, tmp_path / "captions", config, progress=False)
    assert calls == [2]
    assert list(read_jsonl(out)) == recs


def _spy_on_processor_images(captioner, monkeypatch) -> list:
    """Sizes (w, h) of every image the processor's image processor receives."""
    ip = captioner.processor.image_processor
    real = ip.preprocess
    seen = []

    def spy(images, *a, **k):
        seen.extend(im.size for im in (images if isinstance(images, (list, tuple)) else [images]))
        return real(images, *a, **k)

    monkeypatch.setattr(ip, "preprocess", spy)
    return seen


def test_the_processor_gets_the_files_uncropped(tiny_llava, imagenet_root, tmp_path, monkeypatch):
    """Issue 9 item 5: no centre crop to the processor's crop size before the processor (LLaVA-NeXT tiles
    by aspect ratio): the caption stage hands over the image files at their own size and aspect."""
    from PIL import Image

    from vlcp.caption import CaptionConfig, caption
    from vlcp.data.config import DataConfig

    data = DataConfig(preset="imagenette", data_dir=str(imagenet_root), num_classes=2, per_class=2).load("train")
    cap = CAPTIONERS.get("llava")(model=str(tiny_llava), max_new_tokens=2)
    seen = _spy_on_processor_images(cap, monkeypatch)
    caption(data, cap, tmp_path / "captions", CaptionConfig(captioner="llava", batch_size=4), progress=False)
    files = [imagenet_root / data.file_name(i) for i in range(len(data))]
    originals = []
    for f in files:
        with Image.open(f) as im:
            originals.append(im.size)
    assert seen == originals and any(w != h for w, h in originals)  # odd sizes, not 32 × 32 squares
    # image_size set: square images of that side, as before
    square = CAPTIONERS.get("llava")(model=str(tiny_llava), max_new_tokens=2, image_size=32)
    assert not square.reads_source_images
    seen = _spy_on_processor_images(square, monkeypatch)
    caption(data, square, tmp_path / "square", CaptionConfig(captioner="llava", batch_size=4), progress=False)
    assert seen == [(256, 256)] * len(data)  # the dataset's tensors (the CLI reads them at image_size)
