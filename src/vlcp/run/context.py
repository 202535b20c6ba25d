"""What a stage runs with: its options (the command line, or under ``vlcp run`` its defaults with the run's
values set), and the run's data, model and device resolved from ``settings.toml`` and those options — each
checked against the record, and recorded only once it has loaded (``vlcp.run.state``)."""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlcp.settings.devices import resolve_device
from vlcp.settings.options import config_from_args, toml_section

DTYPES = ("float32", "float16", "bfloat16")


@dataclass
class RunContext:
    """One stage's options and the run they point at; ``flags`` is the stage's parsed option namespace."""

    flags: argparse.Namespace
    _device: str | None = field(default=None, init=False, repr=False)

    @property
    def run(self) -> Path | None:
        """The run folder (``--run``), or None for a command given folders instead."""
        return getattr(self.flags, "run", None)

    @property
    def config_file(self) -> Path | None:
        """The TOML file (``--config``) the stage's sections are read from."""
        return getattr(self.flags, "config", None)

    @property
    def progress(self) -> bool:
        return getattr(self.flags, "progress", True)

    @property
    def force(self) -> bool:
        return bool(getattr(self.flags, "force", False))

    def flag(self, name: str, default: Any = None) -> Any:
        """The option ``name`` (its dest), or ``default`` when it is not given."""
        value = getattr(self.flags, name, None)
        return default if value is None else value

    def path(self, name: str, under_run: str) -> Path:
        """The path option ``name`` when given, else ``RUN/under_run``."""
        return self.flag(name) or self.run / under_run

    def section(self, name: str) -> dict:
        """The ``[name]`` table of ``--config`` (empty without one; the file's names checked first)."""
        return toml_section(self.config_file, name)

    def config(self, config_type: type, table: dict | None = None) -> Any:
        """``config_type`` from ``table`` (a TOML section) under the options given."""
        return config_from_args(config_type, self.flags, table)

    # ---- device ----------------------------------------------------------------------------------
    def device_name(self) -> str | None:
        """``--device``, checked against the run's recorded device, else the recorded one (None: auto)."""
        if self.run is None:
            return self.flag("device")
        from vlcp.run.state import run_value

        return run_value(self.run, "device", self.flag("device"), "--device", keep=False)

    def device(self, keep: bool = True) -> str:
        """The device this stage runs on (resolved once, checked against this machine); a given ``--device``
        is recorded (with ``keep``)."""
        if self._device is None:
            self._device = resolve_device(self.device_name())
        if keep:
            self.keep_device()
        return self._device

    def keep_device(self) -> None:
        """Record a given ``--device`` as the run's (after the stage's inputs have loaded)."""
        if self.run is not None and self.flag("device"):
            from vlcp.run.state import keep_value

            keep_value(self.run, "device", self.flag("device"))

    # ---- data ------------------------------------------------------------------------------------
    def data_given(self) -> tuple[dict, dict]:
        """The ``DataConfig`` values given (the TOML's ``[data]``, then the flags) and where each came from."""
        from vlcp.data.config import DataConfig
        from vlcp.settings.config import from_dict

        given = self.section("data")
        from_dict(DataConfig, dict(given), source=getattr(given, "source", str(self.config_file)))  # names the file
        sources = {k: f"[data] {k} in {self.config_file}" for k in given}
        for f in dataclasses.fields(DataConfig):
            if getattr(self.flags, f.name, None) is not None:
                given[f.name] = getattr(self.flags, f.name)
                sources[f.name] = "--" + f.name.replace("_", "-")
        return given, sources

    def data(self):
        """The run's dataset settings, checked against the recorded ones (recorded once they load)."""
        from vlcp.run.state import check_data_folder, run_data

        given, sources = self.data_given()
        data = run_data(self.run, given, sources, keep=False)
        check_data_folder(data)
        return data

    def train_split(self, data, resolution: int | None = None):
        """The training split (read at ``resolution``); the run records its dataset once it has loaded."""
        from vlcp.run.state import keep_data

        train = data.load("train", resolution=resolution)
        keep_data(self.run, data)
        return train

    # ---- model -----------------------------------------------------------------------------------
    def model_spec(self) -> str:
        """``--model`` (or ``[model] path``) checked against the run's recorded model; else the recorded one;
        else ``RUN/model`` when trained there, else the embedded default."""
        from vlcp.run.state import run_value

        given, source = self.flag("model"), "--model"
        if not given and self.section("model").get("path"):
            given, source = self.section("model")["path"], f"[model] path in {self.config_file}"
        default = str(self.run / "model") if (self.run / "model" / "vlcp_model.json").exists() else "embedded"
        return run_value(self.run, "model", given, source, default, keep=False)

    def load_model(self):
        """The run's model on the run's device in ``--dtype``; both are recorded once the model has loaded."""
        from vlcp.models import load_model
        from vlcp.run.state import keep_value

        spec, device = self.model_spec(), self.device(keep=False)
        model = load_model(spec, device=device, dtype=torch_dtype(self.flag("dtype")))
        keep_value(self.run, "model", spec)
        self.keep_device()
        return model


def torch_dtype(name: str | None):
    """The torch dtype named ``name`` (one of ``DTYPES``; None: float32)."""
    import torch

    return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[name or "float32"]
