"""Settings keyed by IPC or protocol inside a stage's TOML table (``[synthesize]``).

A table may hold, next to its plain keys, sub-tables that apply only to one IPC or one evaluation protocol:

.. code-block:: toml

    [synthesize]
    strength = 0.4            # every run
    [synthesize.protocol.rded]
    strength = 0.7            # runs evaluated under rded (the run's [evaluate] protocol)
    [synthesize.ipc.50]
    start = "medoid"          # runs whose prototypes have ipc = 50

They are applied in that order: the plain keys, then the protocol's, then the IPC's (the most specific, so an
IPC table wins over a protocol table). :func:`resolve_keyed` returns the plain table the stage's config is
built from and the names of the tables it applied, which the stage records.
"""
from __future__ import annotations

from typing import Iterable

from vlcp.errors import VlcpError

KEYED = ("protocol", "ipc")  # sub-table kinds, in the order they apply

__all__ = ["KEYED", "resolve_keyed", "check_keyed"]


def check_keyed(table: dict, source: str, known_keys: Iterable[str], protocols: Iterable[str]) -> None:
    """Stop with one line naming ``source`` on a malformed keyed sub-table: an IPC that is not a positive
    integer, an unknown protocol, or an unknown key inside one."""
    known, protocols = set(known_keys), set(protocols)
    for kind in KEYED:
        tables = table.get(kind)
        if tables is None:
            continue
        if not isinstance(tables, dict) or not all(isinstance(v, dict) for v in tables.values()):
            raise VlcpError(f"{source}: '{kind}' must hold tables such as [{source.split('[')[-1].rstrip(']')}."
                            f"{kind}.{'50' if kind == 'ipc' else 'rded'}], got {tables!r}")
        for key, sub in tables.items():
            if kind == "ipc" and not (key.isdigit() and int(key) >= 1):
                raise VlcpError(f"{source}: [ipc.{key}]: the IPC must be a positive integer")
            if kind == "protocol" and key not in protocols:
                raise VlcpError(f"{source}: [protocol.{key}]: unknown protocol; known: {', '.join(sorted(protocols))}")
            bad = sorted(set(sub) - known)
            if bad:
                raise VlcpError(f"{source}: unknown key(s) {', '.join(bad)} in [{kind}.{key}]; known: "
                                f"{', '.join(sorted(known))}")


def resolve_keyed(table: dict, ipc: int | None = None, protocol: str | None = None) -> tuple[dict, list[str]]:
    """(the plain keys with the matching ``protocol.<protocol>`` and ``ipc.<ipc>`` tables applied, the names
    of the applied tables such as ``"ipc.50"``)."""
    out = {k: v for k, v in table.items() if k not in KEYED}
    applied = []
    for kind, value in (("protocol", protocol), ("ipc", None if ipc is None else str(int(ipc)))):
        sub = (table.get(kind) or {}).get(value) if value is not None else None
        if sub:
            out.update(sub)
            applied.append(f"{kind}.{value}")
    return out, applied
