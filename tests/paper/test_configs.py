"""configs/*.toml of the paper: every section is a valid config for its stage."""
from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from vlcp.settings.config import from_dict, load_toml

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
PAPER = ["imagenette", "imagewoof", "imageidc", "imagenet100", "imagenet1k", "cifar10", "cifar100"]


@pytest.mark.parametrize("name", PAPER)
def test_paper_config(name):
    from vlcp.caption import CaptionConfig
    from vlcp.captioners.llava import LlavaCaptioner
    from vlcp.cli import STAGES
    from vlcp.data.config import DataConfig
    from vlcp.data.presets import get_preset
    from vlcp.encode import EncodeConfig
    from vlcp.evaluate.evaluation import EvalConfig
    from vlcp.prototypes.config import PrototypesConfig
    from vlcp.synthesize import SynthesizeConfig
    from vlcp.train import TrainConfig

    cfg = load_toml(CONFIGS / f"{name}.toml")
    assert set(cfg["run"]["stages"]) <= set(STAGES)
    data = from_dict(DataConfig, cfg["data"])
    assert get_preset(data.preset).name == name
    assert from_dict(CaptionConfig, cfg["caption"]).captioner == "llava"
    inspect.signature(LlavaCaptioner).bind(**cfg["captioner"])
    train = from_dict(TrainConfig, cfg["train"])
    assert (train.batch_size, train.lr, train.epochs, train.gradient_checkpointing) == (8, 1e-5, 8, True)
    assert train.ema_decay > 0 and train.mixed_precision == "fp16"
    assert set(cfg["train_model"]) == {"base"}
    from_dict(EncodeConfig, cfg["encode"])
    assert from_dict(PrototypesConfig, cfg["prototypes"]).strategy == "dcs"
    synth = from_dict(SynthesizeConfig, cfg["synthesize"])
    assert (synth.strength, synth.guidance_scale, synth.steps, synth.negative_prompt) == (
        0.7, 10.0, 50, "cartoon, anime, painting")
    from_dict(EvalConfig, cfg["evaluate"])
