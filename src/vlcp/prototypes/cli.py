"""``vlcp prototypes``: the subcommand; ``vlcp.cli`` calls :func:`add_parser`."""
from __future__ import annotations

import argparse
from pathlib import Path

from vlcp.errors import VlcpError
from vlcp.run.progress import add_progress_flag
from vlcp.run.context import RunContext
from vlcp.settings.devices import DEVICE_HELP, add_device_arg
from vlcp.settings.options import add_config_args, config_from_args

__all__ = ["add_parser", "main", "run"]


def add_parser(subparsers: "argparse._SubParsersAction") -> argparse.ArgumentParser:
    """Register ``prototypes`` (image + text prototypes from latents and captions)."""
    from vlcp.prototypes.config import PrototypesConfig

    p = subparsers.add_parser(
        "prototypes", help="image prototypes (LOF + k-means) and text prototypes per class",
        description="Reads the latents store one class at a time, removes outliers with LOF, clusters the "
                    "inliers with k-means (k = ipc) and picks one caption per cluster (Algorithm 2). Writes "
                    "prototypes.safetensors, clusters.json, text_prototypes.json, prototype_report.{json,md} "
                    "and prototypes.toml.")
    p.add_argument("--run", type=Path, metavar="DIR", default=Path("runs/latest"),
                   help="run folder holding latents/ and captions/metadata.jsonl; outputs go to DIR/prototypes/ "
                        "(default: runs/latest)")
    p.add_argument("--latents", type=Path, metavar="DIR", help="latents store (default: RUN/latents)")
    p.add_argument("--captions", type=Path, metavar="JSONL",
                   help="captions metadata.jsonl (default: RUN/captions/metadata.jsonl)")
    p.add_argument("--out", type=Path, metavar="DIR", help="output folder (default: RUN/prototypes)")
    p.add_argument("--config", type=Path, metavar="TOML", help="TOML file; its [prototypes] section sets defaults")
    add_device_arg(p, help=f"device of strategy 'generated''s language model: {DEVICE_HELP}")
    add_config_args(p, PrototypesConfig)
    add_progress_flag(p)
    p.set_defaults(func=main)
    return p


def _resolve(args: argparse.Namespace, given: Path | None, under_run: str) -> Path:
    return given if given is not None else args.run / under_run


def main(args: argparse.Namespace) -> int:
    """``vlcp prototypes`` on parsed arguments."""
    from vlcp.prototypes.config import PrototypesConfig

    ctx = RunContext(args)
    return run(ctx, config_from_args(PrototypesConfig, args, ctx.section("prototypes")))


def run(ctx: RunContext, config) -> int:
    """The prototypes stage with ``config``: the run's latents and captions in, prototypes out."""
    from vlcp.files.latents import LatentStore
    from vlcp.prototypes.stage import read_captions, run_prototypes

    args = ctx.flags
    latents = _resolve(args, args.latents, "latents")
    captions = _resolve(args, args.captions, "captions/metadata.jsonl")
    out = _resolve(args, args.out, "prototypes")
    store = LatentStore(latents)
    if not store.exists():
        raise VlcpError(f"{latents}: no latents store (index.json missing; run `vlcp encode` first)")
    device = ctx.device(keep=False)
    result = run_prototypes(store, read_captions(captions), out, config, device=device)
    n = len(result.classes)
    k = sum(c["k"] for c in result.classes.values())
    print(f"prototypes: {n} classes, {k} prototypes ({config.strategy} prompts) -> {out}")
    return 0
