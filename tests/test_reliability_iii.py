"""Issue 32 (Reliability III), the data and stage-output half: a run or data folder that changed never gives a
silent wrong answer, and a rerun repairs what is missing. Each hostile case comes from tests/hostile.py."""
import json

import numpy as np
import pytest

from vlcp.run.state import write_settings
from PIL import Image

import hostile
from vlcp.cli import main


def refused(capsys, argv, *names):
    """Run ``vlcp argv``: exit 2 and one stderr line naming each of ``names``; returns the line."""
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "unexpected" not in err, err
    for name in names:
        assert str(name) in err, err
    return err


@pytest.fixture()
def data_dir(tmp_path):
    """An ImageFolder tree (train and val) of two classes, bag and trouser, one 28-px image each."""
    rng = np.random.default_rng(0)
    for c in ("bag", "trouser"):
        for split in ("train", "val"):
            (tmp_path / "ds" / split / c).mkdir(parents=True)
            Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8)).save(tmp_path / "ds" / split / c / "0.png")
    return tmp_path / "ds"


# ---- item 4: a latents shard whose rows, names, dtype or values disagree --------------------------------------
@pytest.mark.parametrize("kind", hostile.SHARD_FAULTS)
def test_a_damaged_latents_shard_stops_prototypes(tmp_path, capsys, kind):
    shard = hostile.damaged_latents_run(tmp_path / "run", kind)
    err = refused(capsys, ["prototypes", "--run", str(tmp_path / "run"), "--ipc", "1"], shard)
    assert "rerun `vlcp encode`" in err
    assert not (tmp_path / "run" / "prototypes" / "prototypes.safetensors").exists()


def test_a_sound_latents_shard_still_reads(tmp_path):
    from vlcp.files.latents import LatentStore

    hostile.damaged_latents_run(tmp_path / "run", "none")
    got = LatentStore(tmp_path / "run" / "latents").read_class("bag")
    assert got.latents.shape == (6, 4, 16, 16) and len(got.file_names) == 6


@pytest.mark.parametrize("kind", ["int", "huge"])
def test_integer_or_absurd_prototypes_stop_synthesize(tmp_path, capsys, data_dir, kind):
    path = hostile.damaged_prototypes(tmp_path / "run" / "prototypes", kind)
    err = refused(capsys, ["synthesize", "--run", str(tmp_path / "run"), "--data-dir", str(data_dir),
                           "--no-progress"], path, "trouser")
    assert ("int32" if kind == "int" else "1e+30") in err
    assert not (tmp_path / "run" / "distilled").exists()


# ---- item 5: every class of the run is in every stage's output --------------------------------------------
@pytest.mark.parametrize("fault", ["recorded", "latents"])
def test_a_class_missing_from_both_prototype_files_stops_synthesize(tmp_path, capsys, data_dir, fault):
    """A class left out of prototypes.safetensors and text_prototypes.json alike: the file records the run's
    classes (``recorded``), or the run's latents index has the class (``latents``)."""
    folder = tmp_path / "run" / "prototypes"
    hostile.prototypes_without_class(folder, "trouser", record=fault == "recorded")
    if fault == "latents":
        (tmp_path / "run" / "latents").mkdir()
        (tmp_path / "run" / "latents" / "index.json").write_text(json.dumps({"classes": ["bag", "trouser"]}))
        write_settings(tmp_path / "run", {"data": {"data_dir": str(data_dir)}})  # as the encode stage records it
    err = refused(capsys, ["synthesize", "--run", str(tmp_path / "run"), "--data-dir", str(data_dir),
                           "--no-progress"], "trouser", "rerun `vlcp prototypes --force`")
    assert "text_prototypes.json" in err
    assert not (tmp_path / "run" / "distilled").exists()


