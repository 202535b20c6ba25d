"""Result files: JSON rows, CSV, Table-1-shaped Markdown; merging several distillation seeds."""
from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from vlcp.errors import VlcpError
from vlcp.evaluate import ResultRow, markdown_table, merge_results, write_results
from vlcp.evaluate.results import read_results, to_csv


def row(method, ipc, acc, model="convnet3", protocol="dc", **settings):
    return ResultRow.from_accuracies(method, ipc, model, protocol, acc, {"epochs": 300, "seeds": [0, 1, 2], **settings})


def test_row_dict_has_the_required_fields():
    d = row("random", 10, [70.0, 72.0, 71.0]).to_dict()
    assert list(d)[:7] == ["method", "ipc", "model", "protocol", "mean", "std", "runs"]
    assert d["runs"] == 3 and d["mean"] == pytest.approx(71.0) and d["settings"]["epochs"] == 300


def test_write_results_files(tmp_path):
    rows = [row("vlcp", 10, [80.0, 81.0]), row("random", 10, [70.0, 71.0]), row("random", 1, [50.0, 52.0]),
            row("herding", 1, [60.0, 61.0]), row("full", 6000, [90.0, 91.0])]
    paths = write_results(rows, tmp_path, title="Fashion-MNIST")
    data = json.loads(paths["json"].read_text())
    assert len(data["rows"]) == 5 and {"method", "ipc", "model", "protocol", "mean", "std", "runs"} <= set(data["rows"][0])
    with paths["csv"].open() as f:
        recs = list(csv.DictReader(f))
    assert {r["method"] for r in recs} == {"vlcp", "random", "herding", "full"}
    md = paths["md"].read_text()
    accuracy, scores = md.split("**DD-Ranking scores**")  # the accuracy table, then DD-Ranking's scores
    lines = [l for l in accuracy.splitlines() if l.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == ["IPC", "Network", "Protocol", "random", "herding", "vlcp", "whole set"]
    assert "| 10 | convnet3 | dc | vlcp | 80.5 | 10.0 ± 0.0 | 10.0 ± 0.5 |" in scores
    body = [[c.strip() for c in l.strip("|").split("|")] for l in lines[2:]]
    assert [b[0] for b in body] == ["1", "10"]  # one line per IPC × network
    assert body[0][3] == "51.0 ± 1.0" and body[0][5] == "–" and body[1][6] == "90.5 ± 0.5"
    assert "n = 2 networks" in md
    back = {r.key: r for r in read_results(paths["json"])}
    assert back[("vlcp", 10, "convnet3", "dc")].accuracies == [80.0, 81.0] and len(back) == 5


def test_markdown_marks_minimax_best():
    r = ResultRow.from_accuracies("vlcp", 10, "convnet6", "minimax", [50.0], {}, best_accuracies=[55.0])
    md = markdown_table([r])
    assert "best† 55.0" in md and "selected on the test set" in md


def test_merge_pools_distillation_seeds(tmp_path):
    a = tmp_path / "s0"
    b = tmp_path / "s1"
    write_results([row("vlcp", 10, [80.0, 82.0], source="s0"), row("random", 10, [70.0])], a)
    write_results([row("vlcp", 10, [84.0, 86.0], source="s1")], b)
    merged = {r.key: r for r in merge_results([a / "results.json", b / "results.json", a / "results.json"])}
    v = merged[("vlcp", 10, "convnet3", "dc")]
    assert v.runs == 4 and v.accuracies == [80.0, 82.0, 84.0, 86.0]
    assert v.mean == pytest.approx(83.0) and v.std == pytest.approx(np.std([80, 82, 84, 86]))
    assert merged[("random", 10, "convnet3", "dc")].runs == 1


def test_merge_refuses_different_epochs(tmp_path):
    write_results([row("vlcp", 10, [80.0])], tmp_path / "a")
    write_results([ResultRow.from_accuracies("vlcp", 10, "convnet3", "dc", [81.0], {"epochs": 20})], tmp_path / "b")
    with pytest.raises(VlcpError, match="epochs"):
        merge_results([tmp_path / "a" / "results.json", tmp_path / "b" / "results.json"])


def test_read_rejects_foreign_json(tmp_path):
    (tmp_path / "x.json").write_text('{"foo": 1}')
    with pytest.raises(VlcpError, match="rows"):
        read_results(tmp_path / "x.json")


def _body(md: str) -> list[list[str]]:
    lines = [l for l in md.splitlines() if l.startswith("|")]
    return [[c.strip() for c in l.strip("|").split("|")] for l in lines[2:]]


def test_one_network_shows_no_spread():
    md = markdown_table([row("vlcp", 10, [93.6]), row("random", 10, [93.57])])
    assert _body(md)[0][3:] == ["93.6", "93.6"]  # no "± 0.0" as if a spread were measured
    assert "±" not in "".join(_body(md)[0]) and "n = 1: no spread measured" in md
    mixed = markdown_table([row("vlcp", 10, [80.0, 82.0, 81.0]), row("full", 5500, [91.0])])
    assert _body(mixed)[0][3:] == ["81.0 ± 0.8", "91.0 (n=1)"] and "n = 3 networks each; other n marked" in mixed


def test_methods_within_one_std_are_named():
    md = markdown_table([row("vlcp", 10, [77.4, 77.6]), row("herding", 10, [77.35, 77.45]),
                         row("random", 10, [74.0, 74.2])])
    assert "IPC 10, convnet3/dc: herding within one std of the best (vlcp)" in md
    assert "random within" not in md


def test_the_class_subset_and_the_whole_set_are_said():
    sub = {"num_classes": 3, "dataset_classes": 10, "test_images": 3000}
    md = markdown_table([row("vlcp", 10, [95.0, 96.0], **sub),
                         row("full", 5500, [98.0], **{**sub, "epochs": 10, "train_images": 16500})])
    assert "classes: 3 of the dataset's 10 (3,000 test images)" in md
    assert "whole set: every real training image (16,500), trained 10 epochs (the other columns: 300)" in md
    assert "of the dataset's" not in markdown_table([row("vlcp", 10, [80.0], num_classes=10, dataset_classes=10)])
    rec = next(csv.DictReader(io.StringIO(to_csv([row("vlcp", 10, [95.0], **sub)]))))
    assert (rec["num_classes"], rec["dataset_classes"]) == ("3", "10")


def test_a_network_that_saw_another_image_side_is_noted():
    rows = [ResultRow(m, 10, "convnet3", "dc", 75.0, 0.1, 3, [75.0] * 3, {"resolution": 28}) for m in ("a", "b")]
    assert "px" not in markdown_table(rows)
    rows.append(ResultRow("a", 10, "convnet6", "dc", 70.0, 0.1, 3, [70.0] * 3, {"resolution": 64}))
    md = markdown_table(rows)
    assert "- convnet6/dc: the networks see 64 px (training and test images resized; the other rows 28 px)." in md
    assert md.count(" px") == 2  # one note, naming both sides
