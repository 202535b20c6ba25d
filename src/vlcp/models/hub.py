"""Stable Diffusion from a diffusers folder or a hub id (the paper's generator: SD v1.5), built with
the libraries' stock classes: ``AutoencoderKL``, ``UNet2DConditionModel``, ``DDPMScheduler`` (from the
folder's scheduler config), ``CLIPTextModel`` + ``CLIPTokenizer`` (wrapped in
``vlcp.models.clip_text.CLIPTextEncoder``, long-prompt chunking).

Weights come from the local folder, or for a hub id from the user's Hugging Face cache (downloaded
by ``from_pretrained`` where the machine may reach the hub; ``HF_HUB_OFFLINE=1`` keeps it to the
cache). Nothing here is specific to a checkpoint: any folder that ``StableDiffusionPipeline`` loads
works (SD v1.x; SD v2.x with its own text encoder; fine-tunes).

``save_stable_diffusion`` writes a fine-tuned model as a complete diffusers folder
(``model_index.json``, vae/, unet/, scheduler/, text_encoder/, tokenizer/) plus ``vlcp_model.json``
(model resolution, chunk cap), so ``StableDiffusionPipeline.from_pretrained`` and
``vlcp.models.load_model`` both read it back.
"""
from __future__ import annotations

from pathlib import Path

import torch

from vlcp.errors import VlcpError
from vlcp.files.atomic import atomic_write_json, read_json
from vlcp.models.clip_text import CLIPTextEncoder
from vlcp.models.generator import LatentDiffusion
from vlcp.models.weights import refusals_in_one_line

MODEL_INFO = "vlcp_model.json"
SD15 = "stable-diffusion-v1-5/stable-diffusion-v1-5"  # the paper's base (formerly runwayml/stable-diffusion-v1-5)
CHANNELS = 3


def vae_scale_factor(vae) -> int:
    """Pixels per latent cell: 2 ** (number of VAE blocks - 1) (8 for SD)."""
    return 2 ** (len(vae.config.block_out_channels) - 1)


