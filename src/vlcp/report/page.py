"""The report stage: one self-contained ``report.html`` from whatever a run folder holds.

A summary paragraph (what the run did, from the settings each stage saved, and where the distilled set
stands), then sections, each skipped with a short note when its artifacts are missing or unreadable:

* run — dataset and subset in words, class count, model, the device the evaluation used next to the
  recorded setting (``settings.toml``), package versions, git commit, time per stage;
* results — one section for ``eval/results.json`` (and ``results.json`` rows for other cells): a table
  with methods as columns and (IPC, model, protocol) as rows (no ± for one network; the whole training set
  filled on every line), inline SVG charts (``vlcp.report.chart``: error bars, the axis zoomed in only as far
  as the noise allows, one colour per method on the whole page, accuracy against IPC when there are several)
  and the protocol as run (epochs, and whether shortened from the protocol's default; batch, seeds, device);
* images — per class a grid of ``distilled/<class>/<n>.png`` (click to enlarge, CSS only), then each image
  with its prompt written under it (``metadata.jsonl``) and its cluster's real images, then every
  ``baselines/<method>_ipc<k>/`` per class;
* prototypes — ``prototypes/prototype_report.json`` (the paper's Table 6);
* settings — every ``*.toml`` in the run folder, verbatim.

Images are embedded as base64 PNG; the page has a viewport, wide tables scroll inside their box, and it
loads nothing from anywhere and needs no script.
"""
from __future__ import annotations

import base64
import io
import re
from html import escape
from pathlib import Path
from typing import Any, Iterable

from vlcp.errors import VlcpError
from vlcp.files.atomic import atomic_write_text, image_records, read_json, read_jsonl

__all__ = ["report", "add_parser"]

THUMB = 128  # images with a larger side are downscaled to this before embedding

CSS = """
* { box-sizing: border-box; }
body { font-family: system-ui, sans-serif; margin: 0 auto; padding: 1em; max-width: 70em; color: #222;
       line-height: 1.4; overflow-wrap: break-word; }
h1 { margin-bottom: 0; font-size: 1.6em; } .sub { color: #666; margin-top: .2em; overflow-wrap: anywhere; }
p.summary { max-width: 48em; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: .5em 0 1em; overflow-wrap: normal; word-break: normal; }
th, td { border: 1px solid #ccc; padding: .25em .6em; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; white-space: nowrap; }
td.key { white-space: nowrap; } td.text { min-width: 12em; }
.note { color: #888; font-style: italic; }
figure { margin: 0; }
.chart { max-width: 32em; margin: .5em 0 1.5em; } .chart svg { width: 100%; height: auto; display: block; }
.chart figcaption { font-size: .85em; color: #444; }
.legend { display: inline-flex; flex-wrap: wrap; gap: .2em .8em; margin-left: .4em; }
.key i { display: inline-block; width: .9em; height: .9em; margin-right: .3em; vertical-align: -.1em; }
.classgrid { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(20em, 100%), 1fr)); gap: 1em; margin: .5em 0 1.5em; }
.classgrid figure { border: 1px solid #eee; padding: .4em; }
.classgrid .tiles { display: grid; grid-template-columns: repeat(5, 1fr); gap: 2px; }
.classgrid .tiles img { width: 100%; height: auto; aspect-ratio: 1; }
.classgrid figcaption { font-weight: 600; margin-bottom: .3em; }
.imgs { display: grid; grid-template-columns: repeat(auto-fill, minmax(11em, 1fr)); gap: .6em; margin: .3em 0 1em; }
.imgs figure { border: 1px solid #eee; padding: .3em; }
.imgs img { width: 96px; height: 96px; display: block; }
.imgs figcaption { font-size: .85em; color: #333; }
img { image-rendering: pixelated; border: 1px solid #ddd; }
.zoom { cursor: zoom-in; display: block; outline: none; }
.zoom:focus img { position: fixed; z-index: 10; top: 50%; left: 50%; transform: translate(-50%, -50%);
                  width: min(90vw, 90vh, 448px); height: auto; box-shadow: 0 0 0 100vmax rgba(0,0,0,.6);
                  cursor: zoom-out; }
.members div { display: flex; flex-wrap: wrap; gap: 2px; }
.members img { width: 28px; height: 28px; border: 0; display: inline; }
.cell { display: flex; flex-wrap: wrap; gap: 3px; }
.cell img { width: 48px; height: 48px; }
dl.run { display: grid; grid-template-columns: max-content 1fr; gap: .2em 1em; } dl.run dt { font-weight: 600; }
dl.run dd { margin: 0; overflow-wrap: anywhere; }
details { margin: .3em 0; } pre { background: #f7f7f7; padding: .6em; overflow-x: auto; max-width: 100%; }
small { color: #666; }
"""


# ---- helpers -------------------------------------------------------------------------------------
def _e(x: Any) -> str:
    return escape(str(x), quote=True)


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


