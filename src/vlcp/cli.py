"""Command line: one subcommand per stage. It parses arguments, builds configs, loads models and
datasets, and calls the stage functions — nothing else.

Every subcommand takes ``--run DIR`` (the run folder: captions/, model/, latents/, prototypes/,
distilled/, eval/), ``--config TOML`` (sections ``[data]`` and ``[<stage>]``; options given on the
command line win) and the dataset options of ``DataConfig``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vlcp.data.config import DataConfig
from vlcp.errors import VlcpError
from vlcp.run.plan import apply_overrides  # noqa: F401  (part of the CLI's API since vlcp run had it)
from vlcp.run.progress import add_progress_flag, quiet_third_party
from vlcp.settings.devices import add_device_arg, resolve_device
from vlcp.settings.options import add_config_args, config_from_args, toml_section

DTYPES = ("float32", "float16", "bfloat16")


def _read_size(model) -> int | None:
    """The side training images are read at for ``model``: a diffusers (CLIP-conditioned) model reads
    them at its own resolution (short side resized, centre-cropped); the embedded model at the
    dataset's (its pixel adapter pads 28 -> 32)."""
    from vlcp.models.clip_text import CLIPTextEncoder

    return model.resolution if isinstance(model.text_encoder, CLIPTextEncoder) else None


def _dtype(name: str | None):
    import torch

    return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[name or "float32"]


def _common(p: argparse.ArgumentParser, stage: str, data: bool = True, dtype: str | None = None) -> None:
    """The flags of every stage: --run, --config, --device, --progress, (with ``dtype``) --dtype, the data options."""
    p.add_argument("--run", type=Path, default=Path("runs/latest"), help="run folder (default: runs/latest)")
    p.add_argument("--config", type=Path, default=None, help=f"TOML file; sections [data] and [{stage}]")
    add_device_arg(p)
    if dtype:
        p.add_argument("--dtype", default=None, choices=DTYPES, help=f"model dtype (default: {dtype})")
    add_progress_flag(p)
    if data:
        add_config_args(p, DataConfig)


def _data(args) -> DataConfig:
    """The run's dataset settings, checked against the recorded ones; recorded once they load (``_train_split``)."""
    from vlcp.run.state import check_data_folder, run_data

    given, sources = data_given(args, args.config)
    data = run_data(args.run, given, sources, keep=False)
    check_data_folder(data)
    return data


def _train_split(args, data: DataConfig, resolution: int | None = None):
    """The training split (read at ``resolution``); the run records its dataset only once it has loaded."""
    from vlcp.run.state import keep_data

    train = data.load("train", resolution=resolution)
    keep_data(args.run, data)
    return train


def data_given(args, config_file) -> tuple[dict, dict]:
    """The ``DataConfig`` values this command gives (its TOML ``[data]``, then flags) and where each came from."""
    import dataclasses

    from vlcp.settings.config import from_dict

    given = toml_section(config_file, "data")
    from_dict(DataConfig, dict(given), source=getattr(given, "source", str(config_file)))  # errors name the file
    sources = {k: f"[data] {k} in {config_file}" for k in given}
    for f in dataclasses.fields(DataConfig):
        if getattr(args, f.name, None) is not None:
            given[f.name] = getattr(args, f.name)
            sources[f.name] = "--" + f.name.replace("_", "-")
    return given, sources


def _run_device(args, keep: bool = True) -> str:
    """``--device``, else the run's recorded device, else auto, checked against this machine; the given one
    is recorded (with ``keep``)."""
    from vlcp.run.state import keep_value, run_value

    device = resolve_device(run_value(args.run, "device", args.device, "--device", keep=False))
    if keep and args.device:
        keep_value(args.run, "device", args.device)
    return device


