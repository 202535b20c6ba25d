"""DD-Ranking's scores (Li et al. 2025, ``ddranking`` 0.2.0) from result rows of one protocol, network and IPC.

- IOR, improvement over random: Acc(distilled) − Acc(random real subset of the same IPC).
- HLR, hard-label recovery: Acc(whole training set) − Acc(distilled); lower is better.
- LRS, label-robust score: (e^α − e^−1) / (e − e^−1) with α = λ·IOR − (1 − λ)·HLR, λ = 0.5.
- ARS, augmentation-robust score: the same normalised exponential of
  β = γ·(Acc_syn-aug − Acc_rdm-aug) + (1 − γ)·(Acc_syn-naug − Acc_rdm-naug), γ = 0.5, where "aug" is the
  protocol (with its augmentation) and "naug" its registered twin without augmentation (``<protocol>_noaug``).

Accuracies enter as fractions in [0, 1], as the paper defines them, so that α, β ∈ [−1, 1] and LRS, ARS ∈
[0, 1]. (ddranking 0.2.0 exponentiates accuracies in percent — ``metrics/hard_label.py`` lines 380-383,
``metrics/aug_robust.py`` lines 579-580 — which leaves [0, 1].) Tables show every score ×100. As the package,
run i of a set is paired with run i of the random set (when both have as many runs) and the score's mean ± std
is over those pairs; the whole-set row enters with its mean.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from vlcp.settings.config import check

SCORE_NAMES = ("IOR", "HLR", "LRS", "ARS")
SCORE_MEANINGS = {
    "IOR": "improvement over a random real subset of the same IPC under the same protocol (accuracy points; "
           "what the distillation adds beyond picking images at random)",
    "HLR": "hard-label recovery: whole-training-set accuracy minus the set's (accuracy points; the gap left to "
           "close, lower is better)",
    "LRS": "label-robust score: e-normalised 0.5·IOR − 0.5·HLR on fractions, ×100 (0 at α = −1, 100 at α = 1; "
           "26.9 where IOR = HLR = 0; higher is better)",
    "ARS": "augmentation-robust score: e-normalised mean of the gains over random with and without the "
           "protocol's augmentation, ×100 (does the set still beat random when augmentation is off?)",
}
NOAUG_SUFFIX = "_noaug"
WHOLE_METHOD = "full"


@dataclass(frozen=True)
class ScoreConfig:
    """DD-Ranking's weights: ``lrs_weight`` λ (``lrs_lambda`` 0.5) and ``ars_weight`` γ (``ars_lambda`` 0.5)."""

    lrs_weight: float = field(default=0.5, metadata={"help": "λ of LRS: weight of IOR against HLR"})
    ars_weight: float = field(default=0.5, metadata={"help": "γ of ARS: weight of the augmented gain"})

    def __post_init__(self) -> None:
        for name in ("lrs_weight", "ars_weight"):
            v = getattr(self, name)
            check(isinstance(v, (int, float)) and 0.0 <= v <= 1.0, name, "must be in [0, 1]")


def normalised_exp(x: float) -> float:
    """(e^x − e^−1) / (e − e^−1): maps [−1, 1] onto [0, 1], 0 onto (1 − e^−1)/(e − e^−1) ≈ 0.269."""
    return (math.exp(x) - math.exp(-1.0)) / (math.exp(1.0) - math.exp(-1.0))


def ior(syn: float, rdm: float) -> float:
    """Improvement over random, accuracies as fractions."""
    return syn - rdm


def hlr(full: float, syn: float) -> float:
    """Hard-label recovery, accuracies as fractions."""
    return full - syn


def lrs(ior_: float, hlr_: float, weight: float = 0.5) -> float:
    """Label-robust score in [0, 1] from IOR and HLR (fractions)."""
    return normalised_exp(weight * ior_ - (1.0 - weight) * hlr_)


def ars(syn_aug: float, rdm_aug: float, syn_naug: float, rdm_naug: float, weight: float = 0.5) -> float:
    """Augmentation-robust score in [0, 1] (accuracies as fractions)."""
    return normalised_exp(weight * (syn_aug - rdm_aug) + (1.0 - weight) * (syn_naug - rdm_naug))