def _section(title: str, body: str) -> str:
    return f"<section>\n<h2>{_e(title)}</h2>\n{body}\n</section>"


def _scroll(table: str) -> str:
    """A wide table scrolls inside its own box instead of widening the page."""
    return f'<div class="scroll">{table}</div>'



def _png_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _image_bytes(path: Path) -> bytes:
    """The PNG's bytes, downscaled (nearest, to keep pixels crisp) when larger than THUMB."""
    from PIL import Image

    with Image.open(path) as im:
        if max(im.size) <= THUMB and im.format == "PNG":
            return path.read_bytes()
        im = im.copy()
    im.thumbnail((THUMB, THUMB))
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def _img(path: Path, title: str, zoom: bool = False) -> str:
    """The image embedded; ``zoom``: focusable, so a click shows it enlarged over the page (CSS only)."""
    try:
        uri = _png_uri(_image_bytes(path))
    except OSError:
        return f'<span class="note" title="{_e(path.name)}">unreadable</span>'
    img = f'<img src="{uri}" alt="{_e(title)}" title="{_e(title)}">'
    return f'<span class="zoom" tabindex="0">{img}</span>' if zoom else img


def natural_key(s: str) -> list:
    """Sort key that orders "2.png" before "10.png"."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


# ---- results -------------------------------------------------------------------------------------
def load_results(path: Path) -> list[dict]:
    """The rows of a results file: a list of rows, or ``{"rows": [...]}``; anything else stops with one line."""
    fix = "restore it, or rerun `vlcp evaluate` to remake it"
    try:
        data = read_json(path)
    except VlcpError as e:
        raise VlcpError(f"{e}; {fix}") from None
    rows = data.get("rows") if isinstance(data, dict) else data
    if not isinstance(rows, list) or not all(isinstance(r, dict) and "method" in r for r in rows):
        raise VlcpError(f"{path}: expected a list of rows with 'method' (or {{\"rows\": [...]}}); {fix}")
    return rows


def _runs(r: dict) -> int | None:
    n = r.get("runs", r.get("n"))
    if isinstance(n, list):
        return len(n)
    return int(n) if isinstance(n, (int, float)) else None


def _fmt(x: Any, digits: int) -> str:
    return f"{x:.{digits}f}" if isinstance(x, (int, float)) else _e(x if x is not None else "—")


def _setting(r: dict) -> tuple:
    ipc = r.get("ipc")
    return (ipc if isinstance(ipc, (int, float)) else float("inf"), str(ipc), str(r.get("model", "")),
            str(r.get("protocol", "")))


WHOLE = "full"  # the whole-training-set row (``vlcp baseline --method full``): one value for every IPC
LABELS = {WHOLE: "whole training set"}


def _label(method: str) -> str:
    return LABELS.get(method, method)


def _cell_text(r: dict, digits: int) -> str:
    """``mean ± std (N=n)``; the mean alone for one network (no spread was measured)."""
    text = _fmt(r.get("mean"), digits)
    n = _runs(r)
    if isinstance(r.get("std"), (int, float)) and n != 1:
        text += f" ± {_fmt(r['std'], digits)}"
    return text + (f" <small>(N={n})</small>" if n is not None else "")


def results_table(rows: list[dict]) -> str:
    """Methods as columns, (IPC, model, protocol) as rows; cells ``mean ± std`` (no ± for one network), the
    whole-training-set column filled on every line of its model and protocol."""
    methods = method_order(rows)
    means = [r.get("mean") for r in rows if isinstance(r.get("mean"), (int, float))]
    digits = 1 if means and max(abs(m) for m in means) > 1 else 3  # percent or fraction
    whole = {(str(r.get("model", "")), str(r.get("protocol", ""))): r for r in rows if str(r["method"]) == WHOLE}
    cells: dict[tuple, dict[str, dict]] = {}
    for r in rows:
        if str(r["method"]) != WHOLE or len(whole) == len(rows):
            cells.setdefault(_setting(r), {})[str(r["method"])] = r
    head = "".join(f"<th>{_e(_label(m))}</th>" for m in methods)
    out = ["<table class=\"results\">", f"<tr><th>IPC</th><th>model</th><th>protocol</th>{head}</tr>"]
    for key in sorted(cells):
        tds = []
        for m in methods:
            r = cells[key].get(m) or (whole.get((key[2], key[3])) if m == WHOLE else None)
            tds.append(f'<td class="num">{_cell_text(r, digits)}</td>' if r is not None
                       else '<td class="num">—</td>')
        out.append(f"<tr><td class=\"key\">{_e(key[1])}</td><td class=\"key\">{_e(key[2])}</td>"
                   f"<td class=\"key\">{_e(key[3])}</td>{''.join(tds)}</tr>")
    out.append("</table>")
    return "\n".join(out)


def method_order(rows: list[dict]) -> list[str]:
    """Methods in one order for every table and chart of the page: vlcp first, then by name, the whole
    training set last."""
    names = {str(r["method"]) for r in rows}
    return sorted(names, key=lambda m: (m == WHOLE, not m.startswith("vlcp"), m))


def results_charts(rows: list[dict], colours: dict[str, str]) -> list[str]:
    """One bar chart per (model, protocol) with a group per IPC (the whole training set as a dashed line);
    plus accuracy against IPC (lines) when there are several IPCs."""
    from vlcp.report.chart import svg_chart

    rows = [r for r in rows if isinstance(r.get("mean"), (int, float))]
    out = []
    for model, protocol in dict.fromkeys((str(r.get("model", "")), str(r.get("protocol", ""))) for r in rows):
        sub = [r for r in rows if (str(r.get("model", "")), str(r.get("protocol", ""))) == (model, protocol)]
        whole = next((r for r in sub if str(r["method"]) == WHOLE), None)
        sub = [r for r in sub if str(r["method"]) != WHOLE]
        if not sub:
            continue
        ipcs = sorted({r.get("ipc") for r in sub}, key=lambda k: (not isinstance(k, (int, float)), k))
        series = {m: {ipcs.index(r.get("ipc")): (float(r["mean"]), float(r.get("std") or 0))
                      for r in sub if str(r["method"]) == m} for m in colours if any(str(r["method"]) == m for r in sub)}
        groups = [f"IPC {k}" for k in ipcs]
        ref = (_label(WHOLE), float(whole["mean"])) if whole else None
        out.append(svg_chart(groups, series, colours, "bar", title=f"{model}, {protocol}", reference=ref))
        if len(ipcs) > 1:
            out.append(svg_chart(groups, series, colours, "line", title=f"accuracy against IPC — {model}, {protocol}",
                                 reference=ref))
    return out


def _result_rows(run_dir: Path) -> list[dict]:
    """The run's rows — ``eval/results.json``, then ``results.json`` rows for cells it lacks. An unreadable
    results file stops the report with one line naming it (``load_results``), never a page without its results."""
    rows, seen = [], set()
    for path in (run_dir / "eval" / "results.json", run_dir / "results.json"):
        if not path.exists():
            continue
        for r in load_results(path):
            key = (str(r["method"]),) + _setting(r)
            if key not in seen:
                seen.add(key)
                rows.append(r)
    return rows


def protocol_table(rows: list[dict]) -> str:
    """The protocol as it ran, per (IPC, model, protocol): epochs (and whether shortened), batch, seeds, ..."""
    from vlcp.evaluate.protocols import PROTOCOLS

    lines = []
    for key in sorted({_setting(r) for r in rows}):
        r = next((x for x in rows if _setting(x) == key and isinstance(x.get("settings"), dict)), {})
        s = r.get("settings", {})
        epochs = s.get("epochs")
        full = None
        if key[3] in PROTOCOLS and isinstance(key[0], int) and isinstance(s.get("num_classes"), int):
            protocol = PROTOCOLS.get(key[3]).for_method(str(r.get("method")))  # the whole set: its own recipe
            full = protocol.default_epochs(key[0], s["num_classes"])
        ep = "—" if epochs is None else (f"{epochs} of {full} (shortened)" if full and epochs < full else str(epochs))
        lines.append("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in (
            key[1], key[2], key[3], ep, s.get("batch_size", "—"), s.get("optimizer", "—"), s.get("num_classes", "—"),
            s.get("test_images", "—"), ", ".join(map(str, s.get("seeds", []))) or "—", s.get("device", "—"))) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ("IPC", "model", "protocol", "epochs", "batch", "optimizer", "classes",
                                              "test images", "seeds", "device"))
    return _scroll(f"<table><tr>{head}</tr>{''.join(lines)}</table>")


def scores_section(rows: list[dict]) -> str:
    """DD-Ranking's scores beside accuracy (the same numbers as results.md: ``vlcp.evaluate.scores``), a sentence
    on each, and one line per refused score; '' when the rows hold no distilled set."""
    from vlcp.evaluate.results import ResultRow
    from vlcp.evaluate.scores import SCORE_MEANINGS, SCORE_NAMES, score_rows

    try:
        scored, refused = score_rows([ResultRow.from_dict(r) for r in rows])
    except VlcpError as err:
        return _note(f"DD-Ranking scores not computed: {err}")
    if not scored and not refused:
        return ""
    out = ["<h3>DD-Ranking scores</h3>", "<p>Scores of Li et al. (2025), computed on accuracies as fractions and "
           "shown ×100, each from rows of the same protocol, network and IPC.</p>"]
    if scored:
        head = "".join(f"<th>{n}</th>" for n in SCORE_NAMES)
        body = []
        for s in scored:
            cells = "".join(f'<td class="num">{_e(s.scores[n].text() if n in s.scores else "—")}</td>'
                            for n in SCORE_NAMES)
            body.append(f'<tr><td class="key">{s.ipc}</td><td class="key">{_e(s.model)}</td><td class="key">'
                        f'{_e(s.protocol)}</td><td>{_e(_label(s.method))}</td><td class="num">{s.accuracy:.1f}</td>'
                        f"{cells}</tr>")
        out.append(_scroll(f'<table class="scores"><tr><th>IPC</th><th>model</th><th>protocol</th><th>method</th>'
                           f"<th>accuracy</th>{head}</tr>{''.join(body)}</table>"))
    out.append("<ul>" + "".join(f"<li><b>{n}</b>: {_e(m)}.</li>" for n, m in SCORE_MEANINGS.items()) + "</ul>")
    out += [_note(n) for n in refused]
    return "\n".join(out)


def section_results(run_dir: Path, colours: dict[str, str] | None = None) -> str:
    rows = _result_rows(run_dir)
    if not rows:
        return _section("Results", _note("No results (eval/results.json or results.json)."))
    from vlcp.report.chart import method_colours

    colours = colours or method_colours(method_order(rows))
    subset = f"<p>Test accuracy (%) on the real test images of: {_e(data_description(run_dir, rows))}.</p>"
    parts = [subset, _scroll(results_table(rows)), scores_section(rows), *results_charts(rows, colours),
             "<h3>Protocol as run</h3>", protocol_table(rows)]
    return _section("Results", "\n".join(parts))


# ---- images --------------------------------------------------------------------------------------
def _class_images(folder: Path) -> dict[str, list[Path]]:
    """``folder/<class>/<n>.png`` → {class: [paths in numeric order]} (folders without PNGs skipped)."""
    out = {}
    if folder.is_dir():
        for d in sorted(folder.iterdir(), key=lambda p: natural_key(p.name)):
            pngs = sorted(d.glob("*.png"), key=lambda p: natural_key(p.name)) if d.is_dir() else []
            if pngs:
                out[d.name] = pngs
    return out


def _manifest(distilled: Path) -> tuple[dict[str, dict], str]:
    """{file_name: record} from ``metadata.jsonl`` (``manifest.jsonl`` in older runs) and a note when it is
    missing or unreadable."""
    path = image_records(distilled)
    if path is None:
        return {}, "No metadata.jsonl: prompts unknown."
    try:
        return {str(r.get("file_name")): r for r in read_jsonl(path) if isinstance(r, dict)}, ""
    except VlcpError as err:
        return {}, f"Unreadable manifest: {err}"


MEMBERS_SHOWN = 6  # training images shown beside each prototype (its cluster's nearest members)


def cluster_members(run_dir: Path, per_cluster: int = MEMBERS_SHOWN) -> tuple[dict[tuple[str, int], list[str]], str]:
    """{(class_id, cluster): [PNG data URIs of its nearest members]} from ``prototypes/clusters.json`` and the
    run's recorded training data, and a note when they cannot be shown."""
    path = run_dir / "prototypes" / "clusters.json"
    if not path.exists():
        return {}, ""
    try:
        from vlcp.files.images import to_pil
        from vlcp.run.state import recorded_data

        clusters = read_json(path)
        wanted = {(c, k): list(m[:per_cluster]) for c, info in clusters.items()
                  for k, m in enumerate(info.get("members", []))}
        names = {n for m in wanted.values() for n in m}
        data = recorded_data(run_dir).load("train")
        index = {}
        for i in range(len(data)):
            if data.file_name(i) in names:
                index[data.file_name(i)] = i
        out = {}
        for key, members in wanted.items():
            idx = [index[n] for n in members if n in index]
            uris = []
            for img in (data.images(idx) if idx else []):
                buf = io.BytesIO()
                to_pil(img).save(buf, format="PNG")
                uris.append(_png_uri(buf.getvalue()))
            out[key] = uris
        return out, ""
    except (VlcpError, OSError, KeyError, TypeError, AttributeError) as err:
        return {}, f"Cluster members not shown: {err}"


