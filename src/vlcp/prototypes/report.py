"""The prototype report (what the paper's Table 6 shows), as JSON and Markdown.

Per class and cluster: size, non-representative words (N of Eq. 2, less stop words),
feature keywords with counts (Rw of Eq. 3), and the chosen text (plus the prompt when the
strategy is not ``dcs``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from vlcp.files.atomic import atomic_write_json, atomic_write_text

__all__ = ["write_report", "report_markdown"]


def _cell(text: Any) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def report_markdown(report: dict) -> str:
    """Markdown: one table per class — cluster | size | non-representative words | keywords | chosen text."""
    strategy = report.get("strategy", "dcs")
    show_prompt = strategy != "dcs"
    cfg = report.get("config", {})
    lines = ["# Prototype report", "",
             f"Strategy: `{strategy}`; beta = {cfg.get('beta')}, top_k = {cfg.get('top_k')}, "
             f"ipc = {cfg.get('ipc')}, contamination = {cfg.get('contamination')}.", ""]
    for cid, c in report["classes"].items():
        lines += [f"## {_cell(c['class_name'])} (`{cid}`)", "",
                  f"{c['n']} samples, {c['n_outliers']} outliers removed, {c['n_inliers']} inliers, k = {c['k']}.", ""]
        head = "| cluster | size | non-representative words | keywords (word:count) | chosen text |"
        rule = "|---|---|---|---|---|"
        if show_prompt:
            head += " prompt |"
            rule += "---|"
        lines += [head, rule]
        nonrep = _cell(" ".join(c["nonrepresentative"])) or "—"
        for cl in c["clusters"]:
            kw = _cell(", ".join(f"{w}:{n}" for w, n in cl["keywords"])) or "—"
            row = f"| {cl['cluster']} | {cl['size']} | {nonrep} | {kw} | {_cell(cl['text']) or '—'} |"
            if show_prompt:
                row += f" {_cell(cl['prompt'])} |"
            lines.append(row)
        lines.append("")
    return "\n".join(lines)


def write_report(report: dict, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``prototype_report.json`` and ``prototype_report.md`` into ``out_dir``."""
    out_dir = Path(out_dir)
    jp, mp = out_dir / "prototype_report.json", out_dir / "prototype_report.md"
    atomic_write_json(jp, report)
    atomic_write_text(mp, report_markdown(report))
    return jp, mp
