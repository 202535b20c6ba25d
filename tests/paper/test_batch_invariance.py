"""Issue 9 item 1: a prompt's image does not depend on its batch (mixed-length prompts)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from vlcp.synthesize import SynthesizeConfig, batch_groups, context_length, synthesize

LONG = " ".join(["dog"] * 200)  # 3 CLIP chunks
PROMPTS = ["a grey dog", LONG, "a dog on grass", " ".join(["dog"] * 90), "a small dog"]


@pytest.fixture(scope="module")
def sd_model(tiny_sd):
    from vlcp.models import load_model

    return load_model(str(tiny_sd))


@pytest.fixture(scope="module")
def proto_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("protos")
    lat = torch.randn(len(PROMPTS), 4, 8, 8, generator=torch.Generator().manual_seed(0))
    save_file({"c0": lat}, str(d / "prototypes.safetensors"))
    texts = {"classes": {"c0": [{"cluster": i, "text": t} for i, t in enumerate(PROMPTS)]}}
    (d / "text_prototypes.json").write_text(json.dumps(texts))
    return d


def _images(folder):
    return np.stack([np.asarray(Image.open(folder / "c0" / f"{i}.png"), dtype=np.int16) for i in range(len(PROMPTS))])


def test_batches_hold_one_context_length(sd_model):
    from vlcp.synthesize import Prototype

    protos = [Prototype(i, "c0", i, torch.zeros(1), p) for i, p in enumerate(PROMPTS)]
    key = lambda p: context_length(sd_model.text_encoder, p.prompt, "cartoon")  # noqa: E731
    batches = batch_groups(protos, 2, key)
    assert [[p.number for p in b] for b in batches] == [[0, 2], [4], [1], [3]]
    assert all(len({key(p) for p in b}) == 1 for b in batches)


def test_images_do_not_depend_on_batch_size(sd_model, proto_dir, tmp_path):
    outs = []
    for bs in (1, 5):
        cfg = SynthesizeConfig(steps=4, batch_size=bs, seed=3)
        outs.append(_images(synthesize(sd_model, proto_dir, tmp_path / f"b{bs}", cfg, 64, 3, progress=False)))
    # batch 5 mixes 1-, 2- and 3-chunk prompts; before grouping the short ones differed by far more
    assert np.abs(outs[0] - outs[1]).max() <= 1