def set_resolution(model: LatentDiffusion, resolution: int) -> LatentDiffusion:
    """Run the model at ``resolution`` px (e.g. SD v1.5, native 512, at 256): sets ``model.resolution``
    and the UNet's ``sample_size`` (saved with the model, and the pipelines' default size)."""
    factor = vae_scale_factor(model.vae)
    if resolution <= 0 or resolution % factor:
        raise VlcpError(f"setting 'resolution': {resolution} is not a positive multiple of the VAE's factor {factor}")
    model.unet.register_to_config(sample_size=resolution // factor)
    model.resolution = int(resolution)
    return model


def _info(spec: str) -> dict:
    path = Path(spec) / MODEL_INFO
    return read_json(path) if path.exists() else {}


def load_stable_diffusion(spec: str | Path, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
                          *, resolution: int | None = None, max_chunks: int | None = None,
                          revision: str | None = None, variant: str | None = None) -> LatentDiffusion:
    """Build a ``LatentDiffusion`` from a diffusers Stable Diffusion folder or hub id.

    ``resolution``: model resolution in px (default: the folder's ``vlcp_model.json``, else the
    UNet's ``sample_size`` × the VAE factor: 512 for SD v1.5). ``max_chunks``: cap of 75-token
    prompt chunks (default: the folder's, else 0 = none). ``revision``/``variant`` go to
    ``from_pretrained`` (e.g. variant "fp16").
    """
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel

    from vlcp.models.clip_text import load_clip_text

    spec = str(spec)
    if Path(spec).exists() and not (Path(spec) / "model_index.json").exists() and not (Path(spec) / "unet").is_dir():
        raise VlcpError(f"{spec}: not a diffusers Stable Diffusion folder (no model_index.json or unet/)")
    info = _info(spec)
    kw = {k: v for k, v in {"revision": revision, "variant": variant}.items() if v is not None}
    try:
        with refusals_in_one_line(spec, "vae"):
            vae = AutoencoderKL.from_pretrained(spec, subfolder="vae", torch_dtype=dtype, **kw)
        with refusals_in_one_line(spec, "unet"):
            unet = UNet2DConditionModel.from_pretrained(spec, subfolder="unet", torch_dtype=dtype, **kw)
        sched_cfg = DDPMScheduler.load_config(spec, subfolder="scheduler", **({"revision": revision} if revision else {}))
        sampling = sampling_scheduler(dict(sched_cfg))
        sched_cfg.setdefault("clip_sample", False)  # SD v1.5's PNDM config lacks it; latents are never clipped
        scheduler = DDPMScheduler.from_config(sched_cfg)
        with refusals_in_one_line(spec, "text_encoder"):
            text = load_clip_text(spec, dtype=dtype, max_chunks=int(max_chunks if max_chunks is not None
                                                                       else info.get("max_chunks") or 0), **kw)
    except (OSError, ValueError) as e:
        raise VlcpError(f"{spec}: cannot load a Stable Diffusion model from this folder or hub id — it must be a "
                        f"local diffusers folder or a hub id in your Hugging Face cache (or reachable hub) "
                        f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from e
    if int(unet.config.cross_attention_dim) != text.dim:
        raise VlcpError(f"{spec}: the UNet's cross_attention_dim {unet.config.cross_attention_dim} does not match "
                        f"the text encoder's width {text.dim}")
    vae.requires_grad_(False).eval()
    unet.requires_grad_(False).eval()
    native = int(unet.config.sample_size) * vae_scale_factor(vae)
    model = LatentDiffusion(vae, unet, scheduler, text, native, CHANNELS)
    model.sampling_scheduler = sampling
    res = resolution or info.get("resolution")
    if res and int(res) != native:
        set_resolution(model, int(res))
    for m in (vae, unet):  # already in ``dtype``
        m.to(device)
    text.to(device)
    return model


def sampling_scheduler(config: dict):
    """The base model's own scheduler (its ``_class_name``, e.g. SD v1.5's PNDM), saved with a fine-tuned
    model so that ``StableDiffusionPipeline.from_pretrained`` samples as with the base; None if unknown."""
    import diffusers

    cls = getattr(diffusers, str(config.get("_class_name", "")), None)
    return cls.from_config(config) if cls is not None and hasattr(cls, "from_config") else None


def save_stable_diffusion(model: LatentDiffusion, folder: str | Path, dtype: torch.dtype = torch.float32) -> Path:
    """Write ``model`` as a diffusers Stable Diffusion folder (weights in ``dtype``) + ``vlcp_model.json``."""
    from diffusers import StableDiffusionPipeline

    te = model.text_encoder
    if not isinstance(te, CLIPTextEncoder):
        raise VlcpError(f"save_stable_diffusion needs a CLIP text encoder, got {type(te).__name__}")
    folder = Path(folder)
    modules = [model.vae, model.unet, te.model]
    orig = [next(m.parameters()).dtype for m in modules]
    for m, d in zip(modules, orig):
        if d != dtype:
            m.to(dtype)
    try:
        pipe = StableDiffusionPipeline(vae=model.vae, text_encoder=te.model, tokenizer=te.tokenizer, unet=model.unet,
                                       scheduler=getattr(model, "sampling_scheduler", None) or model.scheduler,
                                       safety_checker=None, feature_extractor=None,
                                       image_encoder=None, requires_safety_checker=False)
        pipe.save_pretrained(folder, safe_serialization=True)
    finally:
        for m, d in zip(modules, orig):
            if d != dtype:
                m.to(d)
    atomic_write_json(folder / MODEL_INFO, {"format": "diffusers", "text_encoder": te.name,
                                            "max_chunks": te.max_chunks, "resolution": model.resolution,
                                            "channels": model.channels})
    return folder
