"""[synthesize] settings keyed by IPC or protocol: checked, resolved for the run, recorded."""
import pytest

from vlcp.errors import VlcpError
from vlcp.run.plan import resolved_settings
from vlcp.settings.keyed import resolve_keyed
from vlcp.settings.tomlcheck import check_config

TABLE = {"strength": 0.4, "steps": 50, "protocol": {"rded": {"strength": 0.7, "steps": 30}},
         "ipc": {"50": {"strength": 0.55, "start": "medoid"}}}


def test_plain_then_protocol_then_ipc():
    assert resolve_keyed(TABLE) == ({"strength": 0.4, "steps": 50}, [])
    assert resolve_keyed(TABLE, ipc=10, protocol="dc") == ({"strength": 0.4, "steps": 50}, [])
    assert resolve_keyed(TABLE, ipc=10, protocol="rded") == ({"strength": 0.7, "steps": 30}, ["protocol.rded"])
    assert resolve_keyed(TABLE, ipc=50, protocol="rded") == (
        {"strength": 0.55, "steps": 30, "start": "medoid"}, ["protocol.rded", "ipc.50"])


@pytest.mark.parametrize("table, message", [
    ({"ipc": {"ten": {"strength": 0.5}}}, r"\[ipc.ten\]: the IPC must be a positive integer"),
    ({"protocol": {"dcc": {"strength": 0.5}}}, r"\[protocol.dcc\]: unknown protocol; known: dc, .*dsa"),
    ({"ipc": {"50": {"strenght": 0.5}}}, r"unknown key\(s\) strenght in \[ipc.50\]"),
    ({"ipc": 50}, r"'ipc' must hold tables"),
])
def test_bad_keyed_tables_name_the_file_and_table(table, message):
    with pytest.raises(VlcpError, match=r"c.toml \[synthesize\]: " + message):
        check_config("c.toml", {"synthesize": table})


def test_a_run_records_the_settings_its_ipc_and_protocol_pick():
    cfg = {"prototypes": {"ipc": 50}, "evaluate": {"protocol": "rded"}, "synthesize": TABLE}
    out = resolved_settings(cfg, ["prototypes", "synthesize", "evaluate"], "c.toml")
    assert (out["synthesize"]["strength"], out["synthesize"]["steps"], out["synthesize"]["start"]) == (0.55, 30, "medoid")
    out = resolved_settings({**cfg, "prototypes": {"ipc": 10}, "evaluate": {}}, ["synthesize"], "c.toml")
    assert (out["synthesize"]["strength"], out["synthesize"]["start"]) == (0.4, "centre")


def test_the_synthesize_stage_applies_the_tables_of_its_prototypes(tiny_model, tmp_path, monkeypatch, capsys):
    import json
    import tomllib

    import torch
    from safetensors.torch import save_file

    from vlcp.cli import main
    from vlcp.files.atomic import atomic_write_json

    p = tmp_path / "run" / "prototypes"
    p.mkdir(parents=True)
    save_file({c: torch.randn(2, 4, 16, 16) for c in ("trouser", "bag")}, str(p / "prototypes.safetensors"))
    atomic_write_json(p / "text_prototypes.json", {"strategy": "label", "classes": {
        c: [{"cluster": i, "text": f"a {c}", "size": 1} for i in range(2)] for c in ("trouser", "bag")}})
    (p / "prototypes.toml").write_text("[prototypes]\nipc = 2\n")
    cfg = tmp_path / "c.toml"
    cfg.write_text('[synthesize]\nsteps = 2\nstrength = 0.5\n[synthesize.ipc.2]\nstrength = 1.0\n'
                   '[synthesize.ipc.3]\nstrength = 0.75\n')
    monkeypatch.setattr("vlcp.cli._load_model", lambda args: tiny_model)
    monkeypatch.setattr("vlcp.cli._train_split", lambda args, data: _Data())
    monkeypatch.setattr("vlcp.cli._data", lambda args: None)
    assert main(["synthesize", "--run", str(tmp_path / "run"), "--config", str(cfg), "--no-progress"]) == 0
    assert "ipc 2, protocol dc: applied [synthesize.ipc.2]" in capsys.readouterr().out
    saved = tomllib.loads((tmp_path / "run" / "distilled" / "synthesize.toml").read_text())
    assert saved["strength"] == 1.0 and saved["steps"] == 2
    row = json.loads((tmp_path / "run" / "distilled" / "metadata.jsonl").read_text().splitlines()[0])
    assert row["strength"] == 1.0


class _Data:
    resolution, channels = 28, 1
