"""The command line: every subcommand has --help, options come from the configs, errors are short."""
import subprocess
import sys

import pytest

from vlcp.cli import build_parser, main

SUBCOMMANDS = ["caption", "train", "encode", "prototypes", "synthesize", "evaluate", "baseline", "report", "run", "demo",
               "export"]


def test_every_stage_is_a_subcommand_with_help(capsys):
    parser = build_parser()
    for name in SUBCOMMANDS:
        with pytest.raises(SystemExit) as e:
            parser.parse_args([name, "--help"])
        assert e.value.code == 0
        assert "usage: vlcp " + name in capsys.readouterr().out


def test_config_options_and_registry_choices(capsys):
    parser = build_parser()
    args = parser.parse_args(["synthesize", "--strength", "0.5", "--guidance-scale", "2"])
    assert args.strength == 0.5 and args.guidance_scale == 2.0
    with pytest.raises(SystemExit):
        parser.parse_args(["caption", "--captioner", "nope"])
    assert "invalid choice" in capsys.readouterr().err


def test_bad_setting_is_a_short_error(tmp_path, capsys):
    code = main(["synthesize", "--run", str(tmp_path), "--strength", "1.5"])
    err = capsys.readouterr().err
    assert code == 2 and "strength" in err and "Traceback" not in err


def test_missing_input_names_the_file(tmp_path, capsys):
    code = main(["train", "--run", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "metadata.jsonl" in err


def test_python_m_vlcp_is_the_same_program():
    out = subprocess.run([sys.executable, "-m", "vlcp", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("vlcp ")


def test_evaluate_reads_the_dataset_from_the_config(tmp_path, capsys):
    """`vlcp run` passes only --config to evaluate: its [data] section must name the real dataset."""
    import json

    from PIL import Image

    for split, n in (("train", 4), ("val", 3), ("distilled", 1)):
        for c, v in (("cat", 40), ("dog", 200)):
            (tmp_path / "ds" / split / c).mkdir(parents=True)
            for i in range(n):
                Image.new("L", (12, 12), v + i).save(tmp_path / "ds" / split / c / f"{i}.png")
    toml = tmp_path / "cfg.toml"
    toml.write_text(f'[data]\ndata_dir = "{tmp_path / "ds"}"\n\n[evaluate]\nepochs = 1\nrepeats = 1\nprogress = false\n')
    code = main(["evaluate", str(tmp_path / "ds" / "distilled"), "--config", str(toml), "--out", str(tmp_path / "ev")])
    assert code == 0, capsys.readouterr().err
    rows = json.loads((tmp_path / "ev" / "results.json").read_text())
    rows = rows["rows"] if isinstance(rows, dict) else rows
    assert rows[0]["ipc"] == 1 and rows[0]["runs"] == 1
