"""The encode stage: every training image → VAE latents, stored per class (``vlcp.files.latents``).

Latents are ``latent_dist.mean`` (default) or a sample drawn with a seeded generator, times
``vae.config.scaling_factor``, at the model's resolution. Shards of ``shard_size`` images are
written atomically as they finish; a rerun skips the shards on disk — only when they were made
from the same model, dataset and settings (``vlcp.run.fingerprint``; ``force`` starts over). Under several processes each
takes every world-th shard of each class, so the store equals a one-process run.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vlcp.run.progress import progress_bar as tqdm  # a bar on a terminal, plain lines otherwise
from vlcp.settings.config import check, save_config
from vlcp.data import ImageDataset, class_indices
from vlcp.files.latents import LatentStore
from vlcp.models.generator import LatentDiffusion
from vlcp.run.state import note_inputs
from vlcp.run.lock import stage_lock
from vlcp.run.shards import Shard, barrier


@dataclass(frozen=True)
class EncodeConfig:
    sample: bool = field(default=False, metadata={"help": "store a latent sample instead of the mean"})
    seed: int = field(default=0, metadata={"help": "seed of the latent samples (with --sample)"})
    batch_size: int = field(default=256, metadata={"help": "images per VAE call"})
    shard_size: int = field(default=1024, metadata={"help": "images per stored shard"})

    def __post_init__(self) -> None:
        check(self.batch_size >= 1, "batch_size", "must be >= 1")
        check(self.shard_size >= 1, "shard_size", "must be >= 1")


@torch.no_grad()
def encode_images(model: LatentDiffusion, images: torch.Tensor, sample: bool = False,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """(b, C, H, W) images in [0, 1] at dataset resolution → scaled latents (b, 4, h, w) float32."""
    adapter = model.adapter(images.shape[-1], images.shape[1])
    vae = model.vae
    param = next(vae.parameters())
    x = adapter.to_model(images).to(param.device, param.dtype)
    dist = vae.encode(x).latent_dist
    z = dist.sample(generator) if sample else dist.mean
    return (z * model.latent_scale).float().cpu()


def _resume_parts(model: LatentDiffusion, dataset: ImageDataset, config: EncodeConfig) -> dict:
    """What determines the stored latents (see ``vlcp.run.fingerprint``); batch size does not."""
    from vlcp.run.fingerprint import dataset_digest, module_digest

    return {"sample": config.sample, "seed": config.seed if config.sample else None, "shard_size": config.shard_size,
            "model": module_digest(model.vae), "scaling_factor": model.latent_scale,
            "model_resolution": model.resolution, "dataset": dataset_digest(dataset)}


def _check_resume(store: LatentStore, parts: dict, force: bool, rank: int) -> None:
    """Continue only latents made from the same inputs and settings; ``force`` deletes them first."""
    from vlcp.run.fingerprint import check_resume, remove_paths

    def clear() -> None:
        old = store.classes() if store.exists() else []
        remove_paths([store.root / c for c in old] + [store.root / "index.json", store.root / "encode.toml"])

    has = store.exists() or any(store.root.glob("*/*.safetensors"))
    check_resume(store.root, "encode", parts, has, force=force, clear=clear, write=rank == 0)


def encode(model: LatentDiffusion, dataset: ImageDataset, out_dir: str | Path, config: EncodeConfig,
           shard: Shard = Shard(), progress: bool = True, force: bool = False) -> LatentStore:
    """Encode ``dataset`` into a latents store at ``out_dir``; returns the store.

    Shards on disk are kept only when made from the same model, dataset and settings (else a
    ``VlcpError``; ``force`` deletes them and starts over)."""
    store = LatentStore(out_dir)
    probe = encode_images(model, dataset.images([0]))
    with stage_lock(out_dir, "encode", shard):  # a second process on this folder stops here
        _check_resume(store, _resume_parts(model, dataset, config), force, shard.rank)
        barrier()
        if shard.rank == 0:
            # RUN/latents: the run records subset and model, before index.json exists (a store without a record
            # is refused as a deleted settings.toml)
            note_inputs(out_dir, "latents", dataset=dataset, model=model)
            store.init(dataset.classes, dataset.class_names, probe.shape[1:], model.latent_scale, config.shard_size)
            save_config(config, Path(out_dir) / "encode.toml")
        barrier()
        jobs = []
        for label, class_id in enumerate(dataset.classes):
            idx = class_indices(dataset, label)
            for s, start in enumerate(range(0, len(idx), config.shard_size)):
                if s % shard.world == shard.rank and not store.has_shard(class_id, s):
                    jobs.append((class_id, s, idx[start:start + config.shard_size]))
        for class_id, s, idx in tqdm(jobs, desc="encode", unit="shard", disable=not progress):
            gen = torch.Generator().manual_seed(config.seed * 1_000_003 + int(idx[0])) if config.sample else None
            lat = torch.cat([encode_images(model, dataset.images(idx[i:i + config.batch_size]), config.sample, gen)
                             for i in range(0, len(idx), config.batch_size)])
            store.write_shard(class_id, s, np.asarray(idx), [dataset.file_name(int(i)) for i in idx], lat)
        barrier()
    return store
