"""Gathering for the report: a run folder read into typed things (result rows, each stage's settings as
made, images and their records, cluster members, the prototype report), each read tolerant of what is
missing; an unreadable results file stops the report with one line naming it."""
from __future__ import annotations

import datetime as dt
import io
import tomllib
from pathlib import Path

from vlcp.errors import VlcpError
from vlcp.evaluate.results import FULL_METHOD, ResultRow, read_results
from vlcp.files.atomic import image_records, read_json, read_jsonl
from vlcp.report.markup import natural_key, png_uri
from vlcp.run.stages import STAGES, stages


def report_stages() -> list[str]:
    """The stages the report describes, in pipeline order (the stage table's ``reported`` ones)."""
    return [st.name for st in stages() if st.reported]


RESULT_FILES = ("eval/results.json", "results.json")  # the run's rows, then rows for cells the first lacks
MEMBERS_SHOWN = 6  # training images shown beside each prototype (its cluster's nearest members)


# ---- results -------------------------------------------------------------------------------------
def load_results(path: Path) -> list[ResultRow]:
    """The typed rows of a results file (``read_results``); anything unreadable stops with one line."""
    try:
        return read_results(path)
    except VlcpError as err:
        raise VlcpError(f"{err}; restore it, or rerun `vlcp evaluate` to remake it") from None


def result_rows(run_dir: Path) -> list[ResultRow]:
    """The run's rows: ``eval/results.json``, then ``results.json`` rows for cells it lacks."""
    rows, seen = [], set()
    for rel in RESULT_FILES:
        if (run_dir / rel).exists():
            for r in load_results(run_dir / rel):
                if r.key not in seen:
                    seen.add(r.key)
                    rows.append(r)
    return rows


def is_baseline(row: ResultRow) -> bool:
    """A reference row rather than a distilled set: the whole training set, a folder whose ``baseline.json``
    said how its images were chosen (``settings.selection``), or a registered baseline's row."""
    from vlcp.evaluate.baselines import baseline_names

    return row.method == FULL_METHOD or bool(row.settings.get("selection")) or row.method in baseline_names()


def dataset_classes(rows: list[ResultRow]) -> int | None:
    """The dataset's class count, as the evaluate stage recorded it (``dataset_classes``)."""
    return next((n for r in rows if isinstance(n := r.settings.get("dataset_classes"), int)), None)


def data_description(run_dir: Path, rows: list[ResultRow] | None = None) -> str:
    """The run's dataset and subset in words (``DataConfig.describe``): e.g. ``Fashion-MNIST, 3 of 10 classes``."""
    from vlcp.run.state import recorded_data

    try:
        data = recorded_data(run_dir)
    except VlcpError:
        return "dataset unknown (unreadable settings.toml)"
    return data.describe(dataset_classes(rows or []))


def device_used(run_dir: Path, rows: list[ResultRow]) -> str:
    """The device the stages ran on: the evaluate stage's record (``settings.device``) next to the run's
    setting, e.g. ``cpu (setting: auto)``."""
    from vlcp.run.state import read_settings

    setting = read_settings(run_dir)["run"].get("device", "auto")
    used = sorted({str(r.settings["device"]) for r in rows if r.settings.get("device") and r.method != FULL_METHOD})
    if not used:
        return f"{setting} (no stage recorded the device it used)" if setting == "auto" else str(setting)
    text = ", ".join(used)
    return text if setting == text else f"{text} (evaluate; setting: {setting})"