def _model_spec(args) -> str:
    """``--model`` (or ``[model] path``) checked against the run's recorded model; else the recorded one;
    else ``RUN/model`` when trained there, else the embedded default. The result is recorded."""
    from vlcp.run.state import run_value

    given, source = getattr(args, "model", None), "--model"
    if not given and toml_section(args.config, "model").get("path"):
        given, source = toml_section(args.config, "model")["path"], f"[model] path in {args.config}"
    default = str(args.run / "model") if (args.run / "model" / "vlcp_model.json").exists() else "embedded"
    return run_value(args.run, "model", given, source, default, keep=False)


def _load_model(args):
    """The run's model on the run's device; both are recorded once the model has loaded."""
    from vlcp.models import load_model
    from vlcp.run.state import keep_value

    spec, device = _model_spec(args), _run_device(args, keep=False)
    model = load_model(spec, device=device, dtype=_dtype(args.dtype))
    keep_value(args.run, "model", spec)
    if args.device:
        keep_value(args.run, "device", args.device)
    return model


# ---- caption -------------------------------------------------------------------------------------
def _cmd_caption(args) -> int:
    from vlcp.caption import CaptionConfig, caption
    from vlcp.captioners import CAPTIONERS
    from vlcp.run.shards import current_shard

    config = config_from_args(CaptionConfig, args, toml_section(args.config, "caption"))
    options = _captioner_options(args, config.captioner)
    train = _train_split(args, _data(args), resolution=options.get("image_size") or None)  # before any model
    if "device" in _captioner_keys(config.captioner):
        options.setdefault("device", _run_device(args))
    captioner = CAPTIONERS.get(config.captioner)(**options)
    out = caption(train, captioner, args.out or args.run / "captions", config,
                  shard=current_shard(), progress=args.progress, force=args.force)
    print(f"captions: {out}")
    return 0


CAPTIONER_FLAGS = {"captioner_model": ("model", "--captioner-model"), "prompt": ("prompt", "--prompt"),
                   "max_new_tokens": ("max_new_tokens", "--max-new-tokens"), "dtype": ("dtype", "--dtype")}


def _captioner_keys(name: str) -> list[str]:
    from vlcp.settings.tomlcheck import captioner_options

    return captioner_options(name)


def _captioner_options(args, name: str) -> dict:
    """The captioner's options: ``[captioner]``, then the flags (each checked against the captioner's options)."""
    options, known = dict(toml_section(args.config, "captioner")), _captioner_keys(name)
    for dest, (key, flag) in CAPTIONER_FLAGS.items():
        value = getattr(args, dest, None)
        if value is None:
            continue
        if key not in known:
            raise VlcpError(f"{flag}: the {name!r} captioner has no {key!r} option (its options: "
                            f"{', '.join(known) or 'none'}; choose another with --captioner)")
        options[key] = value
    return options


def _add_captioner_flags(p: argparse.ArgumentParser) -> None:
    from vlcp.captioners.llava import DEFAULT_MODEL

    g = p.add_argument_group("captioner options (also [captioner] in the TOML; for the captioners that take them)")
    g.add_argument("--captioner-model", default=None, metavar="MODEL",
                   help=f"llava: a hub id or local folder (default: {DEFAULT_MODEL})")
    g.add_argument("--prompt", default=None, help="llava: the question asked per image, {CLASSNAME} replaced by "
                   "the class name (default: the paper's prompt)")
    g.add_argument("--max-new-tokens", type=int, default=None, metavar="N",
                   help="llava: most tokens generated per caption (default: 256)")


