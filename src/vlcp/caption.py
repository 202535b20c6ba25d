"""The caption stage: describe every training image with a captioner; write ``metadata.jsonl``.

Output lines ``{"file_name", "text", "label"}`` (Hugging Face imagefolder / diffusers text-to-image
format), in dataset order. Batches are appended to ``parts/metadata-<rank>-of-<world>.jsonl`` as
they finish; a rerun skips the batches already written — only when they were made from the same
images, class names, captioner and settings (``vlcp.run.fingerprint``; ``force`` starts over) — and the parts
are merged at the end.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path


from vlcp.run.progress import progress_bar as tqdm  # a bar on a terminal, plain lines otherwise
from vlcp.captioners import CAPTIONERS, Captioner
from vlcp.settings.config import check, check_choices, save_config
from vlcp.data import ImageDataset
from vlcp.data.base import source_images
from vlcp.errors import VlcpError
from vlcp.files.atomic import append_jsonl, atomic_write_text, read_jsonl
from vlcp.run.state import note_inputs
from vlcp.run.lock import stage_lock
from vlcp.run.shards import Shard, barrier


@dataclass(frozen=True)
class CaptionConfig:
    captioner: str = field(default="attributes", metadata={"help": "captioner", "choices": CAPTIONERS.names})
    batch_size: int = field(default=1024, metadata={"help": "images per captioner call"})
    limit: int = field(default=0, metadata={"help": "caption only the first N images (0: all)"})

    def __post_init__(self) -> None:
        check_choices(self)
        check(self.batch_size >= 1, "batch_size", "must be >= 1")
        check(self.limit >= 0, "limit", "must be >= 0")


def read_captions(path: str | Path) -> dict[str, str]:
    """file_name → text of a ``metadata.jsonl``. A line repeating an image with the same text is accepted; with
    other text it stops naming both lines (which caption is meant cannot be told), as does a field that is not
    valid Unicode text (a lone surrogate escape such as ``\\ud800``)."""
    out: dict[str, str] = {}
    first: dict[str, int] = {}
    for n, rec in enumerate(read_jsonl(path), 1):
        name, text = _caption_record(path, n, rec)
        if name in out and out[name] != text:
            raise VlcpError(f"{path}: record {n} gives {name!r} another caption than record {first[name]}; keep one "
                            "line per image (or rerun `vlcp caption --force`)")
        first.setdefault(name, n)
        out[name] = text
    return out


def _caption_record(path: str | Path, n: int, rec) -> tuple[str, str]:
    """(file_name, text) of record ``n``, checked: both strings, both encodable as UTF-8."""
    if not isinstance(rec, dict) or not isinstance(rec.get("file_name"), str) or not isinstance(rec.get("text"), str):
        raise VlcpError(f"{path}: record {n} needs string fields 'file_name' and 'text', got {str(rec)[:120]}")
    for key in ("file_name", "text"):
        try:
            rec[key].encode("utf-8")
        except UnicodeEncodeError as e:
            raise VlcpError(f"{path}: record {n} ({rec['file_name']!r}): {key!r} holds a lone surrogate "
                            f"{rec[key][e.start]!r} at character {e.start}, not text; fix or remove the escape") from None
    return rec["file_name"], rec["text"]


def _resume_parts(dataset: ImageDataset, captioner: Captioner, config: CaptionConfig, n: int) -> dict:
    """What determines the captions (see ``vlcp.run.fingerprint``): the images, class names, captioner and its
    options (its plain attributes); batch size does not."""
    from vlcp.run.fingerprint import dataset_digest, digest

    options = {k: v for k, v in sorted(vars(captioner).items())
               if not k.startswith("_") and isinstance(v, (str, int, float, bool, type(None)))}
    return {"captioner": config.captioner, "captioner_class": type(captioner).__name__, "options": digest(options),
            "limit": config.limit, "class_names": digest(list(dataset.class_names)),
            "dataset": dataset_digest(dataset, n)}


def _check_resume(out_dir: Path, parts: dict, force: bool, rank: int) -> None:
    """Continue only captions made from the same inputs and settings; ``force`` deletes them first."""
    from vlcp.run.fingerprint import check_resume, remove_paths

    names = ("parts", "metadata.jsonl", "caption.toml", "caption.log")
    has = any((out_dir / name).exists() for name in ("parts", "metadata.jsonl"))
    check_resume(out_dir, "caption", parts, has, force=force, write=rank == 0,
                 clear=lambda: remove_paths(out_dir / name for name in names))


def caption(dataset: ImageDataset, captioner: Captioner, out_dir: str | Path, config: CaptionConfig,
            shard: Shard = Shard(), progress: bool = True, force: bool = False) -> Path:
    """Caption ``dataset`` into ``out_dir/metadata.jsonl``; returns its path.

    Captions on disk are kept only when made from the same images and settings (else a ``VlcpError``;
    ``force`` deletes them and starts over)."""
    out_dir = Path(out_dir)
    n = min(len(dataset), config.limit) if config.limit else len(dataset)
    with stage_lock(out_dir, "caption", shard):  # a second process on this folder stops here
        _check_resume(out_dir, _resume_parts(dataset, captioner, config, n), force, shard.rank)
        barrier()
        part = out_dir / "parts" / f"metadata-{shard.suffix}.jsonl"
        done = {r["file_name"] for r in read_jsonl(part)} if part.exists() else set()
        todo = [(b, idx) for b, idx in shard.batches(n, config.batch_size)
                if not all(dataset.file_name(int(i)) in done for i in idx)]
        if shard.rank == 0:
            save_config(config, out_dir / "caption.toml")
            note_inputs(out_dir, "captions", dataset=dataset)  # RUN/captions: the run records its subset
        t0 = time.time()
        _caption_batches(dataset, captioner, config, [idx for _, idx in todo], part, done, progress)
        barrier()
        out = out_dir / "metadata.jsonl"
        if shard.rank == 0:
            _merge(out_dir, dataset, n, out)
            (out_dir / "caption.log").write_text(f"captioned {n} images in {time.time() - t0:.1f} s\n")
        barrier()
    return out


def _caption_batches(dataset: ImageDataset, captioner: Captioner, config: CaptionConfig, todo: list, part: Path,
                     done: set[str], progress: bool) -> None:
    """Caption the batches ``todo`` (dataset indices), appending each image not in ``done`` to ``part``."""
    for idx in tqdm(todo, desc="caption", unit="batch", disable=not progress):
        names = [dataset.class_names[int(dataset.labels[i])] for i in idx]
        # a captioner that sizes images itself (llava: its processor) gets the files as they are
        images = source_images(dataset, idx) if getattr(captioner, "reads_source_images", False) else dataset.images(idx)
        texts = captioner.caption(images, names)
        if len(texts) != len(idx):
            raise VlcpError(f"captioner {config.captioner!r} returned {len(texts)} captions for {len(idx)} images")
        append_jsonl(part, ({"file_name": dataset.file_name(int(i)), "text": t, "label": int(dataset.labels[i])}
                            for i, t in zip(idx, texts) if dataset.file_name(int(i)) not in done))


def _merge(out_dir: Path, dataset: ImageDataset, n: int, out: Path) -> None:
    records = {}
    for part in sorted((out_dir / "parts").glob("metadata-*.jsonl")):
        for rec in read_jsonl(part):
            records[rec["file_name"]] = rec
    import json

    lines = []
    for i in range(n):
        name = dataset.file_name(i)
        if name not in records:
            raise VlcpError(f"{out_dir / 'parts'}: no caption for {name!r}; rerun `vlcp caption` to finish")
        lines.append(json.dumps(records[name], ensure_ascii=False))
    atomic_write_text(out, "\n".join(lines) + "\n")
