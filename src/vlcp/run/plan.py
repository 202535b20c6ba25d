"""What ``vlcp run`` will do: the config with ``--set`` applied (values read as TOML where they are
given), every stage's resolved settings (defaults filled) and the inputs it can check without running
anything — the data folder, and the weights each stage needs (present, in the Hugging Face cache, or
to be downloaded). ``vlcp run --dry-run`` prints them; a real run validates the settings first.
"""
from __future__ import annotations

import copy
import dataclasses
import inspect
import os
import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from vlcp.errors import VlcpError
from vlcp.run.stages import STAGES, load, stages as all_stages
from vlcp.settings.keyed import resolve_keyed

DEFAULT_BASELINES = ("random", "kmeans")
_TOML_OPENERS = ('[', '{', '"', "'")


def apply_overrides(cfg: dict, overrides: list[str]) -> dict:
    """``section.key=value`` overrides applied to a copy of ``cfg``. A value is read as TOML; one that is
    not TOML is a plain string (``--set data.data_dir=/data/x``) unless it opens like TOML (``[``, ``{``,
    a quote): then it is an error naming the ``--set``."""
    out = copy.deepcopy(cfg)
    for item in overrides:
        section, name, value = _split(item)
        try:
            parsed = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError as e:
            if value.strip().startswith(_TOML_OPENERS):
                why = str(e).split(" (at ")[0]
                raise VlcpError(f"--set {item}: {value.strip()!r} is not a TOML value ({why}); write a list as "
                                f"[1, 2] and a string in quotes, e.g. --set '{section}.{name}=\"text\"'") from None
            parsed = value
        out.setdefault(section, {})[name] = parsed
    return out


def _split(item: str) -> tuple[str, str, str]:
    key, sep, value = item.partition("=")
    section, dot, name = key.strip().partition(".")
    if not sep or not dot or not section or not name:
        raise VlcpError(f"--set {item!r}: expected section.key=value (e.g. --set synthesize.steps=25)")
    return section, name.strip(), value


def check_overrides(cfg: dict, overrides: list[str]) -> None:
    """Each ``--set`` value checked against its setting's type, naming the ``--set`` (not the config file)."""
    from vlcp.settings.config import check_type
    from vlcp.settings.tomlcheck import _config_classes

    classes = {**_config_classes(), "baseline": lambda: _baseline_class()}
    for item in overrides:
        section, name, _ = _split(item)
        if section not in classes:
            continue
        fields = {f.name: f.type for f in dataclasses.fields(classes[section]())}
        if name in fields and not (section == "baseline" and name == "ipc"):
            check_type(name, cfg[section][name], fields[name], source=f"--set {item}")


def _baseline_class():
    from vlcp.evaluate.baselines import BaselineConfig

    return BaselineConfig


# ---- resolved settings ---------------------------------------------------------------------------
def _full(config: Any) -> dict:
    """Every field of a config dataclass (None kept, tuples as lists, paths as strings)."""
    out = {}
    for f in dataclasses.fields(config):
        v = getattr(config, f.name)
        out[f.name] = list(v) if isinstance(v, tuple) else (str(v) if isinstance(v, Path) else v)
    return out


def captioner_defaults(name: str) -> dict:
    """The captioner ``name``'s options with their defaults (its constructor's signature)."""
    from vlcp.captioners import CAPTIONERS

    params = inspect.signature(CAPTIONERS.get(name)).parameters.values()
    return {p.name: (None if p.default is inspect.Parameter.empty else p.default) for p in params
            if p.kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)}


def resolved_settings(cfg: dict, stages: list[str], source: str, device: str | None = None,
                      dtype: str | None = None) -> dict[str, dict]:
    """``{section: settings}`` for ``[data]`` and each stage, defaults filled (raises on a bad value);
    ``device`` / ``dtype``: ``vlcp run``'s flags, which the stages take over their TOML values."""
    from vlcp.settings.config import from_dict
    from vlcp.settings.tomlcheck import _config_classes

    classes = _config_classes()

    def build(section: str) -> dict:
        table = dict(cfg.get(section, {}))
        if section == "synthesize":  # the run's IPC and protocol pick its keyed tables (vlcp.settings.keyed)
            table = resolve_keyed(table, cfg.get("prototypes", {}).get("ipc", classes["prototypes"]().ipc),
                                  cfg.get("evaluate", {}).get("protocol", classes["evaluate"]().protocol))[0]
        return _full(from_dict(classes[section](), table, source=f"{source} [{section}]"))

    out = {"data": build("data")}
    for name in stages:
        stage = STAGES.get(name)
        if name in classes:
            out[name] = build(name)
        if stage.settings_ref:  # what else the stage resolves (captioner options, base model, methods …)
            out.update(load(stage.settings_ref)(cfg, out, device, dtype))
    return out


def captioner_settings(cfg: dict, settings: dict, device: str | None, dtype: str | None) -> dict:
    """The caption stage's ``[captioner]``: the captioner's options with defaults, the run's device and dtype."""
    options = {**captioner_defaults(settings["caption"]["captioner"]), **cfg.get("captioner", {})}
    if "device" in options and "device" not in cfg.get("captioner", {}):
        options["device"] = device or "auto"  # the run's device
    if dtype and "dtype" in options:
        options["dtype"] = dtype
    return {"captioner": options}


def captioner_takes_dtype(cfg: dict) -> bool:
    """Whether the config's captioner has a ``dtype`` option (the attributes captioner has no model)."""
    from vlcp.settings.tomlcheck import captioner_options

    return "dtype" in captioner_options(cfg.get("caption", {}).get("captioner", "attributes"))


