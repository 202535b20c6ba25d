"""Generator quality that does not saturate, on the validation split: a Fréchet distance in ConvNet-3
features and a classification accuracy score (CAS), each next to the same measure of real images.

    .venv/bin/python benchmarks/generator_quality.py --run RUN --model v0.2 embedded CAPTIONS \\
        [--model v1.0@2000 RUN/model/snapshots/step-2000 RUN/captions/metadata.jsonl ...] \\
        [--per-class 100] [--steps 25] [--guidance-scale 3] [--cas-epochs 100] [--feature-epochs 2]

The fixed sample: ``--per-class`` training images per class (seeded), drawn from the 55,000 images
outside the validation split (the last 500 of each class). Each model generates one image per
sampled image from pure noise, prompted with that image's caption in the given captions file (the
captions the model was trained with), seed = sample number, DDIM (``mode_guided`` with λ = 0, which
is text-to-image sampling). Against the 5,000 validation images:

- FD: the Fréchet distance of the penultimate features (the 2,048 inputs of the head) of a ConvNet-3
  trained ``--feature-epochs`` epochs on the real training split (cached in RUN); lower is better.
  Floor: the sampled real training images themselves.
- CAS: a ConvNet-3 trained on the generated images alone (``dc`` protocol, ``--cas-epochs``), tested
  on the validation split; higher is better. Reference: the same network trained on the sampled real
  images.

Rows accumulate in ``--out`` (.json, .md): a model tag already there is replaced, others kept.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

REAL = "real training images"


def _sample(train, per_class: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    labels = np.asarray(train.labels)
    return np.sort(np.concatenate([rng.choice(np.flatnonzero(labels == c), per_class, replace=False)
                                   for c in range(len(train.classes))]))


def _generate(spec: str, prompts: list[str], data, args) -> torch.Tensor:
    """One image per prompt from pure noise (seed = index), dataset space [0, 1], uint8-rounded."""
    from vlcp.models import load_model
    from vlcp.synthesize import SynthesizeConfig, make_sampler, synthesize_batch

    model = load_model(spec)
    config = SynthesizeConfig(sampler="mode_guided", mode_guidance=0.0, steps=args.steps,
                              guidance_scale=args.guidance_scale, negative_prompt="")
    sampler, adapter = make_sampler(model, "mode_guided"), model.adapter(data.resolution, data.channels)
    side = int(model.unet.config.sample_size)
    shape = (int(model.unet.config.in_channels), side, side)
    out = []
    for i in range(0, len(prompts), args.batch):
        chunk = prompts[i:i + args.batch]
        x = synthesize_batch(sampler, model, torch.zeros(len(chunk), *shape), chunk,
                             list(range(i, i + len(chunk))), config)
        out.append(adapter.to_data(x).mul(255).round().div(255))
    return torch.cat(out)


def _score(images: torch.Tensor, labels: torch.Tensor, ctx) -> dict:
    from vlcp.evaluate.protocols import PROTOCOLS
    from vlcp.evaluate.sample_quality import classification_accuracy_score, frechet_distance, penultimate_features

    t0 = time.perf_counter()
    fd = frechet_distance(penultimate_features(ctx["net"], images, ctx["mean"], ctx["std"]), ctx["val_features"])
    t1 = time.perf_counter()
    cas = classification_accuracy_score(images, labels, ctx["val_x"], ctx["val_y"], PROTOCOLS.get("dc"),
                                        epochs=ctx["cas_epochs"], mean=ctx["mean"], std=ctx["std"],
                                        num_classes=ctx["classes"])
    return {"fd": round(fd, 2), "cas": round(cas, 2), "fd_s": round(t1 - t0, 1),
            "cas_s": round(time.perf_counter() - t1, 1)}


def _write(out: Path, rows: list[dict], args) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    old = json.loads(out.with_suffix(".json").read_text())["rows"] if out.with_suffix(".json").exists() else []
    tags = {r["tag"] for r in rows}
    rows = [r for r in old if r["tag"] not in tags] + rows
    settings = {"per_class": args.per_class, "steps": args.steps, "guidance_scale": args.guidance_scale,
                "cas_epochs": args.cas_epochs, "feature_epochs": args.feature_epochs}
    out.with_suffix(".json").write_text(json.dumps({"settings": settings, "rows": rows}, indent=2) + "\n")
    lines = ["# Generator quality on the validation split (FD in ConvNet-3 features, CAS)", "",
             "Command: `.venv/bin/python benchmarks/generator_quality.py --run RUN --model TAG FOLDER CAPTIONS …`"
             f" (settings: {json.dumps(settings)})", "",
             f"{args.per_class} images per class generated from pure noise with the captions of as many sampled "
             "training images; FD against the 5,000 validation images (lower is better), CAS = accuracy on the "
             "validation split of a ConvNet-3 trained on those images alone (higher is better). The "
             f"'{REAL}' row is the same measure of the sampled real images: the floor of FD and the "
             "reference of CAS.", "",
             "| model | UNet step | FD ↓ | CAS ↑ (%) | notes |", "|---|---:|---:|---:|---|"]
    lines += [f"| {r['tag']} | {r.get('step', '')} | {r['fd']} | {r['cas']} | {r.get('note', '')} |" for r in rows]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")


def main() -> None:
    from vlcp.caption import read_captions
    from vlcp.data.config import DataConfig
    from vlcp.evaluate.sample_quality import penultimate_features
    from vlcp.evaluate.teacher import train_on_full
    from vlcp.evaluate.tensors import channel_stats, split_tensors

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", type=Path, required=True, help="cache folder (the feature network)")
    ap.add_argument("--model", nargs=3, action="append", default=[], metavar=("TAG", "FOLDER", "CAPTIONS"),
                    help="a model to score: tag, model folder (or 'embedded'), the captions it was trained on")
    ap.add_argument("--per-class", type=int, default=100)
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--guidance-scale", type=float, default=3.0)
    ap.add_argument("--cas-epochs", type=int, default=100)
    ap.add_argument("--feature-epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--real", action="store_true", help=f"also score the '{REAL}' row")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/generator_quality"))
    args = ap.parse_args()
    data = DataConfig(holdout_per_class=500)
    train, val = data.load("train"), data.load("val")
    mean, std = channel_stats(train)
    net, _ = train_on_full(train, epochs=args.feature_epochs, mean=mean, std=std, progress=False,
                           cache=args.run / f"features_convnet3_e{args.feature_epochs}.safetensors")
    val_x, val_y = split_tensors(val)
    val_x = val_x.float() / 255
    ctx = {"net": net, "mean": mean, "std": std, "val_x": val_x, "val_y": val_y, "cas_epochs": args.cas_epochs,
           "classes": len(train.classes), "val_features": penultimate_features(net, val_x, mean, std)}
    picked = _sample(train, args.per_class)
    labels = torch.as_tensor(np.asarray(train.labels)[picked], dtype=torch.long)
    rows = []
    if args.real:
        rows.append({"tag": REAL, **_score(train.images(picked), labels, ctx), "note": f"{len(picked)} images"})
        print(json.dumps(rows[-1]), flush=True)
    for tag, folder, captions_file in args.model:
        captions = read_captions(Path(captions_file))
        prompts = [captions[train.file_name(int(i))] for i in picked]
        t0 = time.perf_counter()
        images = _generate(folder, prompts, train, args)
        row = {"tag": tag, "model": folder, "gen_s": round(time.perf_counter() - t0, 1), **_score(images, labels, ctx)}
        step = folder.rstrip("/").rsplit("step-", 1)
        if len(step) == 2 and step[1].isdigit():
            row["step"] = int(step[1])
        rows.append(row)
        print(json.dumps(row), flush=True)
    _write(args.out, rows, args)


if __name__ == "__main__":
    main()
