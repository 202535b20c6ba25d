"""Augmentations on constructed images: each moves / changes pixels as specified."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vlcp.evaluate import dsa
from vlcp.evaluate import transforms as T


def marked(n=1, c=1, side=16, r=4, q=3, value=1.0):
    x = torch.zeros(n, c, side, side)
    x[:, :, r, q] = value
    return x


def where(img):
    idx = torch.nonzero(img[0] > 0.5)
    return tuple(int(v) for v in idx[0]) if len(idx) else None


def test_flip_moves_marked_pixel():
    x = marked(2)
    out = dsa.flip(x, torch.tensor([True, False]))
    assert where(out[0]) == (4, 16 - 1 - 3)
    assert where(out[1]) == (4, 3)


def test_random_flip_probability_and_per_image():
    g = torch.Generator().manual_seed(0)
    x = marked(400)
    out = dsa.rand_flip(x, g)
    flipped = (out[:, 0, 4, 12] == 1).float().mean().item()
    assert 0.4 < flipped < 0.6  # p = 0.5, drawn per image


def test_translate_moves_marked_pixel_and_zero_fills():
    x = marked(2) + 0.1
    out = dsa.translate(x, torch.tensor([2, -3]), torch.tensor([1, 0]))
    assert out[0, 0, 6, 4] == pytest.approx(1.1) and out[1, 0, 1, 3] == pytest.approx(1.1)
    assert out[0, 0, 0:2].abs().sum() == 0  # rows uncovered by a 2-pixel shift down are zero
    assert out[1, 0, -3:].abs().sum() == 0


def test_random_crop_shifts_at_most_an_eighth():
    g = torch.Generator().manual_seed(1)
    x = marked(200, side=32, r=16, q=16)
    out = dsa.rand_crop(x, g)
    for img in out:
        pos = where(img)
        assert pos is not None and abs(pos[0] - 16) <= 4 and abs(pos[1] - 16) <= 4


def test_cutout_zeroes_the_box_only():
    x = torch.ones(1, 1, 8, 8)
    out = dsa.cutout(x, torch.tensor([2]), torch.tensor([3]), (4, 4))
    assert out[0, 0, 2:6, 3:7].sum() == 0
    assert out.sum() == 64 - 16


def test_random_cutout_half_side():
    g = torch.Generator().manual_seed(2)
    out = dsa.rand_cutout(torch.ones(50, 1, 16, 16), g)
    zeros = (out == 0).sum(dim=(1, 2, 3))
    assert int(zeros.max()) == 64  # an 8×8 box when fully inside
    assert bool((zeros > 0).all())


def test_scale_and_rotate_move_marked_pixel():
    x = torch.zeros(1, 1, 33, 33)
    x[0, 0, 16, 24] = 1.0  # 8 px right of the centre
    big = dsa.affine(x, dsa.scale_theta(torch.tensor([0.5]), torch.tensor([0.5])))  # content enlarged ×2
    r, c = np.unravel_index(int(big[0, 0].argmax()), (33, 33))
    assert (r, c) == (16, 32)
    rot = dsa.affine(x, dsa.rotate_theta(torch.tensor([math.pi / 2])))
    r, c = np.unravel_index(int(rot[0, 0].argmax()), (33, 33))
    assert abs(r - 16) == 8 and c == 16  # a quarter turn moves it onto the vertical axis


def test_random_rotate_keeps_centre_within_15_degrees():
    g = torch.Generator().manual_seed(3)
    x = torch.zeros(64, 1, 65, 65)
    x[:, 0, 32, 62] = 1.0  # 30 px right of the centre
    out = dsa.rand_rotate(x, g)
    for img in out:
        r, c = np.unravel_index(int(img[0].argmax()), (65, 65))
        angle = math.degrees(math.atan2(r - 32, c - 32))
        assert abs(angle) <= 15 + 2.5


def test_colour_ops():
    x = torch.rand(2, 3, 4, 4)
    assert torch.allclose(dsa.brightness(x, torch.tensor([1.0, 0.0]), 1.0)[0], x[0] + 0.5)
    grey = dsa.saturation(x, torch.tensor([0.0, 0.5]), 2.0)
    assert torch.allclose(grey[0], x[0].mean(dim=0, keepdim=True).expand(3, 4, 4))
    assert torch.allclose(grey[1], x[1])  # factor 0.5·2 = 1 keeps the image
    con = dsa.contrast(x, torch.tensor([0.5, 0.0]), 0.5)
    assert torch.allclose(con[0], x[0])
    assert torch.allclose(con[1] - x[1].mean(), 0.5 * (x[1] - x[1].mean()), atol=1e-6)


def test_dsa_uses_one_operation_per_batch(monkeypatch):
    """Each call applies exactly one of the six operations, to the whole batch, and its result is the output;
    over many batches every operation is drawn."""
    calls = []
    real_ops = dict(dsa.DSA_OPS)

    def recorder(name):
        def op(x, g, p):
            out = real_ops[name](x, g, p)
            calls.append((name, x.shape[0], out))
            return out
        return op

    monkeypatch.setattr(dsa, "DSA_OPS", {name: recorder(name) for name in real_ops})
    g = torch.Generator().manual_seed(4)
    x = torch.rand(8, 1, 16, 16)
    for n in range(60):
        out = dsa.dsa_augment(x, g)
        assert len(calls) == n + 1  # one operation per batch, not one per image or a chain
        name, batch, result = calls[-1]
        assert batch == 8 and torch.equal(out, result)
    assert {c[0] for c in calls} == set(real_ops)  # all six: color, crop, cutout, flip, scale, rotate
    assert torch.equal(dsa.dsa_augment(x, g, strategy="none"), x) and len(calls) == 60


def test_dc_augment_shape_and_variety():
    g = torch.Generator().manual_seed(5)
    x = torch.rand(16, 1, 28, 28)
    out = dsa.dc_augment(x, g)
    assert out.shape == x.shape and not torch.equal(out, x)


# ---- Minimax / RDED transforms -----------------------------------------------------------------


def test_resized_crop_of_whole_image_is_identity_and_half_crop_doubles():
    x = torch.rand(1, 3, 16, 16)
    same = T.resized_crop(x, torch.tensor([[0, 0, 16, 16]]))
    assert torch.allclose(same, x, atol=1e-5)
    m = torch.zeros(1, 1, 16, 16)
    m[0, 0, 2, 3] = 1.0
    half = T.resized_crop(m, torch.tensor([[0, 0, 8, 8]]))  # top-left quarter → full size
    r, c = np.unravel_index(int(half[0, 0].argmax()), (16, 16))
    assert (r, c) in {(4, 6), (5, 7), (4, 7), (5, 6)}


def test_crop_boxes_follow_scale_range():
    g = torch.Generator().manual_seed(6)
    boxes = T.sample_crop_boxes(500, 224, 224, g, scale=(0.5, 1.0))
    area = (boxes[:, 2] * boxes[:, 3]).float() / 224 ** 2
    assert area.min() >= 0.5 - 0.02 and area.max() <= 1.0
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 0] + boxes[:, 2] <= 224).all()
    assert (boxes[:, 1] + boxes[:, 3] <= 224).all()
    out = T.random_resized_crop(torch.rand(4, 3, 32, 32), g, size=24)
    assert out.shape == (4, 3, 24, 24)


def test_hflip_moves_marked_pixel():
    g = torch.Generator().manual_seed(7)
    x = marked(64)
    out = T.random_hflip(x, g)
    moved = out[:, 0, 4, 12] == 1
    assert 0 < int(moved.sum()) < 64
    assert bool((out[~moved][:, 0, 4, 3] == 1).all())


def test_jitter_lerps():
    x = torch.rand(2, 3, 4, 4)
    a = torch.tensor([0.25, -0.25])
    assert torch.allclose(T.jitter_brightness(x, a)[0], 0.75 * x[0])
    sat = T.jitter_saturation(x, torch.tensor([1.0, 0.0]))
    g = (0.299 * x[0, 0] + 0.587 * x[0, 1] + 0.114 * x[0, 2])
    assert torch.allclose(sat[0], g.expand(3, 4, 4), atol=1e-6) and torch.allclose(sat[1], x[1])
    con = T.jitter_contrast(x, torch.tensor([1.0, 0.0]))
    assert torch.allclose(con[0], g.mean().expand(3, 4, 4), atol=1e-6)


def test_color_jitter_bounded_and_random_per_image():
    gen = torch.Generator().manual_seed(8)
    x = torch.full((32, 3, 4, 4), 0.5)
    out = T.color_jitter(x, gen, 0.4, 0.4, 0.4)
    # a grey image is unchanged by contrast/saturation; brightness scales it by 1 − α, |α| ≤ 0.4
    assert out.min() >= 0.5 * 0.6 - 1e-6 and out.max() <= 0.5 * 1.4 + 1e-6
    assert len(torch.unique(out.view(32, -1)[:, 0])) > 1


def test_lighting_adds_pca_shift():
    alpha = torch.tensor([[1.0, 0.0, 0.0]])
    shift = T.lighting_shift(alpha)
    expect = torch.tensor([-0.5675, -0.5808, -0.5836]) * 0.2175
    assert torch.allclose(shift[0], expect, atol=1e-6)
    gen = torch.Generator().manual_seed(9)
    x = torch.zeros(2, 3, 4, 4)
    out = T.lighting(x, gen, 0.1)
    assert torch.allclose(out[:, :, 0, 0, None, None].expand_as(out), out)  # constant per channel
    assert torch.equal(T.lighting(torch.zeros(1, 1, 4, 4), gen), torch.zeros(1, 1, 4, 4))  # greyscale: no-op


def test_cutmix_label_weights_follow_box_area():
    x = torch.arange(2.0).view(2, 1, 1, 1).expand(2, 1, 28, 28).contiguous()  # image i is all i
    box = T.CutMixBox(0, 14, 0, 14)
    mixed, w = T.apply_cutmix(x, torch.tensor([1, 0]), box)
    assert w == pytest.approx(1 - 196 / 784)
    assert float(mixed[0].mean()) == pytest.approx(1 - w)  # the pasted area of image 1
    assert torch.equal(mixed[0, 0, :14, :14], torch.ones(14, 14))
    assert torch.equal(mixed[0, 0, 14:, :], torch.zeros(14, 28))


def test_cutmix_box_rule():
    rng = np.random.default_rng(0)
    box = T.cutmix_box(32, 32, 0.75, rng)  # side ⌊32·√0.25⌋ = 16 before clipping
    assert box.r1 - box.r0 <= 16 and box.c1 - box.c0 <= 16
    full = T.cutmix_box(32, 32, 1.0, rng)
    assert full.area() == 0
    g = torch.Generator().manual_seed(0)
    out, partner, w = T.cutmix(torch.rand(6, 3, 32, 32), g, rng)
    assert sorted(partner.tolist()) == list(range(6)) and 0.0 <= w <= 1.0


def test_translate_fills_with_given_values():
    x = torch.ones(1, 2, 6, 6)
    out = dsa.translate(x, torch.tensor([0]), torch.tensor([2]), fill=torch.tensor([0.25, -1.0]))
    assert torch.equal(out[0, 0, :, :2], torch.full((6, 2), 0.25)) and torch.equal(out[0, 1, :, :2], torch.full((6, 2), -1.0))
    assert torch.equal(out[0, :, :, 2:], torch.ones(2, 6, 4))


def test_dc_augment_picks_one_of_crop_scale_rotate_per_image():
    g = torch.Generator().manual_seed(11)
    x = torch.zeros(64, 1, 28, 28)
    x[:, :, 10:18, 10:18] = 1.0
    out = dsa.dc_augment(x, g)
    changed = (out - x).abs().flatten(1).sum(1) > 1e-4
    assert int(changed.sum()) >= 48  # nearly every image moves (a zero shift / unit scale / 0° can keep one)
    assert torch.allclose(out.mean(), x.mean(), atol=0.02)  # content is moved, not created