def _members(uris: list[str]) -> str:
    if not uris:
        return ""
    imgs = "".join(f'<img src="{u}" alt="cluster member">' for u in uris)
    return f'<div class="members"><small>its cluster (nearest real images):</small><div>{imgs}</div></div>'


def _class_grid(classes: list[str], distilled: dict[str, list[Path]], records: dict[str, dict],
                names: dict[str, str]) -> str:
    """The distilled set at a glance, as a paper's figure: per class its images in a grid (click to enlarge;
    the prompt is each image's tooltip and is written under it in the class's section below)."""
    figs = []
    for c in classes:
        tiles = "".join(_img(p, (records.get(f"{c}/{p.name}") or {}).get("prompt", f"{c}/{p.name}"), zoom=True)
                        for p in distilled.get(c, []))
        if tiles:
            figs.append(f'<figure><figcaption>{_e(names.get(c, c))}</figcaption><div class="tiles">{tiles}</div>'
                        "</figure>")
    if not figs:
        return ""
    return ('<p>The distilled set, one grid per class (click an image to enlarge it; its prompt and its cluster\'s '
            f'real images follow below).</p><div class="classgrid">{"".join(figs)}</div>')


def section_images(run_dir: Path, class_names: dict[str, str] | None = None) -> str:
    distilled = run_dir / "distilled"
    sets = {"distilled": _class_images(distilled)}
    if (run_dir / "baselines").is_dir():
        for folder in sorted((run_dir / "baselines").iterdir(), key=lambda p: natural_key(p.name)):
            sets[folder.name] = _class_images(folder)
    sets = {k: v for k, v in sets.items() if v}
    if not sets:
        return _section("Images", _note("No images (distilled/, baselines/<method>_ipc<k>/)."))
    records, note = _manifest(distilled) if "distilled" in sets else ({}, "No distilled images.")
    order = list(dict.fromkeys(str(r.get("class")) for r in records.values() if r.get("class") is not None))
    classes = [c for c in order if any(c in v for v in sets.values())]
    classes += sorted({c for v in sets.values() for c in v} - set(classes), key=natural_key)
    names = class_names or {}
    members, members_note = cluster_members(run_dir)
    out = [_note(note) if note else "", _note(members_note) if members_note else "",
           _class_grid(classes, sets.get("distilled", {}), records, names)]
    for c in classes:
        out.append(f"<h3>{_e(names.get(c, c))}" + (f" <small>{_e(c)}</small>" if names.get(c, c) != c else "")
                   + "</h3>")
        figs = []
        for p in sets.get("distilled", {}).get(c, []):
            rec = records.get(f"{c}/{p.name}") or {}
            figs.append(f'<figure class="distilled">{_img(p, f"{c}/{p.name}", zoom=True)}<figcaption>'
                        f'<span class="prompt">{_e(rec.get("prompt", "(prompt unknown)"))}</span> '
                        f'<small>{_e(p.name)}{", seed " + _e(rec["seed"]) if "seed" in rec else ""}</small>'
                        f"</figcaption>{_members(members.get((c, int(rec.get('prototype', -1))), []))}</figure>")
        if figs:
            out.append(f'<div class="imgs">{"".join(figs)}</div>')
        rows = [f"<tr><th>{_e(kind)}</th><td><div class=\"cell\">"
                f"{''.join(_img(p, f'{kind}: {c}/{p.name}') for p in images[c])}</div></td></tr>"
                for kind, images in sets.items() if kind != "distilled" and c in images]
        if rows:
            out.append(_scroll(f'<table class="grid">{"".join(rows)}</table>'))
    return _section("Images", "\n".join(o for o in out if o))


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


