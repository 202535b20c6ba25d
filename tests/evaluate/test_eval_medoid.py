"""The medoid baseline: the real image nearest each k-means centre, on constructed clusters and on a run."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vlcp.errors import VlcpError
from vlcp.evaluate import baselines as B
from vlcp.evaluate.medoid import medoid_baseline, select_medoids
from vlcp.files.atomic import read_json


def _constructed():
    """Two classes × three far-apart clusters in 2-D. In every cluster the nearest member to the cluster
    mean is neither the first nor the centre itself (no point sits on the mean)."""
    offsets = np.array([[2.0, 0.0], [-1.0, 0.1], [0.0, 1.7], [0.3, -0.4], [-0.9, -1.2]])  # mean (0.08, 0.04)
    feats, labels, expected = [], [], []
    for c in range(2):
        for centre in ([0.0, 0.0], [50.0, 0.0], [0.0, 50.0]):
            centre = np.asarray(centre) + 100.0 * c
            pts = centre + offsets[::-1] if len(expected) % 2 else centre + offsets  # vary member order
            mean = pts.mean(0)
            expected.append(len(feats) + int(np.argmin(np.linalg.norm(pts - mean, axis=1))))
            assert np.linalg.norm(pts - mean, axis=1).min() > 1e-3  # the centre is not a member
            feats += pts.tolist()
            labels += [c] * len(pts)
    return np.asarray(feats, dtype=np.float32), np.asarray(labels), expected


def test_medoid_picks_the_nearest_member_of_each_cluster():
    f, labels, expected = _constructed()
    idx = select_medoids(f, labels, 3, contamination=0.0, seed=0)
    assert sorted(idx.tolist()) == sorted(expected)
    assert np.bincount(labels[idx]).tolist() == [3, 3]
    # not the first member of a cluster, and each pick is a real row, not the centre
    firsts = {5 * k for k in range(6)}
    assert not set(idx.tolist()) & firsts
    assert all(expected[k] % 5 in (1, 3) for k in range(6))


def test_medoid_skips_lof_outliers_like_the_prototypes_stage():
    """With LOF on, an outlier planted next to a centre is not picked (the stage drops it before k-means)."""
    rng = np.random.default_rng(0)
    blob = rng.normal(size=(40, 2)).astype(np.float32)
    far = np.array([[30.0, 30.0], [-30.0, 30.0]], dtype=np.float32)  # outliers, pulling nothing: k = 1
    f = np.concatenate([blob, far])
    labels = np.zeros(len(f), dtype=int)
    idx = select_medoids(f, labels, 1, contamination=0.05, n_neighbors=10, seed=0)
    inliers = f[:40]
    # the k-means centre of the inliers is their mean; the pick is the inlier nearest it
    assert idx.tolist() == [int(np.argmin(np.linalg.norm(inliers - inliers.mean(0), axis=1)))]


def _run_folder(tmp_path, train, ipc: int):
    """A run with latents (downsampled pixels as stand-in latents) and a prototypes stage at ``ipc``."""
    import torch

    from vlcp.files.latents import LatentStore
    from vlcp.prototypes import PrototypesConfig, run_prototypes

    run = tmp_path / "run"
    store = LatentStore(run / "latents")
    x = torch.nn.functional.avg_pool2d(train.images(np.arange(len(train))), 7)  # (n, 1, 4, 4)
    store.init(train.classes, train.class_names, x.shape[1:], 1.0, 1000)
    for c, cid in enumerate(train.classes):
        idx = np.flatnonzero(train.labels == c)
        store.write_shard(cid, 0, idx, [train.file_name(int(i)) for i in idx], x[idx])
    captions = {train.file_name(i): f"a bright {train.class_names[train.labels[i]]} shape" for i in range(len(train))}
    run_prototypes(store, captions, run / "prototypes", PrototypesConfig(ipc=ipc, seed=3, strategy="label"))
    return run, x.reshape(len(x), -1).numpy()


def test_medoid_baseline_of_a_run(tmp_path, tiny_train):
    run, lat = _run_folder(tmp_path, tiny_train, ipc=3)
    out = B.make_baseline("medoid", tiny_train, tmp_path / "medoid_ipc3", run_dir=run)
    meta = read_json(out / "baseline.json")
    assert meta["method"] == "medoid" and meta["per_class"] == {"square": 3, "bar": 3}
    clusters = read_json(run / "prototypes" / "clusters.json")
    chosen = sorted(s["source"] for s in meta["selected"])
    assert chosen == sorted(m[0] for e in clusters.values() for m in e["members"])
    # same as clustering the run's latents with the stage's settings (seed 3, LOF 0.1)
    idx = select_medoids(lat, tiny_train.labels, 3, seed=3)
    assert chosen == sorted(tiny_train.file_name(int(i)) for i in idx)
    # the pixels are the real image's, losslessly
    first = meta["selected"][0]
    img = np.asarray(Image.open(out / first["file"]))
    assert np.array_equal(img, tiny_train.data[first["index"], 0])

    # another ipc: refitted on the run's latents with the run's settings
    out2 = B.make_baseline("medoid", tiny_train, tmp_path / "medoid_ipc2", ipc=2, run_dir=run)
    idx2 = select_medoids(lat, tiny_train.labels, 2, seed=3)
    assert sorted(s["source"] for s in read_json(out2 / "baseline.json")["selected"]) == \
        sorted(tiny_train.file_name(int(i)) for i in idx2)

    with pytest.raises(VlcpError, match="needs --run"):
        B.make_baseline("medoid", tiny_train, tmp_path / "x", ipc=2)
    with pytest.raises(VlcpError, match="run folder not found"):
        medoid_baseline(tmp_path / "nope", tmp_path / "y", train=tiny_train)


def test_medoid_is_a_cli_choice():
    from vlcp.cli import build_parser

    p = build_parser()
    args = p.parse_args(["baseline", "--method", "medoid", "--run", "r", "--ipc", "10"])
    assert args.method == "medoid" and args.ipc == [10]


def test_cli_medoid_writes_into_the_run(tmp_path, capsys):
    from vlcp.cli import main
    from vlcp.settings.config import save_config
    from vlcp.data.config import DataConfig

    data = DataConfig(num_classes=2, per_class=40)
    train = data.load("train")
    run, _ = _run_folder(tmp_path, train, ipc=3)
    save_config(data, run / "data.toml", section="data")
    assert main(["baseline", "--method", "medoid", "--run", str(run)]) == 0
    assert main(["baseline", "--method", "medoid", "--run", str(run), "--ipc", "2"]) == 0
    for k in (3, 2):
        meta = read_json(run / "baselines" / f"medoid_ipc{k}" / "baseline.json")
        assert meta["ipc"] == k and meta["images"] == 2 * k
    assert main(["baseline", "--method", "medoid"]) == 2  # --run defaults to runs/latest, as in every stage
    assert "runs/latest/prototypes/prototypes.toml" in capsys.readouterr().err
