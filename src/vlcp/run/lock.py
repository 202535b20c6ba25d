"""One process per stage output: ``stage_lock`` holds ``<out>/.lock-<stage>-<shard>`` (``fcntl.flock``) while a
per-image stage works there, so a second ``vlcp synthesize`` on the same run stops with one line instead of
redoing the whole set beside the first. The kernel drops the lock when its process ends, even by SIGKILL, so a
file left behind never blocks a rerun; the processes of one ``accelerate launch`` hold one lock each (their
shards differ). Where ``fcntl`` is missing (Windows) nothing is locked."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from vlcp.errors import VlcpError
from vlcp.run.shards import Shard


@contextmanager
def stage_lock(out_dir: str | Path, stage: str, shard: Shard = Shard()) -> Iterator[None]:
    """Hold the lock of ``stage`` (this process's ``shard``) on ``out_dir`` for the ``with`` block; another live
    holder stops with a ``VlcpError`` naming the folder and its process id. A folder made for the lock alone is
    removed again when the block leaves it empty."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    out_dir = Path(out_dir)
    made = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f".lock-{stage}-{shard.suffix}"
    fd = _acquire(fcntl, path, out_dir, stage)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)  # releases the lock
        if made and out_dir.is_dir() and not any(out_dir.iterdir()):
            out_dir.rmdir()


def _acquire(fcntl, path: Path, out_dir: Path, stage: str) -> int:
    """An open descriptor of ``path`` holding its exclusive lock, with this process's id written in it."""
    for _ in range(3):  # the holder may unlink the file between our open and our lock: then open it anew
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _holder(fd)
            os.close(fd)
            raise VlcpError(f"{out_dir}: another `vlcp {stage}` process{holder} is working on this folder; wait for "
                            "it to finish (or stop it), then rerun") from None
        if path.exists() and os.stat(path).st_ino == os.fstat(fd).st_ino:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return fd
        os.close(fd)
    raise VlcpError(f"{path}: could not take the stage's lock (the file keeps changing); rerun")


def _holder(fd: int) -> str:
    """`` (pid N)`` as the lock file records its holder, else empty."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return f" (pid {text})" if text.isdigit() else ""
