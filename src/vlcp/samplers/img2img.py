"""The paper's sampler: img2img from the prototype latent with the stock diffusers pipeline."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from vlcp.samplers.base import SAMPLERS, SamplerSettings
from vlcp.settings.config import check


def ddim_scheduler(model, **overrides):
    """A DDIM scheduler derived from the model's training schedule (SD's sampling settings)."""
    from diffusers import DDIMScheduler

    return DDIMScheduler.from_config(model.scheduler.config, clip_sample=False, set_alpha_to_one=False,
                                     steps_offset=1, **overrides)


def make_pipeline(model):
    """The stock img2img pipeline around the model's modules (no tokenizer: prompts go in as embeddings)."""
    from diffusers import StableDiffusionImg2ImgPipeline

    pipe = StableDiffusionImg2ImgPipeline(vae=model.vae, text_encoder=None, tokenizer=None, unet=model.unet,
                                          scheduler=ddim_scheduler(model), safety_checker=None,
                                          feature_extractor=None, image_encoder=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@dataclass(frozen=True)
class Img2ImgSettings(SamplerSettings):
    """img2img's own setting: how far the prototype latent is noised before denoising."""

    strength: float = field(default=0.7, metadata={"help": "noise level of the prototype latents (0..1]"})
    describe_as = "was noised to strength {strength} and denoised (img2img, the paper)"

    def __post_init__(self) -> None:
        check(0 < self.strength <= 1, "strength", "must be in (0, 1]")

    def check_steps(self, steps: int) -> None:
        """At least one denoising step: ``int(steps × strength) >= 1``."""
        check(int(steps * self.strength) >= 1, "strength",
              f"strength × steps = {self.strength} × {steps} gives no denoising step; raise strength or steps")


@SAMPLERS.register("img2img")
class Img2Img:
    """Noise each prototype latent to ``strength`` of the schedule, denoise with guidance (the paper)."""

    name = "img2img"
    Settings = Img2ImgSettings

    def __init__(self, model) -> None:
        self.pipe = make_pipeline(model)

    @torch.no_grad()
    def __call__(self, latents, cond, uncond, generators, c):
        out = self.pipe(image=latents, prompt_embeds=cond, negative_prompt_embeds=uncond, strength=c.strength,
                        guidance_scale=c.guidance_scale, num_inference_steps=c.steps, generator=generators,
                        output_type="pt")
        return out.images.float() * 2 - 1
