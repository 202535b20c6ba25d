"""Baselines as ImageFolders that ``vlcp evaluate`` scores like any distilled set.

- ``random``: a seeded, uniformly random real subset, ``ipc`` images per class.
- ``herding`` / ``kcenter``: per class, in the feature space of a ConvNet trained by vlcp on the full
  training set (as the DC paper's coreset baselines); the extractor's weights are cached as safetensors.
- ``kmeans``: the k-means centroid latents of a run's prototypes decoded by the VAE (no diffusion),
  via ``vlcp.synthesize.decode_centroids``.
- ``medoid``: per class, the real training image nearest each k-means centre of a run's prototypes
  (same latent space, LOF and k-means settings), via ``vlcp.evaluate.medoid.medoid_baseline``.
- ``full``: every real training image (the upper bound).

Each folder holds ``<class>/<n>.png`` and a ``baseline.json`` saying how it was selected.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from vlcp.settings.config import check
from vlcp.data import ImageDataset
from vlcp.data.imagefolder import is_image_file
from vlcp.errors import VlcpError
from vlcp.evaluate.tensors import channel_stats, images_uint8
from vlcp.evaluate.baseline_folder import commit_folder, prepare_folder, read_baseline_info, write_baseline
from vlcp.files.atomic import atomic_write_json
from vlcp.settings.registry import Registry

# name -> rule(train, out_dir, request: BaselineRequest) -> Path; a new baseline is one registered function.
# A rule may set ``ipc_from`` (see :func:`baseline_targets`; default "flag"), ``needs_run`` (default False) and
# ``train_from`` (:func:`baseline_train_source`; default "data").
BASELINE_RULES: Registry = Registry("baseline")


def _rule(name: str, ipc_from: str | None = "flag", needs_run: bool = False, train_from: str | None = "data"):
    """Register a built-in rule with where its IPC and training split come from and whether it reads a run's
    prototypes."""
    def deco(fn):
        fn.ipc_from, fn.needs_run, fn.train_from = ipc_from, needs_run, train_from
        return BASELINE_RULES.register(name)(fn)
    return deco


def baseline_needs_run(method: str) -> bool:
    """True for a rule that reads a run folder's latents or prototypes (kmeans, medoid)."""
    return bool(getattr(BASELINE_RULES.get(method), "needs_run", False))


def baseline_train_source(method: str) -> str | None:
    """Where the rule's training split comes from: "data" (the dataset or the run's recorded data), "run" (the
    split the run's prototypes were made from) or None (the rule reads no real images, kmeans)."""
    return getattr(BASELINE_RULES.get(method), "train_from", "data")


def baseline_targets(method: str, ipcs, out: Path, run_ipc) -> list[tuple[int | None, Path]]:
    """The (ipc, folder) pairs one ``vlcp baseline`` call writes: per ``--ipc`` value for rules whose IPC comes
    from the flag (``ipc_from = "flag"``, required), per value or the run's prototypes' IPC (``"flag_or_run"``,
    ``run_ipc()``), the run's only (``"run"``), or one folder without an IPC (``None``)."""
    source = getattr(BASELINE_RULES.get(method), "ipc_from", "flag")
    if source == "flag_or_run":
        return [(k, out / f"{method}_ipc{k}") for k in (ipcs or [run_ipc()])]
    if source == "flag":
        if not ipcs:
            raise VlcpError(f"setting 'ipc': the {method} baseline needs --ipc")
        return [(k, out / f"{method}_ipc{k}") for k in ipcs]
    if source == "run":
        k = run_ipc()
        return [(k, out / f"{method}_ipc{k}")]
    return [(None, out / method)]


def baseline_names() -> list[str]:
    """The registered baselines, in the order they were declared (the CLI's choices)."""
    return BASELINE_RULES.in_order()


def _network_names() -> list[str]:
    from vlcp.evaluate.networks import NETWORKS

    return NETWORKS.names()


