"""Process-wide memory settings of the command-line entry point.

PyTorch's CPU allocator takes every tensor from ``malloc``. glibc serves a block above its mmap threshold (at most
32 MiB by default) with a fresh ``mmap`` and gives it back on ``free``, and trims the heap top once 128 KiB are
free: a training loop whose activations are that large then faults every page of them in again at each step.
On the 2-core VM that was a third of ``vlcp demo``'s CPU time spent in the kernel (176 million minor page
faults); ``benchmarks/malloc_tuning.py`` measures it. :func:`keep_freed_memory` keeps such blocks on the heap
for reuse instead; the numbers computed are unchanged (PyTorch aligns its buffers itself), and the price is
that the process keeps its peak memory until it ends. Only the CLI calls it (a library should not change
its host's allocator); ``VLCP_KEEP_FREED_MEMORY=0`` turns it off, and it does nothing off glibc.
"""
from __future__ import annotations

import ctypes
import os
import platform

OFF_SWITCH = "VLCP_KEEP_FREED_MEMORY"
# mallopt parameters (glibc's malloc.h)
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
SETTINGS = {M_MMAP_THRESHOLD: 2**31 - 1,   # the largest a mallopt int takes: blocks up to 2 GiB come from the heap
            M_TRIM_THRESHOLD: 2**30,       # the heap's free top is given back only beyond 1 GiB
            M_TOP_PAD: 64 * 2**20}         # and grown 64 MiB at a time


def keep_freed_memory(environ=os.environ) -> bool:
    """Tell glibc's malloc to keep freed large blocks for reuse; True when the settings were taken."""
    if environ.get(OFF_SWITCH, "1") == "0" or platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return all(libc.mallopt(param, value) == 1 for param, value in SETTINGS.items())
