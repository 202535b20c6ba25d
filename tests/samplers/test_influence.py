"""Influence guidance (IGD) on top of mode_guided: weight 0 is mode_guided bit for bit; above it the images
climb the surrogate's training influence; the guide is passed in, recorded and fingerprinted."""
import json
import sys
from pathlib import Path

import pytest
import torch

from vlcp.errors import VlcpError
from vlcp.files.atomic import read_jsonl
from vlcp.samplers import SAMPLERS
from vlcp.samplers.influence import influence_guide
from vlcp.synthesize import SynthesizeConfig, synthesize

sys.path.insert(0, str(Path(__file__).parents[1] / "evaluate"))


def _embeddings(model, prompts):
    from vlcp.models.text import encode_pair

    return encode_pair(model.text_encoder, prompts, [""] * len(prompts))


@pytest.fixture()
def guide(tiny_model):
    from evalhelpers import pattern_images

    from vlcp.evaluate.networks import build_network

    train = pattern_images(12, seed=1)
    nets = [build_network("convnet3", 1, 2, 28, seed=s) for s in (0, 1)]  # two checkpoints
    return influence_guide(train, nets, tiny_model.adapter(28, 1), per_class=8)


def _sample(model, guide, w, lam=0.2):
    c = SynthesizeConfig(sampler="influence_guided", mode_guidance=lam, guidance_stop=1.0, influence=w,
                         influence_from=0.0, influence_until=1.0, steps=5, guidance_scale=2.0)
    modes = torch.randn(2, 4, 16, 16, generator=torch.Generator().manual_seed(7))
    cond, uncond = _embeddings(model, ["a square", "a bar"])
    sampler = SAMPLERS.get("influence_guided")(model, guide=guide)
    gens = [torch.Generator().manual_seed(s) for s in (1, 2)]
    return sampler.sample_latents(modes, cond, uncond, gens, c, modes, ["square", "bar"]), c, modes, cond, uncond


def test_weight_zero_is_mode_guided_bit_for_bit(tiny_model, guide):
    ours, c, modes, cond, uncond = _sample(tiny_model, guide, 0.0)
    base = SAMPLERS.get("mode_guided")(tiny_model).sample_latents(
        modes, cond, uncond, [torch.Generator().manual_seed(s) for s in (1, 2)], c)
    assert torch.equal(ours, base)


def test_weight_above_zero_climbs_the_influence(tiny_model, guide):
    def score(z):
        images = tiny_model.vae.decode(z / tiny_model.vae.config.scaling_factor).sample
        with torch.enable_grad():
            return guide.score(images, ["square", "bar"]).detach()

    base, pushed = _sample(tiny_model, guide, 0.0)[0], _sample(tiny_model, guide, 2.0)[0]
    assert not torch.equal(base, pushed)
    assert score(pushed).mean() > score(base).mean()


def test_settings_are_checked():
    with pytest.raises(VlcpError, match="influence"):
        SynthesizeConfig(sampler="influence_guided", influence=-1.0)
    with pytest.raises(VlcpError, match="influence_from"):
        SynthesizeConfig(sampler="influence_guided", influence_from=0.8, influence_until=0.2)


def test_synthesize_needs_records_and_fingerprints_the_guide(tiny_model, guide, tmp_path):
    from tests.samplers.test_start import write_prototypes

    write_prototypes(tmp_path / "p")
    cfg = SynthesizeConfig(sampler="influence_guided", mode_guidance=0.2, influence=0.5, steps=2, guidance_scale=1.0)
    with pytest.raises(VlcpError, match="needs a guide"):
        synthesize(tiny_model, tmp_path / "p", tmp_path / "d", cfg, 28, 1, progress=False)
    assert not (tmp_path / "d" / "bag").exists()  # stopped before any image
    # the prototypes' classes (trouser, bag) must be the guide's: rename the targets for this case
    guide.targets = [{"trouser": t["square"], "bag": t["bar"]} for t in guide.targets]
    out = synthesize(tiny_model, tmp_path / "p", tmp_path / "d", cfg, 28, 1, progress=False, guide=guide)
    row = next(iter(read_jsonl(out / "metadata.jsonl")))
    assert row["sampler"] == "influence_guided" and row["influence"] == 0.5 and row["influence_until"] == 0.5
    assert json.loads((out / ".fingerprint-synthesize.json").read_text())["guide"] == guide.digest()
    guide.targets = [{c: -g for c, g in t.items()} for t in guide.targets]  # another guide: no silent resume
    with pytest.raises(VlcpError, match="guide"):
        synthesize(tiny_model, tmp_path / "p", tmp_path / "d", cfg, 28, 1, progress=False, guide=guide)
