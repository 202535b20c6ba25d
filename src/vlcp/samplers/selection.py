"""Best-of-N synthesis (beyond the paper, off by default): several candidates per prototype, keep the
one a classifier trained on the real training split finds most representative of its class.

With ``SynthesizeConfig.candidates = N > 1`` the synthesize stage generates each prototype N times
(candidate j uses seed ``seed + number + j * CANDIDATE_SEED_STRIDE``, so candidate 0 is the paper's
image) and keeps the candidate with the highest softmax probability of the prototype's class under a
:class:`Selector`. ``N = 1`` is the paper's method and never touches a selector.

The selector (``SynthesizeConfig.selector``) is ``classifier``: a ConvNet trained a few epochs on the
*training* split only (never the validation or test split) with the recipe of the herding/k-center feature
extractor (``vlcp.evaluate.teacher``), cached as safetensors (``RUN/selector_<model>.safetensors``), built by
:func:`train_selector`; or ``teacher`` (for soft-label protocols): the very network that labels the images
under ``rded`` (:func:`teacher_selector`), so the kept candidate is the one with the lowest teacher
cross-entropy, RDED's realism score. Either is passed into the stage; compute functions never load
checkpoints themselves. The highest class probability is the lowest cross-entropy: one rule for both.

Which candidate is kept (``SynthesizeConfig.pick``): ``confident`` (the default) keeps the highest class
probability; ``hard`` keeps, among the candidates the selector classifies as their class, the one with the
lowest class probability (the hardest correct sample), and the most confident when none is classified
right. ``hard`` is CaO2's rule for high IPC (ICCV 2025: 2×IPC samples, teacher-correct ones kept, the least
confident at IPC 50, the most confident at IPC 10).

Diversity (``SynthesizeConfig.diversity`` = μ > 0, lever 5 of issue 29): the prototypes are chosen one after
another, in the order they are made, and a candidate's score is its class probability minus μ × its
largest cosine similarity, in the selector's penultimate features, to the images already kept for its class
(RDED's realism score, kept apart from what is already there). μ = 0 is the plain rule, bit for bit. The
kept images of earlier batches are read back from the PNGs on disk, so a resumed run chooses as an
uninterrupted one; it needs one process (the kept set would differ between shards).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from vlcp.errors import VlcpError

__all__ = ["Selector", "train_selector", "teacher_selector", "candidate_seeds", "pick_best", "best_of_candidates",
           "CANDIDATE_SEED_STRIDE", "PICKS", "KeptFeatures"]

CANDIDATE_SEED_STRIDE = 1_000_003  # candidate j of image i: seed + i + j * stride (j = 0: the paper's seed)
PICKS = ("confident", "hard")  # which candidate is kept (SynthesizeConfig.pick; see the module docstring)
KeptFeatures = dict  # class id → list of (D,) unit feature vectors of the images kept so far (diversity)


@dataclass
class Selector:
    """A classifier of dataset images: ``net`` (logits), the training split's pixel ``mean`` / ``std``,
    its ``classes`` (ids, index = label) and input ``resolution``."""

    net: torch.nn.Module
    mean: Sequence[float]
    std: Sequence[float]
    classes: list[str]
    resolution: int
    device: str | torch.device = "cpu"

    @torch.inference_mode()
    def judge(self, images: torch.Tensor, class_ids: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Softmax probability of each image's class and whether that class is the network's prediction:
        ``images`` (b, C, H, W) in [0, 1] (scored as the uint8 PNGs they are saved as), ``class_ids`` (b,)
        class ids. Returns (b,) float32 and (b,) bool, on the CPU."""
        y = self._labels(class_ids)
        logits = self._logits(images).float().cpu()
        return logits.softmax(dim=1).gather(1, y[:, None])[:, 0], logits.argmax(dim=1) == y

    @torch.inference_mode()
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """(b, D) unit-length penultimate features of ``images`` as saved (the network's ``features``)."""
        if not hasattr(self.net, "features"):
            raise VlcpError("setting 'diversity': the selector's network has no features() to compare images in")
        self.net.eval()
        return F.normalize(self.net.features(self._inputs(images)).float().flatten(1).cpu(), dim=1)

    def _labels(self, class_ids: Sequence[str]) -> torch.Tensor:
        index = {c: i for i, c in enumerate(self.classes)}
        unknown = [c for c in class_ids if c not in index]
        if unknown:
            raise VlcpError(f"selector: class {unknown[0]!r} is not one of the classes it was trained on "
                            f"({', '.join(self.classes)})")
        return torch.tensor([index[c] for c in class_ids], dtype=torch.long)

    def _inputs(self, images: torch.Tensor) -> torch.Tensor:
        """The network's input: the uint8 PNG's values, at its resolution, normalised, on its device."""
        x = images.float().clamp(0, 1).mul(255).round().div(255)  # what the saved PNG holds
        if x.shape[-1] != self.resolution:
            x = F.interpolate(x, size=(self.resolution,) * 2, mode="bilinear", antialias=True, align_corners=False)
        mean = torch.tensor(list(self.mean), dtype=torch.float32).view(1, -1, 1, 1)
        std = torch.tensor(list(self.std), dtype=torch.float32).view(1, -1, 1, 1)
        return ((x - mean) / std).to(self.device)

    def _logits(self, images: torch.Tensor) -> torch.Tensor:
        self.net.eval()
        return self.net(self._inputs(images))

    def scores(self, images: torch.Tensor, class_ids: Sequence[str]) -> torch.Tensor:
        """Softmax probability of each image's class (:meth:`judge`'s first part): (b,) float32 on the CPU."""
        return self.judge(images, class_ids)[0]


