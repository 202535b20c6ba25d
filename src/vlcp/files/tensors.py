"""Safetensors files written byte-reproducibly and atomically, with the usual permissions.

The safetensors library stores ``metadata`` from a hash map, so two saves of the same tensors can
differ in the order of the metadata keys. ``safetensors_bytes`` rewrites the header with the keys
sorted; ``save_safetensors`` writes that through ``vlcp.files.atomic.atomic_write_bytes`` (mode 0666 & ~umask).
"""
from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Mapping

import numpy as np

from vlcp.errors import VlcpError
from vlcp.files.atomic import atomic_write_bytes


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


def check_finite(tensors: Mapping, path: str | Path, fix: str) -> None:
    """Stop with one line naming ``path`` (and the tensor) when a floating tensor holds NaN or inf."""
    import torch

    for name, t in tensors.items():
        t = torch.as_tensor(t)
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            bad = int((~torch.isfinite(t)).sum())
            raise VlcpError(f"{path}: {f'tensor {name!r}' if name else 'values'} hold{'s' if name else ''} {bad} NaN or "
                            f"infinite value{'s' if bad > 1 else ''} ({fix})")


LATENT_LIMIT = 1e4
"""Latents (VAE outputs × scaling factor, and the centres made from them) lie within a few units of 0; a value
beyond ±``LATENT_LIMIT`` is a damaged or foreign file (k-means over it overflows float32)."""


def check_latents(tensors: Mapping, path: str | Path, fix: str) -> None:
    """Stop with one line naming ``path`` and the tensor when latents are not floating point, hold NaN or inf
    (``check_finite``) or exceed ±``LATENT_LIMIT``."""
    import torch

    for name, t in tensors.items():
        t = torch.as_tensor(t)
        if not t.is_floating_point():
            raise VlcpError(f"{path}: tensor {name!r} holds {str(t.dtype).replace('torch.', '')} values, latents are "
                            f"floating point ({fix})")
    check_finite(tensors, path, fix)
    for name, t in tensors.items():
        t = torch.as_tensor(t)
        peak = float(t.abs().max()) if t.numel() else 0.0
        if peak > LATENT_LIMIT:
            raise VlcpError(f"{path}: tensor {name!r} holds a value of magnitude {peak:.3g}, beyond the ±{LATENT_LIMIT:g} "
                            f"any latent lies within ({fix})")


def load_centres(path: str | Path, fix: str = "rerun `vlcp prototypes` to remake it") -> dict:
    """The tensors of a prototypes file (``(k, C, H, W)`` per class, one ``(C, H, W)`` for all), checked:
    readable, 4-D, one latent shape, floating point, finite and within ±``LATENT_LIMIT`` (``check_latents``);
    anything else stops with one line naming ``path``."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        centres = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise VlcpError(f"{path}: not a readable safetensors file ({e}); {fix}") from None
    shapes = {k: tuple(v.shape) for k, v in centres.items()}
    if any(len(s) != 4 for s in shapes.values()) or len({s[1:] for s in shapes.values()}) > 1:
        raise VlcpError(f"{path}: expected one (k, C, H, W) tensor per class with the same C, H, W, got "
                        f"{dict(list(shapes.items())[:4])}; {fix}")
    check_latents(centres, path, fix)
    return centres


def recorded_classes(path: str | Path) -> list[str] | None:
    """The class ids a safetensors file records in its metadata (``classes``, a JSON list: the prototypes
    stage writes them), or None when it records none or cannot be read (its tensors' reader names it)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), "np") as f:
            classes = json.loads((f.metadata() or {}).get("classes", "null"))
    except (SafetensorError, OSError, ValueError):
        return None
    return [str(c) for c in classes] if isinstance(classes, list) else None


def torch_load_weights(path: str | Path, prefix: str = "", fix: str = "save the weights as safetensors"):
    """``torch.load(path, weights_only=True)`` on the CPU; a file holding more than weights (pickled
    objects or code) is refused, and a corrupt one named, in one line: ``<prefix><path>: … (<fix>)``.
    torch's pickle-protocol warning (a raw ``pickle.dump`` file) is not printed."""
    import pickle
    import warnings

    import torch

    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # torch's weights-only unpickler refused an object it does not allow
        raise VlcpError(f"{prefix}{path}: the file holds more than weights (pickled objects or code), so it was "
                        f"refused; {fix}") from None
    except Exception as e:  # noqa: BLE001 - a truncated or corrupt file
        first = next((s.strip() for s in str(e).splitlines() if s.strip()), type(e).__name__)
        raise VlcpError(f"{prefix}{path}: not a readable torch weights file ({first[:160]}); {fix}") from None
