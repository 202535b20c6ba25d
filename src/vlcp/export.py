"""``vlcp export RUN --format pt|hf``: the distilled set in the ecosystem's formats.

* ``pt`` — ``RUN/export/distilled.pt``, one ``torch.load``-able dict: ``images`` (uint8, N×C×H×W),
  ``labels`` (int64, the dataset's class integers), ``classes`` (class ids in label order),
  ``class_names`` and ``prompts``.
* ``hf`` — ``RUN/export/hf/``, a ``datasets`` folder (``datasets.load_from_disk``) with ``image``,
  ``label`` (a ``ClassLabel`` named in the dataset's order) and ``prompt`` columns.

Both are read from ``RUN/distilled/metadata.jsonl`` (Hugging Face imagefolder format).
"""
from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from vlcp.errors import VlcpError
from vlcp.files.atomic import atomic_write_bytes, read_json, read_jsonl

FORMATS = ("pt", "hf")


def distilled_records(run: Path) -> list[dict]:
    """The rows of ``RUN/distilled/metadata.jsonl`` (each with ``file_name``, ``label``, ``class``, ``prompt``)."""
    path = Path(run) / "distilled" / "metadata.jsonl"
    if not path.exists():
        raise VlcpError(f"{path}: not found (run `vlcp synthesize --run {run}` first)")
    rows = list(read_jsonl(path))
    if not rows or any("label" not in r for r in rows):
        raise VlcpError(f"{path}: no rows with a 'label' (written by an older vlcp; rerun `vlcp synthesize`)")
    check_labels_follow_folders(path, rows)
    check_every_class(path, rows, *run_classes(Path(run)))
    return rows


def run_classes(run: Path) -> tuple[list[str] | None, Path | None]:
    """The run's class ids in label order and the file that lists them: ``latents/index.json``, else
    ``prototypes.safetensors`` (its metadata); (None, None) when the run holds neither."""
    from vlcp.files.tensors import recorded_classes

    index = run / "latents" / "index.json"
    if index.exists():
        return [str(c) for c in read_json(index)["classes"]], index
    protos = run / "prototypes" / "prototypes.safetensors"
    classes = recorded_classes(protos) if protos.exists() else None
    return classes, (protos if classes else None)


def check_every_class(path: Path, rows: list[dict], classes: list[str] | None, source: Path | None) -> None:
    """Every class of the run (``classes``, listed in ``source``) has rows, each with its label (its place in
    ``classes``); without ``classes`` a class folder beside ``path`` holding images but no rows stops, and the
    labels must run 0..n-1."""
    labels = {Path(str(r["file_name"])).parent.as_posix(): r["label"] for r in rows}
    on_disk = {d.name for d in path.parent.iterdir() if d.is_dir() and any(d.glob("*.png"))}
    unlisted = sorted(on_disk - set(labels))
    missing = [c for c in classes if c not in labels] if classes is not None else unlisted
    if missing:
        raise VlcpError(f"{path}: no rows for class(es) {', '.join(map(repr, missing[:5]))} of the run; the export "
                        "would drop them (rerun `vlcp synthesize` to finish the folder)")
    wrong = [(c, n) for c, n in labels.items() if classes is not None and (c not in classes or classes.index(c) != n)]
    if wrong:
        c, n = wrong[0]
        where = f"the run's class {classes.index(c)}" if c in classes else "not a class of the run"
        raise VlcpError(f"{path}: folder {c!r} has label {n}, but {c!r} is {where} ({source}); fix the file or "
                        "rerun `vlcp synthesize`")
    gaps = sorted(set(range(max(labels.values()) + 1)) - set(labels.values()))
    if gaps:
        raise VlcpError(f"{path}: no rows with label {gaps[0]} (labels must run 0..{max(labels.values())}); the "
                        "export would leave a class empty (rerun `vlcp synthesize`)")


def check_labels_follow_folders(path: Path, rows: list[dict]) -> None:
    """The folder an image sits in is its class: a row whose ``class`` differs from its folder, or whose
    ``label`` differs from another row of the same folder (or equals another folder's), stops naming its line."""
    by_folder: dict[str, int] = {}
    by_label: dict[int, str] = {}
    for line, r in enumerate(rows, 1):
        folder = Path(str(r.get("file_name", ""))).parent.as_posix()
        label = r["label"]
        where = f"{path} line {line} ({r.get('file_name')!r})"
        if not isinstance(label, int) or isinstance(label, bool) or label < 0:
            raise VlcpError(f"{where}: 'label' must be an integer >= 0, got {label!r}")
        if "class" in r and str(r["class"]) != folder:
            raise VlcpError(f"{where}: 'class' {r['class']!r} disagrees with the folder {folder!r} the image sits in; "
                            "the folder is the label: fix the line or rerun `vlcp synthesize`")
        if by_folder.setdefault(folder, label) != label or by_label.setdefault(label, folder) != folder:
            raise VlcpError(f"{where}: label {label} disagrees with the other rows of folder {folder!r} or of label "
                            f"{label}; the folder is the label: fix the line or rerun `vlcp synthesize`")


