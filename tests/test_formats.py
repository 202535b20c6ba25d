"""Ecosystem formats (issue 10, item 4): the distilled folder loads with `datasets` with the right labels and
prompts; `vlcp export` writes a tensor file and a datasets folder."""
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vlcp.cli import main

CLASSES = ("tshirt_top", "trouser", "pullover")  # dataset order; alphabetical order differs


@pytest.fixture()
def run(tmp_path) -> Path:
    """A run whose distilled/ is what synthesize writes: class folders + metadata.jsonl."""
    run = tmp_path / "run"
    rows = []
    for label, c in enumerate(CLASSES):
        for k in range(2):
            path = run / "distilled" / c / f"{k}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((28, 28), 40 * label + k, np.uint8)).save(path)
            rows.append({"file_name": f"{c}/{k}.png", "label": label, "number": len(rows), "class": c,
                         "prototype": k, "prompt": f"a {c} number {k}", "seed": len(rows)})
    (run / "distilled" / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run


def _rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "distilled" / "metadata.jsonl").read_text().splitlines()]


def test_distilled_folder_loads_with_datasets(run):
    datasets = pytest.importorskip("datasets")
    ds = datasets.load_dataset("imagefolder", data_dir=str(run / "distilled"), split="train")
    got = {(Path(r["image"].filename).parent.name, Path(r["image"].filename).name): (r["label"], r["prompt"])
           for r in ds}
    want = {tuple(r["file_name"].split("/")): (r["label"], r["prompt"]) for r in _rows(run)}
    assert got == want  # labels are the dataset's integers (not alphabetical), prompts attached


def test_export_pt_loads(run, capsys):
    import torch

    assert main(["export", str(run), "--format", "pt"]) == 0
    data = torch.load(run / "export" / "distilled.pt")
    assert data["images"].dtype == torch.uint8 and tuple(data["images"].shape) == (6, 1, 28, 28)
    assert data["labels"].tolist() == [r["label"] for r in _rows(run)]
    assert data["classes"] == list(CLASSES)
    assert data["prompts"][3] == "a trouser number 1" and int(data["images"][3, 0, 0, 0]) == 41


def test_export_hf_loads(run, capsys):
    datasets = pytest.importorskip("datasets")
    assert main(["export", str(run), "--format", "hf"]) == 0
    ds = datasets.load_from_disk(str(run / "export" / "hf"))
    assert ds.features["label"].names == list(CLASSES)
    assert ds["label"] == [r["label"] for r in _rows(run)] and ds[5]["prompt"] == "a pullover number 1"
    assert np.asarray(ds[5]["image"])[0, 0] == 81


def test_export_without_distilled_names_the_file(tmp_path, capsys):
    assert main(["export", str(tmp_path), "--format", "pt"]) == 2
    assert "metadata.jsonl" in capsys.readouterr().err


@pytest.mark.parametrize("edit", [{"label": 0}, {"class": "tshirt_top"}, {"label": "1"}])
def test_export_refuses_a_metadata_line_that_disagrees_with_its_folder(run, capsys, edit):
    rows = _rows(run)
    rows[3].update(edit)  # trouser/1.png
    (run / "distilled" / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["export", str(run), "--format", "pt"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "line 4" in err and "trouser/1.png" in err and "unexpected" not in err, err
    assert not (run / "export" / "distilled.pt").exists()
