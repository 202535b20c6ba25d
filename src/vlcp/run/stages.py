"""The one table of stages: each stage declares here, once, its name, config, what it reads and writes in the
run folder, its settings file and done-marker, whether it is distributed and takes ``--device`` / ``--dtype``,
where its arguments are added and what runs it. The CLI parser, ``vlcp run`` (and ``--dry-run``), the TOML
check and the run record all read this table; nothing else lists stage names.

Code is named ``"module:attribute"`` and imported when used, so this module imports no stage (and no stage
module imports it back through the table). A config ending in ``()`` is a factory (synthesize's config type
grows with every registered sampler).
"""
from __future__ import annotations

import argparse
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from vlcp.settings.registry import Registry


def load(ref: str) -> Callable:
    """The object ``"module:attribute"`` names (imported now)."""
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class Stage:
    """One stage of the pipeline. ``*_ref`` fields name code as ``"module:attribute"``."""

    name: str
    config_ref: str | None  # its config class (``...()``: a factory of it); None: none (report)
    reads: tuple[str, ...]  # what it reads: run-folder paths, "data" (the dataset), "model" (the run's model)
    writes: tuple[str, ...]  # run-folder paths it writes
    settings_file: str  # its resolved settings, ``<stage>.toml``, relative to the run folder
    done: str  # the file whose presence says it finished (relative to the run folder)
    parser_ref: str  # ``add(subparsers)``: registers its subcommand and arguments
    run_ref: str  # ``run(ctx, config) -> int``: calls the typed stage function
    configure_ref: str | None = None  # ``configure(ctx) -> config``; default: the flags over ``[<stage>]``
    distributed: bool = False  # under ``accelerate launch`` every process takes its share (else rank 0 only)
    device: bool = True  # takes ``--device`` (``vlcp run`` passes its own)
    dtype: bool = False  # takes ``--dtype`` (``vlcp run`` passes its own)
    toml: bool = True  # reads ``--config`` (``vlcp run`` passes the config as run)
    progress: bool = True  # ``vlcp run --no-progress`` is passed on
    run_is_output: bool = True  # ``--run`` is checked writable before it starts
    section_keys: tuple[str, ...] | None = None  # its TOML section's keys when they are not its config's fields
    sections: tuple[tuple[str, tuple[str, ...]], ...] = ()  # other plain TOML sections it reads, with their keys
    settings_ref: str | None = None  # ``(cfg, settings, device, dtype) -> {section: values}`` for the dry run
    expand_ref: str | None = None  # ``(cfg) -> [options]``: ``vlcp run`` calls it once per options dict
    dtype_if_ref: str | None = None  # ``(cfg) -> bool``: whether ``vlcp run``'s ``--dtype`` applies
    reported: bool = False  # the report shows its settings (``settings_file``) and when it finished (``done``)
    fingerprinted: bool = False  # it fingerprints its outputs in ``writes[0]`` (the report shows those values)

    def config_type(self) -> type | None:
        """The config class ``run`` takes (None for a stage without settings)."""
        if self.config_ref is None:
            return None
        if self.config_ref.endswith("()"):
            return load(self.config_ref[:-2])()
        return load(self.config_ref)

    def add_to(self, subparsers: "argparse._SubParsersAction") -> argparse.ArgumentParser:
        """Register the stage's subcommand on ``subparsers``; its parser."""
        load(self.parser_ref)(subparsers)
        return subparsers.choices[self.name]

    def configure(self, ctx) -> Any:
        """The stage's config from ``ctx``: its options over its TOML section (checked before any work)."""
        if self.configure_ref is not None:
            return load(self.configure_ref)(ctx)
        config_type = self.config_type()
        return None if config_type is None else ctx.config(config_type, ctx.section(self.name))

    def run(self, ctx, config: Any) -> int:
        """Run the stage with ``config``; its exit code."""
        return int(load(self.run_ref)(ctx, config) or 0)

    def execute(self, ctx) -> int:
        """Configure and run the stage."""
        return self.run(ctx, self.configure(ctx))

    def invocations(self, cfg: dict, run: Path, config_file: Path, device: str | None, dtype: str | None,
                    progress: bool) -> list[dict[str, Any]]:
        """The options ``vlcp run`` gives this stage, one dict (option dest → value) per call."""
        calls = []
        for extra in (load(self.expand_ref)(cfg) if self.expand_ref else [{}]):
            values: dict[str, Any] = {"run": run, **({"config": config_file} if self.toml else {}), **extra}
            given = {"progress": False} if self.progress and not progress else {}
            given.update({"device": device} if self.device and device else {})
            if self.expand_ref:  # an expanded stage's options end in --device, then --no-progress (as printed so far)
                given = dict(reversed(given.items()))
            values.update(given)
            if self.dtype and dtype and (self.dtype_if_ref is None or load(self.dtype_if_ref)(cfg)):
                values["dtype"] = dtype
            calls.append(values)
        return calls


