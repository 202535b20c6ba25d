"""Best-of-N synthesis (beyond the paper): the kept candidate is the selector's argmax; N = 1 is the paper's."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vlcp.errors import VlcpError
from vlcp.files.atomic import read_jsonl
from vlcp.samplers.selection import (CANDIDATE_SEED_STRIDE, Selector, best_of_candidates, candidate_seeds, kept_features, pick_best,
                            train_selector)

sys.path.insert(0, str(Path(__file__).parents[1] / "evaluate"))


class Brightness(torch.nn.Module):
    """Logits (+10·mean pixel, -10·mean pixel): class 0 prefers bright images, class 1 dark ones."""

    def forward(self, x):
        m = x.mean(dim=(1, 2, 3))
        return torch.stack([10 * m, -10 * m], dim=1)


def brightness_selector(classes, resolution=28):
    return Selector(Brightness(), (0.0,), (1.0,), list(classes), resolution)


def test_pick_best_and_candidate_seeds():
    assert pick_best(torch.tensor([[0.1, 0.9], [0.5, 0.2], [0.7, 0.9]])).tolist() == [2, 0]
    assert candidate_seeds([3, 4], 0) == [3, 4]
    assert candidate_seeds([3, 4], 2) == [3 + 2 * CANDIDATE_SEED_STRIDE, 4 + 2 * CANDIDATE_SEED_STRIDE]


def test_best_of_candidates_keeps_the_argmax():
    def generate(seeds):  # one flat image per seed, brightness drawn from the seed
        vals = [torch.rand(1, generator=torch.Generator().manual_seed(s)).item() for s in seeds]
        return torch.stack([torch.full((1, 28, 28), v) for v in vals])

    sel = brightness_selector(["light", "dark"])
    seeds, classes = [10, 11, 12], ["light", "dark", "light"]
    images, kept, scores = best_of_candidates(generate, seeds, classes, 5, sel)
    for i in range(3):
        cands = [candidate_seeds(seeds, j)[i] for j in range(5)]
        s = [sel.scores(generate([c]), [classes[i]]).item() for c in cands]
        assert kept[i] == cands[int(np.argmax(s))]
        assert scores[i] == pytest.approx(max(s))
        assert torch.equal(images[i], generate([kept[i]])[0])
    assert len(set(kept)) == 3 and kept != seeds  # not simply the first candidate
    # n = 1: one call with the paper's seeds, the selector untouched
    calls = []
    images1, kept1, scores1 = best_of_candidates(lambda s: calls.append(s) or generate(s), seeds, classes, 1, None)
    assert calls == [seeds] and kept1 == seeds and scores1 is None and torch.equal(images1, generate(seeds))
    with pytest.raises(VlcpError, match="candidates"):
        best_of_candidates(generate, seeds, classes, 2, None)
    with pytest.raises(VlcpError, match="not one of the classes"):
        sel.scores(generate([1]), ["coat"])


@pytest.mark.slow
def test_train_selector_learns_the_training_split_and_caches(tmp_path):
    from evalhelpers import pattern_images

    train = pattern_images(30, seed=1)
    sel = train_selector(train, epochs=10, seed=0, cache_dir=tmp_path, progress=False)
    assert (tmp_path / "selector_convnet3.safetensors").exists()
    test = pattern_images(10, seed=2)
    x = test.images(np.arange(len(test)))
    right = sel.scores(x, [test.classes[c] for c in test.labels])
    wrong = sel.scores(x, [test.classes[1 - c] for c in test.labels])
    assert torch.allclose(right + wrong, torch.ones_like(right), atol=1e-5)  # two classes: probabilities
    assert (right > 0.5).float().mean() >= 0.9  # it tells the classes apart
    again = train_selector(train, epochs=10, seed=0, cache_dir=tmp_path, progress=False)  # from the cache
    assert torch.allclose(again.scores(x, ["square"] * len(x)), sel.scores(x, ["square"] * len(x)))


@pytest.mark.slow
def test_synthesize_with_candidates(tiny_model, tmp_path):
    from test_stages_embedded import write_prototypes

    from vlcp.synthesize import SynthesizeConfig, make_sampler, synthesize, synthesize_batch
    from vlcp.synthesize import load_prototypes

    write_prototypes(tmp_path / "p", k=2)
    base = dict(steps=3, guidance_scale=3.0, batch_size=4, strength=0.9)
    sel = brightness_selector(["trouser", "bag"])
    one = synthesize(tiny_model, tmp_path / "p", tmp_path / "d1", SynthesizeConfig(**base), 28, 1, progress=False)
    three = synthesize(tiny_model, tmp_path / "p", tmp_path / "d3", SynthesizeConfig(**base, candidates=3), 28, 1,
                       progress=False, selector=sel)

    # candidates = 1 is the paper's image: seed + number, one generation, no selector fields
    protos = load_prototypes(tmp_path / "p")
    pipe, adapter = make_sampler(tiny_model), tiny_model.adapter(28, 1)

    def png(t):
        return (t[0].clamp(0, 1) * 255).round().to(torch.uint8).numpy()

    def generate(p, seed):
        return adapter.to_data(synthesize_batch(pipe, tiny_model, p.latent[None], [p.prompt], [seed],
                                                SynthesizeConfig(**base)))

    m1 = {r["number"]: r for r in read_jsonl(one / "metadata.jsonl")}
    m3 = {r["number"]: r for r in read_jsonl(three / "metadata.jsonl")}
    picked_later = 0
    for p in protos:
        rel = f"{p.class_id}/{p.cluster}.png"
        assert m1[p.number]["seed"] == p.number and "selector_score" not in m1[p.number]
        a = np.asarray(Image.open(one / rel), dtype=int)
        assert np.abs(a - png(generate(p, p.number)).astype(int)).max() <= 1, rel
        # candidates = 3: the kept image is the argmax of the selector over the three candidates
        cands = candidate_seeds([p.number], 0) + candidate_seeds([p.number], 1) + candidate_seeds([p.number], 2)
        imgs = [generate(p, s) for s in cands]
        scores = [sel.scores(im, [p.class_id]).item() for im in imgs]
        best = int(np.argmax(scores))
        assert m3[p.number]["seed"] == cands[best] and m3[p.number]["candidates"] == 3
        assert m3[p.number]["selector_score"] == pytest.approx(scores[best], abs=1e-4)
        b = np.asarray(Image.open(three / rel), dtype=int)
        assert np.abs(b - png(imgs[best]).astype(int)).max() <= 1, rel
        picked_later += best > 0
    assert picked_later > 0  # the selection did something on this set


def test_candidates_without_a_selector_stop_before_any_image(tiny_model, tmp_path):
    from test_stages_embedded import write_prototypes

    from vlcp.synthesize import SynthesizeConfig, synthesize

    write_prototypes(tmp_path / "p", k=1)
    with pytest.raises(VlcpError, match="'candidates'"):
        synthesize(tiny_model, tmp_path / "p", tmp_path / "d", SynthesizeConfig(candidates=2, steps=2), 28, 1,
                   progress=False)
    assert not list(tmp_path.glob("d/**/*.png"))
    with pytest.raises(VlcpError, match="candidates"):
        SynthesizeConfig(candidates=0)


def test_teacher_selection_keeps_the_candidate_with_the_lowest_teacher_loss(tmp_path):
    """Under a soft-label protocol the candidates can be scored by the teacher that labels them (RDED's
    realism score): the kept one has the lowest teacher cross-entropy, seen as evaluate sees it."""
    import torch.nn.functional as F
    from evalhelpers import pattern_images
    from safetensors.torch import save_file

    from vlcp.evaluate import EvalConfig
    from vlcp.evaluate.evaluation import soft_label_teacher
    from vlcp.evaluate.networks import build_network
    from vlcp.samplers.selection import teacher_selector

    train = pattern_images(20, seed=1)
    net = build_network("convnet3", train.channels, len(train.classes), train.resolution, seed=5)
    path = tmp_path / "teacher.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    config = EvalConfig(protocol="rded", teacher=str(path))
    sel = teacher_selector(train, config)
    teacher, mean, std = soft_label_teacher(config, train)
    side = train.resolution

    def generate(seeds):  # noise images, one per seed
        return torch.stack([torch.rand(train.channels, side, side, generator=torch.Generator().manual_seed(s))
                            for s in seeds])

    def loss(img, c):
        x = img.clamp(0, 1).mul(255).round().div(255)[None]  # the saved PNG
        x = (x - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)
        with torch.no_grad():
            return F.cross_entropy(teacher(x), torch.tensor([train.classes.index(c)])).item()

    seeds, classes = [3, 4, 5], [train.classes[0], train.classes[1], train.classes[0]]
    images, kept, _ = best_of_candidates(generate, seeds, classes, 6, sel)
    for i in range(3):
        cands = [candidate_seeds(seeds, j)[i] for j in range(6)]
        losses = [loss(generate([c])[0], classes[i]) for c in cands]
        assert kept[i] == cands[int(np.argmin(losses))]
    assert kept != seeds  # the teacher moved at least one choice off the paper's seed
    with pytest.raises(VlcpError, match="no teacher"):
        teacher_selector(train, EvalConfig(protocol="dc"))


def test_pick_hard_keeps_the_least_confident_correct_candidate():
    """CaO2's high-IPC rule on a constructed case: of the candidates classified right, the lowest probability;
    the most confident where none is right; ``confident`` stays the argmax."""
    scores = torch.tensor([[0.95, 0.30, 0.20], [0.60, 0.45, 0.10], [0.80, 0.40, 0.35]])  # (candidates, images)
    correct = torch.tensor([[True, False, False], [True, False, False], [True, True, False]])
    # image 0: all right, the lowest is 0.60; image 1: only 0.40 is right; image 2: none right, the highest 0.35
    assert pick_best(scores, correct, "hard").tolist() == [1, 2, 2]
    assert pick_best(scores, correct, "confident").tolist() == [0, 1, 2]
    with pytest.raises(VlcpError, match="pick"):
        pick_best(scores, correct, "median")


def test_best_of_candidates_hard_pick_uses_the_selectors_predictions():
    def generate(seeds):  # flat images, brightness from the seed
        vals = [torch.rand(1, generator=torch.Generator().manual_seed(s)).item() for s in seeds]
        return torch.stack([torch.full((1, 28, 28), v) for v in vals])

    sel = brightness_selector(["light", "dark"])
    seeds, classes = [10, 11, 12, 13], ["light", "dark", "light", "dark"]
    _, kept, scores = best_of_candidates(generate, seeds, classes, 6, sel, pick="hard")
    for i in range(4):
        cands = [candidate_seeds(seeds, j)[i] for j in range(6)]
        judged = [sel.judge(generate([c]), [classes[i]]) for c in cands]
        right = [(p.item(), c) for (p, ok), c in zip(judged, cands) if ok.item()]
        want = min(right)[1] if right else max((p.item(), c) for (p, _), c in zip(judged, cands))[1]
        assert kept[i] == want
    confident = best_of_candidates(generate, seeds, classes, 6, sel)[1]
    assert kept != confident  # the rule changes what is kept here


def test_pick_setting_is_checked_recorded_and_fingerprinted():
    from vlcp.synthesize import SynthesizeConfig, _image_record, _settings_parts
    from vlcp.synthesize import Prototype

    with pytest.raises(VlcpError, match="pick"):
        SynthesizeConfig(pick="median")
    paper, hard = SynthesizeConfig(candidates=4), SynthesizeConfig(candidates=4, pick="hard")
    assert "pick" not in _settings_parts(paper)  # the default leaves old fingerprints as they were
    assert _settings_parts(hard)["pick"] == "hard"
    p = Prototype(number=0, class_id="bag", cluster=0, prompt="a bag", latent=torch.zeros(4, 8, 8),
                  sibling=torch.zeros(4, 8, 8))
    assert "pick" not in _image_record(p, "bag/0.png", 0, paper, 0.5)
    assert _image_record(p, "bag/0.png", 0, hard, 0.5)["pick"] == "hard"


class TwoFeatures(torch.nn.Module):
    """features = (mean, std) of the pixels; class 0 prefers bright images (the Brightness rule)."""

    def features(self, x):
        return torch.stack([x.mean(dim=(1, 2, 3)), x.std(dim=(1, 2, 3)) + 0.1], dim=1)

    def forward(self, x):
        m = self.features(x)[:, 0]
        return torch.stack([10 * m, -10 * m], dim=1)


def flat_or_striped(seeds):
    """Candidate images from seeds: even seeds flat grey 0.8, odd seeds stripes of 0.6 / 1.0 (same mean)."""
    out = []
    for s in seeds:
        img = torch.full((1, 28, 28), 0.8)
        if s % 2:
            img[:, ::2] = 0.6
            img[:, 1::2] = 1.0
        out.append(img + 1e-4 * (s % 7))
    return torch.stack(out)


def test_diversity_keeps_a_candidate_apart_from_the_ones_already_kept():
    """Two prototypes of one class in a batch, the same two kinds of candidate: without diversity both keep
    the flat one (the higher class probability); with it the second keeps the striped one, unlike the first."""
    sel = Selector(TwoFeatures(), (0.0,), (1.0,), ["light", "dark"], 28)
    seeds, classes = [10, 12], ["light", "light"]  # candidate 0 even (flat), candidate 1 odd (striped)
    plain = best_of_candidates(flat_or_striped, seeds, classes, 2, sel)
    kinds = [s % 2 for s in plain[1]]
    assert kinds == [0, 0]
    zero = best_of_candidates(flat_or_striped, seeds, classes, 2, sel, diversity=0.0, kept={})
    assert zero[1] == plain[1] and torch.equal(zero[0], plain[0])  # μ = 0: the plain rule, bit for bit
    kept: dict = {}
    apart = best_of_candidates(flat_or_striped, seeds, classes, 2, sel, diversity=5.0, kept=kept)
    assert [s % 2 for s in apart[1]] == [0, 1]
    assert len(kept["light"]) == 2  # each choice joined the kept set
    # an image kept earlier (another batch, or read back on resume) counts the same way
    again = best_of_candidates(flat_or_striped, [14], ["light"], 2, sel, diversity=5.0,
                               kept=kept_features(sel, [("light", flat_or_striped([0])[0])]))
    assert again[1][0] % 2 == 1


def test_diversity_settings_are_checked():
    from vlcp.synthesize import SynthesizeConfig

    with pytest.raises(VlcpError, match="diversity"):
        SynthesizeConfig(diversity=0.5)  # nothing to choose from
    with pytest.raises(VlcpError, match="diversity"):
        SynthesizeConfig(candidates=2, diversity=-1.0)
    with pytest.raises(VlcpError, match="features"):
        brightness_selector(["light", "dark"]).embed(torch.zeros(1, 1, 28, 28))


@pytest.mark.slow
def test_diversity_resumes_as_an_uninterrupted_run(tiny_model, tmp_path, monkeypatch):
    """Killed after the first batch, a diversity run chooses the rest from the PNGs already on disk, as an
    uninterrupted run does: the same seeds and the same images."""
    from test_stages_embedded import write_prototypes

    import importlib

    from vlcp.synthesize import SynthesizeConfig, synthesize

    stage = importlib.import_module("vlcp.synthesize")  # the module (vlcp.synthesize is also the function)

    write_prototypes(tmp_path / "p", k=3)
    config = SynthesizeConfig(steps=2, guidance_scale=3.0, batch_size=2, strength=0.9, candidates=3, diversity=100.0)
    sel = Selector(TwoFeatures(), (0.0,), (1.0,), ["trouser", "bag"], 28)
    whole = synthesize(tiny_model, tmp_path / "p", tmp_path / "a", config, 28, 1, progress=False, selector=sel)
    real_append, calls = stage.append_jsonl, []

    def die_after_one_batch(path, records):
        real_append(path, records)
        calls.append(1)
        raise KeyboardInterrupt

    monkeypatch.setattr(stage, "append_jsonl", die_after_one_batch)
    with pytest.raises(KeyboardInterrupt):
        synthesize(tiny_model, tmp_path / "p", tmp_path / "b", config, 28, 1, progress=False, selector=sel)
    monkeypatch.setattr(stage, "append_jsonl", real_append)
    resumed = synthesize(tiny_model, tmp_path / "p", tmp_path / "b", config, 28, 1, progress=False, selector=sel)
    a = {r["number"]: r for r in read_jsonl(whole / "metadata.jsonl")}
    b = {r["number"]: r for r in read_jsonl(resumed / "metadata.jsonl")}
    assert calls == [1] and len(a) == 6
    assert {n: r["seed"] for n, r in a.items()} == {n: r["seed"] for n, r in b.items()}
    assert all(r["diversity"] == 100.0 for r in a.values())
    for r in a.values():
        assert (whole / r["file_name"]).read_bytes() == (resumed / r["file_name"]).read_bytes()
