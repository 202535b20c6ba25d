"""The report stage: one self-contained ``report.html`` from whatever a run folder holds.

Sections, each skipped with a short note when its artifacts are missing or unreadable:

* results — ``eval/results.json`` and ``results.json`` (rows ``{method, ipc, model, protocol, mean, std,
  runs}``, a list or ``{"rows": [...]}``): a table with methods as columns and (IPC, model, protocol) as
  rows, plus a bar chart of mean ± std per method;
* images — ``distilled/<class>/<n>.png`` (prompts from ``distilled/metadata.jsonl`` as tooltips and a
  list), one row per class, beside every ``baselines/<method>_ipc<k>/``;
* prototypes — ``prototypes/prototype_report.json`` (the paper's Table 6);
* settings — every ``*.toml`` in the run folder, verbatim.

Images are embedded as base64 PNG; the page loads nothing from anywhere.
"""
from __future__ import annotations

import base64
import io
import re
from html import escape
from pathlib import Path
from typing import Any, Iterable

from vlcp.errors import VlcpError
from vlcp.io import atomic_write_text, read_json, read_jsonl

__all__ = ["report", "add_parser"]

THUMB = 128  # images with a larger side are downscaled to this before embedding

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
h1 { margin-bottom: 0; } .sub { color: #666; margin-top: .2em; }
table { border-collapse: collapse; margin: .5em 0 1em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; white-space: nowrap; }
.note { color: #888; font-style: italic; }
.grid td { border: none; border-bottom: 1px solid #eee; }
.cell { display: flex; flex-wrap: wrap; gap: 3px; max-width: 40em; }
.cell img { width: 64px; height: 64px; image-rendering: pixelated; border: 1px solid #ddd; }
details { margin: .3em 0; } pre { background: #f7f7f7; padding: .6em; overflow-x: auto; }
small { color: #666; }
"""


# ---- helpers -------------------------------------------------------------------------------------
def _e(x: Any) -> str:
    return escape(str(x), quote=True)


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


def _section(title: str, body: str) -> str:
    return f"<section>\n<h2>{_e(title)}</h2>\n{body}\n</section>"


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


def _img(path: Path, title: str) -> str:
    try:
        uri = _png_uri(_image_bytes(path))
    except OSError:
        return f'<span class="note" title="{_e(path.name)}">unreadable</span>'
    return f'<img src="{uri}" alt="{_e(title)}" title="{_e(title)}">'


def _natural(s: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


# ---- results -------------------------------------------------------------------------------------
def load_results(path: Path) -> list[dict]:
    """The rows of a results file: a list of rows, or ``{"rows": [...]}``."""
    data = read_json(path)
    rows = data.get("rows") if isinstance(data, dict) else data
    if not isinstance(rows, list) or not all(isinstance(r, dict) and "method" in r for r in rows):
        raise VlcpError(f"{path}: expected a list of rows with 'method' (or {{\"rows\": [...]}})")
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


def results_table(rows: list[dict]) -> str:
    """Methods as columns, (IPC, model, protocol) as rows; cells ``mean ± std`` with N."""
    methods = list(dict.fromkeys(str(r["method"]) for r in rows))
    means = [r.get("mean") for r in rows if isinstance(r.get("mean"), (int, float))]
    digits = 1 if means and max(abs(m) for m in means) > 1 else 3  # percent or fraction
    cells: dict[tuple, dict[str, dict]] = {}
    for r in rows:
        cells.setdefault(_setting(r), {})[str(r["method"])] = r
    head = "".join(f"<th>{_e(m)}</th>" for m in methods)
    out = ["<table>", f"<tr><th>IPC</th><th>model</th><th>protocol</th>{head}</tr>"]
    for key in sorted(cells):
        tds = []
        for m in methods:
            r = cells[key].get(m)
            if r is None:
                tds.append('<td class="num">—</td>')
                continue
            text = _fmt(r.get("mean"), digits)
            if isinstance(r.get("std"), (int, float)):
                text += f" ± {_fmt(r['std'], digits)}"
            n = _runs(r)
            text += f" <small>(N={n})</small>" if n is not None else ""
            tds.append(f'<td class="num">{text}</td>')
        out.append(f"<tr><td>{_e(key[1])}</td><td>{_e(key[2])}</td><td>{_e(key[3])}</td>{''.join(tds)}</tr>")
    out.append("</table>")
    return "\n".join(out)


def results_chart(rows: list[dict]) -> bytes:
    """Grouped bar chart (PNG): one group per (IPC, model, protocol), one bar per method, std as error bar."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = [r for r in rows if isinstance(r.get("mean"), (int, float))]
    methods = list(dict.fromkeys(str(r["method"]) for r in rows))
    settings = sorted({_setting(r) for r in rows})
    width = 0.8 / max(len(methods), 1)
    fig = Figure(figsize=(max(4.0, 1.2 + 0.6 * len(settings) * len(methods)), 3.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for j, m in enumerate(methods):
        by = {_setting(r): r for r in rows if str(r["method"]) == m}
        xs = [i + (j - (len(methods) - 1) / 2) * width for i, s in enumerate(settings) if s in by]
        ys = [by[s]["mean"] for s in settings if s in by]
        es = [by[s].get("std") if isinstance(by[s].get("std"), (int, float)) else 0 for s in settings if s in by]
        ax.bar(xs, ys, width, yerr=es, capsize=3, label=m)
    ax.set_xticks(range(len(settings)))
    ax.set_xticklabels([f"IPC {s[1]}\n{s[2]} {s[3]}".strip() for s in settings], fontsize=8)
    ax.set_ylabel("mean ± std")
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def section_results(run_dir: Path) -> str:
    files = [p for p in (run_dir / "eval" / "results.json", run_dir / "results.json") if p.exists()]
    if not files:
        return _section("Results", _note("No results (eval/results.json or results.json)."))
    parts = []
    for path in files:
        parts.append(f"<h3>{_e(path.relative_to(run_dir))}</h3>")
        try:
            rows = load_results(path)
        except VlcpError as err:
            parts.append(_note(f"Unreadable: {err}"))
            continue
        if not rows:
            parts.append(_note("No rows."))
            continue
        parts.append(results_table(rows))
        try:
            parts.append(f'<img src="{_png_uri(results_chart(rows))}" alt="mean ± std per method">')
        except Exception as err:  # a chart is a nicety; never lose the report over it
            parts.append(_note(f"No chart: {err}"))
    return _section("Results", "\n".join(parts))


# ---- images --------------------------------------------------------------------------------------
def _class_images(folder: Path) -> dict[str, list[Path]]:
    """``folder/<class>/<n>.png`` → {class: [paths in numeric order]} (folders without PNGs skipped)."""
    out = {}
    if folder.is_dir():
        for d in sorted(folder.iterdir(), key=lambda p: _natural(p.name)):
            pngs = sorted(d.glob("*.png"), key=lambda p: _natural(p.name)) if d.is_dir() else []
            if pngs:
                out[d.name] = pngs
    return out


def _manifest(distilled: Path) -> tuple[dict[str, dict], str]:
    """{file_name: record} from ``metadata.jsonl`` (``manifest.jsonl`` in older runs) and a note when it is
    missing or unreadable."""
    path = distilled / "metadata.jsonl"
    if not path.exists() and (distilled / "manifest.jsonl").exists():
        path = distilled / "manifest.jsonl"
    if not path.exists():
        return {}, "No metadata.jsonl: prompts unknown."
    try:
        return {str(r.get("file_name")): r for r in read_jsonl(path) if isinstance(r, dict)}, ""
    except VlcpError as err:
        return {}, f"Unreadable manifest: {err}"


def _tooltip(rec: dict | None, name: str) -> str:
    if not rec:
        return name
    extra = ", ".join(f"{k}={rec[k]}" for k in ("seed", "strength", "guidance_scale") if k in rec)
    return f"{rec.get('prompt', '')}\n({name}{', ' + extra if extra else ''})"


def section_images(run_dir: Path, class_names: dict[str, str] | None = None) -> str:
    distilled = run_dir / "distilled"
    sets = {"distilled": _class_images(distilled)}
    if (run_dir / "baselines").is_dir():
        for folder in sorted((run_dir / "baselines").iterdir(), key=lambda p: _natural(p.name)):
            sets[folder.name] = _class_images(folder)
    sets = {k: v for k, v in sets.items() if v}
    if not sets:
        return _section("Images", _note("No images (distilled/, baselines/<method>_ipc<k>/)."))
    records, note = _manifest(distilled) if "distilled" in sets else ({}, "No distilled images.")
    order = list(dict.fromkeys(str(r.get("class")) for r in records.values() if r.get("class") is not None))
    classes = [c for c in order if any(c in v for v in sets.values())]
    classes += sorted({c for v in sets.values() for c in v} - set(classes), key=_natural)
    names = class_names or {}
    out = [_note(note) if note else "", '<table class="grid">',
           "<tr><th>class</th>" + "".join(f"<th>{_e(k)}</th>" for k in sets) + "</tr>"]
    for c in classes:
        label = _e(names.get(c, c)) + (f"<br><small>{_e(c)}</small>" if names.get(c, c) != c else "")
        tds = []
        for kind, images in sets.items():
            imgs = []
            for p in images.get(c, []):
                rel = f"{c}/{p.name}"
                imgs.append(_img(p, _tooltip(records.get(rel), rel) if kind == "distilled" else rel))
            tds.append(f'<td><div class="cell">{"".join(imgs)}</div></td>')
        out.append(f"<tr><th>{label}</th>{''.join(tds)}</tr>")
        prompts = [(p.name, records[f"{c}/{p.name}"].get("prompt", "")) for p in sets.get("distilled", {}).get(c, [])
                   if f"{c}/{p.name}" in records]
        if prompts:
            items = "".join(f"<li><code>{_e(n)}</code> {_e(t)}</li>" for n, t in prompts)
            out.append(f'<tr><td></td><td colspan="{len(sets)}"><details><summary>prompts ({len(prompts)})'
                       f"</summary><ul>{items}</ul></details></td></tr>")
    out.append("</table>")
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
        out += ["<table>", f"<tr>{head}{'<th>prompt</th>' if show_prompt else ''}</tr>"]
        for r in rows:
            tds = (f"<td>{_e(r.get('cluster', ''))}</td><td class=\"num\">{_e(r.get('size', ''))}</td>"
                   f"<td>{_e(_keywords(r.get('keywords')))}</td><td>{_e(r.get('text', ''))}</td>")
            if show_prompt:
                tds += f"<td>{_e(r.get('prompt', ''))}</td>"
            out.append(f"<tr>{tds}</tr>")
        out.append("</table>")
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


# ---- settings ------------------------------------------------------------------------------------
def section_settings(run_dir: Path) -> str:
    files = sorted(p for p in run_dir.rglob("*.toml")
                   if not any(part.startswith(".") for part in p.relative_to(run_dir).parts))
    if not files:
        return _section("Settings", _note("No *.toml settings in the run folder."))
    parts = []
    for p in files:
        try:
            text = p.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as err:
            text = f"(unreadable: {err})"
        parts.append(f"<details><summary><code>{_e(p.relative_to(run_dir))}</code></summary>"
                     f"<pre>{_e(text)}</pre></details>")
    return _section("Settings", "\n".join(parts))


# ---- the stage -----------------------------------------------------------------------------------
def report(run_dir: Path, out: Path | None = None) -> Path:
    """Write the run's HTML report (default ``run_dir/report.html``) and return its path."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise VlcpError(f"{run_dir}: run folder not found")
    out = Path(out) if out is not None else run_dir / "report.html"
    protos, names = section_prototypes(run_dir)
    sections = [section_results(run_dir), section_images(run_dir, names), protos, section_settings(run_dir)]
    title = f"vlcp report — {run_dir.resolve().name}"
    page = "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f"<title>{_e(title)}</title>", f"<style>{CSS}</style>", "</head>", "<body>",
        f"<h1>{_e(title)}</h1>", f'<p class="sub">{_e(run_dir.resolve())}</p>',
        *sections, "</body>", "</html>", ""])
    atomic_write_text(out, page)
    return out


def _cmd_report(args) -> int:
    print(f"report: {report(args.run, args.out)}")
    return 0


def add_parser(subparsers) -> None:
    from vlcp.progress import add_progress_flag

    p = subparsers.add_parser("report", help="one self-contained HTML page of a run's results, images and settings")
    p.add_argument("--run", type=Path, default=Path("runs/latest"), help="run folder (default: runs/latest)")
    p.add_argument("--out", type=Path, default=None, help="HTML file (default: RUN/report.html)")
    add_progress_flag(p)  # the flag family of every stage (the report is one quick step)
    p.set_defaults(func=_cmd_report)
