"""Model weights read through diffusers / transformers ``from_pretrained``: a pickled ``.bin`` that holds more
than weights is refused by torch's weights-only unpickler; here that refusal becomes one line naming the
file, the same for every module (VAE, UNet, text encoder) and every loader (vlcp model folders, diffusers
folders), and the libraries' loading chatter stays quiet."""
from __future__ import annotations

import contextlib
import pickle
from pathlib import Path
from typing import Iterator

from vlcp.errors import VlcpError

REFUSED = ("the file holds more than weights (pickled objects or code), so it was refused; use safetensors "
           "weights (diffusers: save_pretrained(safe_serialization=True))")


def refused_pickle(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what caused it) is torch's weights-only unpickler refusing an object."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, pickle.UnpicklingError):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def weights_file(spec: str | Path, subfolder: str) -> str:
    """The pickled weights file of ``spec``'s ``subfolder`` (a local folder), else ``spec`` and the subfolder."""
    folder = Path(spec) / subfolder
    found = sorted(folder.glob("*.bin")) if folder.is_dir() else []
    return str(found[0]) if found else f"{spec} ({subfolder}/)"


@contextlib.contextmanager
def refusals_in_one_line(spec: str | Path, subfolder: str) -> Iterator[None]:
    """Load ``spec``'s ``subfolder`` module inside: a refused pickle stops with ``<file>: the file holds more
    than weights …``; the libraries' loggers are silent meanwhile (``quiet_loading``)."""
    from vlcp.run.progress import quiet_loading

    try:
        with quiet_loading():  # no "An error occurred while trying to fetch" line for a .bin file
            yield
    except (OSError, ValueError) as e:
        if refused_pickle(e):
            raise VlcpError(f"{weights_file(spec, subfolder)}: {REFUSED}") from None
        raise
