"""Stage configs: frozen dataclasses validated on creation, saved as TOML beside their outputs."""
from __future__ import annotations

import dataclasses
import math
import tomllib
from pathlib import Path
from typing import Any, TypeVar

import tomli_w

from vlcp.errors import VlcpError
from vlcp.files.atomic import atomic_write_text, read_text

C = TypeVar("C")


def check(cond: bool, setting: str, message: str) -> None:
    """Raise VlcpError naming ``setting`` unless ``cond`` holds."""
    if not cond:
        raise VlcpError(f"setting {setting!r}: {message}")


def check_choices(config: Any) -> None:
    """Raise naming the setting when a field's value is not one of its ``metadata["choices"]`` (a sequence or
    a callable giving one, e.g. a registry's ``names``): the rule that also feeds the flag's ``choices``
    (scikit-learn's parameter constraints). ``None`` passes where the field may be unset."""
    for f in dataclasses.fields(config):
        choices, value = f.metadata.get("choices"), getattr(config, f.name)
        if choices is None or (value is None and "None" in str(f.type)):
            continue
        choices = list(choices() if callable(choices) else choices)
        shown = ", ".join(repr(c) if c == "" else str(c) for c in choices)
        check(value in choices, f.name, f"must be one of {shown}, got {value!r}")


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
    for k, v in values.items():
        check_type(k, v, types[k], source)
        if k == "seed" and isinstance(v, int):
            check_seed(v, source)
    fixed = {k: (tuple(v) if isinstance(v, list) and "tuple" in str(types[k]) else v) for k, v in values.items()}
    try:
        return cls(**fixed)
    except TypeError as e:
        raise VlcpError(f"{source}: {e}") from None


SEED_LIMIT = 2**32  # numpy's and scikit-learn's seeds lie in [0, 2**32); torch's and Python's take them too


def check_seed(value: int, source: str = "config") -> None:
    """A seed outside [0, 2**32) stops with one line naming ``source`` and the setting (found as the settings
    are read, before any work; the libraries would raise an OverflowError or ValueError later)."""
    if not 0 <= value < SEED_LIMIT:
        raise VlcpError(f"{source}: setting 'seed': must be an integer in [0, 2**32), got {value}")


_KINDS = {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false", "Path": "a path"}


def _accepts(kind: str, v: Any) -> bool:
    """Exact TOML/CLI types: bool is not an int, a float is not an int; numbers must be finite."""
    if kind == "bool":
        return isinstance(v, bool)
    if kind == "int":
        return isinstance(v, int) and not isinstance(v, bool)
    if kind == "float":
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    if kind in ("str", "Path"):
        return isinstance(v, (str, Path))
    return True


def check_type(name: str, value: Any, annotation: Any, source: str = "config") -> None:
    """Raise a ``VlcpError`` naming ``source`` and the setting when ``value`` does not fit ``annotation``
    (a string like ``"int"``, ``"str | None"``, ``"tuple[int, ...]"``)."""
    text = str(annotation).replace("typing.", "").replace(" ", "")
    if value is None and ("None" in text or "Optional" in text):
        return
    seq = text.startswith(("tuple[", "list["))
    kinds = [k for k in text.replace("tuple[", "").replace("list[", "").replace("]", "").replace("|", ",").split(",")
             if k in _KINDS]
    if not kinds:
        return
    items = value if seq and isinstance(value, (list, tuple)) else [value]
    if seq and not isinstance(value, (list, tuple)) or not all(any(_accepts(k, v) for k in kinds) for v in items):
        want = " or ".join(_KINDS[k] for k in kinds) + (" (a list)" if seq else "")
        finite = " finite" if "float" in kinds and isinstance(value, float) and not math.isfinite(value) else ""
        raise VlcpError(f"{source}: setting {name!r}: expected{finite} {want}, got {value!r} ({type(value).__name__})")


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
        return tomllib.loads(read_text(path))
    except tomllib.TOMLDecodeError as e:
        raise VlcpError(f"{path}: not valid TOML ({e})") from None