# ---- train ---------------------------------------------------------------------------------------
def _cmd_train(args) -> int:
    import torch

    from vlcp.caption import read_captions
    from vlcp.train import TrainConfig, train

    config = config_from_args(TrainConfig, args, toml_section(args.config, "train"))
    data = _data(args)
    captions = read_captions(args.captions or args.run / "captions" / "metadata.jsonl")
    train_set = _train_split(args, data)  # checked before any model is built
    torch.manual_seed(config.seed)  # the CLI is the one place that seeds globally (model initialisation)
    base = args.base or toml_section(args.config, "train_model").get("base")
    if base:
        from vlcp.models import load_model

        model = load_model(base, device=_run_device(args))
    else:
        if not config.vae_steps:
            raise VlcpError("setting 'vae_steps': without --base, vlcp train builds a new model whose VAE is "
                            "untrained; give --vae-steps N (the embedded recipe: 1000) to train it first, or "
                            "--base MODEL to fine-tune a trained one")
        from vlcp.models.embedded import build_embedded

        model = build_embedded().to(_run_device(args))
    save = None
    if _read_size(model):  # a diffusers model (--base folder or hub id): saved as a diffusers folder
        from vlcp.models.hub import save_stable_diffusion, set_resolution

        if config.model_resolution:
            set_resolution(model, config.model_resolution)
        save = save_stable_diffusion
    elif config.model_resolution:
        raise VlcpError("setting 'model_resolution': only a diffusers model (--base) can change its resolution")
    if _read_size(model):
        train_set = data.load("train", resolution=_read_size(model))
    out = train(model, train_set, captions, args.out or args.run / "model", config, save=save,
                progress=args.progress)
    print(f"model: {out}")
    _announce_model(args, out)
    return 0


def _announce_model(args, trained: Path) -> None:
    """Say which model the run's later stages use: the trained one, unless the run recorded another."""
    from vlcp.run.state import keep_value, read_settings

    recorded = read_settings(args.run)["run"].get("model")
    if recorded is None and _same(trained, args.run / "model"):
        keep_value(args.run, "model", str(trained))
        recorded = str(trained)
    if recorded is not None and _same(recorded, trained):
        print(f"later stages of {args.run} use this model ({trained})")
    elif recorded is not None:
        print(f"note: the run {args.run} keeps using the model it recorded, {recorded} (its latents were made "
              f"with it); to use {trained}, start a new --run")
    else:
        print(f"note: later stages of {args.run} do not pick up {trained} by themselves; give --model {trained} "
              f"to the first of them")


def _same(a, b) -> bool:
    return Path(a).resolve() == Path(b).resolve()


# ---- encode --------------------------------------------------------------------------------------
def _cmd_encode(args) -> int:
    from vlcp.encode import EncodeConfig, encode
    from vlcp.run.shards import current_shard

    config = config_from_args(EncodeConfig, args, toml_section(args.config, "encode"))
    data = _data(args)
    train_set = _train_split(args, data)  # checked before the model loads
    model = _load_model(args)
    if _read_size(model):
        train_set = data.load("train", resolution=_read_size(model))
    store = encode(model, train_set, args.out or args.run / "latents", config,
                   shard=current_shard(), progress=args.progress, force=args.force)
    print(f"latents: {store.root}")
    return 0


# ---- synthesize ----------------------------------------------------------------------------------
def _synthesize_table(args, ipc: int | None):
    """``[synthesize]`` of ``--config`` with its ``[synthesize.protocol.P]`` / ``[synthesize.ipc.N]`` tables applied
    for ``ipc`` (None: the plain and protocol keys only) and the config's ``[evaluate] protocol``
    (``vlcp.settings.keyed``)."""
    from vlcp.evaluate.evaluation import EvalConfig
    from vlcp.settings.keyed import KEYED, resolve_keyed
    from vlcp.settings.options import Section

    table = toml_section(args.config, "synthesize")
    if not any(k in table for k in KEYED):
        return table
    protocol = toml_section(args.config, "evaluate").get("protocol", EvalConfig.protocol)
    values, applied = resolve_keyed(table, ipc, protocol)
    if applied and ipc is not None:
        print(f"synthesize: ipc {ipc}, protocol {protocol}: applied "
              + ", ".join(f"[synthesize.{a}]" for a in applied), flush=True)
    return Section(values, source=table.source)


