"""Baseline selection rules on constructed features, and the baseline folders they write."""
from __future__ import annotations

import sys
import types

import numpy as np
import pytest
from PIL import Image

from vlcp.data import ImageFolderDataset
from vlcp.errors import VlcpError
from vlcp.evaluate import baselines as B
from vlcp.files.atomic import read_json


def test_herding_first_pick_is_nearest_the_mean():
    f = np.array([[0.0, 0.0], [10.0, 0.0], [4.0, 1.0], [0.0, 9.0], [5.0, 5.0]])  # mean (3.8, 3.0)
    picks = B.select_herding(f, 3)
    d = np.linalg.norm(f - f.mean(0), axis=1)
    assert picks[0] == int(np.argmin(d)) == 2
    # the second pick brings the running mean closest to the class mean
    best = min((i for i in range(5) if i != 2), key=lambda i: np.linalg.norm((f[2] + f[i]) / 2 - f.mean(0)))
    assert picks[1] == best
    assert len(set(picks.tolist())) == 3


def test_kcenter_second_pick_is_farthest_from_first():
    f = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, 0.2], [9.0, 9.0], [-3.0, 0.0]])
    picks = B.select_kcenter(f, 3)
    first = picks[0]
    assert first == int(np.argmin(np.linalg.norm(f - f.mean(0), axis=1)))
    assert picks[1] == int(np.argmax(np.linalg.norm(f - f[first], axis=1)))
    # third: farthest from both picks
    dmin = np.minimum(np.linalg.norm(f - f[picks[0]], axis=1), np.linalg.norm(f - f[picks[1]], axis=1))
    assert picks[2] == int(np.argmax(dmin))


def test_selection_per_class_returns_global_indices():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(30, 4))
    labels = np.repeat([0, 1, 2], 10)
    for rule in (B.select_herding, B.select_kcenter):
        idx = rule(f, 4, labels)
        assert len(idx) == 12 and len(set(idx.tolist())) == 12
        assert np.bincount(labels[idx]).tolist() == [4, 4, 4]
        assert idx[0] == rule(f[:10], 4)[0]


def test_random_is_seeded_and_not_the_first_images():
    labels = np.repeat([0, 1], 100)
    a = B.select_random(labels, 5, seed=0)
    assert np.array_equal(a, B.select_random(labels, 5, seed=0))
    assert not np.array_equal(a, B.select_random(labels, 5, seed=1))
    assert np.bincount(labels[a]).tolist() == [5, 5]
    assert sorted(a[:5].tolist()) != [0, 1, 2, 3, 4]
    with pytest.raises(VlcpError, match="ipc"):
        B.select_random(labels, 101, seed=0)


def test_write_baseline_layout(tmp_path, tiny_train):
    out = B.write_baseline(tiny_train, [0, 1, 30, 31, 32], tmp_path / "b", method="random", description="test")
    meta = read_json(out / "baseline.json")
    assert meta["method"] == "random" and meta["per_class"] == {"square": 2, "bar": 3} and meta["ipc"] == 3
    ds = ImageFolderDataset(out)
    assert ds.classes == ["bar", "square"] and len(ds) == 5
    img = np.asarray(Image.open(out / "square" / "00001.png"))
    assert np.array_equal(img, tiny_train.data[1, 0])  # lossless
    # rewriting replaces the folder; a foreign folder is refused
    B.write_baseline(tiny_train, [0, 30], out, method="random")
    assert len(ImageFolderDataset(out)) == 2
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.txt").write_text("mine")
    with pytest.raises(VlcpError, match="not a baseline folder"):
        B.write_baseline(tiny_train, [0], tmp_path / "other")


def test_herding_baseline_trains_and_caches_extractor(tmp_path, tiny_train, monkeypatch):
    out = B.make_baseline("herding", tiny_train, tmp_path / "herding_ipc2", ipc=2, feature_epochs=1, progress=False)
    meta = read_json(out / "baseline.json")
    assert "feature space of convnet3 trained by vlcp on the full training set, 1 epoch" in meta["description"]
    assert meta["ipc"] == 2 and meta["images"] == 4
    cache = tmp_path / "feature_extractor_convnet3.safetensors"
    assert cache.exists()
    from vlcp.evaluate import teacher

    def boom(*a, **k):
        raise AssertionError("retrained despite the cache")

    monkeypatch.setattr(teacher, "train_and_test", boom)
    out2 = B.make_baseline("kcenter", tiny_train, tmp_path / "kcenter_ipc2", ipc=2, feature_epochs=1, progress=False)
    assert "k-center" in read_json(out2 / "baseline.json")["description"]


def test_full_baseline(tmp_path, tiny_train):
    out = B.make_baseline("full", tiny_train, tmp_path / "full")
    assert len(ImageFolderDataset(out)) == len(tiny_train)
    assert "upper bound" in read_json(out / "baseline.json")["description"]


def test_kmeans_needs_prototypes(tmp_path):
    (tmp_path / "run").mkdir()
    with pytest.raises(VlcpError, match="no prototypes"):
        B.make_baseline("kmeans", None, tmp_path / "kmeans", run_dir=tmp_path / "run")
    with pytest.raises(VlcpError, match="--run"):
        B.make_baseline("kmeans", None, tmp_path / "kmeans")


def test_kmeans_uses_decode_centroids(tmp_path, monkeypatch):
    run = tmp_path / "run"
    (run / "prototypes").mkdir(parents=True)
    (run / "prototypes" / "prototypes.safetensors").write_bytes(b"")

    def decode_centroids(run_dir, out_dir):
        for c in ("square", "bar"):
            (out_dir / c).mkdir(parents=True)
            for n in range(3):
                Image.fromarray(np.zeros((28, 28), np.uint8)).save(out_dir / c / f"{n}.png")
        return out_dir

    monkeypatch.setitem(sys.modules, "vlcp.synthesize", types.SimpleNamespace(decode_centroids=decode_centroids))
    out = B.make_baseline("kmeans", None, tmp_path / "kmeans", run_dir=run)
    meta = read_json(out / "baseline.json")
    assert meta["method"] == "kmeans" and meta["ipc"] == 3 and "without diffusion" in meta["description"]
