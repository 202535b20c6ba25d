"""The embedded default generator: a small Stable-Diffusion-shaped latent diffusion model for
28×28 greyscale images (Fashion-MNIST), built from diffusers classes and conditioned on
all-MiniLM-L6-v2 token embeddings (cross_attention_dim 384).

Pixel space 1×32×32 (28×28 zero-padded), VAE latents 4×8×8. The trained weights are committed under
``vlcp/resources/fashion_mnist_ldm/`` (fp16 safetensors, about 16 MB); ``vlcp train`` reproduces them.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

import torch
from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel

from vlcp.errors import VlcpError
from vlcp.files.atomic import atomic_write_json, read_json
from vlcp.models.generator import LatentDiffusion
from vlcp.models.text import TextEncoder, load_minilm
from vlcp.models.weights import refusals_in_one_line

RESOLUTION = 32
CHANNELS = 1
TEXT_LENGTH = 48  # tokens; the attribute captions need at most 41
MODEL_INFO = "vlcp_model.json"


def embedded_checkpoint() -> Path:
    """The committed checkpoint folder inside the package."""
    return Path(str(resources.files("vlcp") / "resources" / "fashion_mnist_ldm"))


def build_vae(channels: int = CHANNELS, resolution: int = RESOLUTION,
              block_out_channels: tuple[int, ...] = (32, 64, 64)) -> AutoencoderKL:
    """AutoencoderKL with random weights: downsamples by 2**(len(blocks)-1), 4 latent channels."""
    n = len(block_out_channels)
    return AutoencoderKL(in_channels=channels, out_channels=channels, latent_channels=4,
                         down_block_types=("DownEncoderBlock2D",) * n, up_block_types=("UpDecoderBlock2D",) * n,
                         block_out_channels=block_out_channels, layers_per_block=1, norm_num_groups=32,
                         sample_size=resolution)


def build_unet(sample_size: int = 8, cross_attention_dim: int = 384,
               block_out_channels: tuple[int, ...] = (64, 128, 128)) -> UNet2DConditionModel:
    """UNet2DConditionModel with random weights, SD's block pattern at small width."""
    n = len(block_out_channels)
    return UNet2DConditionModel(sample_size=sample_size, in_channels=4, out_channels=4, layers_per_block=1,
                                block_out_channels=block_out_channels,
                                down_block_types=("CrossAttnDownBlock2D",) * (n - 1) + ("DownBlock2D",),
                                up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * (n - 1),
                                cross_attention_dim=cross_attention_dim, attention_head_dim=8, norm_num_groups=32)


def build_noise_scheduler() -> DDPMScheduler:
    """Stable Diffusion's training schedule (scaled-linear betas, 1000 steps, epsilon prediction)."""
    return DDPMScheduler(num_train_timesteps=1000, beta_schedule="scaled_linear", beta_start=0.00085,
                         beta_end=0.012, clip_sample=False, steps_offset=1)


def build_embedded(text_encoder: TextEncoder | None = None, vae_blocks: tuple[int, ...] = (32, 64, 64),
                   unet_blocks: tuple[int, ...] = (64, 128, 128)) -> LatentDiffusion:
    """A fresh (untrained) embedded model; the text encoder defaults to MiniLM."""
    text_encoder = text_encoder or load_minilm(max_length=TEXT_LENGTH)
    vae = build_vae(block_out_channels=vae_blocks)
    latent_side = RESOLUTION // 2 ** (len(vae_blocks) - 1)
    unet = build_unet(latent_side, text_encoder.dim, unet_blocks)
    return LatentDiffusion(vae, unet, build_noise_scheduler(), text_encoder, RESOLUTION, CHANNELS, pad_small=True)


def save_generator(model: LatentDiffusion, folder: str | Path, dtype: torch.dtype = torch.float32) -> None:
    """Write a diffusers-style folder: vae/, unet/, scheduler/ and ``vlcp_model.json``."""
    folder = Path(folder)
    for name in ("vae", "unet"):
        module = getattr(model, name)
        orig = next(module.parameters()).dtype
        module.to(dtype).save_pretrained(folder / name, safe_serialization=True)
        module.to(orig)
    model.scheduler.save_pretrained(folder / "scheduler")
    te = model.text_encoder
    atomic_write_json(folder / MODEL_INFO, {
        "text_encoder": getattr(te, "name", "minilm"), "text_max_length": getattr(te, "max_length", None),
        "resolution": model.resolution, "channels": model.channels})


