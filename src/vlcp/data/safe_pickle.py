"""A restricted unpickler for the official CIFAR python batches.

Those files hold a dict of bytes/str keys, lists of ints and str, and numpy arrays. The unpickler
admits only the globals numpy needs to rebuild an array (``_reconstruct``, ``_frombuffer``, ``ndarray``, ``dtype``);
any other global (``os.system``, ``builtins.eval``, …) is refused before it is looked up, so a
crafted file cannot run code. Everything else a pickle can build without globals is plain data.
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from vlcp.errors import VlcpError

ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.numeric", "_frombuffer"),  # protocol 5
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # how Python 3 writes bytes at protocol 2 (text -> latin-1 bytes)
}


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves only the globals in ``ALLOWED``."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED:
            raise pickle.UnpicklingError(f"refused global {module}.{name} (only numpy arrays and plain data are read)")
        return super().find_class(module, name)

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("refused persistent id (only numpy arrays and plain data are read)")


def load_restricted(path: str | Path, encoding: str = "bytes") -> Any:
    """Unpickle ``path`` with ``RestrictedUnpickler``; anything unreadable or refused is a ``VlcpError``."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return RestrictedUnpickler(f, encoding=encoding).load()
    except OSError as e:
        raise VlcpError(f"{path}: cannot read ({e.strerror or e})") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as e:
        raise VlcpError(f"{path}: not a valid CIFAR batch file ({e}); use the official python batches") from None
