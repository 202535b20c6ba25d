"""The Fashion-MNIST quality benchmark says which cells of the required grid are still unmeasured."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from vlcp.evaluate.results import ResultRow

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture()
def quality(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # the scripts import bench_common as a sibling
    import fashion_mnist_quality

    yield fashion_mnist_quality
    sys.modules.pop("fashion_mnist_quality", None)


def _row(method: str, ipc: int, protocol: str = "dc", network: str = "convnet3", **settings) -> ResultRow:
    return ResultRow(method, ipc, network, protocol, 70.0, 0.1, 3, [70.0] * 3, settings)


def test_pending_names_exactly_the_missing_cells(quality):
    done = [_row(m, ipc) for ipc in (1, 10, 50) for m in quality.REQUIRED]
    done += [_row("k-center", 10), _row("vlcp (label+keywords)", 10), _row(quality.SELECTED, 10)]
    done += [_row(m, 10, "rded") for m in quality.PAPER if m != "medoid"]
    done += [_row(m, 10, "dsa") for m in quality.PAPER]
    done += [_row(m, 10, "dc", net) for net in ("convnet6", "resnet_ap10") for m in quality.NETWORK_ROWS]
    done += [_row(m, 10, "dc", "resnet18_modified") for m in quality.NETWORK_ROWS if m != "herding"]
    lines = quality.pending(done)
    assert lines[1:3] == [f"- rded, IPC 10: medoid, {quality.MODE_GUIDED}", "- dc, IPC 10, resnet18_modified: herding"]
    assert [ln.split(":")[0] for ln in lines[3:]] == ["- rded, IPC 50 (GPU, 5 networks per cell)",
                                                      "- dsa, IPC 50 (GPU, 5 networks per cell)"]
    everything = done + [_row("medoid", 10, "rded"), _row(quality.MODE_GUIDED, 10, "rded"),
                         _row("herding", 10, "dc", "resnet18_modified")]
    everything += [_row(m, ipc, p, net) for (p, ipc, net), ms in quality.GPU_GRID.items() for m in ms]
    assert quality.pending(everything) == []
    rows = [_row(m, 10, "dc", "resnet18_modified") for m in quality.NETWORK_ROWS]
    assert quality.pending(rows)[1].startswith("- dc, IPC 1:")


def test_notes_name_the_generator_of_generator_dependent_rows(quality):
    rows = [_row("vlcp (dcs)", 10, generator="v0.2", synthesis={"strength": 0.4, "guidance_scale": 3.0,
                                                                 "steps": 50}),
            _row(quality.SELECTED, 10, generator="v0.2", synthesis={"strength": 0.4, "guidance_scale": 3.0,
                                                                     "steps": 50, "candidates": 4}),
            _row("medoid", 10, generator="v0.2"), _row("random", 10, generator="v0.2")]
    notes = quality.generator_notes(rows)
    assert notes[0] == "- vlcp (dcs) (IPC 10, dc): generator v0.2, strength 0.4, guidance 3.0, 50 steps"
    assert "best of 4 candidates" in notes[1]
    assert notes[2] == "- medoid (IPC 10, dc): prototypes in generator v0.2's VAE latent space"
    assert len(notes) == 3  # random real images do not depend on the generator


def test_notes_name_a_non_default_text_threshold(quality):
    syn = {"strength": 0.4, "guidance_scale": 3.0, "steps": 50}
    notes = quality.generator_notes([_row("vlcp (dcs)", 1, generator="v0.2", synthesis={**syn, "beta": 1.0}),
                                     _row("vlcp (dcs)", 10, generator="v0.2", synthesis=syn)])
    assert notes[0].endswith("50 steps, text prototypes with beta 1.0")
    assert "beta" not in notes[1]


def test_text_prototype_variants_get_their_own_folders(quality):
    from bench_common import variant_name

    assert variant_name("vlcp (dcs)", {}) == "vlcp__dcs_"  # the folders of earlier runs keep their names
    assert variant_name("vlcp (dcs)", {"beta": 1.0}) != variant_name("vlcp (dcs)", {"beta": 0.85})
    assert variant_name("dcs", {"top_k": 35, "beta": 0.2}) == "dcs_beta0.2_top_k35"


def test_tuning_grid_separates_text_settings_and_types_them(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import fashion_mnist_tuning as tuning

    points = tuning.parse_grid(["strength=0.4", "beta=0.7,1", "top_k=30"])
    assert points == [{"strength": 0.4, "beta": 0.7, "top_k": 30}, {"strength": 0.4, "beta": 1.0, "top_k": 30}]
    assert isinstance(points[0]["top_k"], int) and set(tuning.PROTOTYPE_SETTINGS) == {"beta", "top_k", "contamination", "n_neighbors"}
    assert tuning.parse_grid(["contamination=0,0.05", "n_neighbors=20"])[0] == {"contamination": 0.0, "n_neighbors": 20}


def test_notes_describe_the_mode_guided_row_by_its_sampler(quality):
    syn = {"strength": 0.4, "guidance_scale": 3.0, "steps": 50, "sampler": "mode_guided", "mode_guidance": 0.2,
           "guidance_stop": 0.5}
    notes = quality.generator_notes([_row(quality.MODE_GUIDED, 10, generator="v1.0", synthesis=syn)])
    assert notes == [f"- {quality.MODE_GUIDED} (IPC 10, dc): generator v1.0, from noise, mode guidance λ 0.2 for "
                     "the first 0.5 of the steps, guidance 3.0, 50 steps"]


def test_mode_guided_row_has_a_folder_per_guidance_setting(quality, tmp_path, monkeypatch):
    import bench_common

    made = []
    monkeypatch.setattr(bench_common.Bench, "synthesize", lambda self, strategy, ipc, folder, **kw: made.append(
        (strategy, folder.name, kw)) or folder)
    bench = bench_common.Bench.__new__(bench_common.Bench)
    bench.run = bench.model_run = tmp_path
    bench.text, bench.mode_guided = {}, {"mode_guidance": 0.2, "guidance_stop": 1.0}
    bench.train = type("Train", (), {"resolution": 28, "channels": 1})()
    bench.folder(quality.MODE_GUIDED, 10)
    bench.mode_guided = {"mode_guidance": 0.1, "guidance_stop": 1.0}
    bench.folder(quality.MODE_GUIDED, 10)
    assert [m[0] for m in made] == ["dcs", "dcs"]
    assert made[0][1] != made[1][1]
    assert made[0][2] == {"sampler": "mode_guided", "mode_guidance": 0.2, "guidance_stop": 1.0}


def test_carry_copies_only_the_generator_free_cells_asked_for(quality, tmp_path):
    from vlcp.files.atomic import atomic_write_json

    earlier = [_row(m, ipc, generator="v0.2", synthesis={"strength": 0.4})
               for m in ("random", "herding", "k-center", "medoid", "vlcp (dcs)") for ipc in (1, 10)]
    path = tmp_path / "fashion_mnist_v0.2.json"
    atomic_write_json(path, [r.to_dict() for r in earlier])
    wanted = {(m, 10, "convnet3", "dc") for m in ("random", "herding", "medoid", "vlcp (dcs)")}
    rows = quality.carried_rows(path, wanted)
    assert sorted(r.method for r in rows) == ["herding", "random"]  # no IPC 1, no k-center, nothing generated
    assert all(r.ipc == 10 and r.settings == {"carried_from": path.name} for r in rows)
    notes = quality.generator_notes(rows)
    assert notes == [f"- {m} (IPC 10, dc): carried from {path.name} (made without the generator, so the same code "
                     "gives the same networks)" for m in ("random", "herding")]


def test_benchmark_defaults_are_the_settings_chosen_in_the_config(quality, tmp_path):
    import tomllib

    import bench_common

    chosen = tomllib.loads(bench_common.CHOSEN_CONFIG.read_text("utf-8"))["synthesize"]
    synthesis, mode_guided = quality.synthesis_settings(quality.parse_args([]))
    assert synthesis == {k: chosen[k] for k in ("strength", "guidance_scale", "steps")}
    assert mode_guided == {k: chosen[k] for k in ("mode_guidance", "guidance_stop")}
    assert quality.synthesis_settings(quality.parse_args(["--strength", "0.9"]))[0]["strength"] == 0.9
    bad = tmp_path / "c.toml"
    bad.write_text('[synthesize]\nstrength = "high"\n')
    from vlcp.errors import VlcpError

    with pytest.raises(VlcpError, match="c.toml \\[synthesize\\].*strength"):
        bench_common.chosen_synthesis(bad)


def test_carry_keeps_soft_label_rows_only_with_the_same_teacher(quality, tmp_path):
    from vlcp.files.atomic import atomic_write_json

    teacher = {"description": "convnet3 trained by vlcp", "digest": "aaaa", "accuracy": 89.9}
    earlier = [_row("random", 10, "rded", teacher=teacher), _row("herding", 10, "dc")]
    path = tmp_path / "earlier.json"
    atomic_write_json(path, [r.to_dict() for r in earlier])
    wanted = {("random", 10, "convnet3", "rded"), ("herding", 10, "convnet3", "dc")}
    assert sorted(r.method for r in quality.carried_rows(path, wanted, "aaaa")) == ["herding", "random"]
    assert [r.method for r in quality.carried_rows(path, wanted, "bbbb")] == ["herding"]  # another teacher
    assert [r.method for r in quality.carried_rows(path, wanted, None)] == ["herding"]  # none cached yet


def test_cells_take_the_settings_keyed_for_their_ipc_and_protocol(quality, tmp_path, monkeypatch):
    import bench_common

    config = tmp_path / "c.toml"
    config.write_text('[synthesize]\nstrength = 0.4\nsteps = 50\n[synthesize.ipc.50]\nstart = "medoid"\n'
                      'strength = 0.7\nsteps = 50\n[synthesize.protocol.rded]\nstrength = 0.6\n')
    assert bench_common.chosen_overrides(10, "dc", config) == {}
    assert bench_common.chosen_overrides(50, "dc", config) == {"start": "medoid", "strength": 0.7}
    assert bench_common.chosen_overrides(10, "rded", config) == {"strength": 0.6}
    monkeypatch.setattr(quality, "chosen_overrides", lambda ipc, protocol: bench_common.chosen_overrides(
        ipc, protocol, config))
    assert quality.cell_overrides(quality.parse_args(["--strength", "0.5"]), 50) == {"start": "medoid"}  # flag wins
    made = []
    monkeypatch.setattr(bench_common.Bench, "synthesize", lambda self, strategy, ipc, folder, **kw: made.append(
        (folder.name, kw)) or folder)
    bench = bench_common.Bench.__new__(bench_common.Bench)
    bench.run = bench.model_run = tmp_path
    bench.text, bench.mode_guided = {}, {"mode_guidance": 0.2, "guidance_stop": 1.0}
    bench.train = type("Train", (), {"resolution": 28, "channels": 1})()
    bench.folder("vlcp (dcs)", 50, {"start": "medoid", "strength": 0.7})
    bench.folder("vlcp (dcs)", 50)
    bench.folder(quality.MODE_GUIDED, 50, {"start": "medoid"})  # the mode_guided row keeps its own settings
    assert made[0] == ("vlcp__dcs__startmedoid_strength0.7", {"start": "medoid", "strength": 0.7})
    assert made[1] == ("vlcp__dcs_", {})  # the plain settings keep the folder earlier runs made
    assert "start" not in made[2][1] and "medoid" not in made[2][0]


def test_notes_name_a_medoid_start(quality):
    syn = {"strength": 0.7, "guidance_scale": 3.0, "steps": 50, "start": "medoid"}
    notes = quality.generator_notes([_row("vlcp (dcs)", 50, generator="v1.0", synthesis=syn)])
    assert notes == ["- vlcp (dcs) (IPC 50, dc): generator v1.0, strength 0.7, starting from the medoid, "
                     "guidance 3.0, 50 steps"]


def test_merge_adds_the_missing_cells_of_side_by_side_runs_and_keeps_its_own(quality, tmp_path, capsys):
    from vlcp.evaluate.results import read_results
    from vlcp.files.atomic import atomic_write_json

    out = tmp_path / "grid"
    atomic_write_json(out.with_suffix(".json"), [_row("random", 10).to_dict()])
    other = [_row("random", 10), _row("herding", 10, "dsa"), _row("medoid", 10, "dc", "resnet_ap10")]
    other[0] = ResultRow("random", 10, "convnet3", "dc", 60.0, 0.1, 3, [60.0] * 3, {})
    atomic_write_json(tmp_path / "side.json", [r.to_dict() for r in other])
    quality.main(["--out", str(out), "--merge", str(tmp_path / "side.json")])
    rows = {r.key: r for r in read_results(out.with_suffix(".json"))}
    assert set(rows) == {("random", 10, "convnet3", "dc"), ("herding", 10, "convnet3", "dsa"),
                         ("medoid", 10, "resnet_ap10", "dc")}
    assert rows[("random", 10, "convnet3", "dc")].mean == 70.0  # the cell --out had is kept
    assert "random, IPC 10, convnet3/dc already in" in capsys.readouterr().out
    md = out.with_suffix(".md").read_text()
    assert "| 10 | resnet_ap10 | dc |" in md and "| 10 | convnet3 | dsa |" in md


def test_notes_say_what_each_network_of_the_grid_is(quality):
    notes = quality.network_notes([_row("random", 10), _row("random", 10, "dc", "resnet18")])
    assert notes[0] == "- convnet3: DC/DSA/DM ConvNet-3 (width 128, instance norm, avg-pool)."
    assert notes[1].startswith("- resnet18: ResNet-18, torchvision layout") and "1×1" in notes[1]
    assert "\n" not in notes[1] and "  " not in notes[1]


def test_a_generator_that_is_not_shipped_is_never_the_chosen_row(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import fashion_mnist_tuning as tuning

    def row(generator, mean):
        return {"settings": {"method": "vlcp (dcs)", "ipc": 50, "generator": generator}, "val_mean": mean}

    shipped, unshipped = row("v1.0", 81.28), row(next(iter(tuning.NOT_SHIPPED)), 81.42)
    assert tuning.chosen_rows([unshipped, shipped]) == [shipped]
