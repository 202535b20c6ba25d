"""DD-Ranking's scores (IOR, HLR, LRS, ARS) and the ``ddranking`` protocol presets."""
import json
import math

import pytest
import torch

from vlcp.evaluate import EvalConfig, evaluate_tensors
from vlcp.evaluate.evaluation import repeat_grey
from vlcp.evaluate.protocols import PROTOCOLS
from vlcp.evaluate.results import ResultRow, markdown_table, write_results
from vlcp.evaluate.scores import ScoreConfig, ars, hlr, ior, lrs, normalised_exp, score_rows

E = math.e


def row(method, accs, protocol="ddranking", ipc=10, **settings):
    return ResultRow.from_accuracies(method, ipc, "convnet3", protocol, accs, settings)


def test_formulas_by_hand():
    assert normalised_exp(1.0) == pytest.approx(1.0) and normalised_exp(-1.0) == pytest.approx(0.0)
    assert normalised_exp(0.0) == pytest.approx((1 - 1 / E) / (E - 1 / E))  # 0.268941
    assert ior(0.62, 0.40) == pytest.approx(0.22) and hlr(0.90, 0.62) == pytest.approx(0.28)
    # α = 0.5·0.2 − 0.5·0.1 = 0.05
    assert lrs(0.2, 0.1) == pytest.approx((math.exp(0.05) - 1 / E) / (E - 1 / E))
    assert lrs(0.2, 0.1) == pytest.approx(0.290755, abs=1e-6)
    # λ = 1: IOR alone
    assert lrs(0.3, 0.9, weight=1.0) == pytest.approx(normalised_exp(0.3))
    # β = 0.5·(0.6 − 0.4) + 0.5·(0.5 − 0.45) = 0.125
    assert ars(0.6, 0.4, 0.5, 0.45) == pytest.approx(0.325591, abs=1e-6)
    with pytest.raises(Exception, match="lrs_weight"):
        ScoreConfig(lrs_weight=1.5)


def test_scores_from_rows_pair_runs():
    rows = [row("vlcp", [60.0, 62.0]), row("random", [40.0, 44.0]), row("full", [90.0], ipc=5500, epochs=200,
                                                                         num_classes=10)]
    scored, refused = score_rows(rows)
    assert refused == ["ARS not scored for vlcp at IPC 10, convnet3/ddranking: needs the set's and the random "
                       "subset's rows under both ddranking and ddranking_noaug."]
    (s,) = scored
    assert s.method == "vlcp" and s.accuracy == pytest.approx(61.0)
    assert s.scores["IOR"].mean == pytest.approx(19.0) and s.scores["IOR"].std == pytest.approx(1.0)
    assert s.scores["HLR"].mean == pytest.approx(29.0) and s.scores["HLR"].std == pytest.approx(1.0)
    # per run: α = 0.5·0.20 − 0.5·0.30 = −0.05 and 0.5·0.18 − 0.5·0.28 = −0.05
    assert s.scores["LRS"].mean == pytest.approx(100 * normalised_exp(-0.05)) and s.scores["LRS"].std < 1e-9
    assert "ARS" not in s.scores  # no ddranking_noaug rows
    assert 0.0 <= s.scores["LRS"].mean <= 100.0


def test_ars_from_the_noaug_twin():
    rows = [row("vlcp", [60.0]), row("random", [40.0]), row("vlcp", [50.0], protocol="ddranking_noaug"),
            row("random", [45.0], protocol="ddranking_noaug")]
    scored, _ = score_rows(rows)
    assert [s.protocol for s in scored] == ["ddranking"]  # the twin is scored with it, not as its own line
    assert scored[0].scores["ARS"].mean == pytest.approx(100 * 0.325591, abs=1e-4)


def test_refused_without_random_or_with_a_whole_row_of_another_protocol():
    rows = [row("vlcp", [60.0]), row("full", [90.0], protocol="dc", ipc=5500)]
    scored, refused = score_rows(rows)
    assert scored[0].scores == {}
    assert any(n.startswith("IOR, LRS not scored at IPC 10, convnet3/ddranking: no random-subset row") for n in refused)
    assert any("HLR, LRS not scored" in n and "the whole-set row is from protocol dc" in n for n in refused)
    assert all("\n" not in n for n in refused)
    # a random row of another IPC or protocol does not count
    rows += [row("random", [40.0], ipc=50), row("random", [40.0], protocol="dc")]
    assert "IOR" not in score_rows(rows)[0][0].scores


