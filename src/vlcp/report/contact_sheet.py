"""``vlcp figure``: one PNG with each class's distilled images next to as many real training images.

One row per class: the class name, the run's distilled images of that class (``RUN/distilled``, in
file order) and, after a gap, the same number of real images drawn at random (``seed``) from that
class's training split as the run recorded it (the validation hold-out excluded). Images are
enlarged by an integer ``zoom`` with nearest-neighbour pixels, so what is seen is what a network
trains on.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from vlcp.data.base import class_indices
from vlcp.errors import VlcpError
from vlcp.export import distilled_records
from vlcp.files.atomic import atomic_write_bytes
from vlcp.files.images import to_pil
from vlcp.report.markup import natural_key

GAP, LABEL_WIDTH, HEADER = 16, 110, 22


def _open(path: Path) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("RGB")


def _real_images(dataset, label: int, count: int, rng: np.random.Generator) -> list[Image.Image]:
    pool = class_indices(dataset, label)
    picked = np.sort(rng.choice(pool, size=min(count, len(pool)), replace=False))
    return [to_pil(image).convert("RGB") for image in dataset.images(picked)]


def distilled_by_class(run: Path, classes: list[str]) -> list[list[Path]]:
    """The distilled image files of each class id in ``classes`` (natural file order: 2 before 10)."""
    rows = distilled_records(run)
    out: list[list[Path]] = [[] for _ in classes]
    for r in sorted(rows, key=lambda r: natural_key(r["file_name"])):
        cls = str(r.get("class", ""))
        if cls in classes:
            out[classes.index(cls)].append(Path(run) / "distilled" / r["file_name"])
    return out


def figure(run: str | Path, dataset, out: str | Path | None = None, *, per_class: int = 0, zoom: int = 3,
           seed: int = 0) -> Path:
    """Write the figure of ``run`` (``dataset``: its training split) to ``out`` (default ``RUN/figure.png``).

    ``per_class``: images shown per class on each side (0: all distilled images of the class).
    """
    run = Path(run)
    if zoom < 1 or per_class < 0:
        raise VlcpError("figure: zoom must be >= 1 and per_class >= 0")
    files = distilled_by_class(run, list(dataset.classes))
    n = max((len(f) for f in files), default=0) if not per_class else per_class
    if not n or not any(files):
        raise VlcpError(f"{run / 'distilled'}: no distilled image of the dataset's classes "
                        f"({', '.join(dataset.classes[:3])}…); was the run made on this dataset?")
    side = dataset.resolution * zoom
    width = LABEL_WIDTH + 2 * n * side + GAP
    sheet = Image.new("RGB", (width, HEADER + len(files) * side), "white")
    draw = ImageDraw.Draw(sheet)
    draw.text((LABEL_WIDTH, 4), "distilled (vlcp)", fill="black")
    draw.text((LABEL_WIDTH + n * side + GAP, 4), "real (random training images)", fill="black")
    rng = np.random.default_rng(seed)
    for label, class_files in enumerate(files):
        y = HEADER + label * side
        draw.text((4, y + side // 2 - 6), dataset.class_names[label][:18], fill="black")
        row = [_open(f) for f in class_files[:n]] + [None] * (n - len(class_files[:n]))
        row += _real_images(dataset, label, n, rng)
        for i, im in enumerate(row):
            if im is not None:
                x = LABEL_WIDTH + i * side + (GAP if i >= n else 0)
                sheet.paste(im.resize((side, side), Image.NEAREST), (x, y))
    out = Path(out) if out is not None else run / "figure.png"
    from io import BytesIO

    buf = BytesIO()
    sheet.save(buf, format="PNG")
    atomic_write_bytes(out, buf.getvalue())
    return out


def _cmd_figure(args) -> int:
    from vlcp.run.state import recorded_data

    dataset = recorded_data(args.run).load("train")
    print(f"figure: {figure(args.run, dataset, args.out, per_class=args.per_class, zoom=args.zoom, seed=args.seed)}")
    return 0


def add_parser(subparsers) -> None:
    from vlcp.run.progress import add_progress_flag

    p = subparsers.add_parser("figure", help="a PNG of each class's distilled images next to real training images")
    p.add_argument("--run", type=Path, default=Path("runs/latest"), help="run folder (default: runs/latest)")
    p.add_argument("--out", type=Path, default=None, help="PNG file (default: RUN/figure.png)")
    p.add_argument("--per-class", type=int, default=0,
                   help="images per class on each side (default: 0, every distilled image of the class)")
    p.add_argument("--zoom", type=int, default=3, help="integer enlargement, nearest-neighbour (default: 3)")
    p.add_argument("--seed", type=_seed, default=0, help="seed of the real images drawn (default: 0)")
    add_progress_flag(p)
    p.set_defaults(func=_cmd_figure)


def _seed(text: str) -> int:
    """``--seed``'s value: an integer in [0, 2**32), else argparse's one-line error."""
    import argparse

    from vlcp.settings.config import SEED_LIMIT

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if not 0 <= value < SEED_LIMIT:
        raise argparse.ArgumentTypeError(f"must be an integer in [0, 2**32), got {value}")
    return value
