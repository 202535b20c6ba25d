"""The report stage: one self-contained ``report.html`` from a run folder (``compare``: several runs).

Public API::

    report(run_dir, out=None) -> Path          the page of one run (default ``RUN/report.html``)
    compare(run_dirs, out) -> Path             one page comparing several runs
    add_parser(subparsers)                     ``vlcp report``
    figure(run_dir, dataset, out=None) -> Path the distilled images next to real ones, one PNG (``vlcp figure``)

By role: ``gather`` reads a run folder into typed things (result rows, settings as made, images); ``summary``
and ``sections`` turn them into titled fragments (``results_html``: the results model's table, scores, charts
and protocol as HTML; ``chart``: inline SVG); ``markup`` assembles the page (style sheet: package data
``report.css``); ``version`` probes versions and the git commit; ``page`` holds ``report`` and ``compare``;
``cli`` the subcommand; ``contact_sheet`` the PNG of ``figure`` (not a module named ``figure``: importing it
would replace the function). Names are imported lazily.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from vlcp.settings.registry import lazy_exports

if TYPE_CHECKING:  # static analysers see the real names
    from vlcp.report.contact_sheet import figure
    from vlcp.report.cli import add_parser
    from vlcp.report.page import compare, report

_EXPORTS = {"report": "page", "compare": "page", "add_parser": "cli", "figure": "contact_sheet"}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