def _words(x: Any) -> str:
    if isinstance(x, str):
        return x
    return " ".join(str(w) for w in x) if isinstance(x, Iterable) else ""


def _keywords(x: Any) -> str:
    items = x.items() if isinstance(x, dict) else (x or [])
    parts = []
    for kw in items:
        if isinstance(kw, (list, tuple)) and len(kw) == 2:
            parts.append(f"{kw[0]}: {kw[1]}")
        else:
            parts.append(str(kw))
    return ", ".join(parts)


def prototype_tables(classes: dict[str, dict]) -> str:
    out = []
    for cid, c in classes.items():
        rows = [r for r in c.get("clusters", []) if isinstance(r, dict)]
        show_prompt = any(r.get("prompt") not in (None, r.get("text")) for r in rows)
        name = c.get("class_name", cid)
        counts = ", ".join(f"{k} = {c[k]}" for k in ("n", "n_outliers", "n_inliers", "k") if k in c)
        nonrep = _words(c.get("nonrepresentative") or (rows[0].get("nonrepresentative") if rows else "") or "")
        out.append(f"<h3>{_e(name)}" + (f" <small>{_e(cid)}</small>" if name != cid else "") + "</h3>")
        if counts:
            out.append(f"<p><small>{_e(counts)}</small></p>")
        out.append(f"<p>Non-representative words: {_e(nonrep) or '—'}</p>")
        head = "<th>cluster</th><th>size</th><th>feature keywords (count)</th><th>chosen text</th>"
        out += ['<div class="scroll"><table>', f"<tr>{head}{'<th>prompt</th>' if show_prompt else ''}</tr>"]
        for r in rows:
            tds = (f"<td>{_e(r.get('cluster', ''))}</td><td class=\"num\">{_e(r.get('size', ''))}</td>"
                   f"<td>{_e(_keywords(r.get('keywords')))}</td><td>{_e(r.get('text', ''))}</td>")
            if show_prompt:
                tds += f"<td>{_e(r.get('prompt', ''))}</td>"
            out.append(f"<tr>{tds}</tr>")
        out.append("</table></div>")
    return "\n".join(out)


