"""Issue 9 item 9: without a training split, normalisation uses the distilled set, never the test split."""
from __future__ import annotations

import numpy as np
from PIL import Image

from evalhelpers import write_folder
from vlcp.evaluate import EvalConfig, evaluate_folder


def test_fallback_statistics_come_from_the_distilled_images(tmp_path, tiny_train, tiny_test):
    folder = write_folder(tmp_path / "distilled", tiny_train, per_class=5)
    for p in folder.rglob("*.png"):  # inverted: the distilled set's statistics differ from the test split's
        Image.fromarray(255 - np.asarray(Image.open(p))).save(p)
    row = evaluate_folder(folder, tiny_test, EvalConfig(epochs=1, repeats=1, progress=False))
    norm = row.settings["normalisation"]
    assert "distilled" in norm["source"] and "test" not in norm["source"]
    imgs = np.stack([np.asarray(Image.open(p), dtype=np.float64) / 255
                     for p in sorted(folder.rglob("*.png"))])
    assert abs(norm["mean"][0] - imgs.mean()) < 1e-4
    test_mean = np.asarray(tiny_test.images(np.arange(len(tiny_test))), dtype=np.float64).mean()
    assert abs(norm["mean"][0] - test_mean) > 0.1
