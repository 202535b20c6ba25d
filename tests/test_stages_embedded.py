"""train → encode → synthesize on a tiny embedded-shaped model and a small Fashion-MNIST-like slice."""
import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from vlcp.data import TensorDataset
from vlcp.encode import EncodeConfig, encode
from vlcp.files.atomic import atomic_write_json, read_jsonl
from vlcp.files.latents import LatentStore
from vlcp.models.embedded import load_generator
from vlcp.synthesize import SynthesizeConfig, decode_prototypes, synthesize
from vlcp.train import TrainConfig, train


@pytest.fixture()
def small_data():
    rng = np.random.default_rng(0)
    data = np.zeros((12, 1, 28, 28), np.uint8)
    for i in range(12):
        data[i, 0, 4:24, 6 + i % 3:22] = 120 + 10 * i
    data += rng.integers(0, 20, data.shape, dtype=np.uint8)
    return TensorDataset(data, np.arange(12) % 2, ["trouser", "bag"], ["trouser", "bag"])


def captions_for(ds):
    return {ds.file_name(i): f"a grey {ds.class_names[ds.labels[i]]} number {i % 3}" for i in range(len(ds))}


def test_train_saves_loads_and_resumes(tiny_model, small_data, tmp_path, minilm):
    cfg = TrainConfig(vae_steps=2, vae_batch_size=4, unet_steps=3, batch_size=4, lr=1e-4, checkpoint_every=2,
                      random_flip=False)
    train(tiny_model, small_data, captions_for(small_data), tmp_path / "m", cfg, progress=False)
    state = json.loads((tmp_path / "m" / "checkpoint" / "state.json").read_text())
    assert (state["phase"], state["step"], state["version"]) == ("unet", 2, 2)
    assert (tmp_path / "m" / "checkpoint" / state["dir"] / "unet.safetensors").exists()
    loaded = load_generator(tmp_path / "m", text_encoder=minilm)
    assert loaded.vae.config.scaling_factor == pytest.approx(tiny_model.vae.config.scaling_factor)
    for a, b in zip(loaded.unet.parameters(), tiny_model.unet.parameters()):
        assert torch.equal(a, b)
    assert (tmp_path / "m" / "train.toml").exists()


def test_train_names_missing_captions(tiny_model, small_data, tmp_path):
    from vlcp.errors import VlcpError

    caps = captions_for(small_data)
    caps.pop(small_data.file_name(3))
    with pytest.raises(VlcpError, match="00003"):
        train(tiny_model, small_data, caps, tmp_path, TrainConfig(unet_steps=1), progress=False)


def test_encode_store_per_class_and_resume(tiny_model, small_data, tmp_path):
    store = encode(tiny_model, small_data, tmp_path / "lat", EncodeConfig(batch_size=4, shard_size=4), progress=False)
    c0 = store.read_class("trouser")
    assert c0.latents.shape == (6, 4, 16, 16) and list(c0.ids) == [0, 2, 4, 6, 8, 10]
    assert c0.file_names[1] == small_data.file_name(2)
    before = (tmp_path / "lat" / "bag" / "00001.safetensors").read_bytes()
    (tmp_path / "lat" / "bag" / "00001.safetensors").unlink()
    encode(tiny_model, small_data, tmp_path / "lat", EncodeConfig(batch_size=4, shard_size=4), progress=False)
    assert (tmp_path / "lat" / "bag" / "00001.safetensors").read_bytes() == before
    x = small_data.images([0])
    z = torch.from_numpy(c0.latents[:1])
    expected = tiny_model.vae.encode(tiny_model.adapter(28, 1).to_model(x)).latent_dist.mean * tiny_model.latent_scale
    assert torch.allclose(z, expected, atol=1e-5)


def write_prototypes(folder, k=3):
    torch.manual_seed(1)
    folder.mkdir(parents=True)
    save_file({"trouser": torch.randn(k, 4, 16, 16), "bag": torch.randn(k, 4, 16, 16)},
              str(folder / "prototypes.safetensors"))
    atomic_write_json(folder / "text_prototypes.json", {"strategy": "dcs", "classes": {
        c: [{"cluster": i, "text": f"a {c} with feature {i}", "size": 2} for i in range(k)]
        for c in ("trouser", "bag")}})


