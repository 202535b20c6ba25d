"""Hostile files (tests/hostile.py) through the stage that reads each: one line naming the file, exit 2
and nothing written — or the correct result."""
import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.numpy import save_file as save_np

import hostile
from vlcp.caption import CaptionConfig, caption
from vlcp.captioners.attributes import AttributeCaptioner
from vlcp.cli import main
from vlcp.data import ImageFolderDataset
from vlcp.files.atomic import atomic_write_json
from vlcp.files.latents import LatentStore

COLOUR = {"CMYK", "YCbCr", "LAB", "RGBX"}  # converted through colour spaces: close, not exact


def refused(capsys, argv, name):
    """Run ``vlcp argv``: exit 2 and one stderr line that names ``name``; returns the line."""
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and str(name) in err and "unexpected" not in err, err
    return err


def image_tree(root, files):
    """An ImageFolder train split: one class folder per (class, file bytes, suffix)."""
    for cls, data, suffix in files:
        (root / "train" / cls).mkdir(parents=True, exist_ok=True)
        (root / "train" / cls / f"0{suffix}").write_bytes(data)
    return root


# ---- every PIL mode --------------------------------------------------------------------------------------
def test_every_pil_mode_reads_at_its_true_brightness(tmp_path, capsys):
    files = hostile.every_mode_file(tmp_path / "modes")
    made = {m: p for m, p in files.items() if not isinstance(p, str)}
    assert {"1", "L", "LA", "P", "PA", "I", "I;16", "I;16B", "F", "RGB", "RGBA", "CMYK", "YCbCr", "LAB"} <= set(made)
    expect = hostile.pattern()
    tensors = {}
    for mode, path in made.items():
        root = tmp_path / "one" / mode.replace(";", "_")
        (root / "c").mkdir(parents=True)
        shutil.copy(path, root / "c")
        x = ImageFolderDataset(root, channels=1).images([0])[0, 0].double()
        want = np.round(expect * 255) >= 128 if mode == "1" else expect
        tol = 0.04 if mode in COLOUR else 1 / 255 + 1e-6
        assert float((x - torch.from_numpy(want.astype(np.float64))).abs().max()) <= tol, mode
        tensors[mode] = x
    # through the caption stage: every file captioned, each exact one as its 8-bit greyscale twin
    root = image_tree(tmp_path / "ds", [(m.replace(";", "_"), p.read_bytes(), p.suffix) for m, p in made.items()])
    assert main(["caption", "--run", str(tmp_path / "run"), "--data-dir", str(root), "--no-progress"]) == 0
    recs = {r["file_name"].split("/")[1]: r["text"] for r in map(json.loads, (tmp_path / "run" / "captions" /
                                                                               "metadata.jsonl").read_text().splitlines())}
    assert len(recs) == len(made)
    same = [m for m in made if torch.equal(tensors[m], tensors["L"])]
    assert len(same) >= 8 and all(recs[m.replace(";", "_")].replace(m.replace(";", "_").replace("_", " "), "L")
                                  == recs["L"] for m in same)


def test_palette_with_transparency_reads_correctly(tmp_path):
    img = hostile.in_mode(hostile.pattern(), "P")
    img.save(tmp_path / "t.png", transparency=0)  # the ramp's black corner is the transparent index
    (tmp_path / "c").mkdir()
    shutil.move(tmp_path / "t.png", tmp_path / "c" / "t.png")
    x = ImageFolderDataset(tmp_path, channels=1).images([0])[0, 0].double()
    assert float((x - torch.from_numpy(hostile.pattern())).abs().max()) <= 1 / 255 + 1e-6


