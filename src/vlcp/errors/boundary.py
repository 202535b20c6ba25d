"""The CLI's error boundary: every failure becomes one line, ``vlcp <stage>: error: <file or
setting>: <what> (<how to fix>)``, exit code 2; ``--debug`` shows the traceback instead.

``explain`` maps known exceptions (``VlcpError``, file-system errors, unreadable images and
safetensors files) to that line; ``check_writable`` tests an output folder before any work starts.
``ArgumentParser`` gives argument errors the same line (``vlcp <stage>: error: …``, exit 2).
"""
from __future__ import annotations

import argparse
import errno
import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Callable

from vlcp.errors import VlcpError

_OS_HINTS = {
    errno.EROFS: "the file system is read-only; choose a writable --run/--out folder",
    errno.EACCES: "no permission to write here; choose a writable --run/--out folder or fix the permissions",
    errno.EPERM: "no permission to write here; choose a writable --run/--out folder or fix the permissions",
    errno.ENOSPC: "the disk is full; free space, then rerun the same command to resume",
    errno.EDQUOT: "the disk quota is exhausted; free space, then rerun the same command to resume",
    errno.EEXIST: "a file is in the way; choose another --run/--out folder",
    errno.ENOTDIR: "a file is in the way of a folder; choose another --run/--out folder",
    errno.EISDIR: "a folder is where a file should be; remove it or choose another path",
    errno.ENOENT: "check the path",
}


def _first_line(text: str, limit: int = 200) -> str:
    line = next((s.strip() for s in str(text).splitlines() if s.strip()), "")
    return line if len(line) <= limit else line[:limit - 1] + "…"


def _one_line(text: str, limit: int = 1000) -> str:
    """``text`` on one line: line breaks (e.g. inside a file name) shown as ``\\n``, not cut off."""
    line = str(text).strip().replace("\r", "\\r").replace("\n", "\\n")
    return line if len(line) <= limit else line[:limit - 1] + "…"


def explain(exc: BaseException, where: Path | None = None) -> str:
    """The one-line message for ``exc`` (without the ``vlcp <stage>: error:`` prefix).

    ``where``: the stage's output folder, named when an OS error carries no file name."""
    if isinstance(exc, VlcpError):
        return _one_line(str(exc))
    if isinstance(exc, OSError) and exc.errno in _OS_HINTS:
        name = _one_line(exc.filename or where or "output")
        return f"{name}: {exc.strerror or _first_line(exc)} ({_OS_HINTS[exc.errno]})"
    try:
        from PIL import UnidentifiedImageError

        if isinstance(exc, UnidentifiedImageError):
            return f"{_first_line(exc)} (replace or remove the file)"
    except ImportError:  # pragma: no cover
        pass
    if type(exc).__name__ == "SafetensorError":
        return f"{where or 'a safetensors file'}: unreadable safetensors file ({_first_line(exc)}); delete it and rerun"
    if isinstance(exc, MemoryError):
        return "out of memory (lower batch_size or use a smaller subset)"
    return f"{type(exc).__name__}: {_first_line(exc)} (unexpected; rerun with --debug for the traceback and report it)"


def check_writable(path: str | Path, option: str) -> None:
    """Stop before any work when ``path`` (a folder to be written, made if missing) cannot be."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise VlcpError(f"{path}: is a file, not a folder (choose a folder for {option})")
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise VlcpError(f"{probe}: is a file, so {path} cannot be made (choose another folder for {option})")
    try:
        _probe_write(probe)
    except OSError as e:
        raise VlcpError(f"{path}: not writable ({e.strerror or e}; choose a writable folder for {option})") from None


def _probe_write(folder: Path) -> None:
    """Create and delete a temporary file in ``folder`` (raises OSError when that fails)."""
    with tempfile.TemporaryFile(dir=folder):
        pass


def run_guarded(command: str, func: Callable[[], int], debug: bool = False, where: Path | None = None) -> int:
    """Call ``func``; failures print one line to stderr and return 2 (130 on Ctrl-C)."""
    try:
        return int(func() or 0)
    except KeyboardInterrupt:
        print(f"vlcp {command}: interrupted (rerun the same command to resume)", file=sys.stderr)
        return 130
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001 - the boundary
        if debug:
            traceback.print_exc()
        print(f"vlcp {command}: error: {explain(e, where)}", file=sys.stderr, flush=True)
        return 2


def debug_requested(argv: list[str]) -> tuple[list[str], bool]:
    """Strip ``--debug`` from anywhere in ``argv`` (also ``VLCP_DEBUG=1``)."""
    debug = "--debug" in argv or os.environ.get("VLCP_DEBUG", "") not in ("", "0")
    return [a for a in argv if a != "--debug"], debug


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors: ``vlcp <stage>: error: <what> (see vlcp <stage> --help)``, exit 2;
    the usage block is left to ``--help``."""

    def error(self, message: str):  # noqa: D102 - argparse's hook
        print(f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)", file=sys.stderr, flush=True)
        raise SystemExit(2)
