"""Result rows and tables: results.json (rows + settings), results.csv, results.md (Table-1 shaped).

Accuracies are top-1 test accuracies in percent. A row's ``mean`` ± ``std`` is over its ``runs``
networks (population std, ``numpy.std`` as the DC code reports). Rows for the same method, IPC,
network and protocol from several distillation seeds pool their runs (``merge_rows``) — only when
they were trained alike and, for soft-label protocols, with the same teacher (its weights' digest):
a row with a teacher records it and the teacher's own test accuracy (``teacher_accuracy``).
"""
from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from vlcp.errors import VlcpError
from vlcp.evaluate.scores import spread_text
from vlcp.files.atomic import atomic_write_json, atomic_write_text, read_json

KEY_FIELDS = ("method", "ipc", "model", "protocol")
CANONICAL_ORDER = ("random", "herding", "kcenter", "kmeans")
FULL_METHOD = "full"
# settings that must agree before runs of two rows may be pooled
POOL_SETTINGS = ("epochs", "batch_size", "resolution", "norm", "dc_augment", "amp")


@dataclass
class ResultRow:
    """One table cell: a method at an IPC, scored with a network under a protocol over ``runs`` networks."""

    method: str
    ipc: int
    model: str
    protocol: str
    mean: float
    std: float
    runs: int
    accuracies: list[float] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    best_accuracies: list[float] | None = None  # best test accuracy during training (selected on the test set)

    @classmethod
    def from_accuracies(cls, method: str, ipc: int, model: str, protocol: str, accuracies: Sequence[float],
                        settings: dict | None = None, best_accuracies: Sequence[float] | None = None) -> "ResultRow":
        acc = [float(a) for a in accuracies]
        if not acc:
            raise VlcpError(f"{method}: no runs to summarise")
        return cls(method, int(ipc), model, protocol, float(np.mean(acc)), float(np.std(acc)), len(acc), acc,
                   dict(settings or {}), None if best_accuracies is None else [float(b) for b in best_accuracies])

    @property
    def key(self) -> tuple:
        return (self.method, self.ipc, self.model, self.protocol)

    @property
    def teacher(self) -> dict | None:
        """The soft-label teacher the row was scored with (source, digest, accuracy), if any."""
        t = self.settings.get("teacher")
        return t if isinstance(t, dict) else None

    @property
    def teacher_accuracy(self) -> float | None:
        """The teacher's own top-1 test accuracy (%), if the row has a teacher."""
        t = self.teacher
        return None if t is None or t.get("accuracy") is None else float(t["accuracy"])

    @property
    def best_mean(self) -> float | None:
        return None if not self.best_accuracies else float(np.mean(self.best_accuracies))

    @property
    def best_std(self) -> float | None:
        return None if not self.best_accuracies else float(np.std(self.best_accuracies))

    def to_dict(self) -> dict:
        """The JSON row: method, ipc, model, protocol, mean, std, runs, then accuracies and settings."""
        d = {"method": self.method, "ipc": self.ipc, "model": self.model, "protocol": self.protocol,
             "mean": round(self.mean, 4), "std": round(self.std, 4), "runs": self.runs,
             "accuracies": [round(a, 4) for a in self.accuracies]}
        if self.teacher_accuracy is not None:
            d["teacher_accuracy"] = self.teacher_accuracy
        if self.best_accuracies:
            d["best_mean"] = round(self.best_mean, 4)
            d["best_std"] = round(self.best_std, 4)
            d["best_accuracies"] = [round(a, 4) for a in self.best_accuracies]
            d["best_note"] = "best test accuracy over training: selected on the test set (as the Minimax code reports)"
        d["settings"] = self.settings
        return d

    @classmethod
    def from_dict(cls, d: dict, source: str = "results") -> "ResultRow":
        try:
            acc = d.get("accuracies") or []
            row = cls(str(d["method"]), int(d["ipc"]), str(d["model"]), str(d["protocol"]), float(d["mean"]),
                      float(d["std"]), int(d["runs"]), [float(a) for a in acc], dict(d.get("settings") or {}),
                      [float(b) for b in d["best_accuracies"]] if d.get("best_accuracies") else None)
        except (KeyError, TypeError, ValueError) as e:
            raise VlcpError(f"{source}: malformed result row ({e!s})") from None
        if row.accuracies and len(row.accuracies) != row.runs:
            raise VlcpError(f"{source}: row {row.key} lists {len(row.accuracies)} accuracies for {row.runs} runs")
        return row


