"""MGD³'s mode guidance: λ = 0 is the stock text-to-image pipeline; λ > 0 ends nearer the prototype."""
import pytest
import torch

from vlcp.samplers import SAMPLERS
from vlcp.samplers.img2img import ddim_scheduler
from vlcp.synthesize import SynthesizeConfig, make_sampler, synthesize_batch


def _embeddings(model, prompts):
    from vlcp.models.text import encode_pair

    return encode_pair(model.text_encoder, prompts, [""] * len(prompts))


@pytest.mark.parametrize("guidance", [1.0, 3.0])
def test_zero_guidance_is_the_stock_text_to_image_pipeline(tiny_model, guidance):
    from diffusers import StableDiffusionPipeline

    config = SynthesizeConfig(sampler="mode_guided", mode_guidance=0.0, steps=8, guidance_scale=guidance,
                              negative_prompt="")
    modes = torch.randn(2, 4, 16, 16, generator=torch.Generator().manual_seed(1))
    ours = synthesize_batch(make_sampler(tiny_model, "mode_guided"), tiny_model, modes, ["a shirt", "a boot"],
                            [5, 6], config)
    cond, uncond = _embeddings(tiny_model, ["a shirt", "a boot"])
    pipe = StableDiffusionPipeline(vae=tiny_model.vae, text_encoder=None, tokenizer=None, unet=tiny_model.unet,
                                   scheduler=ddim_scheduler(tiny_model), safety_checker=None, feature_extractor=None,
                                   image_encoder=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    gens = [torch.Generator().manual_seed(s) for s in (5, 6)]
    stock = pipe(prompt_embeds=cond, negative_prompt_embeds=uncond, guidance_scale=guidance, num_inference_steps=8,
                 generator=gens, height=32, width=32, output_type="pt").images * 2 - 1
    torch.testing.assert_close(ours, stock, rtol=1e-4, atol=1e-4)


def test_guidance_ends_nearer_the_prototype(tiny_model):
    sampler = SAMPLERS.get("mode_guided")(tiny_model)
    modes = torch.randn(3, 4, 16, 16, generator=torch.Generator().manual_seed(2))
    cond, uncond = _embeddings(tiny_model, ["a", "b", "c"])

    def distance(lam, stop=0.5):
        config = SynthesizeConfig(sampler="mode_guided", mode_guidance=lam, guidance_stop=stop, steps=10,
                                  guidance_scale=2.0)
        gens = [torch.Generator().manual_seed(s) for s in range(3)]
        z = sampler.sample_latents(modes, cond, uncond, gens, config)
        return (z - modes).flatten(1).norm(dim=1)

    free, pulled, stronger = distance(0.0), distance(0.3), distance(0.3, stop=1.0)
    assert (pulled < free).all()
    assert (stronger < pulled).all()


def test_img2img_sampler_refuses_mode_guided_settings(tiny_model):
    with pytest.raises(ValueError, match="mode_guided"):
        synthesize_batch(make_sampler(tiny_model), tiny_model, torch.zeros(1, 4, 16, 16), ["a"], [0],
                         SynthesizeConfig(sampler="mode_guided"))


def test_unknown_sampler_is_a_setting_error():
    from vlcp.errors import VlcpError

    with pytest.raises(VlcpError, match="sampler"):
        SynthesizeConfig(sampler="nope")