def _selector(args, config, data):
    """Beyond the paper (candidates > 1): who picks the best candidate, a ConvNet trained on the training split
    or the run's soft-label teacher (``[evaluate]``'s, the same cache file as ``vlcp evaluate``)."""
    from vlcp.samplers.selection import teacher_selector, train_selector

    if config.selector == "teacher":
        from vlcp.evaluate import EvalConfig
        from vlcp.settings.config import from_dict

        section = toml_section(args.config, "evaluate")
        eval_config = from_dict(EvalConfig, {**section, "device": str(_run_device(args))},
                                source=getattr(section, "source", "[evaluate]"))
        return teacher_selector(data, eval_config, cache_dir=args.run)
    return train_selector(data, epochs=config.selector_epochs, seed=config.seed, device=_run_device(args),
                          cache_dir=args.run, progress=args.progress)


def _influence_guide(args, config, data, model):
    """Beyond the paper (influence_guided with influence > 0): surrogate checkpoints trained on the training
    split (cached in the run folder) and their class gradients; else None."""
    from vlcp.synthesize import needs_guide

    if not needs_guide(config):
        return None
    from vlcp.samplers.influence import influence_guide, train_surrogates

    nets = train_surrogates(data, seed=config.seed, device=_run_device(args), cache_dir=args.run,
                            progress=args.progress)
    return influence_guide(data, nets, model.adapter(data.resolution, data.channels), seed=config.seed)  # as trained


def _run_classes(run: Path) -> list[str] | None:
    """The run's class ids in label order, as encode recorded them (``RUN/latents/index.json``), else None."""
    from vlcp.files.latents import LatentStore

    store = LatentStore(run / "latents")
    return store.classes() if store.exists() else None


def _cmd_synthesize(args) -> int:
    from vlcp.run.shards import current_shard
    from vlcp.synthesize import load_prototypes, prototypes_ipc, synthesize, synthesize_config_type

    config_type = synthesize_config_type()  # the built-in samplers' settings and any registered since
    config_from_args(config_type, args, _synthesize_table(args, ipc=None))  # settings checked first
    data = _train_split(args, _data(args))
    prototypes = args.prototypes or args.run / "prototypes"
    classes = _run_classes(args.run)  # every class of the run has prototypes
    load_prototypes(prototypes, classes=classes)  # checked before the model loads
    config = config_from_args(config_type, args, _synthesize_table(args, prototypes_ipc(prototypes)))
    selector = _selector(args, config, data) if config.candidates > 1 else None
    model = _load_model(args)
    guide = _influence_guide(args, config, data, model)
    out = synthesize(model, args.prototypes or args.run / "prototypes", args.out or args.run / "distilled",
                     config, data.resolution, data.channels, shard=current_shard(), progress=args.progress,
                     force=args.force, selector=selector, guide=guide, classes=classes)
    print(f"distilled images: {out}")
    return 0


# ---- run / demo ----------------------------------------------------------------------------------
STAGES = ("caption", "train", "encode", "prototypes", "synthesize", "baseline", "evaluate", "report")
DISTRIBUTED_STAGES = ("caption", "train", "encode", "synthesize")  # each process takes its share
DEVICE_STAGES = ("caption", "train", "encode", "prototypes", "synthesize", "evaluate")  # baseline: below
DTYPE_STAGES = ("caption", "encode", "synthesize")


def _stage_argvs(stage: str, run: Path, config: Path, args, cfg: dict) -> list[list[str]]:
    """The command line(s) ``vlcp run`` gives ``stage`` (baseline: one per method of ``[baseline] methods``)."""
    from vlcp.run.plan import baseline_settings

    base = [stage, "--run", str(run), "--config", str(config)]
    if not args.progress:
        base.append("--no-progress")
    if stage in DEVICE_STAGES and args.device:  # prototypes: strategy 'generated''s language model
        base += ["--device", args.device]
    if stage in DTYPE_STAGES and args.dtype and (stage != "caption" or "dtype" in _captioner_keys(
            cfg.get("caption", {}).get("captioner", "attributes"))):  # the attributes captioner has no model
        base += ["--dtype", args.dtype]
    if stage == "report":
        return [[stage, "--run", str(run)]]
    if stage != "baseline":
        return [base]
    section, settings = cfg.get("baseline", {}), baseline_settings(cfg)
    ipcs = settings["ipc"]
    ipcs = [str(k) for k in (ipcs if isinstance(ipcs, list) else [ipcs])]
    extra = [f"--{k.replace('_', '-')}={section[k]}" for k in ("seed", "feature_model", "feature_epochs")
             if k in section]
    if args.device:
        extra += ["--device", args.device]
    return [["baseline", "--run", str(run), "--method", m, *(["--ipc", *ipcs] if m != "kmeans" else []), *extra,
             *(["--no-progress"] if not args.progress else [])] for m in settings["methods"]]


