"""A sampler is one module (issue 30): a sampler defined here, with a setting of its own, runs through
`vlcp synthesize --sampler NAME`, through TOML and through `vlcp run`, its setting recorded and fingerprinted,
without touching any other file."""
import json
import shutil
from dataclasses import dataclass, field

import pytest
import torch
from safetensors.torch import save_file

from vlcp.cli import main
from vlcp.files.atomic import atomic_write_json
from vlcp.samplers import SAMPLERS
from vlcp.samplers.base import SamplerSettings
from vlcp.settings.config import check


@dataclass(frozen=True)
class WobbleSettings(SamplerSettings):
    wobble: float = field(default=0.0, metadata={"help": "wobbly: latent offset before decoding"})
    describe_as = "was decoded with a wobble of {wobble}"

    def __post_init__(self) -> None:
        check(0 <= self.wobble <= 1, "wobble", "must be in [0, 1]")


class Wobbly:
    """Decode the prototype latent shifted by ``wobble`` (no diffusion)."""

    name = "wobbly"
    Settings = WobbleSettings

    def __init__(self, model) -> None:
        self.vae = model.vae

    @torch.no_grad()
    def __call__(self, latents, cond, uncond, generators, c):
        return self.vae.decode(latents / self.vae.config.scaling_factor + c.wobble).sample.float().clamp(-1, 1)


@pytest.fixture()
def wobbly():
    SAMPLERS.register("wobbly")(Wobbly)
    yield
    SAMPLERS.unregister("wobbly")


@pytest.fixture()
def run(tiny_model, tmp_path, monkeypatch):
    p = tmp_path / "run" / "prototypes"
    p.mkdir(parents=True)
    torch.manual_seed(0)
    save_file({c: torch.randn(2, 4, 16, 16) for c in ("trouser", "bag")}, str(p / "prototypes.safetensors"))
    atomic_write_json(p / "text_prototypes.json", {"strategy": "label", "classes": {
        c: [{"cluster": i, "text": f"a {c}", "size": 1} for i in range(2)] for c in ("trouser", "bag")}})
    monkeypatch.setattr("vlcp.cli._load_model", lambda args: tiny_model)
    monkeypatch.setattr("vlcp.cli._train_split", lambda args, data: _Data())
    monkeypatch.setattr("vlcp.cli._data", lambda args: None)
    return tmp_path / "run"


class _Data:
    resolution, channels = 28, 1


def rows(run):
    return [json.loads(line) for line in (run / "distilled" / "metadata.jsonl").read_text().splitlines()]


def test_the_flag_records_and_fingerprints_the_plugins_setting(wobbly, run, capsys):
    assert main(["synthesize", "--run", str(run), "--sampler", "wobbly", "--wobble", "0.3", "--no-progress"]) == 0
    row = rows(run)[0]
    assert (row["sampler"], row["wobble"]) == ("wobbly", 0.3)
    assert "strength" not in row and "mode_guidance" not in row  # only the active sampler's own settings
    capsys.readouterr()
    assert main(["synthesize", "--run", str(run), "--sampler", "wobbly", "--wobble", "0.4", "--no-progress"]) == 2
    assert "--force" in capsys.readouterr().err  # another wobble: other images, no silent resume
    assert main(["synthesize", "--run", str(run), "--sampler", "wobbly", "--wobble", "2", "--no-progress"]) == 2
    assert "setting 'wobble': must be in [0, 1]" in capsys.readouterr().err  # checked by the sampler
    # the other samplers' settings do not enter this sampler's fingerprint
    assert main(["synthesize", "--run", str(run), "--sampler", "wobbly", "--wobble", "0.3", "--strength", "0.9",
                 "--no-progress"]) == 0


def test_toml_and_vlcp_run_take_the_plugins_setting(wobbly, run, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[run]\nstages = ["synthesize"]\n[synthesize]\nsampler = "wobbly"\nwobble = 0.5\n')
    assert main(["synthesize", "--run", str(run), "--config", str(cfg), "--no-progress"]) == 0
    assert rows(run)[0]["wobble"] == 0.5
    other = tmp_path / "other"
    shutil.copytree(run / "prototypes", other / "prototypes")
    assert main(["run", str(cfg), "--run", str(other), "--set", "synthesize.wobble=0.25", "--no-progress"]) == 0
    assert rows(other)[0]["wobble"] == 0.25


def test_the_plugins_setting_leaves_with_it(wobbly, capsys, tmp_path):
    SAMPLERS.unregister("wobbly")
    try:
        cfg = tmp_path / "c.toml"
        cfg.write_text('[synthesize]\nwobble = 0.5\n')
        assert main(["run", str(cfg), "--run", str(tmp_path / "r"), "--dry-run"]) == 2
        assert "unknown key(s) wobble" in capsys.readouterr().err
    finally:
        SAMPLERS.register("wobbly")(Wobbly)