def paired(a: Sequence[float], b: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Per-run accuracies of two rows as fractions, paired run by run when the counts agree, else each row's
    runs against the other's mean."""
    x, y = np.asarray(a, dtype=float) / 100.0, np.asarray(b, dtype=float) / 100.0
    if len(x) == len(y):
        return x, y
    return x, np.full_like(x, y.mean())


def spread_text(mean: float, std: float, runs: int, digits: int = 1) -> str:
    """``mean ± std``, or the mean alone for one network (no spread was measured). A mean that rounds to zero
    from below prints as 0.0, not -0.0."""
    return f"{mean:z.{digits}f}" if runs == 1 else f"{mean:z.{digits}f} ± {std:.{digits}f}"


@dataclass(frozen=True)
class Score:
    """One score of one row: mean and population std over runs, ×100 (accuracy points, or LRS/ARS in [0, 100])."""

    name: str
    mean: float
    std: float
    runs: int
    note: str = ""

    def text(self, digits: int = 1) -> str:
        return spread_text(self.mean, self.std, self.runs, digits) + (" ‡" if self.note else "")

    def to_dict(self) -> dict:
        d = {"mean": round(self.mean, 4), "std": round(self.std, 4), "runs": self.runs}
        if self.note:
            d["note"] = self.note
        return d


def summarise(name: str, values: np.ndarray, note: str = "") -> Score:
    v = 100.0 * np.asarray(values, dtype=float)
    return Score(name, float(v.mean()), float(v.std()), len(v), note)


@dataclass
class RowScores:
    """The scores of one distilled-set row (absent ones refused, with the reason in ``score_notes``)."""

    method: str
    ipc: int
    model: str
    protocol: str
    accuracy: float
    scores: dict[str, Score] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"method": self.method, "ipc": self.ipc, "model": self.model, "protocol": self.protocol,
                "accuracy": round(self.accuracy, 4), **{k: v.to_dict() for k, v in self.scores.items()}}


def is_random(row) -> bool:
    """A random real subset: method ``random`` or a folder whose selection says so (``vlcp baseline random``)."""
    return row.method == "random" or str(row.settings.get("selection", "")).startswith("random real subset")


def is_whole(row) -> bool:
    """The whole-training-set row (``vlcp.evaluate.results.FULL_METHOD``, not imported: results imports this)."""
    return row.method == WHOLE_METHOD


def whole_note(whole, protocol: str) -> str:
    """Why the whole-set row was trained differently from the protocol's whole-set recipe ('' when it was not)."""
    from vlcp.evaluate.protocols import PROTOCOLS

    notes = []
    s = whole.settings
    if protocol in PROTOCOLS and isinstance(s.get("num_classes"), int):
        want = PROTOCOLS.get(protocol).for_method(whole.method).default_epochs(whole.ipc, s["num_classes"])
        if s.get("epochs") is not None and s["epochs"] != want:
            notes.append(f"whole set trained {s['epochs']} of the protocol's {want} epochs")
    if s.get("reference"):
        notes.append(f"whole set {s['reference']}")
    return "; ".join(notes)


def _line_rows(rows, ipc: int, model: str, protocol: str) -> tuple[list, object, object]:
    """(distilled rows, random row, whole row) of one table line."""
    same = [r for r in rows if r.model == model and r.protocol == protocol]
    rdm = next((r for r in same if r.ipc == ipc and is_random(r) and r.accuracies), None)
    whole = next((r for r in same if is_whole(r)), None)
    syn = [r for r in same if r.ipc == ipc and not is_random(r) and not is_whole(r) and r.accuracies]
    return syn, rdm, whole


def _refusals(rows, ipc, model, protocol, rdm, whole) -> list[str]:
    where = f"IPC {ipc}, {model}/{protocol}"
    out = []
    if rdm is None:
        out.append(f"IOR, LRS not scored at {where}: no random-subset row of the same protocol, network and IPC "
                   f"(`vlcp baseline --method random --ipc {ipc}`, then evaluate it with --protocol {protocol}).")
    if whole is None:
        other = sorted({r.protocol for r in rows if is_whole(r) and r.model == model})
        why = f"the whole-set row is from protocol {', '.join(other)}" if other else "no whole-training-set row"
        out.append(f"HLR, LRS not scored at {where}: {why}; a whole-set row of protocol {protocol} and network "
                   f"{model} is needed (`vlcp baseline --method full`, evaluated with --protocol {protocol}).")
    return out


