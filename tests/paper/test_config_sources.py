"""Issue 9 items 2-3: presets follow the official fine-tuning recipe and carry per-dataset values with sources."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from vlcp.prototypes.config import PrototypesConfig
from vlcp.settings.config import from_dict, load_toml
from vlcp.train import TrainConfig

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
PAPER = ["imagenette", "imagewoof", "imageidc", "imagenet100", "imagenet1k", "cifar10", "cifar100"]


@pytest.mark.parametrize("name", PAPER)
def test_official_fine_tuning_recipe(name):
    train = from_dict(TrainConfig, load_toml(CONFIGS / f"{name}.toml")["train"])
    assert train.batch_size * train.gradient_accumulation_steps == 128 and train.max_grad_norm == 1.0


@pytest.mark.parametrize("name", PAPER)
def test_prototype_values_are_set_with_a_source(name):
    text = (CONFIGS / f"{name}.toml").read_text()
    section = text.split("[prototypes]", 1)[1].split("\n[", 1)[0]
    for key in ("contamination", "beta", "top_k"):
        line = re.search(rf"^{key} = .*$", section, re.M)
        assert line and re.search(r"#.*(paper|official)", line.group(0)), f"{name}: {key} without a source"
    from_dict(PrototypesConfig, load_toml(CONFIGS / f"{name}.toml")["prototypes"])


def test_values_differ_per_dataset():
    get = lambda n: load_toml(CONFIGS / f"{n}.toml")["prototypes"]  # noqa: E731
    assert (get("imageidc")["beta"], get("imageidc")["top_k"]) == (0.2, 35)  # paper Fig. 4
    assert (get("cifar10")["contamination"], get("cifar10")["beta"]) == (0.0, 0.9)  # official CIFAR-10 run
    assert (get("imagenette")["contamination"], get("imagenette")["beta"], get("imagenette")["top_k"]) == (0.1, 0.7, 30)
