"""A baseline's image folder: ``<out>/<class>/<n>.png`` plus ``baseline.json``, built aside and
swapped in whole. Shared by the selection baselines (``vlcp.evaluate.baselines``) and the medoid
baseline (``vlcp.evaluate.medoid``)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from vlcp.data import ImageDataset
from vlcp.errors import VlcpError
from vlcp.evaluate.tensors import images_uint8
from vlcp.files.atomic import atomic_write_json, read_json


def _png(img: np.ndarray) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(img[0])) if img.shape[0] == 1 else Image.fromarray(np.ascontiguousarray(img.transpose(1, 2, 0)))


def prepare_folder(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise VlcpError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / "baseline.json").exists():
        raise VlcpError(f"{out}: folder exists and is not a baseline folder (no baseline.json); choose another --out")
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return tmp


def commit_folder(tmp: Path, out: Path) -> Path:
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return out


def write_baseline(dataset: ImageDataset, indices: Sequence[int], out_dir: str | Path, *, method: str = "subset",
                   description: str = "", extra: dict | None = None) -> Path:
    """Write the chosen images as ``<out>/<class>/<n>.png`` plus ``baseline.json`` (method, how chosen,
    ipc, the source file of each image). The folder is built aside and swapped in whole."""
    out = Path(out_dir)
    idx = np.asarray(indices, dtype=np.int64)
    if len(idx) == 0:
        raise VlcpError("no images selected")
    labels = np.asarray(dataset.labels)[idx]
    tmp = prepare_folder(out)
    try:
        counters: dict[int, int] = {}
        sources = []
        for start in range(0, len(idx), 1024):
            part = idx[start:start + 1024]
            imgs = images_uint8(dataset, part).numpy()
            for j, i in enumerate(part):
                c = int(labels[start + j])
                n = counters.get(c, 0)
                counters[c] = n + 1
                rel = f"{dataset.classes[c]}/{n:05d}.png"
                (tmp / dataset.classes[c]).mkdir(exist_ok=True)
                _png(imgs[j]).save(tmp / rel, format="PNG")
                sources.append({"file": rel, "index": int(i), "source": dataset.file_name(int(i))})
        counts = [counters.get(c, 0) for c in range(len(dataset.classes))]
        meta = {"method": method, "description": description, "ipc": max(counts), "images": int(len(idx)),
                "per_class": dict(zip(dataset.classes, counts)), **(extra or {})}
        if len(idx) <= 20000:
            meta["selected"] = sources
        atomic_write_json(tmp / "baseline.json", meta)
        return commit_folder(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


BASELINE_FIELDS = {"method": str, "description": str, "ipc": int, "images": int, "per_class": dict}


def read_baseline_info(folder: str | Path) -> dict:
    """``<folder>/baseline.json`` ({} when absent), its fields checked: a wrong type (``"method": 5``) stops
    with one line naming the file and the field, instead of becoming a table column."""
    path = Path(folder) / "baseline.json"
    if not path.exists():
        return {}
    info = read_json(path)
    if not isinstance(info, dict):
        raise VlcpError(f"{path}: expected a JSON object (method, description, ipc, ...); rerun `vlcp baseline`")
    for key, kind in BASELINE_FIELDS.items():
        value = info.get(key)
        wrong = value is not None and (not isinstance(value, kind) or isinstance(value, bool))
        if wrong or (kind is dict and value is not None and not all(
                isinstance(n, int) and not isinstance(n, bool) for n in value.values())):
            raise VlcpError(f"{path}: field {key!r} is {value!r}, expected {_KIND_WORDS[kind]}; restore the file "
                            "or rerun `vlcp baseline` for this folder")
    return info


_KIND_WORDS = {str: "a string", int: "an integer", dict: "a mapping of class to image count"}