def section_prototypes(run_dir: Path) -> tuple[str, dict[str, str]]:
    """The section's HTML and {class_id: class_name} (for labelling the image grid)."""
    path = run_dir / "prototypes" / "prototype_report.json"
    title = "Prototypes (Table 6)"
    if not path.exists():
        return _section(title, _note("No prototypes/prototype_report.json.")), {}
    try:
        classes, strategy = load_prototype_report(path)
        body = prototype_tables(classes)
    except (VlcpError, TypeError, AttributeError, ValueError) as err:
        return _section(title, _note(f"Unreadable {path.name}: {err}")), {}
    if strategy:
        body = f"<p>Text strategy: <code>{_e(strategy)}</code></p>\n" + body
    names = {cid: str(c["class_name"]) for cid, c in classes.items() if c.get("class_name")}
    return _section(title, body), names


# ---- the run -----------------------------------------------------------------------------------
def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("vlcp", "torch", "diffusers", "transformers"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def _git_commit() -> str:
    """The commit of the vlcp source tree the report is written with ('—' outside a git checkout)."""
    import subprocess

    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "—"
    dirty = ""
    if out.returncode == 0:
        st = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=Path(__file__).parent,
                            capture_output=True, text=True, timeout=10)
        dirty = " (with local changes)" if st.stdout.strip() else ""
    return out.stdout.strip() + dirty if out.returncode == 0 else "—"


