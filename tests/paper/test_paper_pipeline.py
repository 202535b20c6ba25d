"""Every stage of the paper's configuration, end to end on the CPU with tiny random models:
`vlcp run` with LLaVA captions → SD fine-tuning (EMA, gradient checkpointing, 32 px model resolution)
→ encode → prototypes → img2img synthesis, on an ImageNet-layout tree read through the ImageNette preset."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from vlcp.cli import main
from vlcp.data.presets import IMAGENETTE
from vlcp.files.atomic import read_json, read_jsonl
from vlcp.files.latents import LatentStore


def write_config(path: Path, *, sd: Path, llava: Path, data_dir: Path, stages: list[str]) -> Path:
    path.write_text(f"""
[run]
stages = {json.dumps(stages)}

[data]
preset = "imagenette"
data_dir = "{data_dir}"
num_classes = 2
per_class = 4
resolution = 24

[caption]
captioner = "llava"
batch_size = 4

[captioner]
model = "{llava}"
max_new_tokens = 8

[train]
epochs = 2
batch_size = 4
lr = 1e-4
ema_decay = 0.9999
gradient_checkpointing = true
model_resolution = 32
checkpoint_every = 1

[train_model]
base = "{sd}"

[encode]
batch_size = 3
shard_size = 2

[prototypes]
ipc = 2

[synthesize]
steps = 4
batch_size = 3
""")
    return path


@pytest.fixture(scope="module")
def paper_run(tmp_path_factory, tiny_sd, tiny_llava, imagenet_root):
    root = tmp_path_factory.mktemp("paper-run")
    cfg = write_config(root / "paper.toml", sd=tiny_sd, llava=tiny_llava, data_dir=imagenet_root,
                       stages=["caption", "train", "encode", "prototypes", "synthesize"])
    run = root / "run"
    assert main(["run", str(cfg), "--run", str(run)]) == 0
    return cfg, run


def test_captions(paper_run):
    _, run = paper_run
    recs = list(read_jsonl(run / "captions" / "metadata.jsonl"))
    assert len(recs) == 8
    assert [r["file_name"] for r in recs[:4]] == [f"train/{IMAGENETTE[0]}/{IMAGENETTE[0]}_{i:04d}.JPEG" for i in range(4)]
    assert {r["label"] for r in recs} == {0, 1} and all(isinstance(r["text"], str) for r in recs)


def test_fine_tuned_model_is_a_diffusers_folder(paper_run, tiny_sd):
    from diffusers import UNet2DConditionModel

    _, run = paper_run
    model = run / "model"
    assert (model / "model_index.json").exists()
    assert read_json(model / "vlcp_model.json")["resolution"] == 32
    assert read_json(model / "checkpoint" / "state.json")["step"] == 4  # 2 epochs × (8 images / batch 4)
    tuned = UNet2DConditionModel.from_pretrained(model, subfolder="unet")
    base = UNet2DConditionModel.from_pretrained(tiny_sd, subfolder="unet")
    assert tuned.config.sample_size == 4  # 32 px / VAE factor 8
    changed = [not torch.equal(a, b) for a, b in zip(tuned.state_dict().values(), base.state_dict().values())]
    assert any(changed)
    # VAE and text encoder frozen
    for sub in ("vae", "text_encoder"):
        a = load_file(str(next((model / sub).glob("*.safetensors"))))
        b = load_file(str(next((tiny_sd / sub).glob("*.safetensors"))))
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_latents_at_the_training_resolution(paper_run):
    _, run = paper_run
    store = LatentStore(run / "latents")
    assert store.index["shape"] == [4, 4, 4] and store.index["scaling_factor"] == pytest.approx(0.18215)
    assert store.classes() == IMAGENETTE[:2]
    c = store.read_class(IMAGENETTE[1])
    assert c.latents.shape == (4, 4, 4, 4) and len(list((run / "latents" / IMAGENETTE[1]).glob("*.safetensors"))) == 2


def test_distilled_image_folder(paper_run):
    _, run = paper_run
    protos = load_file(str(run / "prototypes" / "prototypes.safetensors"))
    assert {k: tuple(v.shape) for k, v in protos.items()} == {c: (2, 4, 4, 4) for c in IMAGENETTE[:2]}
    texts = read_json(run / "prototypes" / "text_prototypes.json")["classes"]
    out = run / "distilled"
    manifest = list(read_jsonl(out / "metadata.jsonl"))
    assert [(r["class"], r["prototype"]) for r in manifest] == [(c, k) for c in IMAGENETTE[:2] for k in range(2)]
    for r in manifest:
        img = Image.open(out / r["file_name"])
        assert img.size == (24, 24) and img.mode == "RGB"  # the dataset's resolution, not the model's 32
        assert r["prompt"] == texts[r["class"]][r["prototype"]]["text"]
        assert (r["guidance_scale"], r["strength"], r["negative_prompt"]) == (10.0, 0.7, "cartoon, anime, painting")


def test_stages_are_deterministic(paper_run, tmp_path):
    cfg, run = paper_run
    assert main(["encode", "--run", str(run), "--config", str(cfg), "--out", str(tmp_path / "lat")]) == 0
    for c in IMAGENETTE[:2]:
        a, b = LatentStore(run / "latents").read_class(c), LatentStore(tmp_path / "lat").read_class(c)
        assert np.array_equal(a.latents, b.latents) and a.file_names == b.file_names
    assert main(["synthesize", "--run", str(run), "--config", str(cfg), "--out", str(tmp_path / "d"),
                 "--batch-size", "1"]) == 0  # other batching: the same images (one generator per image)
    for r in read_jsonl(run / "distilled" / "metadata.jsonl"):
        a = np.asarray(Image.open(run / "distilled" / r["file_name"]), dtype=np.int16)
        b = np.asarray(Image.open(tmp_path / "d" / r["file_name"]), dtype=np.int16)
        assert np.abs(a - b).max() <= 1
