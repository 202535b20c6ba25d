"""The report's results: the results model's one table (``vlcp.evaluate.results.ResultTable``, the same
columns, lines, whole-set column, within-one-std marks and notes as results.md) as HTML, DD-Ranking's scores,
the charts and the protocol as run."""
from __future__ import annotations

from typing import Sequence

from vlcp.errors import VlcpError
from vlcp.evaluate.results import FULL_METHOD, ResultRow, ResultTable, spread_text
from vlcp.report.markup import e, note, scroll

LABELS = {FULL_METHOD: "whole training set"}


def label(method: str) -> str:
    """A method's column heading (the whole set in words)."""
    return LABELS.get(method, method)


def cell_html(r: ResultRow | None) -> str:
    """``mean ± std <small>(N=n)</small>`` (no ± for one network), with the best-epoch number when recorded."""
    if r is None:
        return '<td class="num">—</td>'
    text = e(spread_text(r.mean, r.std, r.runs))
    if r.best_accuracies:
        text += f"; best† {e(spread_text(r.best_mean, r.best_std, r.runs))}"
    return f'<td class="num">{text} <small>(N={r.runs})</small></td>'


def head_html(methods: Sequence[str], keys: Sequence[str] = ("IPC", "model", "protocol")) -> str:
    """A table's heading row: the group columns, then a column per method (a ``ResultTable``'s order)."""
    return "<tr>" + "".join(f"<th>{k}</th>" for k in keys) + "".join(
        f"<th>{e(label(m))}</th>" for m in methods) + "</tr>"


def lines_html(table: ResultTable, first: str = "") -> list[str]:
    """One ``<tr>`` per table line (``first``: a leading cell, e.g. the run's name on the comparison page)."""
    out = []
    for line in table.lines:
        keys = "".join(f'<td class="key">{e(k)}</td>' for k in (line.ipc, line.model, line.protocol))
        out.append(f"<tr>{first}{keys}{''.join(cell_html(line.cells.get(m)) for m in table.methods)}</tr>")
    return out


def notes_html(table: ResultTable) -> str:
    """The table's notes (the same sentences as results.md's) as a list ('' when none)."""
    notes = table.notes()
    return '<ul class="notes">' + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul>" if notes else ""


def results_table(table: ResultTable) -> str:
    """The table as HTML: methods as columns, a line per (IPC, model, protocol), then its notes."""
    rows = "\n".join(lines_html(table))
    return scroll(f'<table class="results">\n{head_html(table.methods)}\n{rows}\n</table>') + notes_html(table)


def _series(rows: list[ResultRow], methods: Sequence[str], groups: list) -> dict[str, dict[int, tuple[float, float]]]:
    """{method: {group index: (mean, std)}} of the rows whose IPC is in ``groups``, methods in column order."""
    out = {m: {groups.index(r.ipc): (r.mean, r.std) for r in rows if r.method == m} for m in methods}
    return {m: v for m, v in out.items() if v}


def results_charts(table: ResultTable, colours: dict[str, str]) -> list[str]:
    """One bar chart per (model, protocol) with a group per IPC (the whole training set as a dashed line);
    plus accuracy against IPC (lines) when there are several IPCs."""
    from vlcp.report.chart import svg_chart

    out = []
    for model, protocol in dict.fromkeys((r.model, r.protocol) for r in table.rows):
        sub = [r for r in table.rows if (r.model, r.protocol) == (model, protocol) and r.method != FULL_METHOD]
        if not sub:
            continue
        ipcs = sorted({r.ipc for r in sub})
        series = _series(sub, [m for m in table.methods if m in colours], ipcs)
        groups = [f"IPC {k}" for k in ipcs]
        whole = table.full.get((model, protocol))
        ref = (label(FULL_METHOD), whole.mean) if whole else None
        out.append(svg_chart(groups, series, colours, "bar", title=f"{model}, {protocol}", reference=ref))
        if len(ipcs) > 1:
            out.append(svg_chart(groups, series, colours, "line", title=f"accuracy against IPC — {model}, {protocol}",
                                 reference=ref))
    return out


