"""Issue 20: no silent wrong answer from NaNs or changed inputs; torn UTF-8 resumes; every message names its file."""
import gzip
import json
import os
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.numpy import save_file as save_np
from safetensors.torch import save_file

from vlcp.caption import CaptionConfig, caption
from vlcp.captioners.attributes import AttributeCaptioner
from vlcp.cli import main
from vlcp.data import ImageFolderDataset, TensorDataset, load_dataset
from vlcp.encode import EncodeConfig, encode
from vlcp.errors import VlcpError
from vlcp.files.atomic import append_jsonl, read_jsonl
from vlcp.files.latents import LatentStore

sys.path.insert(0, str(Path(__file__).parent / "run"))  # write_prototypes: run/test_resume_stale.py


def folder_dataset(root, n=4, classes=("cat", "dog")):
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8)).save(root / c / f"{i}.png")
    return root


def one_line_error(capsys, argv, *expected):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    for e in expected:
        assert e in err, err
    return err


# ---- 2: NaN and inf stop where they are read or made, naming the file --------------------------------------
def test_nan_prototypes_stop_synthesize_before_any_image(tiny_model, tmp_path):
    from test_resume_stale import write_prototypes
    from vlcp.synthesize import SynthesizeConfig, synthesize

    write_prototypes(tmp_path / "p", k=2)
    bad = {"trouser": torch.randn(2, 4, 16, 16), "bag": torch.full((2, 4, 16, 16), float("nan"))}
    save_file(bad, str(tmp_path / "p" / "prototypes.safetensors"))
    with pytest.raises(VlcpError, match=r"p/prototypes\.safetensors: tensor 'bag' holds 2048 NaN or infinite values"):
        synthesize(tiny_model, tmp_path / "p", tmp_path / "d", SynthesizeConfig(steps=2), 28, 1, progress=False)
    assert not list(tmp_path.glob("d/**/*.png"))


def test_prototypes_of_the_wrong_shape_are_named(tmp_path):
    from vlcp.files.tensors import load_centres

    save_file({"bag": torch.zeros(4, 16, 16)}, str(tmp_path / "prototypes.safetensors"))
    with pytest.raises(VlcpError, match=r"prototypes\.safetensors: expected one \(k, C, H, W\) tensor per class"):
        load_centres(tmp_path / "prototypes.safetensors")


def test_nan_in_a_latents_shard_names_the_shard(tiny_model, tmp_path):
    data = TensorDataset(np.zeros((4, 1, 28, 28), np.uint8), np.array([0, 0, 1, 1]), ["a", "b"], ["a", "b"])
    store = encode(tiny_model, data, tmp_path / "lat", EncodeConfig(shard_size=2), progress=False)
    shard = store.shard_path("b", 0)
    lat = np.full((2, 4, 16, 16), np.inf, np.float32)
    save_np({"latents": lat, "ids": np.array([2, 3])}, str(shard), metadata={"file_names": json.dumps(["x", "y"])})
    with pytest.raises(VlcpError, match=r"b/00000\.safetensors: tensor 'latents' holds 2048 NaN or infinite values "
                                        r"\(delete it and rerun `vlcp encode`"):
        store.read_class("b")


def test_encode_that_makes_nan_stops_naming_the_shard(tiny_model, tmp_path):
    data = TensorDataset(np.zeros((2, 1, 28, 28), np.uint8), np.array([0, 1]), ["a", "b"], ["a", "b"])
    with torch.no_grad():
        for p in tiny_model.vae.parameters():
            p.fill_(float("nan"))
    with pytest.raises(VlcpError, match=r"a/00000\.safetensors: tensor 'latents' holds .* NaN .*--dtype float32"):
        encode(tiny_model, data, tmp_path / "lat", EncodeConfig(), progress=False)
    assert not list((tmp_path / "lat").glob("*/*.safetensors"))


def test_nan_teacher_weights_are_refused(tmp_path):
    from vlcp.evaluate.teacher import read_state_dict

    save_file({"w": torch.tensor([1.0, float("nan")])}, str(tmp_path / "t.safetensors"))
    with pytest.raises(VlcpError, match=r"setting 'teacher': .*t\.safetensors: tensor 'w' holds 1 NaN or infinite value"):
        read_state_dict(tmp_path / "t.safetensors")


