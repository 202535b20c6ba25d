"""SIGKILL at random moments, then rerun: is the result byte-identical to an uninterrupted run?

For each stage (caption, train, encode, synthesize, evaluate) on a tiny run (a generated two-class
ImageFolder of 28-px images, the embedded model, a few steps) this runs the stage uninterrupted as
the reference, then trials until ``--n`` kills have landed mid-run: the stage is started, SIGKILLed
after a delay drawn uniformly from [0, its reference duration) (a run that ends first counts as a trial,
not a kill), and rerun with the same command; every file of the stage's
output folder is then compared byte for byte with the reference. Files that differ between two
uninterrupted runs (wall-clock logs) are found by running the reference twice, listed, and left
out of the comparison, as are ``*.log`` files and the ``seconds`` fields of JSON files (wall-clock times).

Each run is a ``vlcp.cli.main`` call in a process forked from this one after the heavy imports,
so the kill lands inside the stage's work rather than in Python's start-up.

    nice -n 10 python benchmarks/kill_resume.py --n 20
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import sys
import time
from pathlib import Path

import numpy as np

STAGES = ("caption", "train", "encode", "synthesize", "evaluate")
OUTPUT = {"caption": "captions", "train": "model", "encode": "latents", "synthesize": "distilled", "evaluate": "eval"}


def make_data(root: Path) -> None:
    """Two classes of 12 (train) and 6 (val) 28×28 greyscale PNGs with class-dependent content."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("train", 12), ("val", 6)):
        for c, (name, base) in enumerate((("trouser", 60), ("bag", 170))):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                img = np.clip(base + rng.normal(0, 40, (28, 28)) + (np.arange(28) * (2 if c else -2))[None], 0, 255)
                Image.fromarray(img.astype(np.uint8), mode="L").save(folder / f"{i:03d}.png")


def argv(stage: str, run: Path, data: Path, cfg: Path) -> list[str]:
    common = ["--run", str(run), "--no-progress"]
    return {
        "caption": ["caption", *common, "--data-dir", str(data), "--batch-size", "1"],
        "train": ["train", *common, "--base", "embedded", "--unet-steps", "12", "--batch-size", "2",
                  "--checkpoint-every", "2", "--ema-decay", "0.9", "--lr", "1e-4"],
        "encode": ["encode", *common, "--batch-size", "2", "--shard-size", "2"],
        "synthesize": ["synthesize", *common, "--steps", "6", "--batch-size", "1"],
        "evaluate": ["evaluate", str(run / "distilled"), "--config", str(cfg), "--out", str(run / "eval")],
    }[stage]


def prototypes_argv(run: Path) -> list[str]:
    return ["prototypes", "--run", str(run), "--ipc", "2"]


def launch(args: list[str], log: Path) -> int:
    """Fork a process that runs ``vlcp.cli.main(args)``; returns its pid."""
    pid = os.fork()
    if pid == 0:  # the child
        try:
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            from vlcp.cli import main

            code = main(args)
        except BaseException:  # noqa: BLE001 - report and exit like a process would
            import traceback

            traceback.print_exc()
            code = 3
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return pid


def run(args: list[str], log: Path, kill_after: float | None = None) -> tuple[int, float, bool]:
    """Run to the end, or SIGKILL after ``kill_after`` s; (status, seconds, killed)."""
    t0 = time.perf_counter()
    pid = launch(args, log)
    killed = False
    if kill_after is not None:
        while time.perf_counter() - t0 < kill_after:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status), time.perf_counter() - t0, False
            time.sleep(0.005)
        os.kill(pid, signal.SIGKILL)
        killed = True
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), time.perf_counter() - t0, killed


def _without_seconds(obj):
    """A JSON value without its wall-clock fields (``seconds``: how long a step took)."""
    if isinstance(obj, dict):
        return {k: _without_seconds(v) for k, v in obj.items() if k != "seconds"}
    if isinstance(obj, list):
        return [_without_seconds(v) for v in obj]
    return obj


def file_digest(path: Path) -> str:
    """sha256 of the file's bytes; of a JSON file, without its ``seconds`` fields."""
    data = path.read_bytes()
    if path.suffix == ".json":
        data = json.dumps(_without_seconds(json.loads(data)), sort_keys=True).encode()
    return hashlib.sha256(data).hexdigest()


def tree_digests(folder: Path) -> dict[str, str]:
    """Digest of every file under ``folder`` but the wall-clock logs (``*.log``)."""
    return {p.relative_to(folder).as_posix(): file_digest(p)
            for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix != ".log"}


def prepare(work: Path, data: Path, cfg: Path) -> Path:
    """A base run folder with every stage's inputs (each stage run once, in order)."""
    base = work / "base"
    if (base / "eval" / "results.json").exists():
        return base
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    for stage in STAGES:
        code, _, _ = run(argv(stage, base, data, cfg), work / "base.log")
        if code != 0:
            raise SystemExit(f"base run: {stage} failed ({code}); see {work / 'base.log'}")
        if stage == "encode":
            code, _, _ = run(prototypes_argv(base), work / "base.log")
            if code != 0:
                raise SystemExit(f"base run: prototypes failed; see {work / 'base.log'}")
    return base


def fresh(base: Path, stage: str, dest: Path) -> Path:
    """A copy of ``base`` without ``stage``'s output (its inputs are all there)."""
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(base, dest, ignore=lambda d, names: [OUTPUT[stage]] if Path(d) == base else [])
    return dest


