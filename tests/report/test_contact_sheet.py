"""``vlcp figure``: each class's distilled images next to real training images, one PNG."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vlcp.data.base import TensorDataset
from vlcp.errors import VlcpError
from vlcp.report import figure
from vlcp.report.contact_sheet import GAP, HEADER, LABEL_WIDTH

SIDE, ZOOM = 6, 2


def _dataset() -> TensorDataset:
    """Class 0 images are all 200, class 1 images all 30 (so each cell's class can be read back)."""
    data = np.concatenate([np.full((5, 1, SIDE, SIDE), 200, np.uint8), np.full((5, 1, SIDE, SIDE), 30, np.uint8)])
    return TensorDataset(data, np.array([0] * 5 + [1] * 5), ["bag", "boot"], ["bag", "ankle boot"])


def _distilled(run: Path, counts: dict[str, int], value: int = 120) -> None:
    records = []
    for cid, n in counts.items():
        for k in range(n):
            path = run / "distilled" / cid / f"{k}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((SIDE, SIDE), value + k, np.uint8), mode="L").save(path)
            records.append({"file_name": f"{cid}/{k}.png", "class": cid, "label": list(counts).index(cid)})
    (run / "distilled" / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def _cell(sheet: Image.Image, row: int, col: int, n: int) -> tuple[int, int, int]:
    side = SIDE * ZOOM
    x = LABEL_WIDTH + col * side + (GAP if col >= n else 0) + side // 2
    return sheet.getpixel((x, HEADER + row * side + side // 2))


def test_each_class_row_holds_its_distilled_then_its_real_images(tmp_path):
    _distilled(tmp_path, {"bag": 2, "boot": 2})
    out = figure(tmp_path, _dataset(), zoom=ZOOM)
    assert out == tmp_path / "figure.png"
    sheet = Image.open(out).convert("RGB")
    assert sheet.size == (LABEL_WIDTH + 2 * 2 * SIDE * ZOOM + GAP, HEADER + 2 * SIDE * ZOOM)
    assert [_cell(sheet, 0, c, 2)[0] for c in range(4)] == [120, 121, 200, 200]  # bag: distilled, then real bags
    assert [_cell(sheet, 1, c, 2)[0] for c in range(4)] == [120, 121, 30, 30]    # boot: distilled, then real boots


def test_per_class_caps_both_sides_and_a_short_class_leaves_blanks(tmp_path):
    _distilled(tmp_path, {"bag": 3, "boot": 1})
    sheet = Image.open(figure(tmp_path, _dataset(), tmp_path / "f.png", per_class=2, zoom=ZOOM)).convert("RGB")
    assert sheet.size[0] == LABEL_WIDTH + 2 * 2 * SIDE * ZOOM + GAP
    assert _cell(sheet, 1, 1, 2) == (255, 255, 255)  # the boot row has one distilled image
    assert _cell(sheet, 1, 2, 2)[0] == 30


def test_a_run_of_other_classes_is_one_clear_error(tmp_path):
    _distilled(tmp_path, {"shirt": 2})
    with pytest.raises(VlcpError, match="no distilled image of the dataset's classes"):
        figure(tmp_path, _dataset())
    with pytest.raises(VlcpError, match="synthesize"):
        figure(tmp_path / "empty", _dataset())


def test_distilled_images_come_in_natural_order(tmp_path):
    from vlcp.report.contact_sheet import distilled_by_class

    _distilled(tmp_path, {"bag": 12})
    assert [p.name for p in distilled_by_class(tmp_path, ["bag", "boot"])[0]][:4] == ["0.png", "1.png", "2.png", "3.png"]