def test_a_generated_nan_image_is_not_written(tmp_path):
    from vlcp.files.images import save_png

    with pytest.raises(VlcpError, match=r"x\.png: the generated image holds NaN or infinite values .*--dtype float32"):
        save_png(torch.full((1, 4, 4), float("nan")), tmp_path / "x.png")
    assert not list(tmp_path.iterdir())


# ---- 3: the fingerprint follows every input image; caption has one -----------------------------------------
def test_encode_stops_when_any_image_changed(tiny_model, tmp_path):
    root = folder_dataset(tmp_path / "train")
    encode(tiny_model, ImageFolderDataset(root), tmp_path / "lat", EncodeConfig(shard_size=2), progress=False)
    Image.new("L", (28, 28), 255).save(root / "dog" / "3.png")  # the last image, not the first
    os.utime(root / "dog" / "3.png", ns=(1, 1))
    with pytest.raises(VlcpError, match="made with other dataset; rerun with --force"):
        encode(tiny_model, ImageFolderDataset(root), tmp_path / "lat", EncodeConfig(shard_size=2), progress=False)


def test_caption_resumes_only_over_the_same_images(tmp_path):
    root = folder_dataset(tmp_path / "train")
    cfg = CaptionConfig(batch_size=2)
    out = caption(ImageFolderDataset(root), AttributeCaptioner(), tmp_path / "cap", cfg, progress=False)
    before = out.read_bytes()
    caption(ImageFolderDataset(root), AttributeCaptioner(), tmp_path / "cap", cfg, progress=False)  # same: resumes
    assert out.read_bytes() == before
    Image.new("L", (28, 28), 255).save(root / "cat" / "2.png")
    os.utime(root / "cat" / "2.png", ns=(1, 1))
    with pytest.raises(VlcpError, match=r"cap: existing caption output was made with other dataset; rerun with --force"):
        caption(ImageFolderDataset(root), AttributeCaptioner(), tmp_path / "cap", cfg, progress=False)
    assert out.read_bytes() == before
    caption(ImageFolderDataset(root), AttributeCaptioner(), tmp_path / "cap", cfg, progress=False, force=True)
    new = {r["file_name"]: r["text"] for r in read_jsonl(out)}
    old = {json.loads(line)["file_name"]: json.loads(line)["text"] for line in before.decode().splitlines()}
    assert new["train/cat/2.png"] != old["train/cat/2.png"] and len(new) == 8


def test_caption_cli_force_flag(tmp_path, capsys):
    root = folder_dataset(tmp_path / "ds" / "train")
    argv = ["caption", "--run", str(tmp_path / "run"), "--data-dir", str(tmp_path / "ds"), "--no-progress"]
    assert main(argv) == 0
    Image.new("L", (28, 28), 0).save(root / "dog" / "0.png")
    os.utime(root / "dog" / "0.png", ns=(1, 1))
    one_line_error(capsys, argv, "made with other dataset; rerun with --force")
    assert main(argv + ["--force"]) == 0


# ---- 4: a JSONL part torn inside a multi-byte character resumes ---------------------------------------------
def test_jsonl_torn_inside_a_utf8_character_is_dropped_and_redone(tmp_path):
    path = tmp_path / "p.jsonl"
    append_jsonl(path, [{"text": "café"}])
    whole = json.dumps({"text": "naïve é"}, ensure_ascii=False).encode()
    cut = whole.index("ï".encode()) + 1  # inside the two-byte ï
    with path.open("ab") as f:
        f.write(whole[:cut])
    assert list(read_jsonl(path)) == [{"text": "café"}]
    append_jsonl(path, [{"text": "naïve é"}])
    assert list(read_jsonl(path)) == [{"text": "café"}, {"text": "naïve é"}]


