"""Stage configs: frozen dataclasses validated on creation, saved as TOML beside their outputs."""
from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any, TypeVar

import tomli_w

from vlcp.errors import VlcpError
from vlcp.io import atomic_write_text

C = TypeVar("C")


def check(cond: bool, setting: str, message: str) -> None:
    """Raise VlcpError naming ``setting`` unless ``cond`` holds."""
    if not cond:
        raise VlcpError(f"setting {setting!r}: {message}")


def to_dict(config: Any) -> dict:
    """A TOML-safe dict of a config dataclass (None values dropped, paths as str)."""
    out = {}
    for f in dataclasses.fields(config):
        v = getattr(config, f.name)
        if v is None:
            continue
        if isinstance(v, Path):
            v = str(v)
        elif isinstance(v, tuple):
            v = list(v)
        out[f.name] = v
    return out


def from_dict(cls: type[C], values: dict, source: str = "config") -> C:
    """Build ``cls`` from a dict, naming unknown keys and the source in the error."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise VlcpError(f"{source}: unknown setting(s) {', '.join(unknown)} for {cls.__name__}; known: {', '.join(sorted(names))}")
    types = {f.name: f.type for f in dataclasses.fields(cls)}
    fixed = {k: (tuple(v) if isinstance(v, list) and "tuple" in str(types[k]) else v) for k, v in values.items()}
    try:
        return cls(**fixed)
    except TypeError as e:
        raise VlcpError(f"{source}: {e}") from None


def save_config(config: Any, path: str | Path, section: str | None = None) -> None:
    """Write the resolved config as TOML (atomically)."""
    data = to_dict(config)
    if section:
        data = {section: data}
    atomic_write_text(path, tomli_w.dumps(data))


def load_toml(path: str | Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise VlcpError(f"{path}: config file not found")
    try:
        return tomllib.loads(path.read_text("utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise VlcpError(f"{path}: not valid TOML ({e})") from None
