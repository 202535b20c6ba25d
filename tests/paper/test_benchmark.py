"""benchmarks/gpu/sd_img2img.py runs its tiny configuration on the CPU (the GPU run builds full SD v1.5)."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

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
    assert [(r["size"], r["batch"]) for r in out["rows"]] == [(32, 1), (32, 2)]
    assert all(r["images_per_s"] > 0 for r in out["rows"])
    (s,) = out["summary"]
    assert s["size"] == 32 and s["best_batch"] in (1, 2) and s["speedup"] >= 1.0
    assert json.loads((tmp_path / "r.json").read_text()) == out
    assert "images/s" in capsys.readouterr().out


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
