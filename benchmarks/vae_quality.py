"""VAE reconstruction quality on the validation split: PSNR of encode → decode (posterior mean), next to the
committed generator's VAE in the same run.

    .venv/bin/python benchmarks/vae_quality.py TAG=VAE.safetensors [TAG=... ...] [--every 5]

Each ``VAE.safetensors`` is a state dict of the embedded VAE (``RUN/model/checkpoint/vae_final.safetensors``,
or a ``step-vae-N/vae.safetensors`` of a training checkpoint). Images: every ``--every``-th of the 5,000
validation images (the last 500 training images of each class, never seen by any VAE), at the dataset's
resolution; PSNR in dataset space [0, 1], higher is better. Rows go to ``--out``.{json,md} (a tag already
there is replaced).
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch



@torch.no_grad()
def psnr(vae, adapter, images: torch.Tensor, batch: int = 250) -> float:
    """PSNR (dB) of ``images`` (b, C, H, W in [0, 1]) against their reconstructions from the posterior mean."""
    recon = torch.cat([adapter.to_data(vae.decode(vae.encode(adapter.to_model(images[i:i + batch]).to(vae.dtype))
                                                  .latent_dist.mean).sample.float())
                       for i in range(0, len(images), batch)])
    return 10 * math.log10(1.0 / float(((recon.clamp(0, 1) - images) ** 2).mean()))


def _write(out: Path, rows: list[dict], every: int, n: int) -> None:
    path = out.with_suffix(".json")
    old = json.loads(path.read_text())["rows"] if path.exists() else []
    rows = [r for r in old if r["tag"] not in {r["tag"] for r in rows}] + rows
    out.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"images": n, "every": every, "rows": rows}, indent=2) + "\n")
    lines = ["# VAE reconstruction on the validation split (PSNR, dB)", "",
             f"Command: `.venv/bin/python benchmarks/vae_quality.py TAG=FILE … --every {every} --committed TAG`", "",
             f"{n} validation images (every {every}th of the 5,000), encode → decode with the posterior mean, "
             "PSNR in [0, 1] pixel space (higher is better); each run also scores the committed VAE. Every VAE "
             "here: the embedded architecture from scratch on the 55,000 training images outside the validation "
             "split, batch 64, AdamW lr 1e-3, KL weight 1e-6, seed 0 (files: paths on the machine that made them). "
             "One checkpoint per row: a single run's step-to-step noise is not measured.", "",
             "| VAE | PSNR (dB) | file |", "|---|---:|---|"]
    lines += [f"| {r['tag']} | {r['psnr']} | {r.get('file', '')} |" for r in rows]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")


def main(argv=None) -> None:
    from safetensors.torch import load_file

    from vlcp.data.config import DataConfig
    from vlcp.models.embedded import build_vae, load_generator

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("vaes", nargs="*", metavar="TAG=FILE", help="VAE state dicts (safetensors) to score")
    ap.add_argument("--every", type=int, default=5, help="score every N-th validation image (default 5: 1,000)")
    ap.add_argument("--committed", default="committed", help="tag of the committed generator's VAE (e.g. v0.2)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/vae_quality"))
    args = ap.parse_args(argv)
    val = DataConfig(holdout_per_class=500).load("val")
    images = val.images(np.arange(0, len(val), args.every))
    model = load_generator()
    adapter = model.adapter(val.resolution, val.channels)
    rows = [{"tag": f"{args.committed} (committed)", "psnr": round(psnr(model.vae, adapter, images), 2)}]
    print(json.dumps(rows[-1]), flush=True)
    for item in args.vaes:
        tag, _, file = item.partition("=")
        vae = build_vae()
        vae.load_state_dict(load_file(file))
        rows.append({"tag": tag, "psnr": round(psnr(vae.eval(), adapter, images), 2), "file": file})
        print(json.dumps(rows[-1]), flush=True)
    _write(args.out, rows, args.every, len(images))


if __name__ == "__main__":
    main()
