"""ImageNet-style training transforms on batched tensors (Minimax / RDED evaluation) and CutMix.

The reference code applies these per sample to PIL images or (C, H, W) tensors in DataLoader workers;
here each takes a whole batch ``(n, C, H, W)`` in [0, 1] and draws per-image parameters from a CPU
``torch.Generator``:

- ``random_resized_crop``: torchvision's sampling rule (area ∈ scale · H·W, log-uniform aspect ratio in
  [3/4, 4/3], ten tries then the whole image), resampled bilinearly with ``affine_grid``/``grid_sample``;
- ``random_hflip``; ``color_jitter``: Minimax's ColorJitter (brightness, contrast, saturation, each a
  lerp by α ∈ U(−0.4, 0.4) towards black / the mean grey / the grey image, in random order per image);
- ``lighting``: AlexNet-style PCA noise with ImageNet's eigenvalues/vectors (α ~ N(0, 0.1) per image;
  three-channel images only);
- ``cutmix``: one box per batch, area from λ ~ Beta(β, β), partner order a random permutation; the loss
  weights each label by the area it covers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from vlcp.evaluate.dsa import flip, put

IMAGENET_EIGVAL = (0.2175, 0.0188, 0.0045)
IMAGENET_EIGVEC = ((-0.5675, 0.7192, 0.4009),
                   (-0.5808, -0.0045, -0.8140),
                   (-0.5836, -0.6948, 0.4203))
GREY = (0.299, 0.587, 0.114)


def sample_crop_boxes(n: int, h: int, w: int, g: torch.Generator, scale: tuple[float, float] = (0.08, 1.0),
                      ratio: tuple[float, float] = (3 / 4, 4 / 3), tries: int = 10) -> torch.Tensor:
    """(n, 4) integer boxes (top, left, height, width) by torchvision's RandomResizedCrop rule."""
    area = h * w
    target = area * (torch.rand(n, tries, generator=g) * (scale[1] - scale[0]) + scale[0])
    logr = torch.rand(n, tries, generator=g) * (math.log(ratio[1]) - math.log(ratio[0])) + math.log(ratio[0])
    ar = torch.exp(logr)
    cw = torch.round(torch.sqrt(target * ar))
    ch = torch.round(torch.sqrt(target / ar))
    ok = (cw > 0) & (cw <= w) & (ch > 0) & (ch <= h)
    first = torch.argmax(ok.int(), dim=1)  # first valid try (0 if none; handled below)
    found = ok.any(dim=1)
    pick = torch.arange(n)
    bh = ch[pick, first].long()
    bw = cw[pick, first].long()
    # fallback: central crop with the aspect ratio clamped into range (the whole image when square)
    in_ratio = w / h
    if in_ratio < ratio[0]:
        fw, fh = w, int(round(w / ratio[0]))
    elif in_ratio > ratio[1]:
        fh, fw = h, int(round(h * ratio[1]))
    else:
        fw, fh = w, h
    bh = torch.where(found, bh, torch.full_like(bh, fh))
    bw = torch.where(found, bw, torch.full_like(bw, fw))
    u = torch.rand(n, 2, generator=g)
    top = torch.floor(u[:, 0] * (h - bh + 1).float()).long()
    left = torch.floor(u[:, 1] * (w - bw + 1).float()).long()
    top = torch.where(found, top, torch.full_like(top, (h - fh) // 2))
    left = torch.where(found, left, torch.full_like(left, (w - fw) // 2))
    return torch.stack([top, left, bh, bw], dim=1)


def resized_crop(x: torch.Tensor, boxes: torch.Tensor, size: int | None = None) -> torch.Tensor:
    """Crop box i (top, left, height, width) of image i and resize it to ``size`` (default: the input side).

    Bilinear, pixel-centre aligned (``align_corners=False``), like ``F.interpolate`` on the crop; samples
    beyond a crop take the crop's edge pixel (as torchvision's crop-then-resize), never zero.
    """
    n, c, h, w = x.shape
    size = size or h
    b = boxes.to(torch.float64).cpu()
    top, left, bh, bw = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    theta = torch.zeros(n, 2, 3, dtype=torch.float64)
    theta[:, 0, 0] = bw / w
    theta[:, 0, 2] = (2 * left + bw) / w - 1
    theta[:, 1, 1] = bh / h
    theta[:, 1, 2] = (2 * top + bh) / h - 1
    grid = F.affine_grid(put(theta, x.device, x.dtype), [n, c, size, size], align_corners=False)
    # clamp to the crop's first and last pixel centres (normalised), as resizing the cropped tensor does
    lo = torch.stack([(2 * left + 1) / w, (2 * top + 1) / h], dim=1) - 1
    hi = torch.stack([(2 * (left + bw) - 1) / w, (2 * (top + bh) - 1) / h], dim=1) - 1
    lo, hi = put(lo[:, None, None], x.device, x.dtype), put(hi[:, None, None], x.device, x.dtype)
    grid = torch.minimum(torch.maximum(grid, lo), hi)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border",
                         align_corners=False)


def random_resized_crop(x: torch.Tensor, g: torch.Generator, scale: tuple[float, float] = (0.5, 1.0),
                        size: int | None = None) -> torch.Tensor:
    boxes = sample_crop_boxes(len(x), x.shape[2], x.shape[3], g, scale=scale)
    return resized_crop(x, boxes, size)


def random_hflip(x: torch.Tensor, g: torch.Generator, p: float = 0.5) -> torch.Tensor:
    return flip(x, put(torch.rand(len(x), generator=g) < p, x.device))


def grey(x: torch.Tensor) -> torch.Tensor:
    """(n, 1, H, W) luminance (the image itself when it has one channel)."""
    if x.shape[1] == 1:
        return x
    w = torch.tensor(GREY, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * w).sum(dim=1, keepdim=True)


def jitter_brightness(x: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Lerp towards black by α (per image)."""
    return x * (1 - alpha.view(-1, 1, 1, 1))


def jitter_contrast(x: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Lerp towards the image's mean grey level by α."""
    m = grey(x).mean(dim=(1, 2, 3), keepdim=True)
    return x + alpha.view(-1, 1, 1, 1) * (m - x)


def jitter_saturation(x: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Lerp towards the grey image by α."""
    return x + alpha.view(-1, 1, 1, 1) * (grey(x) - x)


def color_jitter(x: torch.Tensor, g: torch.Generator, brightness: float = 0.4, contrast: float = 0.4,
                 saturation: float = 0.4) -> torch.Tensor:
    """Minimax's ColorJitter: the three lerps in a random order per image, α ~ U(−v, v) each."""
    n = len(x)
    alphas = (torch.rand(n, 3, generator=g) * 2 - 1) * torch.tensor([brightness, contrast, saturation])
    order = torch.argsort(torch.rand(n, 3, generator=g), dim=1)
    alphas, order = put(alphas, x.device, x.dtype), put(order, x.device)
    for slot in range(3):
        op = order[:, slot].view(-1, 1, 1, 1)
        b = jitter_brightness(x, alphas[:, 0])
        c = jitter_contrast(x, alphas[:, 1])
        s = jitter_saturation(x, alphas[:, 2])
        x = torch.where(op == 0, b, torch.where(op == 1, c, s))
    return x


def lighting_shift(alpha: torch.Tensor, eigval=IMAGENET_EIGVAL, eigvec=IMAGENET_EIGVEC) -> torch.Tensor:
    """(n, 3) per-channel offsets Σ_j eigvec[c, j] · α_j · eigval_j."""
    val = torch.tensor(eigval, dtype=alpha.dtype)
    vec = torch.tensor(eigvec, dtype=alpha.dtype)
    return (alpha * val) @ vec.T


def lighting(x: torch.Tensor, g: torch.Generator, alphastd: float = 0.1) -> torch.Tensor:
    """PCA lighting noise (AlexNet); a no-op for images that are not RGB."""
    if x.shape[1] != 3 or alphastd == 0:
        return x
    alpha = torch.randn(len(x), 3, generator=g) * alphastd
    return x + put(lighting_shift(alpha), x.device, x.dtype).view(-1, 3, 1, 1)


# ---- CutMix --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CutMixBox:
    """Rows [r0, r1) and columns [c0, c1) pasted from the partner image."""

    r0: int
    r1: int
    c0: int
    c1: int

    def area(self) -> int:
        return max(0, self.r1 - self.r0) * max(0, self.c1 - self.c0)


def cutmix_box(h: int, w: int, lam: float, rng: np.random.Generator) -> CutMixBox:
    """The reference ``rand_bbox``: sides ⌊side·√(1−λ)⌋, uniform centre, clipped to the image."""
    cut = math.sqrt(1.0 - lam)
    ch, cw = int(h * cut), int(w * cut)
    cy, cx = int(rng.integers(h)), int(rng.integers(w))
    r0, r1 = int(np.clip(cy - ch // 2, 0, h)), int(np.clip(cy + ch // 2, 0, h))
    c0, c1 = int(np.clip(cx - cw // 2, 0, w)), int(np.clip(cx + cw // 2, 0, w))
    return CutMixBox(r0, r1, c0, c1)


def apply_cutmix(x: torch.Tensor, partner: torch.Tensor, box: CutMixBox) -> tuple[torch.Tensor, float]:
    """Paste ``x[partner]`` into ``box`` of each image. Returns (mixed images, weight of the own label).

    The own label's weight is the share of the image it still covers: 1 − box area / image area.
    """
    out = x.clone()
    out[:, :, box.r0:box.r1, box.c0:box.c1] = x[partner, :, box.r0:box.r1, box.c0:box.c1]
    weight = 1.0 - box.area() / float(x.shape[2] * x.shape[3])
    return out, weight


def cutmix(x: torch.Tensor, g: torch.Generator, rng: np.random.Generator, beta: float = 1.0
           ) -> tuple[torch.Tensor, torch.Tensor, float]:
    """CutMix a batch: (mixed images, partner permutation, weight of the own labels)."""
    lam = float(rng.beta(beta, beta))
    partner = put(torch.randperm(len(x), generator=g), x.device)
    box = cutmix_box(x.shape[2], x.shape[3], lam, rng)
    mixed, weight = apply_cutmix(x, partner, box)
    return mixed, partner, weight
