"""The generator bundle every diffusion stage takes: built modules plus the pixel adapter."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from vlcp.models.text import TextEncoder


@dataclass
class PixelAdapter:
    """Maps dataset images ([0, 1], ``data_channels`` × ``data_resolution``²) to model input
    ([-1, 1], ``model_channels`` × ``model_resolution``²) and back.

    With ``pad_small`` (the embedded model, trained that way) and a model side exceeding the data side
    by at most 8 pixels (Fashion-MNIST 28 → 32), the image is zero-padded and cropped back exactly;
    otherwise (always for Stable Diffusion models, fine-tuned on resized images) it is resized
    (bicubic, antialiased).
    Channels: grey → RGB by repetition, RGB → grey by the mean.
    """

    data_resolution: int
    data_channels: int
    model_resolution: int
    model_channels: int
    pad_small: bool = False

    @property
    def _pad(self) -> int | None:
        diff = self.model_resolution - self.data_resolution
        return diff if self.pad_small and 0 <= diff <= 8 else None

    def to_model(self, images: torch.Tensor) -> torch.Tensor:
        x = _match_channels(images, self.model_channels)
        pad = self._pad
        if pad is not None:
            x = F.pad(x, (pad // 2, pad - pad // 2, pad // 2, pad - pad // 2))
        else:
            x = F.interpolate(x, size=(self.model_resolution,) * 2, mode="bicubic", antialias=True,
                              align_corners=False)
        return x.clamp(0, 1) * 2 - 1

    def to_data(self, x: torch.Tensor) -> torch.Tensor:
        """Model output in [-1, 1] → dataset images in [0, 1]."""
        x = (x.float() / 2 + 0.5).clamp(0, 1)
        pad = self._pad
        if pad is not None:
            lo = pad // 2
            x = x[..., lo:lo + self.data_resolution, lo:lo + self.data_resolution]
        else:
            x = F.interpolate(x, size=(self.data_resolution,) * 2, mode="bicubic", antialias=True,
                              align_corners=False).clamp(0, 1)
        return _match_channels(x, self.data_channels)


def _match_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    if x.shape[1] == channels:
        return x
    if channels == 3 and x.shape[1] == 1:
        return x.repeat(1, 3, 1, 1)
    if channels == 1:
        return x.mean(1, keepdim=True)
    raise ValueError(f"cannot map {x.shape[1]} channels to {channels}")


@dataclass
class LatentDiffusion:
    """A latent diffusion model, built: ``vae`` (AutoencoderKL), ``unet`` (UNet2DConditionModel),
    ``scheduler`` (the noise scheduler used in training; synthesis derives DDIM from its config),
    ``text_encoder`` (``TextEncoder``), ``resolution`` and ``channels`` of the model's pixel space."""

    vae: torch.nn.Module
    unet: torch.nn.Module
    scheduler: object
    text_encoder: TextEncoder
    resolution: int
    channels: int
    pad_small: bool = False  # the embedded model's pad/crop rule (see PixelAdapter)
    spec: str | None = None  # what load_model built it from ("embedded", a folder, a hub id); None: built in memory

    def adapter(self, data_resolution: int, data_channels: int) -> PixelAdapter:
        return PixelAdapter(data_resolution, data_channels, self.resolution, self.channels, self.pad_small)

    def latent_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of this model's latents: the UNet's input channels, the resolution over the VAE's factor."""
        side = self.resolution // 2 ** (len(self.vae.config.block_out_channels) - 1)
        return int(self.unet.config.in_channels), side, side

    def check_latents(self, latents, source) -> None:
        """Stop with one line naming ``source`` when a latent of ``latents`` does not fit this model."""
        from vlcp.errors import VlcpError

        bad = next((tuple(x.shape) for x in latents if tuple(x.shape) != self.latent_shape()), None)
        if bad is not None:
            raise VlcpError(f"{source}: latents of shape {bad} do not fit this model's {self.latent_shape()} (made "
                            "with another model?); rerun `vlcp encode` and `vlcp prototypes` with this model")

    @property
    def latent_scale(self) -> float:
        return float(self.vae.config.scaling_factor)

    def to(self, device: torch.device | str, dtype: torch.dtype = torch.float32) -> "LatentDiffusion":
        self.vae.to(device, dtype)
        self.unet.to(device, dtype)
        self.text_encoder.to(device)
        return self