def uneven_note(row: ResultRow) -> str:
    """The table's warning for a distilled set whose classes hold different numbers of images."""
    counts = row.settings["class_counts"]
    return (f"warning: {row.method} at IPC {row.ipc} is uneven: {', '.join(map(str, counts))} images per class "
            f"(IPC is the largest count; an image is missing or extra in {row.settings.get('source', 'the folder')}).")


def teacher_label(teacher: dict | None) -> str:
    """A teacher in one phrase: its source and weights digest (``none`` without a teacher)."""
    if not teacher:
        return "none"
    source = teacher.get("source") or teacher.get("description") or teacher.get("cached") or "unknown source"
    return f"{source} [weights {teacher.get('digest', 'unknown')}]"


def _check_same_teacher(key: tuple, a: ResultRow, b: ResultRow) -> None:
    """Refuse to pool rows scored with different teachers (soft labels, and so accuracy, depend on it)."""
    ta, tb = a.teacher, b.teacher
    if ta is None and tb is None:
        return
    if ta is None or tb is None or ta.get("digest") is None or ta.get("digest") != tb.get("digest"):
        raise VlcpError(f"cannot pool {key}: the rows were scored with different teachers ({teacher_label(ta)} vs "
                        f"{teacher_label(tb)}); soft-label accuracy depends on the teacher — score every set with "
                        "the same --teacher")


def merge_rows(rows: Iterable[ResultRow]) -> list[ResultRow]:
    """Pool rows with the same (method, ipc, model, protocol): all their runs, mean ± std recomputed.
    Rows trained with different settings (``POOL_SETTINGS``) or different teachers are refused."""
    groups: dict[tuple, list[ResultRow]] = {}
    for r in rows:
        groups.setdefault(r.key, []).append(r)
    out = []
    for key, group in groups.items():
        if len(group) == 1:
            out.append(group[0])
            continue
        first = group[0]
        for other in group[1:]:
            for s in POOL_SETTINGS:
                a, b = first.settings.get(s), other.settings.get(s)
                if a is not None and b is not None and a != b:
                    raise VlcpError(f"cannot pool {key}: setting {s!r} differs ({a!r} vs {b!r})")
            _check_same_teacher(key, first, other)
            if not other.accuracies:
                raise VlcpError(f"cannot pool {key}: a row has no per-run accuracies")
        acc = [a for r in group for a in r.accuracies]
        bests = [r.best_accuracies for r in group]
        best = [b for bs in bests for b in bs] if all(bests) else None
        settings = dict(first.settings)
        settings["pooled_from"] = [r.settings.get("source", "?") for r in group]
        settings["seeds"] = [s for r in group for s in r.settings.get("seeds", [])]
        if all("runs_detail" in r.settings for r in group):
            settings["runs_detail"] = [d for r in group for d in r.settings["runs_detail"]]
        out.append(ResultRow.from_accuracies(*key, acc, settings, best))
    return out


def read_results(path: str | Path) -> list[ResultRow]:
    data = read_json(path)
    rows = data.get("rows") if isinstance(data, dict) else data
    if not isinstance(rows, list):
        raise VlcpError(f"{path}: no 'rows' list (not a vlcp results.json)")
    if not all(isinstance(r, dict) for r in rows):
        raise VlcpError(f"{path}: 'rows' must be a list of result objects (not a vlcp results.json)")
    return [ResultRow.from_dict(r, str(path)) for r in rows]


def merge_results(paths: Sequence[str | Path]) -> list[ResultRow]:
    """Merge several results.json files (e.g. several distillation seeds) into pooled rows."""
    seen, rows = set(), []
    for p in paths:
        real = Path(p).resolve()
        if real in seen:
            continue
        seen.add(real)
        for r in read_results(p):
            r.settings.setdefault("source", str(p))
            rows.append(r)
    return merge_rows(rows)


# ---- rendering -------------------------------------------------------------------------------


def method_order(methods: Iterable[str]) -> list[str]:
    """The one column order of every results table (results.md, report.html, its charts and the comparison
    page): the canonical baselines (``CANONICAL_ORDER``: random, herding, kcenter, kmeans) first, the other
    methods by name, the whole training set (``full``) last."""
    ms = set(methods)
    first = [m for m in CANONICAL_ORDER if m in ms]
    last = [FULL_METHOD] if FULL_METHOD in ms else []
    middle = sorted(ms - set(first) - set(last))
    return first + middle + last


