"""The report stage: one self-contained ``report.html`` from a run folder (``compare``: several runs).

Public API::

    report(run_dir, out=None) -> Path          the page of one run (default ``RUN/report.html``)
    compare(run_dirs, out) -> Path             one page comparing several runs
    add_parser(subparsers)                     ``vlcp report``
    figure(run_dir, dataset, out=None) -> Path the distilled images next to real ones, one PNG (``vlcp figure``)

``page`` builds the page and its sections; ``chart`` draws its inline SVG charts; ``contact_sheet`` the PNG of
``figure`` (not a module named ``figure``: importing it would replace the function). Names are imported lazily.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from vlcp.settings.registry import lazy_exports

if TYPE_CHECKING:  # static analysers see the real names
    from vlcp.report.contact_sheet import figure
    from vlcp.report.page import add_parser, compare, report

_EXPORTS = {"report": "page", "compare": "page", "add_parser": "page", "figure": "contact_sheet"}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
