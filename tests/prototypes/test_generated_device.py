"""Issue 9 item 5: strategy 'generated' runs its language model on the --device given."""
from __future__ import annotations

import argparse

import pytest

from vlcp.prototypes.cli import add_parser
from vlcp.prototypes.strategies import KeywordSentenceGenerator

from .test_prototypes_stage import make_run


class _Loaded(Exception):
    pass


def test_cli_device_reaches_the_language_model(tmp_path, monkeypatch):
    make_run(tmp_path)
    seen = {}

    def fake(name, max_new_tokens=40, device="cpu", **kw):
        seen["device"] = device
        raise _Loaded

    import torch

    monkeypatch.setattr(KeywordSentenceGenerator, "from_pretrained", staticmethod(fake))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # --device is checked against the machine
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    p = argparse.ArgumentParser()
    add_parser(p.add_subparsers())
    args = p.parse_args(["prototypes", "--run", str(tmp_path), "--strategy", "generated", "--generator-model", "x",
                         "--device", "cuda:1"])
    with pytest.raises(_Loaded):
        args.func(args)
    assert seen["device"] == "cuda:1"


def test_sentences_feed_the_model_on_its_device():
    import torch

    class Tok:
        pad_token_id = 0
        pad_token = "<pad>"

        def __call__(self, prompts, **kw):
            from transformers import BatchEncoding

            return BatchEncoding({"input_ids": torch.ones(len(prompts), 3, dtype=torch.long)})

        def batch_decode(self, ids, **kw):
            return ["a red apple"] * len(ids)

    class Model:
        device = torch.device("meta")

        def eval(self):
            return self

        def generate(self, input_ids, **kw):
            assert input_ids.device.type == "meta"  # moved to the model's device
            return torch.ones(input_ids.shape[0], 5, dtype=torch.long)

    gen = KeywordSentenceGenerator(Model(), Tok())
    assert gen.sentences("apple", [["red"]]) == ["a red apple"]