def evaluate_settings(cfg: dict, settings: dict, device: str | None, dtype: str | None) -> dict:
    """The evaluate stage's device: ``vlcp run --device`` over ``[evaluate] device``."""
    return {"evaluate": {**settings["evaluate"], "device": device}} if device else {}


def train_model_settings(cfg: dict, settings: dict, device: str | None, dtype: str | None) -> dict:
    """The train stage's ``[train_model] base`` (None: a new embedded model)."""
    return {"train_model": {"base": cfg.get("train_model", {}).get("base")}}


def baseline_section(cfg: dict, settings: dict, device: str | None, dtype: str | None) -> dict:
    """The baseline stage's settings (``baseline_settings``)."""
    return {"baseline": baseline_settings(cfg)}


def baseline_calls(cfg: dict) -> list[dict[str, Any]]:
    """The options of each ``vlcp baseline`` call ``vlcp run`` makes: one per method of ``[baseline] methods``
    (kmeans takes no IPC: it decodes every centroid of the run's prototypes)."""
    section, settings = cfg.get("baseline", {}), baseline_settings(cfg)
    ipcs = settings["ipc"] if isinstance(settings["ipc"], list) else [settings["ipc"]]
    extra = {k: section[k] for k in ("seed", "feature_model", "feature_epochs") if k in section}
    return [{"method": m, **({"ipc": list(ipcs)} if m != "kmeans" else {}), **extra} for m in settings["methods"]]


def baseline_settings(cfg: dict) -> dict:
    """``[baseline]`` with its defaults: methods (random + kmeans), ipc (the prototypes'), seed, features."""
    base = _full(_baseline_class()())
    section = cfg.get("baseline", {})
    ipc = section.get("ipc", cfg.get("prototypes", {}).get("ipc", 10))
    return {"methods": list(section.get("methods", DEFAULT_BASELINES)), "ipc": ipc,
            **{k: section.get(k, base[k]) for k in ("seed", "feature_model", "feature_epochs")}}


def settings_toml(settings: dict[str, dict]) -> str:
    """The settings as TOML; a setting that is not set (None) shows as a comment."""
    parts = []
    for section, values in settings.items():
        given = {k: v for k, v in values.items() if v is not None}
        text = tomli_w.dumps({section: given}) if given else f"[{section}]\n"
        unset = [f"# {k} = (not set)" for k, v in values.items() if v is None]
        parts.append(text.rstrip("\n") + ("\n" + "\n".join(unset) if unset else ""))
    return "\n\n".join(parts) + "\n"


# ---- input checks --------------------------------------------------------------------------------
def check_inputs(settings: dict[str, dict], stages: list[str], run: Path, cfg: dict) -> list[tuple[bool, str]]:
    """``(ok, line)`` for each input the run needs that can be checked now: the data, then the weights."""
    lines = [_check_data(settings["data"])]
    for what, spec, kind in _weights(settings, stages, run, cfg):
        lines.append(_check_weights(what, spec, kind))
    return lines


def _check_data(values: dict) -> tuple[bool, str]:
    from vlcp.data.config import DataConfig
    from vlcp.run.state import check_data_folder

    data = DataConfig(**values)
    try:
        check_data_folder(data)
        train = data.load("train")
    except VlcpError as e:
        return False, f"data: {e}"
    return True, f"data: {data.data_dir or 'Debian Fashion-MNIST'} ({len(train)} training images, " \
                 f"{len(train.classes)} classes)"


def _weights(settings: dict, stages: list[str], run: Path, cfg: dict) -> list[tuple[str, str, str]]:
    """(what, spec, kind) of the weights each stage loads; kind: the file a hub repo of it holds."""
    out = []
    if "caption" in stages and settings["caption"]["captioner"] != "attributes":
        model = settings["captioner"].get("model")
        if model:
            out.append((f"caption: captioner {settings['caption']['captioner']!r}", str(model), "config.json"))
    if "train" in stages and settings["train_model"]["base"]:
        out.append(("train: base model", str(settings["train_model"]["base"]), "model_index.json"))
    if any("model" in STAGES.get(s).reads for s in stages):  # a stage that loads the run's model
        what = "/".join(s.name for s in all_stages() if "model" in s.reads) + ": model"
        model = cfg.get("model", {}).get("path")
        if model is None and "train" in stages:
            out.append((what, f"{run / 'model'} (made by the train stage)", "made"))
        else:
            out.append((what, str(model or "embedded"), "model_index.json"))
    if "prototypes" in stages and settings["prototypes"].get("strategy") == "generated":
        model = settings["prototypes"].get("generator_model")
        if model:
            out.append(("prototypes: sentence generator", str(model), "config.json"))
    return out


def _check_weights(what: str, spec: str, kind: str) -> tuple[bool, str]:
    from vlcp.models import EMBEDDED, _looks_local

    if kind == "made":
        return True, f"{what}: {spec}"
    if spec == EMBEDDED:
        return True, f"{what}: embedded (committed with vlcp)"
    if _looks_local(spec):
        if Path(spec).expanduser().exists():
            return True, f"{what}: {spec} (local folder)"
        return False, f"{what}: {spec}: model folder not found"
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(spec, kind), str):
        return True, f"{what}: {spec} (in the Hugging Face cache)"
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return False, (f"{what}: {spec}: must be present, but it is not in the Hugging Face cache and "
                       f"HF_HUB_OFFLINE is set (download it first: huggingface-cli download {spec}; or give a "
                       f"local folder)")
    return True, f"{what}: {spec} (not in the Hugging Face cache: will be downloaded from the hub)"
