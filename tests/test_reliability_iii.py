"""Issue 32 (Reliability III), the data and stage-output half: a run or data folder that changed never gives a
silent wrong answer, and a rerun repairs what is missing. Each hostile case comes from tests/hostile.py."""
import json

import numpy as np
import pytest
from PIL import Image

import hostile
from vlcp.cli import main


def refused(capsys, argv, *names):
    """Run ``vlcp argv``: exit 2 and one stderr line naming each of ``names``; returns the line."""
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "unexpected" not in err, err
    for name in names:
        assert str(name) in err, err
    return err


@pytest.fixture()
def data_dir(tmp_path):
    """An ImageFolder tree (train and val) of two classes, bag and trouser, one 28-px image each."""
    rng = np.random.default_rng(0)
    for c in ("bag", "trouser"):
        for split in ("train", "val"):
            (tmp_path / "ds" / split / c).mkdir(parents=True)
            Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8)).save(tmp_path / "ds" / split / c / "0.png")
    return tmp_path / "ds"


# ---- item 4: a latents shard whose rows, names, dtype or values disagree --------------------------------------
@pytest.mark.parametrize("kind", hostile.SHARD_FAULTS)
def test_a_damaged_latents_shard_stops_prototypes(tmp_path, capsys, kind):
    shard = hostile.damaged_latents_run(tmp_path / "run", kind)
    err = refused(capsys, ["prototypes", "--run", str(tmp_path / "run"), "--ipc", "1"], shard)
    assert "rerun `vlcp encode`" in err
    assert not (tmp_path / "run" / "prototypes" / "prototypes.safetensors").exists()


def test_a_sound_latents_shard_still_reads(tmp_path):
    from vlcp.files.latents import LatentStore

    hostile.damaged_latents_run(tmp_path / "run", "none")
    got = LatentStore(tmp_path / "run" / "latents").read_class("bag")
    assert got.latents.shape == (6, 4, 16, 16) and len(got.file_names) == 6


@pytest.mark.parametrize("kind", ["int", "huge"])
def test_integer_or_absurd_prototypes_stop_synthesize(tmp_path, capsys, data_dir, kind):
    path = hostile.damaged_prototypes(tmp_path / "run" / "prototypes", kind)
    err = refused(capsys, ["synthesize", "--run", str(tmp_path / "run"), "--data-dir", str(data_dir),
                           "--no-progress"], path, "trouser")
    assert ("int32" if kind == "int" else "1e+30") in err
    assert not (tmp_path / "run" / "distilled").exists()
