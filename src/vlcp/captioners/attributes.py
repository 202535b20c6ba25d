"""``attributes``: an offline, deterministic stand-in for the paper's LLaVA prompt.

It measures attributes in the pixels of each image and writes a description in the style of the
paper's captions ("Describe the physical appearance of the {CLASSNAME} in the image. Include
details about its shape, posture, color, and any distinct features."):

- tone (mean brightness of the object; hue words for colour images), size (area), width and length
  (bounding box), texture or print (spread of brightness and edge energy inside the object),
- tops and dresses: sleeves — short when the silhouette narrows below the shoulders (the sleeves
  end above the waist); long when both sides hold an arm (a seam: a dark or empty column running
  down the side of the torso; on a narrow top only an empty one counts, as prints make dark lines)
  or a top is wider than a torso alone; else sleeveless, as are shoulders made of two straps with
  a neckline between them (dresses: thin straps); pullovers, coats, sweaters, jackets and hoodies
  are never sleeveless,
- trousers: leg width, length, and how much of the frame they fill (plural wording),
- footwear: orientation (the toe points to the side with the lower profile), heel or sole (a gap
  under the middle of the shoe is a raised heel; a bright bottom band is a light sole), height
  (ankle-high or low-cut), an open strappy upper (many empty pixels inside the outline) in place
  of the surface words,
- bags: handle (a hole enclosed above the body), shape (tall / boxy / broad from the box's aspect).

Every attribute is quantised into a few words, so images that differ in a measured attribute get
different descriptions. Measurements are vectorised over a batch (about 60,000 28×28 images in a
few seconds on a CPU).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from vlcp.captioners.base import CAPTIONERS

FOOTWEAR = ("sandal", "sneaker", "boot", "shoe", "loafer", "heel")
TOPS = ("shirt", "pullover", "coat", "top", "sweater", "jacket", "hoodie", "dress")
SLEEVED = ("pullover", "coat", "sweater", "jacket", "hoodie")  # never sleeveless: no narrowing = long sleeves


@dataclass
class Measurements:
    """Per-image attribute measurements (each a (b,) tensor); see ``measure``."""

    tone: torch.Tensor        # mean brightness of the object, 0..1
    area: torch.Tensor        # object pixels / image pixels
    width: torch.Tensor       # bounding-box width / side
    height: torch.Tensor      # bounding-box height / side
    texture: torch.Tensor     # std of brightness inside the object
    edges: torch.Tensor       # mean |gradient| inside the object
    sleeve_drop: torch.Tensor  # median row width at 40–60 % of the box height / widest at 5–40 %
    arm_seam: torch.Tensor    # fraction of rows at 30–90 % with a seam column, the lesser of the two sides
    arm_gap: torch.Tensor     # the same with empty seams only (arms apart from the torso)
    shoulder_fill: torch.Tensor  # object pixels / row width at 5–20 % (two straps and a neckline: low)
    flare: torch.Tensor       # mean row width at 85–100 % / widest at 5–40 %
    left_heavier: torch.Tensor  # profile height on the left third minus the right third (/ side)
    bottom_gap: torch.Tensor  # True when the bottom rows of the box have an empty middle (raised heel)
    sole_light: torch.Tensor  # True when the bottom band is clearly brighter than the object
    hole: torch.Tensor        # True when rows in the upper part have a gap between object pixels (handle)
    openness: torch.Tensor    # empty share of the rows' first-to-last spans (straps and holes: high)
    hue: torch.Tensor         # mean hue angle 0..1 (colour images), -1 for grey
    saturation: torch.Tensor  # mean saturation of the object


def _grey(images: torch.Tensor) -> torch.Tensor:
    return images.mean(1) if images.shape[1] > 1 else images[:, 0]


def _foreground(images: torch.Tensor) -> torch.Tensor:
    """Object mask: pixels that differ from the median border colour by more than 0.1."""
    g = _grey(images)
    border = torch.cat([g[:, 0], g[:, -1], g[:, :, 0], g[:, :, -1]], 1).median(1).values
    return (g - border[:, None, None]).abs() > 0.1


def _row_widths(mask: torch.Tensor) -> torch.Tensor:
    """(b, H) distance between the first and last object pixel in each row (0 for empty rows)."""
    w = mask.shape[-1]
    cols = torch.arange(w, device=mask.device).expand_as(mask)
    first = torch.where(mask, cols, w).amin(-1)
    last = torch.where(mask, cols, -1).amax(-1)
    return (last - first + 1).clamp(min=0).float()


def _band_mean(values: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` (b, H) over rows lo..hi (per image, inclusive)."""
    rows = torch.arange(values.shape[1], device=values.device)[None]
    sel = (rows >= lo[:, None]) & (rows <= hi[:, None])
    return (values * sel).sum(1) / sel.sum(1).clamp(min=1)