def _stage_times(run_dir: Path) -> str:
    """When each stage's output was last written (the settings each stage saves beside its outputs)."""
    import datetime as dt

    marks = {"caption": "captions/metadata.jsonl", "encode": "latents/index.json",
             "prototypes": "prototypes/prototypes.toml", "synthesize": "distilled/metadata.jsonl",
             "evaluate": "eval/results.json"}
    found = [(st, (run_dir / rel).stat().st_mtime) for st, rel in marks.items() if (run_dir / rel).exists()]
    return ", ".join(f"{st} {dt.datetime.fromtimestamp(t, dt.timezone.utc):%Y-%m-%d %H:%M} UTC" for st, t in found)


def _durations(run_dir: Path) -> str:
    from vlcp.run.state import stage_times

    try:
        times = stage_times(run_dir)
    except VlcpError:
        return ""
    return ", ".join(f"{st} {t / 60:.1f} min" if t >= 60 else f"{st} {t:.0f} s" for st, t in times.items())


def _dataset_classes(rows: list[dict]) -> int | None:
    """The dataset's class count, as the evaluate stage recorded it (``dataset_classes``)."""
    for r in rows:
        n = (r.get("settings") or {}).get("dataset_classes") if isinstance(r.get("settings"), dict) else None
        if isinstance(n, int):
            return n
    return None


def data_description(run_dir: Path, rows: list[dict] | None = None) -> str:
    """The run's dataset and subset in words (``DataConfig.describe``): e.g. ``Fashion-MNIST, 3 of 10 classes``."""
    from vlcp.run.state import recorded_data

    try:
        data = recorded_data(run_dir)
    except VlcpError:
        return "dataset unknown (unreadable settings.toml)"
    return data.describe(_dataset_classes(rows or []))


def device_used(run_dir: Path, rows: list[dict]) -> str:
    """The device the stages ran on: the evaluate stage's record (``settings.device``) next to the run's
    setting, e.g. ``cpu (setting: auto)``."""
    from vlcp.run.state import read_settings

    setting = read_settings(run_dir)["run"].get("device", "auto")
    used = sorted({str(r["settings"]["device"]) for r in rows if isinstance(r.get("settings"), dict)
                   and r["settings"].get("device") and r.get("method") != WHOLE})
    if not used:
        return f"{setting} (no stage recorded the device it used)" if setting == "auto" else str(setting)
    text = ", ".join(used)
    return text if setting == text else f"{text} (evaluate; setting: {setting})"


def section_run(run_dir: Path, rows: list[dict] | None = None) -> str:
    """Dataset, subset, class count, model, device used, package versions, git commit and stage times."""
    from vlcp.run.state import read_settings

    rows = rows if rows is not None else _result_rows(run_dir)
    settings = read_settings(run_dir)
    run = settings["run"]
    classes = "—"
    if (run_dir / "latents" / "index.json").exists():
        try:
            classes = str(len(read_json(run_dir / "latents" / "index.json")["classes"]))
        except (VlcpError, KeyError, TypeError):
            pass
    items = {"dataset": data_description(run_dir, rows), "classes": classes,
             "model": run.get("model", "—"), "device": device_used(run_dir, rows),
             "versions": ", ".join(f"{k} {v}" for k, v in _versions().items()),
             "git commit": _git_commit(), "time per stage": _durations(run_dir) or "—",
             "stage outputs written": _stage_times(run_dir) or "—"}
    body = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in items.items())
    return _section("Run", f'<dl class="run">{body}</dl>')


