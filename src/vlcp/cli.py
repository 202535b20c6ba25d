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

from vlcp.cliutil import add_config_args, config_from_args, toml_section
from vlcp.data.config import DataConfig
from vlcp.errors import VlcpError


def _device(name: str) -> str:
    import torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":  # under a multi-process launch (accelerate launch, torchrun) each process takes its own GPU
        from vlcp.shards import distributed_state, world_size

        if world_size() > 1:
            return str(distributed_state().device)
    return name


def _read_size(model) -> int | None:
    """The side training images are read at for ``model``: a diffusers (CLIP-conditioned) model reads
    them at its own resolution (short side resized, centre-cropped); the embedded model at the
    dataset's (its pixel adapter pads 28 -> 32)."""
    from vlcp.models.clip_text import CLIPTextEncoder

    return model.resolution if isinstance(model.text_encoder, CLIPTextEncoder) else None


def _dtype(name: str):
    import torch

    return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[name]


def _common(p: argparse.ArgumentParser, stage: str, data: bool = True) -> None:
    p.add_argument("--run", type=Path, default=Path("runs/latest"), help="run folder (default: runs/latest)")
    p.add_argument("--config", type=Path, default=None, help=f"TOML file; sections [data] and [{stage}]")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default: cpu)")
    p.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"],
                   help="model dtype (default: float32)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    if data:
        add_config_args(p, DataConfig)


def _data(args) -> DataConfig:
    return config_from_args(DataConfig, args, toml_section(args.config, "data"))


def _model_spec(args) -> str:
    if getattr(args, "model", None):
        return args.model
    section = toml_section(args.config, "model")
    if section.get("path"):
        return section["path"]
    return str(args.run / "model") if (args.run / "model" / "vlcp_model.json").exists() else "embedded"


def _load_model(args):
    from vlcp.io import atomic_write_json
    from vlcp.models import load_model

    spec = _model_spec(args)
    model = load_model(spec, device=_device(args.device), dtype=_dtype(args.dtype))
    args.run.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.run / "model.json", {"model": spec})
    return model


def _save_data(args, data: DataConfig) -> None:
    from vlcp.config import save_config

    args.run.mkdir(parents=True, exist_ok=True)
    save_config(data, args.run / "data.toml", section="data")


# ---- caption -------------------------------------------------------------------------------------
def _cmd_caption(args) -> int:
    from vlcp.caption import CaptionConfig, caption
    from vlcp.captioners import CAPTIONERS
    from vlcp.shards import current_shard

    config = config_from_args(CaptionConfig, args, toml_section(args.config, "caption"))
    data = _data(args)
    _save_data(args, data)
    options = toml_section(args.config, "captioner")
    if config.captioner != "attributes":
        options.setdefault("device", _device(args.device))
    captioner = CAPTIONERS.get(config.captioner)(**options)
    out = caption(data.load("train", resolution=getattr(captioner, "image_size", None)), captioner,
                  args.out or args.run / "captions", config,
                  shard=current_shard(), progress=not args.quiet)
    print(f"captions: {out}")
    return 0


# ---- train ---------------------------------------------------------------------------------------
def _cmd_train(args) -> int:
    import torch

    from vlcp.caption import read_captions
    from vlcp.train import TrainConfig, train

    config = config_from_args(TrainConfig, args, toml_section(args.config, "train"))
    data = _data(args)
    captions = read_captions(args.captions or args.run / "captions" / "metadata.jsonl")
    torch.manual_seed(config.seed)  # the CLI is the one place that seeds globally (model initialisation)
    base = args.base or toml_section(args.config, "train_model").get("base")
    if base:
        from vlcp.models import load_model

        model = load_model(base, device=_device(args.device))
    else:
        from vlcp.models.embedded import build_embedded

        model = build_embedded().to(_device(args.device))
    save = None
    if _read_size(model):  # a diffusers model (--base folder or hub id): saved as a diffusers folder
        from vlcp.models.hub import save_stable_diffusion, set_resolution

        if config.model_resolution:
            set_resolution(model, config.model_resolution)
        save_dtype = torch.float16 if config.save_dtype == "float16" else torch.float32
        save = lambda m, folder: save_stable_diffusion(m, folder, save_dtype)  # noqa: E731
    elif config.model_resolution:
        raise VlcpError("setting 'model_resolution': only a diffusers model (--base) can change its resolution")
    out = train(model, data.load("train", resolution=_read_size(model)), captions, args.out or args.run / "model",
                config, save=save,
                progress=not args.quiet)
    print(f"model: {out}")
    return 0


# ---- encode --------------------------------------------------------------------------------------
def _cmd_encode(args) -> int:
    from vlcp.encode import EncodeConfig, encode
    from vlcp.shards import current_shard

    config = config_from_args(EncodeConfig, args, toml_section(args.config, "encode"))
    _save_data(args, _data(args))
    model = _load_model(args)
    store = encode(model, _data(args).load("train", resolution=_read_size(model)), args.out or args.run / "latents",
                   config,
                   shard=current_shard(), progress=not args.quiet)
    print(f"latents: {store.root}")
    return 0