def _rows_between(top: torch.Tensor, height: torch.Tensor, n: int, lo: float, hi: float) -> torch.Tensor:
    """(b, n) rows whose position in the box (0 = top row, 1 = bottom row) is in [lo, hi]."""
    t = (torch.arange(n)[None].float() - top[:, None]) / (height[:, None] - 1).clamp(min=1)
    return (t >= lo) & (t <= hi)


def _band_max(values: torch.Tensor, sel: torch.Tensor) -> torch.Tensor:
    """Max of ``values`` (b, H) over the selected rows; 0 where none is selected."""
    return torch.where(sel, values, 0.0).amax(1)


def _arm_seams(g: torch.Tensor, mask: torch.Tensor, rows: torch.Tensor, left: torch.Tensor,
               width: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Seams where an arm meets the torso: for each side, the best column 5–40 % of the box width in
    from that side, scored by the fraction of ``rows`` in which it lies inside the row's silhouette
    and is empty or darker by > 0.08 than the brighter pixel within 2 columns on each side; the
    lesser of the two sides, (dark or empty, empty only)."""
    w = g.shape[-1]
    gp = torch.nn.functional.pad(g, (2, 2))
    nb = torch.minimum(torch.maximum(gp[..., :-4], gp[..., 1:-3]), torch.maximum(gp[..., 3:-1], gp[..., 4:]))
    cols = torch.arange(w)[None, None]
    first = torch.where(mask, cols, w).amin(2, keepdim=True)
    last = torch.where(mask, cols, -1).amax(2, keepdim=True)
    where = (cols > first + 1) & (cols < last - 1) & rows[:, :, None]
    rel = (cols[:, 0].float() - left[:, None]) / width[:, None].clamp(min=1)
    sides = ((rel > 0.05) & (rel < 0.4), (rel > 0.6) & (rel < 0.95))
    n = rows.float().sum(1, keepdim=True).clamp(min=1)
    out = []
    for seam in ((nb - g > 0.08) | ~mask, ~mask):
        share = (seam & where).float().sum(1) / n  # (b, W)
        out.append(torch.minimum(*(torch.where(side, share, 0).amax(1) for side in sides)))
    return out[0], out[1]


def measure(images: torch.Tensor) -> Measurements:
    """Measure a batch of images (b, C, H, W) in [0, 1]."""
    b, _, h, w = images.shape
    g = _grey(images).float()
    mask = _foreground(images)
    n = mask.sum((1, 2)).clamp(min=1)
    tone = (g * mask).sum((1, 2)) / n
    texture = (((g - tone[:, None, None]) ** 2 * mask).sum((1, 2)) / n).sqrt()
    gx = (g[:, :, 1:] - g[:, :, :-1]).abs()[:, :-1, :]
    gy = (g[:, 1:, :] - g[:, :-1, :]).abs()[:, :, :-1]
    inner = mask[:, :-1, :-1] & mask[:, 1:, :-1] & mask[:, :-1, 1:]
    edges = ((gx + gy) * inner).sum((1, 2)) / inner.sum((1, 2)).clamp(min=1)
    rows_any, cols_any = mask.any(2), mask.any(1)
    ridx, cidx = torch.arange(h)[None], torch.arange(w)[None]
    top = torch.where(rows_any, ridx, h).amin(1)
    bottom = torch.where(rows_any, ridx, -1).amax(1)
    left = torch.where(cols_any, cidx, w).amin(1)
    right = torch.where(cols_any, cidx, -1).amax(1)
    height = (bottom - top + 1).clamp(min=0).float()
    width = (right - left + 1).clamp(min=0).float()
    widths = _row_widths(mask)
    upper_w = _band_max(widths, _rows_between(top, height, h, 0.05, 0.4)).clamp(min=1)
    waist = _rows_between(top, height, h, 0.4, 0.6)  # median: one dark stripe is not a waist
    waist_w = torch.where(waist, widths, float("nan")).nanmedian(1).values.nan_to_num(0.0)
    hem = _rows_between(top, height, h, 0.85, 1.0)
    hem_w = (widths * hem).sum(1) / hem.sum(1).clamp(min=1)
    yoke = _rows_between(top, height, h, 0.05, 0.2)
    shoulder_fill = (mask.sum(2) * yoke).sum(1) / (widths * yoke).sum(1).clamp(min=1)
    arm_rows = _rows_between(top, height, h, 0.3, 0.9)
    seam, arm_gap = _arm_seams(g, mask, arm_rows, left, width)
    col_heights = mask.sum(1).float()  # (b, W)
    third = (width / 3).clamp(min=1).long()
    left_h = _band_mean(col_heights, left, left + third - 1)
    right_h = _band_mean(col_heights, right - third + 1, right)
    # raised heel: in the bottom two rows, the middle half of the box is mostly empty
    bottom_rows = (ridx[:, :, None] >= (bottom - 1)[:, None, None]) & (ridx[:, :, None] <= bottom[:, None, None])
    mid_cols = (cidx[:, None, :] >= (left + width.long() // 4)[:, None, None]) & \
               (cidx[:, None, :] <= (right - width.long() // 4)[:, None, None])
    mid = bottom_rows & mid_cols
    bottom_gap = (mask & mid).sum((1, 2)).float() / mid.sum((1, 2)).clamp(min=1) < 0.35
    band = bottom_rows & mask
    sole = (g * band).sum((1, 2)) / band.sum((1, 2)).clamp(min=1)
    sole_light = sole > tone + 0.12
    upper = (ridx < (top + (height / 3).long())[:, None])
    gaps = _gappy_rows(mask) & upper
    hole = gaps.sum(1) >= 2
    openness = 1 - n / widths.sum(1).clamp(min=1)
    hue, sat = _hue_saturation(images, mask)
    return Measurements(tone, n / (h * w), width / w, height / h, texture, edges,
                        waist_w / upper_w, seam, arm_gap, shoulder_fill, hem_w / upper_w,
                        (left_h - right_h) / h, bottom_gap, sole_light, hole, openness, hue, sat)


def _gappy_rows(mask: torch.Tensor) -> torch.Tensor:
    """(b, H) rows whose object pixels form two or more separate runs with a gap of ≥ 2 pixels."""
    m = mask.float()
    starts = (m[:, :, 1:] - m[:, :, :-1]).clamp(min=0).sum(2) + m[:, :, 0]
    widths = _row_widths(mask)
    return (starts >= 2) & (widths - mask.sum(2) >= 2)


def _hue_saturation(images: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    b = images.shape[0]
    if images.shape[1] < 3:
        return torch.full((b,), -1.0), torch.zeros(b)
    r, g, bl = images[:, 0], images[:, 1], images[:, 2]
    mx, mn = images[:, :3].amax(1), images[:, :3].amin(1)
    sat = ((mx - mn) / mx.clamp(min=1e-6) * mask).sum((1, 2)) / mask.sum((1, 2)).clamp(min=1)
    # circular mean of hue via the opponent axes
    a = ((2 * r - g - bl) / 2 * mask).sum((1, 2))
    c = ((3 ** 0.5 / 2) * (g - bl) * mask).sum((1, 2))
    hue = (torch.atan2(c, a) / (2 * torch.pi)) % 1.0
    return torch.where(sat > 0.2, hue, torch.full_like(hue, -1.0)), sat


def _pick(value: float, cuts: Sequence[float], words: Sequence[str]) -> str:
    for cut, word in zip(cuts, words):
        if value < cut:
            return word
    return words[-1]


HUES = [(0.04, "red"), (0.11, "orange"), (0.18, "yellow"), (0.45, "green"), (0.7, "blue"),
        (0.83, "purple"), (0.95, "pink"), (1.01, "red")]


def _colour(m: Measurements, i: int) -> str:
    tone = _pick(float(m.tone[i]), (0.3, 0.45, 0.6, 0.75), ("black", "dark grey", "grey", "light grey", "white"))
    if float(m.hue[i]) < 0:
        return tone
    hue = next(word for cut, word in HUES if float(m.hue[i]) < cut)
    shade = _pick(float(m.tone[i]), (0.35, 0.7), ("dark ", "", "light "))
    return f"{shade}{hue}"


def _surface(m: Measurements, i: int) -> str:
    edge = float(m.edges[i])
    if edge > 0.27:
        return "a bold printed pattern"
    if edge > 0.165:
        return "a subtle textured pattern"
    return "a plain smooth surface"


def _group(class_name: str) -> str:
    name = class_name.lower()
    if any(k in name for k in FOOTWEAR):
        return "footwear"
    if "bag" in name or "purse" in name:
        return "bag"
    if "trouser" in name or "pants" in name or "jeans" in name:
        return "trouser"
    if "dress" in name:
        return "dress"
    if any(k in name for k in SLEEVED):
        return "sleeved"
    if any(k in name for k in TOPS):
        return "top"
    return "object"


def _sleeves(m: Measurements, i: int, group: str) -> str:
    """Sleeve words of a top or dress (see the module docstring)."""
    if float(m.sleeve_drop[i]) < 0.8:
        return "short sleeves"
    if group == "sleeved":
        return "long sleeves"
    straps = float(m.shoulder_fill[i]) < 0.6
    if group == "dress":
        return "long sleeves" if float(m.arm_seam[i]) >= 0.2 and not straps else "thin straps and no sleeves"
    wide = float(m.width[i])
    seam = float(m.arm_seam[i]) >= 0.2 and (wide >= 0.6 or float(m.arm_gap[i]) >= 0.2)  # prints make dark seams
    return "long sleeves" if (wide >= 0.68 or seam) and not straps else "no sleeves"


def _plural(class_name: str) -> str:
    """'trouser' -> 'trousers'; names already plural ('pants', 'jeans') stay."""
    return class_name if class_name.endswith("s") else f"{class_name}s"


def describe(m: Measurements, i: int, class_name: str) -> str:
    """The caption of image ``i`` of a measured batch."""
    group = _group(class_name)
    colour = _colour(m, i)
    size = _pick(float(m.area[i]), (0.3, 0.5), ("small", "medium-sized", "large"))
    width = _pick(float(m.width[i]), (0.55, 0.8), ("narrow", "regular-width", "wide"))
    length = _pick(float(m.height[i]), (0.6, 0.9), ("short", "medium-length", "long"))
    surface = _surface(m, i)
    lean = float(m.left_heavier[i])
    if group in ("top", "sleeved", "dress"):
        arms = _sleeves(m, i, group)
        flared = group == "dress" and float(m.flare[i]) > 1.15
        shape = "flared" if flared else ("boxy" if float(m.width[i]) > 0.8 else "fitted")
        return (f"The {class_name} is {colour} with {arms}. It has a {shape} {width} silhouette and is "
                f"{length}, {size} in the frame, with {surface}.")
    if group == "trouser":
        legs = "wide legs" if float(m.width[i]) > 0.5 else "slim straight legs"
        part = _pick(float(m.area[i]), (0.3, 0.5), ("a small", "a medium", "a large"))
        return (f"The {_plural(class_name)} are {colour} with {legs}. They are {length}, laid flat, "
                f"fill {part} part of the frame and have {surface}.")
    if group == "footwear":
        facing = "left" if lean < -0.03 else ("right" if lean > 0.03 else "forward")
        tone = "light" if bool(m.sole_light[i]) else "dark"
        heel = f"a raised heel and a {tone} sole" if bool(m.bottom_gap[i]) else f"a flat {tone} sole"
        rise = _pick(float(m.height[i]), (0.45, 0.7), ("low-cut", "mid-height", "ankle-high"))
        upper = "an open strappy upper" if float(m.openness[i]) > 0.18 else surface  # straps make edges
        return (f"The {class_name} is {colour}, {rise} and facing {facing}. It has {heel}, "
                f"a {width} profile, and {upper}.")
    if group == "bag":
        handle = "a visible handle on top" if bool(m.hole[i]) else "no visible handle"
        shape = _pick(float(m.width[i]) / max(float(m.height[i]), 1e-3), (0.75, 1.3), ("tall", "boxy", "broad"))
        outline = "broad" if shape == "broad" else f"{shape} {width}"  # no "broad narrow"; tall is never wide
        return f"The {class_name} is {colour} and {size}, with {handle}. It has a {outline} shape and {surface}."
    facing = "left" if lean < -0.05 else ("right" if lean > 0.05 else "forward")
    return (f"The {class_name} is {colour}, {size} and {width}, {length}, oriented {facing}, with {surface}.")


class AttributeCaptioner:
    """Deterministic pixel-attribute captions (see module docstring)."""

    def caption(self, images: torch.Tensor, class_names: Sequence[str]) -> list[str]:
        if images.ndim != 4:
            raise ValueError(f"images must be (b, C, H, W), got {tuple(images.shape)}")
        m = measure(images.float())
        return [describe(m, i, name) for i, name in enumerate(class_names)]


@CAPTIONERS.register("attributes")
def _attributes(**_: object) -> AttributeCaptioner:
    return AttributeCaptioner()
