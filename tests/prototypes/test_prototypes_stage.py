"""The prototypes stage and its CLI on a small constructed run folder."""
import argparse
import json
import tomllib

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file

from vlcp.errors import VlcpError
from vlcp.files.atomic import append_jsonl
from vlcp.files.latents import LatentStore
from vlcp.prototypes import ARTIFACTS, PrototypesConfig, read_captions, run_prototypes
from vlcp.prototypes.cli import add_parser

SHAPE = (4, 2, 2)
CLASSES = ["n001", "n002", "n003"]
NAMES = ["Saluki, gazelle hound", "tench", "golden retriever"]
COLOURS = ["brown", "black", "white"]
PLACES = ["grass", "beach", "snow"]


def make_run(root, per=12, outlier=True, captions_for_all=True):
    """Three classes; each has three blobs (one per colour) and one far outlier; two shards per class."""
    rng = np.random.default_rng(0)
    store = LatentStore(root / "latents")
    store.init(CLASSES, NAMES, SHAPE, scaling_factor=0.18215, shard_size=20)
    d = int(np.prod(SHAPE))
    records = []
    for ci, cid in enumerate(CLASSES):
        lat, names, texts = [], [], []
        for b in range(3):
            centre = np.zeros(d, dtype=np.float32)
            centre[b * 4:(b + 1) * 4] = 10.0 + ci
            for i in range(per):
                lat.append(centre + 0.1 * rng.standard_normal(d).astype(np.float32))
                fn = f"train/{cid}/{b}_{i:03d}.png"
                names.append(fn)
                extra = "running fast" if i % 3 == 0 else "sitting"
                texts.append(f"The {NAMES[ci]} in the image is a {COLOURS[b]} dog on the {PLACES[b]}, {extra}.")
        if outlier:
            lat.append(np.full(d, -80.0, dtype=np.float32))
            names.append(f"train/{cid}/odd.png")
            texts.append(f"A strange {NAMES[ci]}.")
        lat = np.stack(lat).reshape(-1, *SHAPE)
        ids = np.arange(len(lat)) + 1000 * ci
        half = len(lat) // 2
        store.write_shard(cid, 0, ids[:half], names[:half], lat[:half])
        store.write_shard(cid, 1, ids[half:], names[half:], lat[half:])
        for fn, t in zip(names, texts):
            if captions_for_all or not fn.endswith("odd.png"):
                records.append({"file_name": fn, "text": t, "label": ci})
    append_jsonl(root / "captions" / "metadata.jsonl", records)
    return store


CFG = dict(ipc=3, contamination=1 / 37, n_init=2, beta=0.7, top_k=5)


def test_stage_writes_all_artifacts(tmp_path):
    store = make_run(tmp_path)
    caps = read_captions(tmp_path / "captions" / "metadata.jsonl")
    out = tmp_path / "prototypes"
    res = run_prototypes(store, caps, out, PrototypesConfig(**CFG))
    for name in ARTIFACTS.values():
        assert (out / name).exists(), name

    tensors = load_file(str(out / "prototypes.safetensors"))
    assert sorted(tensors) == CLASSES
    for t in tensors.values():
        assert t.shape == (3, *SHAPE) and t.dtype == np.float32
    with safe_open(str(out / "prototypes.safetensors"), "np") as f:
        assert json.loads(f.metadata()["shape"]) == list(SHAPE)

    clusters = json.loads((out / "clusters.json").read_text())
    texts = json.loads((out / "text_prototypes.json").read_text())
    assert texts["strategy"] == "dcs" and sorted(texts["classes"]) == CLASSES
    for ci, cid in enumerate(CLASSES):
        c = clusters[cid]
        assert c["k"] == 3 and c["n"] == 37 and c["n_inliers"] == 36
        assert c["outliers"] == [f"train/{cid}/odd.png"]
        assert sorted(len(m) for m in c["members"]) == [12, 12, 12]
        for i, members in enumerate(c["members"]):
            blob = {m.split("/")[-1][0] for m in members}
            assert len(blob) == 1  # each cluster is one blob
            entry = texts["classes"][cid][i]
            assert entry["cluster"] == i and entry["size"] == 12
            assert entry["file_name"] in members and caps[entry["file_name"]] == entry["text"]
            # the dcs caption of a blob names its colour and place
            b = int(next(iter(blob)))
            assert COLOURS[b] in entry["text"] and PLACES[b] in entry["text"]
            # members are nearest first
            centre = tensors[cid][i].reshape(-1)
            cl = store.read_class(cid)
            pos = {f: j for j, f in enumerate(cl.file_names)}
            d = [np.linalg.norm(cl.flat()[pos[m]] - centre) for m in members]
            assert d == sorted(d)
    assert res.classes["n002"]["k"] == 3 and len(res.classes["n002"]["prompts"]) == 3

    report = json.loads((out / "prototype_report.json").read_text())
    r = report["classes"]["n001"]
    assert r["class_name"] == NAMES[0] and r["n_outliers"] == 1
    # "the", "in", "is", "a", "on" are stop words; dog, image and the class name are in every caption
    assert r["nonrepresentative"] == ["dog", "gazelle", "hound", "image", "saluki"]
    kw = dict(map(tuple, r["clusters"][0]["keywords"]))
    assert kw["sitting"] == 8 and kw["running"] == 4 and "dog" not in kw
    md = (out / "prototype_report.md").read_text()
    assert "| cluster | size | non-representative words | keywords (word:count) | chosen text |" in md
    assert "running:4" in md and "## Saluki, gazelle hound (`n001`)" in md
    saved = tomllib.loads((out / "prototypes.toml").read_text())["prototypes"]
    assert saved["ipc"] == 3 and saved["beta"] == 0.7 and saved["strategy"] == "dcs"


