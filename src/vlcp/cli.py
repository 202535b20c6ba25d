"""Command line: one subcommand per stage of the stages' table (``vlcp.run.stages``). It parses arguments,
builds configs, resolves the run's data, model and device (``vlcp.run.context.RunContext``) and calls the
stage functions — nothing else.

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
from vlcp.run import stages as table
from vlcp.run.context import DTYPES, RunContext
from vlcp.run.plan import apply_overrides  # noqa: F401  (part of the CLI's API since vlcp run had it)
from vlcp.run.progress import add_progress_flag, quiet_third_party
from vlcp.settings.devices import add_device_arg, resolve_device
from vlcp.settings.options import add_config_args, config_from_args

STAGES = tuple(table.stage_names())  # the stages' names in pipeline order (declared in vlcp.run.stages)


def _read_size(model) -> int | None:
    """The side training images are read at for ``model``: a diffusers (CLIP-conditioned) model reads
    them at its own resolution (short side resized, centre-cropped); the embedded model at the
    dataset's (its pixel adapter pads 28 -> 32)."""
    from vlcp.models.clip_text import CLIPTextEncoder

    return model.resolution if isinstance(model.text_encoder, CLIPTextEncoder) else None


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


# the run's data, model and device: RunContext's, called through these names (tests replace them)
def _data(ctx: RunContext) -> DataConfig:
    return ctx.data()


def _train_split(ctx: RunContext, data: DataConfig, resolution: int | None = None):
    return ctx.train_split(data, resolution)


def _load_model(ctx: RunContext):
    return ctx.load_model()


# ---- caption -------------------------------------------------------------------------------------
def add_caption(sub) -> None:
    """``vlcp caption``'s subcommand and arguments."""
    from vlcp.caption import CaptionConfig
    from vlcp.captioners import CAPTIONERS  # noqa: F401  (fills the registry for --captioner choices)

    p = sub.add_parser("caption", help="describe every training image (metadata.jsonl)")
    _common(p, "caption", dtype="[captioner] dtype, else the captioner's: llava bf16 on GPUs that have it, fp16 "
                                "on other GPUs, float32 on a CPU")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: RUN/captions)")
    p.add_argument("--force", action="store_true", help="delete captions made from other images or settings and redo")
    add_config_args(p, CaptionConfig)
    _add_captioner_flags(p)


def run_caption(ctx: RunContext, config) -> int:
    """The caption stage with ``config`` on the run's training split and captioner."""
    from vlcp.caption import caption
    from vlcp.captioners import CAPTIONERS
    from vlcp.run.shards import current_shard

    options = _captioner_options(ctx, config.captioner)
    train = _train_split(ctx, _data(ctx), resolution=options.get("image_size") or None)  # before any model
    if "device" in _captioner_keys(config.captioner):
        options.setdefault("device", ctx.device())
    captioner = CAPTIONERS.get(config.captioner)(**options)
    out = caption(train, captioner, ctx.path("out", "captions"), config,
                  shard=current_shard(), progress=ctx.progress, force=ctx.force)
    print(f"captions: {out}")
    return 0


CAPTIONER_FLAGS = {"captioner_model": ("model", "--captioner-model"), "prompt": ("prompt", "--prompt"),
                   "max_new_tokens": ("max_new_tokens", "--max-new-tokens"), "dtype": ("dtype", "--dtype")}


def _captioner_keys(name: str) -> list[str]:
    from vlcp.settings.tomlcheck import captioner_options

    return captioner_options(name)


def _captioner_options(ctx: RunContext, name: str) -> dict:
    """The captioner's options: ``[captioner]``, then the flags (each checked against the captioner's options)."""
    options, known = dict(ctx.section("captioner")), _captioner_keys(name)
    for dest, (key, flag) in CAPTIONER_FLAGS.items():
        value = ctx.flag(dest)
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
def add_train(sub) -> None:
    """``vlcp train``'s subcommand and arguments."""
    from vlcp.train import TrainConfig

    p = sub.add_parser("train", help="train (from scratch) or fine-tune the latent diffusion model")
    _common(p, "train")
    p.add_argument("--captions", type=Path, default=None, help="metadata.jsonl (default: RUN/captions/metadata.jsonl)")
    p.add_argument("--base", default=None, help="model to fine-tune: a diffusers folder or hub id, or a vlcp model "
                   "folder (default: a fresh embedded model trained from scratch)")
    p.add_argument("--out", type=Path, default=None, help="model folder (default: RUN/model)")
    add_config_args(p, TrainConfig)


