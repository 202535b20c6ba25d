"""``vlcp demo``: the whole method on Fashion-MNIST, offline, on a CPU, with the committed model.

caption → encode → prototypes → synthesize → evaluate at IPC 10, next to a random real subset of
the same size, the k-means centroid images decoded without diffusion and the medoids (the real
training image nearest each k-means centre). As ``configs/fashion_mnist.toml``, the last
``holdout_per_class`` (500) training images of each class are held out as a validation split: never
captioned, encoded, clustered or picked by a baseline. ConvNet-3 under the ``dc``
protocol, shortened to ``epochs`` (default 100 of the protocol's 300) so that the demo fits in about
15 minutes on 2 cores; the printed table says so. Everything lands in the run folder.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from vlcp.settings.config import check, save_config, to_dict


@dataclass(frozen=True)
class DemoConfig:
    ipc: int = field(default=10, metadata={"help": "images per class"})
    repeats: int = field(default=3, metadata={"help": "ConvNet-3 trainings per method"})
    epochs: int = field(default=100, metadata={"help": "training epochs per evaluation (dc protocol: 300)"})
    model: str = field(default="embedded", metadata={"help": "generator: 'embedded' or a model folder"})
    data_dir: str | None = field(default=None, metadata={"help": "dataset folder (default: Debian Fashion-MNIST)"})
    num_classes: int = field(default=0, metadata={"help": "use only the first N classes (0: all)"})
    per_class: int = field(default=0, metadata={"help": "use only N training images per class (0: all)"})
    holdout_per_class: int = field(default=500, metadata={
        "help": "last N training images per class held out as the validation split (as configs/fashion_mnist.toml)"})
    guidance_scale: float = field(default=3.0, metadata={"help": "classifier-free guidance of the synthesis"})
    strength: float = field(default=0.4, metadata={"help": "noise strength of the synthesis (chosen on the validation "
                                                           "split, benchmarks/results/fashion_mnist_tuning.md; "
                                                           "the paper: 0.7)"})
    steps: int = field(default=50, metadata={"help": "DDIM steps"})
    seed: int = field(default=0, metadata={"help": "seed of prototypes, synthesis, baselines and trainings"})

    def __post_init__(self) -> None:
        for name in ("ipc", "repeats", "epochs", "steps"):
            check(getattr(self, name) >= 1, name, "must be >= 1")


PROTOCOL_EPOCHS = 300
# the whole-training-set row, measured once by the quality benchmark (the demo does not retrain it)
WHOLE_SET_RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "fashion_mnist_whole.json"


def whole_set_reference(config: DemoConfig, path: Path = WHOLE_SET_RESULTS):
    """The benchmark's whole-training-set row (a ``ResultRow`` labelled as measured there, not here) when the
    demo runs the benchmark's data (every class and image, the same hold-out); else None."""
    from vlcp.errors import VlcpError
    from vlcp.evaluate.results import FULL_METHOD, read_results

    if config.data_dir or config.num_classes or config.per_class or not path.exists():
        return None
    try:
        rows = [r for r in read_results(path) if r.method == FULL_METHOD and r.protocol == "dc"]
    except VlcpError:
        return None
    held = {f"minus the last {config.holdout_per_class} images per class" in str(r.settings.get("train_split"))
            for r in rows}
    if not rows or held != {True}:
        return None
    row = rows[0]
    row.settings["reference"] = (f"measured once by benchmarks/fashion_mnist_quality.py, {row.settings.get('epochs')} "
                                 "epochs, not retrained by this demo; benchmarks/results/fashion_mnist_whole.json")
    return row


def default_run_dir() -> Path:
    return Path("runs") / f"demo-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def _step(name: str):
    print(f"\n== {name}", flush=True)
    return time.perf_counter()


def run_demo(out: str | Path | None, config: DemoConfig, progress: bool = True) -> list[dict]:
    """Run the demo into ``out`` (default: a new folder under ./runs/); returns the result rows."""
    from vlcp.data.config import DataConfig
    from vlcp.run.state import write_settings

    run = Path(out) if out is not None else default_run_dir()
    run.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    print(f"vlcp demo: run folder {run}", flush=True)
    save_config(config, run / "demo.toml", section="demo")
    data = DataConfig(data_dir=config.data_dir, num_classes=config.num_classes, per_class=config.per_class,
                      holdout_per_class=config.holdout_per_class)
    write_settings(run, {"data": to_dict(data), "run": {"model": config.model}})
    train, test = data.load("train"), data.load("test")
    folders = _distil(run, train, config, progress)
    title = f"Test accuracy (%), {data.describe(len(getattr(test, 'parent', test).classes))}, IPC {config.ipc}"
    rows = _evaluate(run, folders, train, test, config, title, progress)
    _summary(run, rows, train, config, title, t_start)
    return [_row(r) for r in rows]


