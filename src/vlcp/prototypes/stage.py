"""The ``prototypes`` stage: latents + captions -> image prototypes, text prototypes, prompts, report.

Reads the latents store one class at a time. Writes into ``out_dir``:

* ``prototypes.safetensors`` — one float32 tensor per class id, shape (k, C, H, W): the k-means
  centres in latent space (metadata: ``shape`` [C, H, W] as JSON);
* ``medoids.safetensors`` — the same layout: per cluster the latent of its nearest member (the real image
  nearest the centre, ``clusters.json``'s first member; the centre itself for an empty cluster), the start of
  ``SynthesizeConfig.start = "medoid"`` / ``"mix"``;
* ``clusters.json`` — ``{class_id: {"k", "members": [[file_name, ...] per cluster, nearest
  first], "outliers": [file_name, ...], "n", "n_inliers"}}``;
* ``text_prototypes.json`` — ``{"strategy", "classes": {class_id: [{"cluster", "text"
  (the prompt), "size", "caption" (the DCS caption), "file_name" (its sample)}, ...]}}``;
* ``prototype_report.json`` / ``prototype_report.md`` — Table 6 per class (see ``report.py``);
* ``prototypes.toml`` — the resolved settings (section ``[prototypes]``).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from vlcp.caption import read_captions  # noqa: F401  (re-exported: the stage reads this format)
from vlcp.errors import VlcpError
from vlcp.files.atomic import atomic_write_json
from vlcp.files.latents import ClassLatents, LatentStore
from vlcp.prototypes.config import PrototypesConfig
from vlcp.prototypes.image import ImagePrototypes
from vlcp.prototypes.report import write_report
from vlcp.prototypes.strategies import STRATEGIES, KeywordSentenceGenerator, PromptStrategy
from vlcp.prototypes.text import TextPrototype, default_stop_words, load_stop_words, text_prototypes
from vlcp.settings.config import save_config, to_dict

__all__ = ["run_prototypes", "read_captions", "PrototypesResult", "ARTIFACTS"]

log = logging.getLogger(__name__)

ARTIFACTS = {"prototypes": "prototypes.safetensors", "medoids": "medoids.safetensors", "clusters": "clusters.json",
             "text_prototypes": "text_prototypes.json", "report_json": "prototype_report.json",
             "report_md": "prototype_report.md", "config": "prototypes.toml"}


@dataclass
class PrototypesResult:
    """Where the artifacts went, and per class ``{"k", "n", "n_inliers", "prompts"}``."""

    out_dir: Path
    paths: dict[str, Path]
    classes: dict[str, dict] = field(default_factory=dict)


def _save_safetensors(path: Path, tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> None:
    from vlcp.files.tensors import save_safetensors

    save_safetensors(path, tensors, metadata)  # atomic, sorted metadata, usual permissions


def _class_captions(cid: str, file_names: list[str], captions: Mapping[str, str]) -> None:
    missing = [f for f in file_names if f not in captions]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise VlcpError(f"class {cid!r}: no caption for latent {missing[0]!r}{more} "
                        f"(run `vlcp caption` over the same images, or pass the matching --captions)")
    empty = [f for f in file_names if not captions[f].strip()]
    if empty:
        raise VlcpError(f"class {cid!r}: empty caption for {empty[0]!r}"
                        + (f" and {len(empty) - 1} more" if len(empty) > 1 else ""))


@dataclass
class _Outputs:
    """What the stage writes, per class id, filled one class at a time."""

    centres: dict[str, np.ndarray] = field(default_factory=dict)
    medoids: dict[str, np.ndarray] = field(default_factory=dict)
    clusters: dict[str, dict] = field(default_factory=dict)
    texts: dict[str, list[dict]] = field(default_factory=dict)
    report: dict[str, dict] = field(default_factory=dict)


def _store_layout(store: LatentStore, class_names: list[str] | None) -> tuple[list[str], list[str], tuple[int, ...]]:
    """(class ids, prompt names, latent shape) of ``store``; one line when it is missing or the names do not fit."""
    if not store.exists():
        raise VlcpError(f"{store.root}: no latents store (index.json missing; run `vlcp encode` first)")
    index = store.index
    classes = list(index["classes"])
    names = list(class_names) if class_names is not None else list(index.get("class_names") or classes)
    if len(names) != len(classes):
        raise VlcpError(f"{len(names)} class names for {len(classes)} classes in {store.root}")
    return classes, names, tuple(int(s) for s in index["shape"])


def _fit_class(cl: ClassLatents, cid: str, config: PrototypesConfig, shape: tuple[int, ...],
               captions: Mapping[str, str]) -> tuple[ImagePrototypes, np.ndarray]:
    """The class's fitted image prototypes and its medoids (k, *shape), after checking its latents and captions."""
    X = cl.flat()
    if X.shape[1] != int(np.prod(shape)):
        raise VlcpError(f"class {cid!r}: latents of size {X.shape[1]} do not match the store's shape {list(shape)}")
    _class_captions(cid, cl.file_names, captions)
    est = ImagePrototypes(n_prototypes=config.ipc, contamination=config.contamination,
                          n_neighbors=config.n_neighbors, n_init=config.n_init,
                          random_state=config.seed, allow_fewer=config.allow_fewer)
    est.fit(X, ids=np.arange(len(X)), name=cid)
    medoids = cluster_medoids(X, est).reshape((est.k_, *shape))
    if est.k_ < config.ipc:
        log.warning("class %r: %d inliers, using k = %d instead of ipc = %d", cid, est.n_inliers_, est.k_, config.ipc)
    return est, medoids


