"""CLIP text encoder with the long-prompt rule, behind ``vlcp.models.text.TextEncoder``.

The paper's captions (LLaVA descriptions) are often longer than CLIP's 77-token window. Instead of
truncating, every prompt is cut into chunks of ``chunk_tokens`` = 75 tokens; each chunk is wrapped
as ``[BOS] tokens [EOS] [PAD]…`` to 77 tokens (exactly how a standalone prompt of ≤ 75 tokens is
tokenized with ``padding="max_length"``) and encoded on its own by the ``CLIPTextModel``; the
chunk embeddings (last hidden state) are concatenated along the token axis:

    prompt of n tokens → max(1, ceil(n / 75)) chunks → (chunks × 77, D) context

When prompts of one batch need different chunk counts, the shorter ones are extended with chunks
of the empty prompt (``[BOS] [EOS] [PAD]…``). Because each chunk is encoded on its own, a prompt's
chunks are the same whatever else is in the batch. Training (``vlcp.train``, through
``CachedTextEncoder``) and synthesis (``vlcp.synthesize``, through ``encode_pair``) use this one
function, so a caption is never truncated in one and chunked in the other. In synthesis the negative
prompt is extended to the prompt's chunk count (``encode_pair``).

A prompt of ≤ 75 tokens gives the embeddings of diffusers' own ``encode_prompt`` (one
77-token chunk, no attention mask, last hidden state).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch


class CLIPTextEncoder:
    """Frozen ``CLIPTextModel`` + ``CLIPTokenizer`` with long-prompt chunking (see module docstring).

    Args: ``model`` (transformers ``CLIPTextModel``), ``tokenizer`` (``CLIPTokenizer``; its
    ``model_max_length``, 77, is the chunk width), ``max_chunks`` (0: unlimited; otherwise prompts
    longer than ``max_chunks`` × 75 tokens keep their first ``max_chunks`` chunks — the same cap in
    training and synthesis), ``name`` recorded in model folders.
    """

    def __init__(self, model: torch.nn.Module, tokenizer, max_chunks: int = 0, name: str = "clip") -> None:
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.window = int(min(tokenizer.model_max_length, model.config.max_position_embeddings))
        self.chunk_tokens = self.window - 2
        self.max_chunks = int(max_chunks)
        self.name = name
        self.dim = int(model.config.hidden_size)
        self.bos = int(tokenizer.bos_token_id)
        self.eos = int(tokenizer.eos_token_id)
        self.pad = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id)

    # ---- device -------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> "CLIPTextEncoder":
        self.model.to(device=device, dtype=dtype)
        return self

    # ---- tokens -------------------------------------------------------------------------------
    def token_ids(self, prompt: str) -> list[int]:
        """The prompt's tokens without BOS/EOS (after the ``max_chunks`` cap)."""
        ids = self.tokenizer(prompt, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
        if self.max_chunks:
            ids = ids[:self.max_chunks * self.chunk_tokens]
        return list(ids)

    def num_chunks(self, prompt: str) -> int:
        return max(1, math.ceil(len(self.token_ids(prompt)) / self.chunk_tokens))

    def chunk(self, tokens: Sequence[int]) -> list[int]:
        """≤ 75 tokens → ``[BOS] tokens [EOS] [PAD]…`` of ``window`` (77) ids."""
        if len(tokens) > self.chunk_tokens:
            raise ValueError(f"a chunk holds at most {self.chunk_tokens} tokens, got {len(tokens)}")
        ids = [self.bos, *tokens, self.eos]
        return ids + [self.pad] * (self.window - len(ids))

    def chunk_ids(self, prompts: Sequence[str], min_chunks: int = 1) -> torch.Tensor:
        """(B, n, 77) token ids; n = max(min_chunks, the largest chunk count of ``prompts``); prompts
        with fewer chunks are completed with empty-prompt chunks."""
        toks = [self.token_ids(p) for p in prompts]
        n = max([min_chunks, 1] + [math.ceil(len(t) / self.chunk_tokens) for t in toks])
        out = []
        for t in toks:
            pieces = [t[i:i + self.chunk_tokens] for i in range(0, len(t), self.chunk_tokens)] or [[]]
            pieces += [[]] * (n - len(pieces))
            out.append([self.chunk(p) for p in pieces])
        return torch.tensor(out, dtype=torch.long).reshape(len(prompts), n, self.window)

    # ---- embeddings ---------------------------------------------------------------------------
    @torch.no_grad()
    def _encode_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, n, 77) ids → (B, n × 77, D) float32 (every chunk encoded on its own)."""
        b, n, w = ids.shape
        flat = ids.reshape(b * n, w).to(self.device)
        hidden = self.model(input_ids=flat).last_hidden_state
        return hidden.float().reshape(b, n * w, -1)

    def encode(self, prompts: Sequence[str], min_chunks: int = 1) -> torch.Tensor:
        """(B, n × 77, D) float32 on the encoder's device; n as in ``chunk_ids``."""
        return self._encode_ids(self.chunk_ids(list(prompts), min_chunks))

    def encode_pair(self, prompts: Sequence[str], negatives: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Prompt and negative-prompt embeddings with the same chunk count (the larger of the two)."""
        ids_p = self.chunk_ids(list(prompts))
        ids_n = self.chunk_ids(list(negatives), min_chunks=ids_p.shape[1])
        if ids_n.shape[1] > ids_p.shape[1]:
            ids_p = self.chunk_ids(list(prompts), min_chunks=ids_n.shape[1])
        return self._encode_ids(ids_p), self._encode_ids(ids_n)

    def encode_each(self, prompts: Sequence[str]) -> list[torch.Tensor]:
        """One (n_i × 77, D) tensor per prompt, each with its own chunk count (no completion chunks)."""
        prompts = list(prompts)
        emb = self.encode(prompts)
        return [e[:self.num_chunks(p) * self.window] for p, e in zip(prompts, emb)]

    def collate(self, embeddings: Sequence[torch.Tensor]) -> torch.Tensor:
        """Stack per-prompt embeddings from ``encode_each``, completing shorter ones with empty-prompt
        chunks: equal to ``encode`` of the same prompts."""
        n = max(e.shape[0] for e in embeddings)
        if all(e.shape[0] == n for e in embeddings):
            return torch.stack(list(embeddings))
        empty = self._empty_chunk().to(embeddings[0].device, embeddings[0].dtype)
        out = []
        for e in embeddings:
            reps = (n - e.shape[0]) // self.window
            out.append(torch.cat([e, empty.repeat(reps, 1)]) if reps else e)
        return torch.stack(out)

    def _empty_chunk(self) -> torch.Tensor:
        cache = getattr(self, "_empty", None)
        if cache is None or cache[0] != (self.device, self.dtype):
            cache = ((self.device, self.dtype), self._encode_ids(torch.tensor([[self.chunk([])]]))[0].cpu())
            self._empty = cache
        return cache[1]


def load_clip_text(spec: str, subfolder: str | None = "text_encoder", tokenizer_subfolder: str | None = "tokenizer",
                   device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32, max_chunks: int = 0,
                   **kwargs) -> CLIPTextEncoder:
    """``CLIPTextModel`` + ``CLIPTokenizer`` from a diffusers folder or hub id (``subfolder`` None: the
    folder itself is a transformers model). ``kwargs`` go to ``from_pretrained`` (revision, ...)."""
    from transformers import CLIPTextModel, CLIPTokenizer

    sub = {"subfolder": subfolder} if subfolder else {}
    tsub = {"subfolder": tokenizer_subfolder} if tokenizer_subfolder else {}
    tokenizer = CLIPTokenizer.from_pretrained(spec, **tsub, **{k: v for k, v in kwargs.items() if k == "revision"})
    model = CLIPTextModel.from_pretrained(spec, **sub, dtype=dtype, **kwargs)
    return CLIPTextEncoder(model, tokenizer, max_chunks=max_chunks).to(device)
