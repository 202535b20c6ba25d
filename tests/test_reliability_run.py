"""Issue 32: no silent wrong answer from a run folder, report or model file that changed — one line naming
the file (exit 2), or a note and the right result."""
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import hostile
from vlcp.cli import main

sys.path.insert(0, str(Path(__file__).parent / "run"))  # write_prototypes: run/test_resume_stale.py


def refused(capsys, argv, name, *more):
    """Run ``vlcp argv``: exit 2 and one stderr line naming ``name`` (and ``more``); returns the line."""
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and str(name) in err and "unexpected" not in err, err
    for m in more:
        assert m in err, err
    return err


def cat_dog(root, n=4, extra_val=()):
    """An ImageFolder tree with train/ and val/ of cat and dog (plus ``extra_val`` classes in val/ only)."""
    rng = np.random.default_rng(0)
    for split, classes in (("train", ("cat", "dog")), ("val", ("cat", "dog", *extra_val))):
        for c in classes:
            (root / split / c).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8)).save(root / split / c / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def made_run(tmp_path_factory):
    """A cat/dog run folder with captions and a random baseline (made once; tests copy it)."""
    base = tmp_path_factory.mktemp("made")
    data, run = cat_dog(base / "ds"), base / "run"
    assert main(["caption", "--run", str(run), "--data-dir", str(data), "--no-progress"]) == 0
    assert main(["baseline", "--run", str(run), "--method", "random", "--ipc", "1", "--no-progress"]) == 0
    return run


@pytest.fixture()
def run(made_run, tmp_path):
    shutil.copytree(made_run, tmp_path / "run")
    return tmp_path / "run"


# ---- item 3: a run whose record is missing or empty while its outputs exist -------------------------------
STAGES = {"caption": [], "train": ["--vae-steps", "1"], "encode": [], "synthesize": [], "evaluate": [],
          "baseline": ["--method", "random", "--ipc", "1"], "report": [], "figure": []}


@pytest.mark.parametrize("stage", sorted(STAGES))
@pytest.mark.parametrize("record", ["deleted", "empty"])
def test_a_run_without_its_record_stops_every_stage_that_reads_it(run, capsys, stage, record):
    settings = run / "settings.toml"
    settings.unlink() if record == "deleted" else settings.write_text("")
    capsys.readouterr()
    refused(capsys, [stage, "--run", str(run), *STAGES[stage]], settings,
            "missing" if record == "deleted" else "empty", "restore settings.toml")
    assert (not settings.exists()) if record == "deleted" else settings.read_text() == ""  # not rewritten


def test_a_run_with_only_baselines_and_no_record_stops_baseline(run, capsys):
    shutil.rmtree(run / "captions")
    (run / "settings.toml").unlink()
    capsys.readouterr()
    refused(capsys, ["baseline", "--run", str(run), "--method", "random", "--ipc", "1", "--no-progress"],
            run / "settings.toml", "random_ipc1/baseline.json")
    assert not (run / "settings.toml").exists()


def test_a_fresh_run_and_a_legacy_one_still_start(tmp_path, capsys):
    data = cat_dog(tmp_path / "ds")
    assert main(["baseline", "--run", str(tmp_path / "new"), "--data-dir", str(data), "--method", "random",
                 "--ipc", "1", "--no-progress"]) == 0
    legacy = tmp_path / "legacy"
    shutil.copytree(tmp_path / "new", legacy)
    (legacy / "settings.toml").unlink()
    (legacy / "data.toml").write_text(f'[data]\ndata_dir = "{data}"\n')
    assert main(["baseline", "--run", str(legacy), "--method", "random", "--ipc", "1", "--no-progress"]) == 0


# ---- times.json: checked (and started afresh) before the stage, never an error after its success ------------
@pytest.mark.parametrize("content", ['{"caption": 1', "[1]", '{"caption": "slow"}'])
def test_a_broken_times_file_is_noted_and_started_afresh_before_the_stage(run, capsys, content):
    (run / "times.json").write_text(content)
    capsys.readouterr()
    assert main(["baseline", "--run", str(run), "--method", "random", "--ipc", "1", "--no-progress"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"note: {run / 'times.json'}: ") and "started afresh" in out[0], out
    assert "random_ipc1" in out[1]  # the note comes before the stage's result
    assert list(json.loads((run / "times.json").read_text())) == ["baseline"]


# ---- baseline.json: its fields' types checked ---------------------------------------------------------------
@pytest.mark.parametrize("record", [{"method": 5}, {"method": "random", "description": ["x"]}, [1],
                                    {"method": "random", "per_class": {"cat": "one"}}])
def test_a_baseline_record_of_the_wrong_type_stops_evaluate(run, capsys, record):
    path = run / "baselines" / "random_ipc1" / "baseline.json"
    path.write_text(json.dumps(record))
    capsys.readouterr()
    refused(capsys, ["evaluate", "--run", str(run), "--epochs", "1", "--repeats", "1", "--no-progress"], path)
    assert not (run / "eval" / "results.json").exists()


# ---- the report: unreadable results stop it ----------------------------------------------------------------
def _results_file(run, rows):
    (run / "eval").mkdir(parents=True, exist_ok=True)
    path = run / "eval" / "results.json"
    path.write_text(json.dumps(rows))
    return path


ROW = {"method": "random", "ipc": 1, "model": "convnet", "protocol": "dc", "mean": 50.0, "std": 1.0, "runs": 1}


@pytest.mark.parametrize("fault", ["truncated", "not_rows"])
def test_an_unreadable_results_file_stops_the_report(run, capsys, fault):
    path = _results_file(run, [ROW, ROW | {"method": "vlcp"}])
    data = path.read_bytes()
    for cut in hostile.truncations(data, 4) if fault == "truncated" else [None]:
        path.write_bytes(data[:cut] if cut else b'{"rows": 3}')
        capsys.readouterr()
        refused(capsys, ["report", "--run", str(run)], path, "rerun `vlcp evaluate`")
        assert not (run / "report.html").exists() and not (run / "report.toml").exists()
    other = run.parent / "other"
    shutil.copytree(run, other)
    _results_file(other, [ROW])
    refused(capsys, ["report", str(other), str(run), "--out", str(run.parent / "c.html")], path)


# ---- the report: a settings file edited after its stage ran ---------------------------------------------------
def test_the_report_shows_the_fingerprinted_settings_of_an_edited_synthesize_toml(tiny_model, tmp_path, capsys):
    from test_resume_stale import write_prototypes
    from vlcp.synthesize import SynthesizeConfig, synthesize

    run = tmp_path / "run"
    write_prototypes(run / "prototypes", k=1)
    synthesize(tiny_model, run / "prototypes", run / "distilled", SynthesizeConfig(steps=2), 28, 1, progress=False)
    assert main(["report", "--run", str(run)]) == 0
    html = (run / "report.html").read_text()
    assert "(2 steps, guidance 10.0)" in html and "fingerprint" not in html  # good input: as before
    toml = run / "distilled" / "synthesize.toml"
    toml.write_text(toml.read_text().replace("steps = 2", "steps = 999"))
    assert main(["report", "--run", str(run)]) == 0
    html = (run / "report.html").read_text()
    assert "999 steps" not in html and "(2 steps, guidance 10.0)" in html
    assert html.count("distilled/synthesize.toml disagrees with the fingerprint its outputs were made under "
                      "(distilled/.fingerprint-synthesize.json): steps = 999 there, 2 in the fingerprint") == 2


# ---- model files: one line naming the file, and what to do -------------------------------------------------
@pytest.fixture()
def model_dir(tiny_model, tmp_path):
    from vlcp.models.embedded import save_generator

    save_generator(tiny_model, tmp_path / "model")
    return tmp_path / "model"


def _encode(tmp_path, model):
    return ["encode", "--run", str(tmp_path / "r"), "--model", str(model), "--data-dir", str(cat_dog(tmp_path / "ds")),
            "--no-progress"]


@pytest.mark.parametrize("module", ["vae", "unet"])
def test_a_pickle_in_a_model_folder_is_refused_in_one_line_naming_the_file(model_dir, tmp_path, capfd, module):
    (model_dir / module / "diffusion_pytorch_model.safetensors").unlink()
    hostile.code_pickle(model_dir / module / "diffusion_pytorch_model.bin")
    capfd.readouterr()
    code = main(_encode(tmp_path, model_dir))
    out, err = capfd.readouterr()
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.strip() == (f"vlcp encode: error: {model_dir / module / 'diffusion_pytorch_model.bin'}: the file holds "
                           "more than weights (pickled objects or code), so it was refused; use safetensors weights "
                           "(diffusers: save_pretrained(safe_serialization=True))")
    assert "code ran" not in out + err and "weights_only" not in err


@pytest.mark.parametrize("key, value, expected", [
    ("channels", 3, "channels 3 does not fit the model's VAE (vae/config.json: in_channels 1, out_channels 1); "
                    "set channels to 1"),
    ("resolution", 30, "resolution 30 does not fit the model (unet/config.json: sample_size 16 latent cells × the "
                       "VAE's 2 px per cell = 32 px); set resolution to 32"),
    ("resolution", 64, "resolution 64 does not fit the model"),
    ("resolution", "32", "'resolution' is '32', expected a positive integer"),
    ("text_encoder", "/path", "text_encoder '/path' is not one vlcp loads by itself (it loads 'minilm'); load this "
                              "folder from Python with vlcp.models.embedded.load_generator(folder, text_encoder=...)"),
])
def test_a_model_record_that_does_not_fit_its_model_is_named(model_dir, tmp_path, capsys, key, value, expected):
    path = model_dir / "vlcp_model.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), key: value}))
    refused(capsys, _encode(tmp_path, model_dir), path, expected)
    assert not (tmp_path / "r" / "latents").exists()


def test_the_committed_and_a_saved_model_still_load(model_dir, tiny_model):
    from vlcp.models import load_model

    assert load_model("embedded").resolution == 32
    assert torch.equal(load_model(str(model_dir)).unet.conv_in.weight, tiny_model.unet.conv_in.weight)


def test_a_pickled_optimizer_state_is_refused_naming_the_file_without_unsafe_advice(tmp_path, capsys):
    from vlcp.errors import VlcpError
    from vlcp.files.checkpoint import load_optimizer

    step = tmp_path / "checkpoint" / "step-unet-00000002"
    step.mkdir(parents=True)
    hostile.code_pickle(step / "optimizer.pt", {"state": {}, "param_groups": []})
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))])
    with pytest.raises(VlcpError) as e:
        load_optimizer(tmp_path / "checkpoint", {"dir": step.name}, optimizer)
    assert str(e.value) == (f"{step / 'optimizer.pt'}: the file holds more than weights (pickled objects or code), "
                            f"so it was refused; delete {tmp_path / 'checkpoint'} to start over")
    assert "code ran" not in capsys.readouterr().out


# ---- evaluate --run with a test class the training split lacks: advice about the data, not --run -----------
def test_an_extra_test_class_is_named_with_advice_that_works(tmp_path, capsys):
    data = cat_dog(tmp_path / "ds", extra_val=("bird",))
    run = tmp_path / "run"
    assert main(["baseline", "--run", str(run), "--data-dir", str(data), "--method", "random", "--ipc", "1",
                 "--no-progress"]) == 0
    capsys.readouterr()
    argv = ["evaluate", "--run", str(run), "--epochs", "1", "--repeats", "1", "--no-progress"]
    err = refused(capsys, argv, data / "val", "test class(es) bird are not in the training split",
                  "--classes distilled")
    assert "--run" not in err
    assert main([*argv, "--classes", "distilled"]) == 0  # the advice given works
    rows = json.loads((run / "eval" / "results.json").read_text())
    assert [r["method"] for r in (rows["rows"] if isinstance(rows, dict) else rows)] == ["random"]
