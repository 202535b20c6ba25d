"""Baselines are registered rules: a new one, defined here alone, runs through `vlcp baseline` and is scored."""
import json

import numpy as np
import pytest

from vlcp.cli import main
from vlcp.evaluate.baseline_folder import write_baseline
from vlcp.evaluate.baselines import BASELINE_RULES, BaselineConfig, baseline_names


@pytest.fixture()
def first_images():
    """A test-only rule: the first ``ipc`` images of each class."""
    def rule(train, out, request):
        ipc = request.need_ipc("first")
        labels = np.asarray(train.labels)
        picks = np.concatenate([np.flatnonzero(labels == c)[:ipc] for c in np.unique(labels)])
        return write_baseline(train, picks, out, method="first", description=f"the first {ipc} per class")

    BASELINE_RULES.register("first")(rule)
    yield
    BASELINE_RULES._items.pop("first")


def test_the_built_in_rules_keep_their_order():
    assert baseline_names()[:6] == ["random", "herding", "kcenter", "kmeans", "medoid", "full"]


def test_a_baseline_defined_in_one_file_runs_through_the_cli(first_images, tmp_path, capsys):
    assert "first" in baseline_names() and BaselineConfig(method="first").method == "first"
    run = tmp_path / "r"
    run.mkdir()
    (run / "settings.toml").write_text("[data]\nnum_classes = 2\nper_class = 3\n")
    assert main(["baseline", "--run", str(run), "--method", "first", "--ipc", "2", "--no-progress"]) == 0
    folder = run / "baselines" / "first_ipc2"
    assert json.loads((folder / "baseline.json").read_text())["method"] == "first"
    assert sum(1 for _ in folder.glob("*/*.png")) == 4
    capsys.readouterr()
    assert main(["baseline", "--run", str(run), "--method", "first", "--no-progress"]) == 2
    assert "the first baseline needs --ipc" in capsys.readouterr().err
