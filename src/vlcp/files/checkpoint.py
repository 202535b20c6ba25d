"""Training checkpoints that resume exactly: everything that determines the next step.

Layout under ``<out>/checkpoint/``::

    state.json                 {"version": 2, "phase", "step", "dir", "scheduler", ...}   (written last)
    step-<phase>-<step>/       <module>.safetensors (model, EMA), optimizer.pt (weights_only),
                               rng-<rank>.safetensors + rng-<rank>.json (torch CPU/CUDA, numpy,
                               python and the run's own generators, per process)

``state.json`` is replaced atomically once the step folder is complete, so a kill at any point
leaves the previous checkpoint in force; older step folders are then removed. The data order is a
function of the step (``vlcp.train._Batches``), so the step restores it. Version-1 checkpoints (files
directly in ``checkpoint/``, no RNG state) still load; their generators are re-seeded from the step.
"""
from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Mapping

import numpy as np
import torch

from vlcp.errors import VlcpError
from vlcp.files.atomic import atomic_write_json, read_json
from vlcp.files.tensors import save_safetensors, torch_load_weights

VERSION = 2


def read_state(ckpt: Path) -> dict | None:
    """``state.json`` of the checkpoint folder, or None."""
    return read_json(ckpt / "state.json") if (ckpt / "state.json").exists() else None


def step_dir(ckpt: Path, state: Mapping) -> Path:
    """The folder holding a state's files (``ckpt`` itself for version-1 checkpoints)."""
    return ckpt / state["dir"] if state.get("dir") else ckpt


def capture_rng(generators: Mapping[str, torch.Generator]) -> tuple[dict[str, torch.Tensor], dict]:
    """Every RNG state of this process: (tensors, JSON-able rest)."""
    tensors = {f"gen.{k}": g.get_state() for k, g in generators.items()}
    tensors["torch"] = torch.get_rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"cuda.{i}"] = s
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    tensors["numpy"] = torch.from_numpy(keys.astype(np.int64))
    version, pstate, gauss_next = random.getstate()
    return tensors, {"numpy": [name, int(pos), int(has_gauss), float(gauss)],
                     "python": [version, list(pstate), gauss_next]}


def restore_rng(tensors: Mapping[str, torch.Tensor], rest: Mapping, generators: Mapping[str, torch.Generator]) -> None:
    """Undo ``capture_rng``."""
    for k, g in generators.items():
        g.set_state(tensors[f"gen.{k}"])
    torch.set_rng_state(tensors["torch"])
    cuda = [tensors[k] for k in sorted((k for k in tensors if k.startswith("cuda.")), key=lambda s: int(s[5:]))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    name, pos, has_gauss, gauss = rest["numpy"]
    np.random.set_state((name, tensors["numpy"].numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, pstate, gauss_next = rest["python"]
    random.setstate((version, tuple(pstate), gauss_next))


def save_checkpoint(ckpt: Path, state: dict, modules: Mapping[str, Mapping[str, torch.Tensor]], optimizer,
                    generators: Mapping[str, torch.Generator], rank: int = 0, is_main: bool = True,
                    wait=lambda: None) -> None:
    """Write one checkpoint: ``modules`` (name → state dict), the optimizer, this process's RNGs;
    then (main process, after ``wait()``) ``state.json`` pointing at it, and drop older step folders."""
    name = f"step-{state['phase']}-{state['step']:08d}"
    folder = ckpt / name
    tensors, rest = capture_rng(generators)
    folder.mkdir(parents=True, exist_ok=True)
    save_safetensors(folder / f"rng-{rank}.safetensors", tensors)
    atomic_write_json(folder / f"rng-{rank}.json", rest)
    if is_main:
        for key, sd in modules.items():
            save_safetensors(folder / f"{key}.safetensors", {k: v.contiguous() for k, v in sd.items()})
        tmp = folder / ".optimizer.pt.tmp"
        torch.save(optimizer.state_dict(), tmp)
        tmp.replace(folder / "optimizer.pt")
    wait()
    if is_main:
        atomic_write_json(ckpt / "state.json", {**state, "version": VERSION, "dir": name})
        for old in ckpt.glob("step-*"):
            if old.name != name:
                shutil.rmtree(old, ignore_errors=True)
        for legacy in ("unet.safetensors", "vae.safetensors", "ema.safetensors", "optimizer.pt"):
            (ckpt / legacy).unlink(missing_ok=True)


def load_tensors(ckpt: Path, state: Mapping, key: str) -> dict[str, torch.Tensor]:
    """The state dict ``key`` of a checkpoint."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = step_dir(ckpt, state) / f"{key}.safetensors"
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise VlcpError(f"{path}: cannot read checkpoint ({e}); delete {ckpt} to start over") from None


def load_optimizer(ckpt: Path, state: Mapping, optimizer) -> None:
    """The optimizer's state from ``optimizer.pt``, read weights-only: a file holding more than tensors (a
    pickle with code) or a damaged one stops with one line naming it, never advice to load it unsafely."""
    path = step_dir(ckpt, state) / "optimizer.pt"
    saved = torch_load_weights(path, fix=f"delete {ckpt} to start over")
    try:
        optimizer.load_state_dict(saved)
    except (OSError, RuntimeError, ValueError, EOFError, KeyError, TypeError) as e:
        raise VlcpError(f"{path}: cannot read checkpoint ({e}); delete {ckpt} to start over") from None


def load_rng(ckpt: Path, state: Mapping, generators: Mapping[str, torch.Generator], rank: int = 0) -> bool:
    """Restore this process's RNGs; False for a version-1 checkpoint (no RNG state saved)."""
    folder = step_dir(ckpt, state)
    if not (folder / f"rng-{rank}.safetensors").exists():
        return False
    restore_rng(load_tensors(ckpt, state, f"rng-{rank}"), read_json(folder / f"rng-{rank}.json"), generators)
    return True
