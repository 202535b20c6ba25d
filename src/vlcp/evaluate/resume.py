"""Resume for ``vlcp evaluate``: each trained network's outcome is stored as it finishes, under
``<out>/.runs/<fingerprint>/seed-<n>.json``, so a rerun after an interruption trains only the seeds
still missing. The fingerprint covers the distilled and test tensors, the settings (all but
``repeats`` and ``progress``), the method, IPC and normalisation: anything else trains afresh.
"""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import torch

from vlcp.errors import VlcpError
from vlcp.evaluate.trainer import RunOutcome
from vlcp.files.atomic import atomic_write_json, read_json
from vlcp.run.fingerprint import digest


def tensor_digest(*tensors: torch.Tensor) -> str:
    """sha256 (16 hex digits) of tensors' shapes, dtypes and bytes."""
    h = hashlib.sha256()
    for t in tensors:
        t = t.detach().cpu().contiguous()
        h.update(f"{tuple(t.shape)}{t.dtype}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")  # 0-d too (BN counters)
    return h.hexdigest()[:16]


class RunStore:
    """Finished runs of one evaluation (see module docstring); ``folder`` None keeps nothing."""

    def __init__(self, folder: str | Path | None, parts: dict) -> None:
        self.folder = Path(folder) / ".runs" / digest(parts) if folder is not None else None

    def get(self, seed: int) -> RunOutcome | None:
        """The stored outcome of the network with ``seed``, if it finished before."""
        path = self.folder / f"seed-{seed}.json" if self.folder is not None else None
        if path is None or not path.exists():
            return None
        d = read_json(path)
        try:
            d["tests"] = [tuple(t) for t in d.get("tests", [])]
            out = RunOutcome(**d)
            ok = out.seed == seed and all(0 <= float(v) <= 100 for v in (out.final, out.best, *(a for _, a in out.tests)))
        except (AttributeError, TypeError, ValueError):
            ok = False
        if not ok:
            raise VlcpError(f"{path}: not a finished run stored by vlcp (edited or damaged); delete it and rerun "
                            "to train that network again")
        return out

    def put(self, outcome: RunOutcome) -> None:
        if self.folder is not None:
            atomic_write_json(self.folder / f"seed-{outcome.seed}.json", dataclasses.asdict(outcome))