# ---- the run -------------------------------------------------------------------------------------
def stage_settings(run_dir: Path) -> tuple[dict[str, dict], list[str]]:
    """The settings each stage's outputs were made under, by stage: its ``<stage>.toml`` (unreadable ones
    skipped) with the values its fingerprint recorded (``vlcp.report.fingerprints``); and a note for each
    settings file that disagrees with its fingerprint."""
    from vlcp.report.fingerprints import as_made

    out, notes = {}, []
    for stage in report_stages():
        try:
            table = tomllib.loads((run_dir / STAGES.get(stage).settings_file).read_text("utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue
        out[stage], made_note = as_made(run_dir, stage, dict(table.get(stage, table)))
        notes += [made_note] if made_note else []
    return out, notes


def stage_written(run_dir: Path) -> str:
    """When each stage's output was last written, in words ('' when none is there)."""
    marks = [(st, run_dir / STAGES.get(st).done) for st in report_stages()]
    found = [(st, path.stat().st_mtime) for st, path in marks if path.exists()]
    return ", ".join(f"{st} {dt.datetime.fromtimestamp(t, dt.timezone.utc):%Y-%m-%d %H:%M} UTC" for st, t in found)


def durations(run_dir: Path) -> str:
    """How long each stage took (``times.json``), in words ('' when unknown)."""
    from vlcp.run.state import stage_times

    try:
        times = stage_times(run_dir)
    except VlcpError:
        return ""
    return ", ".join(f"{st} {t / 60:.1f} min" if t >= 60 else f"{st} {t:.0f} s" for st, t in times.items())


def class_count(run_dir: Path) -> str:
    """The number of classes the latents store holds, as text ('—' when unknown)."""
    path = run_dir / "latents" / "index.json"
    try:
        return str(len(read_json(path)["classes"])) if path.exists() else "—"
    except (VlcpError, KeyError, TypeError):
        return "—"


def caption_count(run_dir: Path) -> int | None:
    """How many training images the caption stage described (lines of ``metadata.jsonl``), if it ran."""
    path = run_dir / "captions" / "metadata.jsonl"
    if not path.exists():
        return None
    with path.open("rb") as f:
        return sum(1 for _ in f)


# ---- images --------------------------------------------------------------------------------------
def class_images(folder: Path) -> dict[str, list[Path]]:
    """``folder/<class>/<n>.png`` → {class: [paths in numeric order]} (folders without PNGs skipped)."""
    out = {}
    if folder.is_dir():
        for d in sorted(folder.iterdir(), key=lambda p: natural_key(p.name)):
            pngs = sorted(d.glob("*.png"), key=lambda p: natural_key(p.name)) if d.is_dir() else []
            if pngs:
                out[d.name] = pngs
    return out


def image_sets(run_dir: Path) -> dict[str, dict[str, list[Path]]]:
    """{"distilled" or a baseline folder's name: {class: PNG paths}}, the empty ones left out."""
    sets = {"distilled": class_images(run_dir / "distilled")}
    if (run_dir / "baselines").is_dir():
        for folder in sorted((run_dir / "baselines").iterdir(), key=lambda p: natural_key(p.name)):
            sets[folder.name] = class_images(folder)
    return {k: v for k, v in sets.items() if v}


def manifest(distilled: Path) -> tuple[dict[str, dict], str]:
    """{file_name: record} from ``metadata.jsonl`` (``manifest.jsonl`` in older runs) and a note when it is
    missing or unreadable."""
    path = image_records(distilled)
    if path is None:
        return {}, "No metadata.jsonl: prompts unknown."
    try:
        return {str(r.get("file_name")): r for r in read_jsonl(path) if isinstance(r, dict)}, ""
    except VlcpError as err:
        return {}, f"Unreadable manifest: {err}"


def _member_uris(data, index: dict[str, int], members: list[str]) -> list[str]:
    from vlcp.files.images import to_pil

    idx = [index[n] for n in members if n in index]
    uris = []
    for image in (data.images(idx) if idx else []):
        buf = io.BytesIO()
        to_pil(image).save(buf, format="PNG")
        uris.append(png_uri(buf.getvalue()))
    return uris


def cluster_members(run_dir: Path, per_cluster: int = MEMBERS_SHOWN) -> tuple[dict[tuple[str, int], list[str]], str]:
    """{(class_id, cluster): [PNG data URIs of its nearest members]} from ``prototypes/clusters.json`` and the
    run's recorded training data, and a note when they cannot be shown."""
    path = run_dir / "prototypes" / "clusters.json"
    if not path.exists():
        return {}, ""
    try:
        from vlcp.run.state import recorded_data

        clusters = read_json(path)
        wanted = {(c, k): list(m[:per_cluster]) for c, info in clusters.items()
                  for k, m in enumerate(info.get("members", []))}
        names = {n for m in wanted.values() for n in m}
        data = recorded_data(run_dir).load("train")
        index = {data.file_name(i): i for i in range(len(data)) if data.file_name(i) in names}
        return {key: _member_uris(data, index, members) for key, members in wanted.items()}, ""
    except (VlcpError, OSError, KeyError, TypeError, AttributeError) as err:
        return {}, f"Cluster members not shown: {err}"


# ---- prototype report ----------------------------------------------------------------------------
def load_prototype_report(path: Path) -> tuple[dict[str, dict], str | None]:
    """``({class_id: {"class_name", "nonrepresentative", "clusters": [rows], ...}}, strategy)``.

    Accepts ``{"classes": {...}}`` (as written by ``vlcp.prototypes.report``) or a bare mapping, with
    each class either a dict with ``clusters`` or a plain list of cluster rows."""
    data = read_json(path)
    classes = data.get("classes", data) if isinstance(data, dict) else None
    if not isinstance(classes, dict):
        raise VlcpError(f"{path}: expected {{class_id: ...}} or {{\"classes\": {{...}}}}")
    out = {}
    for cid, c in classes.items():
        if isinstance(c, list):
            c = {"clusters": c}
        if not isinstance(c, dict) or not isinstance(c.get("clusters", []), list):
            raise VlcpError(f"{path}: class {cid!r}: expected a list of clusters")
        out[str(cid)] = c
    strategy = data.get("strategy") if "classes" in data else None
    return out, (str(strategy) if strategy else None)
