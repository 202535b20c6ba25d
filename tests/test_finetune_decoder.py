"""The decoder fine-tuning benchmark trains the decoder alone: the encoder, hence the latent space, is unchanged."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture()
def finetune(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import finetune_decoder

    yield finetune_decoder
    sys.modules.pop("finetune_decoder", None)


def test_a_step_moves_the_decoder_and_leaves_the_encoder(finetune):
    from vlcp.models.embedded import build_vae

    torch.manual_seed(0)
    vae = build_vae(block_out_channels=(32, 32))
    before = {k: v.clone() for k, v in vae.state_dict().items()}
    opt = torch.optim.AdamW(finetune.freeze_encoder(vae), lr=1e-3)
    x = torch.rand(4, 1, 32, 32) * 2 - 1
    finetune.decoder_step(vae, x, torch.Generator().manual_seed(0)).backward()
    opt.step()
    after = vae.state_dict()
    moved = {k for k in after if not torch.equal(after[k], before[k])}
    assert moved and all(k.split(".")[0] in finetune.DECODER_PARTS for k in moved)
    assert set(finetune.decoder_state(vae)) == {k for k in after if k.split(".")[0] in ("post_quant_conv", "decoder")}
