"""The ``medoid`` baseline: per class, the real training image nearest each k-means centre.

It answers "does diffusion add anything over picking real images near the prototypes?". The space and
the clustering are the prototypes stage's own: the VAE latents of the run (``RUN/latents``), LOF outlier
removal and k-means with the settings of ``RUN/prototypes/prototypes.toml`` (:class:`ImagePrototypes`).
For each centre the pick is the nearest *member of its cluster* (an inlier that k-means assigned to that
centre) — the first entry of that cluster in ``clusters.json`` — so every prototype gets its own real
image and no image is picked twice; an empty cluster (duplicate latents only) gets none. The saved
image is the original real image (pixels, not a VAE reconstruction).

When the run's prototypes were built with the asked ``ipc`` their ``clusters.json`` is read as is;
for another ``ipc`` the same clustering is refitted on the run's latents (deterministic: same seed,
same settings, only k changed).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from vlcp.errors import VlcpError
from vlcp.files.atomic import read_json

__all__ = ["select_medoids", "medoid_indices_from_clusters", "run_medoids", "medoid_baseline", "run_train_split"]


def _estimator(ipc: int, settings: dict):
    from vlcp.prototypes.image import ImagePrototypes

    return ImagePrototypes(n_prototypes=ipc, contamination=settings.get("contamination", 0.1),
                           n_neighbors=settings.get("n_neighbors", 10), n_init=settings.get("n_init", 10),
                           random_state=settings.get("seed", 0), allow_fewer=settings.get("allow_fewer", False))


def select_medoids(features, labels: Sequence[int], ipc: int, *, contamination: float = 0.1,
                   n_neighbors: int = 10, n_init: int = 10, seed: int = 0,
                   allow_fewer: bool = False) -> np.ndarray:
    """Per class: LOF + k-means (k = ``ipc``) on ``features`` (n, d), then for each centre the index of
    its nearest cluster member. Returns global indices grouped by class (label order), cluster order
    within a class. The settings are :class:`vlcp.prototypes.PrototypesConfig`'s (same defaults)."""
    X = np.asarray(features, dtype=np.float32)
    labels = np.asarray(labels)
    if X.ndim != 2 or len(X) != len(labels):
        raise VlcpError(f"features must be a (n, d) matrix with one label per row (got {X.shape}, {labels.shape})")
    settings = {"contamination": contamination, "n_neighbors": n_neighbors, "n_init": n_init, "seed": seed,
                "allow_fewer": allow_fewer}
    out = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        est = _estimator(ipc, settings).fit(X[idx], ids=idx, name=str(c))
        out += [int(m[0]) for m in est.members_ if len(m)]
    return np.asarray(out, dtype=np.int64)


def _index_of(dataset) -> dict[str, int]:
    return {dataset.file_name(i): i for i in range(len(dataset))}


def medoid_indices_from_clusters(clusters: dict, dataset, source: str = "clusters.json") -> np.ndarray:
    """Dataset indices of the nearest member of every cluster in a prototypes stage's ``clusters.json``
    (``{class_id: {"members": [[file_name, ...] nearest first, ...]}}``); class order as in the file."""
    where = _index_of(dataset)
    out = []
    for cid, entry in clusters.items():
        for members in entry["members"]:
            if not members:
                continue
            if members[0] not in where:
                raise VlcpError(f"{source}: class {cid!r}: image {members[0]!r} is not in the training split "
                                f"(the run's data settings changed since the prototypes stage?)")
            out.append(where[members[0]])
    return np.asarray(out, dtype=np.int64)


def _prototype_settings(run_dir: Path) -> dict:
    from vlcp.settings.options import toml_section

    p = run_dir / "prototypes" / "prototypes.toml"
    return toml_section(p, "prototypes") if p.exists() else {}


def run_medoids(run_dir: str | Path, dataset, ipc: int | None = None) -> np.ndarray:
    """Indices into ``dataset`` (the run's training split) of the medoid baseline of a run: from
    ``RUN/prototypes/clusters.json`` when its k is ``ipc`` (or ``ipc`` is None), else refitted on
    ``RUN/latents`` with the run's prototypes settings and k = ``ipc``."""
    run_dir = Path(run_dir)
    clusters_path = run_dir / "prototypes" / "clusters.json"
    settings = _prototype_settings(run_dir)
    if clusters_path.exists():
        clusters = read_json(clusters_path)
        ks = {int(e["k"]) for e in clusters.values()}
        if ipc is None or ks == {ipc} or (settings.get("ipc") == ipc and settings.get("allow_fewer")):
            return medoid_indices_from_clusters(clusters, dataset, str(clusters_path))
    elif ipc is None:
        raise VlcpError(f"{clusters_path}: not found; run `vlcp prototypes` first, or give --ipc to cluster "
                        f"{run_dir / 'latents'}")
    return _refit(run_dir, dataset, ipc, settings)


def _refit(run_dir: Path, dataset, ipc: int, settings: dict) -> np.ndarray:
    from vlcp.files.latents import LatentStore

    store = LatentStore(run_dir / "latents")
    if not store.exists():
        raise VlcpError(f"{store.root}: no latents (index.json missing); run `vlcp encode` first")
    where = _index_of(dataset)
    out = []
    for cid in store.classes():
        cl = store.read_class(cid)
        est = _estimator(ipc, settings).fit(cl.flat(), ids=np.arange(len(cl.file_names)), name=cid)
        for m in est.members_:
            if len(m):
                name = cl.file_names[int(m[0])]
                if name not in where:
                    raise VlcpError(f"{store.root / cid}: latent {name!r} is not in the run's training split")
                out.append(where[name])
    return np.asarray(out, dtype=np.int64)


def run_train_split(run_dir: str | Path):
    """The training split a run was built from (``RUN/settings.toml``, see ``vlcp.run.state``; defaults when absent)."""
    from vlcp.run.state import recorded_data

    return recorded_data(run_dir).load("train")


def medoid_baseline(run_dir: str | Path, out_dir: str | Path, *, ipc: int | None = None, train=None) -> Path:
    """Write the medoid baseline of a run into ``out_dir`` (an ImageFolder with ``baseline.json``).
    ``train`` is the run's training split (default: the run's recorded data)."""
    from vlcp.evaluate.baseline_folder import write_baseline

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise VlcpError(f"{run_dir}: run folder not found")
    train = run_train_split(run_dir) if train is None else train
    idx = run_medoids(run_dir, train, ipc)
    s = _prototype_settings(run_dir)
    desc = ("real training image nearest each k-means centre (its cluster's nearest member; VAE latent space, "
            f"LOF contamination {s.get('contamination', 0.1)} + k-means as the prototypes stage)")
    return write_baseline(train, idx, out_dir, method="medoid", description=desc, extra={"run": str(run_dir)})