def _cell(r: ResultRow, common_runs: int) -> str:
    s = spread_text(r.mean, r.std, r.runs)
    if r.runs != common_runs:
        s += f" (n={r.runs})"
    if r.best_accuracies:
        s += f"; best† {spread_text(r.best_mean, r.best_std, r.runs)}"
    return s


def within_one_std(cells: dict[str, tuple[float, float]]) -> tuple[str, list[str]] | None:
    """(best method, the others within one std of it) among {method: (mean, std)}; None when no other
    method is that close. Close means |difference| ≤ the larger of the two stds (one network: no std, only
    ties count)."""
    if len(cells) < 2:
        return None
    best = max(cells, key=lambda m: cells[m][0])
    bm, bs = cells[best]
    close = [m for m, (mean, std) in cells.items() if m != best and bm - mean <= max(bs, std)]
    return (best, close) if close else None


def _subset_note(rows: Sequence[ResultRow]) -> str | None:
    """Which classes the test set covers when it is not all of the dataset's (``dataset_classes``)."""
    for r in rows:
        n, total = r.settings.get("num_classes"), r.settings.get("dataset_classes")
        if isinstance(n, int) and isinstance(total, int) and n < total:
            test = r.settings.get("test_images")
            imgs = f" ({test:,} test images)" if isinstance(test, int) else ""
            return f"classes: {n} of the dataset's {total}{imgs}; accuracy over these {n} classes only."
    return None


def _whole_note(rows: Sequence[ResultRow], full: dict) -> str:
    """The whole-training-set column in words: its images, and its epochs when they differ from the others'."""
    parts = []
    for r in full.values():
        images = r.settings.get("train_images")
        ep = r.settings.get("epochs")
        others = {x.settings.get("epochs") for x in rows if x.method != FULL_METHOD} - {None}
        text = f"every real training image ({images:,})" if isinstance(images, int) else "every real training image"
        if ep is not None and others and others != {ep}:
            text += f", trained {ep} epochs (the other columns: {', '.join(str(o) for o in sorted(others, key=str))})"
        ref = r.settings.get("reference")
        parts.append(f"{text}, {r.model}/{r.protocol}" + (f" ({ref})" if ref else ""))
    return "whole set: " + "; ".join(parts) + " — the reference a distilled set is measured against."


@dataclass(frozen=True)
class TableLine:
    """One line of a results table: its group (IPC, network, protocol), its cell per method (the whole-set
    row in its column on every line of its network and protocol) and the methods within one std of its best
    (``within_one_std`` over the line's cells other than the whole set)."""

    ipc: int
    model: str
    protocol: str
    cells: dict[str, ResultRow]
    close: tuple[str, list[str]] | None

    def close_note(self) -> str | None:
        """The line's within-one-std sentence, or None."""
        if not self.close:
            return None
        return (f"IPC {self.ipc}, {self.model}/{self.protocol}: {', '.join(self.close[1])} within one std of the "
                f"best ({self.close[0]}) — not a measured difference.")


@dataclass(frozen=True)
class ResultTable:
    """The results model's one table, rendered as results.md (:func:`markdown_table`) and in report.html
    (``vlcp.report.results_html``): methods as columns in :func:`method_order` (baselines first, the whole
    training set last), one line per (IPC, network, protocol) in sorted order, the whole-set column (method
    ``full``: independent of IPC) filled on every line, the within-one-std marks per line and the notes."""

    rows: tuple[ResultRow, ...]
    methods: tuple[str, ...]
    lines: tuple[TableLine, ...]
    full: dict[tuple[str, str], ResultRow]
    common_runs: int
    mixed_runs: bool

    @classmethod
    def of(cls, rows: Sequence[ResultRow], methods: Sequence[str] | None = None) -> "ResultTable":
        """The table of ``rows`` (columns: ``methods``, default :func:`method_order` of the rows' methods)."""
        if not rows:
            raise VlcpError("a results table needs at least one row")
        methods = tuple(methods) if methods is not None else tuple(method_order(r.method for r in rows))
        by_key = {r.key: r for r in rows}
        full = {(r.model, r.protocol): r for r in rows if r.method == FULL_METHOD}
        keys = sorted({(r.ipc, r.model, r.protocol) for r in rows if r.method != FULL_METHOD})
        lines = [_line(ipc, model, protocol, methods, by_key, full)
                 for ipc, model, protocol in keys or sorted({(r.ipc, r.model, r.protocol) for r in rows})]
        counts = Counter(r.runs for r in rows)
        return cls(tuple(rows), methods, tuple(lines), full, counts.most_common(1)[0][0], len(counts) > 1)

    def runs_text(self) -> str:
        """How many networks each cell averages, in words (no ± for one network)."""
        if self.common_runs == 1:
            text = "one network per cell (n = 1: no spread measured, so no ±)"
        else:
            text = f"mean ± population std over n = {self.common_runs} networks each"
        return text + ("; other n marked" if self.mixed_runs else "")

    def notes(self) -> list[str]:
        """The table's notes as sentences: class subset, within-one-std lines, best-epoch †, teachers,
        selections, uneven sets, reported numbers and the whole set."""
        close = [n for line in self.lines if (n := line.close_note())]
        return note_sentences(self.rows, close, self.full)


