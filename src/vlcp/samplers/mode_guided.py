"""MGD³'s mode guidance (arXiv 2505.18963), with a text prototype as the prompt (beyond the paper).

From pure noise, each DDIM step's noise prediction (classifier-free guided) is corrected towards the
image prototype ``m`` (the cluster's mode): ε̂ = ε − √(1−ᾱ_t)·λ·(m − x̂₀), where x̂₀ is the clean latent
predicted from ε, during the first ``guidance_stop`` of the steps; afterwards sampling is unguided.
With λ = 0 this is text-to-image sampling, the stock ``StableDiffusionPipeline`` with the same noise.
The loop calls the stock ``DDIMScheduler.step`` and the UNet; v-prediction models are read as ε.

``repulsion`` w > 0 (beyond MGD³: the diversity term of IGD, ICLR 2025, in its simplest form) adds, over the
same guided steps, a push of x̂₀ away from the image's *sibling* s, the start latent of the nearest other
prototype of its class: ε̂ = ε − √(1−ᾱ_t)·(λ·(m − x̂₀) − w·(s − x̂₀)). Siblings are fixed by the prototypes
(``vlcp.synthesize.load_prototypes``), not by which images share a batch, so the images do not depend on the
batch size, shards or resuming. With w = 0 the loop is the one above, bit for bit.
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
    repulsion: float = field(default=0.0, metadata={
        "help": "mode_guided: weight w of the push away from the nearest other prototype of the image's class "
                "over the guided steps (beyond the paper, IGD's diversity term; 0: off)", "quiet": True})
    describe_as = ("was the mode that sampling from pure noise was pulled towards, with weight {mode_guidance} "
                   "over the first {guidance_stop} of the steps (mode_guided, MGD³)")

    def __post_init__(self) -> None:
        check(math.isfinite(self.mode_guidance) and self.mode_guidance >= 0, "mode_guidance",
              "must be a finite number >= 0")
        check(0 <= self.guidance_stop <= 1, "guidance_stop", "must be in [0, 1]")
        check(math.isfinite(self.repulsion) and self.repulsion >= 0, "repulsion", "must be a finite number >= 0")

    def describe(self) -> str:
        extra = (f", pushed away from the nearest other prototype of its class with weight {self.repulsion}"
                 if self.repulsion else "")
        return super().describe() + extra


@SAMPLERS.register("mode_guided")
class ModeGuided:
    """``config.mode_guidance`` is λ, ``config.guidance_stop`` the guided fraction of the steps."""

    name = "mode_guided"
    Settings = ModeGuidedSettings
    uses_context = True  # called with siblings= and class_ids= (see vlcp.samplers.base.Sampler)

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
    def sample_latents(self, modes: torch.Tensor, cond, uncond, generators, c, siblings=None,
                       class_ids=None) -> torch.Tensor:
        """Scaled latents after sampling towards ``modes`` (b, C, h, w) with the settings ``c``; ``siblings``
        (b, C, h, w): what ``c.repulsion`` pushes away from (needed only when it is on); ``class_ids``: the
        images' classes (for a subclass's guidance)."""
        if c.repulsion and siblings is None:
            raise ValueError("mode_guided: repulsion > 0 needs the siblings of the batch's prototypes")
        sched = self.scheduler
        sched.set_timesteps(c.steps, device=modes.device)
        x = randn_tensor(modes.shape, generator=generators, device=modes.device, dtype=modes.dtype)  # as the pipelines
        x = x * sched.init_noise_sigma
        n = len(sched.timesteps)
        for i, t in enumerate(sched.timesteps):
            eps = self._epsilon(sched.scale_model_input(x, t), t, cond, uncond, c.guidance_scale)
            eps = self._guide(eps, x, t, i, n, modes, c, siblings, class_ids)
            x = sched.step(eps, t, x, return_dict=False)[0]
        return x

    def _guide(self, eps, x, t, i: int, n: int, modes, c, siblings, class_ids) -> torch.Tensor:
        """The noise prediction corrected at step ``i`` of ``n``."""
        if (c.mode_guidance or c.repulsion) and i < round(c.guidance_stop * n):
            a = self.scheduler.alphas_cumprod[t].to(x.device, x.dtype)
            x0 = (x - (1 - a).sqrt() * eps) / a.sqrt()
            if c.repulsion:
                eps = eps - (1 - a).sqrt() * (c.mode_guidance * (modes - x0) - c.repulsion * (siblings - x0))
            else:  # MGD³'s expression exactly as before repulsion existed (same rounding)
                eps = eps - (1 - a).sqrt() * c.mode_guidance * (modes - x0)
        return eps

    @torch.no_grad()
    def __call__(self, latents, cond, uncond, generators, c, siblings=None, class_ids=None):
        z = self.sample_latents(latents, cond, uncond, generators, c, siblings, class_ids)
        vae = self.model.vae
        return vae.decode(z / vae.config.scaling_factor).sample.float().clamp(-1, 1)
