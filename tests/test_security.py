"""No code runs from data files: CIFAR batches are read with a restricted unpickler."""
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vlcp.data.presets import load_preset
from vlcp.data.safe_pickle import load_restricted
from vlcp.errors import VlcpError

SRC = Path(__file__).resolve().parents[1] / "src"


class _Evil:
    """Pickles to a call of os.system that creates ``sentinel``."""

    def __init__(self, sentinel):
        self.sentinel = str(sentinel)

    def __reduce__(self):
        return (os.system, (f"touch {self.sentinel}",))


def _cifar_folder(root: Path, first_batch) -> Path:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(1, 6):
        d = {b"data": rng.integers(0, 255, (4, 3072), dtype=np.uint8), b"labels": [0, 1, 2, 3]}
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps(d, protocol=2))
    (folder / "data_batch_1").write_bytes(first_batch)
    return folder


def test_crafted_cifar_batch_is_refused_and_runs_nothing(tmp_path):
    sentinel = tmp_path / "pwned"
    evil = pickle.dumps({b"data": _Evil(sentinel), b"labels": [0]})
    assert b"system" in evil  # the payload really names os.system
    _cifar_folder(tmp_path, evil)
    with pytest.raises(VlcpError, match=r"data_batch_1.*refused global (posix|os|nt)\.system"):
        load_preset("cifar10", tmp_path, "train")
    assert not sentinel.exists()


def test_crafted_batch_through_the_cli_is_one_line(tmp_path):
    sentinel = tmp_path / "pwned"
    _cifar_folder(tmp_path, pickle.dumps(_Evil(sentinel)))
    env = dict(os.environ, PYTHONPATH=str(SRC), HF_HUB_OFFLINE="1")
    out = subprocess.run([sys.executable, "-m", "vlcp", "caption", "--run", str(tmp_path / "run"), "--preset", "cifar10",
                          "--data-dir", str(tmp_path)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert "data_batch_1" in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert not sentinel.exists()


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_restricted_unpickler_reads_plain_data_and_arrays(tmp_path, protocol):
    d = {b"data": np.arange(12, dtype=np.uint8).reshape(3, 4), b"labels": [1, 2, 3], b"batch_label": "x",
         "filenames": [b"a.png"], b"n": 2}
    (tmp_path / "b").write_bytes(pickle.dumps(d, protocol=protocol))
    back = load_restricted(tmp_path / "b")
    assert np.array_equal(back[b"data"], d[b"data"]) and back[b"labels"] == [1, 2, 3]
    assert back["filenames"] == [b"a.png"]


@pytest.mark.parametrize("payload", [
    pickle.dumps(print), pickle.dumps(Path("/tmp")), pickle.dumps(np.float64(1.0)), b"\x80\x02garbage", b"",
])
def test_anything_else_is_refused(tmp_path, payload):
    (tmp_path / "b").write_bytes(payload)
    with pytest.raises(VlcpError, match=str(tmp_path / "b")):
        load_restricted(tmp_path / "b")


def test_no_other_pickle_load_in_src():
    out = subprocess.run(["grep", "-rn", "-e", "pickle.load", "-e", "pickle.Unpickler", str(SRC)],
                         capture_output=True, text=True).stdout.strip().splitlines()
    assert out and all("safe_pickle.py" in line for line in out), out
