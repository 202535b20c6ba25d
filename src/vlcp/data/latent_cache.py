"""Where the UNet phase of training gets its latents: encoded once up front, or by the VAE every step.

Both sources draw a batch the same way from the same ``torch.Generator`` (a flip mask when flips
are on, then the posterior sample's noise), so training on the cache gives the batches that
encoding on the fly gives. The cache holds each image's posterior mean and std (and, with flips,
those of its mirror image) as float32 on the CPU: 2 KiB per image for 4×8×8 latents without
flips, so 110 MiB for Fashion-MNIST's 55,000 training images.
"""
from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np
import torch

from vlcp.data import ImageDataset
from vlcp.models.generator import PixelAdapter


class LatentSource(Protocol):
    def draw(self, indices: Sequence[int], gen: torch.Generator) -> torch.Tensor:
        """Unscaled VAE latents (b, C, h, w) of the dataset images ``indices`` (sorted)."""
        ...


def _flip_mask(n: int, gen: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=gen) < 0.5


def random_flip(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A copy of the batch ``x`` with each image mirrored (last axis) with probability 1/2."""
    mask = _flip_mask(len(x), gen)
    x = x.clone()
    x[mask] = x[mask].flip(-1)
    return x


def _posterior_draw(mean: torch.Tensor, std: torch.Tensor, gen: torch.Generator, sample: bool) -> torch.Tensor:
    if not sample:
        return mean
    return mean + std * torch.randn(mean.shape, generator=gen).to(mean.device, mean.dtype)


class OnTheFlyLatents:
    """Encode each batch with the VAE as it is drawn (images flipped at random first)."""

    def __init__(self, vae: torch.nn.Module, dataset: ImageDataset, adapter: PixelAdapter, *, flip: bool,
                 sample: bool, device: torch.device | str = "cpu") -> None:
        self.vae, self.dataset, self.adapter = vae, dataset, adapter
        self.flip, self.sample, self.device = flip, sample, device

    @torch.no_grad()
    def draw(self, indices: Sequence[int], gen: torch.Generator) -> torch.Tensor:
        x = self.adapter.to_model(self.dataset.images(indices)).to(self.device)
        if self.flip:
            x = random_flip(x, gen)
        dist = self.vae.encode(x.to(self.vae.dtype)).latent_dist
        return _posterior_draw(dist.mean, dist.std, gen, self.sample)


class LatentCache:
    """Every image's posterior (mean, std) encoded once; ``draw`` reads rows instead of encoding."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, mirror: tuple[torch.Tensor, torch.Tensor] | None,
                 *, sample: bool, device: torch.device | str = "cpu") -> None:
        self.mean, self.std, self.mirror = mean, std, mirror
        self.sample, self.device = sample, device

    @classmethod
    @torch.no_grad()
    def encode(cls, vae: torch.nn.Module, dataset: ImageDataset, adapter: PixelAdapter, *, flip: bool,
               sample: bool, device: torch.device | str = "cpu", batch_size: int = 256) -> "LatentCache":
        """Encode all of ``dataset`` (and its mirror images when ``flip``) in batches of ``batch_size``."""
        parts: dict[bool, list[tuple[torch.Tensor, torch.Tensor]]] = {False: [], True: []}
        for start in range(0, len(dataset), batch_size):
            x = adapter.to_model(dataset.images(np.arange(start, min(start + batch_size, len(dataset)))))
            for mirrored in (False, True) if flip else (False,):
                dist = vae.encode((x.flip(-1) if mirrored else x).to(device, vae.dtype)).latent_dist
                parts[mirrored].append((dist.mean.float().cpu(), dist.std.float().cpu()))

        def stack(rows):
            return torch.cat([m for m, _ in rows]), torch.cat([s for _, s in rows])

        mean, std = stack(parts[False])
        return cls(mean, std, stack(parts[True]) if flip else None, sample=sample, device=device)

    def __len__(self) -> int:
        return len(self.mean)

    def draw(self, indices: Sequence[int], gen: torch.Generator) -> torch.Tensor:
        idx = torch.as_tensor(np.asarray(indices), dtype=torch.long)
        mean, std = self.mean[idx], self.std[idx]
        if self.mirror is not None:
            mask = _flip_mask(len(idx), gen)
            mean[mask], std[mask] = self.mirror[0][idx[mask]], self.mirror[1][idx[mask]]
        return _posterior_draw(mean.to(self.device), std.to(self.device), gen, self.sample)