@dataclass(frozen=True)
class BaselineConfig:
    """``vlcp baseline``'s settings (saved as ``baseline.toml`` in each baseline folder)."""

    method: str = field(default="random", metadata={"help": "selection rule", "choices": baseline_names})
    ipc: tuple[int, ...] = field(default=(), metadata={
        "help": "images per class, one folder per value (default: random/herding/kcenter need it; kmeans and "
                "medoid: the run's prototypes' ipc)"})
    seed: int = field(default=0, metadata={"help": "random: selection seed; herding/kcenter: extractor seed"})
    feature_model: str = field(default="convnet3", metadata={
        "help": "herding/kcenter: network trained on the full training set for the feature space",
        "choices": _network_names})
    feature_epochs: int = field(default=5, metadata={"help": "herding/kcenter: its training epochs"})
    resolution: int = field(default=0, metadata={
        "help": "ImageFolder datasets without --run: image side (0: native)"})

    def __post_init__(self) -> None:
        check(self.method in BASELINE_RULES, "method", f"{self.method!r} is not one of {', '.join(baseline_names())}")
        check(all(k >= 1 for k in self.ipc), "ipc", "must be >= 1")
        check(self.feature_epochs >= 1, "feature_epochs", "must be >= 1")
        check(self.resolution >= 0, "resolution", "must be >= 0")


# ---- selection rules -------------------------------------------------------------------------


def _check_ipc(n: int, ipc: int, what: str) -> None:
    if ipc < 1:
        raise VlcpError(f"setting 'ipc': must be ≥ 1 (got {ipc})")
    if ipc > n:
        raise VlcpError(f"setting 'ipc': {what} has only {n} images, fewer than ipc={ipc}")


