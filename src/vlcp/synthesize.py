"""The synthesize stage: img2img from each image prototype, conditioned on its text prototype.

Uses the stock ``StableDiffusionImg2ImgPipeline``: the prototype latents are passed as ``image``
(4-channel latents go straight to noising), the prompts as ``prompt_embeds`` from the model's text
encoder, with a negative prompt for classifier-free guidance and a DDIM scheduler derived from the
model's training schedule. Prototypes are batched; each image has its own seeded generator
(seed = ``seed`` + global prototype number), and a batch holds only prompts of one context length
(CLIP's long-prompt chunk count, ``batch_groups``): a shorter prompt is never extended with
empty-prompt chunks because of a longer neighbour, so batching does not change the images.
Images are saved at the dataset's resolution as ``<out>/<class>/<n>.png`` with ``manifest.jsonl``
(per-process parts, appended as batches finish, live in the hidden ``<out>/.parts/``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file
from tqdm.auto import tqdm

from vlcp.config import check, save_config
from vlcp.errors import VlcpError
from vlcp.imageio import save_png
from vlcp.io import append_jsonl, atomic_write_text, read_json, read_jsonl
from vlcp.models.generator import LatentDiffusion, PixelAdapter
from vlcp.shards import Shard, barrier


@dataclass(frozen=True)
class SynthesizeConfig:
    strength: float = field(default=0.7, metadata={"help": "noise level of the prototype latents (0..1]"})
    guidance_scale: float = field(default=10.0, metadata={"help": "classifier-free guidance scale (paper: 10)"})
    steps: int = field(default=50, metadata={"help": "DDIM steps over the full schedule"})
    negative_prompt: str = field(default="cartoon, anime, painting", metadata={"help": "negative prompt"})
    batch_size: int = field(default=32, metadata={"help": "prototypes per pipeline call"})
    seed: int = field(default=0, metadata={"help": "base seed; image i uses seed + i"})
    image_size: int = field(default=0, metadata={"help": "saved image side (0: the dataset's resolution)"})

    def __post_init__(self) -> None:
        check(0 < self.strength <= 1, "strength", "must be in (0, 1]")
        check(self.guidance_scale >= 0, "guidance_scale", "must be >= 0")
        check(self.steps >= 1, "steps", "must be >= 1")
        check(self.batch_size >= 1, "batch_size", "must be >= 1")
        check(self.image_size >= 0, "image_size", "must be >= 0")


@dataclass(frozen=True)
class Prototype:
    """One image to synthesize: ``number`` (global order), class id, cluster, latent (C, h, w), prompt."""

    number: int
    class_id: str
    cluster: int
    latent: torch.Tensor
    prompt: str


def load_prototypes(prototypes_dir: str | Path) -> list[Prototype]:
    """Read ``prototypes.safetensors`` + ``text_prototypes.json`` into a list in class/cluster order."""
    d = Path(prototypes_dir)
    for name in ("prototypes.safetensors", "text_prototypes.json"):
        if not (d / name).exists():
            raise VlcpError(f"{d / name}: not found (run `vlcp prototypes` first)")
    centres = load_file(str(d / "prototypes.safetensors"))
    texts = read_json(d / "text_prototypes.json")["classes"]
    out = []
    for class_id, prompts in texts.items():
        if class_id not in centres:
            raise VlcpError(f"{d / 'prototypes.safetensors'}: no centres for class {class_id!r}")
        lat = centres[class_id]
        if len(prompts) != len(lat):
            raise VlcpError(f"{d}: class {class_id!r} has {len(lat)} centres but {len(prompts)} prompts")
        for p in prompts:
            out.append(Prototype(len(out), class_id, int(p["cluster"]), lat[int(p["cluster"])].float(), p["text"]))
    return out


def context_length(encoder, prompt: str, negative: str) -> int:
    """The chunk count a prompt and its negative share in ``encode_pair`` (1 for fixed-length encoders)."""
    count = getattr(encoder, "num_chunks", None)
    return max(count(prompt), count(negative)) if count is not None else 1


def batch_groups(protos: list[Prototype], batch_size: int, key) -> list[list[Prototype]]:
    """Batches of at most ``batch_size`` prototypes with equal ``key(prototype)`` (the context length),
    groups in order of first appearance, prototypes in their global order within a group."""
    groups: dict[int, list[Prototype]] = {}
    for p in protos:
        groups.setdefault(key(p), []).append(p)
    return [g[i:i + batch_size] for g in groups.values() for i in range(0, len(g), batch_size)]


def make_pipeline(model: LatentDiffusion):
    """The stock img2img pipeline around the model's modules (no tokenizer: prompts go in as embeddings)."""
    from diffusers import DDIMScheduler, StableDiffusionImg2ImgPipeline

    scheduler = DDIMScheduler.from_config(model.scheduler.config, clip_sample=False, set_alpha_to_one=False,
                                          steps_offset=1)
    pipe = StableDiffusionImg2ImgPipeline(vae=model.vae, text_encoder=None, tokenizer=None, unet=model.unet,
                                          scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                          image_encoder=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@torch.no_grad()
def synthesize_batch(pipe, model: LatentDiffusion, latents: torch.Tensor, prompts: list[str], seeds: list[int],
                     config: SynthesizeConfig) -> torch.Tensor:
    """Img2img for a batch of prototype latents (b, 4, h, w); returns model-space images in [-1, 1]."""
    from vlcp.models.text import encode_pair

    param = next(model.unet.parameters())
    # one length for both (CLIP: the negative prompt gets as many 75-token chunks as the longest prompt)
    cond, uncond = encode_pair(model.text_encoder, prompts, [config.negative_prompt] * len(prompts))
    cond, uncond = cond.to(param.device, param.dtype), uncond.to(param.device, param.dtype)
    gens = [torch.Generator(device=param.device).manual_seed(s) for s in seeds]
    out = pipe(image=latents.to(param.device, param.dtype), prompt_embeds=cond, negative_prompt_embeds=uncond,
               strength=config.strength, guidance_scale=config.guidance_scale,
               num_inference_steps=config.steps, generator=gens, output_type="pt")
    return out.images.float() * 2 - 1


def synthesize(model: LatentDiffusion, prototypes_dir: str | Path, out_dir: str | Path, config: SynthesizeConfig,
               data_resolution: int, data_channels: int, shard: Shard = Shard(), progress: bool = True) -> Path:
    """Synthesize one image per prototype into the ImageFolder ``out_dir``; returns ``out_dir``."""
    out_dir = Path(out_dir)
    protos = load_prototypes(prototypes_dir)
    res = config.image_size or data_resolution
    adapter = model.adapter(res, data_channels)
    part = out_dir / ".parts" / f"manifest-{shard.suffix}.jsonl"
    done = {r["number"] for r in read_jsonl(part)} if part.exists() else set()
    if shard.rank == 0:
        save_config(config, out_dir / "synthesize.toml")
    pipe = make_pipeline(model)
    batches = batch_groups(protos, config.batch_size,
                           lambda p: context_length(model.text_encoder, p.prompt, config.negative_prompt))
    mine = [b for n, b in enumerate(batches) if n % shard.world == shard.rank]
    mine = [[p for p in b if p.number not in done] for b in mine]
    for batch in tqdm([b for b in mine if b], desc="synthesize", unit="batch", disable=not progress):
        seeds = [config.seed + p.number for p in batch]
        images = adapter.to_data(synthesize_batch(pipe, model, torch.stack([p.latent for p in batch]),
                                                  [p.prompt for p in batch], seeds, config))
        records = []
        for p, img, seed in zip(batch, images, seeds):
            rel = f"{p.class_id}/{p.cluster}.png"
            save_png(img, out_dir / rel)
            records.append({"number": p.number, "file_name": rel, "class": p.class_id, "prototype": p.cluster,
                            "prompt": p.prompt, "seed": seed, "strength": config.strength,
                            "guidance_scale": config.guidance_scale, "steps": config.steps,
                            "negative_prompt": config.negative_prompt})
        append_jsonl(part, records)
    barrier()
    if shard.rank == 0:
        records = {}
        for p in sorted((out_dir / ".parts").glob("manifest-*.jsonl")):
            for r in read_jsonl(p):
                records[r["number"]] = r
        missing = [p.number for p in protos if p.number not in records]
        if missing:
            raise VlcpError(f"{out_dir / '.parts'}: {len(missing)} prototypes not synthesized; rerun to finish")
        atomic_write_text(out_dir / "manifest.jsonl",
                          "".join(json.dumps(records[p.number], ensure_ascii=False) + "\n" for p in protos))
    barrier()
    return out_dir


@torch.no_grad()
def decode_latents(model: LatentDiffusion, latents: torch.Tensor, adapter: PixelAdapter) -> torch.Tensor:
    """Scaled latents (b, 4, h, w) → dataset-space images in [0, 1] (no diffusion)."""
    param = next(model.vae.parameters())
    x = model.vae.decode(latents.to(param.device, param.dtype) / model.latent_scale).sample
    return adapter.to_data(x.float().cpu())


def decode_prototypes(model: LatentDiffusion, prototypes_dir: str | Path, out_dir: str | Path,
                      data_resolution: int, data_channels: int) -> Path:
    """The k-means baseline: each prototype latent decoded by the VAE, saved as ``<out>/<class>/<n>.png``."""
    out_dir = Path(out_dir)
    adapter = model.adapter(data_resolution, data_channels)
    centres = load_file(str(Path(prototypes_dir) / "prototypes.safetensors"))
    for class_id, lat in centres.items():
        for n, img in enumerate(decode_latents(model, lat.float(), adapter)):
            save_png(img, out_dir / class_id / f"{n}.png")
    return out_dir


def decode_centroids(run_dir: str | Path, out_dir: str | Path) -> Path:
    """The k-means baseline of a run folder: loads the run's model (``RUN/model`` when trained there,
    else the one named in ``RUN/model.json``, else the embedded default) and its dataset settings
    (``RUN/data.toml``), then ``decode_prototypes``. A convenience for ``vlcp baseline --method kmeans``."""
    from vlcp.cliutil import toml_section
    from vlcp.config import from_dict
    from vlcp.data.config import DataConfig
    from vlcp.models import load_model

    run_dir = Path(run_dir)
    spec = str(run_dir / "model") if (run_dir / "model" / "vlcp_model.json").exists() else None
    if spec is None and (run_dir / "model.json").exists():
        spec = read_json(run_dir / "model.json").get("model")
    data_toml = run_dir / "data.toml"
    data = from_dict(DataConfig, toml_section(data_toml, "data") if data_toml.exists() else {}, str(data_toml))
    train = data.load("train")
    return decode_prototypes(load_model(spec), run_dir / "prototypes", out_dir, train.resolution, train.channels)