def train_selector(train, *, model: str = "convnet3", epochs: int = 3, seed: int = 0,
                   device: str | torch.device = "cpu", cache_dir: str | Path | None = None,
                   progress: bool = True) -> Selector:
    """A :class:`Selector` trained on ``train`` (the real training split), cached in ``cache_dir`` as
    ``selector_<model>.safetensors`` and reused when model, epochs, seed and data match."""
    from vlcp.evaluate.teacher import train_on_full
    from vlcp.evaluate.tensors import channel_stats

    mean, std = channel_stats(train)
    cache = Path(cache_dir) / f"selector_{model}.safetensors" if cache_dir is not None else None
    net, _ = train_on_full(train, model=model, epochs=epochs, seed=seed, device=device, mean=mean, std=std,
                           cache=cache, progress=progress)
    return Selector(net, mean, std, list(train.classes), int(train.resolution), device)


def teacher_selector(train, eval_config, *, cache_dir: str | Path | None = None) -> Selector:
    """A :class:`Selector` around the soft-label teacher of ``eval_config`` (an ``EvalConfig`` with a soft-label
    protocol): its weights when given, else the network ``vlcp evaluate`` trains on ``train`` (the same cache file
    in ``cache_dir``), seen with the same normalisation."""
    from vlcp.evaluate.evaluation import soft_label_teacher

    net, mean, std = soft_label_teacher(eval_config, train, cache_dir)
    return Selector(net, mean, std, list(train.classes), int(eval_config.resolution or train.resolution),
                    eval_config.resolved_device())


def candidate_seeds(seeds: Sequence[int], j: int) -> list[int]:
    """The seeds of candidate ``j`` of images whose paper seeds are ``seeds`` (j = 0: unchanged)."""
    return [int(s) + j * CANDIDATE_SEED_STRIDE for s in seeds]


def pick_best(scores: torch.Tensor, correct: torch.Tensor | None = None, rule: str = "confident") -> torch.Tensor:
    """(candidates, b) scores → (b,) index of the kept candidate per image (the first on ties).

    ``confident``: the highest score. ``hard``: among the candidates whose ``correct`` (candidates, b) is
    True, the lowest score; the highest score for an image with no correct candidate."""
    if rule == "confident":
        return scores.argmax(dim=0)
    if rule not in PICKS:
        raise VlcpError(f"setting 'pick': {rule!r} is not one of {', '.join(PICKS)}")
    if correct is None:
        raise VlcpError("setting 'pick': 'hard' needs the selector's predictions (Selector.judge)")
    hardest = scores.masked_fill(~correct, float("inf")).argmin(dim=0)
    return torch.where(correct.any(dim=0), hardest, scores.argmax(dim=0))


def best_of_candidates(generate: Callable[[list[int]], torch.Tensor], seeds: Sequence[int],
                       class_ids: Sequence[str], n: int, selector: Selector | None, pick: str = "confident",
                       diversity: float = 0.0, kept: KeptFeatures | None = None
                       ) -> tuple[torch.Tensor, list[int], list[float] | None]:
    """Generate ``n`` candidates of a batch and keep one of each image by the rule ``pick`` (:func:`pick_best`);
    with ``diversity`` > 0, one image after another, penalised by their likeness to ``kept`` (updated in place).

    ``generate(seeds)`` returns (b, C, H, W) images in [0, 1] for one seed per image. Returns the kept
    images, their seeds, and their selector scores (None when ``n == 1``, which calls ``generate``
    once with ``seeds`` exactly as the paper's method does).
    """
    if n == 1:
        return generate(list(seeds)), list(seeds), None
    if selector is None:
        raise VlcpError("setting 'candidates': more than 1 candidate needs a selector "
                        "(vlcp.samplers.selection.train_selector on the training split; the CLI builds one)")
    images, scores, correct, all_seeds = [], [], [], []
    for j in range(n):
        s = candidate_seeds(seeds, j)
        img = generate(s)
        images.append(img)
        p, ok = selector.judge(img, class_ids)
        scores.append(p)
        correct.append(ok)
        all_seeds.append(s)
    score, images = torch.stack(scores), torch.stack(images)
    if diversity > 0:
        best = _pick_apart(score, torch.stack(correct), images, selector, class_ids, pick, diversity,
                           kept if kept is not None else {})
    else:
        best = pick_best(score, torch.stack(correct), pick)
    cols = torch.arange(len(seeds))
    kept_images = images[best, cols]
    return kept_images, [all_seeds[int(b)][i] for i, b in enumerate(best)], score[best, cols].tolist()


def _pick_apart(score: torch.Tensor, correct: torch.Tensor, images: torch.Tensor, selector: Selector,
                class_ids: Sequence[str], pick: str, weight: float, kept: KeptFeatures) -> torch.Tensor:
    """(b,) kept candidate per image, in batch order: ``score`` minus ``weight`` × the candidate's largest
    cosine similarity to the features ``kept`` holds for its class; each choice joins ``kept``."""
    n, b = score.shape
    feats = selector.embed(images.flatten(0, 1)).view(n, b, -1)
    best = []
    for i, c in enumerate(class_ids):
        adjusted = score[:, i]
        if kept.get(c):
            adjusted = adjusted - weight * (feats[:, i] @ torch.stack(kept[c]).T).max(dim=1).values
        j = int(pick_best(adjusted[:, None], correct[:, i:i + 1], pick)[0])
        kept.setdefault(c, []).append(feats[j, i])
        best.append(j)
    return torch.tensor(best, dtype=torch.long)


def kept_features(selector: Selector, images: Sequence[tuple[str, torch.Tensor]]) -> KeptFeatures:
    """:data:`KeptFeatures` of images already made, in the order they were made: (class id, (C, H, W))."""
    kept: KeptFeatures = {}
    for c, img in images:
        kept.setdefault(c, []).append(selector.embed(img[None])[0])
    return kept
