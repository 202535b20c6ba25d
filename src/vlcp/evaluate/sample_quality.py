"""Measures of a generator's samples that do not saturate (for quality curves over checkpoints).

- ``frechet_distance``: the Fréchet distance between Gaussians fitted to two feature sets (FID's
  formula, Heusel et al. 2017), here in the penultimate features of a ConvNet trained on the real
  training split (``penultimate_features``) rather than Inception's.
- ``classification_accuracy_score``: a network trained on one labelled set only (the generated images),
  tested on another (the validation split) — CAS, Ravuri & Vinyals 2019.

Both are compared with the same measure of as many real training images (the floor a generator can at
best reach). Score on the validation split; the test set is for the final table only.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy import linalg

from vlcp.evaluate.networks import EvalNet, build_network
from vlcp.evaluate.trainer import Normalizer, Rng, test_accuracy, train_and_test


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """‖μa − μb‖² + Tr(Σa + Σb − 2 (Σa Σb)^½) of feature sets ``a`` (n, d) and ``b`` (m, d)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sets must be (n, d) with the same d, got {a.shape} and {b.shape}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(cov_a @ cov_b)
    if not np.isfinite(root).all():  # singular product: FID's usual regularisation
        eps = 1e-6 * np.eye(len(cov_a))
        root = linalg.sqrtm((cov_a + eps) @ (cov_b + eps))
    value = float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(root.real))
    return max(value, 0.0)  # rounding can leave -1e-9 for identical sets


@torch.no_grad()
def penultimate_features(net: EvalNet, images: torch.Tensor, mean, std, *, batch_size: int = 500,
                         device: torch.device | str = "cpu") -> np.ndarray:
    """``net.features`` (the classifier's input) of ``images`` (n, C, H, W) in [0, 1], as (n, d) float64."""
    device = torch.device(device)
    norm = Normalizer(mean, std, device)
    net = net.to(device).eval()
    rows = [net.features(norm(images[i:i + batch_size].to(device).float())).flatten(1).double().cpu()
            for i in range(0, len(images), batch_size)]
    return torch.cat(rows).numpy()


def classification_accuracy_score(train_x: torch.Tensor, train_y: torch.Tensor, val_x: torch.Tensor,
                                  val_y: torch.Tensor, protocol, *, model: str = "convnet3", epochs: int,
                                  mean, std, num_classes: int, seed: int = 0,
                                  device: torch.device | str = "cpu") -> float:
    """Accuracy (%) on (val_x, val_y) of a ``model`` trained on (train_x, train_y) alone under ``protocol``."""
    device = torch.device(device)
    net = build_network(model, train_x.shape[1], num_classes, train_x.shape[-1], seed=seed)
    batch = protocol.default_batch_size(max(1, len(train_x) // num_classes), num_classes)
    train_and_test(net, train_x, train_y, None, None, protocol, epochs=epochs, batch_size=batch, rng=Rng(seed),
                   mean=mean, std=std, device=device)
    return test_accuracy(net, val_x.to(device), val_y.to(device), Normalizer(mean, std, device), 512, device)