def _stage_settings(run_dir: Path) -> tuple[dict[str, dict], list[str]]:
    """The settings each stage's outputs were made under, by stage: its ``<stage>.toml`` (unreadable ones
    skipped) with the values its fingerprint recorded (``vlcp.report.fingerprints``); and a note for each
    settings file that disagrees with its fingerprint."""
    import tomllib

    from vlcp.report.fingerprints import as_made

    out, notes = {}, []
    for stage, rel in (("caption", "captions/caption.toml"), ("encode", "latents/encode.toml"),
                       ("prototypes", "prototypes/prototypes.toml"), ("synthesize", "distilled/synthesize.toml"),
                       ("evaluate", "eval/evaluate.toml")):
        try:
            table = tomllib.loads((run_dir / rel).read_text("utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue
        out[stage], note = as_made(run_dir, stage, dict(table.get(stage, table)))
        notes += [note] if note else []
    return out, notes


def summary(run_dir: Path, rows: list[dict]) -> str:
    """One paragraph: what the method did in this run, from the files each stage left, and where it stands."""
    st, notes = _stage_settings(run_dir)
    data = data_description(run_dir, rows)
    cap, proto, syn = st.get("caption", {}), st.get("prototypes", {}), st.get("synthesize", {})
    n_caps = sum(1 for _ in (run_dir / "captions" / "metadata.jsonl").open()) if (
        run_dir / "captions" / "metadata.jsonl").exists() else None
    parts = [f"Data: {data}."]
    if n_caps:
        parts.append(f"A captioner ({cap.get('captioner', 'unknown')}) described each of the {n_caps:,} training "
                     "images; the generator's VAE encoded them.")
    if proto:
        parts.append(f"Per class, LOF removed outliers and k-means (k = {proto.get('ipc', '?')}) clustered the "
                     f"latents into image prototypes; each cluster's text prototype (strategy "
                     f"{proto.get('strategy', 'dcs')}) is the caption written under its image below.")
    if syn:
        parts.append(f"Each distilled image: its prototype latent {_sampler_sentence(syn)}, with its text prototype "
                     f"as the prompt ({syn.get('steps', '?')} steps, guidance {syn.get('guidance_scale', '?')}).")
    parts.append(_standing(rows))
    return f'<p class="summary">{_e(" ".join(p for p in parts if p))}</p>' + "".join(_note(n) for n in notes)


def _sampler_sentence(syn: dict) -> str:
    """How the run's sampler made each image, in the sampler's own words (``SamplerSettings.describe``)."""
    import dataclasses

    from vlcp.errors import VlcpError
    from vlcp.samplers import SAMPLERS

    name = syn.get("sampler", "img2img")
    try:
        cls = SAMPLERS.get(name).Settings
        how = cls(**{f.name: syn[f.name] for f in dataclasses.fields(cls) if f.name in syn}).describe()
    except (VlcpError, TypeError):
        how = f"went through sampler {name!r}"
    start = syn.get("start", "centre")
    if start == "medoid":
        how += ", starting from the real latent nearest the centre (medoid)"
    elif start == "mix":
        how += f", starting from {syn.get('start_mix', '?')} × medoid + the rest × centre"
    return how


def _standing(rows: list[dict]) -> str:
    """The distilled set against the best other method and the whole training set, per IPC, in words."""
    vlcp = [r for r in rows if str(r.get("method", "")).startswith("vlcp") and isinstance(r.get("mean"), (int, float))]
    if not vlcp:
        return "No evaluation of the distilled set yet."
    r = max(vlcp, key=lambda x: (x.get("protocol") == "dc", "[beyond" not in str(x["method"]),
                                 -len(str(x["method"])), x["mean"]))  # the paper's method, not an extension
    key = _setting(r)
    others = [x for x in rows if _setting(x) == key and x is not r and isinstance(x.get("mean"), (int, float))
              and not str(x.get("method", "")).startswith("vlcp")]
    text = f"At IPC {r.get('ipc')} ({r.get('model')}, {r.get('protocol')}) the distilled set scores {r['mean']:.1f} %"
    if others:
        best = max(others, key=lambda x: x["mean"])
        gap = r["mean"] - best["mean"]
        noise = max(float(r.get("std") or 0), float(best.get("std") or 0))
        verdict = "within one std of" if abs(gap) <= noise else ("above" if gap > 0 else "below")
        text += f", {verdict} the best baseline, {best['method']} ({best['mean']:.1f} %)"
    whole = next((x for x in rows if str(x.get("method")) == WHOLE and x.get("model") == r.get("model")
                  and x.get("protocol") == r.get("protocol") and isinstance(x.get("mean"), (int, float))), None)
    if whole:
        text += f"; the whole training set reaches {whole['mean']:.1f} %"
    return text + "."


# ---- settings ------------------------------------------------------------------------------------
def section_settings(run_dir: Path) -> str:
    files = sorted(p for p in run_dir.rglob("*.toml")
                   if not any(part.startswith(".") for part in p.relative_to(run_dir).parts))
    if not files:
        return _section("Settings", _note("No *.toml settings in the run folder."))
    parts = [_note(n) for n in _stage_settings(run_dir)[1]]  # a settings file edited after its stage ran
    for p in files:
        try:
            text = p.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as err:
            text = f"(unreadable: {err})"
        parts.append(f"<details><summary><code>{_e(p.relative_to(run_dir))}</code></summary>"
                     f"<pre>{_e(text)}</pre></details>")
    return _section("Settings", "\n".join(parts))


# ---- the stage -----------------------------------------------------------------------------------
def _page(title: str, subtitle: str, sections: list[str]) -> str:
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>", f"<style>{CSS}</style>", "</head>", "<body>",
        f"<h1>{_e(title)}</h1>", f'<p class="sub">{_e(subtitle)}</p>', *sections, "</body>", "</html>", ""])


