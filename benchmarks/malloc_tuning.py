"""What the CLI's allocator setting (``vlcp.run.memory.keep_freed_memory``) saves: the same ``vlcp evaluate`` of a
folder under the ``dc`` protocol, run as a child process with the setting (the default) and without it
(``VLCP_KEEP_FREED_MEMORY=0``), alternating ``--rounds`` times so that background load hits both alike. Prints
wall time, kernel (system) CPU time and minor page faults of each, the ratio of wall times, and checks that both
runs give the same accuracies. Target: ratio (without / with) ≥ 1.0 and the same numbers.

    nice python benchmarks/malloc_tuning.py --folder RUN/distilled --epochs 10 --rounds 2
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_once(folder: Path, epochs: int, switch: str) -> dict:
    """One ``vlcp evaluate`` child; its wall and system seconds, minor faults and accuracies."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryDirectory() as out:
        env = {**os.environ, "VLCP_KEEP_FREED_MEMORY": switch, "OMP_NUM_THREADS": "1"}
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "vlcp", "evaluate", str(folder), "--out", out, "--protocol", "dc",
                        "--epochs", str(epochs), "--repeats", "1", "--no-progress"], env=env, check=True,
                       capture_output=True)
        wall = time.perf_counter() - t
        rows = json.loads((Path(out) / "results.json").read_text())
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    rows = rows["rows"] if isinstance(rows, dict) else rows
    return {"wall_s": round(wall, 1), "sys_s": round(after.ru_stime - before.ru_stime, 1),
            "user_s": round(after.ru_utime - before.ru_utime, 1), "minor_faults": after.ru_minflt - before.ru_minflt,
            "accuracies": [r["accuracies"] for r in rows]}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folder", type=Path, required=True, help="a distilled ImageFolder (e.g. the demo's)")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/malloc_tuning"))
    args = ap.parse_args(argv)
    runs = {"with": [], "without": []}
    for _ in range(args.rounds):
        runs["with"].append(run_once(args.folder, args.epochs, "1"))
        runs["without"].append(run_once(args.folder, args.epochs, "0"))
    total = {k: {m: sum(r[m] for r in v) for m in ("wall_s", "sys_s", "user_s", "minor_faults")}
             for k, v in runs.items()}
    ratio = total["without"]["wall_s"] / total["with"]["wall_s"]
    same = all(r["accuracies"] == runs["with"][0]["accuracies"] for v in runs.values() for r in v)
    result = {"command": "python benchmarks/malloc_tuning.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores", "runs": runs,
              "total": total, "ratio_without_over_with": round(ratio, 2), "same_accuracies": same}
    lines = ["# The CLI's allocator setting (vlcp.run.memory)", "", f"Made by: `{result['command']}`", "",
             f"`vlcp evaluate` of one folder, dc protocol, {args.epochs} epochs, 1 network, {args.rounds} rounds "
             "alternating, one thread each.", "",
             "| | wall s | user s | system s | minor page faults |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {k} the setting | {t['wall_s']:.1f} | {t['user_s']:.1f} | {t['sys_s']:.1f} | {t['minor_faults']:,} |"
              for k, t in total.items()]
    lines += ["", f"Ratio of wall times (without / with): **{ratio:.2f}** (target ≥ 1.0). Same accuracies in every "
              f"run: {same}."]
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
