"""The reference rows DD-Ranking's scores need, for ``vlcp evaluate --run RUN --protocol ddranking``.

- a random real subset of each scored IPC: ``RUN/baselines/random_ipc<k>`` (made, seeded, when missing);
- the whole training set under the same protocol and network: reused from ``RUN/eval/results.json`` (or a
  ``--merge`` file) when a row is cached there; else a line saying how to make one and how long it takes here
  (a few training steps of the protocol's whole-set recipe, timed, times its epochs).
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from vlcp.data.imagefolder import is_image_file
from vlcp.evaluate.protocols import PROTOCOLS


def needs_references(protocol: str) -> bool:
    """True for the protocols whose rows are read as DD-Ranking scores (the ddranking presets)."""
    return protocol.startswith("ddranking")


def folder_ipc(folder: Path) -> int:
    """The largest number of images in one class folder of an ImageFolder."""
    counts = [sum(1 for f in c.iterdir() if is_image_file(f)) for c in folder.iterdir()
              if c.is_dir() and not c.name.startswith(".")]
    return max(counts, default=0)


def ensure_random(run: Path, folders: list[Path], seed: int) -> list[Path]:
    """Random subsets ``RUN/baselines/random_ipc<k>`` for every IPC among ``folders`` that lacks one (made from
    the run's recorded training split with ``seed``); returns the folders made."""
    from vlcp.evaluate.baselines import make_baseline
    from vlcp.run.state import recorded_data

    have = {folder_ipc(f) for f in folders if f.name.startswith("random_ipc")}
    want = sorted({folder_ipc(f) for f in folders if f.name != "full"} - have - {0})
    made = []
    for ipc in want:
        out = run / "baselines" / f"random_ipc{ipc}"
        if out.exists():
            continue
        train = recorded_data(run).load("train")
        made.append(make_baseline("random", train, out, ipc=ipc, seed=seed, progress=False))
        print(f"{out}: random real subset, {ipc} per class (seed {seed}) — the IOR reference")
    return made


def cached_whole(rows, protocol: str, model: str):
    """The whole-training-set row of ``protocol`` and ``model`` among ``rows`` (None if there is none)."""
    return next((r for r in rows if r.method == "full" and r.protocol == protocol and r.model == model), None)


def skip_cached_whole(folders: list[Path], out: Path, config) -> list[Path]:
    """``folders`` without the whole training set (``baselines/full``) when ``out/results.json`` already holds its
    row for this protocol and network (hours of training; reused, and said so, by ``vlcp evaluate``)."""
    from vlcp.errors import VlcpError
    from vlcp.evaluate.results import read_results

    path = Path(out) / "results.json"
    if not needs_references(config.protocol) or not path.exists():
        return folders
    try:
        cached = cached_whole(read_results(path), config.protocol, config.model)
    except VlcpError:
        return folders
    return [f for f in folders if f.name != "full"] if cached is not None else folders


def whole_set_seconds(config, n_images: int, channels: int, side: int, num_classes: int, steps: int = 2) -> float:
    """Seconds a fresh whole-set row takes here: ``steps`` timed SGD steps of the protocol's whole-set recipe
    (after one warm-up), times its steps per epoch and epochs, times ``config.repeats``."""
    from vlcp.evaluate.networks import build_network

    protocol = PROTOCOLS.get(config.protocol).for_classes(num_classes).for_method("full")
    batch = protocol.default_batch_size(n_images, num_classes)
    epochs = config.epochs or protocol.default_epochs(n_images // max(1, num_classes), num_classes)
    device = config.resolved_device()
    net = build_network(config.model, channels, num_classes, side, norm=config.resolved_norm(),
                        generator=torch.Generator().manual_seed(0)).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=protocol.lr, momentum=protocol.momentum)
    x = torch.rand(batch, channels, side, side, device=device)
    y = torch.randint(0, num_classes, (batch,), device=device)
    for i in range(steps + 1):
        if i == 1:
            start = time.perf_counter()
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    per_step = (time.perf_counter() - start) / steps
    return per_step * -(-n_images // batch) * epochs * config.repeats


def whole_set_line(run: Path, config, n_images: int, channels: int, side: int, num_classes: int) -> str:
    """The one line printed when no whole-set row is cached: what HLR / LRS lack and how to get it, timed."""
    secs = whole_set_seconds(config, n_images, channels, side, num_classes)
    protocol = PROTOCOLS.get(config.protocol).for_method("full")
    epochs = config.epochs or protocol.default_epochs(n_images // max(1, num_classes), num_classes)
    return (f"note: no whole-set row for {config.model}/{config.protocol} in {run / 'eval' / 'results.json'}: HLR "
            f"and LRS are left out. Make one with `vlcp baseline --method full --run {run}` then `vlcp evaluate "
            f"{run / 'baselines' / 'full'} --run {run} --protocol {config.protocol}`: {epochs} epochs over "
            f"{n_images:,} images × {config.repeats} run(s), about {secs / 3600:.1f} h on this machine "
            f"(timed from {protocol.default_batch_size(n_images, num_classes)}-image training steps here).")