def run_train(ctx: RunContext, config) -> int:
    """The train stage with ``config``: a new embedded model, or ``--base`` fine-tuned, on the run's data."""
    import torch

    from vlcp.caption import read_captions
    from vlcp.train import train

    data = _data(ctx)
    captions = read_captions(ctx.path("captions", "captions/metadata.jsonl"))
    train_set = _train_split(ctx, data)  # checked before any model is built
    torch.manual_seed(config.seed)  # the CLI is the one place that seeds globally (model initialisation)
    model = _train_model(ctx, config)
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
    out = train(model, train_set, captions, ctx.path("out", "model"), config, save=save, progress=ctx.progress)
    print(f"model: {out}")
    _announce_model(ctx.run, out)
    return 0


def _train_model(ctx: RunContext, config):
    """The model to train: ``--base`` (or ``[train_model] base``) loaded, else a new embedded model."""
    base = ctx.flag("base") or ctx.section("train_model").get("base")
    if base:
        from vlcp.models import load_model

        return load_model(base, device=ctx.device())
    if not config.vae_steps:
        raise VlcpError("setting 'vae_steps': without --base, vlcp train builds a new model whose VAE is "
                        "untrained; give --vae-steps N (the embedded recipe: 1000) to train it first, or "
                        "--base MODEL to fine-tune a trained one")
    from vlcp.models.embedded import build_embedded

    return build_embedded().to(ctx.device())


def _announce_model(run: Path, trained: Path) -> None:
    """Say which model the run's later stages use: the trained one, unless the run recorded another."""
    from vlcp.run.state import keep_value, read_settings

    recorded = read_settings(run)["run"].get("model")
    if recorded is None and _same(trained, run / "model"):
        keep_value(run, "model", str(trained))
        recorded = str(trained)
    if recorded is not None and _same(recorded, trained):
        print(f"later stages of {run} use this model ({trained})")
    elif recorded is not None:
        print(f"note: the run {run} keeps using the model it recorded, {recorded} (its latents were made "
              f"with it); to use {trained}, start a new --run")
    else:
        print(f"note: later stages of {run} do not pick up {trained} by themselves; give --model {trained} "
              f"to the first of them")


def _same(a, b) -> bool:
    return Path(a).resolve() == Path(b).resolve()


# ---- encode --------------------------------------------------------------------------------------
def add_encode(sub) -> None:
    """``vlcp encode``'s subcommand and arguments."""
    from vlcp.encode import EncodeConfig

    p = sub.add_parser("encode", help="encode training images to VAE latents, per class")
    _common(p, "encode", dtype="float32")
    p.add_argument("--model", default=None, help="model: 'embedded', a vlcp model folder, a diffusers folder or hub id "
                   "(default: RUN/model if trained, else embedded)")
    p.add_argument("--out", type=Path, default=None, help="latents folder (default: RUN/latents)")
    p.add_argument("--force", action="store_true", help="delete latents made with other inputs or settings and redo")
    add_config_args(p, EncodeConfig)


def run_encode(ctx: RunContext, config) -> int:
    """The encode stage with ``config``: the run's training split through the run's model's VAE."""
    from vlcp.encode import encode
    from vlcp.run.shards import current_shard

    data = _data(ctx)
    train_set = _train_split(ctx, data)  # checked before the model loads
    model = _load_model(ctx)
    if _read_size(model):
        train_set = data.load("train", resolution=_read_size(model))
    store = encode(model, train_set, ctx.path("out", "latents"), config,
                   shard=current_shard(), progress=ctx.progress, force=ctx.force)
    print(f"latents: {store.root}")
    return 0


# ---- synthesize ----------------------------------------------------------------------------------
def add_synthesize(sub) -> None:
    """``vlcp synthesize``'s subcommand and arguments (every registered sampler's settings)."""
    from vlcp.synthesize import synthesize_config_type

    p = sub.add_parser("synthesize", help="img2img from image prototypes with text prototypes as prompts")
    _common(p, "synthesize", dtype="float32")
    p.add_argument("--model", default=None, help="model (default: RUN/model if trained, else embedded)")
    p.add_argument("--prototypes", type=Path, default=None, help="prototypes folder (default: RUN/prototypes)")
    p.add_argument("--out", type=Path, default=None, help="output ImageFolder (default: RUN/distilled)")
    p.add_argument("--force", action="store_true", help="delete images made with other inputs or settings and redo")
    add_config_args(p, synthesize_config_type())


