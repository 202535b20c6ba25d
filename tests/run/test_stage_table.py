"""Issue 30: one table of stages (vlcp.run.stages). No module but the table lists stage names, and the CLI,
vlcp run, the TOML check and the dry run read it."""
import ast
from pathlib import Path

import pytest

from vlcp.run.stages import STAGES, Stage, argv, stage_names, stages

SRC = Path(__file__).resolve().parents[2] / "src"
NAMES = {"caption", "train", "encode", "prototypes", "synthesize", "baseline", "evaluate", "report"}
TABLE = "vlcp/run/stages.py"
EXCEPTIONS = {
    "vlcp/__init__.py": "the stage *functions* exported by the package (caption, encode, train …), not a stage list",
}


def stage_lists(tree: ast.AST) -> list[tuple[int, list[str]]]:
    """(line, names) of every tuple, list, set or dict (its keys) holding two or more stage-name literals."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            items = node.elts
        elif isinstance(node, ast.Dict):
            items = [k for k in node.keys if k is not None]
        else:
            continue
        names = [e.value for e in items if isinstance(e, ast.Constant) and e.value in NAMES]
        if len(names) >= 2:
            found.append((node.lineno, names))
    return found


def test_no_module_but_the_table_lists_stage_names():
    offenders = []
    for path in sorted((SRC / "vlcp").rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel == TABLE or rel in EXCEPTIONS:
            continue
        offenders += [f"{rel}:{line} {names}" for line, names in stage_lists(ast.parse(path.read_text("utf-8")))]
    assert offenders == []


def test_the_scan_finds_a_list_of_stage_names():
    assert stage_lists(ast.parse('X = ("caption", "train")\nY = {"encode": 1, "report": 2}\nZ = ["caption"]')) == [
        (1, ["caption", "train"]), (2, ["encode", "report"])]


def test_every_stage_is_declared_once_in_pipeline_order():
    assert stage_names() == ["caption", "train", "encode", "prototypes", "synthesize", "baseline", "evaluate",
                             "report"]
    assert set(stage_names()) == NAMES
    assert all(isinstance(s, Stage) and s.settings_file.endswith(f"{s.name}.toml") for s in stages())


def test_the_tables_code_exists():
    """Every function and config the table names imports (a typo would fail only when the stage runs)."""
    from vlcp.run.stages import load

    for stage in stages():
        refs = [stage.parser_ref, stage.run_ref, stage.configure_ref, stage.settings_ref, stage.expand_ref,
                stage.dtype_if_ref]
        assert all(callable(load(r)) for r in refs if r), stage.name
        assert stage.config_ref is None or isinstance(stage.config_type(), type), stage.name


def test_the_parser_has_a_subcommand_per_stage_with_the_declared_flags():
    from vlcp.cli import build_parser

    parsers = build_parser().stage_parsers
    for stage in stages():
        dests = {a.dest for a in parsers[stage.name]._actions}
        assert "run" in dests and ("device" in dests) == stage.device, stage.name
        assert ("dtype" in dests) == stage.dtype, stage.name
        assert ("config" in dests) == stage.toml, stage.name


def test_synthesize_config_is_the_factory_s_type():
    """The synthesize config is built when asked (plug-in samplers registered since add their fields)."""
    import dataclasses

    from vlcp.synthesize import synthesize_config_type

    names = {f.name for f in dataclasses.fields(STAGES.get("synthesize").config_type())}
    assert names == {f.name for f in dataclasses.fields(synthesize_config_type())} and "sampler" in names


def test_vlcp_run_gives_each_stage_the_declared_options(tmp_path):
    run, toml = tmp_path / "r", tmp_path / "r" / "run.toml"
    calls = {s.name: s.invocations({"baseline": {"methods": ["random", "kmeans"], "seed": 3}}, run, toml, "cpu",
                                   "float16", False) for s in stages()}
    assert calls["encode"] == [{"run": run, "config": toml, "progress": False, "device": "cpu", "dtype": "float16"}]
    assert "dtype" not in calls["caption"][0]  # the attributes captioner has no model
    assert "dtype" not in calls["train"][0] and calls["train"][0]["device"] == "cpu"
    assert calls["report"] == [{"run": run}]
    assert [c["method"] for c in calls["baseline"]] == ["random", "kmeans"]
    assert calls["baseline"][0]["ipc"] == [10] and "ipc" not in calls["baseline"][1]
    assert argv("baseline", calls["baseline"][0]) == ["baseline", "--run", str(run), "--method", "random", "--ipc",
                                                      "10", "--seed", "3", "--device", "cpu", "--no-progress"]


def test_the_toml_check_knows_every_stage_section():
    from vlcp.settings.tomlcheck import known_sections

    assert set(stage_names()) <= set(known_sections())
    assert {"train_model", "model", "captioner", "data", "run"} <= set(known_sections())


@pytest.mark.parametrize("name", ["report", "baseline"])
def test_stages_outside_the_config_file_take_no_config(name):
    stage = STAGES.get(name)
    assert not stage.toml and all("config" not in c for c in stage.invocations({}, Path("r"), Path("t"), None,
                                                                               None, True))
