"""The report stage: a self-contained HTML page from a (fake) run folder."""
from __future__ import annotations

import json
import re
from html import escape
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vlcp.errors import VlcpError
from vlcp.report import add_parser, report

CLASSES = {"t_shirt": "T-shirt", "trouser": "trouser"}
PROMPTS = {("t_shirt", 0): 'a T-shirt with <b>bold</b> "stripes" & dots', ("t_shirt", 1): "a plain T-shirt",
           ("trouser", 0): "long dark trousers", ("trouser", 1): "trousers, flared"}


def _png(path: Path, value: int, size: int = 4) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size), value, dtype=np.uint8), mode="L").save(path)


def _distilled(run: Path, manifest: bool = True) -> None:
    records = []
    for (cid, n), prompt in PROMPTS.items():
        _png(run / "distilled" / cid / f"{n}.png", 40 * n + 10)
        records.append({"number": len(records), "file_name": f"{cid}/{n}.png", "class": cid, "prototype": n,
                        "prompt": prompt, "seed": len(records), "strength": 0.7, "guidance_scale": 10.0})
    if manifest:
        (run / "distilled" / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def _results(run: Path, wrapped: bool = False) -> None:
    rows = [
        {"method": "vlcp", "ipc": 10, "model": "convnet", "protocol": "dc", "mean": 83.1, "std": 0.4, "runs": 5,
         "extra": "ignored"},
        {"method": "random", "ipc": 10, "model": "convnet", "protocol": "dc", "mean": 70.3, "std": 1.0, "runs": 5},
        {"method": "vlcp", "ipc": 1, "model": "convnet", "protocol": "dc", "mean": 61.0, "std": 2.5, "runs": 3,
         "accuracies": [60.0, 62.0, 61.0]},
    ]
    (run / "eval").mkdir(parents=True, exist_ok=True)
    (run / "eval" / "results.json").write_text(json.dumps({"rows": rows} if wrapped else rows))


def _prototypes(run: Path) -> None:
    classes = {}
    for cid, name in CLASSES.items():
        classes[cid] = {"class_name": name, "n": 20, "n_outliers": 2, "n_inliers": 18, "k": 2,
                        "nonrepresentative": ["image", "shows"],
                        "clusters": [{"cluster": c, "size": 9, "keywords": [["stripe", 7], ["cotton", 3]],
                                      "text": f"{name} caption {c}", "prompt": f"{name} caption {c}",
                                      "nonrepresentative": ["image", "shows"]} for c in range(2)]}
    (run / "prototypes").mkdir(parents=True, exist_ok=True)
    (run / "prototypes" / "prototype_report.json").write_text(
        json.dumps({"strategy": "dcs", "config": {"ipc": 2}, "classes": classes}))


@pytest.fixture()
def run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    _distilled(run)
    _results(run)
    _prototypes(run)
    for cid in CLASSES:
        for n in range(2):
            _png(run / "baselines" / "kmeans_ipc2" / cid / f"{n}.png", 200)
        for n in range(3):
            _png(run / "baselines" / "random_ipc2" / cid / f"{n}.png", 100)
    (run / "distilled" / "synthesize.toml").write_text('strength = 0.7\nnegative_prompt = "a <cartoon>"\n')
    return run


def test_full_report(run: Path):
    out = report(run)
    assert out == run / "report.html"
    html = out.read_text("utf-8")
    # results table: mean ± std and N, methods as columns, settings as rows
    assert "83.1 ± 0.4" in html and "70.3 ± 1.0" in html
    assert "N=5" in html and "N=3" in html
    assert "<th>random</th><th>vlcp</th>" in html  # results.md's column order (baselines first)
    assert html.index("61.0 ± 2.5") < html.index("83.1 ± 0.4")  # IPC 1 before IPC 10
    # images: distilled 4 (in the class grid and again with their prompts) + k-means 4 + random 6, all embedded;
    # charts are inline SVG (bars + accuracy vs IPC)
    imgs = re.findall(r"<img [^>]*>", html)
    assert len(imgs) == 2 * 4 + 4 + 6
    assert html.count('<span class="zoom" tabindex="0"><img') == 2 * 4  # distilled images enlarge on click
    assert html.count("<svg ") == 2 and "accuracy against IPC" in html
    assert all('src="data:image/png;base64,' in i for i in imgs)
    assert "http://" not in html and "https://" not in html
    # prompts escaped (as tooltip and list)
    assert "a T-shirt with &lt;b&gt;bold&lt;/b&gt; &quot;stripes&quot; &amp; dots" in html
    assert "<b>bold</b>" not in html
    assert "trousers, flared" in html
    # prototype report
    assert "stripe: 7, cotton: 3" in html and "T-shirt caption 1" in html and "image shows" in html
    # settings verbatim, escaped
    assert "distilled/synthesize.toml" in html and "a &lt;cartoon&gt;" in html


def test_distilled_img_per_image_with_prompt(run: Path):
    html = report(run).read_text("utf-8")
    figures = re.findall(r'<figure class="distilled">(.*?)</figure>', html, re.S)
    assert len(figures) == len(PROMPTS)
    for prompt in PROMPTS.values():  # shown under its image, not only on hover
        assert sum(f'<span class="prompt">{escape(prompt, quote=True)}</span>' in f for f in figures) == 1


def test_wrapped_rows_and_both_result_files(tmp_path: Path):
    run = tmp_path / "run"
    _results(run, wrapped=True)
    (run / "results.json").write_text(json.dumps([{"method": "kmeans", "ipc": 10, "model": "convnet",
                                                   "protocol": "dc", "mean": 0.5, "std": 0.01, "runs": 3}]))
    html = report(run, tmp_path / "elsewhere" / "r.html").read_text("utf-8")
    assert "83.1 ± 0.4" in html and "<th>kmeans</th>" in html  # one results section holds both files' rows
    assert html.count("<h2>Results</h2>") == 1
    assert not (run / "report.html").exists()


def test_missing_sections_are_notes(tmp_path: Path):
    run = tmp_path / "empty"
    run.mkdir()
    html = report(run).read_text("utf-8")
    assert "No results" in html and "No images" in html and "No prototypes" in html and "No *.toml" in html
    assert "<img" not in html


def test_images_without_manifest_and_unreadable_json(tmp_path: Path):
    run = tmp_path / "run"
    _distilled(run, manifest=False)
    (run / "prototypes").mkdir()
    (run / "prototypes" / "prototype_report.json").write_text('["nope"]')
    html = report(run).read_text("utf-8")
    assert len(re.findall(r"<img ", html)) == 2 * 4  # the class grid and the per-image figures
    assert "No metadata.jsonl" in html and "Unreadable" in html
    (run / "eval").mkdir()
    (run / "eval" / "results.json").write_text("{not json")  # the results themselves: no page without them
    with pytest.raises(VlcpError, match=r"eval/results\.json: not valid JSON .*rerun `vlcp evaluate`"):
        report(run)


def test_prototype_report_bare_mapping(tmp_path: Path):
    run = tmp_path / "run"
    (run / "prototypes").mkdir(parents=True)
    (run / "prototypes" / "prototype_report.json").write_text(json.dumps(
        {"0": [{"cluster": 0, "size": 5, "nonrepresentative": ["photo"], "keywords": [["red", 4]], "text": "red"}]}))
    html = report(run).read_text("utf-8")
    assert "red: 4" in html and "photo" in html


def test_missing_run_folder(tmp_path: Path):
    with pytest.raises(VlcpError, match="nowhere"):
        report(tmp_path / "nowhere")


def test_cli(run: Path, capsys):
    import argparse

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["report", "--run", str(run)])
    assert args.func(args) == 0
    assert str(run / "report.html") in capsys.readouterr().out
    assert parser.parse_args(["report"]).run == Path("runs/latest")