def class_list(run: Path, rows: list[dict]) -> tuple[list[str], list[str]]:
    """(class ids, class names) in label order; names from the latents index when the run has one."""
    n = max(r["label"] for r in rows) + 1
    ids = [""] * n
    for r in rows:
        ids[r["label"]] = str(r.get("class", r["label"]))
    names = list(ids)
    index = Path(run) / "latents" / "index.json"
    if index.exists():
        found = dict(zip(read_json(index)["classes"], read_json(index)["class_names"]))
        names = [found.get(c, c) for c in ids]
    return ids, names


def export_pt(run: Path, out: Path) -> Path:
    """Write the tensor file (see module docstring) atomically; returns its path."""
    import torch

    rows = distilled_records(run)
    ids, names = class_list(run, rows)
    arrays = []
    for r in rows:
        with Image.open(Path(run) / "distilled" / r["file_name"]) as im:
            a = np.asarray(im)
        arrays.append(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))
    data = {"images": torch.from_numpy(np.stack(arrays)).to(torch.uint8),
            "labels": torch.tensor([r["label"] for r in rows], dtype=torch.int64),
            "classes": ids, "class_names": names, "prompts": [r.get("prompt", "") for r in rows]}
    buf = io.BytesIO()
    torch.save(data, buf)
    atomic_write_bytes(out, buf.getvalue())
    return out


def export_hf(run: Path, out: Path) -> Path:
    """Write a ``datasets`` folder (``load_from_disk``) atomically (a temporary folder renamed); returns it."""
    try:
        import datasets
    except ImportError:
        raise VlcpError("format 'hf' needs the datasets package (pip install datasets)") from None
    rows = distilled_records(run)
    ids, _ = class_list(run, rows)
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=ids),
                                  "prompt": datasets.Value("string")})
    ds = datasets.Dataset.from_dict(
        {"image": [{"bytes": (Path(run) / "distilled" / r["file_name"]).read_bytes(), "path": r["file_name"]}
                   for r in rows],
         "label": [r["label"] for r in rows], "prompt": [r.get("prompt", "") for r in rows]}, features=features)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    ds.save_to_disk(str(tmp))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def export(run: str | Path, fmt: str, out: str | Path | None = None) -> Path:
    """Export ``RUN/distilled`` as ``fmt`` (``pt`` or ``hf``) to ``out`` (default under ``RUN/export/``)."""
    run = Path(run)
    if fmt not in FORMATS:
        raise VlcpError(f"setting 'format': {fmt!r} is not one of {', '.join(FORMATS)}")
    if fmt == "pt":
        return export_pt(run, _check_out(Path(out), fmt) if out else run / "export" / "distilled.pt")
    return export_hf(run, _check_out(Path(out), fmt) if out else run / "export" / "hf")


def _check_out(out: Path, fmt: str) -> Path:
    """``--out`` must be a file path for pt, and for hf a new folder or one an earlier export wrote (it is
    replaced); anything else stops naming ``--out``."""
    if fmt == "pt" and out.is_dir():
        raise VlcpError(f"--out {out}: is a folder; format pt writes one file (give a file path, e.g. "
                        f"{out / 'distilled.pt'})")
    if fmt == "hf" and out.exists() and not (out / "dataset_info.json").is_file():
        what = "a file" if not out.is_dir() else "a folder that no export wrote"
        if out.is_file() or any(out.iterdir()):
            raise VlcpError(f"--out {out}: is {what}, and format hf replaces its --out folder (give a new folder)")
    return out


EXPORT_HELP = """Write the distilled set (RUN/distilled/metadata.jsonl and its images) in the ecosystem's formats.
pt: RUN/export/distilled.pt, one dict for torch.load: images (uint8, N x C x H x W), labels (int64, the
dataset's class integers), classes (class ids in label order), class_names and prompts.
hf: RUN/export/hf/, a datasets folder (datasets.load_from_disk) with image, label (a ClassLabel in the
dataset's order) and prompt columns."""


def add_parser(subparsers) -> None:
    """Register ``vlcp export``."""
    from vlcp.run.progress import add_progress_flag

    p = subparsers.add_parser("export", help="the distilled set as a tensor file (pt) or a datasets folder (hf)",
                              description=EXPORT_HELP)
    p.add_argument("run_folder", type=Path, nargs="?", default=None, metavar="RUN",
                   help="run folder holding distilled/metadata.jsonl (the same as --run)")
    p.add_argument("--run", type=Path, default=Path("runs/latest"), help="run folder (default: runs/latest)")
    p.add_argument("--format", choices=FORMATS, default="pt", help="pt: torch tensor file; hf: datasets folder "
                   "(default: pt)")
    p.add_argument("--out", type=Path, default=None,
                   help="output (default: RUN/export/distilled.pt or RUN/export/hf)")
    add_progress_flag(p)
    p.set_defaults(func=_cmd_export)


def _cmd_export(args) -> int:
    given = args.run != Path("runs/latest")
    if args.run_folder is not None and given and Path(args.run_folder) != Path(args.run):
        raise VlcpError(f"RUN {args.run_folder} and --run {args.run} name different run folders; give one")
    run = args.run_folder or args.run
    print(f"export: {export(run, args.format, args.out)}")
    return 0