def _cluster_rows(est: ImagePrototypes, cl: ClassLatents, cname: str, protos: list[TextPrototype],
                  prompts: Iterable[str], order: list[int]) -> tuple[list[dict], list[dict]]:
    """(text_prototypes.json entries, report rows), one per cluster; an empty cluster's prompt is the class name."""
    by_cluster: dict[int, TextPrototype] = {p.cluster: p for p in protos}
    prompts_present = iter(prompts)
    nonrep = protos[0].nonrepresentative if protos else []
    entries, rows = [], []
    for c in range(est.k_):
        p = by_cluster.get(c)
        if p is None:  # an empty cluster (duplicate latents): the class name is all there is
            entries.append({"cluster": c, "text": cname, "size": 0, "caption": None, "file_name": None})
            rows.append({"cluster": c, "size": 0, "keywords": [], "text": "", "file_name": None,
                         "score": 0, "prompt": cname, "nonrepresentative": nonrep})
            continue
        prompt = next(prompts_present)
        fn = cl.file_names[order[p.index]]
        entries.append({"cluster": c, "text": prompt, "size": p.size, "caption": p.text, "file_name": fn})
        rows.append({"cluster": c, "size": p.size, "keywords": [[w, n] for w, n in p.keywords],
                     "text": p.text, "file_name": fn, "score": p.score, "prompt": prompt,
                     "nonrepresentative": nonrep})
    return entries, rows


def _class_texts(est: ImagePrototypes, cl: ClassLatents, cname: str, captions: Mapping[str, str],
                 config: PrototypesConfig, stop: frozenset[str], strategy: PromptStrategy
                 ) -> tuple[list[dict], list[dict], list[str]]:
    """(entries, report rows, non-representative words) of one class: Algorithm 2 over its clusters' captions,
    members nearest the centre first, then the strategy's prompts for the clusters that have captions."""
    order = [int(i) for g in est.members_ for i in g]
    assign = [c for c, g in enumerate(est.members_) for _ in g]
    protos = text_prototypes([captions[cl.file_names[i]] for i in order], assign, cname,
                             beta=config.beta, top_k=config.top_k, stop_words=stop)
    by_cluster = {p.cluster: p for p in protos}
    present = [by_cluster[c] for c in range(est.k_) if c in by_cluster]
    entries, rows = _cluster_rows(est, cl, cname, protos, strategy.prompts(cname, present), order)
    return entries, rows, protos[0].nonrepresentative if protos else []