def _synthesize_table(ctx: RunContext, ipc: int | None):
    """``[synthesize]`` of ``--config`` with its ``[synthesize.protocol.P]`` / ``[synthesize.ipc.N]`` tables applied
    for ``ipc`` (None: the plain and protocol keys only) and the config's ``[evaluate] protocol``
    (``vlcp.settings.keyed``)."""
    from vlcp.evaluate.evaluation import EvalConfig
    from vlcp.settings.keyed import KEYED, resolve_keyed
    from vlcp.settings.options import Section

    table_ = ctx.section("synthesize")
    if not any(k in table_ for k in KEYED):
        return table_
    protocol = ctx.section("evaluate").get("protocol", EvalConfig.protocol)
    values, applied = resolve_keyed(table_, ipc, protocol)
    if applied and ipc is not None:
        print(f"synthesize: ipc {ipc}, protocol {protocol}: applied "
              + ", ".join(f"[synthesize.{a}]" for a in applied), flush=True)
    return Section(values, source=table_.source)


def synthesize_config(ctx: RunContext):
    """The synthesize settings before the prototypes are read (their IPC's keyed tables not yet applied)."""
    from vlcp.synthesize import synthesize_config_type

    # the built-in samplers' settings and any registered since
    return config_from_args(synthesize_config_type(), ctx.flags, _synthesize_table(ctx, ipc=None))


def _selector(ctx: RunContext, config, data):
    """Beyond the paper (candidates > 1): who picks the best candidate, a ConvNet trained on the training split
    or the run's soft-label teacher (``[evaluate]``'s, the same cache file as ``vlcp evaluate``)."""
    from vlcp.samplers.selection import teacher_selector, train_selector

    if config.selector == "teacher":
        from vlcp.evaluate import EvalConfig
        from vlcp.settings.config import from_dict

        section = ctx.section("evaluate")
        eval_config = from_dict(EvalConfig, {**section, "device": str(ctx.device())},
                                source=getattr(section, "source", "[evaluate]"))
        return teacher_selector(data, eval_config, cache_dir=ctx.run)
    return train_selector(data, epochs=config.selector_epochs, seed=config.seed, device=ctx.device(),
                          cache_dir=ctx.run, progress=ctx.progress)


def _influence_guide(ctx: RunContext, config, data, model):
    """Beyond the paper (influence_guided with influence > 0): surrogate checkpoints trained on the training
    split (cached in the run folder) and their class gradients; else None."""
    from vlcp.synthesize import needs_guide

    if not needs_guide(config):
        return None
    from vlcp.samplers.influence import influence_guide, train_surrogates

    nets = train_surrogates(data, seed=config.seed, device=ctx.device(), cache_dir=ctx.run, progress=ctx.progress)
    return influence_guide(data, nets, model.adapter(data.resolution, data.channels), seed=config.seed)  # as trained


def _run_classes(run: Path) -> list[str] | None:
    """The run's class ids in label order, as encode recorded them (``RUN/latents/index.json``), else None."""
    from vlcp.files.latents import LatentStore

    store = LatentStore(run / "latents")
    return store.classes() if store.exists() else None


def run_synthesize(ctx: RunContext, config) -> int:
    """The synthesize stage: the prototypes read, ``config`` redone with their IPC's keyed tables, images made."""
    from vlcp.run.shards import current_shard
    from vlcp.synthesize import load_prototypes, prototypes_ipc, synthesize, synthesize_config_type

    data = _train_split(ctx, _data(ctx))
    prototypes = ctx.path("prototypes", "prototypes")
    classes = _run_classes(ctx.run)  # every class of the run has prototypes
    load_prototypes(prototypes, classes=classes)  # checked before the model loads
    config = config_from_args(synthesize_config_type(), ctx.flags, _synthesize_table(ctx, prototypes_ipc(prototypes)))
    selector = _selector(ctx, config, data) if config.candidates > 1 else None
    model = _load_model(ctx)
    guide = _influence_guide(ctx, config, data, model)
    out = synthesize(model, prototypes, ctx.path("out", "distilled"), config, data.resolution, data.channels,
                     shard=current_shard(), progress=ctx.progress, force=ctx.force, selector=selector, guide=guide,
                     classes=classes)
    print(f"distilled images: {out}")
    return 0