def _cmd_run(args) -> int:
    import tomli_w

    from vlcp.settings.config import load_toml
    from vlcp.files.atomic import atomic_write_text
    from vlcp.run.plan import check_overrides, resolved_settings
    from vlcp.settings.tomlcheck import check_config

    cfg = apply_overrides(load_toml(args.config_file), args.set)
    check_config(args.config_file if not args.set else f"{args.config_file} with --set", cfg)
    check_overrides(cfg, args.set)
    run = args.run or Path(cfg.get("run", {}).get("dir", "runs/latest"))
    stages = args.stages or cfg.get("run", {}).get("stages", [s for s in STAGES if s in cfg])
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise VlcpError(f"{args.config_file}: unknown stage(s) {unknown}; known: {', '.join(STAGES)}")
    # every stage's settings are checked before any stage runs
    settings = resolved_settings(cfg, stages, str(args.config_file), args.device, args.dtype)
    resolved = run / "run.toml"  # the config as run (overrides applied): every stage reads this copy
    plans = [(stage, _stage_argvs(stage, run, resolved, args, cfg)) for stage in stages]
    if args.dry_run:
        return _dry_run(args, cfg, run, stages, plans, settings)
    from vlcp.run.shards import barrier, current_shard

    shard = current_shard()  # under `accelerate launch`: per-image stages and train split, the rest on rank 0
    if shard.rank == 0:
        atomic_write_text(resolved, tomli_w.dumps(cfg))
    barrier()
    for stage, argvs in plans:
        local = stage in DISTRIBUTED_STAGES or shard.world == 1
        for argv in argvs:
            if local or shard.rank == 0:
                print(f"== vlcp {' '.join(argv)}", flush=True)
                code = main(argv)
            else:
                code = 0
            if not local:
                barrier()
            if code:
                return code
    return 0


def _dry_run(args, cfg: dict, run: Path, stages: list[str], plans, settings: dict) -> int:
    """Print the stages, every stage's resolved settings and the inputs checked now; an input that is missing
    ends in one error line."""
    from vlcp.run.plan import check_inputs, settings_toml

    print(f"# vlcp run {args.config_file}: run folder {run}\n# stages:")
    for _, argvs in plans:
        for argv in argvs:
            print(f"#   vlcp {' '.join(argv)}")
    if "baseline" in stages:
        methods = settings["baseline"]["methods"]
        given = "methods" in cfg.get("baseline", {})
        print(f"# baseline expands to {' + '.join(methods)}"
              + ("" if given else " (the default; choose with [baseline] methods)"))
    print(f"# device: {args.device or 'the run recorded device, else auto'}; model dtype of caption, encode and "
          f"synthesize: {args.dtype or 'float32 (caption: [captioner] dtype)'}")
    print("# resolved settings (defaults filled):\n")
    print(settings_toml(settings))
    checks = check_inputs(settings, stages, run, cfg)
    print("# inputs:")
    for ok, line in checks:
        print(f"#   {'ok     ' if ok else 'MISSING'} {line}")
    problems = [line for ok, line in checks if not ok]
    if problems:
        more = f" (and {len(problems) - 1} more, listed above)" if len(problems) > 1 else ""
        raise VlcpError(f"dry run: {problems[0]}{more}")
    return 0