def test_prototypes_of_a_class_outside_the_run_stop_synthesize(tmp_path, capsys, data_dir):
    hostile.damaged_prototypes(tmp_path / "run" / "prototypes", "none", classes=("bag", "trouser", "sandal"))
    (tmp_path / "run" / "latents").mkdir()
    (tmp_path / "run" / "latents" / "index.json").write_text(json.dumps({"classes": ["bag", "trouser"]}))
    write_settings(tmp_path / "run", {"data": {"data_dir": str(data_dir)}})  # as the encode stage records it
    refused(capsys, ["synthesize", "--run", str(tmp_path / "run"), "--data-dir", str(data_dir), "--no-progress"],
            "'sandal'", "not among the run's classes")


def distilled_run(run, classes=("tshirt_top", "trouser", "pullover"), k=2):
    """A run folder as synthesize leaves it: distilled/<class>/<n>.png, metadata.jsonl, latents/index.json."""
    rows = []
    for label, c in enumerate(classes):
        for n in range(k):
            path = run / "distilled" / c / f"{n}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((28, 28), 40 * label + n, np.uint8)).save(path)
            rows.append({"file_name": f"{c}/{n}.png", "label": label, "class": c, "prompt": f"a {c}"})
    (run / "distilled" / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run / "latents").mkdir(parents=True)
    (run / "latents" / "index.json").write_text(json.dumps({"classes": list(classes), "class_names": list(classes)}))
    return rows


@pytest.mark.parametrize("fault", ["last_class", "middle_class", "no_index"])
def test_export_stops_when_a_class_of_the_run_has_no_rows(tmp_path, capsys, fault):
    run = tmp_path / "run"
    rows = distilled_run(run)
    drop = "pullover" if fault == "last_class" else "trouser"
    kept = [r for r in rows if r["class"] != drop]
    (run / "distilled" / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in kept))
    if fault == "no_index":
        (run / "latents" / "index.json").unlink()
    refused(capsys, ["export", str(run), "--format", "pt"], "metadata.jsonl", drop)
    assert not (run / "export").exists()


def test_export_of_a_whole_run_still_writes_every_class(tmp_path, capsys):
    import torch

    distilled_run(tmp_path / "run")
    assert main(["export", str(tmp_path / "run"), "--format", "pt"]) == 0
    data = torch.load(tmp_path / "run" / "export" / "distilled.pt")
    assert data["classes"] == ["tshirt_top", "trouser", "pullover"] and data["labels"].tolist() == [0, 0, 1, 1, 2, 2]


# ---- export --out ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["pt", "hf"])
def test_export_out_that_is_an_existing_folder_names_out(tmp_path, capsys, fmt):
    distilled_run(tmp_path / "run")
    out = tmp_path / "mine"
    out.mkdir()
    (out / "keep.txt").write_text("my notes")
    refused(capsys, ["export", str(tmp_path / "run"), "--format", fmt, "--out", str(out)], f"--out {out}")
    assert (out / "keep.txt").read_text() == "my notes"


# ---- item 6: a rerun of synthesize checks what its manifest says it wrote, and redoes what is not there --------
def test_synthesize_rerun_redoes_a_deleted_or_overwritten_image(tiny_model, tmp_path, capsys):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent / "run"))
    from test_resume_stale import write_prototypes
    from vlcp.files.atomic import read_jsonl
    from vlcp.synthesize import SynthesizeConfig, synthesize

    write_prototypes(tmp_path / "p", k=2)
    cfg = SynthesizeConfig(steps=1, strength=1.0, batch_size=4)
    out = synthesize(tiny_model, tmp_path / "p", tmp_path / "d", cfg, 28, 1, progress=False)
    names = [r["file_name"] for r in read_jsonl(out / "metadata.jsonl")]
    before = {n: np.asarray(Image.open(out / n), dtype=int) for n in names}
    metadata = (out / "metadata.jsonl").read_bytes()
    assert b"png_sha256" not in metadata  # the digests stay in the stage's own manifest
    capsys.readouterr()
    hostile.tamper_images(out, names)
    synthesize(tiny_model, tmp_path / "p", tmp_path / "d", cfg, 28, 1, progress=False)
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(out / sorted(names[:3])[0]) in err and "2 more" in err, err
    for n in names:
        assert np.abs(np.asarray(Image.open(out / n), dtype=int) - before[n]).max() <= 1, n
    assert (out / "metadata.jsonl").read_bytes() == metadata
    synthesize(tiny_model, tmp_path / "p", tmp_path / "d", cfg, 28, 1, progress=False)  # all intact: nothing redone
    assert capsys.readouterr().err == ""