# ---- images cut at random byte offsets ---------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "JPEG"])
def test_truncated_images_stop_with_the_file_or_read_whole(tmp_path, capsys, fmt):
    import io

    buf = io.BytesIO()
    hostile.in_mode(hostile.pattern(), "L").save(buf, fmt)
    data, suffix = buf.getvalue(), {"PNG": ".png", "TIFF": ".tif", "JPEG": ".jpg"}[fmt]
    good = image_tree(tmp_path / "good", [("a", data, suffix)])
    whole = ImageFolderDataset(good / "train").images([0])
    for n, cut in enumerate(hostile.truncations(data, 5, seed=len(fmt))):
        root = image_tree(tmp_path / f"cut{n}", [("a", data[:cut], suffix)])
        run = tmp_path / f"run{n}"
        code = main(["caption", "--run", str(run), "--data-dir", str(root), "--no-progress"])
        err = capsys.readouterr().err.strip()
        if code == 0:  # the cut kept every pixel (e.g. inside a trailing chunk): the same image
            assert torch.equal(ImageFolderDataset(root / "train").images([0]), whole), (cut, err)
            continue
        assert code == 2 and len(err.splitlines()) == 1 and f"0{suffix}" in err and "unexpected" not in err, err
        assert not (run / "captions" / "metadata.jsonl").exists()


# ---- NaN / inf / truncated tensor files ---------------------------------------------------------------------
@pytest.fixture()
def data_dir(tmp_path):
    rng = np.random.default_rng(0)
    files = [(c, None, ".png") for c in ("bag", "trouser")]
    for c, _, _ in files:
        for split in ("train", "val"):
            (tmp_path / "ds" / split / c).mkdir(parents=True)
            Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8)).save(tmp_path / "ds" / split / c / "0.png")
    return tmp_path / "ds"


def _prototypes(folder, tensors):
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: torch.from_numpy(v) for k, v in tensors.items()}, str(folder / "prototypes.safetensors"))
    atomic_write_json(folder / "text_prototypes.json", {"strategy": "label", "classes": {
        c: [{"cluster": i, "text": f"a {c}", "size": 1} for i in range(len(v))] for c, v in tensors.items()}})


@pytest.mark.parametrize("kind", ["nan", "inf", "-inf", "truncated"])
def test_hostile_prototypes_stop_synthesize_before_the_model(tmp_path, capsys, data_dir, kind):
    run = tmp_path / "run"
    good = np.zeros((1, 4, 16, 16), np.float32)
    bad = good.copy() if kind == "truncated" else hostile.nonfinite((1, 4, 16, 16), kind)
    _prototypes(run / "prototypes", {"bag": good, "trouser": bad})
    path = run / "prototypes" / "prototypes.safetensors"
    if kind == "truncated":
        cuts = hostile.truncations(path.read_bytes(), 3)
    else:
        cuts = [None]
    for cut in cuts:
        if cut is not None:
            _prototypes(run / "prototypes", {"bag": good, "trouser": bad})
            path.write_bytes(path.read_bytes()[:cut])
        refused(capsys, ["synthesize", "--run", str(run), "--data-dir", str(data_dir), "--no-progress"], path)
        assert not (run / "distilled").exists()


@pytest.mark.parametrize("kind", ["nan", "inf", "truncated"])
def test_hostile_latents_shards_stop_prototypes(tmp_path, capsys, kind):
    run = tmp_path / "run"
    store = LatentStore(run / "latents")
    store.init(["bag"], ["bag"], (4, 16, 16), 1.0, 4)
    lat = np.zeros((4, 4, 16, 16), np.float32) if kind == "truncated" else hostile.nonfinite((4, 4, 16, 16), kind)
    shard = store.shard_path("bag", 0)
    shard.parent.mkdir(parents=True)
    names = [f"train/bag/{i}.png" for i in range(4)]
    save_np({"latents": lat, "ids": np.arange(4)}, str(shard), metadata={"file_names": json.dumps(names)})
    (run / "captions").mkdir()
    (run / "captions" / "metadata.jsonl").write_text("".join(json.dumps({"file_name": n, "text": "a bag"}) + "\n"
                                                             for n in names))
    for cut in (hostile.truncations(shard.read_bytes(), 3) if kind == "truncated" else [None]):
        if cut is not None:
            save_np({"latents": lat, "ids": np.arange(4)}, str(shard), metadata={"file_names": json.dumps(names)})
            shard.write_bytes(shard.read_bytes()[:cut])
        refused(capsys, ["prototypes", "--run", str(run), "--ipc", "1"], shard)
        assert not (run / "prototypes" / "prototypes.safetensors").exists()


