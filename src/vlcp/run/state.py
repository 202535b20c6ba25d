"""The run folder's recorded settings: what is given once (the data subset, the model, the device)
and then used by every later stage.

``RUN/settings.toml`` holds ``[data]`` (a ``DataConfig``) and ``[run]`` (``model``, ``device``). The
first stage that needs a setting records it; later stages read it, and a value given again that
contradicts the record stops with one line naming the key, both values and the fix. Runs written
before this file existed are read from their ``data.toml`` / ``model.json``.
"""
from __future__ import annotations

import dataclasses
import json
import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from vlcp.errors import VlcpError
from vlcp.files.atomic import atomic_write_text

SETTINGS = "settings.toml"
RUN_KEYS = ("model", "device")


def _tables(run: Path) -> dict[str, dict]:
    """The tables recorded in ``run`` (only those present)."""
    path = run / SETTINGS
    if not path.exists() and any((run / name).exists() for name in ("data.toml", "model.json")):
        return _legacy_tables(run)  # runs written before settings.toml
    if not path.exists():
        return {}
    try:
        return {k: dict(v) for k, v in tomllib.loads(path.read_text("utf-8")).items() if isinstance(v, dict)}
    except tomllib.TOMLDecodeError as e:
        raise VlcpError(f"{path}: not valid TOML ({e})") from None


def _legacy_tables(run: Path) -> dict[str, dict]:
    """The settings of a run written before ``settings.toml`` (``data.toml``, ``model.json``)."""
    out: dict[str, dict] = {}
    if (run / "data.toml").exists():
        out["data"] = dict(tomllib.loads((run / "data.toml").read_text("utf-8")).get("data", {}))
    if (run / "model.json").exists():
        out["run"] = {"model": json.loads((run / "model.json").read_text("utf-8")).get("model")}
    return out


def check_record(run: str | Path) -> None:
    """Stop when ``run`` holds stage outputs made from a recorded dataset (captions, latents, baselines) but
    its record names no dataset (``settings.toml`` deleted, emptied or without ``[data]``), so that no stage
    falls back to the default dataset."""
    run = Path(run)
    if _tables(run).get("data"):
        return
    made = _data_outputs(run)
    if not made:
        return
    path = run / SETTINGS
    what = "is empty or has no [data] table" if path.exists() else "is missing"
    raise VlcpError(f"{path}: the run's record {what}, but {made[0]} exists; restore settings.toml (or rerun "
                    "from `vlcp caption` in a new --run) so that no stage falls back to the default dataset")


DATA_OUTPUTS = ("captions/metadata.jsonl", "latents/index.json")  # stage outputs made from a recorded dataset


def _data_outputs(run: Path) -> list[Path]:
    """The stage outputs in ``run`` that were made from the dataset its record names (captions, latents,
    baseline folders)."""
    found = [run / rel for rel in DATA_OUTPUTS if (run / rel).exists()]
    return found + sorted((run / "baselines").glob("*/baseline.json"))


def read_settings(run: str | Path) -> dict[str, dict]:
    """``{"data": {...}, "run": {...}}`` recorded in ``run`` (empty tables when nothing is recorded)."""
    return {"data": {}, "run": {}, **_tables(Path(run))}


def write_settings(run: str | Path, settings: dict[str, dict]) -> None:
    """Record ``settings`` in ``run/settings.toml`` (atomically; None values dropped)."""
    clean = {k: {n: v for n, v in t.items() if v is not None} for k, t in settings.items() if t}
    Path(run).mkdir(parents=True, exist_ok=True)
    atomic_write_text(Path(run) / SETTINGS, tomli_w.dumps(clean))


def _conflict(run: Path, key: str, recorded: Any, given: Any, source: str) -> VlcpError:
    return VlcpError(f"setting '{key}': the run {run} recorded {recorded!r} ({run / SETTINGS}) but {source} gives "
                     f"{given!r}; drop {source} to use the run's value, or use a new --run")


def settle(run: str | Path, table: str, given: dict[str, Any], defaults: dict[str, Any],
           sources: dict[str, str] | None = None) -> dict[str, Any]:
    """Merge the values ``given`` by this stage with those recorded in ``run``'s ``[table]`` and return them. A given value that differs from the recorded one (or from ``defaults`` when
    the run recorded the table without that key) raises, naming ``sources[key]`` (e.g. the flag)."""
    run = Path(run)
    if table == "data":
        check_record(run)
    recorded = _tables(run).get(table)
    for key, value in given.items():
        if value is None or recorded is None or (key not in recorded and key not in defaults):
            continue
        old = recorded.get(key, defaults.get(key))
        if _norm(old) != _norm(value):
            raise _conflict(run, key, old, value, (sources or {}).get(key, f"--{key.replace('_', '-')}"))
    return {**(recorded or {}), **{k: v for k, v in given.items() if v is not None}}


def record(run: str | Path, table: str, values: dict[str, Any]) -> None:
    """Record ``values`` as ``run``'s ``[table]`` (rewritten only when it changes)."""
    run = Path(run)
    tables = _tables(run)
    if tables.get(table) != values or not (run / SETTINGS).exists():
        write_settings(run, {**tables, table: values})


def _norm(v: Any) -> Any:
    return str(v) if isinstance(v, Path) else (list(v) if isinstance(v, tuple) else v)


