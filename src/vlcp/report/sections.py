"""The report's sections, each a titled fragment (``markup.Section``) from what the gathering read, a short
note in place of what is missing or unreadable: run, results, images, prototypes (Table 6), settings."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from vlcp.errors import VlcpError
from vlcp.evaluate.results import ResultRow, ResultTable
import vlcp.report.gather as gather
from vlcp.report.markup import Section, e, img, natural_key, note, scroll
from vlcp.report.version import git_commit, versions


def section_run(run_dir: Path, rows: list[ResultRow], title: str = "Run") -> Section:
    """Dataset, subset, class count, model, device used, package versions, git commit and stage times."""
    from vlcp.run.state import read_settings

    run = read_settings(run_dir)["run"]
    items = {"dataset": gather.data_description(run_dir, rows), "classes": gather.class_count(run_dir),
             "model": run.get("model", "—"), "device": gather.device_used(run_dir, rows),
             "versions": ", ".join(f"{k} {v}" for k, v in versions().items()),
             "git commit": git_commit(), "time per stage": gather.durations(run_dir) or "—",
             "stage outputs written": gather.stage_written(run_dir) or "—"}
    body = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in items.items())
    return Section(title, f'<dl class="run">{body}</dl>')


def section_results(run_dir: Path, rows: list[ResultRow]) -> Section:
    """The results model's table (``ResultTable``, as results.md), scores, charts and the protocol as run."""
    from vlcp.report.results_html import results_body

    if not rows:
        return Section("Results", note("No results (eval/results.json or results.json)."))
    return Section("Results", results_body(ResultTable.of(rows), gather.data_description(run_dir, rows)))


# ---- images --------------------------------------------------------------------------------------
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
        tiles = "".join(img(p, (records.get(f"{c}/{p.name}") or {}).get("prompt", f"{c}/{p.name}"), zoom=True)
                        for p in distilled.get(c, []))
        if tiles:
            figs.append(f'<figure><figcaption>{e(names.get(c, c))}</figcaption><div class="tiles">{tiles}</div>'
                        "</figure>")
    if not figs:
        return ""
    return ('<p>The distilled set, one grid per class (click an image to enlarge it; its prompt and its cluster\'s '
            f'real images follow below).</p><div class="classgrid">{"".join(figs)}</div>')


def _distilled_figures(c: str, paths: list[Path], records: dict[str, dict], members: dict) -> str:
    """Each distilled image of class ``c`` with its prompt under it and its cluster's real images."""
    figs = []
    for p in paths:
        rec = records.get(f"{c}/{p.name}") or {}
        figs.append(f'<figure class="distilled">{img(p, f"{c}/{p.name}", zoom=True)}<figcaption>'
                    f'<span class="prompt">{e(rec.get("prompt", "(prompt unknown)"))}</span> '
                    f'<small>{e(p.name)}{", seed " + e(rec["seed"]) if "seed" in rec else ""}</small>'
                    f"</figcaption>{_members(members.get((c, int(rec.get('prototype', -1))), []))}</figure>")
    return f'<div class="imgs">{"".join(figs)}</div>' if figs else ""


def _baseline_rows(c: str, sets: dict[str, dict[str, list[Path]]]) -> str:
    """Class ``c``'s images of every baseline folder, one table row each ('' when none has the class)."""
    rows = [f"<tr><th>{e(kind)}</th><td><div class=\"cell\">"
            f"{''.join(img(p, f'{kind}: {c}/{p.name}') for p in images[c])}</div></td></tr>"
            for kind, images in sets.items() if kind != "distilled" and c in images]
    return scroll(f'<table class="grid">{"".join(rows)}</table>') if rows else ""


def _class_order(records: dict[str, dict], sets: dict[str, dict[str, list[Path]]]) -> list[str]:
    """The classes in the synthesize records' order, then any others by natural order."""
    order = list(dict.fromkeys(str(r.get("class")) for r in records.values() if r.get("class") is not None))
    classes = [c for c in order if any(c in v for v in sets.values())]
    return classes + sorted({c for v in sets.values() for c in v} - set(classes), key=natural_key)


