"""Quiet, honest logs (issue 10, item 3): plain progress lines off a terminal, one process reporting.
A stage's stderr without third-party chatter: tests/test_by_hand.py (synthesize in a subprocess)."""
from vlcp.run.progress import LineProgress, progress_bar


def test_line_progress_prints_plain_lines(capsys):
    bar = LineProgress(range(3), desc="step", unit="image", every=0.0)
    assert list(bar) == [0, 1, 2]
    lines = capsys.readouterr().err.splitlines()
    assert lines[-1].startswith("step: 3/3 image") and all("\r" not in line for line in lines)


def test_only_the_main_process_reports(capsys, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    list(progress_bar(range(3), desc="x", every=0.0))
    assert capsys.readouterr().err == ""


def test_line_progress_says_the_time_left(capsys):
    bar = LineProgress(range(4), desc="evaluate vlcp (ipc 10): network 1/3", unit="epoch", every=0.0)
    list(bar)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("evaluate vlcp (ipc 10): network 1/3: 1/4 epoch, ") and "s left" in lines[0]
    assert "left" not in lines[-1]  # finished: nothing left to estimate


def test_durations_read_as_a_person_says_them():
    from vlcp.run.progress import duration

    assert [duration(s) for s in (42, 185, 3900)] == ["42 s", "3 min", "1 h 05 min"]
