"""DSA augmentation (Zhao & Bilen 2021) and DC's MNIST augmentation, on whole batches of tensors.

DSA's evaluation strategy ``color_crop_cutout_flip_scale_rotate`` in its "single" mode draws ONE
operation per batch and fresh parameters per image: flip (p 0.5), scale (sx, sy ∈ [1/1.2, 1.2]),
rotate (±15°), crop (shift by up to 1/8 of the side, zero fill), cutout (a square of half the side,
zeroed), colour = brightness (±0.5 · 1.0), saturation (× [0, 2]), contrast (× [0.5, 1.5]).
As in the reference code these act on normalised images.

Each operation is a deterministic kernel taking explicit per-image parameters (tested on constructed
images) plus a ``rand_*`` wrapper drawing those parameters from a ``torch.Generator`` on the CPU.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

DSA_STRATEGY = "color_crop_cutout_flip_scale_rotate"


@dataclass(frozen=True)
class DSAParams:
    """DSA's ``ParamDiffAug`` values, used by the DSA and DM evaluations."""

    prob_flip: float = 0.5
    ratio_scale: float = 1.2
    ratio_rotate: float = 15.0
    ratio_crop_pad: float = 0.125
    ratio_cutout: float = 0.5
    brightness: float = 1.0
    saturation: float = 2.0
    contrast: float = 0.5


