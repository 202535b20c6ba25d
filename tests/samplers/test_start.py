"""Where sampling starts (SynthesizeConfig.start): the paper's k-means centre, the medoid or a mix."""
import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from vlcp.errors import VlcpError
from vlcp.files.atomic import atomic_write_json, read_jsonl
from vlcp.synthesize import SynthesizeConfig, load_prototypes, synthesize


def write_prototypes(folder, k=2, medoids=True):
    g = torch.Generator().manual_seed(3)
    folder.mkdir(parents=True, exist_ok=True)
    centres = {c: torch.randn(k, 4, 16, 16, generator=g) for c in ("trouser", "bag")}
    save_file(centres, str(folder / "prototypes.safetensors"))
    if medoids:
        save_file({c: v + 1.0 for c, v in centres.items()}, str(folder / "medoids.safetensors"))
    atomic_write_json(folder / "text_prototypes.json", {"strategy": "label", "classes": {
        c: [{"cluster": i, "text": f"a {c} {i}", "size": 1} for i in range(k)] for c in ("trouser", "bag")}})
    return centres


def test_start_picks_centre_medoid_or_mix(tmp_path):
    centres = write_prototypes(tmp_path / "p")
    for start, mix, shift in (("centre", 0.5, 0.0), ("medoid", 0.5, 1.0), ("mix", 0.25, 0.25)):
        protos = load_prototypes(tmp_path / "p", start, mix)
        for p in protos:
            assert torch.allclose(p.latent, centres[p.class_id][p.cluster] + shift, atol=1e-6), start


def test_old_prototypes_without_medoids_say_what_to_do(tmp_path):
    write_prototypes(tmp_path / "p", medoids=False)
    assert len(load_prototypes(tmp_path / "p")) == 4  # the paper's start needs no medoids
    with pytest.raises(VlcpError, match=r"medoids.safetensors: not found .*vlcp prototypes --force"):
        load_prototypes(tmp_path / "p", "medoid")


def test_start_is_checked():
    with pytest.raises(VlcpError, match="setting 'start': must be one of centre, medoid, mix"):
        SynthesizeConfig(start="nearest")
    with pytest.raises(VlcpError, match="setting 'start_mix'"):
        SynthesizeConfig(start="mix", start_mix=1.5)


def test_medoid_start_changes_images_and_is_recorded(tiny_model, tmp_path):
    write_prototypes(tmp_path / "p")
    base = dict(steps=3, guidance_scale=1.0, strength=0.5)
    a = synthesize(tiny_model, tmp_path / "p", tmp_path / "a", SynthesizeConfig(**base), 28, 1, progress=False)
    b = synthesize(tiny_model, tmp_path / "p", tmp_path / "b", SynthesizeConfig(**base, start="medoid"), 28, 1,
                   progress=False)
    rows_a, rows_b = list(read_jsonl(a / "metadata.jsonl")), list(read_jsonl(b / "metadata.jsonl"))
    assert "start" not in rows_a[0] and rows_b[0]["start"] == "medoid" and "start_mix" not in rows_b[0]
    assert (a / "bag" / "0.png").read_bytes() != (b / "bag" / "0.png").read_bytes()
    # the start is part of the fingerprint: the medoid run does not resume as a centre run
    with pytest.raises(VlcpError, match="start"):
        synthesize(tiny_model, tmp_path / "p", tmp_path / "b", SynthesizeConfig(**base), 28, 1, progress=False)


def test_only_the_active_samplers_settings_are_recorded_and_fingerprinted(tiny_model, tmp_path):
    write_prototypes(tmp_path / "p")
    cfg = SynthesizeConfig(steps=3, guidance_scale=1.0, strength=0.5)
    out = synthesize(tiny_model, tmp_path / "p", tmp_path / "d", cfg, 28, 1, progress=False)
    row = next(iter(read_jsonl(out / "metadata.jsonl")))
    assert row["strength"] == 0.5 and "mode_guidance" not in row and "guidance_stop" not in row
    fp = json.loads((out / ".fingerprint-synthesize.json").read_text())
    assert fp["strength"] == 0.5 and not {"mode_guidance", "guidance_stop", "start", "start_mix"} & set(fp)
    before = (out / "bag" / "0.png").read_bytes()
    # another sampler's setting does not block resuming an img2img run
    again = SynthesizeConfig(steps=3, guidance_scale=1.0, strength=0.5, mode_guidance=0.9, guidance_stop=0.2)
    synthesize(tiny_model, tmp_path / "p", tmp_path / "d", again, 28, 1, progress=False)
    assert (out / "bag" / "0.png").read_bytes() == before
    with pytest.raises(VlcpError, match=r"strength 0.5 -> 0.6"):
        synthesize(tiny_model, tmp_path / "p", tmp_path / "d", SynthesizeConfig(steps=3, guidance_scale=1.0,
                   strength=0.6), 28, 1, progress=False)


def test_a_run_fingerprinted_by_vlcp_0x_still_resumes(tiny_model, tmp_path):
    """vlcp 0.x hashed every sampler's settings and had no start: its runs resume and get today's form."""
    write_prototypes(tmp_path / "p")
    cfg = SynthesizeConfig(steps=3, guidance_scale=1.0, strength=0.5)
    out = synthesize(tiny_model, tmp_path / "p", tmp_path / "d", cfg, 28, 1, progress=False)
    path = out / ".fingerprint-synthesize.json"
    new = json.loads(path.read_text())
    old = {**new, "mode_guidance": cfg.mode_guidance, "guidance_stop": cfg.guidance_stop}
    path.write_text(json.dumps(old))
    synthesize(tiny_model, tmp_path / "p", tmp_path / "d", cfg, 28, 1, progress=False)
    assert json.loads(path.read_text()) == new
    path.write_text(json.dumps({**old, "mode_guidance": 0.3}))  # the old form of other settings: still stale
    with pytest.raises(VlcpError, match="existing synthesize output"):
        synthesize(tiny_model, tmp_path / "p", tmp_path / "d", cfg, 28, 1, progress=False)


def test_the_report_describes_each_sampler_in_its_own_words():
    from vlcp.report.summary import sampler_sentence as _sampler_sentence

    img = _sampler_sentence({"sampler": "img2img", "strength": 0.4, "mode_guidance": 0.2})
    assert img == "was noised to strength 0.4 and denoised (img2img, the paper)"
    mg = _sampler_sentence({"sampler": "mode_guided", "strength": 0.4, "mode_guidance": 0.2, "guidance_stop": 1.0,
                            "start": "medoid"})
    assert "noised to strength" not in mg and "weight 0.2 over the first 1.0" in mg and "(medoid)" in mg
