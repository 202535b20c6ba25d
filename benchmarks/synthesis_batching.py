"""Synthesis speed: prototypes batched per pipeline call against one image per call (the official
code's loop), same model, latents, prompts and seeds, in one run. Target: ≥ 4× on a 2-core CPU.

    .venv/bin/python benchmarks/synthesis_batching.py [--images 40] [--batch 40] [--steps 50]

Uses the committed embedded model (speed does not depend on the weights). Prints both timings, the
ratio, and the largest pixel difference between the two outputs (batching must not change images).
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from vlcp.models.embedded import load_generator
from vlcp.synthesize import SynthesizeConfig, make_sampler, synthesize_batch


def run(model, pipe, latents, prompts, config, batch):
    out, t0 = [], time.perf_counter()
    for i in range(0, len(latents), batch):
        seeds = list(range(i, min(i + batch, len(latents))))
        out.append(synthesize_batch(pipe, model, latents[i:i + batch], prompts[i:i + batch], seeds, config))
    return torch.cat(out), time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=40)
    ap.add_argument("--batch", type=int, default=40)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = load_generator()
    pipe = make_sampler(model)
    g = torch.Generator().manual_seed(0)
    latents = torch.randn(args.images, 4, 8, 8, generator=g)
    prompts = [f"The t-shirt is grey with short sleeves, variant {i}." for i in range(args.images)]
    config = SynthesizeConfig(steps=args.steps, guidance_scale=3.0, negative_prompt="")
    run(model, pipe, latents[:2], prompts[:2], config, 2)  # warm-up
    one, t_one = run(model, pipe, latents, prompts, config, 1)
    batched, t_batch = run(model, pipe, latents, prompts, config, args.batch)
    result = {"images": args.images, "batch": args.batch, "steps": args.steps, "threads": args.threads,
              "one_per_call_s": round(t_one, 2), "batched_s": round(t_batch, 2),
              "speedup": round(t_one / t_batch, 2), "max_abs_diff": float((one - batched).abs().max()),
              "target_speedup": 4.0}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
