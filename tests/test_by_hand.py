"""The README's by-hand sequence on a 3-class subset given only to the first stage: every later stage
(encode, prototypes, synthesize, baseline, evaluate, report) uses the subset recorded in the run."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vlcp.cli import main


@pytest.fixture()
def tiny_model_dir(tiny_model, tmp_path):
    from vlcp.models.embedded import save_generator

    save_generator(tiny_model, tmp_path / "tiny")
    return tmp_path / "tiny"


NOISE = ("Loading weights", "should be kept in float32", "requires torchvision", "\r", "\x1b[")


def _synthesize_in_a_subprocess(run: str) -> None:
    """Synthesis as a user runs it, stderr to a file: per-image progress lines, no library chatter."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    out = subprocess.run([sys.executable, "-m", "vlcp", "synthesize", "--run", run, "--steps", "2",
                          "--guidance-scale", "1", "--negative-prompt", ""],
                         capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert [n for n in NOISE if n in out.stderr] == [], out.stderr[-2000:]
    assert "synthesize: 6/6 image" in out.stderr


def _ok(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 0, (argv, captured.err[-2000:])
    return captured


def test_by_hand_sequence_uses_the_first_stages_subset(tmp_path, tiny_model_dir, capsys):
    run = str(tmp_path / "fm")
    _ok(["caption", "--run", run, "--num-classes", "3", "--per-class", "12", "--no-progress"], capsys)
    _ok(["encode", "--run", run, "--model", str(tiny_model_dir), "--no-progress"], capsys)
    _ok(["prototypes", "--run", run, "--ipc", "2"], capsys)
    _synthesize_in_a_subprocess(run)
    _ok(["baseline", "--run", run, "--method", "random", "--ipc", "2", "--no-progress"], capsys)
    _ok(["evaluate", "--run", run, "--epochs", "1", "--repeats", "1", "--no-progress"], capsys)
    _ok(["report", "--run", run], capsys)

    run = Path(run)
    assert len((run / "captions" / "metadata.jsonl").read_text().splitlines()) == 36
    index = json.loads((run / "latents" / "index.json").read_text())
    assert len(index["classes"]) == 3
    assert sorted(p.name for p in (run / "distilled").iterdir() if p.is_dir() and p.name[0] != ".") == \
        sorted(index["classes"])
    assert sorted(p.name for p in (run / "baselines" / "random_ipc2").iterdir() if p.is_dir()) == \
        sorted(index["classes"])
    rows = json.loads((run / "eval" / "results.json").read_text())
    rows = rows["rows"] if isinstance(rows, dict) else rows
    assert {r["method"] for r in rows} == {"vlcp", "random"}
    settings = (run / "settings.toml").read_text()
    assert "num_classes = 3" in settings and str(tiny_model_dir) in settings
    html = (run / "report.html").read_text()
    assert "random_ipc2" in html and "num_classes = 3" in html  # the run's subset is reported
    # every place a number is shown says it is 3 of the 10 classes
    md = (run / "eval" / "results.md").read_text()
    assert md.startswith("**Fashion-MNIST, 3 of 10 classes, first 12 training images per class: test accuracy")
    assert "classes: 3 of the dataset's 10" in md
    assert html.count("Fashion-MNIST, 3 of 10 classes") >= 2  # the run section and above the results table
    times = json.loads((run / "times.json").read_text())
    assert list(times)[:6] == ["caption", "encode", "prototypes", "synthesize", "baseline", "evaluate"]
    assert "time per stage" in html and "caption " in html
    assert html.count('<figure class="distilled">') == 6 and html.count('class="members"') == 6  # clusters beside
    _distilled_loads_with_datasets(run / "distilled", index["classes"])


def _distilled_loads_with_datasets(folder: Path, classes: list[str]) -> None:
    """Synthesize's metadata.jsonl is Hugging Face imagefolder's: labels (dataset order) and prompts come along."""
    datasets = pytest.importorskip("datasets")
    rows = [json.loads(line) for line in (folder / "metadata.jsonl").read_text().splitlines()]
    assert all(r["label"] == classes.index(r["class"]) for r in rows)
    ds = datasets.load_dataset("imagefolder", data_dir=str(folder), split="train")
    got = sorted((Path(r["image"].filename).relative_to(folder).as_posix(), r["label"], r["prompt"]) for r in ds)
    assert got == sorted((r["file_name"], r["label"], r["prompt"]) for r in rows)