def test_a_complete_line_in_another_encoding_is_named(tmp_path):
    path = tmp_path / "metadata.jsonl"
    path.write_bytes('{"file_name": "a.png", "text": "caf\u00e9"}\n'.encode("latin-1"))
    with pytest.raises(VlcpError, match=r"metadata\.jsonl:1: not UTF-8 text \(byte 0xe9 at offset 35\); save it as UTF-8"):
        list(read_jsonl(path))


# ---- 5: the file and the fix -------------------------------------------------------------------------------
def test_class_folder_name_not_utf8(tmp_path):
    root = folder_dataset(tmp_path / "train")
    os.rename(root / "dog", os.path.join(os.fsencode(root), b"d\xe9g"))
    with pytest.raises(VlcpError, match=r"train: class folder name 'd\\\\xe9g' is not valid UTF-8; rename it"):
        ImageFolderDataset(root)


def test_binary_config_file(tmp_path, capsys):
    (tmp_path / "c.toml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    one_line_error(capsys, ["caption", "--run", str(tmp_path / "r"), "--config", str(tmp_path / "c.toml")],
                   "c.toml: not UTF-8 text (byte 0x89 at offset 0)")


def _idx(path, arr):
    header = struct.pack(">HBB", 0, 8, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def _idx_dir(tmp_path, labels=None):
    for prefix, n in (("train", 12), ("t10k", 4)):
        _idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", np.zeros((n, 28, 28)))
        _idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10 if labels is None else labels[:n])
    return tmp_path


def test_truncated_gz_idx_file(tmp_path):
    d = _idx_dir(tmp_path)
    f = d / "train-images-idx3-ubyte.gz"
    f.write_bytes(f.read_bytes()[:-20])
    with pytest.raises(VlcpError, match=r"train-images-idx3-ubyte\.gz: cannot read IDX data .*truncated or damaged"):
        load_dataset(d)


def test_idx_labels_outside_the_classes(tmp_path):
    d = _idx_dir(tmp_path, labels=np.array([0, 1, 12] + [0] * 9))
    with pytest.raises(VlcpError, match=r"train-labels-idx1-ubyte\.gz: 1 labels outside the 10 classes 0\.\.9 \(e\.g\. 12\)"):
        load_dataset(d)


def test_tampered_evaluation_run_file(tmp_path):
    from vlcp.evaluate.resume import RunStore

    store = RunStore(tmp_path, {"a": 1})
    store.folder.mkdir(parents=True)
    (store.folder / "seed-0.json").write_text('{"seed": 0, "final": 250.0, "best": 1, "best_epoch": 0}')
    with pytest.raises(VlcpError, match=r"seed-0\.json: not a finished run stored by vlcp .*delete it and rerun"):
        store.get(0)
    (store.folder / "seed-0.json").write_text('{"seed": 0, "final": 50.0, "oops": 1}')
    with pytest.raises(VlcpError, match="not a finished run stored by vlcp"):
        store.get(0)


def test_merge_file_of_the_wrong_structure(tmp_path):
    from vlcp.evaluate.results import read_results

    (tmp_path / "r.json").write_text('{"rows": [[1, 2]]}')
    with pytest.raises(VlcpError, match=r"r\.json: 'rows' must be a list of result objects"):
        read_results(tmp_path / "r.json")


@pytest.mark.parametrize("kind", ["device", "pipe"])
def test_teacher_that_is_a_device_or_a_pipe(tmp_path, kind):
    from vlcp.evaluate.teacher import read_state_dict

    path = "/dev/zero" if kind == "device" else str(tmp_path / "fifo")
    if kind == "pipe":
        os.mkfifo(path)
    with pytest.raises(VlcpError, match=r"not a regular file \(a folder, device or pipe\)"):
        read_state_dict(path)


def test_a_newline_in_a_path_survives_in_the_message(tmp_path, capsys):
    odd = tmp_path / "a\nb"
    odd.mkdir()
    one_line_error(capsys, ["evaluate", str(odd / "missing")], "a\\nb/missing")


