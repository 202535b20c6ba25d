"""The report and results.md render the results model's one table; the report reads typed rows, takes each
sampler's and protocol's own sentence, and judges rows by their fields, not their names."""
from __future__ import annotations

import dataclasses
import json
import re
import tomllib
from pathlib import Path

import pytest

from vlcp.errors import VlcpError
from vlcp.evaluate.protocols import PROTOCOLS
from vlcp.evaluate.results import ResultRow, ResultTable, markdown_table, write_results
from vlcp.report import compare, report

ROOT = Path(__file__).resolve().parents[2]


def _row(method: str, mean: float, ipc: int = 10, protocol: str = "dc", **settings) -> ResultRow:
    return ResultRow.from_accuracies(method, ipc, "convnet3", protocol, [mean - 0.5, mean + 0.5],
                                     {"epochs": 300, "num_classes": 10, **settings})


ROWS = [_row("vlcp", 80.0), _row("zeta", 79.8), _row("kmeans", 75.0), _row("random", 70.0),
        _row("herding", 72.0), _row("full", 91.0, ipc=6000)]


def _md_columns(md: str) -> list[str]:
    header = next(line for line in md.splitlines() if line.startswith("| IPC"))
    return [c.strip() for c in header.strip("|").split("|")][3:]


def _html_columns(html: str) -> list[str]:
    header = re.search(r'<table class="results">\s*<tr>(.*?)</tr>', html, re.S).group(1)
    return re.findall(r"<th>(.*?)</th>", header)[3:]


def test_results_md_and_report_html_order_columns_the_same_way(tmp_path: Path):
    paths = write_results(ROWS, tmp_path / "eval")
    html = report(tmp_path).read_text("utf-8")
    md_cols = _md_columns(paths["md"].read_text("utf-8"))
    assert md_cols == ["random", "herding", "kmeans", "vlcp", "zeta", "whole set"]  # baselines first, whole last
    labels = {"whole set": "whole training set"}
    assert _html_columns(html) == [labels.get(c, c) for c in md_cols]
    assert list(ResultTable.of(ROWS).methods) == ["random", "herding", "kmeans", "vlcp", "zeta", "full"]


def test_the_report_shows_the_tables_notes_and_fills_the_whole_set(tmp_path: Path):
    write_results(ROWS, tmp_path / "eval")
    html = report(tmp_path).read_text("utf-8")
    table = ResultTable.of(ROWS)
    (line,) = table.lines
    assert line.close == ("vlcp", ["zeta"]) and line.cells["full"].mean == 91.0
    for n in table.notes():
        assert f"<li>{n.replace('&', '&amp;')}</li>" in html  # the same sentences as results.md's
    assert "zeta within one std of the best (vlcp)" in html


def test_the_comparison_page_uses_the_same_column_order(tmp_path: Path):
    for name in ("a", "b"):
        write_results(ROWS, tmp_path / name / "eval")
    html = compare([tmp_path / "a", tmp_path / "b"], tmp_path / "cmp.html").read_text("utf-8")
    header = re.search(r"<table><tr>(.*?)</tr>", html, re.S).group(1)
    assert re.findall(r"<th>(.*?)</th>", header) == ["run", "IPC", "model", "protocol", "random", "herding", "kmeans",
                                                      "vlcp", "zeta", "whole training set"]
    assert html.count("91.0 ± 0.5") == 2  # the whole set filled on each run's line, not a line of its own


def test_a_malformed_row_stops_the_report_in_one_line(tmp_path: Path):
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "results.json").write_text(json.dumps(
        [{"method": "vlcp", "ipc": 10, "model": "convnet3", "protocol": "dc", "mean": 61.0, "std": 1.0,
          "runs": [60.0, 62.0]}]))
    with pytest.raises(VlcpError, match=r"results\.json: malformed result row .*rerun `vlcp evaluate`"):
        report(tmp_path)


def _summary(html: str) -> str:
    return re.search(r'<p class="summary">(.*?)</p>', html, re.S).group(1)


