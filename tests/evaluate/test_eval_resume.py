"""An interrupted `vlcp evaluate` resumes without retraining the networks that finished."""
import json

import pytest
from PIL import Image

import vlcp.evaluate.evaluation as evaluation
from vlcp.cli import main


def _dataset(root):
    for split, n in (("train", 4), ("val", 3), ("distilled", 2)):
        for c, v in (("cat", 40), ("dog", 200)):
            (root / split / c).mkdir(parents=True)
            for i in range(n):
                Image.new("L", (12, 12), v + 7 * i).save(root / split / c / f"{i}.png")
    return root


def _argv(ds, out, repeats=3):
    return ["evaluate", str(ds / "distilled"), "--data-dir", str(ds), "--out", str(out), "--repeats", str(repeats),
            "--epochs", "2", "--no-progress"]


def _rows(out):
    rows = json.loads((out / "results.json").read_text())
    return rows["rows"] if isinstance(rows, dict) else rows


@pytest.fixture()
def counting(monkeypatch):
    """Count the networks trained; interrupt (Ctrl-C) at the ``stop``-th when set."""
    calls = {"n": 0, "stop": None}
    real = evaluation.train_and_test

    def train_and_test(*a, **k):
        calls["n"] += 1
        if calls["n"] == calls["stop"]:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(evaluation, "train_and_test", train_and_test)
    return calls


def test_interrupted_evaluate_trains_only_missing_seeds(tmp_path, counting, capsys):
    ds = _dataset(tmp_path / "ds")
    assert main(_argv(ds, tmp_path / "whole")) == 0
    assert counting["n"] == 3
    whole = _rows(tmp_path / "whole")[0]

    counting.update(n=0, stop=3)  # Ctrl-C while training the third network
    assert main(_argv(ds, tmp_path / "ev")) == 130
    assert "interrupted" in capsys.readouterr().err
    counting.update(n=0, stop=None)
    assert main(_argv(ds, tmp_path / "ev")) == 0
    assert counting["n"] == 1  # seeds 0 and 1 came from the first attempt
    resumed = _rows(tmp_path / "ev")[0]
    assert [r["accuracy"] for r in resumed["settings"]["runs_detail"]] == \
        [r["accuracy"] for r in whole["settings"]["runs_detail"]]
    assert resumed["mean"] == whole["mean"] and resumed["settings"]["seeds"] == [0, 1, 2]

    counting.update(n=0)
    assert main(_argv(ds, tmp_path / "ev", repeats=4)) == 0  # one more seed: only that one trains
    assert counting["n"] == 1


def test_changed_settings_or_images_retrain(tmp_path, counting):
    ds = _dataset(tmp_path / "ds")
    assert main(_argv(ds, tmp_path / "ev", repeats=2)) == 0
    counting["n"] = 0
    assert main(_argv(ds, tmp_path / "ev", repeats=2) + ["--epochs", "3"]) == 0
    assert counting["n"] == 2
    Image.new("L", (12, 12), 99).save(ds / "distilled" / "cat" / "0.png")
    counting["n"] = 0
    assert main(_argv(ds, tmp_path / "ev", repeats=2)) == 0
    assert counting["n"] == 2
