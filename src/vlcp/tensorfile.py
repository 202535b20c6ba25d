"""Safetensors files written byte-reproducibly and atomically, with the usual permissions.

The safetensors library stores ``metadata`` from a hash map, so two saves of the same tensors can
differ in the order of the metadata keys. ``safetensors_bytes`` rewrites the header with the keys
sorted; ``save_safetensors`` writes that through ``vlcp.io.atomic_write_bytes`` (mode 0666 & ~umask).
"""
from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Mapping

import numpy as np

from vlcp.io import atomic_write_bytes


def safetensors_bytes(tensors: Mapping, metadata: Mapping[str, str] | None = None) -> bytes:
    """The safetensors encoding of ``tensors`` (torch or numpy) with ``metadata`` keys sorted."""
    if any(isinstance(v, np.ndarray) for v in tensors.values()):
        from safetensors.numpy import save

        raw = save({k: np.ascontiguousarray(v) for k, v in tensors.items()})
    else:
        from safetensors.torch import save

        raw = save({k: v.detach().cpu().contiguous() for k, v in tensors.items()})
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    if metadata:
        header = {"__metadata__": {str(k): str(metadata[k]) for k in sorted(metadata)}, **header}
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the format aligns the data to 8 bytes with spaces
    return struct.pack("<Q", len(text)) + text + raw[8 + n:]


def save_safetensors(path: str | Path, tensors: Mapping, metadata: Mapping[str, str] | None = None) -> None:
    """Write ``tensors`` to ``path`` atomically (see module docstring)."""
    atomic_write_bytes(path, safetensors_bytes(tensors, metadata))