def put(t: torch.Tensor, device: torch.device, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Move a small CPU tensor (random parameters) to ``device`` without a host sync (pinned, non-blocking)."""
    if dtype is not None:
        t = t.to(dtype)
    if device.type != "cuda" or t.device.type == "cuda":
        return t.to(device)
    return t.pin_memory().to(device, non_blocking=True)


def _rand(n: int, g: torch.Generator, device: torch.device) -> torch.Tensor:
    return put(torch.rand(n, generator=g), device)


# ---- deterministic kernels ------------------------------------------------------------------


def flip(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mirror left-right the images where ``mask`` (n,) is true."""
    return torch.where(mask.view(-1, 1, 1, 1), x.flip(3), x)


def translate(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, fill: float | torch.Tensor = 0.0) -> torch.Tensor:
    """Move image i's content by ``rows[i]`` pixels down and ``cols[i]`` right; uncovered pixels take ``fill``."""
    n, c, h, w = x.shape
    dev = x.device
    r = torch.arange(h, device=dev).view(1, h) - put(rows.view(n, 1), dev)
    q = torch.arange(w, device=dev).view(1, w) - put(cols.view(n, 1), dev)
    valid = ((r >= 0) & (r < h)).view(n, 1, h, 1) & ((q >= 0) & (q < w)).view(n, 1, 1, w)
    r = r.clamp(0, h - 1)
    q = q.clamp(0, w - 1)
    idx = (r.view(n, h, 1) * w + q.view(n, 1, w)).view(n, 1, h * w).expand(n, c, h * w)
    out = x.reshape(n, c, h * w).gather(2, idx).view(n, c, h, w)
    if torch.is_tensor(fill):
        return torch.where(valid, out, put(fill.view(1, -1, 1, 1), out.device, out.dtype))
    return out.masked_fill(~valid, fill) if fill != 0 else out * valid


def cutout(x: torch.Tensor, top: torch.Tensor, left: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Zero, in image i, the box of ``size`` whose top-left corner is (top[i], left[i]) (clipped to the image)."""
    n, _, h, w = x.shape
    dev = x.device
    r = torch.arange(h, device=dev).view(1, h)
    q = torch.arange(w, device=dev).view(1, w)
    top, left = put(top.view(n, 1), dev), put(left.view(n, 1), dev)
    rows = (r >= top) & (r < top + size[0])
    cols = (q >= left) & (q < left + size[1])
    keep = ~(rows.view(n, 1, h, 1) & cols.view(n, 1, 1, w))
    return x * keep.to(x.dtype)


def affine(x: torch.Tensor, theta: torch.Tensor, fill: torch.Tensor | None = None) -> torch.Tensor:
    """Resample each image with its 2×3 matrix ``theta`` (output → input, normalised coordinates).

    Outside the image: zeros, or per-channel ``fill`` values.
    """
    theta = put(theta, x.device, x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    if fill is None:
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    f = put(fill.view(1, -1, 1, 1), x.device, x.dtype)
    return F.grid_sample(x - f, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + f


def scale_theta(sx: torch.Tensor, sy: torch.Tensor) -> torch.Tensor:
    """Sampling matrices for scaling (sx, sy > 1 shrink the content, < 1 enlarge it), about the centre."""
    theta = torch.zeros(len(sx), 2, 3)
    theta[:, 0, 0] = sx
    theta[:, 1, 1] = sy
    return theta


def rotate_theta(angle: torch.Tensor) -> torch.Tensor:
    """Sampling matrices for rotations by ``angle`` radians about the centre."""
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.zeros(len(angle), 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = cos, -sin
    theta[:, 1, 0], theta[:, 1, 1] = sin, cos
    return theta


def brightness(x: torch.Tensor, r: torch.Tensor, ratio: float) -> torch.Tensor:
    """DSA brightness: add (r - 0.5) · ratio, r ∈ [0, 1) per image."""
    return x + (put(r.view(-1, 1, 1, 1), x.device, x.dtype) - 0.5) * ratio


def saturation(x: torch.Tensor, r: torch.Tensor, ratio: float) -> torch.Tensor:
    """DSA saturation: scale the deviation from the per-pixel channel mean by r · ratio."""
    m = x.mean(dim=1, keepdim=True)
    return (x - m) * (put(r.view(-1, 1, 1, 1), x.device, x.dtype) * ratio) + m


def contrast(x: torch.Tensor, r: torch.Tensor, ratio: float) -> torch.Tensor:
    """DSA contrast: scale the deviation from the image mean by r + ratio."""
    m = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - m) * (put(r.view(-1, 1, 1, 1), x.device, x.dtype) + ratio) + m


# ---- random operations (parameters per image) -------------------------------------------------


def rand_flip(x: torch.Tensor, g: torch.Generator, p: DSAParams = DSAParams()) -> torch.Tensor:
    return flip(x, _rand(len(x), g, x.device) < p.prob_flip)


def rand_scale(x: torch.Tensor, g: torch.Generator, p: DSAParams = DSAParams()) -> torch.Tensor:
    lo = 1.0 / p.ratio_scale
    sx = torch.rand(len(x), generator=g) * (p.ratio_scale - lo) + lo
    sy = torch.rand(len(x), generator=g) * (p.ratio_scale - lo) + lo
    return affine(x, scale_theta(sx, sy))


def rand_rotate(x: torch.Tensor, g: torch.Generator, p: DSAParams = DSAParams()) -> torch.Tensor:
    angle = (torch.rand(len(x), generator=g) - 0.5) * 2 * p.ratio_rotate / 180 * math.pi
    return affine(x, rotate_theta(angle))


def rand_crop(x: torch.Tensor, g: torch.Generator, p: DSAParams = DSAParams()) -> torch.Tensor:
    sh = int(x.shape[2] * p.ratio_crop_pad + 0.5)
    sw = int(x.shape[3] * p.ratio_crop_pad + 0.5)
    rows = torch.randint(-sh, sh + 1, (len(x),), generator=g)
    cols = torch.randint(-sw, sw + 1, (len(x),), generator=g)
    return translate(x, rows, cols)


def rand_cutout(x: torch.Tensor, g: torch.Generator, p: DSAParams = DSAParams()) -> torch.Tensor:
    h, w = x.shape[2], x.shape[3]
    ch, cw = int(h * p.ratio_cutout + 0.5), int(w * p.ratio_cutout + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (len(x),), generator=g)  # box centre, as DSA draws it
    cx = torch.randint(0, w + (1 - cw % 2), (len(x),), generator=g)
    return cutout(x, cy - ch // 2, cx - cw // 2, (ch, cw))


def rand_color(x: torch.Tensor, g: torch.Generator, p: DSAParams = DSAParams()) -> torch.Tensor:
    x = brightness(x, _rand(len(x), g, x.device), p.brightness)
    x = saturation(x, _rand(len(x), g, x.device), p.saturation)
    return contrast(x, _rand(len(x), g, x.device), p.contrast)


DSA_OPS = {"color": rand_color, "crop": rand_crop, "cutout": rand_cutout, "flip": rand_flip,
           "scale": rand_scale, "rotate": rand_rotate}


def dsa_augment(x: torch.Tensor, g: torch.Generator, strategy: str = DSA_STRATEGY,
                params: DSAParams = DSAParams()) -> torch.Tensor:
    """DSA's single mode: one operation of ``strategy`` for the whole batch, parameters per image."""
    ops = [o for o in strategy.split("_") if o]
    if not ops or strategy == "none":
        return x
    op = ops[int(torch.randint(0, len(ops), (1,), generator=g))]
    return DSA_OPS[op](x, g, params).contiguous()


# ---- DC's augmentation for MNIST ----------------------------------------------------------------


def dc_augment(x: torch.Tensor, g: torch.Generator, crop: int = 4, scale: float = 0.2, rotate: int = 45) -> torch.Tensor:
    """DC's ``crop_scale_rotate`` (its evaluation uses it for MNIST only): one operation per image.

    crop: shift by −crop … crop−1 pixels, filled with the batch's channel mean; scale: independent
    height/width factors in [1 − scale, 1 + scale] about the centre (zero fill, as DC pads with zeros);
    rotate: an integer angle in [−rotate, rotate) degrees, filled with the mean. DC resamples with
    nearest / spline interpolation per image; here bilinear sampling on the whole batch.
    """
    n = len(x)
    mean = x.mean(dim=(0, 2, 3))
    choice = torch.randint(0, 3, (n,), generator=g)
    rows = torch.randint(0, 2 * crop, (n,), generator=g) - crop
    cols = torch.randint(0, 2 * crop, (n,), generator=g) - crop
    fh = torch.rand(n, generator=g) * 2 * scale + 1 - scale
    fw = torch.rand(n, generator=g) * 2 * scale + 1 - scale
    ang = torch.randint(-rotate, rotate, (n,), generator=g).float() * math.pi / 180
    cropped = translate(x, rows, cols, fill=mean)
    scaled = affine(x, scale_theta(1 / fw, 1 / fh))
    rotated = affine(x, rotate_theta(ang), fill=mean)
    c = put(choice, x.device).view(-1, 1, 1, 1)
    return torch.where(c == 0, cropped, torch.where(c == 1, scaled, rotated))
