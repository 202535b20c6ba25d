"""The demo path end to end on a small slice: 2 classes × 200 images, a tiny model trained a few steps."""
import json

import pytest
import torch

from vlcp.data.config import DataConfig
from vlcp.demo import DemoConfig, run_demo


@pytest.fixture()
def tiny_model_dir(tiny_model, tmp_path):
    from vlcp.caption import CaptionConfig, caption, read_captions
    from vlcp.captioners import CAPTIONERS
    from vlcp.train import TrainConfig, train

    data = DataConfig(num_classes=2, per_class=200).load("train")
    meta = caption(data, CAPTIONERS.get("attributes")(), tmp_path / "caps", CaptionConfig(), progress=False)
    cfg = TrainConfig(vae_steps=3, vae_batch_size=16, unet_steps=3, batch_size=16, lr=1e-4, random_flip=False)
    return train(tiny_model, data, read_captions(meta), tmp_path / "model", cfg, progress=False)


@pytest.mark.slow
def test_demo_end_to_end(tiny_model_dir, tmp_path, capsys):
    run = tmp_path / "run"
    cfg = DemoConfig(model=str(tiny_model_dir), num_classes=2, per_class=200, ipc=3, repeats=1, epochs=2, steps=4)
    rows = run_demo(run, cfg, progress=False)
    out = capsys.readouterr().out

    for rel in ("captions/metadata.jsonl", "latents/index.json", "prototypes/prototypes.safetensors",
                "prototypes/clusters.json", "prototypes/text_prototypes.json", "prototypes/prototype_report.md",
                "distilled/metadata.jsonl", "eval/results.json", "eval/results.csv", "eval/results.md",
                "results.json", "report.html", "demo.toml", "settings.toml"):
        assert (run / rel).exists(), rel
    assert len((run / "captions/metadata.jsonl").read_text().splitlines()) == 400
    for folder in ("distilled", "baselines/kmeans_ipc3", "baselines/random_ipc3", "baselines/medoid_ipc3"):
        for cls in ("tshirt_top", "trouser"):
            assert len(list((run / folder / cls).glob("*.png"))) == 3, (folder, cls)
    from PIL import Image
    from vlcp.report.contact_sheet import GAP, HEADER, LABEL_WIDTH

    with Image.open(run / "figure.png") as im:  # 2 class rows of 3 distilled + 3 real images, zoom 3
        assert im.size == (LABEL_WIDTH + 2 * 3 * 28 * 3 + GAP, HEADER + 2 * 28 * 3)
    assert f"distilled next to real images: {run / 'figure.png'}" in out

    results = json.loads((run / "results.json").read_text())
    assert results == rows
    assert [r["method"] for r in results] == ["vlcp (ours)", "random real", "k-means centroids", "medoid"]
    for r in results:
        assert set(r) == {"method", "ipc", "model", "protocol", "mean", "std", "runs"}
        assert (r["ipc"], r["model"], r["protocol"], r["runs"]) == (3, "convnet3", "dc", 1)
        assert 0 <= r["mean"] <= 100 and r["std"] >= 0

    assert "vlcp (ours)" in out and "random real" in out and "k-means centroids" in out and "| medoid" in out
    assert f"{results[0]['mean']:.1f}" in out
    assert "shortened to 2 of the dc protocol's 300 epochs" in out
    assert "Fashion-MNIST, 2 of 10 classes, first 200 training images per class" in out  # the subset, said
    assert "whole set" not in out  # the benchmark's whole-set row is for the full data only

    # the validation split of configs/fashion_mnist.toml is held out: captions and medoids come from train only
    data = DataConfig(num_classes=2, per_class=200, holdout_per_class=500)
    assert "holdout_per_class = 500" in (run / "settings.toml").read_text()
    val_split = data.load("val")
    val = {val_split.file_name(i) for i in range(len(val_split))}
    assert len(val) == 1000
    captioned = {json.loads(line)["file_name"] for line in (run / "captions/metadata.jsonl").read_text().splitlines()}
    medoids = {s["source"] for s in json.loads((run / "baselines/medoid_ipc3/baseline.json").read_text())["selected"]}
    clusters = json.loads((run / "prototypes/clusters.json").read_text())
    assert medoids == {m[0] for e in clusters.values() for m in e["members"]}
    assert not (captioned | medoids) & val


def test_demo_shows_the_benchmarks_whole_set_row_labelled_as_such(tmp_path):
    from vlcp.demo import whole_set_reference
    from vlcp.evaluate.results import ResultRow, markdown_table

    whole = ResultRow.from_accuracies("full", 5500, "convnet3", "dc", [92.0], {
        "epochs": 10, "train_images": 55000, "train_split": "Fashion-MNIST train minus the last 500 images per class"})
    path = tmp_path / "fashion_mnist_whole.json"
    path.write_text(json.dumps([whole.to_dict()]))
    row = whole_set_reference(DemoConfig(), path)
    vlcp = ResultRow.from_accuracies("vlcp (ours)", 10, "convnet3", "dc", [77.0, 77.5, 77.2], {"epochs": 100})
    md = markdown_table([vlcp, row])
    assert "| 92.0 (n=1) |" in md
    assert "trained 10 epochs (the other columns: 100)" in md and "not retrained by this demo" in md
    assert whole_set_reference(DemoConfig(num_classes=2), path) is None  # another subset: not comparable
    assert whole_set_reference(DemoConfig(holdout_per_class=0), path) is None  # another training split
    assert whole_set_reference(DemoConfig(), tmp_path / "missing.json") is None