def test_a_demo_style_random_row_counts_and_a_short_whole_set_is_marked():
    rows = [row("vlcp", [60.0]), row("random real", [40.0], selection="random real subset, 10 per class"),
            row("full", [88.0], ipc=5500, epochs=2, num_classes=10)]
    scored, notes = score_rows(rows)
    assert scored[0].scores["IOR"].mean == pytest.approx(20.0)
    assert scored[0].scores["HLR"].note and scored[0].scores["HLR"].text().endswith("‡")
    assert any("whole set trained 2 of the protocol's 200 epochs" in n for n in notes)


def test_results_md_json_and_report_carry_the_same_scores(tmp_path):
    from vlcp.report import report

    rows = [row("vlcp", [61.0, 64.0]), row("random", [41.0, 43.4]),
            row("full", [90.5], ipc=5500, epochs=200, num_classes=10)]
    paths = write_results(rows, tmp_path / "eval")
    data = json.loads(paths["json"].read_text())
    (s,) = data["scores"]
    lrs_text = f"{s['LRS']['mean']:.1f} ± {s['LRS']['std']:.1f}"
    ior_text = f"{s['IOR']['mean']:.1f} ± {s['IOR']['std']:.1f}"
    assert s["IOR"]["mean"] == pytest.approx(20.3) and s["HLR"]["mean"] == pytest.approx(90.5 - 62.5)
    md = paths["md"].read_text()
    assert "DD-Ranking scores" in md and lrs_text in md and ior_text in md
    html = report(tmp_path).read_text()
    assert "DD-Ranking scores" in html and lrs_text in html and ior_text in html
    assert "improvement over a random real subset" in md and "improvement over a random real subset" in html


def test_markdown_without_distilled_rows_has_no_score_section():
    assert "DD-Ranking" not in markdown_table([row("random", [40.0])])


def test_ddranking_presets():
    p = PROTOCOLS.get("ddranking")
    assert (p.optimizer, p.lr, p.momentum, p.weight_decay, p.augment) == ("sgd", 0.01, 0.9, 5e-4, "dsa")
    assert p.default_epochs(10, 10) == 1000 and p.default_batch_size(10, 10) == 128
    assert p.input_side("convnet3", 28) == 32 and p.input_side("convnet3", 32) == 32 and p.default_channels == 3
    assert p.lr_factor(499, 1000) == 1.0 and p.lr_factor(500, 1000) == pytest.approx(0.1)
    assert not p.reset_momentum_on_decay  # StepLR keeps the optimiser
    assert p.test_epochs(30) == [9, 19, 29]
    full = p.for_method("full")
    assert full.default_epochs(5500, 10) == 200 and full.default_batch_size(5500, 10) == 256 and full.augment == "none"
    assert p.for_method("vlcp") is p
    assert all("ddranking" in n or "yaml" in n or ".py" in n for n in p.notes)
    assert PROTOCOLS.get("ddranking_noaug").augment == "none"
    assert PROTOCOLS.get("ddranking_best").lr_grid == (0.001, 0.005, 0.01, 0.05, 0.1)


def test_repeat_grey():
    x, t = torch.zeros(2, 1, 4, 4), torch.ones(3, 1, 4, 4)
    x3, t3, m, s, note = repeat_grey(PROTOCOLS.get("ddranking"), x, t, (0.5,), (0.25,))
    assert x3.shape == (2, 3, 4, 4) and t3.shape == (3, 3, 4, 4) and m == (0.5,) * 3 and s == (0.25,) * 3 and note
    assert repeat_grey(PROTOCOLS.get("dc"), x, t, (0.5,), (0.25,))[0] is x


def _tiny(n_per_class=2, k=2, side=8):
    g = torch.Generator().manual_seed(0)
    y = torch.arange(k).repeat_interleave(n_per_class)
    x = torch.rand(len(y), 3, side, side, generator=g) * 0.2 + y.view(-1, 1, 1, 1) * 0.6
    return x, y


