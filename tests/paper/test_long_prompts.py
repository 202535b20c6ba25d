"""The long-prompt rule: 75-token chunks wrapped in BOS/EOS, concatenated, the same in training and synthesis."""
from __future__ import annotations

import pytest
import torch

from vlcp.models.text import CachedTextEncoder, encode_pair

WORD = "dog"  # one token of the tiny CLIP vocabulary ("dog</w>")


def caption_of(n_tokens: int) -> str:
    return " ".join([WORD] * n_tokens)


def test_200_token_caption_is_three_chunks_with_bos_eos(clip_encoder):
    enc = clip_encoder
    cap = caption_of(200)
    toks = enc.token_ids(cap)
    assert len(toks) == 200 and enc.num_chunks(cap) == 3
    ids = enc.chunk_ids([cap])
    assert ids.shape == (1, 3, 77)
    for c in range(3):
        chunk = ids[0, c].tolist()
        n = min(75, 200 - 75 * c)
        assert chunk[0] == enc.bos
        assert chunk[1:1 + n] == toks[75 * c:75 * c + n]
        assert chunk[1 + n] == enc.eos
        assert all(t == enc.pad for t in chunk[2 + n:])
    emb = enc.encode([cap])
    assert emb.shape == (1, 3 * 77, enc.dim) and emb.dtype == torch.float32
    # each chunk is encoded on its own: chunk 2 equals a standalone prompt of its 50 tokens
    alone = enc.encode([caption_of(50)])
    torch.testing.assert_close(emb[:, 2 * 77:], alone, rtol=1e-5, atol=1e-5)


def test_short_prompt_equals_stock_encode_prompt(tiny_sd, clip_encoder):
    """A prompt of <= 75 tokens gives exactly diffusers' own embeddings (truncation never kicks in)."""
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(tiny_sd, safety_checker=None, requires_safety_checker=False)
    prompt = "a large slender hound standing on a dirt road"
    stock, _ = pipe.encode_prompt(prompt, "cpu", 1, False)
    torch.testing.assert_close(clip_encoder.encode([prompt]), stock.float(), rtol=1e-5, atol=1e-5)


def test_batch_pads_with_empty_prompt_chunks(clip_encoder):
    enc = clip_encoder
    long, short = caption_of(200), "a grey dog"
    batch = enc.encode([long, short])
    assert batch.shape[1] == 3 * 77
    torch.testing.assert_close(batch[0], enc.encode([long])[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(batch[1, :77], enc.encode([short])[0], rtol=1e-5, atol=1e-5)
    empty = enc.encode([""])[0]
    torch.testing.assert_close(batch[1, 77:154], empty, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(batch[1, 154:], empty, rtol=1e-5, atol=1e-5)
    # per-prompt embeddings and collation give the same batch (what training's cache does)
    each = enc.encode_each([long, short])
    assert [e.shape[0] for e in each] == [231, 77]
    torch.testing.assert_close(enc.collate(each), batch, rtol=1e-5, atol=1e-5)


def test_cached_encoder_equals_encode(clip_encoder):
    enc = clip_encoder
    prompts = [caption_of(200), "a grey dog", caption_of(80), "a grey dog"]
    for cache in (CachedTextEncoder(enc), CachedTextEncoder(enc, max_entries=1)):
        first = cache.encode(prompts[:2])
        torch.testing.assert_close(first, enc.encode(prompts[:2]), rtol=1e-5, atol=1e-5)
        again = cache.encode(prompts[1:])  # mixes cached and fresh prompts of 1, 2 and 1 chunks
        torch.testing.assert_close(again, enc.encode(prompts[1:]), rtol=1e-5, atol=1e-5)
        assert again.shape == (3, 2 * 77, enc.dim)


def test_negative_prompt_gets_the_prompt_chunk_count(clip_encoder):
    enc = clip_encoder
    cond, uncond = encode_pair(enc, [caption_of(200), "a dog"], ["cartoon, anime, painting"] * 2)
    assert cond.shape == uncond.shape == (2, 231, enc.dim)
    torch.testing.assert_close(uncond[0, :77], enc.encode(["cartoon, anime, painting"])[0], rtol=1e-5, atol=1e-5)
    # a negative prompt longer than the prompt extends the prompt instead
    cond, uncond = encode_pair(enc, ["a dog"], [caption_of(100)])
    assert cond.shape == uncond.shape == (1, 154, enc.dim)


def test_fixed_length_encoders_keep_working():
    class Fixed:
        dim = 4

        def __init__(self, length):
            self.length = length

        def encode(self, prompts):
            return torch.ones(len(prompts), self.length, 4)

        def to(self, device):
            return self

    cond, uncond = encode_pair(Fixed(8), ["a", "b"], ["n", "n"])
    assert cond.shape == uncond.shape == (2, 8, 4)
    assert CachedTextEncoder(Fixed(8)).encode(["a", "b", "a"]).shape == (3, 8, 4)

    class Odd(Fixed):
        def encode(self, prompts):
            return torch.ones(len(prompts), 8 if prompts[0] != "n" else 9, 4)

    with pytest.raises(ValueError, match="encode_pair"):
        encode_pair(Odd(8), ["a"], ["n"])


class _ContextSpy:
    """Records the ``encoder_hidden_states`` every UNet call receives."""

    def __init__(self, unet):
        self.seen: list[torch.Tensor] = []
        self.handle = unet.register_forward_pre_hook(self, with_kwargs=True)

    def __call__(self, module, args, kwargs):
        ctx = kwargs.get("encoder_hidden_states", args[2] if len(args) > 2 else None)
        self.seen.append(ctx.detach().float().cpu().clone())

    def remove(self):
        self.handle.remove()


def test_same_embeddings_in_training_and_synthesis(tiny_sd, tmp_path):
    """The UNet sees the same context for a 200-token caption in a training step and in synthesis."""
    from vlcp.data import TensorDataset
    from vlcp.models import load_model
    from vlcp.synthesize import SynthesizeConfig, make_sampler, synthesize_batch
    from vlcp.train import TrainConfig, train

    import numpy as np

    caption = caption_of(200)
    model = load_model(str(tiny_sd))
    data = TensorDataset(np.full((1, 3, 64, 64), 128, np.uint8), np.zeros(1, np.int64), ["dog"], ["dog"])
    spy = _ContextSpy(model.unet)
    train(model, data, {data.file_name(0): caption}, tmp_path / "m", TrainConfig(
        unet_steps=1, batch_size=1, caption_dropout=0.0, ema_decay=0.0, checkpoint_every=10), save=lambda m, f, d: None,
        progress=False)
    spy.remove()
    (train_ctx,) = spy.seen
    expected = model.text_encoder.encode([caption]).cpu()
    assert train_ctx.shape == (1, 231, 32)
    torch.testing.assert_close(train_ctx, expected, rtol=1e-5, atol=1e-5)

    spy = _ContextSpy(model.unet)
    config = SynthesizeConfig(steps=2, strength=1.0, guidance_scale=10.0)
    synthesize_batch(make_sampler(model), model, torch.zeros(1, 4, 8, 8), [caption], [0], config)
    spy.remove()
    for ctx in spy.seen:  # classifier-free guidance: [negative, prompt]
        assert ctx.shape == (2, 231, 32)
        torch.testing.assert_close(ctx[1:], expected, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(ctx[:1], model.text_encoder.encode([config.negative_prompt], min_chunks=3).cpu(),
                                   rtol=1e-5, atol=1e-5)
