"""Cheap sample-quality proxy for the embedded generator while it trains.

For each saved model (a model folder, or the train stage's ``checkpoint/`` folder: its VAE and the EMA
weights of the step folder ``state.json`` names), generate ``--per-class`` images per class from pure noise (strength 1, DDIM), each
prompted with the caption of a random training image of that class, and classify them with a
ConvNet-3 trained on the real training split (cached). Prints accuracy per class and overall;
appends a row to ``--out`` (JSON lines). Higher is better: the generator draws recognisable,
caption-faithful garments.

    .venv/bin/python benchmarks/generator_proxy.py runs/gen/model/checkpoint --label step2000
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch


def load_checkpoint_model(path: Path):
    """A model folder (vlcp_model.json), or a train checkpoint folder: fresh embedded model + VAE + EMA UNet."""
    from safetensors.torch import load_file

    from vlcp.files.atomic import read_json
    from vlcp.models.embedded import build_embedded, load_generator

    if (path / "vlcp_model.json").exists():
        return load_generator(path)
    model = build_embedded()
    model.vae.load_state_dict(load_file(str(path / "vae_final.safetensors")))
    model.vae.register_to_config(scaling_factor=read_json(path / "vae_final.json")["scaling_factor"])
    step = path  # version 2 (vlcp.files.checkpoint): the UNet's files in the step folder state.json names
    if (path / "state.json").exists() and "dir" in read_json(path / "state.json"):
        step = path / read_json(path / "state.json")["dir"]
    model.unet.load_state_dict(load_file(str(step / "unet.safetensors")))
    if (step / "ema.safetensors").exists():
        ema = load_file(str(step / "ema.safetensors"))
        params = [p for p in model.unet.parameters()]
        with torch.no_grad():
            for i, p in enumerate(params):
                p.copy_(ema[str(i)])
    model.vae.eval(), model.unet.eval()
    return model


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--label", default="")
    ap.add_argument("--captions", type=Path, default=Path("runs/gen/captions/metadata.jsonl"))
    ap.add_argument("--per-class", type=int, default=20)
    ap.add_argument("--guidance-scale", type=float, default=3.0)
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--cache", type=Path, default=Path("runs/bench"))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/generator_proxy.jsonl"))
    args = ap.parse_args(argv)

    from vlcp.caption import read_captions
    from vlcp.data.config import DataConfig
    from vlcp.evaluate.tensors import channel_stats
    from vlcp.evaluate.teacher import train_on_full
    from vlcp.synthesize import SynthesizeConfig, make_sampler, synthesize_batch

    t0 = time.perf_counter()
    train = DataConfig(holdout_per_class=500).load("train")
    mean, std = channel_stats(train)
    net, _ = train_on_full(train, model="convnet3", epochs=10, seed=0, mean=mean, std=std,
                           cache=args.cache / "teacher_convnet3.safetensors", progress=False)
    net.eval()
    captions = read_captions(args.captions)
    model = load_checkpoint_model(args.model)
    pipe = make_sampler(model)
    adapter = model.adapter(train.resolution, train.channels)
    rng = np.random.default_rng(0)
    config = SynthesizeConfig(strength=1.0, guidance_scale=args.guidance_scale, steps=args.steps, negative_prompt="")
    shape = (args.per_class, 4, model.unet.config.sample_size, model.unet.config.sample_size)
    per_class = {}
    for c in range(len(train.classes)):
        idx = rng.choice(np.flatnonzero(train.labels == c), size=args.per_class, replace=False)
        prompts = [captions[train.file_name(int(i))] for i in idx]
        seeds = [1000 * c + k for k in range(args.per_class)]
        x = adapter.to_data(synthesize_batch(pipe, model, torch.zeros(shape), prompts, seeds, config))
        with torch.no_grad():
            logits = net(((x - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)))
        per_class[train.classes[c]] = float((logits.argmax(1) == c).float().mean()) * 100
    overall = float(np.mean(list(per_class.values())))
    row = {"label": args.label, "model": str(args.model), "accuracy": round(overall, 2),
           "per_class": {k: round(v, 1) for k, v in per_class.items()}, "seconds": round(time.perf_counter() - t0, 1),
           "per_class_images": args.per_class, "guidance_scale": args.guidance_scale, "steps": args.steps}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row))


if __name__ == "__main__":
    main()
