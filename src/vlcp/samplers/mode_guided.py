"""MGD³'s mode guidance (arXiv 2505.18963), with a text prototype as the prompt (beyond the paper).

From pure noise, each DDIM step's noise prediction (classifier-free guided) is corrected towards the
image prototype ``m`` (the cluster's mode): ε̂ = ε − √(1−ᾱ_t)·λ·(m − x̂₀), where x̂₀ is the clean latent
predicted from ε, during the first ``guidance_stop`` of the steps; afterwards sampling is unguided.
With λ = 0 this is text-to-image sampling, the stock ``StableDiffusionPipeline`` with the same noise.
The loop calls the stock ``DDIMScheduler.step`` and the UNet; v-prediction models are read as ε.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from diffusers.utils.torch_utils import randn_tensor

from vlcp.samplers.base import SAMPLERS, SamplerSettings
from vlcp.samplers.img2img import ddim_scheduler
from vlcp.settings.config import check


@dataclass(frozen=True)
class ModeGuidedSettings(SamplerSettings):
    """mode_guided's own settings: the pull's weight and the guided fraction of the steps."""

    mode_guidance: float = field(default=0.1, metadata={
        "help": "mode_guided: weight λ of the pull towards the prototype (MGD³: 0.1)"})
    guidance_stop: float = field(default=0.5, metadata={
        "help": "mode_guided: fraction of the steps that are guided, from the start (MGD³: half)"})
    describe_as = ("was the mode that sampling from pure noise was pulled towards, with weight {mode_guidance} "
                   "over the first {guidance_stop} of the steps (mode_guided, MGD³)")

    def __post_init__(self) -> None:
        check(math.isfinite(self.mode_guidance) and self.mode_guidance >= 0, "mode_guidance",
              "must be a finite number >= 0")
        check(0 <= self.guidance_stop <= 1, "guidance_stop", "must be in [0, 1]")


@SAMPLERS.register("mode_guided")
class ModeGuided:
    """``config.mode_guidance`` is λ, ``config.guidance_stop`` the guided fraction of the steps."""

    name = "mode_guided"
    Settings = ModeGuidedSettings

    def __init__(self, model) -> None:
        self.model = model
        self.scheduler = ddim_scheduler(model, prediction_type="epsilon")  # the loop always steps with ε

    def _epsilon(self, x, t, cond, uncond, g: float) -> torch.Tensor:
        unet = self.model.unet
        if g > 1:
            out = unet(torch.cat([x, x]), t, encoder_hidden_states=torch.cat([uncond, cond])).sample
            u, c = out.chunk(2)
            out = u + g * (c - u)
        else:
            out = unet(x, t, encoder_hidden_states=cond).sample
        if self.model.scheduler.config.prediction_type == "v_prediction":
            a = self.scheduler.alphas_cumprod[t].to(x.device, x.dtype)
            out = a.sqrt() * out + (1 - a).sqrt() * x
        return out

    @torch.no_grad()
    def sample_latents(self, modes: torch.Tensor, cond, uncond, generators, c) -> torch.Tensor:
        """Scaled latents after sampling towards ``modes`` (b, C, h, w) with the settings ``c``."""
        sched = self.scheduler
        sched.set_timesteps(c.steps, device=modes.device)
        x = randn_tensor(modes.shape, generator=generators, device=modes.device, dtype=modes.dtype)  # as the pipelines
        x = x * sched.init_noise_sigma
        guided = round(c.guidance_stop * len(sched.timesteps))
        for i, t in enumerate(sched.timesteps):
            eps = self._epsilon(sched.scale_model_input(x, t), t, cond, uncond, c.guidance_scale)
            if c.mode_guidance and i < guided:
                a = sched.alphas_cumprod[t].to(x.device, x.dtype)
                x0 = (x - (1 - a).sqrt() * eps) / a.sqrt()
                eps = eps - (1 - a).sqrt() * c.mode_guidance * (modes - x0)
            x = sched.step(eps, t, x, return_dict=False)[0]
        return x

    @torch.no_grad()
    def __call__(self, latents, cond, uncond, generators, c):
        z = self.sample_latents(latents, cond, uncond, generators, c)
        vae = self.model.vae
        return vae.decode(z / vae.config.scaling_factor).sample.float().clamp(-1, 1)