def test_best_preset_reports_the_best_of_its_lr_grid():
    x, y = _tiny()
    config = EvalConfig(protocol="ddranking_best", epochs=10, repeats=1, device="cpu", progress=False)
    r = evaluate_tensors(x, y, x, y, config, method="vlcp", ipc=2, num_classes=2, mean=(0.5,) * 3, std=(0.3,) * 3)
    (detail,) = r.settings["runs_detail"]
    assert detail["lr"] in (0.001, 0.005, 0.01, 0.05, 0.1)
    assert r.accuracies == r.best_accuracies == [detail["best"]]
    assert "best test check" in r.settings["reported"]
    assert "REPORTED" in markdown_table([r]) or "best test check" in markdown_table([r])


def test_ddranking_full_row_trains_by_the_whole_set_recipe():
    x, y = _tiny()
    r = evaluate_tensors(x, y, x, y, EvalConfig(protocol="ddranking", repeats=1, device="cpu", progress=False,
                                                batch_size=4, epochs=10),
                         method="full", ipc=2, num_classes=2, mean=(0.5,) * 3, std=(0.3,) * 3)
    assert r.settings["augmentation"] == "none" and r.protocol == "ddranking"


def test_cli_run_gets_its_random_subset_and_says_about_the_whole_set(tmp_path, tiny_train, tiny_test, capsys):
    from evalhelpers import write_folder
    from test_eval_end_to_end import make_data_dir, parser
    from vlcp.data.config import DataConfig
    from vlcp.run.state import write_settings
    from vlcp.settings.config import to_dict

    data = make_data_dir(tmp_path / "data", tiny_train, tiny_test)
    run = tmp_path / "run"
    write_settings(run, {"data": to_dict(DataConfig(data_dir=str(data))), "run": {}})
    write_folder(run / "distilled", tiny_train, per_class=3)
    cmd = ["evaluate", "--run", str(run), "--protocol", "ddranking", "--epochs", "1", "--repeats", "1",
           "--no-progress"]
    args = parser().parse_args(cmd)
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert (run / "baselines" / "random_ipc3" / "baseline.json").exists()
    assert "note: no whole-set row for convnet3/ddranking" in printed and " h on this machine" in printed
    data_json = json.loads((run / "eval" / "results.json").read_text())
    assert {r["method"] for r in data_json["rows"]} == {"random", "distilled"}
    assert {r["resolution"] for r in (x["settings"] for x in data_json["rows"])} == {32}
    assert {r["channels"] for r in (x["settings"] for x in data_json["rows"])} == {3}
    (s,) = data_json["scores"]
    assert "IOR" in s and "HLR" not in s
    # a cached whole-set row of the same protocol is reused
    whole = row("full", [97.0], ipc=30, epochs=200, num_classes=2).to_dict()
    data_json["rows"].append(whole)
    (run / "eval" / "results.json").write_text(json.dumps(data_json))
    write_folder(run / "baselines" / "full", tiny_train, per_class=3)  # not retrained: its row is cached
    args = parser().parse_args(cmd)
    assert args.func(args) == 0
    assert "whole set: reusing the convnet3/ddranking row (97.00 %" in capsys.readouterr().out
    after = json.loads((run / "eval" / "results.json").read_text())
    (s,) = after["scores"]
    assert {"IOR", "HLR", "LRS"} <= set(s)
    assert [r["mean"] for r in after["rows"] if r["method"] == "full"] == [97.0]


def test_report_reads_the_whole_set_epochs_against_its_own_recipe():
    from vlcp.report.results_html import protocol_table

    rows = [ResultRow("full", 5500, "convnet3", "ddranking", 90.0, 0.0, 1, settings={"epochs": 200, "num_classes": 10}),
            ResultRow("vlcp", 10, "convnet3", "ddranking", 60.0, 0.0, 1, settings={"epochs": 30, "num_classes": 10})]
    html = protocol_table(rows)
    assert "<td>30 of 1000 (shortened)</td>" in html and "<td>200</td>" in html and "200 of" not in html


def test_a_mean_that_rounds_to_zero_from_below_prints_without_a_minus_sign():
    from vlcp.evaluate.scores import Score, spread_text

    assert spread_text(-0.04, 0.5, 3) == "0.0 ± 0.5"
    assert spread_text(-0.04, 0.0, 1) == "0.0"
    assert spread_text(-0.06, 0.5, 3) == "-0.1 ± 0.5"
    assert Score("IOR", -0.01, 0.46, 3).text() == "0.0 ± 0.5"
