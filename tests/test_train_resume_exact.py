"""`vlcp train` killed with SIGKILL at random points of the VAE and UNet phases resumes to the same
final weights, bit for bit, as an uninterrupted run (tiny model). Each training runs in a fresh Python
process (``tests/train_child.py``): forking a process whose torch thread pools are running can hang."""
import hashlib
import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vlcp.errors import VlcpError
from vlcp.train import TrainConfig, train

sys.path.insert(0, str(Path(__file__).parent))
from train_child import CFG, build, data  # noqa: E402

CHILD = Path(__file__).parent / "train_child.py"


def _in_child(out, kill_at: int = 0, config: str = "CFG") -> int:
    """Train into ``out`` in a new process (SIGKILLed at event ``kill_at`` when > 0); its exit status."""
    proc = subprocess.run([sys.executable, str(CHILD), str(out), str(kill_at), config], capture_output=True,
                          text=True, timeout=600)
    if proc.returncode not in (0, -signal.SIGKILL):
        print(proc.stderr[-3000:])
    return proc.returncode


def _weights(folder) -> dict:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.safetensors")) if "checkpoint" not in p.parts}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "m"
    assert _in_child(out) == 0
    return _weights(out)


# (trial seed, phase): kill points drawn at random inside each phase
TRIALS = [(s, "vae") for s in (11, 12, 13)] + [(s, "unet") for s in (21, 22, 23)]


@pytest.mark.parametrize("seed,phase", TRIALS)
def test_kill_and_resume_is_bit_exact(reference, tmp_path, seed, phase):
    out = tmp_path / "m"
    rng = np.random.default_rng(seed)
    # events per phase: one per optimizer step + 3 files per VAE checkpoint (rng, vae) / 4 per UNet (rng, unet, ema)
    vae_events = CFG.vae_steps + 2 * (CFG.vae_steps // CFG.checkpoint_every) + 1
    at = int(rng.integers(3, vae_events)) if phase == "vae" else int(rng.integers(vae_events + 2, vae_events + 14))
    assert _in_child(out, kill_at=at) == -signal.SIGKILL
    state = json.loads((out / "checkpoint" / "state.json").read_text()) if (out / "checkpoint" / "state.json").exists() \
        else None
    if phase == "unet":
        assert state is not None and state["phase"] in ("vae", "unet")
    assert _in_child(out) == 0
    assert _weights(out) == reference


def test_checkpoint_past_the_requested_steps_is_reported(minilm, tmp_path):
    ds, caps = data()
    assert _in_child(tmp_path / "m", config="PAST") == 0
    with pytest.raises(VlcpError, match=r"state.json: the unet checkpoint is at step 4, past the requested 2 "
                                        r"\(setting 'unet_steps'\)"):
        train(build(minilm), ds, caps, tmp_path / "m", TrainConfig(unet_steps=2, batch_size=2, checkpoint_every=2),
              progress=False)


def test_version_1_checkpoint_still_resumes(minilm, tmp_path):
    """A checkpoint in the old layout (files directly in checkpoint/, no RNG state) still resumes."""
    import shutil

    ds, caps = data()
    assert _in_child(tmp_path / "m", config="OLD") == 0
    ckpt = tmp_path / "m" / "checkpoint"
    state = json.loads((ckpt / "state.json").read_text())
    for name in ("unet.safetensors", "ema.safetensors", "optimizer.pt"):
        shutil.move(ckpt / state["dir"] / name, ckpt / name)
    shutil.rmtree(ckpt / state["dir"])
    (ckpt / "state.json").write_text(json.dumps({"phase": "unet", "step": 2, "seconds": 1.0}))
    model = build(minilm)
    calls = []
    model.unet.register_forward_pre_hook(lambda *a: calls.append(1))
    train(model, ds, caps, tmp_path / "m", TrainConfig(unet_steps=3, batch_size=2, checkpoint_every=1, ema_decay=0.9),
          progress=False)
    assert len(calls) == 1  # steps 0 and 1 came from the old checkpoint
    state = json.loads((ckpt / "state.json").read_text())
    assert state["version"] == 2 and state["step"] == 3 and not (ckpt / "unet.safetensors").exists()