def report(run_dir: Path, out: Path | None = None) -> Path:
    """Write the run's HTML report (default ``run_dir/report.html``) and return its path."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise VlcpError(f"{run_dir}: run folder not found")
    from vlcp.run.state import check_record

    check_record(run_dir)  # a run without its record is not described as the default dataset
    out = Path(out) if out is not None else run_dir / "report.html"
    protos, names = section_prototypes(run_dir)
    rows = _result_rows(run_dir)
    sections = [summary(run_dir, rows), section_run(run_dir, rows), section_results(run_dir),
                section_images(run_dir, names), protos, section_settings(run_dir)]
    atomic_write_text(out, _page(f"vlcp report — {run_dir.resolve().name}", str(run_dir.resolve()), sections))
    return out


def compare(run_dirs: list[Path], out: Path) -> Path:
    """One page comparing several runs: every run's results in one table (a column per method, a row per
    run and setting), a chart per setting with a group per run, then each run's Run section."""
    from vlcp.report.chart import method_colours, svg_chart

    runs = [Path(r) for r in run_dirs]
    from vlcp.run.state import check_record

    for r in runs:
        if not r.is_dir():
            raise VlcpError(f"{r}: run folder not found")
        check_record(r)
    names = [r.resolve().name for r in runs]
    rows = [{**row, "run": name} for r, name in zip(runs, names) for row in _result_rows(r)]
    colours = method_colours(method_order(rows)) if rows else {}
    parts = [_note("No results in these runs.")] if not rows else []
    if rows:
        methods = method_order(rows)
        head = "".join(f"<th>{_e(_label(m))}</th>" for m in methods)
        body = []
        for name in names:
            for key in sorted({_setting(r) for r in rows if r["run"] == name}):
                cells = {str(r["method"]): r for r in rows if r["run"] == name and _setting(r) == key}
                tds = "".join(f'<td class="num">{_cell_text(cells[m], 1)}</td>'
                              if m in cells else '<td class="num">—</td>' for m in methods)
                body.append(f"<tr><td>{_e(name)}</td><td>{_e(key[1])}</td><td>{_e(key[2])}</td>"
                            f"<td>{_e(key[3])}</td>{tds}</tr>")
        parts.append(_scroll(f"<table><tr><th>run</th><th>IPC</th><th>model</th><th>protocol</th>{head}</tr>"
                             f"{''.join(body)}</table>"))
        for key in sorted({_setting(r) for r in rows if str(r["method"]) != WHOLE}):  # the whole set: in the table
            series = {m: {names.index(r["run"]): (float(r["mean"]), float(r.get("std") or 0)) for r in rows
                          if str(r["method"]) == m and _setting(r) == key and isinstance(r.get("mean"), (int, float))}
                      for m in methods}
            parts.append(svg_chart(names, {m: v for m, v in series.items() if v}, colours, "bar",
                                   title=f"IPC {key[1]}, {key[2]}, {key[3]}"))
    sections = [_section("Results", "\n".join(parts))]
    sections += [section_run(r).replace("<h2>Run</h2>", f"<h2>Run {_e(n)}</h2>") for r, n in zip(runs, names)]
    atomic_write_text(out, _page("vlcp comparison — " + ", ".join(names), "", sections))
    return out


def _cmd_report(args) -> int:
    runs = list(args.runs or [])
    if len(runs) > 1:
        print(f"report: {compare(runs, args.out or Path('comparison.html'))}")
        return 0
    print(f"report: {report(runs[0] if runs else args.run, args.out)}")
    return 0


def add_parser(subparsers) -> None:
    from vlcp.run.progress import add_progress_flag

    p = subparsers.add_parser("report", help="one self-contained HTML page of a run's results, images and settings; "
                              "several runs: a comparison page")
    p.add_argument("runs", type=Path, nargs="*", metavar="RUN",
                   help="run folder(s); two or more write a comparison page (default: --run)")
    p.add_argument("--run", type=Path, default=Path("runs/latest"), help="run folder (default: runs/latest)")
    p.add_argument("--out", type=Path, default=None,
                   help="HTML file (default: RUN/report.html; for several runs ./comparison.html)")
    add_progress_flag(p)  # the flag family of every stage (the report is one quick step)
    p.set_defaults(func=_cmd_report)