def test_synthesize_files_manifest_and_batch_invariance(tiny_model, tmp_path):
    write_prototypes(tmp_path / "p")
    cfg = SynthesizeConfig(steps=4, guidance_scale=3.0, batch_size=4)
    out = synthesize(tiny_model, tmp_path / "p", tmp_path / "d", cfg, 28, 1, progress=False)
    pngs = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert pngs == [f"{c}/{i}.png" for c in ("bag", "trouser") for i in range(3)]
    manifest = list(read_jsonl(out / "metadata.jsonl"))
    assert [m["seed"] for m in manifest] == list(range(6))
    assert list(manifest[4])[:2] == ["file_name", "label"]  # Hugging Face imagefolder's metadata.jsonl
    assert manifest[4] == {"number": 4, "file_name": "bag/1.png", "label": 1, "class": "bag", "prototype": 1,
                           "prompt": "a bag with feature 1", "seed": 4, "sampler": "img2img", "strength": 0.7,
                           "guidance_scale": 3.0,
                           "steps": 4, "negative_prompt": "cartoon, anime, painting"}
    from PIL import Image

    with Image.open(out / "bag" / "1.png") as im:
        assert im.size == (28, 28) and im.mode == "L"
    one = synthesize(tiny_model, tmp_path / "p", tmp_path / "d1",
                     SynthesizeConfig(steps=4, guidance_scale=3.0, batch_size=1), 28, 1, progress=False)
    for rel in pngs:
        a = np.asarray(Image.open(out / rel), dtype=int)
        b = np.asarray(Image.open(one / rel), dtype=int)
        assert np.abs(a - b).max() <= 1, rel  # batching does not change an image (±1 grey level)


def test_synthesize_resumes_after_interruption(tiny_model, tmp_path):
    write_prototypes(tmp_path / "p")
    cfg = SynthesizeConfig(steps=3, batch_size=2)
    out = synthesize(tiny_model, tmp_path / "p", tmp_path / "d", cfg, 28, 1, progress=False)
    part = next((out / ".parts").glob("*.jsonl"))
    lines = part.read_text().splitlines(keepends=True)
    part.write_text("".join(lines[:2]) + lines[2][:10])  # crash: two done, one torn line
    (out / "metadata.jsonl").unlink()
    synthesize(tiny_model, tmp_path / "p", tmp_path / "d", cfg, 28, 1, progress=False)
    assert len(list(read_jsonl(out / "metadata.jsonl"))) == 6
    assert sorted(r["number"] for r in read_jsonl(part)) == list(range(6))


def test_decode_prototypes_writes_imagefolder(tiny_model, tmp_path):
    write_prototypes(tmp_path / "p", k=2)
    out = decode_prototypes(tiny_model, tmp_path / "p", tmp_path / "k", 28, 1)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == [
        "bag/0.png", "bag/1.png", "trouser/0.png", "trouser/1.png"]


def test_encode_from_python_into_a_fresh_run_records_its_data_and_resumes(tiny_model, small_data, tmp_path):
    """A fresh ``RUN/latents`` called from Python: the run's [data] is recorded before the store's index exists
    (else the index, without a record, is refused as a deleted settings.toml), and a second call resumes."""
    import tomllib

    from vlcp.data.config import DataConfig

    small_data.data_config = DataConfig(num_classes=2, per_class=6)
    config = EncodeConfig(batch_size=4, shard_size=4)
    encode(tiny_model, small_data, tmp_path / "run" / "latents", config, progress=False)
    record = tomllib.loads((tmp_path / "run" / "settings.toml").read_text())
    assert record["data"]["num_classes"] == 2 and record["data"]["per_class"] == 6
    store = encode(tiny_model, small_data, tmp_path / "run" / "latents", config, progress=False)
    assert store.read_class("bag").latents.shape[0] == 6