@pytest.mark.parametrize("kind", ["nan", "inf", "truncated"])
def test_hostile_teacher_weights_stop_evaluate(tmp_path, capsys, data_dir, kind):
    from vlcp.evaluate.networks import build_network

    state = {k: v.numpy().copy() for k, v in build_network("convnet3", 1, 2, 28, norm="batch").state_dict().items()}
    first = next(k for k, v in state.items() if v.dtype == np.float32)
    if kind != "truncated":
        state[first] = hostile.nonfinite(state[first].shape, kind)
    teacher = tmp_path / "t.safetensors"
    save_np(state, str(teacher))
    if kind == "truncated":
        teacher.write_bytes(teacher.read_bytes()[:hostile.truncations(teacher.read_bytes(), 1)[0]])
    cfg = tmp_path / "e.toml"
    cfg.write_text(f'[data]\ndata_dir = "{data_dir}"\n\n[evaluate]\nprotocol = "rded"\nteacher = "{teacher}"\n'
                   'epochs = 1\nrepeats = 1\nprogress = false\ndevice = "cpu"\n')
    refused(capsys, ["evaluate", str(data_dir / "train"), "--config", str(cfg), "--out", str(tmp_path / "ev")], teacher)
    assert not (tmp_path / "ev" / "results.json").exists()


# ---- JSONL torn at every byte of its last line ----------------------------------------------------------------
def test_caption_part_torn_at_every_byte_of_its_last_line_resumes_to_the_same_file(tmp_path):
    rng = np.random.default_rng(1)
    for c in ("café_crème", "naïve"):  # multi-byte UTF-8 in every caption
        (tmp_path / "train" / c).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 255, (12, 12), dtype=np.uint8)).save(tmp_path / "train" / c / f"{i}.png")
    ds, cfg = ImageFolderDataset(tmp_path / "train"), CaptionConfig(batch_size=2)
    ref = caption(ds, AttributeCaptioner(), tmp_path / "ref", cfg, progress=False).read_bytes()
    part = next((tmp_path / "ref" / "parts").glob("*.jsonl"))
    fingerprint = (tmp_path / "ref" / ".fingerprint-caption.json").read_bytes()
    full = part.read_bytes()
    assert any(b >= 0x80 for b in full.rstrip(b"\n")[full.rstrip(b"\n").rfind(b"\n"):])
    n = 0
    for torn in hostile.torn_tails(full):
        out = tmp_path / "cut"
        shutil.rmtree(out, ignore_errors=True)
        (out / "parts").mkdir(parents=True)
        (out / "parts" / part.name).write_bytes(torn)
        (out / ".fingerprint-caption.json").write_bytes(fingerprint)
        assert caption(ds, AttributeCaptioner(), out, cfg, progress=False).read_bytes() == ref, len(torn)
        n += 1
    assert n > 40


# ---- text in other encodings -----------------------------------------------------------------------------------
def test_captions_in_another_encoding_stop_train(tmp_path, capsys, data_dir):
    text = "".join(json.dumps({"file_name": f"train/{c}/0.png", "text": f"a {c} in crème brûlée"},
                              ensure_ascii=False) + "\n" for c in ("bag", "trouser"))
    for enc, data in hostile.other_encodings(text).items():
        path = tmp_path / f"captions-{enc}.jsonl"
        path.write_bytes(data)
        run = tmp_path / f"run-{enc}"
        refused(capsys, ["train", "--run", str(run), "--data-dir", str(data_dir), "--captions", str(path),
                         "--vae-steps", "1"], path.name)
        assert not (run / "model").exists()


