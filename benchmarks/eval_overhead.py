"""Overhead of vlcp's evaluation training loop against the bare network arithmetic.

Times a ``dc`` training of ConvNet-3 on a random Fashion-MNIST subset at IPC 10 (100 images, one batch
per epoch) through ``vlcp.evaluate.trainer.train_and_test`` against the bare forward / backward /
optimiser step on the very same batches (same permutations, inputs prepared beforehand), in the same
process, alternating the two so that background load hits both alike. Target: ratio ≤ 1.15.

Also reports the one-off test-set scoring (10,000 images, no gradients) and tries ``torch.compile``
on the bare step (steady state after warm-up), since on CPU the convolutions dominate.

    nice python benchmarks/eval_overhead.py
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vlcp.data import load_dataset
from vlcp.evaluate.baselines import select_random
from vlcp.evaluate.networks import build_network
from vlcp.evaluate.protocols import PROTOCOLS
from vlcp.evaluate.tensors import channel_stats, split_tensors
from vlcp.evaluate.trainer import Normalizer, Rng, test_accuracy, train_and_test
from vlcp.files.atomic import atomic_write_json, atomic_write_text


def bare_batches(x, y, norm, epochs, batch, seed):
    """The batches ``train_and_test`` draws for ``seed`` (same generator stream), prepared in advance."""
    rng = Rng(seed)
    build_network("convnet3", 1, 10, 28, generator=rng.torch)  # consume the init draws, as the real run does
    out = []
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=rng.torch)
        for b in range(0, len(x), batch):
            idx = order[b:b + batch]
            out.append((norm(x[idx]).contiguous(), y[idx].contiguous()))
    return out


class Clock:
    """Wall-clock and process CPU time of a block (CPU time is less sensitive to the background load)."""

    def __enter__(self):
        self.w, self.c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.w, time.process_time() - self.c


def time_ours(x, y, mean, std, epochs, batch, seed, timings=None):
    rng = Rng(seed)
    net = build_network("convnet3", 1, 10, 28, generator=rng.torch)
    with Clock() as c:
        train_and_test(net, x, y, None, None, PROTOCOLS.get("dc"), epochs=epochs, batch_size=batch, rng=rng,
                       mean=mean, std=std, device=torch.device("cpu"), timings=timings)
    return c


def bare_loop(model, opt, batches):
    for xb, yb in batches:
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def time_bare(batches, seed):
    net = build_network("convnet3", 1, 10, 28, seed=seed)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    with Clock() as c:
        bare_loop(net, opt, batches)
    return c


def try_compile(batches, warmup=3):
    """Seconds per step, eager vs torch.compile, after warm-up, alternating the two step by step."""
    res = {}
    try:
        nets = {}
        for name in ("eager", "compiled"):
            net = build_network("convnet3", 1, 10, 28, seed=0)
            opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
            model = torch.compile(net) if name == "compiled" else net
            with Clock() as c:
                bare_loop(model, opt, batches[:warmup])
            nets[name] = (model, opt)
            res[name] = {"warmup_s": round(c.wall, 2), "steps": []}
        for b in batches[warmup:]:
            for name, (model, opt) in nets.items():
                with Clock() as c:
                    bare_loop(model, opt, [b])
                res[name]["steps"].append(c.wall)
        for name in nets:
            steps = res[name].pop("steps")
            res[name]["median_step_s"] = round(float(np.median(steps)), 4)
        res["speedup"] = round(res["eager"]["median_step_s"] / res["compiled"]["median_step_s"], 3)
    except Exception as e:  # noqa: BLE001 - report why compile is unavailable
        res["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=15, help="epochs per timed training (1 step each at IPC 10)")
    ap.add_argument("--rounds", type=int, default=4, help="instrumented runs (ratio measured inside each run)")
    ap.add_argument("--alternate", type=int, default=4, help="alternating separate ours/bare runs (0: skip)")
    ap.add_argument("--ipc", type=int, default=10)
    ap.add_argument("--compile-steps", type=int, default=20, help="steps for the torch.compile comparison (0: skip)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "eval_overhead")
    args = ap.parse_args(argv)

    load_before = os.getloadavg()
    train = load_dataset(None, "train")
    test = load_dataset(None, "test")
    mean, std = channel_stats(train)
    idx = select_random(train.labels, args.ipc, seed=0)
    x_all, y_all = split_tensors(train)
    x, y = x_all[torch.from_numpy(idx)].float() / 255, y_all[torch.from_numpy(idx)]
    norm = Normalizer(mean, std, torch.device("cpu"))
    batch = PROTOCOLS.get("dc").default_batch_size(args.ipc, 10)

    if args.threads:
        torch.set_num_threads(args.threads)
    # warm-up (oneDNN primitives, allocator), untimed
    time_ours(x, y, mean, std, 2, batch, 0)
    time_bare(bare_batches(x, y, norm, 2, batch, 0), 0)
    # 1) in the same run: vlcp's whole loop vs the forward/backward/step inside it (timed per step)
    parts = {}
    for r in range(args.rounds):
        time_ours(x, y, mean, std, args.epochs, batch, 100 + r, timings=parts)
        fbs = parts["forward"] + parts["backward"] + parts["step"]
        print(f"in-run round {r}: total {parts['total']:.1f}s, forward+backward+step {fbs:.1f}s, "
              f"ratio so far {parts['total'] / fbs:.4f}", flush=True)
    # 2) separate runs, alternating: vlcp's loop vs a bare loop over the same prepared batches
    ours, bare = [], []
    for r in range(args.alternate):
        seed = 200 + r
        batches = bare_batches(x, y, norm, args.epochs, batch, seed)
        if r % 2 == 0:
            ours.append(time_ours(x, y, mean, std, args.epochs, batch, seed))
            bare.append(time_bare(batches, seed))
        else:
            bare.append(time_bare(batches, seed))
            ours.append(time_ours(x, y, mean, std, args.epochs, batch, seed))
        print(f"alternating round {r}: ours {ours[-1].wall:.1f}s (cpu {ours[-1].cpu:.1f}s) bare {bare[-1].wall:.1f}s "
              f"(cpu {bare[-1].cpu:.1f}s) ratio {ours[-1].wall / bare[-1].wall:.3f}", flush=True)

    tx, ty = split_tensors(test)
    net = build_network("convnet3", 1, 10, 28, seed=0)
    t = time.perf_counter()
    test_accuracy(net, tx, ty, norm, 512, torch.device("cpu"))
    test_s = time.perf_counter() - t

    comp = try_compile(bare_batches(x, y, norm, args.compile_steps, batch, 0)) if args.compile_steps else {}
    fbs = parts["forward"] + parts["backward"] + parts["step"]
    ratio = parts["total"] / fbs
    steps = args.rounds * args.epochs * -(-len(x) // batch)
    per_step_bare = fbs / steps
    ow, bw = sum(c.wall for c in ours), sum(c.wall for c in bare)
    oc, bc = sum(c.cpu for c in ours), sum(c.cpu for c in bare)
    per_round = [o.wall / b.wall for o, b in zip(ours, bare)]
    ours_300 = 300 * parts["total"] / (args.rounds * args.epochs)
    bare_300 = 300 * fbs / (args.rounds * args.epochs)
    result = {
        "command": "nice " + " ".join([Path(sys.executable).name, *sys.argv]),
        "setting": f"dc protocol, convnet3, Fashion-MNIST random IPC {args.ipc} ({len(x)} images, batch {batch}), "
                   f"{args.epochs} epochs per timing; {args.rounds} instrumented runs, {args.alternate} alternating "
                   "separate runs; after an untimed warm-up",
        "in_run": {k: round(v, 3) for k, v in parts.items()},
        "ratio": round(ratio, 4),
        "alternating": {"ours_wall_s": [round(c.wall, 2) for c in ours], "bare_wall_s": [round(c.wall, 2) for c in bare],
                        "ours_cpu_s": [round(c.cpu, 2) for c in ours], "bare_cpu_s": [round(c.cpu, 2) for c in bare],
                        "ratio_wall": round(ow / bw, 4) if bare else None,
                        "ratio_cpu": round(oc / bc, 4) if bare else None,
                        "ratio_median_round": round(float(np.median(per_round)), 4) if bare else None},
        "target": "<= 1.15", "bare_step_s": round(per_step_bare, 4),
        "test_set_scoring_s": round(test_s, 2), "test_images": len(tx),
        "full_run_projection": {"epochs": 300, "ours_s": round(ours_300 + test_s, 1), "bare_s": round(bare_300, 1),
                                "ratio_including_test": round((ours_300 + test_s) / bare_300, 4)},
        "torch_compile": comp,
        "machine": {"cpus": os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads(),
                    "python": platform.python_version(), "loadavg_before": [round(v, 2) for v in load_before],
                    "loadavg_after": [round(v, 2) for v in os.getloadavg()],
                    "note": "shared 2-core machine with a diffusion training running in the background"},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out.with_suffix(".json"), result)
    md = [f"# eval overhead ({time.strftime('%Y-%m-%d')})", "", f"Command: `{result['command']}`", "",
          result["setting"], "",
          f"- **in the same run**: whole vlcp training call / its forward+backward+step time: **{ratio:.3f}** "
          f"(target ≤ 1.15); seconds: {json.dumps(result['in_run'])}",
          f"- separate alternating runs (noisy under the background load): wall {result['alternating']['ratio_wall']}, "
          f"CPU time {result['alternating']['ratio_cpu']}, median round {result['alternating']['ratio_median_round']}",
          f"- bare step: {per_step_bare:.3f} s per batch of {len(x)} images",
          f"- test set scored once: {test_s:.1f} s for {len(tx)} images (no gradients, batches of 512); projected "
          f"300-epoch run including it: ratio {result['full_run_projection']['ratio_including_test']:.3f}",
          f"- torch.compile of the step (steady state, alternating with eager): {json.dumps(comp)}",
          f"- load average before/after: {result['machine']['loadavg_before']} / {result['machine']['loadavg_after']} "
          "(a diffusion training shares the 2 CPU cores, so wall-clock rounds are noisy)", ""]
    atomic_write_text(args.out.with_suffix(".md"), "\n".join(md))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