def select_random(labels: Sequence[int], ipc: int, seed: int = 0) -> np.ndarray:
    """``ipc`` indices per class drawn uniformly without replacement (numpy Generator seeded by ``seed``).

    Returns indices grouped by class (classes in label order), each class's in drawing order.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    out = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        _check_ipc(len(idx), ipc, f"class {c}")
        out.append(rng.choice(idx, size=ipc, replace=False))
    return np.concatenate(out).astype(np.int64)


def _herding_one(f: torch.Tensor, ipc: int) -> list[int]:
    mu = f.mean(dim=0)
    running = torch.zeros_like(mu)
    taken = torch.zeros(len(f), dtype=torch.bool)
    chosen = []
    for k in range(1, ipc + 1):
        d = ((mu - (running + f) / k) ** 2).sum(dim=1)
        d[taken] = float("inf")
        i = int(torch.argmin(d))
        chosen.append(i)
        taken[i] = True
        running += f[i]
    return chosen


def _kcenter_one(f: torch.Tensor, ipc: int) -> list[int]:
    mu = f.mean(dim=0)
    first = int(torch.argmin(((f - mu) ** 2).sum(dim=1)))
    chosen = [first]
    mind = ((f - f[first]) ** 2).sum(dim=1)
    mind[first] = -1.0
    for _ in range(ipc - 1):
        i = int(torch.argmax(mind))
        chosen.append(i)
        mind = torch.minimum(mind, ((f - f[i]) ** 2).sum(dim=1))
        mind[chosen] = -1.0
    return chosen


def _per_class(rule, features, ipc: int, labels) -> np.ndarray:
    f = torch.as_tensor(np.asarray(features), dtype=torch.float64)
    if f.ndim != 2:
        raise VlcpError("features must be a (n, d) matrix")
    if labels is None:
        _check_ipc(len(f), ipc, "the feature set")
        return np.asarray(rule(f, ipc), dtype=np.int64)
    labels = np.asarray(labels)
    out = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        _check_ipc(len(idx), ipc, f"class {c}")
        out.append(idx[rule(f[torch.from_numpy(idx)], ipc)])
    return np.concatenate(out).astype(np.int64)


def select_herding(features, ipc: int, labels: Sequence[int] | None = None) -> np.ndarray:
    """Herding (Welling 2009): greedily pick the point that keeps the mean of the picks closest to the
    class mean. The first pick is the point nearest the mean. Without ``labels``, ``features`` is one
    class and indices are into it; with ``labels``, selection runs per class and returns global indices.
    """
    return _per_class(_herding_one, features, ipc, labels)


def select_kcenter(features, ipc: int, labels: Sequence[int] | None = None) -> np.ndarray:
    """k-center greedy: start from the point nearest the class mean, then repeatedly add the point
    farthest from all picks so far (so the second pick is the farthest from the first). Per class as
    ``select_herding``."""
    return _per_class(_kcenter_one, features, ipc, labels)


# ---- feature space ---------------------------------------------------------------------------


def feature_extractor(train: ImageDataset, *, model: str = "convnet3", epochs: int = 5, seed: int = 0,
                      device: str | torch.device = "cpu", cache_dir: str | Path | None = None,
                      progress: bool = True):
    """A ``model`` network trained on the whole of ``train`` (cached in ``cache_dir`` as
    ``feature_extractor_<model>.safetensors``, reused when model, epochs, seed and data match).

    Returns (network, metadata dict with 'description').
    """
    from vlcp.evaluate.teacher import describe, train_on_full
    cache = Path(cache_dir) / f"feature_extractor_{model}.safetensors" if cache_dir is not None else None
    net, meta = train_on_full(train, model=model, epochs=epochs, seed=seed, device=device, cache=cache,
                              progress=progress)
    meta["description"] = describe(model, epochs)
    return net, meta


def dataset_features(net, train: ImageDataset, *, device: str | torch.device = "cpu", mean=None, std=None,
                     chunk: int = 4096) -> np.ndarray:
    """(n, d) penultimate features of every image of ``train``."""
    from vlcp.evaluate.teacher import extract_features
    if mean is None:
        mean, std = channel_stats(train)
    out = []
    for i in range(0, len(train), chunk):
        x = images_uint8(train, np.arange(i, min(len(train), i + chunk)))
        out.append(extract_features(net, x, mean, std, device).numpy())
    return np.concatenate(out)


def kmeans_baseline(run_dir: str | Path, out_dir: str | Path) -> Path:
    """Decode a run's k-means centroid latents with its VAE (no diffusion) into ``out_dir``."""
    run_dir, out = Path(run_dir), Path(out_dir)
    candidates = [run_dir / "prototypes" / "prototypes.safetensors", run_dir / "prototypes.safetensors"]
    if not run_dir.is_dir():
        raise VlcpError(f"{run_dir}: run folder not found")
    if not any(p.exists() for p in candidates):
        raise VlcpError(f"{run_dir}: the run has no prototypes (expected prototypes/prototypes.safetensors); "
                        "run the prototypes stage first")
    try:
        from vlcp.synthesize import decode_centroids
    except ImportError as e:
        raise VlcpError(f"the kmeans baseline needs vlcp.synthesize.decode_centroids, which is not available ({e})") \
            from None
    tmp = prepare_folder(out)
    try:
        written = Path(decode_centroids(run_dir, tmp))
        counts = {d.name: sum(1 for f in d.iterdir() if is_image_file(f))
                  for d in sorted(written.iterdir()) if d.is_dir()}
        if not counts or not any(counts.values()):
            raise VlcpError(f"{run_dir}: decoding the centroids wrote no images")
        meta = {"method": "kmeans", "description": "k-means centroid latents decoded by the VAE without diffusion",
                "ipc": max(counts.values()), "images": sum(counts.values()), "per_class": counts,
                "run": str(run_dir)}
        atomic_write_json(written / "baseline.json", meta)
        commit_folder(written, out)
        shutil.rmtree(tmp, ignore_errors=True)
        return out
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@dataclass(frozen=True)
class BaselineRequest:
    """What a baseline rule may use besides the training split and the output folder (see :func:`make_baseline`)."""

    ipc: int | None = None
    seed: int = 0
    feature_model: str = "convnet3"
    feature_epochs: int = 5
    device: str | torch.device = "cpu"
    run_dir: str | Path | None = None
    cache_dir: str | Path | None = None
    progress: bool = True

    def need_ipc(self, method: str) -> int:
        if self.ipc is None:
            raise VlcpError(f"setting 'ipc': the {method} baseline needs --ipc")
        return self.ipc

    def need_run(self, method: str, what: str) -> Path:
        if self.run_dir is None:
            raise VlcpError(f"the {method} baseline needs --run (a run folder with {what})")
        return Path(self.run_dir)


