"""The latents store: per-class shards of VAE latents, written as encoding goes, read one class at a time.

Layout under ``root``::

    index.json                       {"classes": [...], "class_names": [...], "shape": [C, H, W],
                                      "scaling_factor": s, "shard_size": n}
    <class>/<shard:05d>.safetensors  tensors "latents" (n, C, H, W) float32 (already × scaling_factor)
                                     and "ids" (n,) int64 dataset indices; metadata "file_names" (JSON list)

A shard is written atomically, so a crashed run resumes by skipping the shards already on disk.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from safetensors.numpy import load_file

from vlcp.errors import VlcpError
from vlcp.files.atomic import atomic_write_json, read_json


@dataclass
class ClassLatents:
    """One class's latents: ``ids`` (n,) int64, ``file_names`` (n,), ``latents`` (n, C, H, W) float32."""

    ids: np.ndarray
    file_names: list[str]
    latents: np.ndarray

    def flat(self) -> np.ndarray:
        """(n, C*H*W) float32 view for clustering."""
        return self.latents.reshape(len(self.latents), -1)


class LatentStore:
    """Read/write access to a latents folder (see module docstring)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def index(self) -> dict:
        return read_json(self.root / "index.json")

    def exists(self) -> bool:
        return (self.root / "index.json").exists()

    def init(self, classes: Sequence[str], class_names: Sequence[str], shape: Sequence[int],
             scaling_factor: float, shard_size: int) -> None:
        """Create (or check, when resuming) the index."""
        index = {"classes": list(classes), "class_names": list(class_names), "shape": list(shape),
                 "scaling_factor": float(scaling_factor), "shard_size": int(shard_size)}
        if self.exists() and self.index != index:
            old = self.index
            key = next(k for k in index if old.get(k) != index[k])
            raise VlcpError(f"{self.root / 'index.json'}: existing latents were made with {key} = "
                            f"{str(old.get(key))[:60]}, this command gives {str(index[key])[:60]}; "
                            f"use a new output folder (--out) or the same settings")
        atomic_write_json(self.root / "index.json", index)

    def classes(self) -> list[str]:
        return list(self.index["classes"])

    def class_names(self) -> list[str]:
        return list(self.index["class_names"])

    def shard_path(self, class_id: str, shard: int) -> Path:
        return self.root / class_id / f"{shard:05d}.safetensors"

    def has_shard(self, class_id: str, shard: int) -> bool:
        return self.shard_path(class_id, shard).exists()

    def write_shard(self, class_id: str, shard: int, ids: np.ndarray, file_names: Sequence[str],
                    latents: torch.Tensor | np.ndarray) -> None:
        from vlcp.files.tensors import check_latents, save_safetensors

        lat = latents.detach().cpu().float().numpy() if isinstance(latents, torch.Tensor) else latents
        check_latents({"latents": lat}, self.shard_path(class_id, shard),
                     f"the VAE made them from {file_names[0]} …; a float16 model can overflow: rerun with --dtype float32")
        save_safetensors(self.shard_path(class_id, shard), {"latents": np.ascontiguousarray(lat, dtype=np.float32),
                                                            "ids": np.asarray(ids, dtype=np.int64)},
                         metadata={"file_names": json.dumps(list(file_names))})

    def read_class(self, class_id: str) -> ClassLatents:
        """Concatenate one class's shards (ordered by shard number)."""
        shards = sorted((self.root / class_id).glob("*.safetensors"))
        if not shards:
            raise VlcpError(f"{self.root / class_id}: no latents for class {class_id!r} (run `vlcp encode` first)")
        ids, names, lats = [], [], []
        for s, p in enumerate(shards):
            if p.name != self.shard_path(class_id, s).name:
                raise VlcpError(f"{self.shard_path(class_id, s)}: missing (the class's shards run 0, 1, …; found "
                                f"{p.name} instead); rerun `vlcp encode` to redo it")
            n, i, lat = _read_shard(p)
            names += n
            ids.append(i)
            lats.append(lat)
        return ClassLatents(np.concatenate(ids), names, np.concatenate(lats))


def _read_shard(path: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(file names, ids, latents) of one shard; an unreadable or inconsistent shard is a ``VlcpError`` naming it."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), "np") as f:
            names = json.loads((f.metadata() or {})["file_names"])
        t = load_file(str(path))
        ids, latents = t["ids"], t["latents"]
    except (SafetensorError, OSError, ValueError, KeyError) as e:
        raise VlcpError(f"{path}: unreadable latents shard ({type(e).__name__}: {e}); delete it and rerun "
                        f"`vlcp encode` to redo it") from None
    _check_shard(path, names, ids, latents)
    return names, ids, latents


def _check_shard(path: Path, names, ids: np.ndarray, latents: np.ndarray) -> None:
    """One row of ``latents`` and one integer id per file name, floating-point latents of sane magnitude."""
    from vlcp.files.tensors import check_latents

    fix = "delete it and rerun `vlcp encode` to redo it"
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise VlcpError(f"{path}: metadata 'file_names' is not a list of names ({fix})")
    if latents.ndim != 4 or ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise VlcpError(f"{path}: expected 'latents' (n, C, H, W) and integer 'ids' (n,), got {latents.dtype} "
                        f"{list(latents.shape)} and {ids.dtype} {list(ids.shape)} ({fix})")
    if not len(names) == len(ids) == len(latents):
        raise VlcpError(f"{path}: {len(latents)} latent rows and {len(ids)} ids for {len(names)} file names; "
                        f"the shard is damaged ({fix})")
    check_latents({"latents": latents}, path, fix)