# ---- 9: weights-only refusals say so; no third-party warning first ------------------------------------------
def test_raw_pickle_teacher_is_refused_in_one_line_without_torch_warnings(tmp_path, recwarn):
    import pickle

    from vlcp.evaluate.teacher import read_state_dict

    with open(tmp_path / "raw.pt", "wb") as f:
        pickle.dump({"w": torch.zeros(2)}, f, protocol=4)
    with pytest.raises(VlcpError) as e:
        read_state_dict(tmp_path / "raw.pt")
    assert "the file holds more than weights (pickled objects or code), so it was refused" in str(e.value)
    assert "weights_only" not in str(e.value)
    assert not [w for w in recwarn if "pickle protocol" in str(w.message)]


# ---- 10: an uneven distilled set says so in the table -------------------------------------------------------
def test_uneven_distilled_set_is_noted(tmp_path, capsys):
    for split, n in (("train", 4), ("val", 3)):
        folder_dataset(tmp_path / "ds" / split, n)
    d = folder_dataset(tmp_path / "distilled", 2)
    (d / "dog" / "1.png").unlink()
    toml = tmp_path / "cfg.toml"
    toml.write_text(f'[data]\ndata_dir = "{tmp_path / "ds"}"\n\n[evaluate]\nepochs = 1\nrepeats = 1\nprogress = false\n')
    assert main(["evaluate", str(d), "--config", str(toml), "--out", str(tmp_path / "ev")]) == 0
    md = (tmp_path / "ev" / "results.md").read_text()
    assert "warning: distilled at IPC 2 is uneven: 2, 1 images per class" in md


class _Code:
    def __reduce__(self):
        return (print, ("code ran",))


def test_bin_unet_with_code_is_refused_without_a_diffusers_log_line(tmp_path, capfd):
    from diffusers import AutoencoderKL, UNet2DConditionModel

    m = tmp_path / "sd"
    UNet2DConditionModel(sample_size=8, block_out_channels=(32, 32), cross_attention_dim=32, layers_per_block=1,
                         down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), attention_head_dim=4,
                         up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), norm_num_groups=8,
                         ).save_pretrained(m / "unet", safe_serialization=False)
    AutoencoderKL(block_out_channels=(32,), norm_num_groups=8).save_pretrained(m / "vae")
    (m / "model_index.json").write_text("{}")
    torch.save({"x": _Code()}, m / "unet" / "diffusion_pytorch_model.bin")
    folder_dataset(tmp_path / "ds" / "train")
    capfd.readouterr()
    code = main(["encode", "--run", str(tmp_path / "run"), "--model", str(m), "--data-dir", str(tmp_path / "ds")])
    out, err = capfd.readouterr()
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "holds more than weights (pickled objects or code), so it was refused" in err
    assert "code ran" not in out + err


@pytest.mark.parametrize("shape", [(3, 16, 16), (4, 8, 8)])
def test_prototypes_of_another_model_stop_synthesize(tiny_model, tmp_path, shape):
    from test_resume_stale import write_prototypes
    from vlcp.synthesize import SynthesizeConfig, synthesize

    write_prototypes(tmp_path / "p", k=1, shape=shape)
    with pytest.raises(VlcpError, match=rf"prototypes\.safetensors: latents of shape \({shape[0]}, {shape[1]}, "
                                        r"\d+\) do not fit this model's \(4, 16, 16\)"):
        synthesize(tiny_model, tmp_path / "p", tmp_path / "d", SynthesizeConfig(steps=2), 28, 1, progress=False)
    assert not list(tmp_path.glob("d/**/*.png"))


def test_temporary_files_of_a_killed_writer_are_swept(tmp_path):
    """SIGKILL between mkstemp and os.replace leaves `.<name>.<pid>.*.tmp`; the next write of that file removes it
    (found by benchmarks/kill_resume.py), but not the temporary file of a live process."""
    import subprocess
    import sys

    from vlcp.files.atomic import atomic_write_json

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".a.json.{int(dead.stdout)}.x1y2.tmp"
    live = tmp_path / f".a.json.{os.getppid()}.z3.tmp"
    stale.write_text("partial")
    live.write_text("in progress")
    atomic_write_json(tmp_path / "a.json", {"k": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["a.json", live.name])