def _timed(name: str, work):
    """Print the step's name, do ``work()``, print its seconds; returns what it returned."""
    t = _step(name)
    out = work()
    print(f"   {time.perf_counter() - t:.0f} s", flush=True)
    return out


def _distil(run: Path, train, config: DemoConfig, progress: bool) -> dict[str, Path]:
    """Caption, encode, prototypes, synthesize and the baselines' folders; method name → image folder."""
    from vlcp.caption import CaptionConfig, caption, read_captions
    from vlcp.captioners import CAPTIONERS
    from vlcp.encode import EncodeConfig, encode
    from vlcp.evaluate.baselines import make_baseline
    from vlcp.models import load_model
    from vlcp.prototypes import PrototypesConfig, run_prototypes
    from vlcp.synthesize import SynthesizeConfig, decode_prototypes, synthesize

    meta = _timed(f"caption {len(train)} training images (attributes captioner)", lambda: caption(
        train, CAPTIONERS.get("attributes")(), run / "captions", CaptionConfig(), progress=progress))
    def encoded():
        model = load_model(config.model)
        return model, encode(model, train, run / "latents", EncodeConfig(), progress=progress)

    model, store = _timed(f"encode {len(train)} images with the model's VAE", encoded)
    _timed(f"prototypes: LOF + k-means (k = {config.ipc}) and text prototypes per class", lambda: run_prototypes(
        store, read_captions(meta), run / "prototypes", PrototypesConfig(ipc=config.ipc, seed=config.seed)))
    kmeans, random, medoid = (run / "baselines" / f"{m}_ipc{config.ipc}" for m in ("kmeans", "random", "medoid"))

    def synthesized():
        synth = SynthesizeConfig(strength=config.strength, guidance_scale=config.guidance_scale, steps=config.steps,
                                 negative_prompt="", seed=config.seed)
        synthesize(model, run / "prototypes", run / "distilled", synth, train.resolution, train.channels,
                   progress=progress)
        decode_prototypes(model, run / "prototypes", kmeans, train.resolution, train.channels)
        make_baseline("random", train, random, ipc=config.ipc, seed=config.seed, progress=progress)
        make_baseline("medoid", train, medoid, ipc=config.ipc, run_dir=run)

    _timed("synthesize: img2img from each prototype with its text prototype", synthesized)
    return {"vlcp (ours)": run / "distilled", "random real": random, "k-means centroids": kmeans, "medoid": medoid}


def _evaluate(run: Path, folders: dict[str, Path], train, test, config: DemoConfig, title: str,
              progress: bool) -> list:
    """Each folder scored by the shortened dc protocol (and the benchmark's whole-set row when it applies);
    writes ``eval/`` and ``results.json``."""
    from vlcp.evaluate import EvalConfig, evaluate_folder, write_results
    from vlcp.files.atomic import atomic_write_json

    def scored():
        ev = EvalConfig(model="convnet3", protocol="dc", repeats=config.repeats, seed=config.seed,
                        epochs=config.epochs, progress=progress)
        rows = [evaluate_folder(folder, test, ev, method=method, ipc=config.ipc, train=train)
                for method, folder in folders.items()]
        whole = whole_set_reference(config)
        rows += [whole] if whole is not None else []
        write_results(rows, run / "eval", title=title)
        atomic_write_json(run / "results.json", [_row(r) for r in rows])
        return rows

    return _timed(f"evaluate: ConvNet-3, dc protocol, {config.epochs} epochs, {config.repeats} runs per method",
                  scored)


def _summary(run: Path, rows: list, train, config: DemoConfig, title: str, t_start: float) -> None:
    """The report, the figure and the table on the terminal."""
    from vlcp.evaluate.results import markdown_table
    from vlcp.report import figure, report

    report(run)
    picture = figure(run, train, per_class=min(config.ipc, 10), seed=config.seed)
    print("\n" + markdown_table(rows, title=title))
    if config.epochs < PROTOCOL_EPOCHS:
        print(f"\nNote: training shortened to {config.epochs} of the dc protocol's {PROTOCOL_EPOCHS} epochs "
              f"(lr ×0.1 after half) to fit the demo's time budget; `vlcp evaluate` runs the full protocol.")
    print(f"\nRun folder: {run} (report: {run / 'report.html'}; distilled next to real images: {picture}); "
          f"total {time.perf_counter() - t_start:.0f} s")


def _row(r) -> dict:
    d = r.to_dict()
    return {k: d[k] for k in ("method", "ipc", "model", "protocol", "mean", "std", "runs")}