def run_data(run: str | Path, given: dict[str, Any], sources: dict[str, str] | None = None, keep: bool = True):
    """The run's ``DataConfig``: recorded values plus ``given`` (checked against the record). With ``keep``
    it is recorded now; a stage that must first see the data load passes ``keep=False`` and calls
    :func:`keep_data` after, so that a first run that fails on its inputs records nothing."""
    from vlcp.settings.config import from_dict
    from vlcp.data.config import DataConfig

    defaults = {f.name: f.default for f in dataclasses.fields(DataConfig)}
    config = from_dict(DataConfig, settle(run, "data", given, defaults, sources), source=str(Path(run) / SETTINGS))
    if keep:
        keep_data(run, config)
    return config


def keep_data(run: str | Path, config) -> None:
    """Record ``config`` (a ``DataConfig`` whose data has loaded) as ``run``'s ``[data]``."""
    from vlcp.settings.config import to_dict

    record(run, "data", to_dict(config))


def recorded_data(run: str | Path):
    """The ``DataConfig`` recorded in ``run`` (the defaults when none is), without recording anything."""
    from vlcp.settings.config import from_dict
    from vlcp.data.config import DataConfig

    check_record(run)
    return from_dict(DataConfig, read_settings(run)["data"], source=str(Path(run) / SETTINGS))


def run_value(run: str | Path, key: str, given: Any, source: str, default: Any = None, keep: bool = True) -> Any:
    """One ``[run]`` setting (``model``, ``device``): the given value checked against the record, else the
    recorded one, else ``default``. With ``keep`` the result is recorded (unless None); callers that must
    first see it work (a model that loads) pass ``keep=False`` and call :func:`keep_value` after."""
    if given is None:
        recorded = read_settings(run)["run"].get(key)
        if recorded is not None:
            return recorded
        given = default
    if given is None:
        return None
    value = settle(run, "run", {key: given}, {}, {key: source})[key]
    if keep:
        keep_value(run, key, value)
    return value


def keep_value(run: str | Path, key: str, value: Any) -> None:
    """Record one ``[run]`` setting."""
    record(run, "run", {**read_settings(run)["run"], key: value})


POINT_AT_DATA = ("point at it with --data-dir DIR, --set data.data_dir=DIR (vlcp run) or [data] data_dir "
                 "in the config")


def check_data_folder(data) -> None:
    """Stop before any model loads when ``data`` (a ``DataConfig``) names no existing data folder."""
    from vlcp.data import DEBIAN_FASHION_MNIST

    if data.preset and data.data_dir is None:
        raise VlcpError(f"setting 'data_dir': preset {data.preset!r} needs the dataset's folder ({POINT_AT_DATA})")
    root = Path(data.data_dir) if data.data_dir is not None else DEBIAN_FASHION_MNIST
    if not root.is_dir():
        hint = ("install Debian's dataset-fashion-mnist (make setup), or " + POINT_AT_DATA
                if data.data_dir is None else POINT_AT_DATA)
        raise VlcpError(f"{root}: data folder not found ({hint})")


def note_inputs(out_dir: str | Path, folder: str, dataset=None, model=None) -> None:
    """Record what a stage function called from Python was given, as the CLI does: when ``out_dir`` is
    ``RUN/<folder>`` (e.g. ``runs/api/captions``), ``RUN``'s ``[data]`` (the ``DataConfig`` that loaded
    ``dataset``) and ``[run] model`` (the spec ``model`` was loaded from). Values already recorded are
    checked, so a run folder keeps one subset and one model whichever way it is written."""
    out_dir = Path(out_dir)
    if out_dir.name != folder:
        return
    run = out_dir.parent
    data = getattr(dataset, "data_config", None)
    if data is not None:
        from vlcp.settings.config import to_dict

        given = to_dict(data)
        keep_data(run, run_data(run, given, {k: f"the dataset's DataConfig ({k})" for k in given}, keep=False))
    spec = getattr(model, "spec", None)
    if spec is not None:
        run_value(run, "model", str(spec), "the model's load_model spec")


TIMES = "times.json"


def _read_times(path: Path) -> dict[str, float]:
    """``{stage: seconds}`` of ``path``; anything else stops with one line naming it."""
    from vlcp.files.atomic import read_json

    times = read_json(path)
    if not isinstance(times, dict) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in times.values()):
        raise VlcpError(f"{path}: expected {{stage: seconds}}")
    return times


def check_times(run: str | Path) -> None:
    """Before a stage runs: a damaged ``RUN/times.json`` (it holds only stage times) is removed, said in
    one note line, so that the stage's time is recorded afresh after it succeeds."""
    path = Path(run) / TIMES
    if not path.exists():
        return
    try:
        _read_times(path)
    except VlcpError as e:
        print(f"note: {e}; it only holds stage times, so it is started afresh", flush=True)
        path.unlink()


def record_time(run: str | Path, stage: str, seconds: float) -> None:
    """Add ``stage``'s wall time to ``RUN/times.json`` (``{stage: seconds}``, the last run of each stage)."""
    from vlcp.files.atomic import atomic_write_json

    check_times(run)
    path = Path(run) / TIMES
    times = _read_times(path) if path.exists() else {}
    times[stage] = round(float(seconds), 1)
    atomic_write_json(path, times)


def stage_times(run: str | Path) -> dict[str, float]:
    """``{stage: seconds}`` recorded in ``run`` (empty when none)."""
    path = Path(run) / TIMES
    return dict(_read_times(path)) if path.exists() else {}