def test_an_older_manifest_without_digests_still_checks_the_files(tiny_model, tmp_path, capsys):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent / "run"))
    from test_resume_stale import write_prototypes
    from vlcp.files.atomic import read_jsonl
    from vlcp.synthesize import SynthesizeConfig, synthesize

    write_prototypes(tmp_path / "p", k=1)
    cfg = SynthesizeConfig(steps=1, strength=1.0)
    out = synthesize(tiny_model, tmp_path / "p", tmp_path / "d", cfg, 28, 1, progress=False)
    part = next((out / ".parts").glob("manifest-*.jsonl"))
    rows = [{k: v for k, v in r.items() if k != "png_sha256"} for r in read_jsonl(part)]
    part.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (out / rows[0]["file_name"]).write_bytes(b"garbage")
    capsys.readouterr()
    synthesize(tiny_model, tmp_path / "p", tmp_path / "d", cfg, 28, 1, progress=False)
    assert rows[0]["file_name"] in capsys.readouterr().err
    Image.open(out / rows[0]["file_name"]).load()


# ---- captions: a byte order mark, a lone surrogate, a second caption for one image ---------------------------
@pytest.mark.parametrize("kind", hostile.CAPTION_FAULTS)
def test_awkward_captions_read_or_stop_prototypes_naming_the_line(tmp_path, capsys, kind):
    run = tmp_path / "run"
    hostile.damaged_latents_run(run, "none")
    meta = run / "captions" / "metadata.jsonl"
    names = [json.loads(line)["file_name"] for line in meta.read_text().splitlines()]
    hostile.awkward_captions(meta, names, kind)
    argv = ["prototypes", "--run", str(run), "--ipc", "1"]
    if kind in ("bom", "duplicate_same_text"):  # accepted: the BOM dropped, the repeated line the same caption
        assert main(argv) == 0, capsys.readouterr().err
        return
    err = refused(capsys, argv, meta)
    assert ("record 2" in err and "surrogate" in err) if kind == "lone_surrogate" else \
        ("record 7" in err and names[0] in err and "record 1" in err), err
    assert not (run / "prototypes" / "prototypes.safetensors").exists()


def test_a_bom_before_json_is_read(tmp_path):
    from vlcp.files.atomic import read_json

    (tmp_path / "x.json").write_bytes(b"\xef\xbb\xbf" + json.dumps({"a": 1}).encode())
    assert read_json(tmp_path / "x.json") == {"a": 1}


# ---- images: GIF, hidden files, very large images --------------------------------------------------------------
def test_a_gif_is_read_as_its_first_frame_and_hidden_files_are_skipped(tmp_path):
    from vlcp.data import ImageFolderDataset

    root = hostile.gif_and_hidden_tree(tmp_path / "ds")
    ds = ImageFolderDataset(root / "train")
    assert [ds.file_name(i) for i in range(len(ds))] == ["train/a/0.png", "train/a/1.png", "train/a/2.gif",
                                                          "train/b/0.png", "train/b/1.png"]
    assert float(ds.images([2]).min()) == 1.0  # the white first frame


