"""Device names: one spelling (cpu, cuda, cuda:N, mps, auto) and one check for every stage.

``device_arg`` is the argparse type of every ``--device`` (a misspelt name is an argument error);
``resolve_device`` turns a name into the device a stage runs on and stops with one line when the
machine lacks it (``cuda`` without CUDA, ``cuda:3`` on a 2-GPU machine, ``mps`` off Apple).
"""
from __future__ import annotations

import argparse
import re

from vlcp.errors import VlcpError

CHOICES = "cpu, cuda, cuda:N, mps or auto"
DEVICE_HELP = f"{CHOICES} (default: the run's recorded device, else auto: CUDA when available)"
_DEVICE = re.compile(r"^(cpu|auto|mps|cuda(:\d+)?)$")


def is_device_name(name: object) -> bool:
    """True for the names ``--device`` accepts."""
    return isinstance(name, str) and bool(_DEVICE.match(name))


def device_arg(text: str) -> str:
    """argparse type of ``--device``: the name itself, or an argument error listing the choices."""
    if not is_device_name(text):
        raise argparse.ArgumentTypeError(f"invalid device {text!r} (choose {CHOICES})")
    return text


def add_device_arg(parser: argparse.ArgumentParser, help: str = DEVICE_HELP) -> None:
    """``--device`` with the shared choices (default None: the run's recorded device, else auto)."""
    parser.add_argument("--device", type=device_arg, default=None, metavar="DEVICE", help=help)


def resolve_device(name: str | None) -> str:
    """The device ``name`` (None = auto) runs on, checked against this machine. Under a multi-process
    launch (accelerate launch, torchrun) ``cuda`` is each process's own GPU."""
    import torch

    name = name or "auto"
    if not is_device_name(name):
        raise VlcpError(f"setting 'device': {name!r} is not a device (choose {CHOICES})")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    elif name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise VlcpError(f"setting 'device': {name!r} requested but no CUDA device is available "
                            f"(give --device cpu or auto)")
        index = int(name.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise VlcpError(f"setting 'device': {name!r} requested but this machine has "
                            f"{torch.cuda.device_count()} CUDA device(s) (cuda:0 … cuda:{torch.cuda.device_count() - 1})")
    elif name == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise VlcpError("setting 'device': 'mps' requested but not available (give --device cpu or auto)")
    if name == "cuda":
        from vlcp.run.shards import distributed_state, world_size

        if world_size() > 1:
            return str(distributed_state().device)
    return name
