"""The settings a stage's outputs were made under, for the report: the fingerprint beside the outputs
(``vlcp.run.fingerprint``) over the ``<stage>.toml`` saved with them. A settings file edited after the stage
ran (``steps = 999``) is not shown as how the outputs were made; the disagreement is named instead."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from vlcp.errors import VlcpError
from vlcp.files.atomic import read_json
from vlcp.run.fingerprint import fingerprint_path
from vlcp.run.stages import stages

FOLDERS = {st.name: st.writes[0] for st in stages() if st.fingerprinted}  # the stages that fingerprint: folder
RESOLVED = {"image_size"}  # the fingerprint holds the resolved value (0 in the settings: the data's side)


def _fingerprint(run_dir: Path, stage: str) -> tuple[Path, dict] | None:
    """(path, parts) of ``stage``'s fingerprint in ``run_dir``; None when it has none or it is unreadable."""
    if stage not in FOLDERS:
        return None
    path = fingerprint_path(run_dir / FOLDERS[stage], stage)
    try:
        parts = read_json(path) if path.exists() else None
    except (VlcpError, OSError):
        return None
    return (path, parts) if isinstance(parts, dict) else None


def as_made(run_dir: Path, stage: str, table: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """``table`` (``stage``'s saved settings) with the values its fingerprint recorded, and a sentence naming
    where they disagree ("" when they agree or the stage has no fingerprint)."""
    found = _fingerprint(run_dir, stage)
    if found is None:
        return table, ""
    path, parts = found
    differ = {k: (v, parts[k]) for k, v in table.items()
              if k in parts and k not in RESOLVED and parts[k] is not None and parts[k] != v}
    if not differ:
        return table, ""
    toml = Path(FOLDERS[stage]) / f"{stage}.toml"
    what = ", ".join(f"{k} = {a!r} there, {b!r} in the fingerprint" for k, (a, b) in differ.items())
    note = (f"{toml} disagrees with the fingerprint its outputs were made under ({path.relative_to(run_dir)}): "
            f"{what}; this report shows the fingerprint's values (the file was edited after the stage ran)")
    return {**table, **{k: b for k, (_, b) in differ.items()}}, note
