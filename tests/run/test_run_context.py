"""Issue 30: the run context resolves the run's device and model from settings.toml and the flags once,
through the one resolve_device (vlcp.settings.devices)."""
import argparse

import pytest

from vlcp.errors import VlcpError
from vlcp.run.context import RunContext


def ctx(run, **flags):
    return RunContext(argparse.Namespace(run=run, config=None, **flags))


def test_the_recorded_device_is_used_and_a_contradicting_flag_refused(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    (run / "settings.toml").write_text('[run]\ndevice = "cpu"\n')
    assert ctx(run, device=None).device() == "cpu"
    with pytest.raises(VlcpError, match="device"):
        ctx(run, device="cuda:7").device()


def test_a_given_device_is_recorded_only_with_keep(tmp_path):
    from vlcp.run.state import read_settings

    run = tmp_path / "r"
    run.mkdir()
    assert ctx(run, device="cpu").device(keep=False) == "cpu"
    assert "device" not in read_settings(run)["run"]
    ctx(run, device="cpu").device()
    assert read_settings(run)["run"]["device"] == "cpu"


def test_without_a_run_the_flag_alone_decides():
    assert ctx(None, device="cpu").device() == "cpu"


def test_the_model_defaults_to_the_trained_one_else_embedded(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    assert ctx(run, model=None).model_spec() == "embedded"
    (run / "model").mkdir()
    (run / "model" / "vlcp_model.json").write_text("{}")
    assert ctx(run, model=None).model_spec() == str(run / "model")


def test_one_resolve_device():
    import vlcp.evaluate
    import vlcp.evaluate.evaluation as evaluation
    from vlcp.settings import devices

    assert evaluation.resolve_device is devices.resolve_device is vlcp.evaluate.resolve_device
    assert str(evaluation.EvalConfig(device="cpu").resolved_device()) == "cpu"