def load_generator(folder: str | Path | None = None, text_encoder: TextEncoder | None = None,
                   device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> LatentDiffusion:
    """Load a folder written by ``save_generator`` (default: the committed embedded checkpoint); its
    ``vlcp_model.json`` is checked against the VAE and UNet it describes (``_check_fit``)."""
    folder = Path(folder) if folder is not None else embedded_checkpoint()
    if not (folder / MODEL_INFO).exists():
        raise VlcpError(f"{folder}: not a vlcp model folder (missing {MODEL_INFO}; train one with `vlcp train`)")
    info = _read_info(folder / MODEL_INFO)
    if text_encoder is None:
        text_encoder = _text_encoder(folder / MODEL_INFO, info, device)
    with refusals_in_one_line(folder, "vae"):
        vae = AutoencoderKL.from_pretrained(folder / "vae", torch_dtype=dtype)
    with refusals_in_one_line(folder, "unet"):
        unet = UNet2DConditionModel.from_pretrained(folder / "unet", torch_dtype=dtype)
    scheduler = DDPMScheduler.from_pretrained(folder / "scheduler")
    _check_fit(folder / MODEL_INFO, info, vae, unet)
    model = LatentDiffusion(vae, unet, scheduler, text_encoder, info["resolution"], info["channels"], pad_small=True)
    return model.to(device, dtype)


def _read_info(path: Path) -> dict:
    """``vlcp_model.json``: ``text_encoder`` a name, ``resolution`` and ``channels`` positive integers."""
    info = read_json(path)
    if not isinstance(info, dict):
        raise VlcpError(f"{path}: expected a JSON object (text_encoder, resolution, channels); retrain the model")
    for key, ok, want in (("text_encoder", isinstance(info.get("text_encoder"), str), "a text encoder's name"),
                          ("resolution", _positive_int(info.get("resolution")), "a positive integer"),
                          ("channels", _positive_int(info.get("channels")), "a positive integer")):
        if not ok:
            raise VlcpError(f"{path}: {key!r} is {info.get(key)!r}, expected {want}; restore the file or retrain "
                            "the model")
    return info


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _text_encoder(path: Path, info: dict, device) -> TextEncoder:
    """The text encoder ``info`` names: MiniLM, the one vlcp builds by itself."""
    name = info["text_encoder"]
    if name != "minilm":
        raise VlcpError(f"{path}: text_encoder {name!r} is not one vlcp loads by itself (it loads 'minilm'); load "
                        "this folder from Python with vlcp.models.embedded.load_generator(folder, text_encoder=...) "
                        "giving that encoder, or, if the model was trained with MiniLM, set \"text_encoder\": "
                        "\"minilm\" in the file")
    return load_minilm(device, max_length=info.get("text_max_length") or 64)


def _check_fit(path: Path, info: dict, vae, unet) -> None:
    """Stop when ``vlcp_model.json``'s channels or resolution do not fit the VAE and UNet it describes."""
    vae_channels = int(vae.config.in_channels)
    if info["channels"] != vae_channels or int(vae.config.out_channels) != vae_channels:
        raise VlcpError(f"{path}: channels {info['channels']} does not fit the model's VAE (vae/config.json: "
                        f"in_channels {vae_channels}, out_channels {vae.config.out_channels}); set channels to "
                        f"{vae_channels}, or retrain the model")
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    side = int(unet.config.sample_size) * factor
    if info["resolution"] != side:
        raise VlcpError(f"{path}: resolution {info['resolution']} does not fit the model (unet/config.json: "
                        f"sample_size {unet.config.sample_size} latent cells × the VAE's {factor} px per cell = "
                        f"{side} px); set resolution to {side}, or retrain the model")