def test_the_standing_reads_row_settings_not_method_names(tmp_path: Path):
    rows = [_row("vlcp [beyond the paper]", 74.0), _row("my pick", 78.0, selection="random real subset, 10 per "
                                                                                    "class (seed 0)")]
    write_results(rows, tmp_path / "eval")
    text = _summary(report(tmp_path).read_text("utf-8"))
    assert "the distilled set (vlcp [beyond the paper]) scores 74.0 %" in text
    assert "below the best baseline, my pick (78.0 %)" in text  # a baseline by its recorded selection


def test_the_summary_names_the_protocol_in_its_own_words(tmp_path: Path):
    write_results([_row("vlcp", 60.0, protocol="ddranking"), _row("random", 50.0, protocol="ddranking")],
                  tmp_path / "eval")
    html = report(tmp_path).read_text("utf-8")
    assert f"Protocol ddranking: {PROTOCOLS.get('ddranking').description}." in _summary(html)
    assert f"<code>ddranking</code>: {PROTOCOLS.get('ddranking').description}." in html  # beside the protocol as run


def test_every_registered_protocol_describes_itself_in_one_sentence():
    for name in PROTOCOLS.names():
        d = PROTOCOLS.get(name).description
        assert d and not d.endswith(".") and ". " not in d, name


def test_a_mode_guided_run_is_not_said_to_be_noised(tmp_path: Path):
    (tmp_path / "distilled").mkdir()
    (tmp_path / "distilled" / "synthesize.toml").write_text(
        'sampler = "mode_guided"\nstrength = 0.7\nmode_guidance = 0.3\nsteps = 20\nguidance_scale = 4.0\n')
    text = _summary(report(tmp_path).read_text("utf-8"))
    assert "noised" not in text and "weight 0.3" in text and "(mode_guided, MGD³)" in text


def test_a_plugin_sampler_without_a_sentence_is_named():
    from vlcp.report.summary import sampler_sentence
    from vlcp.samplers import SAMPLERS
    from vlcp.samplers.base import SamplerSettings

    @dataclasses.dataclass(frozen=True)
    class QuietSettings(SamplerSettings):
        wobble: float = 0.5

    class Quiet:
        name, Settings = "quiet_test", QuietSettings

    SAMPLERS.register("quiet_test")(Quiet)
    try:
        assert sampler_sentence({"sampler": "quiet_test", "wobble": 0.2}) == "went through sampler 'quiet_test'"
    finally:
        SAMPLERS.unregister("quiet_test")
    assert sampler_sentence({"sampler": "gone"}) == "went through sampler 'gone'"
    assert QuietSettings.describe_settings({"wobble": 0.1, "strength": 3}) == ""  # others' keys ignored


def test_the_style_sheet_is_package_data():
    from vlcp.report.markup import css

    sheet = ROOT / "src" / "vlcp" / "report" / "report.css"
    assert css() == sheet.read_text("utf-8") and "box-sizing" in css()
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["vlcp"]
    assert any(sheet.relative_to(ROOT / "src" / "vlcp").match(p) for p in patterns)


def test_markdown_renders_the_same_table_object():
    md = markdown_table(ROWS)
    table = ResultTable.of(ROWS)
    accuracy = md.split("\n\n")[1].splitlines()  # header, rule, then one line per table line
    assert len(accuracy) == 2 + len(table.lines) and accuracy[2].startswith("| 10 | convnet3 | dc | 70.0 ± 0.5 |")
    assert all(f"- {n}" in md for n in table.notes()) and "zeta within one std of the best (vlcp)" in md


def test_the_whole_set_note_ignores_rows_without_recorded_epochs():
    rows = [ResultRow.from_accuracies("vlcp", 10, "convnet3", "dc", [60.0]),
            ResultRow.from_accuracies("full", 6000, "convnet3", "dc", [90.0], {"epochs": 10})]
    (whole,) = [n for n in ResultTable.of(rows).notes() if n.startswith("whole set")]
    assert "None" not in whole and "other columns" not in whole


def test_the_standing_speaks_of_the_runs_own_distilled_folder(tmp_path: Path):
    rows = [_row("mine", 60.0, source=str(tmp_path / "distilled")), _row("elsewhere", 70.0, source="/else/where"),
            _row("odd", 71.0, source="a\0b"), _row("random", 50.0)]
    write_results(rows, tmp_path / "eval")
    assert "the distilled set (mine) scores 60.0 %" in _summary(report(tmp_path).read_text("utf-8"))