def _add_class(out: _Outputs, result: PrototypesResult, cid: str, cname: str, est: ImagePrototypes,
               cl: ClassLatents, shape: tuple[int, ...], texts: tuple[list[dict], list[dict], list[str]]) -> None:
    """Record one finished class in ``out`` and ``result``."""
    entries, rows, nonrep = texts
    fnames = np.asarray(cl.file_names, dtype=object)
    out.centres[cid] = est.centers_.reshape((est.k_, *shape)).astype(np.float32, copy=False)
    out.clusters[cid] = {"k": est.k_, "members": [fnames[g].tolist() for g in est.members_],
                         "outliers": fnames[est.outliers_].tolist(), "n": est.n_samples_,
                         "n_inliers": est.n_inliers_}
    out.texts[cid] = entries
    out.report[cid] = {"class_name": cname, "n": est.n_samples_, "n_inliers": est.n_inliers_,
                       "n_outliers": est.n_samples_ - est.n_inliers_, "k": est.k_,
                       "nonrepresentative": nonrep, "clusters": rows}
    result.classes[cid] = {"k": est.k_, "n": est.n_samples_, "n_inliers": est.n_inliers_,
                           "prompts": [e["text"] for e in entries]}
    log.info("class %s: n=%d inliers=%d k=%d", cid, est.n_samples_, est.n_inliers_, est.k_)


def _write_outputs(out: _Outputs, result: PrototypesResult, config: PrototypesConfig, classes: list[str],
                   shape: tuple[int, ...]) -> None:
    """Write every artifact into ``result.out_dir``."""
    result.out_dir.mkdir(parents=True, exist_ok=True)
    for key, tensors in (("prototypes", out.centres), ("medoids", out.medoids)):
        _save_safetensors(result.paths[key], tensors, {"shape": json.dumps(list(shape)), "classes": json.dumps(classes)})
    atomic_write_json(result.paths["clusters"], out.clusters)
    atomic_write_json(result.paths["text_prototypes"], {"strategy": config.strategy, "classes": out.texts})
    write_report({"strategy": config.strategy, "config": to_dict(config), "classes": out.report}, result.out_dir)
    save_config(config, result.paths["config"], section="prototypes")


def run_prototypes(store: LatentStore, captions: Mapping[str, str], out_dir: str | Path,
                   config: PrototypesConfig, class_names: list[str] | None = None,
                   generator: KeywordSentenceGenerator | None = None, device: str = "cpu") -> PrototypesResult:
    """Build image and text prototypes for every class of ``store`` and write the artifacts.

    ``captions`` maps latent file names to their captions (see :func:`read_captions`);
    ``class_names`` (prompt names, aligned with ``store.classes()``) default to the store's.
    ``generator`` is a built :class:`KeywordSentenceGenerator` for strategy ``generated``; when
    omitted it is loaded from ``config.generator_model`` onto ``device``.
    """
    out_dir = Path(out_dir)
    classes, names, shape = _store_layout(store, class_names)
    if config.strategy == "generated" and generator is None:
        generator = KeywordSentenceGenerator.from_pretrained(config.generator_model, max_new_tokens=config.max_new_tokens,
                                                             device=device)
    strategy = STRATEGIES.get(config.strategy)(generator=generator)
    stop = default_stop_words() if config.stop_words is None else _stop_words(config.stop_words)
    out = _Outputs()
    result = PrototypesResult(out_dir=out_dir, paths={k: out_dir / v for k, v in ARTIFACTS.items()})
    for cid, cname in zip(classes, names):
        cl = store.read_class(cid)
        est, out.medoids[cid] = _fit_class(cl, cid, config, shape, captions)
        texts = _class_texts(est, cl, cname, captions, config, stop, strategy)
        _add_class(out, result, cid, cname, est, cl, shape, texts)
        del cl, est
    _write_outputs(out, result, config, classes, shape)
    return result


def cluster_medoids(X: np.ndarray, est: ImagePrototypes) -> np.ndarray:
    """(k, d) float32: per cluster of the fitted ``est`` (ids = rows of ``X``) the row of its nearest member;
    an empty cluster (duplicate latents) keeps its centre."""
    out = est.centers_.astype(np.float32, copy=True)
    for c, members in enumerate(est.members_):
        if len(members):
            out[c] = X[int(members[0])]
    return out


def _stop_words(path: Path) -> frozenset[str]:
    if not Path(path).exists():
        raise VlcpError(f"setting 'stop_words': {path}: file not found")
    return load_stop_words(str(path))