@_rule("random")
def _random(train: ImageDataset, out: Path, r: BaselineRequest) -> Path:
    ipc = r.need_ipc("random")
    return write_baseline(train, select_random(np.asarray(train.labels), ipc, r.seed), out, method="random",
                          description=f"random real subset, {ipc} per class, uniform without replacement "
                                      f"(seed {r.seed})", extra={"seed": r.seed})


def _feature_rule(method: str, rule, name: str):
    """A coreset baseline: ``rule`` per class in the feature space of a ConvNet trained on the training split."""
    def make(train: ImageDataset, out: Path, r: BaselineRequest) -> Path:
        ipc = r.need_ipc(method)
        net, meta = feature_extractor(train, model=r.feature_model, epochs=r.feature_epochs, seed=r.seed,
                                      device=r.device, cache_dir=r.cache_dir if r.cache_dir is not None else out.parent,
                                      progress=r.progress)
        mean, std = channel_stats(train)
        feats = dataset_features(net, train, device=r.device, mean=mean, std=std)
        return write_baseline(train, rule(feats, ipc, np.asarray(train.labels)), out, method=method,
                              description=f"{name} per class in the feature space of {meta['description']}",
                              extra={"feature_extractor": {"model": meta["model"], "epochs": int(meta["epochs"]),
                                                           "seed": int(meta["seed"])},
                                     "seed": r.seed})
    return make


_rule("herding")(_feature_rule("herding", select_herding, "herding"))
_rule("kcenter")(_feature_rule("kcenter", select_kcenter, "k-center greedy"))


@_rule("kmeans", ipc_from="run", needs_run=True, train_from=None)
def _kmeans(train: ImageDataset, out: Path, r: BaselineRequest) -> Path:
    return kmeans_baseline(r.need_run("kmeans", "prototypes"), out)


@_rule("medoid", ipc_from="flag_or_run", needs_run=True, train_from="run")
def _medoid(train: ImageDataset, out: Path, r: BaselineRequest) -> Path:
    from vlcp.evaluate.medoid import medoid_baseline

    return medoid_baseline(r.need_run("medoid", "latents and prototypes"), out, ipc=r.ipc, train=train)


@_rule("full", ipc_from=None)
def _full(train: ImageDataset, out: Path, r: BaselineRequest) -> Path:
    return write_baseline(train, np.arange(len(train)), out, method="full",
                          description="the whole real training set (upper bound)")


def make_baseline(method: str, train: ImageDataset, out_dir: str | Path, *, ipc: int | None = None, seed: int = 0,
                  feature_model: str = "convnet3", feature_epochs: int = 5, device: str | torch.device = "cpu",
                  run_dir: str | Path | None = None, cache_dir: str | Path | None = None,
                  progress: bool = True) -> Path:
    """Build one baseline folder with the registered rule ``method`` (``BASELINE_RULES``). ``ipc`` is required
    for random / herding / kcenter; ``run_dir`` for kmeans and medoid (medoid: ``train`` is the run's training
    split, None reads the run's recorded data; ``ipc`` None takes the run's prototypes as they are).
    ``cache_dir`` holds the feature extractor's weights (default: the parent of ``out_dir``)."""
    if method not in BASELINE_RULES:
        raise VlcpError(f"setting 'method': {method!r} is not one of {', '.join(baseline_names())}")
    request = BaselineRequest(ipc, seed, feature_model, feature_epochs, device, run_dir, cache_dir, progress)
    return BASELINE_RULES.get(method)(train, Path(out_dir), request)


def baseline_info(folder: str | Path) -> dict:
    """A baseline folder's ``baseline.json`` (checked, ``read_baseline_info``); {} when absent."""
    return read_baseline_info(folder)