def _cmd_demo(args) -> int:
    from vlcp.demo import DemoConfig, run_demo

    config = config_from_args(DemoConfig, args)
    run_demo(args.out, config, progress=args.progress)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from vlcp.captioners import CAPTIONERS  # noqa: F401  (fills the registry for --captioner choices)
    from vlcp.caption import CaptionConfig
    from vlcp.encode import EncodeConfig
    from vlcp.synthesize import synthesize_config_type
    from vlcp.train import TrainConfig

    from vlcp.errors.boundary import ArgumentParser

    parser = ArgumentParser(prog="vlcp", description="Dataset distillation via vision-language category prototypes.")
    from vlcp import __version__

    parser.add_argument("--version", action="version", version=f"vlcp {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the Python traceback of an error (any position)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("caption", help="describe every training image (metadata.jsonl)")
    _common(p, "caption", dtype="[captioner] dtype, else the captioner's: llava bf16 on GPUs that have it, fp16 "
                                "on other GPUs, float32 on a CPU")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: RUN/captions)")
    p.add_argument("--force", action="store_true", help="delete captions made from other images or settings and redo")
    add_config_args(p, CaptionConfig)
    _add_captioner_flags(p)
    p.set_defaults(func=_cmd_caption)

    p = sub.add_parser("train", help="train (from scratch) or fine-tune the latent diffusion model")
    _common(p, "train")
    p.add_argument("--captions", type=Path, default=None, help="metadata.jsonl (default: RUN/captions/metadata.jsonl)")
    p.add_argument("--base", default=None, help="model to fine-tune: a diffusers folder or hub id, or a vlcp model "
                   "folder (default: a fresh embedded model trained from scratch)")
    p.add_argument("--out", type=Path, default=None, help="model folder (default: RUN/model)")
    add_config_args(p, TrainConfig)
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("encode", help="encode training images to VAE latents, per class")
    _common(p, "encode", dtype="float32")
    p.add_argument("--model", default=None, help="model: 'embedded', a vlcp model folder, a diffusers folder or hub id "
                   "(default: RUN/model if trained, else embedded)")
    p.add_argument("--out", type=Path, default=None, help="latents folder (default: RUN/latents)")
    p.add_argument("--force", action="store_true", help="delete latents made with other inputs or settings and redo")
    add_config_args(p, EncodeConfig)
    p.set_defaults(func=_cmd_encode)

    from vlcp.prototypes.cli import add_parser as add_prototypes

    add_prototypes(sub)

    p = sub.add_parser("synthesize", help="img2img from image prototypes with text prototypes as prompts")
    _common(p, "synthesize", dtype="float32")
    p.add_argument("--model", default=None, help="model (default: RUN/model if trained, else embedded)")
    p.add_argument("--prototypes", type=Path, default=None, help="prototypes folder (default: RUN/prototypes)")
    p.add_argument("--out", type=Path, default=None, help="output ImageFolder (default: RUN/distilled)")
    p.add_argument("--force", action="store_true", help="delete images made with other inputs or settings and redo")
    add_config_args(p, synthesize_config_type())
    p.set_defaults(func=_cmd_synthesize)

    from vlcp.evaluate.cli import add_parsers as add_evaluate

    add_evaluate(sub)

    from vlcp.report import add_parser as add_report

    add_report(sub)
    sub.choices["report"].set_defaults(func=_report_with_settings(sub.choices["report"].get_default("func")))

    from vlcp.report.contact_sheet import add_parser as add_figure

    add_figure(sub)

    from vlcp.export import add_parser as add_export

    add_export(sub)

    p = sub.add_parser("run", help="run several stages from one TOML config")
    p.add_argument("config_file", type=Path, help="TOML with [run] (dir, stages) and one section per stage")
    p.add_argument("--run", type=Path, default=None, help="run folder (default: [run].dir)")
    p.add_argument("--stages", nargs="+", default=None, choices=STAGES, help="stages to run (default: [run].stages)")
    add_device_arg(p, help="every stage's device: cpu, cuda, cuda:N, mps or auto (default: the run's recorded "
                           "device, else auto)")
    p.add_argument("--dtype", default=None, choices=DTYPES,
                   help="model dtype of caption, encode and synthesize (default: each stage's)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one setting of the config (value in TOML syntax; repeatable), "
                        "e.g. --set synthesize.steps=25 --set data.num_classes=3")
    p.add_argument("--dry-run", action="store_true",
                   help="print the stages, every stage's resolved settings (defaults filled) and the inputs checked "
                        "now (data folder, weights present or to be downloaded); run nothing")
    add_progress_flag(p)
    p.set_defaults(func=_cmd_run)

    from vlcp.demo import DemoConfig

    p = sub.add_parser("demo", help="the whole method on Fashion-MNIST, offline, on a CPU")
    p.add_argument("--out", "--run", dest="out", type=Path, default=None,
                   help="run folder (default: a new folder under ./runs/)")
    add_progress_flag(p)
    add_config_args(p, DemoConfig)
    p.set_defaults(func=_cmd_demo)
    parser.stage_parsers = sub.choices  # for argument errors named by their stage (main)
    return parser