# ---- report --------------------------------------------------------------------------------------
def run_report(ctx: RunContext, config: None) -> int:
    """``vlcp report`` (its own command), then ``report.toml`` (the runs and the page) beside the page."""
    import tomli_w

    from vlcp.files.atomic import atomic_write_text

    args = ctx.flags
    code = args.func(args)
    runs = [str(r) for r in (args.runs or [args.run])]
    out = args.out or (Path("comparison.html") if len(runs) > 1 else Path(runs[0]) / "report.html")
    if code == 0:
        atomic_write_text(out.parent / "report.toml", tomli_w.dumps({"report": {"runs": runs, "out": str(out)}}))
    return code


# ---- run / demo ----------------------------------------------------------------------------------
def _stage_argvs(stage: str, run: Path, config: Path, args, cfg: dict) -> list[list[str]]:
    """The command line(s) ``vlcp run`` shows for ``stage`` (baseline: one per method of ``[baseline] methods``)."""
    calls = table.STAGES.get(stage).invocations(cfg, run, config, args.device, args.dtype, args.progress)
    return [table.argv(stage, values) for values in calls]


def _cmd_run(args) -> int:
    import tomli_w

    from vlcp.files.atomic import atomic_write_text
    from vlcp.run.plan import check_overrides, resolved_settings
    from vlcp.run.shards import barrier, current_shard
    from vlcp.settings.config import load_toml
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
    plans = [(stage, table.STAGES.get(stage).invocations(cfg, run, resolved, args.device, args.dtype, args.progress))
             for stage in stages]
    if args.dry_run:
        return _dry_run(args, cfg, run, stages, plans, settings)
    shard = current_shard()  # under `accelerate launch`: per-image stages and train split, the rest on rank 0
    if shard.rank == 0:
        atomic_write_text(resolved, tomli_w.dumps(cfg))
    barrier()
    return _run_plans(plans, shard)


def _run_plans(plans, shard) -> int:
    """Each stage's calls in order, each through the stage's own error boundary; the first failing code."""
    from vlcp.errors.boundary import debug_requested
    from vlcp.run.shards import barrier

    parsers, debug = build_parser().stage_parsers, debug_requested([])[1]
    for stage, calls in plans:
        local = table.STAGES.get(stage).distributed or shard.world == 1
        for values in calls:
            code = 0
            if local or shard.rank == 0:
                print(f"== vlcp {' '.join(table.argv(stage, values))}", flush=True)
                args = parsers[stage].parse_args([])  # the stage's defaults, then the run's values
                vars(args).update(values, command=stage)
                code = _guarded(args, debug)
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
    for stage, calls in plans:
        for values in calls:
            print(f"#   vlcp {' '.join(table.argv(stage, values))}")
    if "baseline" in stages:
        methods = settings["baseline"]["methods"]
        given = "methods" in cfg.get("baseline", {})
        print(f"# baseline expands to {' + '.join(methods)}"
              + ("" if given else " (the default; choose with [baseline] methods)"))
    dtyped = ", ".join(s.name for s in table.stages() if s.dtype)
    print(f"# device: {args.device or 'the run recorded device, else auto'}; model dtype of {_and(dtyped)}: "
          f"{args.dtype or 'float32 (caption: [captioner] dtype)'}")
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


def _and(names: str) -> str:
    """``"a, b, c"`` as ``"a, b and c"``."""
    head, _, last = names.rpartition(", ")
    return f"{head} and {last}" if head else last


def _cmd_demo(args) -> int:
    from vlcp.demo import DemoConfig, run_demo

    config = config_from_args(DemoConfig, args)
    run_demo(args.out, config, progress=args.progress)
    return 0


def _add_run(sub) -> None:
    """``vlcp run``: several stages from one TOML config."""
    dtyped = _and(", ".join(s.name for s in table.stages() if s.dtype))
    p = sub.add_parser("run", help="run several stages from one TOML config")
    p.add_argument("config_file", type=Path, help="TOML with [run] (dir, stages) and one section per stage")
    p.add_argument("--run", type=Path, default=None, help="run folder (default: [run].dir)")
    p.add_argument("--stages", nargs="+", default=None, choices=STAGES, help="stages to run (default: [run].stages)")
    add_device_arg(p, help="every stage's device: cpu, cuda, cuda:N, mps or auto (default: the run's recorded "
                           "device, else auto)")
    p.add_argument("--dtype", default=None, choices=DTYPES,
                   help=f"model dtype of {dtyped} (default: each stage's)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one setting of the config (value in TOML syntax; repeatable), "
                        "e.g. --set synthesize.steps=25 --set data.num_classes=3")
    p.add_argument("--dry-run", action="store_true",
                   help="print the stages, every stage's resolved settings (defaults filled) and the inputs checked "
                        "now (data folder, weights present or to be downloaded); run nothing")
    add_progress_flag(p)
    p.set_defaults(func=_cmd_run)


