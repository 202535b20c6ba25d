"""Influence guidance (IGD, Chen et al., ICLR 2025) on top of ``mode_guided`` (beyond the paper, off by default).

A surrogate ConvNet, trained on the *training* split only, is kept at a few checkpoints of one training
trajectory. For an image x of class y and a checkpoint θ_k, its training influence is the cosine between the
gradient its loss would give the network, ∇_θ CE(f_θk(x), y), and the mean gradient of the real training
images of class y at that checkpoint, G_k,y; the score is the mean over checkpoints. During the steps
``influence_from`` … ``influence_until`` (fractions of the run) the predicted clean latent x̂₀ climbs that
score: ε̂ = ε_mode_guided − √(1−ᾱ_t)·w·ĝ, where ĝ = ∇_x̂₀ score, decoded through the VAE and the pixel adapter,
scaled to unit root-mean-square per image, and w = ``influence``. With w = 0 the sampler is ``mode_guided``
bit for bit. Simplification (stated): the gradient is taken at x̂₀, not through the UNet.

The checkpoints and the class gradients are an :class:`InfluenceGuide`, built by :func:`influence_guide` from
networks passed in and handed to ``synthesize(..., guide=)``; nothing here loads weights.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import torch
import torch.nn.functional as F

from vlcp.errors import VlcpError
from vlcp.samplers.base import SAMPLERS
from vlcp.samplers.mode_guided import ModeGuided, ModeGuidedSettings
from vlcp.settings.config import check

__all__ = ["InfluenceGuide", "influence_guide", "train_surrogates", "InfluenceGuided", "InfluenceGuidedSettings"]


@dataclass(frozen=True)
class InfluenceGuidedSettings(ModeGuidedSettings):
    """influence_guided's own settings: mode_guided's, plus the influence weight and its window."""

    influence: float = field(default=0.0, metadata={
        "help": "influence_guided: weight w of the climb of the surrogate's training influence (IGD; 0: off)"})
    influence_from: float = field(default=0.0, metadata={
        "help": "influence_guided: fraction of the steps where the influence guidance starts"})
    influence_until: float = field(default=0.5, metadata={
        "help": "influence_guided: fraction of the steps where the influence guidance stops"})

    def __post_init__(self) -> None:
        super().__post_init__()
        check(math.isfinite(self.influence) and self.influence >= 0, "influence", "must be a finite number >= 0")
        check(0 <= self.influence_from <= self.influence_until <= 1, "influence_from",
              "influence_from and influence_until must satisfy 0 <= from <= until <= 1")

    guide_help = ("setting 'influence': influence_guided with influence > 0 needs a guide "
                  "(vlcp.samplers.influence.influence_guide from surrogates trained on the training split; "
                  "the CLI builds one)")

    def uses_guide(self) -> bool:
        return self.influence > 0

    def describe(self) -> str:
        return (super().describe() + f", climbing a surrogate's training influence with weight {self.influence} "
                f"from {self.influence_from} to {self.influence_until} of the steps (influence_guided, IGD)")


@dataclass
class InfluenceGuide:
    """Surrogate checkpoints ``nets`` and, per checkpoint, the mean training gradient of each class
    (``targets[k][class_id]``, flat), with the surrogate's pixel normalisation and the pixel ``adapter`` that
    maps model images to dataset images."""

    nets: list[torch.nn.Module]
    targets: list[dict[str, torch.Tensor]]
    mean: Sequence[float]
    std: Sequence[float]
    adapter: object

    def score(self, images: torch.Tensor, class_ids: Sequence[str]) -> torch.Tensor:
        """(b,) mean cosine over checkpoints between each image's loss gradient and its class's training
        gradient; ``images`` model-space (b, C, H, W) in [-1, 1], differentiable."""
        x = self.adapter.to_data(images)
        mean = torch.tensor(list(self.mean), dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(list(self.std), dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        x = (x - mean) / std
        scores = []
        for net, target in zip(self.nets, self.targets):
            index = {c: i for i, c in enumerate(target)}
            params = [p for p in net.parameters() if p.requires_grad]
            xs = x.to(params[0].device)  # the surrogate's device (autograd carries the gradient back)
            per_image = []
            for i, c in enumerate(class_ids):
                loss = F.cross_entropy(net(xs[i:i + 1]), torch.tensor([index[c]], device=xs.device))
                g = torch.cat([t.flatten() for t in torch.autograd.grad(loss, params, create_graph=True)])
                per_image.append(F.cosine_similarity(g, target[c].to(g), dim=0))
            scores.append(torch.stack(per_image).to(images.device))
        return torch.stack(scores).mean(0)

    def digest(self) -> str:
        """What identifies the guide in a resume fingerprint: its checkpoints' weights and class gradients."""
        from vlcp.evaluate.teacher import weights_digest

        state = {f"{k}.net.{n}": v for k, net in enumerate(self.nets) for n, v in net.state_dict().items()}
        state |= {f"{k}.target.{c}": g for k, t in enumerate(self.targets) for c, g in t.items()}
        return weights_digest(state)