def _line(ipc: int, model: str, protocol: str, methods: Sequence[str], by_key: dict, full: dict) -> TableLine:
    """One table line: its cells per method (the whole set from ``full``) and its within-one-std mark."""
    cells = {}
    for m in methods:
        r = full.get((model, protocol)) if m == FULL_METHOD else by_key.get((m, ipc, model, protocol))
        if r is not None:
            cells[m] = r
    close = within_one_std({m: (r.mean, r.std) for m, r in cells.items() if m != FULL_METHOD})
    return TableLine(ipc, model, protocol, cells, close)


def markdown_table(rows: Sequence[ResultRow], title: str | None = None) -> str:
    """The :class:`ResultTable` of ``rows`` as Markdown, like Table 1 of the DC-family papers, then its notes
    and DD-Ranking's scores. One network per cell shows no ± (no spread was measured)."""
    if not rows:
        return "_no results_\n"
    table = ResultTable.of(rows)
    out = [f"**{title}**\n"] if title else []
    out.append(f"Top-1 test accuracy (%), {table.runs_text()}.\n")
    header = ["IPC", "Network", "Protocol"] + [("whole set" if m == FULL_METHOD else m) for m in table.methods]
    out.append("| " + " | ".join(header) + " |")
    out.append("|" + "|".join(["---:"] + [":---"] * 2 + [":---:"] * len(table.methods)) + "|")
    for line in table.lines:
        cells = [str(line.ipc), line.model, line.protocol]
        cells += [_cell(line.cells[m], table.common_runs) if m in line.cells else "–" for m in table.methods]
        out.append("| " + " | ".join(cells) + " |")
    notes = table.notes()
    out += [""] + [f"- {n}" for n in notes] if notes else []
    return "\n".join(out) + "\n" + scores_markdown(rows)


def note_sentences(rows: Sequence[ResultRow], close_notes: list[str], full: dict) -> list[str]:
    """The accuracy table's notes, one sentence each (see :meth:`ResultTable.notes`)."""
    notes = []
    subset = _subset_note(rows)
    if subset:
        notes.append(subset)
    notes += close_notes
    notes += side_notes(rows)
    if any(r.best_accuracies for r in rows):
        notes.append("† best test accuracy over training, selected on the test set (as the Minimax code and "
                     "ddranking report); the main number is the final epoch.")
    teachers: dict[str, dict] = {}
    for r in rows:
        if r.teacher is not None:
            teachers.setdefault(r.teacher.get("digest") or teacher_label(r.teacher), r.teacher)  # trained or cached
    for t in teachers.values():
        label = teacher_label(t)
        acc = f"{float(t['accuracy']):.1f} %" if t.get("accuracy") is not None else "not measured"
        notes.append(f"teacher (soft labels): {label}, its own test accuracy {acc}; these numbers compare only with "
                     "numbers made with the same teacher.")
    if len(teachers) > 1:
        notes.append(f"{len(teachers)} different teachers in this table: rows with different teachers are not "
                     "comparable.")
    notes += sorted({r.settings.get("selection") for r in rows if r.settings.get("selection")
                     and r.method != FULL_METHOD})
    notes += [uneven_note(r) for r in rows if r.settings.get("class_counts")]
    notes += [f"{r.method} at IPC {r.ipc}, {r.model}/{r.protocol}: {r.settings['reported']}." for r in rows
              if r.settings.get("reported")]
    if full:
        notes.append(_whole_note(rows, full))
    return notes


