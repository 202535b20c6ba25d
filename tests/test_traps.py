"""No silent traps (issue 10, item 2): each stops with one line naming the setting or file and the fix."""
import json

import pytest

from vlcp.cli import build_parser, main


def _error(argv, capsys) -> str:
    """Run ``argv``; it must fail with exit code 2 and exactly one line on stderr, returned."""
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert "\n" not in err and "Traceback" not in err, err
    return err


def test_misspelt_section_in_a_run_config(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[run]\nstages = ["caption"]\n\n[captoin]\nlimit = 3\n')
    err = _error(["run", str(cfg), "--run", str(tmp_path / "r")], capsys)
    assert "[captoin]" in err and "known:" in err and "[caption]" in err
    assert not (tmp_path / "r" / "captions").exists()


def test_misspelt_key_of_a_later_stage_stops_before_the_first(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[run]\nstages = ["caption", "synthesize"]\n\n[synthesize]\nstrenght = 0.5\n')
    err = _error(["run", str(cfg), "--run", str(tmp_path / "r")], capsys)
    assert "strenght" in err and "[synthesize]" in err and "strength" in err
    assert not (tmp_path / "r" / "captions").exists()


def test_misspelt_captioner_option(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[caption]\ncaptioner = "llava"\n\n[captioner]\nmodle = "llava-hf/llava-1.5-7b-hf"\n')
    err = _error(["caption", "--run", str(tmp_path / "r"), "--config", str(cfg)], capsys)
    assert "modle" in err and "[captioner]" in err and "max_new_tokens" in err and "model" in err


def test_missing_data_folder_is_found_before_the_model_loads(tmp_path, capsys, monkeypatch):
    import vlcp.models

    def boom(*a, **k):
        raise AssertionError("the model was loaded before the inputs were checked")

    monkeypatch.setattr(vlcp.models, "load_model", boom)
    err = _error(["encode", "--run", str(tmp_path / "r"), "--data-dir", str(tmp_path / "nope")], capsys)
    assert str(tmp_path / "nope") in err and "data folder not found" in err


def test_synthesize_checks_prototypes_before_the_model_loads(tmp_path, capsys, monkeypatch):
    import vlcp.models

    monkeypatch.setattr(vlcp.models, "load_model", lambda *a, **k: pytest.fail("model loaded first"))
    err = _error(["synthesize", "--run", str(tmp_path / "r"), "--num-classes", "2"], capsys)
    assert "prototypes.safetensors" in err and "vlcp prototypes" in err


def test_train_refuses_an_untrained_vae(tmp_path, capsys):
    caps = tmp_path / "r" / "captions"
    caps.mkdir(parents=True)
    (caps / "metadata.jsonl").write_text(json.dumps({"file_name": "0/0.png", "text": "a shirt", "label": 0}) + "\n")
    (tmp_path / "r" / "settings.toml").write_text("[data]\nper_class = 1\n")  # as the caption stage records it
    err = _error(["train", "--run", str(tmp_path / "r")], capsys)
    assert "vae_steps" in err and "--vae-steps" in err and "--base" in err


def test_contradicting_flag_names_key_values_and_fix(tmp_path, capsys):
    run = str(tmp_path / "r")
    assert main(["caption", "--run", run, "--num-classes", "2", "--per-class", "2", "--no-progress"]) == 0
    capsys.readouterr()
    err = _error(["encode", "--run", run, "--num-classes", "5"], capsys)
    assert "'num_classes'" in err and " 2 " in err and " 5" in err and "--num-classes" in err and "--run" in err


def test_evaluate_without_the_runs_classes_names_the_fix(tmp_path, capsys):
    from PIL import Image

    (tmp_path / "d" / "tshirt_top").mkdir(parents=True)
    Image.new("L", (28, 28), 9).save(tmp_path / "d" / "tshirt_top" / "0.png")
    err = _error(["evaluate", str(tmp_path / "d"), "--epochs", "1", "--repeats", "1", "--no-progress"], capsys)
    assert "no images for test class(es)" in err and "--run RUN" in err


def test_device_defaults_to_auto_everywhere():
    from vlcp.evaluate.evaluation import EvalConfig

    parser = build_parser()
    for stage in ("caption", "train", "encode", "synthesize"):
        assert parser.parse_args([stage]).device is None  # the run's recorded device, else auto
    assert parser.parse_args(["baseline", "--method", "random"]).device is None
    assert EvalConfig().device == "auto"
    sub = next(a for a in parser._actions if a.dest == "command").choices
    for stage in ("caption", "train", "encode", "synthesize", "baseline", "run"):
        assert "auto" in sub[stage].format_help(), stage


def test_latents_settings_mismatch_names_the_key(tmp_path):
    from vlcp.errors import VlcpError
    from vlcp.files.latents import LatentStore

    store = LatentStore(tmp_path / "lat")
    store.init(["a", "b"], ["A", "B"], [4, 8, 8], 0.5, 1024)
    with pytest.raises(VlcpError) as e:
        store.init(["a", "b"], ["A", "B"], [4, 16, 16], 0.5, 1024)
    msg = str(e.value)
    assert "shape = [4, 8, 8]" in msg and "[4, 16, 16]" in msg and "classes" not in msg and "\n" not in msg


def test_a_model_that_fails_to_load_is_not_recorded(tmp_path, capsys):
    run = tmp_path / "r"
    err = _error(["encode", "--run", str(run), "--num-classes", "2", "--per-class", "2",
                  "--model", str(tmp_path / "no-model")], capsys)
    assert str(tmp_path / "no-model") in err
    assert "no-model" not in (run / "settings.toml").read_text()  # a corrected --model is not a contradiction
