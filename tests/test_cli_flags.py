"""The CLI's flags and first-run traps (issue 19 items 1-4, 9-12; issue 20 items 6-8): inputs are checked
before any model is built, a failed first stage records nothing, one flag family, one-line argument errors."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from vlcp.cli import build_parser, main

ROOT = Path(__file__).parents[1]
IMAGENETTE = ROOT / "configs" / "imagenette.toml"


def _error(argv, capsys) -> str:
    """Run ``argv``: exit code 2 and exactly one line on stderr (returned), no usage block, no traceback."""
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert "\n" not in err and "Traceback" not in err and "usage:" not in err, err
    return err


def _partial_imagenette(tmp_path: Path) -> Path:
    """An ImageNette root with one of its ten class folders (holding one image)."""
    from PIL import Image

    root = tmp_path / "imagenette2"
    (root / "train" / "n01440764").mkdir(parents=True)
    (root / "val" / "n01440764").mkdir(parents=True)
    Image.new("RGB", (40, 40), (90, 60, 30)).save(root / "train" / "n01440764" / "0.png")
    return root


# ---- issue 19 item 1: inputs before models -------------------------------------------------------
def test_missing_class_folders_stop_every_stage_before_any_model_is_built(tmp_path, capsys, monkeypatch):
    import vlcp.models
    from vlcp.captioners import CAPTIONERS

    built = []
    monkeypatch.setattr(vlcp.models, "load_model", lambda *a, **k: built.append("generator"))
    monkeypatch.setitem(CAPTIONERS._items, "llava", lambda **k: built.append("captioner"))
    root = _partial_imagenette(tmp_path)
    caps = tmp_path / "caps.jsonl"
    caps.write_text(json.dumps({"file_name": "train/n01440764/0.png", "text": "a fish", "label": 0}) + "\n")
    data = ["--preset", "imagenette", "--data-dir", str(root), "--no-progress"]
    for i, argv in enumerate([["caption", "--captioner", "llava"], ["train", "--captions", str(caps), "--base", "x/y"],
                              ["encode"], ["synthesize"]]):
        run = tmp_path / f"r{i}"
        err = _error([*argv, "--run", str(run), *data], capsys)
        assert "9 of the 10 class folders" in err, err
        assert not (run / "settings.toml").exists(), argv  # issue 19 item 2: nothing recorded
    assert built == []


# ---- issue 19 item 2: a failed first stage records nothing ---------------------------------------
def test_a_first_stage_that_fails_on_its_inputs_records_nothing_and_the_rerun_succeeds(tmp_path, capsys):
    run = tmp_path / "r"
    err = _error(["caption", "--run", str(run), "--data-dir", str(tmp_path / "imagenette2"), "--num-classes", "1",
                  "--per-class", "2", "--no-progress"], capsys)
    assert "data folder not found" in err and "--data-dir" in err and "--set data.data_dir=" in err
    assert not (run / "settings.toml").exists()
    assert main(["caption", "--run", str(run), "--num-classes", "1", "--per-class", "2", "--no-progress"]) == 0
    settings = (run / "settings.toml").read_text()
    assert "imagenette2" not in settings and "num_classes = 1" in settings


# ---- issue 19 item 3: --dry-run ------------------------------------------------------------------
def test_dry_run_of_the_paper_config_prints_every_stage_resolved_and_names_the_missing_folder(tmp_path, capsys,
                                                                                              monkeypatch):
    import dataclasses

    from vlcp.caption import CaptionConfig
    from vlcp.encode import EncodeConfig
    from vlcp.evaluate.evaluation import EvalConfig
    from vlcp.prototypes.config import PrototypesConfig
    from vlcp.synthesize import SynthesizeConfig
    from vlcp.train import TrainConfig

    monkeypatch.chdir(tmp_path)  # the config's data/imagenette2 does not exist here
    code = main(["run", str(IMAGENETTE), "--dry-run"])
    captured = capsys.readouterr()
    out, err = captured.out, captured.err.strip()
    assert code == 2 and "\n" not in err
    assert "data/imagenette2" in err and "data folder not found" in err
    sections = {}
    for block in out.split("\n\n"):
        if block.startswith("["):
            sections[block.split("]")[0][1:]] = block
    for name, cls in [("caption", CaptionConfig), ("train", TrainConfig), ("encode", EncodeConfig),
                      ("prototypes", PrototypesConfig), ("synthesize", SynthesizeConfig), ("evaluate", EvalConfig)]:
        for f in dataclasses.fields(cls):
            assert f"\n{f.name} = " in sections[name] or f"# {f.name} = (not set)" in sections[name], (name, f.name)
    assert "seed = 0" in sections["encode"] and "epochs = 8" in sections["train"]  # a default and a given value
    assert "max_new_tokens = 256" in sections["captioner"] and "top_p = 1.0" in sections["captioner"]
    assert "methods = [" in sections["baseline"] and "baseline expands to random + kmeans" in out
    assert "MISSING data: data/imagenette2" in out
    assert "llava-hf/llava-1.5-7b-hf" in out and "stable-diffusion-v1-5/stable-diffusion-v1-5" in out
    assert not (tmp_path / "runs").exists()


# ---- issue 19 item 4: captioner flags and --dtype ------------------------------------------------
def test_caption_flags_reach_the_captioner(tmp_path, capsys, monkeypatch):
    from vlcp.captioners import CAPTIONERS
    from vlcp.cli import _stage_argvs

    seen = {}

    class Fake:
        def caption(self, images, names):
            return ["a caption"] * len(names)

    def llava(model="m", prompt="p", max_new_tokens=256, device="cpu", dtype="auto"):
        seen.update(model=model, prompt=prompt, max_new_tokens=max_new_tokens, device=device, dtype=dtype)
        return Fake()

    monkeypatch.setitem(CAPTIONERS._items, "llava", llava)
    run = tmp_path / "r"
    assert main(["caption", "--run", str(run), "--captioner", "llava", "--captioner-model", "org/vlm",
                 "--prompt", "Describe the {CLASSNAME}.", "--max-new-tokens", "7", "--dtype", "bfloat16",
                 "--device", "cpu", "--num-classes", "1", "--per-class", "1", "--no-progress"]) == 0, \
        capsys.readouterr().err
    assert seen == {"model": "org/vlm", "prompt": "Describe the {CLASSNAME}.", "max_new_tokens": 7, "device": "cpu",
                    "dtype": "bfloat16"}
    err = _error(["caption", "--run", str(tmp_path / "r2"), "--prompt", "x", "--num-classes", "1"], capsys)
    assert "--prompt" in err and "'attributes' captioner" in err
    args = build_parser().parse_args(["run", "c.toml", "--dtype", "float16"])
    llava_cfg = {"caption": {"captioner": "llava"}}
    assert _stage_argvs("caption", run, run / "run.toml", args, llava_cfg)[0][-2:] == ["--dtype", "float16"]
    assert "--dtype" not in _stage_argvs("caption", run, run / "run.toml", args, {})[0]  # attributes: no model


# ---- issue 19 item 9: the suggested evaluate command works; item 12: baseline.toml ----------------
def test_baseline_suggests_the_evaluate_command_that_works(tmp_path, capsys):
    run = tmp_path / "r"
    run.mkdir()
    (run / "settings.toml").write_text("[data]\nnum_classes = 2\nper_class = 3\n")
    assert main(["baseline", "--run", str(run), "--method", "random", "--ipc", "1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1] == f"score with: vlcp evaluate --run {run}"
    toml = (run / "baselines" / "random_ipc1" / "baseline.toml").read_text()
    assert 'method = "random"' in toml and "ipc = [\n    1,\n]" in toml or "ipc = [1]" in toml
    assert main(["evaluate", "--run", str(run), "--epochs", "1", "--repeats", "1", "--no-progress"]) == 0, \
        capsys.readouterr().err
    rows = json.loads((run / "eval" / "results.json").read_text())
    rows = rows["rows"] if isinstance(rows, dict) else rows
    assert [r["method"] for r in rows] == ["random"]


# ---- issue 19 item 10 / issue 20 item 6: one flag family, one device check -----------------------
DEVICE_COMMANDS = {  # every subcommand that runs on a device, with the arguments it needs
    "caption": [], "train": [], "encode": [], "prototypes": [], "synthesize": [], "evaluate": [],
    "baseline": ["--method", "random", "--ipc", "1"], "run": ["c.toml"]}
RUN_COMMANDS = ["caption", "train", "encode", "prototypes", "synthesize", "evaluate", "baseline", "report", "figure",
                "export", "run", "demo"]


def test_every_subcommand_takes_the_same_device_values_and_run(capsys):
    from vlcp.settings.devices import device_arg

    parser = build_parser()
    for cmd, extra in DEVICE_COMMANDS.items():
        action = next(a for a in parser.stage_parsers[cmd]._actions if a.dest == "device")
        assert action.type is device_arg and action.default is None, cmd
        for device in ("cpu", "cuda", "cuda:1", "mps", "auto"):
            assert parser.parse_args([cmd, *extra, "--device", device]).device == device
        err = _error([cmd, *extra, "--device", "tpu:7"], capsys)
        assert err.startswith(f"vlcp {cmd}: error: argument --device: invalid device 'tpu:7'"), err
        assert "cuda:N" in err
    for cmd in RUN_COMMANDS:
        extra = DEVICE_COMMANDS.get(cmd, [])
        args = parser.parse_args([cmd, *extra, "--run", "somewhere"])
        assert Path(getattr(args, "out" if cmd == "demo" else "run")) == Path("somewhere"), cmd
    for cmd in ("caption", "train", "encode", "prototypes", "synthesize", "report", "figure", "export"):
        assert parser.parse_args([cmd]).run == Path("runs/latest"), cmd


def test_cuda_on_a_machine_without_it_is_one_line_in_every_stage(tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cfg = tmp_path / "c.toml"
    cfg.write_text('[run]\nstages = ["caption"]\n')
    for cmd, extra in DEVICE_COMMANDS.items():
        extra = [str(cfg)] if cmd == "run" else extra
        err = _error([cmd, *extra, "--run", str(tmp_path / cmd), "--device", "cuda"], capsys)
        assert err.startswith(f"vlcp {cmd}: error: setting 'device': 'cuda' requested but no CUDA device"), err
        assert not (tmp_path / cmd).exists(), cmd  # checked before anything is written


def test_export_takes_run_as_a_flag(tmp_path, capsys):
    err = _error(["export", "--run", str(tmp_path / "r")], capsys)
    assert str(tmp_path / "r" / "distilled" / "metadata.jsonl") in err
    err = _error(["export", str(tmp_path / "a"), "--run", str(tmp_path / "b")], capsys)
    assert "different run folders" in err


# ---- issue 20 item 7: argument errors ------------------------------------------------------------
@pytest.mark.parametrize("argv", [["encode", "--num-classes", "two"], ["synthesize", "--stepz", "3"],
                                  ["baseline", "--method", "nope"]])
def test_argument_errors_are_one_line_naming_the_stage(argv, capsys):
    err = _error(argv, capsys)
    assert err.startswith(f"vlcp {argv[0]}: error: ") and f"vlcp {argv[0]} --help" in err


def test_help_still_shows_the_usage(capsys):
    assert main(["encode", "--help"]) == 0
    assert "usage: vlcp encode" in capsys.readouterr().out


# ---- issue 20 item 8: --set values ---------------------------------------------------------------
def test_a_set_value_that_is_not_toml_names_the_set(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[run]\nstages = ["synthesize"]\n')
    run = tmp_path / "r"
    for extra in (["--dry-run"], []):
        err = _error(["run", str(cfg), "--run", str(run), "--set", "synthesize.steps=[1", *extra], capsys)
        assert "--set synthesize.steps=[1" in err and "not a TOML value" in err and "run.toml" not in err, err
        err = _error(["run", str(cfg), "--run", str(run), "--set", "synthesize.steps=many", *extra], capsys)
        assert "--set synthesize.steps=many" in err and "expected an integer" in err and "run.toml" not in err, err
    assert not run.exists()


# ---- issue 19 item 11: the Python API makes a run -------------------------------------------------
def test_a_run_made_through_the_python_api_reports_its_subset_and_model(tmp_path, monkeypatch, capsys):
    from test_api import _example

    from vlcp.run.state import read_settings

    monkeypatch.chdir(tmp_path)
    exec(compile(_example(), "README.md", "exec"), {})
    run = tmp_path / "runs" / "api"
    settings = read_settings(run)
    assert settings["data"]["num_classes"] == 2 and settings["data"]["per_class"] == 10
    assert settings["run"]["model"] == "embedded"
    assert main(["report", "--run", str(run), "--no-progress"]) == 0, capsys.readouterr().err
    html = (run / "report.html").read_text()
    assert "<dt>dataset</dt><dd>Fashion-MNIST, first 2 classes, first 10 training images per class</dd>" in html
    assert "<dd>embedded</dd>" in html
    assert (run / "report.toml").exists()  # issue 19 item 12: every stage writes <stage>.toml


def test_the_python_api_is_as_quiet_as_the_cli():
    code = "import vlcp; assert {'DataConfig', 'EvalConfig', 'load_model'} <= set(dir(vlcp)); vlcp.load_model('embedded')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "float32" not in out.stderr and "Loading weights" not in out.stderr, out.stderr


# ---- issue 19 item 12: help text -----------------------------------------------------------------
def test_no_help_states_a_default_twice_or_shows_markup(capsys):
    parser = build_parser()
    for cmd, sub in parser.stage_parsers.items():
        for action in sub._actions:
            if action.help and action.help != "==SUPPRESS==":
                assert action.help.count("(default") <= 1, (cmd, action.dest, action.help)
        text = sub.format_help()
        assert "``" not in text and "\n* " not in text, cmd
    options = {a.dest: a for a in parser.stage_parsers["baseline"]._actions}
    for dest in ("method", "ipc", "seed", "feature_epochs"):
        assert options[dest].help and "default" in options[dest].help, dest