def _epochs_text(r: ResultRow) -> str:
    """The row's epochs, and 'of N (shortened)' when below its protocol's default (the whole set: its recipe)."""
    from vlcp.evaluate.protocols import PROTOCOLS

    epochs, k = r.settings.get("epochs"), r.settings.get("num_classes")
    if epochs is None:
        return "—"
    full = None
    if r.protocol in PROTOCOLS and isinstance(k, int):
        full = PROTOCOLS.get(r.protocol).for_method(r.method).default_epochs(r.ipc, k)
    return f"{epochs} of {full} (shortened)" if full and epochs < full else str(epochs)


def protocol_table(rows: Sequence[ResultRow]) -> str:
    """The protocol as it ran, per (IPC, model, protocol): epochs (and whether shortened), batch, seeds, ..."""
    lines = []
    for key in sorted({(r.ipc, r.model, r.protocol) for r in rows}):
        r = next(x for x in rows if (x.ipc, x.model, x.protocol) == key)
        s = r.settings
        lines.append("<tr>" + "".join(f"<td>{e(v)}</td>" for v in (
            r.ipc, r.model, r.protocol, _epochs_text(r), s.get("batch_size", "—"), s.get("optimizer", "—"),
            s.get("num_classes", "—"), s.get("test_images", "—"), ", ".join(map(str, s.get("seeds", []))) or "—",
            s.get("device", "—"))) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ("IPC", "model", "protocol", "epochs", "batch", "optimizer", "classes",
                                              "test images", "seeds", "device"))
    return scroll(f"<table><tr>{head}</tr>{''.join(lines)}</table>")


def protocol_descriptions(rows: Sequence[ResultRow]) -> str:
    """Each protocol of the rows in its own words (``Protocol.description``), as a list ('' when none has one)."""
    from vlcp.evaluate.protocols import PROTOCOLS

    items = [(p, PROTOCOLS.get(p).description) for p in dict.fromkeys(r.protocol for r in rows) if p in PROTOCOLS]
    items = [(p, d) for p, d in items if d]
    return "<ul>" + "".join(f"<li><code>{e(p)}</code>: {e(d)}.</li>" for p, d in items) + "</ul>" if items else ""


def scores_section(rows: Sequence[ResultRow]) -> str:
    """DD-Ranking's scores beside accuracy (the same numbers as results.md: ``vlcp.evaluate.scores``), a sentence
    on each, and one line per refused score; '' when the rows hold no distilled set."""
    from vlcp.evaluate.scores import SCORE_MEANINGS, SCORE_NAMES, score_rows

    try:
        scored, refused = score_rows(list(rows))
    except VlcpError as err:
        return note(f"DD-Ranking scores not computed: {err}")
    if not scored and not refused:
        return ""
    out = ["<h3>DD-Ranking scores</h3>", "<p>Scores of Li et al. (2025), computed on accuracies as fractions and "
           "shown ×100, each from rows of the same protocol, network and IPC.</p>"]
    if scored:
        head = "".join(f"<th>{n}</th>" for n in SCORE_NAMES)
        body = [f'<tr><td class="key">{s.ipc}</td><td class="key">{e(s.model)}</td><td class="key">{e(s.protocol)}'
                f'</td><td>{e(label(s.method))}</td><td class="num">{s.accuracy:.1f}</td>'
                + "".join(f'<td class="num">{e(s.scores[n].text() if n in s.scores else "—")}</td>' for n in SCORE_NAMES)
                + "</tr>" for s in scored]
        out.append(scroll(f'<table class="scores"><tr><th>IPC</th><th>model</th><th>protocol</th><th>method</th>'
                          f"<th>accuracy</th>{head}</tr>{''.join(body)}</table>"))
    out.append("<ul>" + "".join(f"<li><b>{n}</b>: {e(m)}.</li>" for n, m in SCORE_MEANINGS.items()) + "</ul>")
    out += [note(n) for n in refused]
    return "\n".join(out)


def results_body(table: ResultTable, data: str) -> str:
    """The Results section's body: the test set in words, the table, scores, charts and the protocol as run."""
    from vlcp.report.chart import method_colours

    colours = method_colours(table.methods)
    parts = [f"<p>Test accuracy (%) on the real test images of: {e(data)}.</p>", results_table(table),
             scores_section(table.rows), *results_charts(table, colours), "<h3>Protocol as run</h3>",
             protocol_descriptions(table.rows), protocol_table(table.rows)]
    return "\n".join(p for p in parts if p)