def test_a_very_large_image_is_named_in_one_warning_line_once(tmp_path, capsys, monkeypatch):
    import warnings

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 144-pixel images count as 'very large', none as a bomb
    root = tmp_path / "ds"
    big = hostile.large_image(root / "train" / "a")
    hostile.large_image(root / "train" / "b")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)  # PIL's own warning must not escape
        assert main(["caption", "--run", str(tmp_path / "run"), "--data-dir", str(root), "--no-progress"]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(lines) == 2 and str(big) in lines[0] and "megapixels" in lines[0], lines


# ---- settings: a seed out of every library's range ----------------------------------------------------------
@pytest.mark.parametrize("stage", [["synthesize"], ["train"], ["encode"], ["prototypes", "--ipc", "1"], ["evaluate"],
                                   ["baseline", "--method", "random"], ["figure"]])
@pytest.mark.parametrize("seed", ["99999999999999999999999", "-1", str(2**32)])
def test_a_seed_out_of_range_stops_at_parse_time(tmp_path, capsys, stage, seed):
    refused(capsys, [*stage, "--run", str(tmp_path / "run"), "--seed", seed, "--no-progress"], "'seed'" if
            stage != ["figure"] else "--seed", "[0, 2**32)")
    assert not (tmp_path / "run").exists()


def test_a_seed_in_a_config_file_is_checked_too(tmp_path, capsys):
    (tmp_path / "c.toml").write_text("[synthesize]\nseed = 99999999999999999999\n")
    refused(capsys, ["synthesize", "--run", str(tmp_path / "run"), "--config", str(tmp_path / "c.toml")], "c.toml",
            "'seed'")


# ---- two processes on one run stage --------------------------------------------------------------------------
HOLD = """
import sys
from vlcp.run.lock import stage_lock
with stage_lock(sys.argv[1], sys.argv[2]):
    print("held", flush=True)
    sys.stdin.readline()
"""


def test_a_second_synthesize_on_one_folder_stops_and_a_stale_lock_does_not(tiny_model, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from vlcp.errors import VlcpError
    from vlcp.synthesize import SynthesizeConfig, synthesize

    hostile.damaged_prototypes(tmp_path / "p", "none")
    out, cfg = tmp_path / "d", SynthesizeConfig(steps=1, strength=1.0)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1] / "src"),
                                                        os.environ.get("PYTHONPATH", "")])}
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out), "synthesize"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(VlcpError, match=rf"{out}: another `vlcp synthesize` process \(pid {holder.pid}\) is working"):
            synthesize(tiny_model, tmp_path / "p", out, cfg, 28, 1, progress=False)
        assert not list(out.rglob("*.png"))
    finally:
        holder.communicate("\n", timeout=60)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out), "synthesize"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=env)
    assert holder.stdout.readline().strip() == "held"
    holder.kill()  # SIGKILL: its lock file stays behind, its lock does not
    holder.wait(timeout=60)
    (out / ".lock-synthesize-000-of-001").write_text(f"{holder.pid}\n")
    synthesize(tiny_model, tmp_path / "p", out, cfg, 28, 1, progress=False)
    assert len(list(out.rglob("*.png"))) == 2 and not list(out.glob(".lock-*"))


def test_a_prompt_that_is_not_a_string_is_named_with_its_file_and_class(tmp_path):
    """A non-string ``text`` in text_prototypes.json stops with one line, not a tokenizer error."""
    import json

    import numpy as np
    from safetensors.numpy import save_file

    from vlcp.errors import VlcpError
    from vlcp.synthesize import load_prototypes

    save_file({"bag": np.zeros((1, 4, 16, 16), np.float32)}, str(tmp_path / "prototypes.safetensors"))
    (tmp_path / "text_prototypes.json").write_text(json.dumps({"strategy": "label", "classes": {
        "bag": [{"cluster": 0, "text": 5, "size": 1}]}}))
    with pytest.raises(VlcpError, match=r"text_prototypes.json: class 'bag' cluster 0: 'text' must be a string, got int"):
        load_prototypes(tmp_path)
