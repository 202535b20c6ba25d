"""Settings of the prototypes stage (``[prototypes]`` in a TOML config).

Defaults follow the paper and its official run scripts: LOF ``n_neighbors = 10`` and
``contamination = 0.1`` (Sec. 3.2); k-means with ``n_init = 10``; ``beta = 0.7`` and
``top_k = 30`` as used for Table 6 ("non-representative words appear in more than 70% of the
samples", 30 feature keywords per cluster) and in the official ``run_*.sh`` scripts
(``--threshold 0.7 --tpk 30``). The parameter analysis of Sec. 4.6 (Fig. 4, ImageIDC) finds
``beta = 0.2`` and ``top_k = 35`` best for most IPC settings; pass those to reproduce it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vlcp.prototypes.strategies import STRATEGIES
from vlcp.settings.config import check, check_choices

__all__ = ["PrototypesConfig"]


@dataclass(frozen=True)
class PrototypesConfig:
    ipc: int = field(default=10, metadata={"help": "images per class = k-means clusters per class"})
    contamination: float = field(default=0.1, metadata={
        "help": "LOF contamination alpha: share of each class removed as outliers (0 turns LOF off)"})
    n_neighbors: int = field(default=10, metadata={
        "help": "LOF neighbours (a class with n <= n_neighbors samples uses n-1)"})
    n_init: int = field(default=10, metadata={"help": "k-means restarts (best inertia kept)"})
    seed: int = field(default=0, metadata={"help": "k-means random seed"})
    beta: float = field(default=0.7, metadata={
        "help": "non-representative threshold (Eq. 2): words in more than this share of a class's captions are dropped"})
    top_k: int = field(default=30, metadata={"help": "feature keywords per cluster (Rw, Eq. 3)"})
    strategy: str = field(default="dcs", metadata={
        "help": "text strategy for the prompts (Table 5): label, label+keywords, dcs, generated",
        "choices": STRATEGIES.names})
    allow_fewer: bool = field(default=False, metadata={
        "help": "lower k for classes with fewer inliers than ipc instead of stopping"})
    generator_model: str | None = field(default=None, metadata={
        "help": "causal LM (hub id or folder) that writes the sentences of strategy 'generated'"})
    max_new_tokens: int = field(default=40, metadata={"help": "token budget of a generated sentence"})
    stop_words: Path | None = field(default=None, metadata={
        "help": "stop-word file, one word a line (default: the bundled NLTK English list)"})

    def __post_init__(self) -> None:
        if isinstance(self.stop_words, str):
            object.__setattr__(self, "stop_words", Path(self.stop_words))
        check(_is_int(self.ipc) and self.ipc >= 1, "ipc", f"must be an integer >= 1, got {self.ipc!r}")
        check(_is_num(self.contamination) and 0 <= self.contamination <= 0.5, "contamination",
              f"must be in [0, 0.5] (0 turns outlier removal off), got {self.contamination!r}")
        check(_is_int(self.n_neighbors) and self.n_neighbors >= 1, "n_neighbors",
              f"must be an integer >= 1, got {self.n_neighbors!r}")
        check(_is_int(self.n_init) and self.n_init >= 1, "n_init", f"must be an integer >= 1, got {self.n_init!r}")
        check(_is_int(self.seed) and 0 <= self.seed < 2**32, "seed", f"must be an integer in [0, 2**32), got {self.seed!r}")
        check(_is_num(self.beta) and 0 < self.beta <= 1, "beta", f"must be in (0, 1], got {self.beta!r}")
        check(_is_int(self.top_k) and self.top_k >= 1, "top_k", f"must be an integer >= 1, got {self.top_k!r}")
        check_choices(self)  # strategy
        check(isinstance(self.allow_fewer, bool), "allow_fewer", f"must be true or false, got {self.allow_fewer!r}")
        check(self.strategy != "generated" or bool(self.generator_model), "generator_model",
              "strategy 'generated' needs a text-generation model (a hub id or a local folder)")
        check(_is_int(self.max_new_tokens) and self.max_new_tokens >= 1, "max_new_tokens",
              f"must be an integer >= 1, got {self.max_new_tokens!r}")


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)
