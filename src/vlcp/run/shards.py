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


def world_size() -> int:
    """Processes of this launch, from the launcher's environment (torchrun / ``accelerate launch``
    set ``WORLD_SIZE``; MPI sets ``PMI_SIZE`` / ``OMPI_COMM_WORLD_SIZE``); 1 when not launched."""
    import os

    for key in ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE"):
        if int(os.environ.get(key, -1)) >= 1:
            return int(os.environ[key])
    return 1


def distributed_state():
    """accelerate's ``PartialState`` of this launch (it joins the process group, so ``barrier`` works).

    On a machine without CUDA (or with ``ACCELERATE_USE_CPU``) processes talk over gloo. The group
    waits up to 12 hours at a barrier: per-image stages finish at different times on different ranks.
    """
    from datetime import timedelta

    import torch
    from accelerate import PartialState
    from accelerate.utils import parse_flag_from_env

    cpu = parse_flag_from_env("ACCELERATE_USE_CPU") or not torch.cuda.is_available()
    return PartialState(cpu=cpu, timeout=timedelta(hours=12))


def current_shard() -> Shard:
    """The shard of this process under ``accelerate launch`` (or torchrun, or mpirun); (0, 1) otherwise.

    With several processes it starts accelerate's ``PartialState`` (see ``distributed_state``).
    Note: ``accelerate launch --cpu --num_processes N`` starts ONE process (accelerate's "simple
    launcher", meant for mpirun); several CPU processes come from ``accelerate launch --multi_gpu
    --num_processes N`` on a machine without GPUs (torchrun, gloo), or from mpirun.
    """
    if world_size() <= 1:
        return Shard(0, 1)
    state = distributed_state()
    return Shard(state.process_index, state.num_processes)


def barrier() -> None:
    """Wait for every process (no-op in a single process)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
