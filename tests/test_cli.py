"""The command line: every subcommand has --help, options come from the configs, errors are short."""
import subprocess
import sys

import pytest

from vlcp.cli import build_parser, main

SUBCOMMANDS = ["caption", "train", "encode", "prototypes", "synthesize", "evaluate", "baseline", "report", "run", "demo"]


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
