"""The benchmark scripts run (tiny configurations) so that they stay working."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_script(path: Path):
    spec = importlib.util.spec_from_file_location(f"bench_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_gpu_minimax_script_tiny_on_cpu(tmp_path, capsys):
    out = tmp_path / "gpu"
    script = load_script(ROOT / "benchmarks" / "gpu" / "eval_minimax.py")
    assert script.main(["--tiny", "--device", "cpu", "--out", str(out)]) == 0
    data = json.loads(out.with_suffix(".json").read_text())
    assert [r["model"] for r in data["results"]] == ["convnet6", "resnet_ap10"]
    assert all(r["ours_s"] > 0 and r["reference_s"] > 0 for r in data["results"])
    assert "| convnet6 |" in out.with_suffix(".md").read_text()


def test_trainer_timings_account_for_the_run():
    import torch

    from vlcp.evaluate.networks import build_network
    from vlcp.evaluate.protocols import PROTOCOLS
    from vlcp.evaluate.trainer import Rng, train_and_test
    rng = Rng(0)
    net = build_network("convnet3", 1, 2, 28, generator=rng.torch)
    x, y = torch.rand(6, 1, 28, 28), torch.tensor([0, 1] * 3)
    t = {}
    train_and_test(net, x, y, x, y, PROTOCOLS.get("minimax"), epochs=2, batch_size=4, rng=rng, mean=(0.5,),
                   std=(0.25,), device=torch.device("cpu"), timings=t)
    parts = t["data"] + t["forward"] + t["backward"] + t["step"] + t["test"]
    assert 0 < parts <= t["total"]
    first = t["total"]
    train_and_test(net, x, y, None, None, PROTOCOLS.get("dc"), epochs=1, batch_size=4, rng=rng, mean=(0.5,),
                   std=(0.25,), device=torch.device("cpu"), timings=t)
    assert t["total"] > first and t["data"] + t["forward"] + t["backward"] + t["step"] + t["test"] <= t["total"]
