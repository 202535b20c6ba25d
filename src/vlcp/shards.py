"""Per-image stages split into numbered batches: process ``rank`` of ``world`` takes batches
``rank, rank + world, …``, writes its own part file, and the merged result (sorted by dataset
index) equals a one-process run. Parts are appended as batches finish, so a rerun resumes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Shard:
    """This process's share of the work: ``rank`` in 0..world-1."""

    rank: int = 0
    world: int = 1

    def batches(self, n: int, batch_size: int) -> list[tuple[int, np.ndarray]]:
        """(batch number, dataset indices) of the batches this process owns."""
        out = []
        for b, start in enumerate(range(0, n, batch_size)):
            if b % self.world == self.rank:
                out.append((b, np.arange(start, min(n, start + batch_size))))
        return out

    @property
    def suffix(self) -> str:
        return f"{self.rank:03d}-of-{self.world:03d}"


def current_shard() -> Shard:
    """The shard of this process under ``accelerate launch`` (or torchrun); (0, 1) otherwise."""
    import os

    rank = int(os.environ.get("RANK", os.environ.get("PROCESS_INDEX", 0)))
    world = int(os.environ.get("WORLD_SIZE", 1))
    return Shard(rank, world)


def barrier() -> None:
    """Wait for every process (no-op in a single process)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