def _ars(rows, row, rdm, config: ScoreConfig) -> Score | str:
    """ARS of ``row`` from its protocol's rows (aug) and ``<protocol>_noaug`` rows (naug), or the method's name
    when a row is missing."""
    syn_n, rdm_n, _ = _line_rows(rows, row.ipc, row.model, row.protocol + NOAUG_SUFFIX)
    syn_n = next((r for r in syn_n if r.method == row.method), None)
    if rdm is None or syn_n is None or rdm_n is None:
        return row.method
    sa, ra = paired(row.accuracies, rdm.accuracies)
    sn, rn = paired(syn_n.accuracies, rdm_n.accuracies)
    k = min(len(sa), len(sn))
    beta = config.ars_weight * (sa[:k] - ra[:k]) + (1 - config.ars_weight) * (sn[:k] - rn[:k])
    return summarise("ARS", np.array([normalised_exp(b) for b in beta]))


def score_line(rows, ipc: int, model: str, protocol: str, config: ScoreConfig) -> tuple[list[RowScores], list[str]]:
    """Scores of every distilled row of one (IPC, network, protocol) line, and one line per refused score."""
    from vlcp.evaluate.protocols import PROTOCOLS

    syn, rdm, whole = _line_rows(rows, ipc, model, protocol)
    if not syn:
        return [], []
    notes = _refusals(rows, ipc, model, protocol, rdm, whole)
    w_note = whole_note(whole, protocol) if whole is not None else ""
    if w_note:
        notes.append(f"‡ HLR, LRS at IPC {ipc}, {model}/{protocol}: {w_note}.")
    twin = (protocol + NOAUG_SUFFIX) in PROTOCOLS
    out, no_ars = [], []
    for r in syn:
        rs = RowScores(r.method, r.ipc, r.model, r.protocol, r.mean)
        if rdm is not None:
            s, x = paired(r.accuracies, rdm.accuracies)
            rs.scores["IOR"] = summarise("IOR", ior(s, x))
        if whole is not None:
            s = np.asarray(r.accuracies, dtype=float) / 100.0
            rs.scores["HLR"] = summarise("HLR", hlr(whole.mean / 100.0, s), w_note)
        if rdm is not None and whole is not None:
            s, x = paired(r.accuracies, rdm.accuracies)
            vals = [lrs(i, h, config.lrs_weight) for i, h in zip(ior(s, x), hlr(whole.mean / 100.0, s))]
            rs.scores["LRS"] = summarise("LRS", np.array(vals), w_note)
        if twin:
            a = _ars(rows, r, rdm, config)
            if isinstance(a, Score):
                rs.scores["ARS"] = a
            else:
                no_ars.append(a)
        out.append(rs)
    if no_ars:
        notes.append(f"ARS not scored for {', '.join(no_ars)} at IPC {ipc}, {model}/{protocol}: needs the set's and "
                     f"the random subset's rows under both {protocol} and {protocol}{NOAUG_SUFFIX}.")
    return out, notes


def score_rows(rows, config: ScoreConfig | None = None) -> tuple[list[RowScores], list[str]]:
    """DD-Ranking's scores for every distilled row of ``rows`` (``ResultRow``s), with one line per refused score."""
    config = config or ScoreConfig()
    keys = sorted({(r.ipc, r.model, r.protocol) for r in rows if not is_whole(r)}, key=lambda k: (k[2], k[1], k[0]))
    out, notes = [], []
    for ipc, model, protocol in keys:
        if protocol.endswith(NOAUG_SUFFIX) and protocol[:-len(NOAUG_SUFFIX)] in {r.protocol for r in rows}:
            continue  # scored with its augmented twin (ARS)
        s, n = score_line(rows, ipc, model, protocol, config)
        out += s
        notes += n
    return out, notes
