"""Atomic file writes and append-as-you-go JSONL files (resumable per-image stages)."""
from __future__ import annotations

import glob
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

from vlcp.errors import VlcpError


_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file (``.<name>.<pid>.<random>.tmp``) and ``os.replace``;
    temporary files of ``path`` left by a killed process are deleted first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _drop_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _drop_stale_temporaries(path: Path) -> None:
    """Delete ``path``'s temporary files whose writing process has ended (SIGKILL, power loss); a live
    process's (another one writing the same file) stay."""
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = tmp.name[len(path.name) + 2:].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


BOM = b"\xef\xbb\xbf"  # the UTF-8 byte order mark some Windows editors put first


def decode_utf8(data: bytes, where: str | Path) -> str:
    """``data`` as UTF-8 text (a leading byte order mark dropped); other bytes stop with one line naming
    ``where`` and the offset."""
    skip = len(BOM) if data.startswith(BOM) else 0
    try:
        return data[skip:].decode("utf-8")
    except UnicodeDecodeError as e:
        at = skip + e.start
        raise VlcpError(f"{where}: not UTF-8 text (byte 0x{data[at]:02x} at offset {at}); save it "
                        "as UTF-8 (e.g. iconv -t utf-8)") from None


def read_text(path: str | Path) -> str:
    """The UTF-8 text of ``path``; a missing file or other bytes stop with one line naming it."""
    path = Path(path)
    if not path.exists():
        raise VlcpError(f"{path}: file not found")
    return decode_utf8(path.read_bytes(), path)


def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise VlcpError(f"{path}: not valid JSON ({e})") from None


def read_jsonl(path: str | Path) -> Iterator[dict]:
    """Yield the records of a JSONL file; a torn last line (crash mid-write, even inside a multi-byte
    character) is ignored, a byte order mark before the first line too."""
    path = Path(path)
    if not path.exists():
        raise VlcpError(f"{path}: file not found")
    lines = path.read_bytes().splitlines(keepends=True)
    for n, raw in enumerate(lines, 1):
        raw = raw[len(BOM):] if n == 1 and raw.startswith(BOM) else raw
        torn = n == len(lines) and not raw.endswith(b"\n")  # an interrupted append
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            if torn:
                return
            line = decode_utf8(raw, f"{path}:{n}")  # raises, naming the line
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError:
            if torn:
                return
            raise VlcpError(f"{path}:{n}: not valid JSON") from None


def append_jsonl(path: str | Path, records: Iterable[dict]) -> None:
    """Append records, one line each, flushed and fsynced so a crash loses at most a torn line."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _drop_torn_tail(path)
    with path.open("a", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _drop_torn_tail(path: Path) -> None:
    """Cut a partial last line left by a crash, so appends start on a fresh line."""
    if not path.exists() or path.stat().st_size == 0:
        return
    data = path.read_bytes()
    if data.endswith(b"\n"):
        return
    with path.open("rb+") as f:
        f.truncate(data.rfind(b"\n") + 1)


IMAGE_RECORDS = ("metadata.jsonl", "manifest.jsonl")
"""Per-image record files of a synthesized folder: ``metadata.jsonl`` (Hugging Face imagefolder's name), or
``manifest.jsonl``, its name in runs made before vlcp 0.2."""


def image_records(folder: str | Path) -> Path | None:
    """The per-image record file of a synthesized ``folder`` (``metadata.jsonl``, else the older
    ``manifest.jsonl``); ``None`` when it has neither, i.e. synthesis has not finished there."""
    return next((p for p in (Path(folder) / name for name in IMAGE_RECORDS) if p.exists()), None)
