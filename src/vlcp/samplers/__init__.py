"""Samplers: how a prototype latent and its prompt become an image (registry ``SAMPLERS``).

A sampler is built around a model's modules by ``SAMPLERS.get(name)(model)`` and called as
``sampler(latents, cond, uncond, generators, config) -> (b, C, H, W)`` model-space images in [-1, 1],
where ``latents`` are the scaled prototype latents, ``cond`` / ``uncond`` the prompt and
negative-prompt embeddings, ``generators`` one seeded ``torch.Generator`` per image and ``config`` the
``SynthesizeConfig`` (steps, guidance and the sampler's own settings).

- ``img2img`` (the paper, the default): the prototype noised to ``strength`` and denoised by the stock
  ``StableDiffusionImg2ImgPipeline``.
- ``mode_guided`` (beyond the paper, MGD³, Chan-Santiago et al. 2025): from pure noise, the predicted
  clean latent pulled towards the prototype (the cluster's mode) during the first part of sampling,
  with the cluster's text prototype as the prompt; stock DDIM scheduler and UNet in a short loop.

- ``influence_guided`` (beyond the paper, IGD, Chen et al. 2025): ``mode_guided`` plus a climb of a
  surrogate ConvNet's training influence over a window of the steps; the surrogate (trained on the
  training split) is passed in as ``synthesize(..., guide=InfluenceGuide)``.

``selection`` (beyond the paper, off by default): best of N candidates per prototype, the one a classifier
trained on the training split finds most representative of its class.
"""
from vlcp.samplers import img2img, influence, mode_guided  # noqa: F401  (register the built-in samplers)
from vlcp.samplers.base import SAMPLERS, Sampler

__all__ = ["SAMPLERS", "Sampler"]