# ---- synthesize ----------------------------------------------------------------------------------
def _cmd_synthesize(args) -> int:
    from vlcp.shards import current_shard
    from vlcp.synthesize import SynthesizeConfig, synthesize

    config = config_from_args(SynthesizeConfig, args, toml_section(args.config, "synthesize"))
    data = _data(args).load("train")
    out = synthesize(_load_model(args), args.prototypes or args.run / "prototypes", args.out or args.run / "distilled",
                     config, data.resolution, data.channels, shard=current_shard(), progress=not args.quiet)
    print(f"distilled images: {out}")
    return 0


# ---- run / demo ----------------------------------------------------------------------------------
STAGES = ("caption", "train", "encode", "prototypes", "synthesize", "evaluate", "report")


DISTRIBUTED_STAGES = ("caption", "train", "encode", "synthesize")  # each process takes its share


def _cmd_run(args) -> int:
    from vlcp.config import load_toml

    cfg = load_toml(args.config_file)
    run = args.run or Path(cfg.get("run", {}).get("dir", "runs/latest"))
    stages = args.stages or cfg.get("run", {}).get("stages", [s for s in STAGES if s in cfg])
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise VlcpError(f"{args.config_file}: unknown stage(s) {unknown}; known: {', '.join(STAGES)}")
    from vlcp.shards import barrier, current_shard

    shard = current_shard()  # under `accelerate launch`: per-image stages and train split, the rest on rank 0
    for stage in stages:
        argv = [stage, "--run", str(run), "--config", str(args.config_file), "--device", args.device]
        if stage in ("encode", "synthesize") and getattr(args, "dtype", None):
            argv += ["--dtype", args.dtype]
        if stage not in DISTRIBUTED_STAGES and shard.world > 1:
            if shard.rank != 0:
                barrier()
                continue
        if stage == "evaluate":
            argv = [stage, str(run / "distilled"), "--config", str(args.config_file), "--out", str(run / "eval")]
        elif stage == "report":
            argv = [stage, "--run", str(run)]
        elif stage == "prototypes":  # --device: strategy 'generated''s language model
            argv = [stage, "--run", str(run), "--config", str(args.config_file), "--device", args.device]
        print(f"== vlcp {' '.join(argv)}", flush=True)
        code = main(argv)
        if stage not in DISTRIBUTED_STAGES and shard.world > 1:
            barrier()
        if code:
            return code
    return 0


def _cmd_demo(args) -> int:
    from vlcp.demo import DemoConfig, run_demo

    config = config_from_args(DemoConfig, args)
    run_demo(args.out, config, progress=not args.quiet)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from vlcp.captioners import CAPTIONERS  # noqa: F401  (fills the registry for --captioner choices)
    from vlcp.caption import CaptionConfig
    from vlcp.encode import EncodeConfig
    from vlcp.synthesize import SynthesizeConfig
    from vlcp.train import TrainConfig

    parser = argparse.ArgumentParser(prog="vlcp", description="Dataset distillation via vision-language category prototypes.")
    from vlcp import __version__

    parser.add_argument("--version", action="version", version=f"vlcp {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("caption", help="describe every training image (metadata.jsonl)")
    _common(p, "caption")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: RUN/captions)")
    add_config_args(p, CaptionConfig)
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
    _common(p, "encode")
    p.add_argument("--model", default=None, help="model: 'embedded', a vlcp model folder, a diffusers folder or hub id "
                   "(default: RUN/model if trained, else embedded)")
    p.add_argument("--out", type=Path, default=None, help="latents folder (default: RUN/latents)")
    add_config_args(p, EncodeConfig)
    p.set_defaults(func=_cmd_encode)

    from vlcp.prototypes.cli import add_parser as add_prototypes

    add_prototypes(sub)

    p = sub.add_parser("synthesize", help="img2img from image prototypes with text prototypes as prompts")
    _common(p, "synthesize")
    p.add_argument("--model", default=None, help="model (default: RUN/model if trained, else embedded)")
    p.add_argument("--prototypes", type=Path, default=None, help="prototypes folder (default: RUN/prototypes)")
    p.add_argument("--out", type=Path, default=None, help="output ImageFolder (default: RUN/distilled)")
    add_config_args(p, SynthesizeConfig)
    p.set_defaults(func=_cmd_synthesize)

    from vlcp.evaluate.cli import add_parsers as add_evaluate

    add_evaluate(sub)

    from vlcp.report import add_parser as add_report

    add_report(sub)

    p = sub.add_parser("run", help="run several stages from one TOML config")
    p.add_argument("config_file", type=Path, help="TOML with [run] (dir, stages) and one section per stage")
    p.add_argument("--run", type=Path, default=None, help="run folder (default: [run].dir)")
    p.add_argument("--stages", nargs="+", default=None, choices=STAGES, help="stages to run (default: [run].stages)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    p.add_argument("--dtype", default=None, choices=["float32", "float16", "bfloat16"],
                   help="model dtype of encode and synthesize (default: float32)")
    p.set_defaults(func=_cmd_run)

    from vlcp.demo import DemoConfig

    p = sub.add_parser("demo", help="the whole method on Fashion-MNIST, offline, on a CPU")
    p.add_argument("--out", type=Path, default=None, help="run folder (default: a new folder under ./runs/)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_config_args(p, DemoConfig)
    p.set_defaults(func=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except VlcpError as e:
        print(f"vlcp {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
