"""The report stage: one self-contained ``report.html`` from whatever a run folder holds (``compare``: one
page for several runs).

A summary paragraph (``summary``: what the run did, from the settings each stage saved, in each sampler's and
protocol's own words, and where the distilled set stands), then sections (``sections``), each a note when its
artifacts are missing or unreadable:

* run — dataset and subset in words, class count, model, the device the evaluation used next to the
  recorded setting (``settings.toml``), package versions, git commit (``version``), time per stage;
* results — ``eval/results.json`` (and ``results.json`` rows for other cells) read as typed rows
  (``gather``) into the results model's one table (``vlcp.evaluate.results.ResultTable``: the columns, lines,
  whole-set column and notes of results.md), DD-Ranking's scores, inline SVG charts (``chart``) and the
  protocol as run (``results_html``);
* images — per class a grid of ``distilled/<class>/<n>.png`` (click to enlarge, CSS only), then each image
  with its prompt written under it (``metadata.jsonl``) and its cluster's real images, then every
  ``baselines/<method>_ipc<k>/`` per class;
* prototypes — ``prototypes/prototype_report.json`` (the paper's Table 6);
* settings — every ``*.toml`` in the run folder, verbatim.

Images are embedded as base64 PNG; the page (``markup``, its style sheet ``report.css``) has a viewport, wide
tables scroll inside their box, and it loads nothing from anywhere and needs no script. The CLI: ``cli``.
"""
from __future__ import annotations

from pathlib import Path

from vlcp.errors import VlcpError
from vlcp.evaluate.results import FULL_METHOD, ResultRow, ResultTable, method_order
from vlcp.files.atomic import atomic_write_text
import vlcp.report.gather as gather
from vlcp.report.markup import Section, e, note, page, scroll
from vlcp.report.sections import (section_images, section_prototypes, section_results, section_run,
                                  section_settings)
from vlcp.report.summary import summary

__all__ = ["report", "compare"]


def _check_run(run_dir: Path) -> None:
    """A run folder that exists and whose record names its data (``check_record``), else one line."""
    from vlcp.run.state import check_record

    if not run_dir.is_dir():
        raise VlcpError(f"{run_dir}: run folder not found")
    check_record(run_dir)  # a run without its record is not described as the default dataset


def report(run_dir: Path, out: Path | None = None) -> Path:
    """Write the run's HTML report (default ``run_dir/report.html``) and return its path."""
    run_dir = Path(run_dir)
    _check_run(run_dir)
    out = Path(out) if out is not None else run_dir / "report.html"
    protos, names = section_prototypes(run_dir)
    rows = gather.result_rows(run_dir)
    sections = [summary(run_dir, rows), section_run(run_dir, rows), section_results(run_dir, rows),
                section_images(run_dir, names), protos, section_settings(run_dir)]
    atomic_write_text(out, page(f"vlcp report — {run_dir.resolve().name}", str(run_dir.resolve()), sections))
    return out


def _comparison_table(tables: list[tuple[str, ResultTable]], methods: list[str]) -> str:
    """Every run's table in one: a leading run column, then the columns in the results model's order."""
    from vlcp.report.results_html import head_html, lines_html

    body = [line for name, t in tables for line in lines_html(t, first=f"<td>{e(name)}</td>")]
    return scroll(f"<table>{head_html(methods, ('run', 'IPC', 'model', 'protocol'))}{''.join(body)}</table>")


def _comparison_charts(runs: list[tuple[str, list[ResultRow]]], methods: list[str]) -> list[str]:
    """A bar chart per (IPC, model, protocol) with a group per run (the whole set: in the table only)."""
    from vlcp.report.chart import method_colours, svg_chart

    names, colours = [n for n, _ in runs], method_colours(methods)
    every = [(i, r) for i, (_, rs) in enumerate(runs) for r in rs]
    out = []
    for key in sorted({(r.ipc, r.model, r.protocol) for _, r in every if r.method != FULL_METHOD}):
        series = {m: {i: (r.mean, r.std) for i, r in every if r.method == m and (r.ipc, r.model, r.protocol) == key}
                  for m in methods}
        out.append(svg_chart(names, {m: v for m, v in series.items() if v}, colours, "bar",
                             title=f"IPC {key[0]}, {key[1]}, {key[2]}"))
    return out


def compare(run_dirs: list[Path], out: Path) -> Path:
    """One page comparing several runs: every run's results in one table (a column per method, a row per
    run and setting), a chart per setting with a group per run, then each run's Run section."""
    dirs = [Path(r) for r in run_dirs]
    for r in dirs:
        _check_run(r)
    runs = [(r.resolve().name, gather.result_rows(r)) for r in dirs]
    methods = method_order(r.method for _, rs in runs for r in rs)
    if methods:
        tables = [(n, ResultTable.of(rs, methods)) for n, rs in runs if rs]
        parts = [_comparison_table(tables, methods), *_comparison_charts(runs, methods)]
    else:
        parts = [note("No results in these runs.")]
    sections = [Section("Results", "\n".join(parts))]
    sections += [section_run(r, rs, title=f"Run {n}") for r, (n, rs) in zip(dirs, runs)]
    atomic_write_text(out, page("vlcp comparison — " + ", ".join(n for n, _ in runs), "", sections))
    return out