def test_config_in_another_encoding_stops(tmp_path, capsys, data_dir):
    text = f'# réglages\n[data]\ndata_dir = "{data_dir}"\n'
    for enc, data in hostile.other_encodings(text).items():
        path = tmp_path / f"c-{enc}.toml"
        path.write_bytes(data)
        err = refused(capsys, ["caption", "--run", str(tmp_path / enc), "--config", str(path)], path.name)
        assert "not UTF-8 text" in err
        assert not (tmp_path / enc / "captions").exists()


# ---- files that are not images, images far off the folder's size --------------------------------------------
def test_a_fifo_named_png_is_not_an_image(tmp_path, capsys):
    root = hostile.odd_size_tree(tmp_path / "ds", odd=(28, 28))
    fifo = hostile.fifo_named_image(root / "train" / "a")
    ds = ImageFolderDataset(root / "train")
    assert fifo not in ds.paths and len(ds) == 8
    run = tmp_path / "run"
    assert main(["caption", "--run", str(run), "--data-dir", str(root), "--no-progress"]) == 0, capsys.readouterr().err
    names = [json.loads(line)["file_name"] for line in (run / "captions" / "metadata.jsonl").read_text().splitlines()]
    assert len(names) == 8 and not any(n.endswith("z.png") for n in names)


def test_one_tiny_image_that_sorts_first_does_not_set_the_resolution(tmp_path, capsys):
    root = hostile.odd_size_tree(tmp_path / "ds", odd=(1, 1))
    ds = ImageFolderDataset(root / "train")
    assert ds.resolution == 28 and ds.images([1]).shape == (1, 1, 28, 28)
    run = tmp_path / "run"
    refused(capsys, ["caption", "--run", str(run), "--data-dir", str(root), "--no-progress"], "0.png")
    assert not (run / "captions" / "metadata.jsonl").exists()


def test_images_of_a_nearby_size_still_read(tmp_path):
    root = hostile.odd_size_tree(tmp_path / "ds", odd=(20, 24))
    ds = ImageFolderDataset(root / "train")
    assert ds.resolution == 28 and ds.images([0]).shape == (1, 1, 28, 28)


# ---- text prototypes that leave a class out, or hold a non-string prompt ------------------------------------
@pytest.mark.parametrize("fault", ["missing_class", "number_text"])
def test_hostile_text_prototypes_stop_synthesize_naming_the_class(tmp_path, capsys, data_dir, fault):
    run = tmp_path / "run"
    good = np.zeros((1, 4, 16, 16), np.float32)
    _prototypes(run / "prototypes", {"bag": good, "trouser": good.copy()})
    path = run / "prototypes" / "text_prototypes.json"
    record = json.loads(path.read_text())
    if fault == "missing_class":
        del record["classes"]["trouser"]
    else:
        record["classes"]["trouser"][0]["text"] = 5
    path.write_text(json.dumps(record))
    err = refused(capsys, ["synthesize", "--run", str(run), "--data-dir", str(data_dir), "--no-progress"], path)
    assert "trouser" in err
    assert not (run / "distilled").exists()


# ---- a run folder whose record was emptied while its outputs remain ----------------------------------------
@pytest.mark.parametrize("content", ["", "[run]\nmodel = 'x'\n"])
def test_an_emptied_run_record_stops_instead_of_falling_back_to_the_default_dataset(tmp_path, capsys, content):
    root = hostile.odd_size_tree(tmp_path / "ds", odd=(28, 28))
    run = tmp_path / "run"
    assert main(["caption", "--run", str(run), "--data-dir", str(root), "--no-progress"]) == 0
    capsys.readouterr()
    (run / "settings.toml").write_text(content)
    refused(capsys, ["caption", "--run", str(run), "--no-progress"], run / "settings.toml")