def test_prototype_report_from_the_prototypes_stage_writer(tmp_path: Path):
    writer = pytest.importorskip("vlcp.prototypes.report")
    run = tmp_path / "run"
    classes = {"3": {"class_name": "dress", "n": 10, "n_outliers": 1, "n_inliers": 9, "k": 1,
                     "nonrepresentative": ["picture"],
                     "clusters": [{"cluster": 0, "size": 9, "keywords": [["sleeve", 6]], "text": "a long dress",
                                   "file_name": "train/dress/1.png", "score": 6, "prompt": "dress: a long dress",
                                   "nonrepresentative": ["picture"]}]}}
    writer.write_report({"strategy": "cp", "config": {"ipc": 1}, "classes": classes}, run / "prototypes")
    html = report(run).read_text("utf-8")
    assert "sleeve: 6" in html and "a long dress" in html and "dress: a long dress" in html
    assert "<code>cp</code>" in html and "picture" in html


def test_comparison_page_of_several_runs(tmp_path: Path, capsys):
    from vlcp.cli import main

    for name, shift in (("a", 0.0), ("b", 1.5)):
        (tmp_path / name / "eval").mkdir(parents=True)
        (tmp_path / name / "eval" / "results.json").write_text(json.dumps([
            {"method": m, "ipc": 10, "model": "convnet3", "protocol": "dc", "mean": v + shift, "std": 0.2, "runs": 3}
            for m, v in (("vlcp", 75.1), ("random", 73.1))]))
    out = tmp_path / "cmp.html"
    assert main(["report", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out)]) == 0
    html = out.read_text("utf-8")
    assert "<td>a</td>" in html and "<td>b</td>" in html and "75.1 ± 0.2" in html and "76.6 ± 0.2" in html
    assert "75.1 ± 0.2 <small>(N=3)</small>" in html
    assert html.count("<svg ") == 1 and "<h2>Run a</h2>" in html and "<h2>Run b</h2>" in html
    assert "<script" not in html and "http" not in html.replace('xmlns="http', "")


