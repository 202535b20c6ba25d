"""The validation split (``holdout_per_class``) never reaches the generator, the prototypes or the baselines."""
from __future__ import annotations

import numpy as np
import pytest

from vlcp.data.config import DataConfig


class Recording:
    """A dataset wrapper that records the file name of every image read through it."""

    def __init__(self, dataset) -> None:
        self._ds, self.seen = dataset, set()

    def __getattr__(self, name):
        return getattr(self._ds, name)

    def __len__(self) -> int:
        return len(self._ds)

    def images(self, indices):
        self.seen.update(self._ds.file_name(int(i)) for i in indices)
        return self._ds.images(indices)


def _names(ds) -> set[str]:
    return {ds.file_name(i) for i in range(len(ds))}


def test_val_is_the_last_images_of_each_class_and_never_train():
    full = DataConfig(num_classes=2).load("train")
    cfg = DataConfig(num_classes=2, holdout_per_class=500)
    train, val = cfg.load("train"), cfg.load("val")
    tr, va = _names(train), _names(val)
    assert len(va) == 1000 and not tr & va and tr | va == _names(full)
    for c in range(2):
        idx = np.flatnonzero(full.labels == c)
        assert {full.file_name(int(i)) for i in idx[-500:]} == {n for n in va if f"/{full.classes[c]}/" in n}
    # per_class cuts the training split only; val stays the same held-out images
    assert _names(DataConfig(num_classes=2, per_class=50, holdout_per_class=500).load("val")) == va


@pytest.mark.slow
def test_generator_prototypes_and_baselines_never_see_val(tiny_model, tmp_path):
    from vlcp.caption import CaptionConfig, caption, read_captions
    from vlcp.captioners import CAPTIONERS
    from vlcp.encode import EncodeConfig, encode
    from vlcp.evaluate.baselines import make_baseline
    from vlcp.files.atomic import read_json
    from vlcp.prototypes import PrototypesConfig, run_prototypes
    from vlcp.train import TrainConfig, train as train_generator

    cfg = DataConfig(num_classes=2, per_class=60, holdout_per_class=30)
    train, val = cfg.load("train"), cfg.load("val")
    tr, va = _names(train), _names(val)
    assert len(tr) == 120 and len(va) == 60 and not tr & va

    # captions (the generator's text) are of the training split only
    meta = caption(train, CAPTIONERS.get("attributes")(), tmp_path / "captions", CaptionConfig(), progress=False)
    captions = read_captions(meta)
    assert set(captions) == tr

    # the generator reads only training images (VAE and UNet phases)
    seen = Recording(train)
    tc = TrainConfig(vae_steps=2, vae_batch_size=16, unet_steps=2, batch_size=16, random_flip=False)
    model = train_generator(tiny_model, seen, captions, tmp_path / "model", tc, progress=False)
    assert seen.seen and seen.seen <= tr and not seen.seen & va

    # latents, clusters (members and LOF outliers) and the baselines built from them
    from vlcp.models import load_model

    from vlcp.run.state import write_settings
    from vlcp.settings.config import to_dict

    write_settings(tmp_path / "run", {"data": to_dict(cfg)})  # the run's record, as `vlcp caption` writes it
    store = encode(load_model(str(model)), train, tmp_path / "run" / "latents", EncodeConfig(), progress=False)
    encoded = {n for cid in store.classes() for n in store.read_class(cid).file_names}
    assert encoded == tr
    run_prototypes(store, captions, tmp_path / "run" / "prototypes", PrototypesConfig(ipc=2))
    clusters = read_json(tmp_path / "run" / "prototypes" / "clusters.json")
    used = {n for e in clusters.values() for m in e["members"] for n in m} | \
        {n for e in clusters.values() for n in e["outliers"]}
    assert used == tr
    for method in ("random", "medoid"):
        out = make_baseline(method, train, tmp_path / "run" / "baselines" / f"{method}_ipc2", ipc=2,
                            run_dir=tmp_path / "run", progress=False)
        sources = {s["source"] for s in read_json(out / "baseline.json")["selected"]}
        assert len(sources) == 4 and sources <= tr and not sources & va