def _report_with_settings(report_func):
    """``vlcp report`` that also writes ``report.toml`` (the runs and the page) beside the page."""
    def run_report(args) -> int:
        import tomli_w

        from vlcp.files.atomic import atomic_write_text

        code = report_func(args)
        runs = [str(r) for r in (args.runs or [args.run])]
        out = args.out or (Path("comparison.html") if len(runs) > 1 else Path(runs[0]) / "report.html")
        if code == 0:
            atomic_write_text(out.parent / "report.toml", tomli_w.dumps({"report": {"runs": runs, "out": str(out)}}))
        return code

    return run_report


def _dispatch(args) -> int:
    """Call the subcommand; a stage that writes into a run folder records how long it took there."""
    import time

    from vlcp.run.progress import is_main_process
    from vlcp.run.state import check_times, record_time

    run = getattr(args, "run", None)
    timed = args.command in STAGES and is_main_process()  # one record per stage under a multi-process launch
    if timed and isinstance(run, Path) and run.is_dir():
        check_times(run)  # a damaged times.json is said and started afresh before the stage, not after it
    started = time.monotonic()
    code = int(args.func(args) or 0)
    run = getattr(args, "run", None)
    if code == 0 and timed and isinstance(run, Path) and run.is_dir():
        record_time(run, args.command, time.monotonic() - started)
    return code


def _output_folders(args) -> list[tuple[Path, str]]:
    """(folder, option) pairs this command will write, checked before work starts."""
    out = []
    run = getattr(args, "run_folder", None) or getattr(args, "run", None)  # export: RUN or --run
    if run is not None and args.command not in ("evaluate", "baseline", "run"):
        out.append((run, "--run"))
    target = getattr(args, "out", None)
    if args.command == "evaluate" and target is None and getattr(args, "folders", None):
        target = args.folders[0].resolve().parent
    if target is not None:
        out.append((target.parent if args.command == "report" else target, "--out"))
    return out


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The parsed command line; an argument error is one line naming the stage (``vlcp <stage>: error: …``, exit 2)."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        parser.stage_parsers[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the command; failures end in one line and exit code 2 (see ``vlcp.errors.boundary``)."""
    from vlcp.errors.boundary import check_writable, debug_requested, run_guarded

    quiet_third_party()
    argv, debug = debug_requested(list(sys.argv[1:] if argv is None else argv))
    try:
        args = parse_args(argv)
    except SystemExit as e:  # --help, --version (0) and argument errors (2, one line already printed)
        return e.code if isinstance(e.code, int) else 2
    folders = _output_folders(args)

    def work() -> int:
        if getattr(args, "device", None):  # one device check, before any stage work
            resolve_device(args.device)
        for folder, option in folders:
            check_writable(folder, option)
        return _dispatch(args)

    return run_guarded(args.command, work, debug=debug, where=folders[-1][0] if folders else None)


if __name__ == "__main__":
    raise SystemExit(main())
