"""Map a stage's config dataclass to argparse options and back (litgpt-style typed CLIs).

Each field becomes ``--field-name``; its help is ``field.metadata["help"]``; bools become
``--flag/--no-flag``; tuples take several values; ``choices`` come from ``field.metadata["choices"]``
(a callable returning names, e.g. a registry's ``names``).
"""
from __future__ import annotations

import argparse
import dataclasses
import typing
from pathlib import Path
from typing import Any

from vlcp.settings.config import from_dict, load_toml

_SCALARS = {"int": int, "float": float, "str": str, "Path": Path, "bool": bool}


def _base_type(annotation: Any) -> tuple[type, bool]:
    """(scalar type, is_sequence) for a field annotation given as a string or type."""
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    text = text.replace("typing.", "").replace(" ", "")
    seq = text.startswith(("tuple[", "list["))
    for part in text.replace("tuple[", "").replace("list[", "").replace("]", "").replace("|", ",").split(","):
        if part in _SCALARS:
            return _SCALARS[part], seq
    return str, seq


def add_config_args(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    """Add one option per field of ``cls`` (defaults shown, left as None so config defaults apply)."""
    group = parser.add_argument_group(f"{cls.__name__} settings")
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        typ, seq = _base_type(f.type)
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        help_text = f.metadata.get("help", "")
        if "(default" not in help_text:  # a help that states its default says it once
            help_text = f"{help_text} (default: {default})"
        flag = "--" + f.name.replace("_", "-")
        choices = f.metadata.get("choices")
        choices = choices() if callable(choices) else choices
        if typ is bool:
            group.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            group.add_argument(flag, dest=f.name, type=typ, default=None, nargs="+" if seq else None,
                               choices=choices, help=help_text, metavar=None if choices else f.name.upper())


def config_from_args(cls: type, args: argparse.Namespace, base: dict | None = None) -> Any:
    """Build ``cls`` from ``base`` (e.g. a TOML section) overridden by the options given on the command line."""
    values = dict(base or {})
    for f in dataclasses.fields(cls):
        v = getattr(args, f.name, None)
        if v is not None:
            values[f.name] = v
    source = getattr(base, "source", None) or "command line"
    return from_dict(cls, values, source=source)


def toml_section(path: str | Path | None, section: str) -> dict:
    """The ``[section]`` table of a TOML file (empty when no file); the file's section and key names are
    checked first (``vlcp.settings.tomlcheck``)."""
    if path is None:
        return {}
    from vlcp.settings.tomlcheck import check_config_file

    check_config_file(path)
    table = load_toml(path).get(section, {})
    if not isinstance(table, dict):
        from vlcp.errors import VlcpError

        raise VlcpError(f"{path}: [{section}] must be a table of settings, got {table!r}")
    return Section(table, source=f"{path} [{section}]")


class Section(dict):
    """A TOML table that remembers where it came from (``source``: "FILE [section]"), for error messages."""

    def __init__(self, values: dict, source: str = "") -> None:
        super().__init__(values)
        self.source = source
