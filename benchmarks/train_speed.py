"""UNet training speed: the v0.2 loop (the VAE encodes every batch) against the new one (latents read
from the cache encoded once; optionally bf16 autocast, diffusers' classic attention processor and
torch.compile), in one run. Goal: ≥ 3×.

    .venv/bin/python benchmarks/train_speed.py [--images 12800] [--steps 8 32] [--rounds 1] [--out benchmarks/results/train_speed]

Each variant runs ``vlcp.train.train`` twice, each time in a fresh Python process (accelerate's
mixed precision is fixed per process), from the same fresh embedded model (committed architecture,
Fashion-MNIST training images, their attribute captions, batch 128, no checkpoints), for the two step
counts; the difference of the two wall times over the difference of the steps is the steady-state
time per step, so set-up, compilation, the cache's one-time encoding and saving cancel out. The
runs of all variants are interleaved (every variant's short run, then every long one, ``--rounds``
times), so a change of the machine's load hits every variant alike; the median over rounds is kept.
A compiling variant first runs once untimed: inductor caches its kernels on disk, so its first run
would otherwise compile and the later ones not. The cache's one-time encoding is timed on its own and reported per 1,000 images.
Images per second = batch / seconds per step.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from vlcp.captioners import CAPTIONERS
from vlcp.data import SubsetDataset, load_dataset
from vlcp.data.latent_cache import LatentCache
from vlcp.models.embedded import build_embedded, load_generator
from vlcp.models.text import load_minilm
from vlcp.train import TrainConfig, train

BASE = TrainConfig(vae_steps=0, batch_size=128, lr=2e-4, ema_decay=0.999, random_flip=False,
                   checkpoint_every=10_000, seed=0)
VARIANTS = {
    "v0.2 loop (VAE encodes each batch)": dict(latent_cache=False),
    "latent cache": dict(latent_cache=True),
    "latent cache + bf16 autocast": dict(latent_cache=True, mixed_precision="bf16"),
    "latent cache + bf16 + compile": dict(latent_cache=True, mixed_precision="bf16", compile=True),
    "latent cache + bf16 + classic attention": dict(latent_cache=True, mixed_precision="bf16", attention="classic"),
    "latent cache + bf16 + classic attention + compile": dict(latent_cache=True, mixed_precision="bf16",
                                                               attention="classic", compile=True),
}


def _data(images: int):
    full = load_dataset()
    per_class = images // len(full.classes)
    data = SubsetDataset(full, per_class=per_class)
    captioner = CAPTIONERS.get("attributes")()
    names = [data.file_name(i) for i in range(len(data))]
    texts = captioner.caption(data.images(np.arange(len(data))), [data.class_names[int(c)] for c in data.labels])
    return data, dict(zip(names, texts))


def _fresh_model(text, trained_vae):
    torch.manual_seed(0)
    model = build_embedded(text)
    model.vae = trained_vae  # frozen, as in the UNet phase
    return model




def _seconds(model, data, captions, config: TrainConfig) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        train(model, data, captions, Path(tmp) / "m", config, save=lambda m, f, d: None, progress=False)
        return time.perf_counter() - t0


def _child(name: str, steps: int, images: int) -> None:
    """One timed training run (a fresh process): prints its wall seconds."""
    data, captions = _data(images)
    text = load_minilm(max_length=48)
    vae = load_generator(text_encoder=text).vae
    config = dataclasses.replace(BASE, unet_steps=steps, **VARIANTS[name])
    print(json.dumps({"seconds": _seconds(_fresh_model(text, vae), data, captions, config)}))


def _run(name: str, steps: int, images: int) -> float:
    out = subprocess.run([sys.executable, __file__, "--child", name, str(steps), "--images", str(images)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["seconds"]


def _encode_seconds(images: int) -> float:
    data, _ = _data(images)
    text = load_minilm(max_length=48)
    vae = load_generator(text_encoder=text).vae
    t0 = time.perf_counter()
    LatentCache.encode(vae, data, build_embedded(text).adapter(data.resolution, data.channels), flip=False,
                       sample=True)
    return time.perf_counter() - t0


def _markdown(result: dict, lo: int, hi: int) -> str:
    lines = ["# UNet training speed: the v0.2 loop against the latent cache (and bf16 / classic attention / compile)", "",
             f"Command: `.venv/bin/python benchmarks/train_speed.py --images {result['images']} --steps {lo} {hi} "
             f"--rounds {result['rounds']}`", "",
             f"{result['images']} Fashion-MNIST training images, batch {BASE.batch_size}, {result['threads']} threads; "
             f"steady-state time per step from runs of {lo} and {hi} steps (median of {result['rounds']} interleaved "
             f"round(s)). The cache's one-time encoding: {result['cache_encode_s_per_1000_images']} s per 1,000 "
             "images. Goal: ≥ 3× the v0.2 loop.", "",
             "| variant | s / step | images / s | × v0.2 loop |", "|---|---:|---:|---:|"]
    lines += [f"| {r['variant']} | {r['seconds_per_step']} | {r['images_per_second']} | {r['speedup']} |"
              for r in result["rows"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=12_800, help="training images (a per-class slice)")
    ap.add_argument("--steps", type=int, nargs=2, default=[8, 32], help="the two step counts")
    ap.add_argument("--rounds", type=int, default=1, help="interleaved rounds (the median is kept)")
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--child", nargs=2, metavar=("VARIANT", "STEPS"), help=argparse.SUPPRESS)
    ap.add_argument("--out", default="benchmarks/results/train_speed")
    args = ap.parse_args()
    if args.child:
        return _child(args.child[0], int(args.child[1]), args.images)
    lo, hi = args.steps
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in args.variants}
    for name in args.variants:  # compilation is cached on disk by inductor: warm it before timing
        if VARIANTS[name].get("compile"):
            _run(name, lo, args.images)
    for _ in range(args.rounds):
        short = {name: _run(name, lo, args.images) for name in args.variants}
        for name in args.variants:
            times[name].append((short[name], _run(name, hi, args.images)))
            print(json.dumps({"variant": name, "runs_s": times[name][-1]}), flush=True)
    rows = []
    for name in args.variants:
        per_step = statistics.median((b - a) / (hi - lo) for a, b in times[name])
        rows.append({"variant": name, "seconds_per_step": round(per_step, 3),
                     "images_per_second": round(BASE.batch_size / per_step, 1),
                     "runs_s": [[round(a, 1), round(b, 1)] for a, b in times[name]]})
    ref = rows[0]["images_per_second"] if rows and rows[0]["variant"].startswith("v0.2") else None
    for r in rows:
        r["speedup"] = round(r["images_per_second"] / ref, 2) if ref else None
    encode_s = _encode_seconds(args.images)
    result = {"images": args.images, "batch": BASE.batch_size, "steps": args.steps, "rounds": args.rounds,
              "threads": torch.get_num_threads(),
              "cache_encode_s_per_1000_images": round(1000 * encode_s / args.images, 2),
              "goal_speedup": 3.0, "rows": rows}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    out.with_suffix(".md").write_text(_markdown(result, lo, hi))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
