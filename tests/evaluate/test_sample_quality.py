"""Sample-quality measures: the Fréchet distance and the classification accuracy score."""
import numpy as np
import pytest
import torch

from vlcp.evaluate.sample_quality import classification_accuracy_score, frechet_distance, penultimate_features


def test_frechet_distance_of_a_set_with_itself_is_zero():
    a = np.random.default_rng(0).normal(size=(300, 16))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_of_a_shifted_copy_is_the_squared_shift():
    a = np.random.default_rng(1).normal(size=(400, 8))
    shift = np.arange(8) / 4
    assert frechet_distance(a, a + shift) == pytest.approx(float((shift ** 2).sum()), rel=1e-6)


def test_frechet_distance_grows_with_a_change_of_spread():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(500, 4)), rng.normal(size=(500, 4))
    assert frechet_distance(a, 3 * b) > 10 * frechet_distance(a, b)


def test_frechet_distance_refuses_different_feature_sizes():
    with pytest.raises(ValueError, match="same d"):
        frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))


def test_penultimate_features_are_the_classifier_input():
    from vlcp.evaluate.networks import build_network

    net = build_network("convnet3", 1, 10, 28, seed=0).eval()
    x = torch.rand(7, 1, 28, 28)
    f = penultimate_features(net, x, (0.5,), (0.25,), batch_size=3)
    assert f.shape == (7, net.head.in_features)
    logits = net.head(torch.as_tensor(f, dtype=torch.float32))
    torch.testing.assert_close(logits, net((x - 0.5) / 0.25), rtol=1e-4, atol=1e-4)


def test_cas_is_high_for_images_with_the_class_cue_and_chance_without():
    from vlcp.evaluate.protocols import PROTOCOLS

    g = torch.Generator().manual_seed(0)
    y = torch.arange(200) % 2
    x = torch.rand(200, 1, 16, 16, generator=g) * 0.2
    x[y == 1, :, :8] += 0.7  # class 1: a bright top half
    dc = PROTOCOLS.get("dc")
    kw = dict(model="convnet3", epochs=8, mean=(0.3,), std=(0.3,), num_classes=2)
    good = classification_accuracy_score(x[:100], y[:100], x[100:], y[100:], dc, **kw)
    blank = torch.rand(100, 1, 16, 16, generator=g) * 0.2  # a "generator" that lost the class cue
    bad = classification_accuracy_score(blank, y[:100], x[100:], y[100:], dc, **kw)
    assert good > 95 and bad < 70
