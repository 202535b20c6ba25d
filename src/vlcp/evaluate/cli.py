"""``vlcp evaluate`` and ``vlcp baseline`` (registered on the main CLI by ``add_parsers``)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from vlcp.errors import VlcpError
from vlcp.files.atomic import read_json
from vlcp.run.context import RunContext
from vlcp.run.progress import add_progress_flag
from vlcp.settings.config import save_config
from vlcp.settings.devices import CHOICES, add_device_arg
from vlcp.settings.options import add_config_args, config_from_args, toml_section

EVALUATE_HELP = """Score distilled ImageFolders (<FOLDER>/<class>/*.png): train --repeats fresh networks on each
under --protocol and test them on the real test split. Writes results.json / results.csv / results.md
into --out and prints the Markdown table. Several FOLDERs with the same method (e.g. several distillation
seeds, with --method) pool their runs; --merge pools earlier results.json files too. Rows already in
--out/results.json for other methods / IPCs / networks / protocols are kept; the same cell is replaced."""

BASELINE_HELP = """Write a baseline ImageFolder that `vlcp evaluate` scores like a distilled set:
random (seeded real subset), herding / kcenter (per class, in the feature space of a ConvNet trained by
vlcp on the full training set, cached in --out), kmeans (a run's k-means centroids decoded by the VAE,
no diffusion; needs --run), medoid (per class the real training image nearest each of a run's k-means
centres; needs --run, writes RUN/baselines/medoid_ipc<ipc> unless --out is given), full (the whole
training set, the upper bound). Folders: <out>/<method>_ipc<ipc> (kmeans: the IPC of the run's prototypes),
<out>/full."""


def add_parsers(subparsers) -> None:
    """Register ``evaluate`` and ``baseline`` on the main CLI's subparsers."""
    add_evaluate_parser(subparsers)
    add_baseline_parser(subparsers)


def add_evaluate_parser(subparsers) -> None:
    """Register ``vlcp evaluate`` and its arguments."""
    from vlcp.evaluate.evaluation import EvalConfig

    p = subparsers.add_parser("evaluate", help="score distilled ImageFolders against the real test set",
                              description=EVALUATE_HELP)
    p.add_argument("folders", nargs="*", type=Path, metavar="FOLDER",
                   help="distilled ImageFolder(s) to score (default with --run: RUN/distilled and RUN/baselines/*)")
    p.add_argument("--run", type=Path, default=None,
                   help="run folder: its recorded dataset (subset, classes) and device, its distilled set and "
                        "baselines; results go to RUN/eval (default without FOLDERs: runs/latest)")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="real dataset: IDX folder or ImageFolder tree with train/ and val/ (default: Debian's Fashion-MNIST)")
    p.add_argument("--method", default=None,
                   help="method name in the table (default: baseline.json's method; vlcp for a synthesize output; "
                        "else the folder name)")
    p.add_argument("--ipc", type=int, default=None, help="images per class (default: counted in the folder)")
    p.add_argument("--out", type=Path, default=None,
                   help="folder for results.{json,csv,md} (default: the first FOLDER's parent)")
    p.add_argument("--merge", type=Path, nargs="+", default=[], metavar="RESULTS_JSON",
                   help="results.json files to pool into the table (e.g. other distillation seeds)")
    p.add_argument("--config", type=Path, default=None,
                   help="TOML file: [evaluate] sets defaults; [data] names the real dataset (preset, data_dir, "
                        "num_classes) unless --data-dir is given")
    add_device_arg(p, help=f"{CHOICES} (default: [evaluate] device, else the run's recorded device, else auto)")
    add_config_args(p, EvalConfig, skip=("device",))
    p.set_defaults(func=run_evaluate)


def add_baseline_parser(subparsers) -> None:
    """Register ``vlcp baseline`` and its arguments."""
    from vlcp.evaluate.baselines import BaselineConfig, baseline_names

    b = subparsers.add_parser("baseline", help=f"write a baseline ImageFolder ({', '.join(baseline_names())})",
                              description=BASELINE_HELP)
    b.add_argument("--data-dir", type=Path, default=None, help="real dataset (default: the run's, else Debian's "
                   "Fashion-MNIST)")
    b.add_argument("--run", type=Path, default=None,
                   help="run folder: its recorded dataset (subset, classes) and device; kmeans / medoid: its "
                        "prototypes; folders go to RUN/baselines (default: runs/latest for kmeans / medoid)")
    b.add_argument("--out", type=Path, default=None,
                   help="parent folder of the baseline folders (default: RUN/baselines, else runs/baselines)")
    add_device_arg(b)
    add_config_args(b, BaselineConfig)
    add_progress_flag(b)
    b.set_defaults(func=run_baseline)


def _data_config(data_dir, config_file, run=None):
    """The real dataset: with ``run``, the run's recorded ``[data]`` (checked against ``--data-dir`` and the
    TOML's ``[data]``; recorded by :func:`_keep` once it has loaded); else ``--data-dir`` when given, else
    the TOML's ``[data]`` (preset, classes)."""
    from vlcp.data.config import DataConfig
    from vlcp.settings.config import from_dict

    if run is not None:
        from vlcp.run.state import run_data

        given = toml_section(config_file, "data")
        sources = {k: f"[data] {k} in {config_file}" for k in given}
        if data_dir is not None:
            given["data_dir"], sources["data_dir"] = str(data_dir), "--data-dir"
        return run_data(run, given, sources, keep=False)
    if data_dir is not None:
        return DataConfig(data_dir=str(data_dir))
    return from_dict(DataConfig, toml_section(config_file, "data"), source=f"{config_file} [data]")


def _keep(run, data) -> None:
    """Record ``data`` as ``run``'s dataset (after it loaded)."""
    if run is not None:
        from vlcp.run.state import keep_data

        keep_data(run, data)


def _evaluate_device(ctx: RunContext, section: dict) -> str | None:
    """``--device``, else ``section``'s (the TOML's [evaluate]), else the run's recorded device (None: auto);
    unlike the other stages, a device other than the recorded one is allowed (scoring does not depend on it)."""
    if ctx.flag("device") is not None or section.get("device") is not None:
        return ctx.flag("device")
    if ctx.run is not None:
        from vlcp.run.state import read_settings

        return read_settings(ctx.run)["run"].get("device")
    return None


def run_folders(run: Path) -> list[Path]:
    """A run's image sets to score: ``RUN/distilled`` and every ``RUN/baselines/<name>/``."""
    found = [run / "distilled"] if (run / "distilled").is_dir() else []
    if (run / "baselines").is_dir():
        found += sorted(p for p in (run / "baselines").iterdir() if p.is_dir() and not p.name.startswith("."))
    return found


def _load_splits(data, resolution, test_resolution=None):
    """(train or None, test) of a ``DataConfig``; the training split only feeds normalisation and teachers.
    ``test_resolution``: the test split's side when it differs (rded: resized larger, then centre-cropped)."""
    test = data.load("test", resolution=test_resolution or resolution)
    try:
        train = data.load("train", resolution=resolution)
    except VlcpError:
        train = None
    return train, test


def run_evaluate(args) -> int:
    """``vlcp evaluate`` on parsed arguments."""
    ctx = RunContext(args)
    return evaluate_stage(ctx, evaluate_config(ctx))


def evaluate_config(ctx: RunContext):
    """The evaluate settings: ``[evaluate]`` under the flags, the device as ``_evaluate_device`` says;
    without FOLDERs or ``--merge``, the run folder defaults to runs/latest."""
    from vlcp.evaluate.evaluation import EvalConfig

    args = ctx.flags
    if args.run is None and not args.folders and not args.merge:
        args.run = Path("runs/latest")
    section = ctx.section("evaluate")
    args.device = _evaluate_device(ctx, section)
    return config_from_args(EvalConfig, args, section)


def evaluate_stage(ctx: RunContext, config) -> int:
    """Score the FOLDERs (or the run's image sets) under ``config``; write the tables."""
    from vlcp.evaluate.baseline_folder import read_baseline_info
    from vlcp.evaluate.evaluation import default_side, evaluate_folder
    from vlcp.evaluate.protocols import PROTOCOLS
    from vlcp.evaluate.references import ensure_random, needs_references, skip_cached_whole
    from vlcp.evaluate.results import merge_results, merge_rows, read_results, write_results

    args = ctx.flags
    if args.run is not None and not args.folders:
        args.folders = skip_cached_whole(run_folders(args.run), args.out or args.run / "eval", config)
        if not args.folders and not args.merge:
            raise VlcpError(f"{args.run}: nothing to evaluate (no distilled/ or baselines/; run `vlcp synthesize` "
                            f"or `vlcp baseline --run {args.run}` first)")
    if not args.folders and not args.merge:
        raise VlcpError("nothing to evaluate: give distilled FOLDER(s), --run RUN or --merge results.json files")
    for folder in args.folders:  # every folder's record checked before any network trains
        read_baseline_info(folder)
    if args.run is not None and args.folders and needs_references(config.protocol):
        args.folders += [f for f in ensure_random(args.run, args.folders, config.seed) if f not in args.folders]
    out = args.out or (args.run / "eval" if args.run is not None else None) or (
        args.folders[0].resolve().parent if args.folders else args.merge[0].resolve().parent)
    rows = []
    data = _data_config(args.data_dir, args.config, args.run)
    if args.folders:
        protocol = PROTOCOLS.get(config.protocol)
        side = default_side(config, data.load("test").resolution)  # the dataset's own side, then the protocol's
        train, test = _load_splits(data, side, protocol.test_load_side(side))
        _keep(args.run, data)
        if train is None:
            print("note: no training split found; normalising with the protocol's published statistics or the "
                  "distilled images' own (settings.normalisation.source says which)")
        for folder in args.folders:
            rows.append(evaluate_folder(folder, test, config, method=args.method, ipc=args.ipc, train=train,
                                        cache_dir=out, side=side))
    if args.merge:
        rows += merge_results(args.merge)
    rows = merge_rows(rows)
    existing = out / "results.json"
    if existing.exists() and existing.resolve() not in {Path(m).resolve() for m in args.merge}:
        new_keys = {r.key for r in rows}
        rows += [r for r in read_results(existing) if r.key not in new_keys]
    if needs_references(config.protocol) and args.folders:
        _whole_reference(args, config, rows, train, side)
    total = next((r.settings.get("dataset_classes") for r in rows if r.settings.get("dataset_classes")), None)
    paths = write_results(rows, out, title=f"{data.describe(total)}: test accuracy of networks trained on the "
                                           "distilled sets")
    save_config(config, out / "evaluate.toml", section="evaluate")
    print(paths["md"].read_text("utf-8"))
    print(f"wrote {paths['json']}, {paths['csv']}, {paths['md']}")
    return 0


def _whole_reference(args, config, rows, train, side: int) -> None:
    """Say whether HLR / LRS have their whole-set row: the cached one reused, or how to make one and how long."""
    from vlcp.evaluate.protocols import PROTOCOLS
    from vlcp.evaluate.references import cached_whole, whole_set_line

    whole = cached_whole(rows, config.protocol, config.model)
    if whole is not None:
        s = whole.settings
        print(f"whole set: reusing the {config.model}/{config.protocol} row ({whole.mean:.2f} %, {s.get('epochs')} "
              f"epochs, {s.get('train_images', '?')} images; {s.get('source', 'cached')}) for HLR and LRS")
    elif train is not None:
        channels = PROTOCOLS.get(config.protocol).default_channels or train.channels
        print(whole_set_line(args.run or Path("RUN"), config, len(train), channels, side, len(train.classes)))


def run_baseline(args) -> int:
    """``vlcp baseline`` on parsed arguments."""
    from vlcp.evaluate.baselines import BaselineConfig

    return baseline_stage(RunContext(args), config_from_args(BaselineConfig, args))


def baseline_stage(ctx: RunContext, config) -> int:
    """Write the baseline folder(s) of ``config`` (one per IPC); say how to score them."""
    from vlcp.evaluate.baselines import baseline_info, baseline_needs_run, baseline_targets, make_baseline

    args = ctx.flags
    if args.run is None and baseline_needs_run(config.method):
        args.run = Path("runs/latest")
    device = ctx.device(keep=False)
    out: Path = args.out or (args.run / "baselines" if args.run is not None else Path("runs/baselines"))
    targets = baseline_targets(config.method, config.ipc, out, lambda: _prototype_ipc(args.run))
    train = _baseline_train(args, config)
    ctx.keep_device()  # recorded once the inputs have loaded
    for ipc, folder in targets:
        path = make_baseline(config.method, train, folder, ipc=ipc, seed=config.seed,
                             feature_model=config.feature_model, feature_epochs=config.feature_epochs, device=device,
                             run_dir=args.run, cache_dir=out, progress=args.progress)
        info = baseline_info(path)
        save_config(replace(config, ipc=(ipc,) if ipc else ()), path / "baseline.toml", section="baseline")
        print(f"{path}: {info.get('description', config.method)} ({info.get('images', '?')} images)")
    if args.run is not None and args.out is None:
        print(f"score with: vlcp evaluate --run {args.run}")
    else:
        print(f"score with: vlcp evaluate {' '.join(str(f) for _, f in targets)} --out {out}"
              + (f" --run {args.run}" if args.run is not None else ""))
    return 0


def _baseline_train(args, config):
    """The real training split a baseline selects from (None for kmeans: it decodes the run's centroids)."""
    from vlcp.evaluate.baselines import baseline_train_source

    source = baseline_train_source(config.method)
    if source is None:
        return None
    if source == "run":
        from vlcp.evaluate.medoid import run_train_split

        return run_train_split(args.run)
    if args.run is not None:
        if config.resolution:
            raise VlcpError("setting 'resolution': with --run the run's recorded dataset is used; drop --resolution")
        data = _data_config(args.data_dir, None, args.run)
        train = data.load("train")
        _keep(args.run, data)
        return train
    from vlcp.data import load_dataset

    return load_dataset(args.data_dir, "train", resolution=config.resolution or None)


def _prototype_ipc(run: Path) -> int:
    """The IPC of a run's prototypes (``RUN/prototypes/prototypes.toml``)."""
    path = run / "prototypes" / "prototypes.toml"
    if not path.exists():
        raise VlcpError(f"{path}: the run has no prototypes; run `vlcp prototypes --run {run}` first")
    return int(toml_section(path, "prototypes").get("ipc", 10))
