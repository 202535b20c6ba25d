"""Quiet, honest logs (issue 10, item 3): plain progress lines off a terminal, one process reporting.
A stage's stderr without third-party chatter: tests/test_by_hand.py (synthesize in a subprocess)."""
from vlcp.progress import LineProgress, progress_bar


def test_line_progress_prints_plain_lines(capsys):
    bar = LineProgress(range(3), desc="step", unit="image", every=0.0)
    assert list(bar) == [0, 1, 2]
    lines = capsys.readouterr().err.splitlines()
    assert lines[-1].startswith("step: 3/3 image") and all("\r" not in line for line in lines)


def test_only_the_main_process_reports(capsys, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    list(progress_bar(range(3), desc="x", every=0.0))
    assert capsys.readouterr().err == ""
