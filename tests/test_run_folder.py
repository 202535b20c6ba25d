"""The run folder is the unit (issue 10, item 1): `vlcp run` with a baseline stage, --set and --dry-run."""
import json

import pytest

from vlcp.cli import apply_overrides, main

CONFIG = """[run]
stages = ["caption", "encode", "prototypes", "synthesize", "baseline", "evaluate", "report"]

[data]
num_classes = 2
per_class = 6

[prototypes]
ipc = 2

[synthesize]
steps = 4
guidance_scale = 1.0
negative_prompt = ""

[baseline]
methods = ["random", "kmeans"]

[evaluate]
epochs = 1
repeats = 1
"""


def test_dry_run_prints_stages_and_resolved_settings(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG)
    run = tmp_path / "r"
    assert main(["run", str(cfg), "--run", str(run), "--dry-run", "--set", "synthesize.steps=2",
                 "--set", "baseline.ipc=[1, 2]"]) == 0
    out = capsys.readouterr().out
    assert f"vlcp baseline --run {run} --method random --ipc 1 2" in out
    assert f"vlcp baseline --run {run} --method kmeans" in out and f"vlcp evaluate --run {run}" in out
    assert "steps = 2" in out and "steps = 4" not in out
    assert not run.exists()


def test_set_overrides_are_toml_values_and_checked(tmp_path, capsys):
    cfg = apply_overrides({"data": {"num_classes": 2}}, ["data.num_classes=3", "synthesize.negative_prompt=blurry"])
    assert cfg == {"data": {"num_classes": 3}, "synthesize": {"negative_prompt": "blurry"}}
    path = tmp_path / "c.toml"
    path.write_text(CONFIG)
    assert main(["run", str(path), "--run", str(tmp_path / "r"), "--set", "synthesize.stepz=2"]) == 2
    assert "stepz" in capsys.readouterr().err
    assert main(["run", str(path), "--set", "steps=2"]) == 2
    assert "section.key=value" in capsys.readouterr().err


@pytest.mark.slow
def test_run_with_baselines_compares_everything_in_the_run(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG)
    run = tmp_path / "r"
    assert main(["run", str(cfg), "--run", str(run), "--no-progress"]) == 0, capsys.readouterr().err[-2000:]
    for folder in ("random_ipc2", "kmeans_ipc2"):
        assert len(list((run / "baselines" / folder).rglob("*.png"))) == 4, folder
    rows = json.loads((run / "eval" / "results.json").read_text())
    rows = rows["rows"] if isinstance(rows, dict) else rows
    assert {r["method"] for r in rows} == {"vlcp", "random", "kmeans"}
    assert (run / "run.toml").exists() and "num_classes = 2" in (run / "settings.toml").read_text()
    html = (run / "report.html").read_text()
    assert "kmeans_ipc2" in html and "random_ipc2" in html