def test_stage_reads_one_class_at_a_time(tmp_path):
    store = make_run(tmp_path)

    class Spy(LatentStore):
        calls: list = []

        def read_class(self, class_id):
            self.calls.append(class_id)
            return super().read_class(class_id)

    spy = Spy(store.root)
    run_prototypes(spy, read_captions(tmp_path / "captions" / "metadata.jsonl"), tmp_path / "p", PrototypesConfig(**CFG))
    assert spy.calls == CLASSES


def test_runs_are_identical(tmp_path):
    store = make_run(tmp_path)
    caps = read_captions(tmp_path / "captions" / "metadata.jsonl")
    run_prototypes(store, caps, tmp_path / "a", PrototypesConfig(**CFG))
    run_prototypes(store, caps, tmp_path / "b", PrototypesConfig(**CFG))
    for name in ARTIFACTS.values():
        if name.endswith(".safetensors"):  # header order of a safetensors file is not fixed: compare content
            a, b = load_file(str(tmp_path / "a" / name)), load_file(str(tmp_path / "b" / name))
            assert sorted(a) == sorted(b) and all(np.array_equal(a[k], b[k]) for k in a)
            with safe_open(str(tmp_path / "a" / name), "np") as fa, safe_open(str(tmp_path / "b" / name), "np") as fb:
                assert fa.metadata() == fb.metadata()
        else:
            assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


@pytest.mark.parametrize("strategy", ["label", "label+keywords"])
def test_other_strategies(tmp_path, strategy):
    store = make_run(tmp_path)
    caps = read_captions(tmp_path / "captions" / "metadata.jsonl")
    run_prototypes(store, caps, tmp_path / "p", PrototypesConfig(**CFG, strategy=strategy))
    texts = json.loads((tmp_path / "p" / "text_prototypes.json").read_text())
    assert texts["strategy"] == strategy
    report = json.loads((tmp_path / "p" / "prototype_report.json").read_text())
    for cid, name in zip(CLASSES, NAMES):
        for entry, row in zip(texts["classes"][cid], report["classes"][cid]["clusters"]):
            if strategy == "label":
                assert entry["text"] == name
            else:
                assert entry["text"] == ", ".join([name] + [w for w, _ in row["keywords"]])
                assert entry["text"].startswith(name + ", ")
    assert "| prompt |" in (tmp_path / "p" / "prototype_report.md").read_text()


def test_missing_caption_is_a_clear_error(tmp_path):
    store = make_run(tmp_path, captions_for_all=False)
    caps = read_captions(tmp_path / "captions" / "metadata.jsonl")
    with pytest.raises(VlcpError, match=r"class 'n001': no caption for latent 'train/n001/odd.png'"):
        run_prototypes(store, caps, tmp_path / "p", PrototypesConfig(**CFG))


def test_too_few_inliers_stops_the_stage_naming_the_class(tmp_path):
    store = make_run(tmp_path, per=2)  # 7 samples, 1 outlier -> 6 inliers
    caps = read_captions(tmp_path / "captions" / "metadata.jsonl")
    cfg = dict(CFG, ipc=8, contamination=0.1)
    with pytest.raises(VlcpError, match=r"class 'n001': only 6 inliers .* 8 prototypes"):
        run_prototypes(store, caps, tmp_path / "p", PrototypesConfig(**cfg))
    assert not (tmp_path / "p" / "prototypes.safetensors").exists()
    run_prototypes(store, caps, tmp_path / "p", PrototypesConfig(**cfg, allow_fewer=True))
    clusters = json.loads((tmp_path / "p" / "clusters.json").read_text())
    assert clusters["n001"]["k"] == 6 and len(clusters["n001"]["members"]) == 6
    assert load_file(str(tmp_path / "p" / "prototypes.safetensors"))["n001"].shape == (6, *SHAPE)
    assert len(json.loads((tmp_path / "p" / "text_prototypes.json").read_text())["classes"]["n001"]) == 6


def test_read_captions_errors(tmp_path):
    p = tmp_path / "m.jsonl"
    p.write_text('{"file_name": "a.png", "text": "x"}\n{"file_name": "b.png"}\n')
    with pytest.raises(VlcpError, match="record 2 needs"):
        read_captions(p)
    with pytest.raises(VlcpError, match="not found"):
        read_captions(tmp_path / "none.jsonl")