def section_images(run_dir: Path, class_names: dict[str, str] | None = None) -> Section:
    """The class grid, then per class its distilled images with prompts and cluster members, then baselines."""
    sets = gather.image_sets(run_dir)
    if not sets:
        return Section("Images", note("No images (distilled/, baselines/<method>_ipc<k>/)."))
    records, records_note = gather.manifest(run_dir / "distilled") if "distilled" in sets else (
        {}, "No distilled images.")
    classes, names = _class_order(records, sets), class_names or {}
    members, members_note = gather.cluster_members(run_dir)
    out = [note(records_note) if records_note else "", note(members_note) if members_note else "",
           _class_grid(classes, sets.get("distilled", {}), records, names)]
    for c in classes:
        out.append(f"<h3>{e(names.get(c, c))}" + (f" <small>{e(c)}</small>" if names.get(c, c) != c else "")
                   + "</h3>")
        out += [_distilled_figures(c, sets.get("distilled", {}).get(c, []), records, members),
                _baseline_rows(c, sets)]
    return Section("Images", "\n".join(o for o in out if o))


# ---- prototype report ----------------------------------------------------------------------------
def _words(x: Any) -> str:
    if isinstance(x, str):
        return x
    return " ".join(str(w) for w in x) if isinstance(x, Iterable) else ""


def _keywords(x: Any) -> str:
    items = x.items() if isinstance(x, dict) else (x or [])
    return ", ".join(f"{kw[0]}: {kw[1]}" if isinstance(kw, (list, tuple)) and len(kw) == 2 else str(kw)
                     for kw in items)


def _cluster_table(rows: list[dict]) -> list[str]:
    """One class's clusters: size, keywords, chosen text (and the prompt when it differs from the text)."""
    show_prompt = any(r.get("prompt") not in (None, r.get("text")) for r in rows)
    head = "<th>cluster</th><th>size</th><th>feature keywords (count)</th><th>chosen text</th>"
    out = ['<div class="scroll"><table>', f"<tr>{head}{'<th>prompt</th>' if show_prompt else ''}</tr>"]
    for r in rows:
        tds = (f"<td>{e(r.get('cluster', ''))}</td><td class=\"num\">{e(r.get('size', ''))}</td>"
               f"<td>{e(_keywords(r.get('keywords')))}</td><td>{e(r.get('text', ''))}</td>")
        if show_prompt:
            tds += f"<td>{e(r.get('prompt', ''))}</td>"
        out.append(f"<tr>{tds}</tr>")
    return out + ["</table></div>"]


def prototype_tables(classes: dict[str, dict]) -> str:
    """Per class: its name, counts, non-representative words and its clusters' table."""
    out = []
    for cid, c in classes.items():
        rows = [r for r in c.get("clusters", []) if isinstance(r, dict)]
        name = c.get("class_name", cid)
        counts = ", ".join(f"{k} = {c[k]}" for k in ("n", "n_outliers", "n_inliers", "k") if k in c)
        nonrep = _words(c.get("nonrepresentative") or (rows[0].get("nonrepresentative") if rows else "") or "")
        out.append(f"<h3>{e(name)}" + (f" <small>{e(cid)}</small>" if name != cid else "") + "</h3>")
        if counts:
            out.append(f"<p><small>{e(counts)}</small></p>")
        out.append(f"<p>Non-representative words: {e(nonrep) or '—'}</p>")
        out += _cluster_table(rows)
    return "\n".join(out)


def section_prototypes(run_dir: Path) -> tuple[Section, dict[str, str]]:
    """The section and {class_id: class_name} (for labelling the image grid)."""
    path = run_dir / "prototypes" / "prototype_report.json"
    title = "Prototypes (Table 6)"
    if not path.exists():
        return Section(title, note("No prototypes/prototype_report.json.")), {}
    try:
        classes, strategy = gather.load_prototype_report(path)
        body = prototype_tables(classes)
    except (VlcpError, TypeError, AttributeError, ValueError) as err:
        return Section(title, note(f"Unreadable {path.name}: {err}")), {}
    if strategy:
        body = f"<p>Text strategy: <code>{e(strategy)}</code></p>\n" + body
    names = {cid: str(c["class_name"]) for cid, c in classes.items() if c.get("class_name")}
    return Section(title, body), names


# ---- settings ------------------------------------------------------------------------------------
def section_settings(run_dir: Path) -> Section:
    """Every ``*.toml`` of the run folder verbatim (hidden folders skipped), after any fingerprint notes."""
    files = sorted(p for p in run_dir.rglob("*.toml")
                   if not any(part.startswith(".") for part in p.relative_to(run_dir).parts))
    if not files:
        return Section("Settings", note("No *.toml settings in the run folder."))
    parts = [note(n) for n in gather.stage_settings(run_dir)[1]]  # a settings file edited after its stage ran
    for p in files:
        try:
            text = p.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as err:
            text = f"(unreadable: {err})"
        parts.append(f"<details><summary><code>{e(p.relative_to(run_dir))}</code></summary>"
                     f"<pre>{e(text)}</pre></details>")
    return Section("Settings", "\n".join(parts))
