"""Tiny random models of the paper's configuration, built from configs (no network, no weights).

- ``make_tiny_sd(folder)``: a Stable Diffusion v1.5-shaped diffusers folder (model_index.json,
  AutoencoderKL with 4 blocks = factor 8, UNet2DConditionModel with cross-attention, SD v1.5's
  PNDM scheduler config, CLIPTextModel + the committed tiny CLIP tokenizer); 64 px, latents 4×8×8.
- ``make_tiny_llava(folder)``: a LlavaForConditionalGeneration (CLIP vision tower + Llama) with the
  committed tiny LLaVA processor.
- ``make_imagenet_tree(root, ...)``: an ImageNet-layout tree (train/<wnid>/, val/<wnid>/) of small
  JPEGs for a preset's classes.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CLIP_TOKENIZER = FIXTURES / "tiny-clip-tokenizer"
LLAVA_PROCESSOR = FIXTURES / "tiny-llava-processor"
TINY_RESOLUTION = 64


def tiny_clip_text(seed: int = 0):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    tok = CLIPTokenizer.from_pretrained(CLIP_TOKENIZER)
    torch.manual_seed(seed)
    cfg = CLIPTextConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=77, projection_dim=32,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                         hidden_act="quick_gelu")
    return CLIPTextModel(cfg).eval(), tok


def make_tiny_sd(folder: str | Path, seed: int = 0) -> Path:
    """Write a tiny random SD-v1.5-shaped diffusers folder and return it."""
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel

    folder = Path(folder)
    text, tok = tiny_clip_text(seed)
    torch.manual_seed(seed + 1)
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16, 16, 16),
                        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                        layers_per_block=1, norm_num_groups=8, sample_size=TINY_RESOLUTION, scaling_factor=0.18215)
    torch.manual_seed(seed + 2)
    unet = UNet2DConditionModel(sample_size=TINY_RESOLUTION // 8, in_channels=4, out_channels=4, layers_per_block=1,
                                block_out_channels=(16, 32), down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32,
                                attention_head_dim=8, norm_num_groups=8)
    # SD v1.5's scheduler folder (the stock loader builds the DDPM training schedule from it)
    scheduler = PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              num_train_timesteps=1000, set_alpha_to_one=False, skip_prk_steps=True, steps_offset=1)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=tok, unet=unet, scheduler=scheduler,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


def make_tiny_llava(folder: str | Path, seed: int = 0) -> Path:
    """Write a tiny random LLaVA (model + the committed processor) and return the folder."""
    from transformers import AutoProcessor, CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    folder = Path(folder)
    proc = AutoProcessor.from_pretrained(LLAVA_PROCESSOR)
    tok = proc.tokenizer
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
                              image_size=32, patch_size=8, projection_dim=32)
    text = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                       bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    cfg = LlavaConfig(vision_config=vision, text_config=text, image_token_index=proc.image_token_id,
                      vision_feature_select_strategy="default", vision_feature_layer=-2,
                      projector_hidden_act="gelu", pad_token_id=tok.pad_token_id)
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(cfg).eval()
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.eos_token_id = tok.eos_token_id
    model.save_pretrained(folder, safe_serialization=True)
    proc.save_pretrained(folder)
    return folder


def make_imagenet_tree(root: str | Path, classes: list[str], n_train: int = 4, n_val: int = 2, seed: int = 0,
                       all_classes: list[str] | None = None) -> Path:
    """``root/train/<wnid>/*.JPEG`` and ``root/val/<wnid>/*.JPEG``: smooth random colour images of odd
    sizes (the loader resizes and centre-crops them). Classes in ``all_classes`` but not in ``classes``
    get a single image (the tree has them, the preset reads only its own)."""
    from PIL import Image

    root = Path(root)
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("val", n_val)):
        for c, wnid in enumerate(all_classes or classes):
            k = n if wnid in classes else 1
            d = root / split / wnid
            d.mkdir(parents=True, exist_ok=True)
            for i in range(k):
                h, w = int(rng.integers(40, 60)), int(rng.integers(40, 70))
                base = rng.uniform(0, 255, 3)
                yy, xx = np.mgrid[0:h, 0:w]
                img = base + 60 * np.sin(xx[..., None] / (3 + c) + i) + 40 * np.cos(yy[..., None] / (4 + i))
                Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(d / f"{wnid}_{i:04d}.JPEG", quality=90)
    return root