@pytest.mark.parametrize("bad,setting", [
    (dict(ipc=0), "ipc"), (dict(contamination=0.6), "contamination"), (dict(contamination=-0.1), "contamination"),
    (dict(n_neighbors=0), "n_neighbors"), (dict(n_init=0), "n_init"), (dict(beta=0), "beta"),
    (dict(beta=1.5), "beta"), (dict(top_k=0), "top_k"), (dict(strategy="gpt"), "strategy"),
    (dict(strategy="generated"), "generator_model"), (dict(max_new_tokens=0), "max_new_tokens"),
    (dict(seed=-1), "seed"),
])
def test_config_validation_names_the_setting(bad, setting):
    with pytest.raises(VlcpError, match=f"setting '{setting}'"):
        PrototypesConfig(**bad)


def parser():
    ap = argparse.ArgumentParser(prog="vlcp")
    add_parser(ap.add_subparsers(dest="command"))
    return ap


def test_cli_run_folder_toml_and_overrides(tmp_path, capsys):
    make_run(tmp_path)
    toml = tmp_path / "c.toml"
    toml.write_text('[prototypes]\nipc = 3\nn_init = 2\ncontamination = 0.03\nbeta = 0.5\ntop_k = 4\n')
    args = parser().parse_args(["prototypes", "--run", str(tmp_path), "--config", str(toml),
                                "--beta", "0.6", "--strategy", "label+keywords"])
    assert args.func(args) == 0
    out = tmp_path / "prototypes"
    saved = tomllib.loads((out / "prototypes.toml").read_text())["prototypes"]
    assert saved["ipc"] == 3 and saved["beta"] == 0.6 and saved["top_k"] == 4 and saved["strategy"] == "label+keywords"
    assert "3 classes, 9 prototypes" in capsys.readouterr().out


def test_cli_explicit_paths_and_errors(tmp_path):
    make_run(tmp_path)
    ap = parser()
    args = ap.parse_args(["prototypes", "--latents", str(tmp_path / "latents"), "--captions",
                          str(tmp_path / "captions" / "metadata.jsonl"), "--out", str(tmp_path / "o"),
                          "--ipc", "3", "--n-init", "2", "--contamination", "0", "--no-allow-fewer"])
    assert args.func(args) == 0
    assert json.loads((tmp_path / "o" / "clusters.json").read_text())["n001"]["n_inliers"] == 37
    args = ap.parse_args(["prototypes", "--latents", str(tmp_path / "latents")])
    with pytest.raises(VlcpError, match="runs/latest/captions/metadata.jsonl"):  # --run defaults to runs/latest
        args.func(args)
    args = ap.parse_args(["prototypes", "--run", str(tmp_path / "nowhere")])
    with pytest.raises(VlcpError, match="no latents store"):
        args.func(args)
    with pytest.raises(SystemExit):
        ap.parse_args(["prototypes", "--strategy", "gpt"])


def test_identical_latents_give_an_empty_cluster_with_the_class_name(tmp_path):
    store = LatentStore(tmp_path / "latents")
    store.init(["c"], ["tabby cat"], SHAPE, scaling_factor=1.0, shard_size=10)
    names = [f"c/{i}.png" for i in range(6)]
    store.write_shard("c", 0, np.arange(6), names, np.ones((6, *SHAPE), dtype=np.float32))
    caps = {f: f"a grey cat number {w}" for f, w in zip(names, "one two three four five six".split())}
    run_prototypes(store, caps, tmp_path / "p", PrototypesConfig(ipc=2, contamination=0, n_init=1))
    texts = json.loads((tmp_path / "p" / "text_prototypes.json").read_text())["classes"]["c"]
    assert sorted(e["size"] for e in texts) == [0, 6]
    empty = next(e for e in texts if e["size"] == 0)
    assert empty["text"] == "tabby cat" and empty["caption"] is None
    assert "| 0 |" in (tmp_path / "p" / "prototype_report.md").read_text()


def test_medoids_are_each_clusters_nearest_real_latent(tmp_path):
    store = make_run(tmp_path)
    caps = read_captions(tmp_path / "captions" / "metadata.jsonl")
    out = tmp_path / "prototypes"
    run_prototypes(store, caps, out, PrototypesConfig(**CFG))
    centres, medoids = load_file(str(out / "prototypes.safetensors")), load_file(str(out / "medoids.safetensors"))
    clusters = json.loads((out / "clusters.json").read_text())
    assert sorted(medoids) == CLASSES
    for cid in CLASSES:
        cl = store.read_class(cid)
        X = cl.flat()
        for i, members in enumerate(clusters[cid]["members"]):
            m = medoids[cid][i].reshape(-1)
            # the medoid is a real latent of the class ...
            row = int(np.flatnonzero((X == m).all(axis=1))[0])
            assert cl.file_names[row] == members[0]
            # ... the member of its cluster nearest the centre, and not the centre itself
            c = centres[cid][i].reshape(-1)
            d = [np.linalg.norm(X[cl.file_names.index(f)] - c) for f in members]
            assert np.linalg.norm(m - c) == pytest.approx(min(d)) and not np.array_equal(m, c)
