"""Repulsion (IGD's diversity term) on top of mode_guided: off at weight 0, away from the sibling above it."""
import json

import pytest
import torch

from vlcp.errors import VlcpError
from vlcp.files.atomic import read_jsonl
from vlcp.samplers import SAMPLERS
from vlcp.synthesize import SynthesizeConfig, load_prototypes, nearest_siblings, synthesize

from tests.samplers.test_start import write_prototypes


def _embeddings(model, prompts):
    from vlcp.models.text import encode_pair

    return encode_pair(model.text_encoder, prompts, [""] * len(prompts))


def test_nearest_sibling_is_the_closest_other_prototype_of_the_class():
    lat = torch.tensor([0.0, 1.0, 5.0, 5.5]).view(4, 1, 1, 1)
    assert nearest_siblings(lat).flatten().tolist() == [1.0, 0.0, 5.5, 5.0]
    assert torch.equal(nearest_siblings(lat[:1]), lat[:1])  # a class of one: itself


def test_prototypes_carry_their_siblings(tmp_path):
    centres = write_prototypes(tmp_path / "p", k=3)
    protos = load_prototypes(tmp_path / "p")
    for p in protos:
        others = [j for j in range(3) if j != p.cluster]
        dist = [(centres[p.class_id][j] - p.latent).norm() for j in others]
        nearest = others[int(torch.tensor(dist).argmin())]
        assert torch.equal(p.sibling, centres[p.class_id][nearest])


@pytest.mark.parametrize("lam", [0.0, 0.2])
def test_weight_zero_is_mode_guided_bit_for_bit_and_weight_above_moves_away(tiny_model, lam):
    sampler = SAMPLERS.get("mode_guided")(tiny_model)
    g = torch.Generator().manual_seed(4)
    modes, siblings = torch.randn(2, 4, 16, 16, generator=g), torch.randn(2, 4, 16, 16, generator=g)
    cond, uncond = _embeddings(tiny_model, ["a shirt", "a boot"])

    def sample(w, sib=siblings):
        c = SynthesizeConfig(sampler="mode_guided", mode_guidance=lam, guidance_stop=0.5, repulsion=w, steps=6,
                             guidance_scale=2.0)
        return sampler.sample_latents(modes, cond, uncond, [torch.Generator().manual_seed(s) for s in (1, 2)], c,
                                      sib)

    base = sample(0.0, None)  # mode_guided as it was: no siblings at all
    assert torch.equal(sample(0.0), base)
    pushed = sample(0.3)
    assert not torch.equal(pushed, base)
    away = lambda z: (z - siblings).flatten(1).norm(dim=1)  # noqa: E731
    assert (away(pushed) > away(base)).all()


def test_repulsion_needs_siblings_and_a_valid_weight(tiny_model):
    with pytest.raises(VlcpError, match="repulsion"):
        SynthesizeConfig(sampler="mode_guided", repulsion=-0.1)
    c = SynthesizeConfig(sampler="mode_guided", repulsion=0.1, steps=2)
    cond, uncond = _embeddings(tiny_model, ["a"])
    with pytest.raises(ValueError, match="siblings"):
        SAMPLERS.get("mode_guided")(tiny_model).sample_latents(torch.zeros(1, 4, 16, 16), cond, uncond,
                                                              [torch.Generator()], c)


def test_repulsion_is_recorded_fingerprinted_and_independent_of_the_batch(tiny_model, tmp_path):
    write_prototypes(tmp_path / "p", k=3)
    base = dict(sampler="mode_guided", mode_guidance=0.2, steps=3, guidance_scale=1.0)
    off = synthesize(tiny_model, tmp_path / "p", tmp_path / "off", SynthesizeConfig(**base), 28, 1, progress=False)
    assert "repulsion" not in next(iter(read_jsonl(off / "metadata.jsonl")))  # rows of earlier runs unchanged
    assert "repulsion" not in json.loads((off / ".fingerprint-synthesize.json").read_text())
    one = synthesize(tiny_model, tmp_path / "p", tmp_path / "one", SynthesizeConfig(**base, repulsion=0.5,
                     batch_size=1), 28, 1, progress=False)
    many = synthesize(tiny_model, tmp_path / "p", tmp_path / "many", SynthesizeConfig(**base, repulsion=0.5,
                      batch_size=6), 28, 1, progress=False)
    assert next(iter(read_jsonl(one / "metadata.jsonl")))["repulsion"] == 0.5
    for name in ("bag/0.png", "trouser/2.png"):
        assert (one / name).read_bytes() == (many / name).read_bytes()
    assert any((one / n).read_bytes() != (off / n).read_bytes() for n in ("bag/0.png", "bag/1.png", "trouser/0.png"))
    with pytest.raises(VlcpError, match="repulsion"):  # a changed weight does not resume over the images
        synthesize(tiny_model, tmp_path / "p", tmp_path / "one", SynthesizeConfig(**base, repulsion=0.4,
                   batch_size=1), 28, 1, progress=False)