def _bar_heights(svg: str) -> list[float]:
    return [float(h) for h in re.findall(r'<rect class="bar"[^>]* height="([\d.]+)"', svg)]


def test_chart_never_zooms_inside_the_noise():
    from vlcp.report.chart import method_colours, svg_chart

    colours = method_colours(["vlcp", "random"])
    one_net = svg_chart(["IPC 10"], {"vlcp": {0: (93.61, 0.0)}, "random": {0: (93.58, 0.0)}}, colours)
    hi, lo = sorted(_bar_heights(one_net), reverse=True)
    assert hi / lo < 1.02  # one test image apart: bars of (almost) the same height, not five-fold
    assert "no spread measured" in one_net
    noisy = svg_chart(["IPC 10"], {"vlcp": {0: (75.5, 1.0)}, "random": {0: (75.0, 1.0)}}, colours)
    hi, lo = sorted(_bar_heights(noisy), reverse=True)
    assert hi / lo < 1.1 and "random within one std of vlcp" in noisy
    apart = svg_chart(["IPC 10"], {"vlcp": {0: (76.6, 0.6)}, "random": {0: (73.1, 0.1)}}, colours)
    ticks = [float(t) for t in re.findall(r'class="ytick"[^>]*>([\d.]+)<', apart)]
    assert min(ticks) > 60 and "within one std" not in apart  # a real difference is still zoomed in on


def test_one_network_subset_and_device_in_the_report(tmp_path: Path):
    run = tmp_path / "run"
    (run / "eval").mkdir(parents=True)
    settings = {"num_classes": 3, "dataset_classes": 10, "device": "cpu", "epochs": 300}
    (run / "eval" / "results.json").write_text(json.dumps([
        {"method": "vlcp", "ipc": 10, "model": "convnet3", "protocol": "dc", "mean": 93.61, "std": 0.0, "runs": 1,
         "settings": settings},
        {"method": "full", "ipc": 5500, "model": "convnet3", "protocol": "dc", "mean": 98.2, "std": 0.0, "runs": 1,
         "settings": settings}]))
    (run / "settings.toml").write_text('[data]\nnum_classes = 3\nholdout_per_class = 500\n[run]\ndevice = "auto"\n')
    html = report(run).read_text("utf-8")
    assert "93.6 <small>(N=1)</small>" in html and "± 0.0" not in html
    assert "Fashion-MNIST, 3 of 10 classes, last 500 per class held out for validation" in html
    assert "<dd>cpu (evaluate; setting: auto)</dd>" in html
    assert "<th>whole training set</th>" in html and 'class="reference"' in html  # a dashed line, not an IPC group
    assert "the whole training set reaches 98.2 %" in html