def side_notes(rows: Sequence[ResultRow]) -> list[str]:
    """One sentence per network/protocol whose networks saw another image side than most rows of the table
    (``resolution``: e.g. ConvNet-6 at 64 px beside 28 px Fashion-MNIST rows); none when every row agrees."""
    sides = Counter(r.settings.get("resolution") for r in rows if r.settings.get("resolution"))
    if len(sides) < 2:
        return []
    common = sides.most_common(1)[0][0]
    odd = sorted({(r.model, r.protocol, r.settings["resolution"]) for r in rows
                  if r.settings.get("resolution") not in (None, common)})
    return [f"{model}/{protocol}: the networks see {side} px (training and test images resized; the other rows "
            f"{common} px)." for model, protocol, side in odd]


def scores_markdown(rows: Sequence[ResultRow]) -> str:
    """DD-Ranking's scores (``vlcp.evaluate.scores``) as a Markdown table beside accuracy, what each means, and
    one line per refused score ('' when no row is a distilled set)."""
    from vlcp.evaluate.scores import SCORE_MEANINGS, SCORE_NAMES, score_rows

    scored, refused = score_rows(rows)
    if not scored and not refused:
        return ""
    out = ["", "**DD-Ranking scores** (Li et al. 2025; accuracies as fractions, shown ×100)", ""]
    if scored:
        out += ["| IPC | Network | Protocol | method | accuracy | " + " | ".join(SCORE_NAMES) + " |",
                "|---:|:---|:---|:---|---:|" + "---:|" * len(SCORE_NAMES)]
        for s in scored:
            cells = [s.scores[n].text() if n in s.scores else "–" for n in SCORE_NAMES]
            out.append(f"| {s.ipc} | {s.model} | {s.protocol} | {s.method} | {s.accuracy:.1f} | " + " | ".join(cells)
                       + " |")
        out.append("")
    out += [f"- {n}: {m}." for n, m in SCORE_MEANINGS.items()]
    out += [f"- {n}" for n in refused]
    return "\n".join(out) + "\n"


CSV_FIELDS = ["method", "ipc", "model", "protocol", "mean", "std", "runs", "best_mean", "best_std", "accuracies",
              "epochs", "batch_size", "resolution", "seeds", "teacher_accuracy", "teacher_digest", "num_classes",
              "dataset_classes"]


def to_csv(rows: Sequence[ResultRow]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    for r in rows:
        s = r.settings
        w.writerow([r.method, r.ipc, r.model, r.protocol, f"{r.mean:.4f}", f"{r.std:.4f}", r.runs,
                    "" if r.best_mean is None else f"{r.best_mean:.4f}",
                    "" if r.best_std is None else f"{r.best_std:.4f}",
                    ";".join(f"{a:.4f}" for a in r.accuracies), s.get("epochs", ""), s.get("batch_size", ""),
                    s.get("resolution", ""), ";".join(str(x) for x in s.get("seeds", [])),
                    "" if r.teacher_accuracy is None else f"{r.teacher_accuracy:.4f}",
                    (r.teacher or {}).get("digest", ""), s.get("num_classes", ""), s.get("dataset_classes", "")])
    return buf.getvalue()


def sort_rows(rows: Sequence[ResultRow]) -> list[ResultRow]:
    order = {m: i for i, m in enumerate(method_order(r.method for r in rows))}
    return sorted(rows, key=lambda r: (r.protocol, r.model, r.ipc, order[r.method]))


def write_results(rows: Sequence[ResultRow], out_dir: str | Path, title: str | None = None) -> dict[str, Path]:
    """Write results.json, results.csv and results.md into ``out_dir`` (each atomically)."""
    out = Path(out_dir)
    rows = sort_rows(rows)
    paths = {"json": out / "results.json", "csv": out / "results.csv", "md": out / "results.md"}
    from vlcp.evaluate.scores import score_rows

    scored, refused = score_rows(rows)
    atomic_write_json(paths["json"], {"rows": [r.to_dict() for r in rows],
                                      "units": "top-1 test accuracy, percent; std = population std over runs",
                                      "scores": [s.to_dict() for s in scored], "score_notes": refused,
                                      "score_units": "DD-Ranking scores on fractions, ×100 (IOR, HLR: accuracy "
                                                     "points; LRS, ARS: 0-100)"})
    atomic_write_text(paths["csv"], to_csv(rows))
    atomic_write_text(paths["md"], markdown_table(rows, title))
    return paths
