"""Every bad input ends in one line — ``vlcp <stage>: error: <file or setting>: …`` — exit code 2,
no traceback. Each case builds its inputs in a temporary folder and runs the CLI in-process."""
import errno
import json
import pickle
import shutil

import numpy as np
import pytest
from PIL import Image

import vlcp.errors.boundary
import vlcp.files.atomic
from vlcp.cli import main


@pytest.fixture(autouse=True)
def quiet_library_warnings():
    """diffusers' logging handler keeps the stderr of the test that first used it (pytest swaps stderr
    per test), so a warning of a later test prints a logging error of the harness: keep them off."""
    from diffusers.utils import logging as dlog

    before = dlog.get_verbosity()
    dlog.set_verbosity_error()
    yield
    dlog.set_verbosity(before)


def image_folder(tmp, classes=("cat", "dog"), n=3):
    for split in ("train", "val"):
        for c in classes:
            (tmp / "ds" / split / c).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                Image.new("L", (12, 12), 40 + 50 * i).save(tmp / "ds" / split / c / f"{i}.png")
    return tmp / "ds"


def caption_argv(tmp, ds):
    return ["caption", "--run", str(tmp / "run"), "--data-dir", str(ds), "--no-progress"]


def corrupt_png(tmp):
    ds = image_folder(tmp)
    (ds / "train" / "cat" / "0.png").write_bytes(b"not a png at all")
    return caption_argv(tmp, ds), "cat/0.png"