def influence_guide(train, nets: Sequence[torch.nn.Module], adapter, *, per_class: int = 256, seed: int = 0,
                    mean=None, std=None) -> InfluenceGuide:
    """An :class:`InfluenceGuide` from surrogate checkpoints ``nets`` (trained on ``train``, the training split):
    each class's mean loss gradient over ``per_class`` of its images (drawn with ``seed``)."""
    from vlcp.evaluate.tensors import channel_stats

    if not nets:
        raise VlcpError("influence guidance needs at least one surrogate checkpoint")
    if mean is None or std is None:
        mean, std = channel_stats(train)
    labels = torch.as_tensor(train.labels)
    g = torch.Generator().manual_seed(seed)
    picks = {}
    for y, c in enumerate(train.classes):
        idx = torch.nonzero(labels == y).flatten()
        picks[c] = (y, idx[torch.randperm(len(idx), generator=g)[:per_class]])
    m = torch.tensor(list(mean)).view(1, -1, 1, 1)
    s = torch.tensor(list(std)).view(1, -1, 1, 1)
    targets = []
    for net in nets:
        net.eval()
        params = [p for p in net.parameters() if p.requires_grad]
        per = {}
        for c, (y, idx) in picks.items():
            x = (train.images(idx.numpy()).float() - m) / s
            loss = F.cross_entropy(net(x), torch.full((len(idx),), y))
            per[c] = torch.cat([t.flatten() for t in torch.autograd.grad(loss, params)]).detach()
        targets.append(per)
    return InfluenceGuide(list(nets), targets, tuple(mean), tuple(std), adapter)


SURROGATE_EPOCHS = (1, 3)  # the checkpoints of the surrogate's trajectory (IGD keeps several of an expert's)


def train_surrogates(train, *, model: str = "convnet3", epochs: Sequence[int] = SURROGATE_EPOCHS, seed: int = 0,
                     device="cpu", cache_dir=None, progress: bool = True) -> list[torch.nn.Module]:
    """Surrogate checkpoints: ``model`` trained on ``train`` (the training split only) for each of ``epochs``
    with one seed and recipe (that of the selector, ``vlcp.evaluate.teacher.train_on_full``), so the shorter
    runs are the longer run's early checkpoints; each cached as ``surrogate_<model>_e<epochs>.safetensors``."""
    from pathlib import Path

    from vlcp.evaluate.teacher import train_on_full

    nets = []
    for e in epochs:
        cache = Path(cache_dir) / f"surrogate_{model}_e{e}.safetensors" if cache_dir is not None else None
        net, _ = train_on_full(train, model=model, epochs=e, seed=seed, device=device, cache=cache, progress=progress)
        nets.append(net.cpu())
    return nets


@SAMPLERS.register("influence_guided")
class InfluenceGuided(ModeGuided):
    """mode_guided plus IGD's influence guidance over ``influence_from`` … ``influence_until`` of the steps."""

    name = "influence_guided"
    Settings = InfluenceGuidedSettings
    needs_guide = True

    def __init__(self, model, guide: InfluenceGuide | None = None) -> None:
        super().__init__(model)
        self.guide = guide

    def _guide(self, eps, x, t, i: int, n: int, modes, c, siblings, class_ids) -> torch.Tensor:
        eps = super()._guide(eps, x, t, i, n, modes, c, siblings, class_ids)
        if not c.influence or not round(c.influence_from * n) <= i < round(c.influence_until * n):
            return eps
        if self.guide is None or class_ids is None:
            raise VlcpError("setting 'influence': influence_guided with influence > 0 needs a guide "
                            "(vlcp.samplers.influence.influence_guide; the CLI builds one) and the images' classes")
        a = self.scheduler.alphas_cumprod[t].to(x.device, x.dtype)
        x0 = (x - (1 - a).sqrt() * eps) / a.sqrt()
        return eps - (1 - a).sqrt() * c.influence * self._latent_gradient(x0, class_ids)

    def _latent_gradient(self, x0: torch.Tensor, class_ids) -> torch.Tensor:
        """∇ of the influence score at the clean latent ``x0``, through the VAE decoder, at unit RMS per image."""
        vae = self.model.vae
        with torch.enable_grad():
            z = x0.detach().requires_grad_(True)
            images = vae.decode(z / vae.config.scaling_factor).sample
            grad = torch.autograd.grad(self.guide.score(images, class_ids).sum(), z)[0]
        rms = grad.flatten(1).pow(2).mean(1).sqrt().clamp_min(1e-12).view(-1, *[1] * (grad.dim() - 1))
        return grad / rms