STAGES: Registry[Stage] = Registry("stage")


def _declare(stage: Stage) -> None:
    STAGES.register(stage.name)(stage)


_declare(Stage(
    "caption", "vlcp.caption:CaptionConfig", reads=("data",), writes=("captions",),
    settings_file="captions/caption.toml", done="captions/metadata.jsonl",
    parser_ref="vlcp.cli:add_caption", run_ref="vlcp.cli:run_caption", distributed=True, dtype=True,
    settings_ref="vlcp.run.plan:captioner_settings", dtype_if_ref="vlcp.run.plan:captioner_takes_dtype",
    reported=True, fingerprinted=True))
_declare(Stage(
    "train", "vlcp.train:TrainConfig", reads=("data", "captions"), writes=("model",),
    settings_file="model/train.toml", done="model/vlcp_model.json",
    parser_ref="vlcp.cli:add_train", run_ref="vlcp.cli:run_train", distributed=True,
    sections=(("train_model", ("base",)),), settings_ref="vlcp.run.plan:train_model_settings"))
_declare(Stage(
    "encode", "vlcp.encode:EncodeConfig", reads=("data", "model"), writes=("latents",),
    settings_file="latents/encode.toml", done="latents/index.json",
    parser_ref="vlcp.cli:add_encode", run_ref="vlcp.cli:run_encode", distributed=True, dtype=True,
    sections=(("model", ("path",)),), reported=True, fingerprinted=True))
_declare(Stage(
    "prototypes", "vlcp.prototypes.config:PrototypesConfig", reads=("latents", "captions"), writes=("prototypes",),
    settings_file="prototypes/prototypes.toml", done="prototypes/text_prototypes.json",
    parser_ref="vlcp.prototypes.cli:add_parser", run_ref="vlcp.prototypes.cli:run", reported=True))
_declare(Stage(
    "synthesize", "vlcp.synthesize:synthesize_config_type()", reads=("data", "model", "latents", "prototypes"),
    writes=("distilled",), settings_file="distilled/synthesize.toml", done="distilled/metadata.jsonl",
    parser_ref="vlcp.cli:add_synthesize", run_ref="vlcp.cli:run_synthesize",
    configure_ref="vlcp.cli:synthesize_config", distributed=True, dtype=True, sections=(("model", ("path",)),),
    reported=True, fingerprinted=True))
_declare(Stage(
    "baseline", "vlcp.evaluate.baselines:BaselineConfig", reads=("data", "prototypes"), writes=("baselines",),
    settings_file="baselines/<method>_ipc<ipc>/baseline.toml", done="baselines/<method>_ipc<ipc>/baseline.json",
    parser_ref="vlcp.evaluate.cli:add_baseline_parser", run_ref="vlcp.evaluate.cli:baseline_stage",
    toml=False, run_is_output=False, section_keys=("methods", "ipc", "seed", "feature_model", "feature_epochs"),
    settings_ref="vlcp.run.plan:baseline_section", expand_ref="vlcp.run.plan:baseline_calls"))
_declare(Stage(
    "evaluate", "vlcp.evaluate.evaluation:EvalConfig", reads=("data", "distilled", "baselines"), writes=("eval",),
    settings_file="eval/evaluate.toml", done="eval/results.json",
    parser_ref="vlcp.evaluate.cli:add_evaluate_parser", run_ref="vlcp.evaluate.cli:evaluate_stage",
    configure_ref="vlcp.evaluate.cli:evaluate_config", run_is_output=False,
    settings_ref="vlcp.run.plan:evaluate_settings", reported=True))
_declare(Stage(
    "report", None, reads=("eval", "distilled", "baselines"), writes=("report.html",),
    settings_file="report.toml", done="report.html", parser_ref="vlcp.report:add_parser",
    run_ref="vlcp.cli:run_report", device=False, toml=False, progress=False, section_keys=()))


def stage_names() -> list[str]:
    """Every stage's name in pipeline order."""
    return STAGES.in_order()


def stages() -> list[Stage]:
    """Every stage in pipeline order."""
    return [STAGES.get(name) for name in STAGES.in_order()]


def argv(stage: str, values: dict[str, Any]) -> list[str]:
    """The command line that gives ``stage`` the options ``values`` (what ``vlcp run`` prints)."""
    out = [stage]
    for dest, value in values.items():
        flag = "--" + dest.replace("_", "-")
        if value is False:
            out.append(f"--no-{dest.replace('_', '-')}")
        elif isinstance(value, (list, tuple)):
            out += [flag, *map(str, value)]
        else:
            out += [flag, str(value)]
    return out
