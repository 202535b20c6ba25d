"""Golden facts of a finished run folder and of the committed configs' dry runs (tests/test_behaviour_neutral.py).

`python tests/golden/capture.py` rewrites `expected.json`; do that only at a commit whose behaviour is the
reference (it was captured at 78edaf6, before issue 30's redesign, with this ENV), never to make a failing check pass. 78edaf6 has no tests/golden/: recapture with
`git worktree add W 78edaf6`, this folder copied into W/tests/golden, and
`PYTHONPATH=W/src python W/tests/golden/capture.py` (the run's `python -m vlcp` then imports W's code)."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
EXPECTED = HERE / "expected.json"
#: one thread and the same instruction set on every x86 CPU, so that float reductions give the same bits on any
#: machine with this torch build: ATen's scalar kernels (no AVX2 / AVX-512 dispatch), MKL's conditional numerical
#: reproducibility, and (in VLCP below) no oneDNN or NNPACK convolutions. One thread alone was not enough: an AMD
#: AVX2 machine gave other bits than an Intel one. Holding oneDNN to SSE4.1 was not enough either: on an Intel
#: AVX-512 machine one decoded k-means image still differed from the AMD capture (oneDNN blocks its reductions by
#: the CPU's caches), while ATen's own convolution (im2col + MKL's CBWR gemm) gave the AMD bits.
ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "ATEN_CPU_CAPABILITY": "default", "DNNL_MAX_CPU_ISA": "SSE41",
       "MKL_CBWR": "COMPATIBLE", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
#: `python -m vlcp` with torch's oneDNN and NNPACK back ends switched off (no environment variable does that);
#: run_module sets sys.argv[0] as -m does, so the program's output is the same text.
VLCP = ("import runpy, torch; torch.backends.mkldnn.set_flags(False); torch.backends.nnpack.set_flags(False); "
        "runpy.run_module('vlcp', run_name='__main__', alter_sys=True)")
RUN_NUMBERS = ("accuracy", "best", "best_epoch", "train_loss")


def vlcp(*args: str) -> subprocess.CompletedProcess:
    """`python -m vlcp ARGS` from the repository root, single-threaded, on ATen's own kernels (``VLCP``)."""
    env = {**os.environ, **ENV}
    return subprocess.run([sys.executable, "-c", VLCP, *args], cwd=ROOT, env=env, capture_output=True, text=True)


def image_digests(run: Path) -> dict[str, str]:
    """sha256 of every PNG the run wrote (distilled set and baselines), by path inside the run."""
    return {p.relative_to(run).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(run.rglob("*.png"))}


def result_numbers(run: Path) -> list[dict]:
    """Each result row's accuracies and per-network numbers (no timings)."""
    data = json.loads((run / "eval" / "results.json").read_text())
    rows = data["rows"] if isinstance(data, dict) else data
    return [{"method": r["method"], "ipc": r["ipc"], "model": r["model"], "protocol": r["protocol"],
             "mean": r["mean"], "std": r["std"], "accuracies": r["accuracies"],
             "runs": [{k: d[k] for k in RUN_NUMBERS} for d in r["settings"]["runs_detail"]]} for r in rows]


def run_facts(run: Path) -> dict:
    """What must not change in a run folder: image bytes, result numbers, the run record."""
    return {"images": image_digests(run), "results": result_numbers(run),
            "settings.toml": (run / "settings.toml").read_text().replace(str(run), "RUN")}


def pipeline(run: Path) -> dict:
    """Run tests/golden/pipeline.toml into ``run``; its facts."""
    done = vlcp("run", str(HERE / "pipeline.toml"), "--run", str(run), "--no-progress")
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return run_facts(run)


def dry_runs(scratch: Path) -> dict[str, str]:
    """`vlcp run configs/NAME.toml --dry-run` of every committed config, the run folder written RUN."""
    out = {}
    for cfg in sorted((ROOT / "configs").glob("*.toml")):
        run = scratch / cfg.stem
        done = vlcp("run", str(cfg.relative_to(ROOT)), "--run", str(run), "--dry-run")
        out[cfg.name] = (done.stdout + done.stderr).replace(str(run), "RUN")
    return out


def capture() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        return {"pipeline": pipeline(Path(tmp) / "run"), "dry_runs": dry_runs(Path(tmp))}


if __name__ == "__main__":
    EXPECTED.write_text(json.dumps(capture(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {EXPECTED}")
