"""Issue 29, lever 6: a generator with more capacity, trained with v1.0's recipe.

v1.0's curve (benchmarks/results/generator_quality.md) flattened at step 10,000 with FD 21.4 against the
real-image floor 13.6 and CAS 82.9 against 86.0: the gap that is left may be the UNet's capacity. This
script trains a wider UNet (default block widths 96/192/192, 2.25× v1.0's parameters) on the same 55,000
training images (the 500 validation images per class held out) with v1.0's UNet recipe
(src/vlcp/resources/fashion_mnist_ldm/train.toml) on v1.0's own VAE, kept frozen (``vae_steps = 0``), so
the only change is the UNet. Snapshots every ``--snapshot-every`` steps feed the same FD / CAS curve
(``benchmarks/generator_quality.py``) and the same stop rule; the model is committed only if it beats v1.0
on that curve *and* on the IPC 10 validation score (``benchmarks/fashion_mnist_tuning.py``).

Resumable: an interrupted run restarts from ``OUT/checkpoint/`` (``vlcp.train``). Meant for the background
(``nice``) across sessions, or a lent GPU (``--device cuda``: 60 epochs fit in one 8-minute call there).

    nice -n 15 .venv/bin/python benchmarks/train_wider_generator.py --run /work/bench --out /work/wide/model
"""
from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

V1 = ROOT / "src" / "vlcp" / "resources" / "fashion_mnist_ldm"


def wider_model(v1, blocks: tuple[int, ...], seed: int):
    """v1.0's VAE, text encoder and schedule with a fresh UNet of ``blocks`` widths (seeded)."""
    from vlcp.models.embedded import build_unet
    from vlcp.models.generator import LatentDiffusion

    torch.manual_seed(seed)  # this script's entry point seeds the UNet's initialisation
    unet = build_unet(v1.unet.config.sample_size, v1.text_encoder.dim, blocks)
    return LatentDiffusion(v1.vae, unet, v1.scheduler, v1.text_encoder, v1.resolution, v1.channels,
                           pad_small=v1.pad_small)


def recipe(steps: int, snapshot_every: int):
    """v1.0's training settings with the VAE frozen and this run's length."""
    from vlcp.train import TrainConfig

    settings = tomllib.loads((V1 / "train.toml").read_text())
    settings.update(vae_steps=0, unet_steps=steps, snapshot_every=snapshot_every)
    return TrainConfig(**settings)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, required=True, help="bench folder (its captions/ are reused)")
    ap.add_argument("--out", type=Path, required=True, help="model folder (checkpoints, snapshots, final)")
    ap.add_argument("--blocks", type=int, nargs="+", default=[96, 192, 192], help="UNet block widths")
    ap.add_argument("--steps", type=int, default=10000)
    ap.add_argument("--snapshot-every", type=int, default=2000)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)

    from bench_common import Bench
    from vlcp.models import load_model

    bench = Bench(args.run)
    v1 = load_model(str(V1), device=args.device)
    model = wider_model(v1, tuple(args.blocks), seed=0).to(args.device)
    params = sum(p.numel() for p in model.unet.parameters())
    print(f"UNet {args.blocks}: {params / 1e6:.2f} M parameters (v1.0: "
          f"{sum(p.numel() for p in v1.unet.parameters()) / 1e6:.2f} M)", flush=True)
    from vlcp.train import train

    train(model, bench.train, bench.captions, args.out, recipe(args.steps, args.snapshot_every), progress=False)
    print(f"model: {args.out}", flush=True)


if __name__ == "__main__":
    main()
