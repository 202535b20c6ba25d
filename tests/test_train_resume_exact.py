"""`vlcp train` killed with SIGKILL at random points of the VAE and UNet phases resumes to the same
final weights, bit for bit, as an uninterrupted run (tiny model; each run is a forked process)."""
import hashlib
import json
import os
import signal

import numpy as np
import pytest
import torch

from vlcp.data import TensorDataset
from vlcp.errors import VlcpError
from vlcp.train import TrainConfig, train

CFG = TrainConfig(vae_steps=4, vae_batch_size=4, unet_steps=6, batch_size=2, lr=1e-3, vae_lr=1e-3, warmup_steps=2,
                  cosine=True, caption_dropout=0.3, ema_decay=0.9, checkpoint_every=2, seed=3)
HOOKS = ("step", "save")  # where a trial may die: after an optimizer step, or inside a checkpoint's writes


def _data():
    rng = np.random.default_rng(0)
    ds = TensorDataset(rng.integers(0, 255, (16, 1, 28, 28), dtype=np.uint8), np.arange(16) % 2,
                       ["trouser", "bag"], ["trouser", "bag"])
    return ds, {ds.file_name(i): f"a {ds.class_names[i % 2]} number {i % 5}" for i in range(16)}


def _build(minilm):
    from vlcp.models.embedded import build_embedded

    torch.manual_seed(CFG.seed)  # as the CLI does
    return build_embedded(minilm, vae_blocks=(32, 32, 32), unet_blocks=(32, 32))  # 4×8×8 latents


def _arm_kill(at: int) -> None:
    """SIGKILL this process at the ``at``-th optimizer step or checkpoint file write."""
    import vlcp.checkpoint as ck

    count = [0]

    def tick():
        count[0] += 1
        if count[0] == at:
            os.kill(os.getpid(), signal.SIGKILL)

    step = torch.optim.AdamW.step
    save = ck.save_safetensors
    torch.optim.AdamW.step = lambda self, *a, **k: (step(self, *a, **k), tick())[0]
    ck.save_safetensors = lambda *a, **k: (tick(), save(*a, **k))[1]


def _in_child(fn) -> int:
    """Run ``fn`` in a forked process; its exit status (-9 when killed)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            fn()
            code = 0
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def _weights(folder) -> dict:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.safetensors")) if "checkpoint" not in p.parts}


@pytest.fixture(scope="module")
def reference(minilm, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "m"
    ds, caps = _data()
    assert _in_child(lambda: train(_build(minilm), ds, caps, out, CFG, progress=False)) == 0
    return _weights(out)


# (trial seed, phase): kill points drawn at random inside each phase
TRIALS = [(s, "vae") for s in (11, 12, 13)] + [(s, "unet") for s in (21, 22, 23)]


@pytest.mark.parametrize("seed,phase", TRIALS)
def test_kill_and_resume_is_bit_exact(minilm, reference, tmp_path, seed, phase):
    ds, caps = _data()
    out = tmp_path / "m"
    rng = np.random.default_rng(seed)
    # events per phase: one per optimizer step + 3 files per VAE checkpoint (rng, vae) / 4 per UNet (rng, unet, ema)
    vae_events = CFG.vae_steps + 2 * (CFG.vae_steps // CFG.checkpoint_every) + 1
    at = int(rng.integers(3, vae_events)) if phase == "vae" else int(rng.integers(vae_events + 2, vae_events + 14))

    def killed():
        _arm_kill(at)
        train(_build(minilm), ds, caps, out, CFG, progress=False)

    assert _in_child(killed) == -signal.SIGKILL
    state = json.loads((out / "checkpoint" / "state.json").read_text()) if (out / "checkpoint" / "state.json").exists() \
        else None
    if phase == "unet":
        assert state is not None and state["phase"] in ("vae", "unet")
    assert _in_child(lambda: train(_build(minilm), ds, caps, out, CFG, progress=False)) == 0
    assert _weights(out) == reference


def test_checkpoint_past_the_requested_steps_is_reported(minilm, tmp_path):
    ds, caps = _data()
    cfg = TrainConfig(unet_steps=4, batch_size=2, checkpoint_every=2, ema_decay=0.0)
    assert _in_child(lambda: train(_build(minilm), ds, caps, tmp_path / "m", cfg, progress=False)) == 0
    with pytest.raises(VlcpError, match=r"state.json: the unet checkpoint is at step 4, past the requested 2 "
                                        r"\(setting 'unet_steps'\)"):
        train(_build(minilm), ds, caps, tmp_path / "m", TrainConfig(unet_steps=2, batch_size=2, checkpoint_every=2),
              progress=False)


def test_version_1_checkpoint_still_resumes(minilm, tmp_path):
    """A checkpoint in the old layout (files directly in checkpoint/, no RNG state) still resumes."""
    import shutil

    ds, caps = _data()
    cfg = TrainConfig(unet_steps=2, batch_size=2, checkpoint_every=1, ema_decay=0.9)
    assert _in_child(lambda: train(_build(minilm), ds, caps, tmp_path / "m", cfg, progress=False)) == 0
    ckpt = tmp_path / "m" / "checkpoint"
    state = json.loads((ckpt / "state.json").read_text())
    for name in ("unet.safetensors", "ema.safetensors", "optimizer.pt"):
        shutil.move(ckpt / state["dir"] / name, ckpt / name)
    shutil.rmtree(ckpt / state["dir"])
    (ckpt / "state.json").write_text(json.dumps({"phase": "unet", "step": 2, "seconds": 1.0}))
    model = _build(minilm)
    calls = []
    model.unet.register_forward_pre_hook(lambda *a: calls.append(1))
    train(model, ds, caps, tmp_path / "m", TrainConfig(unet_steps=3, batch_size=2, checkpoint_every=1, ema_decay=0.9),
          progress=False)
    assert len(calls) == 1  # steps 0 and 1 came from the old checkpoint
    state = json.loads((ckpt / "state.json").read_text())
    assert state["version"] == 2 and state["step"] == 3 and not (ckpt / "unet.safetensors").exists()
