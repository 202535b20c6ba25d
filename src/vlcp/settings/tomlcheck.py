"""Check a TOML config file's section and key names before anything runs: a misspelt section or key
stops with one line listing the known ones, instead of being ignored (or failing hours later)."""
from __future__ import annotations

import dataclasses
import inspect
from functools import lru_cache
from pathlib import Path
from typing import Callable

from vlcp.errors import VlcpError
from vlcp.settings.keyed import KEYED, check_keyed

def plain_sections() -> dict[str, tuple[str, ...]]:
    """Sections whose keys are read directly (no config dataclass): ``[run]``, and those the stages declare."""
    from vlcp.run.stages import stages

    out: dict[str, tuple[str, ...]] = {"run": ("dir", "stages", "baselines")}
    for stage in stages():
        out.update(stage.sections)
        if stage.section_keys is not None:
            out[stage.name] = stage.section_keys
    return out


def _lazy(module: str, name: str) -> Callable[[], type]:
    return lambda: getattr(__import__(module, fromlist=[name]), name)


def _config_classes() -> dict[str, Callable[[], type]]:
    """section -> the config dataclass whose fields are its keys (imported lazily): ``[data]``, every stage
    whose section holds its config's fields, ``[demo]``."""
    from vlcp.run.stages import stages

    found = {s.name: s.config_type for s in stages() if s.config_ref and s.section_keys is None}
    return {"data": _lazy("vlcp.data.config", "DataConfig"), **found, "demo": _lazy("vlcp.demo", "DemoConfig")}


KEYED_SECTIONS = ("synthesize",)  # sections that may hold settings keyed by IPC or protocol


def _protocol_names() -> list[str]:
    return getattr(__import__("vlcp.evaluate.protocols", fromlist=["PROTOCOLS"]), "PROTOCOLS").names()


def known_sections() -> list[str]:
    return sorted({*plain_sections(), *_config_classes(), "captioner"})


def captioner_options(name: str) -> list[str]:
    """The ``[captioner]`` keys the captioner ``name`` takes (its constructor's parameters)."""
    from vlcp.captioners import CAPTIONERS

    params = inspect.signature(CAPTIONERS.get(name)).parameters
    return [p for p in params if p != "self" and params[p].kind not in (inspect.Parameter.VAR_KEYWORD,
                                                                       inspect.Parameter.VAR_POSITIONAL)]


def _unknown(path: Path, label: str, keys, known) -> None:
    bad = sorted(set(keys) - set(known))
    if bad:
        raise VlcpError(f"{path}: unknown key(s) {', '.join(bad)} in {label}; known: "
                        f"{', '.join(sorted(known)) or '(none)'}")


def check_config(path: str | Path, tables: dict) -> None:
    """Raise naming ``path`` on an unknown section, or an unknown key in any section."""
    path = Path(path)
    bad = sorted(k for k in tables if k not in known_sections())
    if bad:
        raise VlcpError(f"{path}: unknown section(s) {', '.join(f'[{b}]' for b in bad)}; known: "
                        f"{', '.join(f'[{s}]' for s in known_sections())}")
    classes, plain = _config_classes(), plain_sections()
    for section, table in tables.items():
        if not isinstance(table, dict):
            raise VlcpError(f"{path}: '{section}' must be a [section], not a value")
        if section in plain:
            _unknown(path, f"[{section}]", table, plain[section])
        elif section == "captioner":
            name = tables.get("caption", {}).get("captioner", "attributes")
            _unknown(path, f"[captioner] (captioner {name!r})", table, captioner_options(name))
        else:
            fields = [f.name for f in dataclasses.fields(classes[section]())]
            if section in KEYED_SECTIONS:  # [synthesize.ipc.N] / [synthesize.protocol.P] (vlcp.settings.keyed)
                check_keyed(table, f"{path} [{section}]", fields, _protocol_names())
                fields = [*fields, *KEYED]
            _unknown(path, f"[{section}]", table, fields)


@lru_cache(maxsize=16)
def _checked(path: str, mtime: float) -> None:
    from vlcp.settings.config import load_toml

    check_config(path, load_toml(path))


def check_config_file(path: str | Path) -> None:
    """:func:`check_config` on a file, once per version of it."""
    path = Path(path)
    if path.exists():
        _checked(str(path), path.stat().st_mtime)
