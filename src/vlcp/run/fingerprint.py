"""Resume that is never stale: a fingerprint of a stage's inputs and settings, stored with its outputs.

A per-image stage (caption, encode, synthesize) writes ``<out>/.fingerprint-<stage>.json`` — the parts that
determine its outputs (settings, a digest of the model weights, of the input files, …) — before its
first output. A rerun continues the partial work only when every part matches; otherwise it stops
with one line naming what changed. ``force=True`` deletes the stage's previous outputs and starts over.

The dataset part covers every input image (``dataset_digest``). Measured (``benchmarks/results/
fingerprint_cost.md``): sha256 of every file's bytes costs 2.5 s warm / 13 s cold on Fashion-MNIST as
60,000 PNGs and about 20 min on ImageNet-1k (1.28 M files, 144 GB); one ``stat`` per file (name, size,
modification time) costs 0.7 s and about 50 s. So ImageFolder files are fingerprinted by their stat,
in-memory arrays (IDX, CIFAR: 0.14 s for 60,000 images) by their bytes.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import torch

from vlcp.errors import VlcpError
from vlcp.files.atomic import atomic_write_json, read_json


def digest(obj: Any) -> str:
    """sha256 (first 16 hex digits) of a JSON-able object, keys sorted."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def file_digest(*paths: str | Path) -> str:
    """sha256 of the bytes of ``paths`` (in order), first 16 hex digits."""
    h = hashlib.sha256()
    for p in paths:
        h.update(Path(p).read_bytes())
    return h.hexdigest()[:16]


def module_digest(*modules: Any, sample: int = 4096) -> str:
    """A cheap digest of modules' weights: names, shapes, dtypes and up to ``sample`` evenly spaced
    values of every tensor (any change of training or dtype shows up; SD-sized UNets take < 1 s)."""
    h = hashlib.sha256()
    for m in modules:
        m = m if isinstance(m, torch.nn.Module) else getattr(m, "model", None)
        if not isinstance(m, torch.nn.Module):
            continue
        for name, t in m.state_dict().items():
            flat = t.detach().reshape(-1)
            step = max(1, flat.numel() // sample)
            vals = flat[::step][:sample].cpu()
            h.update(f"{name}{tuple(t.shape)}{t.dtype}".encode())
            h.update(vals.float().numpy().tobytes() if vals.dtype == torch.bfloat16 else vals.numpy().tobytes())
    return h.hexdigest()[:16]


def dataset_digest(dataset: Any, n: int | None = None) -> str:
    """Digest of a dataset's first ``n`` samples (default all): classes, size, resolution, file names,
    labels and every image (``vlcp.data.base.content_digest``: files by size and modification time,
    in-memory arrays by their bytes), so that changing any input image changes it."""
    from vlcp.data.base import content_digest

    n = len(dataset) if n is None else n
    names = [dataset.file_name(i) for i in range(n)]
    return digest({"classes": list(dataset.classes), "n": n, "res": int(dataset.resolution),
                   "channels": int(dataset.channels), "names": digest(names),
                   "labels": hashlib.sha256(np.asarray(dataset.labels[:n], np.int64).tobytes()).hexdigest()[:16],
                   "images": content_digest(dataset, range(n))[:16]})


def fingerprint_path(out_dir: str | Path, stage: str) -> Path:
    return Path(out_dir) / f".fingerprint-{stage}.json"


def _changes(old: Mapping, new: Mapping) -> list[str]:
    keys = sorted(set(old) | set(new))
    return [k for k in keys if old.get(k) != new.get(k)]


_DIGESTS = {"model", "dataset", "prototypes", "scheduler", "options", "class_names"}  # digests: name what changed, not the hashes


def _describe(key: str, old: Any, new: Any) -> str:
    simple = (int, float, str, bool, type(None))
    if isinstance(old, simple) and isinstance(new, simple) and key not in _DIGESTS and len(f"{old}{new}") < 60:
        return f"{key} {old!r} -> {new!r}"
    return key


def check_resume(out_dir: str | Path, stage: str, parts: Mapping[str, Any], has_outputs: bool,
                 force: bool = False, clear: Callable[[], None] | None = None, write: bool = True,
                 accept: Iterable[Mapping[str, Any]] = ()) -> None:
    """Continue ``stage``'s outputs in ``out_dir`` only if they were made from the same ``parts``.

    ``accept``: older spellings of the same parts (what an earlier vlcp wrote for these settings); a stored
    fingerprint equal to one of them matches too and is rewritten in the current form.

    Stops with a ``VlcpError`` naming what changed when the stored fingerprint differs (or outputs
    exist without one); with ``force`` calls ``clear()`` to delete them instead. Writes the new
    fingerprint when ``write`` (the process that owns the folder)."""
    path = fingerprint_path(out_dir, stage)
    parts = json.loads(json.dumps(dict(parts), default=str))
    old = read_json(path) if path.exists() else None
    same = [parts] + [json.loads(json.dumps(dict(a), default=str)) for a in accept]
    stale = (old is not None and old not in same) or (old is None and has_outputs)
    if stale and not force:
        if old is None:
            what = "outputs without a fingerprint (made by an older vlcp or another tool)"
        else:
            what = "made with other " + ", ".join(_describe(k, old.get(k), parts.get(k)) for k in _changes(old, parts))
        raise VlcpError(f"{Path(out_dir)}: existing {stage} output was {what}; rerun with --force to redo it, "
                        f"or use a new output folder")
    if write:
        if (stale or force) and clear is not None:
            clear()
        atomic_write_json(path, parts)


def remove_paths(paths: Iterable[str | Path]) -> None:
    """Delete files and folders (missing ones are fine); then empty parent folders are left as they are."""
    for p in paths:
        p = Path(p)
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink(missing_ok=True)
