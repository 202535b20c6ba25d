"""benchmarks/gpu/sd_img2img.py runs its tiny configuration on the CPU (the GPU run builds full SD v1.5)."""
from __future__ import annotations

import importlib
import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu" / "sd_img2img.py"


def _load():
    spec = importlib.util.spec_from_file_location("sd_img2img", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_tiny_benchmark_on_cpu(tmp_path, capsys):
    bench = _load()
    out = bench.main(["--device", "cpu", "--sizes", "32", "--batches", "1", "2", "--steps", "2",
                      "--json", str(tmp_path / "r.json")])
    assert out["info"]["config"] == "tiny" and out["info"]["prompt_chunks"] == 2
    assert [(r["size"], r["batch"], r["images"]) for r in out["rows"]] == [(32, 1, 1), (32, 2, 2)]
    for r in out["rows"]:  # the printed rates are the measured ones (seconds rounded to 0.1 ms)
        # seconds are rounded to 0.1 ms: the rate computed from them may differ by that much relatively
        assert r["images_per_s"] == pytest.approx(r["images"] / r["seconds"], rel=1e-3 + 5e-5 / r["seconds"])
        assert r["s_per_image"] == pytest.approx(r["seconds"] / r["images"], abs=1e-4)
    (s,) = out["summary"]
    best = max(out["rows"], key=lambda r: r["images_per_s"])
    assert (s["size"], s["best_batch"], s["batch1_images_per_s"]) == (32, best["batch"], out["rows"][0]["images_per_s"])
    assert s["speedup"] == round(best["images_per_s"] / out["rows"][0]["images_per_s"], 3)
    assert json.loads((tmp_path / "r.json").read_text()) == out
    assert "images/s" in capsys.readouterr().out


class _Clock:
    """A fake ``time`` module: each synthesis call advances it by a known amount."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


def test_throughput_arithmetic_and_the_batch_search(monkeypatch):
    """With synthesis timed by a fake clock (a known number of seconds per call and batch size), the benchmark
    reports the exact rates and picks the fastest batch — not the largest — for the speed-up."""
    import torch

    synthesize = importlib.import_module("vlcp.synthesize")  # (vlcp.synthesize is also the stage function)
    bench = _load()
    clock = _Clock()
    cost = {1: 0.75, 2: 1.0, 4: 1.5, 8: 3.2}  # seconds per call: 1.33, 2, 2.67, 2.5 images/s

    def fake_batch(pipe, model, latents, prompts, seeds, config):
        clock.now += cost[len(prompts)]
        return torch.zeros(len(prompts), 3, 32, 32)

    monkeypatch.setattr(synthesize, "synthesize_batch", fake_batch)
    monkeypatch.setattr(bench, "time", clock)
    out = bench.main(["--device", "cpu", "--sizes", "32", "--batches", "1", "2", "4", "8", "--steps", "2",
                      "--repeats", "2"])
    rates = [(r["batch"], r["images_per_s"]) for r in out["rows"]]  # 2 timed calls each (plus a warm-up)
    assert rates == [(1, round(2 / 1.5, 4)), (2, 2.0), (4, round(8 / 3.0, 4)), (8, round(16 / 6.4, 4))]
    (s,) = out["summary"]
    assert (s["best_batch"], s["best_images_per_s"], s["speedup"]) == (4, round(8 / 3.0, 4), round((8 / 3) / (2 / 1.5), 3))


def test_full_size_configs_are_sd15():
    """The GPU configuration has SD v1.5's parameter counts (built on the meta device: no memory)."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    bench = _load()
    with torch.device("meta"):
        unet = UNet2DConditionModel(sample_size=64, **bench.SD15["unet"])
        vae = AutoencoderKL(**bench.SD15["vae"])
        text = CLIPTextModel(CLIPTextConfig(**bench.SD15["text"]))
    counts = [sum(p.numel() for p in m.parameters()) for m in (unet, vae, text)]
    assert counts == [859_520_964, 83_653_863, 123_060_480]