def truncated_png(tmp):
    ds = image_folder(tmp)
    Image.effect_noise((64, 64), 50).save(ds / "train" / "dog" / "1.png")
    data = (ds / "train" / "dog" / "1.png").read_bytes()
    (ds / "train" / "dog" / "1.png").write_bytes(data[:len(data) // 2])
    return caption_argv(tmp, ds), "dog/1.png"


def empty_class_folder(tmp):
    ds = image_folder(tmp)
    (ds / "train" / "empty").mkdir()
    return caption_argv(tmp, ds), "train/empty: class folder has no images"


def too_many_classes(tmp):
    ds = image_folder(tmp)
    return caption_argv(tmp, ds) + ["--num-classes", "5"], "setting 'num_classes'"


def run_is_a_file(tmp):
    (tmp / "afile").write_text("x")
    return ["caption", "--run", str(tmp / "afile")], "afile: is a file"


def run_under_a_file(tmp):
    (tmp / "afile").write_text("x")
    return ["encode", "--run", str(tmp / "afile" / "sub")], "afile: is a file"


def _model_copy(tmp):
    from vlcp.models.embedded import embedded_checkpoint

    shutil.copytree(embedded_checkpoint(), tmp / "model")
    return tmp / "model"


def _encode_argv(tmp, model):
    return ["encode", "--run", str(tmp / "run"), "--model", str(model), "--num-classes", "1", "--per-class", "2"]


def model_missing_unet_weights(tmp):
    model = _model_copy(tmp)
    for p in (model / "unet").glob("*.safetensors"):
        p.unlink()
    return _encode_argv(tmp, model), f"{model}: cannot load the model"


def model_truncated_unet_weights(tmp):
    model = _model_copy(tmp)
    p = next((model / "unet").glob("*.safetensors"))
    p.write_bytes(p.read_bytes()[:1000])
    return _encode_argv(tmp, model), f"{model}: cannot load the model"


def model_corrupt_unet_config(tmp):
    model = _model_copy(tmp)
    (model / "unet" / "config.json").write_text("{ this is not json")
    return _encode_argv(tmp, model), f"{model}: cannot load the model"


def model_path_missing(tmp):
    return _encode_argv(tmp, tmp / "no" / "such" / "model"), "model: model folder not found"


def _latents_run(tmp):
    from vlcp.files.latents import LatentStore

    store = LatentStore(tmp / "run" / "latents")
    store.init(["a", "b"], ["a", "b"], [4, 2, 2], 1.0, 8)
    caps = []
    for c in ("a", "b"):
        names = [f"{c}/{i}.png" for i in range(4)]
        store.write_shard(c, 0, np.arange(4), names, np.random.default_rng(0).normal(size=(4, 4, 2, 2)))
        caps += [{"file_name": n, "text": f"a {c} thing", "label": 0} for n in names]
    vlcp.files.atomic.atomic_write_text(tmp / "run" / "captions" / "metadata.jsonl",
                              "".join(json.dumps(r) + "\n" for r in caps))
    return ["prototypes", "--run", str(tmp / "run"), "--ipc", "1"], store.shard_path("b", 0)


def shard_truncated(tmp):
    argv, shard = _latents_run(tmp)
    shard.write_bytes(shard.read_bytes()[:50])
    return argv, f"{shard}: unreadable latents shard"


def shard_zero_bytes(tmp):
    argv, shard = _latents_run(tmp)
    shard.write_bytes(b"")
    return argv, f"{shard}: unreadable latents shard"


def shard_garbage(tmp):
    argv, shard = _latents_run(tmp)
    shard.write_bytes(b"\xff" * 4096)
    return argv, f"{shard}: unreadable latents shard"


def disk_full(tmp, monkeypatch):
    def fsync(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(vlcp.files.atomic.os, "fsync", fsync)
    ds = image_folder(tmp)
    return caption_argv(tmp, ds), f"{tmp / 'run'}: No space left on device (the disk is full"


def captions_missing_late(tmp):
    """Captions for the first 5,000 of 6,000 images: stop before training, naming an uncaptioned one."""
    from vlcp.data.config import DataConfig

    ds = DataConfig(per_class=600).load("train")
    rows = [{"file_name": ds.file_name(i), "text": "x", "label": int(ds.labels[i])} for i in range(5000)]
    vlcp.files.atomic.atomic_write_text(tmp / "run" / "captions" / "metadata.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    (tmp / "run" / "settings.toml").write_text("[data]\nper_class = 600\n")  # as the caption stage records it
    return ["train", "--run", str(tmp / "run"), "--per-class", "600", "--vae-steps", "1", "--unet-steps", "1", "--no-progress"], \
        "no caption for 1000 training image(s)"


def _toml(tmp, section, body, stage=None):
    (tmp / "cfg.toml").write_text(f"[{section}]\n{body}\n")
    return [stage or section, "--run", str(tmp / "run"), "--config", str(tmp / "cfg.toml")]


def toml_float_for_int(tmp):
    return _toml(tmp, "synthesize", "batch_size = 2.5"), "cfg.toml [synthesize]: setting 'batch_size': expected an integer"


def toml_bool_for_int(tmp):
    return _toml(tmp, "synthesize", "steps = true"), "cfg.toml [synthesize]: setting 'steps': expected an integer"


def toml_zero_denoising_steps(tmp):
    return _toml(tmp, "synthesize", "strength = 0.01"), "setting 'strength': strength × steps = 0.01 × 50"


def toml_int_for_str(tmp):
    return _toml(tmp, "synthesize", "negative_prompt = 5"), "setting 'negative_prompt': expected a string"


def toml_float_seed(tmp):
    return _toml(tmp, "encode", "seed = 1e3"), "cfg.toml [encode]: setting 'seed': expected an integer"


def toml_nan_lr(tmp):
    return _toml(tmp, "train", "lr = nan"), "cfg.toml [train]: setting 'lr': expected finite a number"


def toml_str_for_float(tmp):
    return _toml(tmp, "prototypes", 'contamination = "lots"'), "cfg.toml [prototypes]: setting 'contamination'"


def toml_data_bool_for_int(tmp):
    return _toml(tmp, "data", "per_class = false", stage="caption"), "cfg.toml [data]: setting 'per_class'"


def toml_not_toml(tmp):
    (tmp / "cfg.toml").write_text("[synthesize\nsteps = 3")
    return ["synthesize", "--run", str(tmp / "run"), "--config", str(tmp / "cfg.toml")], "cfg.toml: not valid TOML"


def guidance_inf(tmp):
    return ["synthesize", "--run", str(tmp / "run"), "--guidance-scale", "inf"], "setting 'guidance_scale'"


def crafted_cifar_pickle(tmp):
    import os

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp / 'pwned'}",))

    folder = tmp / "cifar-10-batches-py"
    folder.mkdir()
    for i in range(1, 6):
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps(Evil()))
    return ["caption", "--run", str(tmp / "run"), "--preset", "cifar10", "--data-dir", str(folder)], \
        "data_batch_1: not a valid CIFAR batch file"


def missing_prototypes(tmp):
    return ["synthesize", "--run", str(tmp / "run"), "--steps", "2"], "prototypes.safetensors: not found"


CASES = [corrupt_png, truncated_png, empty_class_folder, too_many_classes, run_is_a_file, run_under_a_file,
         model_missing_unet_weights, model_truncated_unet_weights, model_corrupt_unet_config, model_path_missing,
         shard_truncated, shard_zero_bytes, shard_garbage, disk_full, captions_missing_late, toml_float_for_int,
         toml_bool_for_int, toml_zero_denoising_steps, toml_int_for_str, toml_float_seed, toml_nan_lr,
         toml_str_for_float, toml_data_bool_for_int, toml_not_toml, guidance_inf, crafted_cifar_pickle,
         missing_prototypes]


def one_error_line(capsys, stage):
    out = capsys.readouterr()
    text = out.out + out.err
    assert "Traceback" not in text, text
    lines = [line for line in out.err.splitlines() if "error:" in line]
    assert len(lines) == 1, out.err
    assert lines[0].startswith(f"vlcp {stage}: error: ")
    return lines[0]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_bad_input_is_one_line(case, tmp_path, capsys, monkeypatch):
    args = (tmp_path, monkeypatch) if case.__code__.co_argcount == 2 else (tmp_path,)
    argv, expected = case(*args)
    code = main(argv)
    line = one_error_line(capsys, argv[0])
    assert code == 2 and expected in line, line
    assert not (tmp_path / "pwned").exists()


STAGES = [["caption"], ["train"], ["encode"], ["prototypes", "--ipc", "1"], ["synthesize"], ["report"]]


@pytest.mark.parametrize("argv", STAGES, ids=[a[0] for a in STAGES])
def test_read_only_run_folder_stops_before_work(argv, tmp_path, capsys, monkeypatch):
    def probe(folder):
        raise OSError(errno.EROFS, "Read-only file system", str(folder))

    monkeypatch.setattr(vlcp.errors.boundary, "_probe_write", probe)
    code = main(argv[:1] + ["--run", str(tmp_path / "run")] + argv[1:])
    line = one_error_line(capsys, argv[0])
    assert code == 2 and f"{tmp_path / 'run'}: not writable (Read-only file system" in line


def test_read_only_evaluate_out_stops_before_training(tmp_path, capsys, monkeypatch):
    import vlcp.evaluate.evaluation as ev

    monkeypatch.setattr(vlcp.errors.boundary, "_probe_write", lambda folder: (_ for _ in ()).throw(
        OSError(errno.EROFS, "Read-only file system")))
    monkeypatch.setattr(ev, "evaluate_folder", lambda *a, **k: pytest.fail("trained before checking --out"))
    ds = image_folder(tmp_path)
    code = main(["evaluate", str(ds / "train"), "--data-dir", str(ds), "--out", str(tmp_path / "ev")])
    line = one_error_line(capsys, "evaluate")
    assert code == 2 and f"{tmp_path / 'ev'}: not writable" in line


def test_debug_shows_the_traceback(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    assert main(["caption", "--run", str(tmp_path / "afile"), "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "afile: is a file" in err
