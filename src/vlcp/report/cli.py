"""``vlcp report``: one run's page, or with several runs a comparison page."""
from __future__ import annotations

import argparse
from pathlib import Path

from vlcp.report.page import compare, report


def _cmd_report(args: argparse.Namespace) -> int:
    """Write the page (several RUNs: the comparison page) and print its path."""
    runs = list(args.runs or [])
    if len(runs) > 1:
        print(f"report: {compare(runs, args.out or Path('comparison.html'))}")
        return 0
    print(f"report: {report(runs[0] if runs else args.run, args.out)}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """The ``report`` subcommand and its options."""
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