def bench_stage(stage: str, n: int, rng: random.Random, work: Path, base: Path, data: Path, cfg: Path) -> dict:
    refs = []
    durations = []
    for r in range(2):
        folder = fresh(base, stage, work / f"{stage}-run")  # one path for every run: outputs may name it
        code, secs, _ = run(argv(stage, folder, data, cfg), work / f"{stage}.log")
        if code != 0:
            raise SystemExit(f"{stage}: reference run failed ({code}); see {work / f'{stage}.log'}")
        refs.append(tree_digests(folder / OUTPUT[stage]))
        durations.append(secs)
    unstable = sorted(k for k in set(refs[0]) | set(refs[1]) if refs[0].get(k) != refs[1].get(k))
    ref = {k: v for k, v in refs[0].items() if k not in unstable}
    duration = min(durations)
    trials = []
    while sum(t["killed"] for t in trials) < n and len(trials) < 3 * n:  # n kills that landed mid-run
        folder = fresh(base, stage, work / f"{stage}-run")
        delay = rng.uniform(0, duration)
        code, _, killed = run(argv(stage, folder, data, cfg), work / f"{stage}.log", kill_after=delay)
        rerun_code, _, _ = run(argv(stage, folder, data, cfg), work / f"{stage}.log")
        got = {k: v for k, v in tree_digests(folder / OUTPUT[stage]).items() if k not in unstable}
        diff = sorted(k for k in set(ref) | set(got) if ref.get(k) != got.get(k))
        trials.append({"delay_s": round(delay, 3), "killed": killed, "first_exit": code, "rerun_exit": rerun_code,
                       "identical": rerun_code == 0 and not diff, "differing": diff[:10]})
        print(f"{stage} trial {len(trials)}: kill at {delay:.2f}/{duration:.2f} s, killed={killed}, "
              f"identical={trials[-1]['identical']}", flush=True)
    shutil.rmtree(work / f"{stage}-run", ignore_errors=True)
    return {"stage": stage, "reference_s": round(duration, 2), "files_compared": len(ref),
            "excluded_unstable": unstable, "trials": trials,
            "killed": sum(t["killed"] for t in trials),
            "identical": sum(t["identical"] for t in trials), "total": len(trials)}


def write_results(out: Path, results: list[dict], command: str, code: str | None = None) -> None:
    from vlcp.files.atomic import atomic_write_json, atomic_write_text

    code = code or _describe()
    atomic_write_json(out.with_suffix(".json"), {"command": command, "code": code, "stages": results})
    lines = ["# SIGKILL at random moments, rerun, compare byte for byte", "", f"    {command}", "",
             "Tiny run: generated two-class ImageFolder (12 train + 6 val images per class, 28 px); "
             "caption batch 1; train 12 UNet steps fine-tuning the embedded model (checkpoint every 2), which encode and synthesize then use; encode shards "
             "of 2; prototypes IPC 2; synthesize 6 steps; evaluate convnet3 dc, 3 repeats. Each kill lands at a "
             "delay drawn uniformly from [0, the stage's uninterrupted duration); the rerun's output folder is "
             "compared file by file (sha256) with an uninterrupted run's, leaving out `*.log` (wall-clock times) and the "
             "`seconds` fields of JSON files.", "",
             "| stage | identical / trials | of them killed mid-run | reference run (s) | files compared | "
             "left out (differ between two uninterrupted runs) | code |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['stage']} | {r['identical']} / {r['total']} | {r['killed']} | {r['reference_s']} | "
                     f"{r['files_compared']} | {', '.join(r['excluded_unstable']) or '—'} | {r.get('code', code)} |")
    lines += ["", "`rng-0.json` of a training checkpoint holds Python's `random` state, which differs between two "
              "uninterrupted runs (each process seeds it from the OS; vlcp draws nothing from it).",
              "", f"Code under test: {code} (per stage in the table)."]
    atomic_write_text(out.with_suffix(".md"), "\n".join(lines) + "\n")


def _describe() -> str:
    import subprocess

    out = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                         cwd=Path(__file__).parent)
    return f"`git describe --always --dirty` = {out.stdout.strip() or 'unknown'}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=20, help="kills per stage")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    ap.add_argument("--work", type=Path, default=Path("/tmp/vlcp-kill-resume"))
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "kill_resume")
    ap.add_argument("--code", default=None, help="what code is under test (default: `git describe` of this checkout)")
    a = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch

    torch.set_num_threads(1)
    import diffusers  # noqa: F401  (imported once here, before the forks)
    import transformers  # noqa: F401
    import vlcp.cli  # noqa: F401
    import vlcp.encode, vlcp.synthesize, vlcp.train, vlcp.caption, vlcp.evaluate.evaluation  # noqa: E401,F401

    a.work.mkdir(parents=True, exist_ok=True)
    data = a.work / "data"
    if not (data / "val").exists():
        make_data(data)
    cfg = a.work / "eval.toml"
    cfg.write_text(f'[data]\ndata_dir = "{data}"\n\n[evaluate]\nepochs = 30\nrepeats = 3\n'
                   f'progress = false\ndevice = "cpu"\n')
    base = prepare(a.work, data, cfg)
    rng = random.Random(a.seed)
    results = []
    command = "nice -n 10 python benchmarks/kill_resume.py " + " ".join(sys.argv[1:])
    for stage in a.stages:
        results.append({**bench_stage(stage, a.n, rng, a.work, base, data, cfg), "code": a.code or _describe()})
        write_results(a.out, results, command.strip(), a.code)
    print(json.dumps([{k: r[k] for k in ("stage", "identical", "total", "killed")} for r in results]))


if __name__ == "__main__":
    main()