def _add_demo(sub) -> None:
    """``vlcp demo``: the embedded preset end to end."""
    from vlcp.demo import DemoConfig

    p = sub.add_parser("demo", help="the whole method on Fashion-MNIST, offline, on a CPU")
    p.add_argument("--out", "--run", dest="out", type=Path, default=None,
                   help="run folder (default: a new folder under ./runs/)")
    add_progress_flag(p)
    add_config_args(p, DemoConfig)
    p.set_defaults(func=_cmd_demo)


def build_parser() -> argparse.ArgumentParser:
    """The ``vlcp`` parser: every stage of the table (its own arguments), then figure, export, run, demo."""
    from vlcp import __version__
    from vlcp.errors.boundary import ArgumentParser
    from vlcp.export import add_parser as add_export
    from vlcp.report.contact_sheet import add_parser as add_figure

    parser = ArgumentParser(prog="vlcp", description="Dataset distillation via vision-language category prototypes.")
    parser.add_argument("--version", action="version", version=f"vlcp {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the Python traceback of an error (any position)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for stage in table.stages():
        stage.add_to(sub)
    for add in (add_figure, add_export, _add_run, _add_demo):
        add(sub)
    parser.stage_parsers = sub.choices  # for argument errors named by their stage (main)
    return parser


def _dispatch(args) -> int:
    """Call the subcommand (a stage: configured and run through the table); a stage that writes into a run
    folder records how long it took there."""
    import time

    from vlcp.run.progress import is_main_process
    from vlcp.run.state import check_times, record_time

    stage = table.STAGES.get(args.command) if args.command in table.STAGES else None
    run = getattr(args, "run", None)
    timed = stage is not None and is_main_process()  # one record per stage under a multi-process launch
    if timed and isinstance(run, Path) and run.is_dir():
        check_times(run)  # a damaged times.json is said and started afresh before the stage, not after it
    started = time.monotonic()
    code = stage.execute(RunContext(args)) if stage is not None else int(args.func(args) or 0)
    run = getattr(args, "run", None)
    if code == 0 and timed and isinstance(run, Path) and run.is_dir():
        record_time(run, args.command, time.monotonic() - started)
    return code


def _output_folders(args) -> list[tuple[Path, str]]:
    """(folder, option) pairs this command will write, checked before work starts."""
    out = []
    run = getattr(args, "run_folder", None) or getattr(args, "run", None)  # export: RUN or --run
    stage = table.STAGES.get(args.command) if args.command in table.STAGES else None
    if run is not None and args.command != "run" and (stage is None or stage.run_is_output):
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


def _guarded(args: argparse.Namespace, debug: bool) -> int:
    """Run the parsed command behind the error boundary: the device and output folders checked first."""
    from vlcp.errors.boundary import check_writable, run_guarded

    folders = _output_folders(args)

    def work() -> int:
        if getattr(args, "device", None):  # one device check, before any stage work
            resolve_device(args.device)
        for folder, option in folders:
            check_writable(folder, option)
        return _dispatch(args)

    return run_guarded(args.command, work, debug=debug, where=folders[-1][0] if folders else None)


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the command; failures end in one line and exit code 2 (see ``vlcp.errors.boundary``)."""
    from vlcp.errors.boundary import debug_requested
    from vlcp.run.memory import keep_freed_memory

    keep_freed_memory()  # the process's allocator, set once here like the global seed (vlcp.run.memory)
    quiet_third_party()
    argv, debug = debug_requested(list(sys.argv[1:] if argv is None else argv))
    try:
        args = parse_args(argv)
    except SystemExit as e:  # --help, --version (0) and argument errors (2, one line already printed)
        return e.code if isinstance(e.code, int) else 2
    return _guarded(args, debug)


if __name__ == "__main__":
    raise SystemExit(main())
