"""One `train` of the tiny model for tests/test_train_resume_exact.py, in its own process:
``python train_child.py OUT KILL_AT CONFIG`` (KILL_AT > 0: SIGKILL at that optimizer step or checkpoint file
write; CONFIG: a TrainConfig name below)."""
import os
import signal
import sys

import numpy as np
import torch

from vlcp.data import TensorDataset
from vlcp.train import TrainConfig

CFG = TrainConfig(vae_steps=4, vae_batch_size=4, unet_steps=6, batch_size=2, lr=1e-3, vae_lr=1e-3, warmup_steps=2,
                  cosine=True, caption_dropout=0.3, ema_decay=0.9, checkpoint_every=2, seed=3)
PAST = TrainConfig(unet_steps=4, batch_size=2, checkpoint_every=2, ema_decay=0.0)  # then asked for 2 steps
OLD = TrainConfig(unet_steps=2, batch_size=2, checkpoint_every=1, ema_decay=0.9)   # rewritten to the old layout


def data():
    rng = np.random.default_rng(0)
    ds = TensorDataset(rng.integers(0, 255, (16, 1, 28, 28), dtype=np.uint8), np.arange(16) % 2,
                       ["trouser", "bag"], ["trouser", "bag"])
    return ds, {ds.file_name(i): f"a {ds.class_names[i % 2]} number {i % 5}" for i in range(16)}


def build(minilm):
    from vlcp.models.embedded import build_embedded

    torch.manual_seed(CFG.seed)  # as the CLI does
    return build_embedded(minilm, vae_blocks=(32, 32, 32), unet_blocks=(32, 32))  # 4x8x8 latents


def arm_kill(at: int) -> None:
    """SIGKILL this process at the ``at``-th optimizer step or checkpoint file write."""
    import vlcp.files.checkpoint as ck

    count = [0]

    def tick():
        count[0] += 1
        if count[0] == at:
            os.kill(os.getpid(), signal.SIGKILL)

    step = torch.optim.AdamW.step
    save = ck.save_safetensors
    torch.optim.AdamW.step = lambda self, *a, **k: (step(self, *a, **k), tick())[0]
    ck.save_safetensors = lambda *a, **k: (tick(), save(*a, **k))[1]


def main(out: str, kill_at: str, config: str) -> None:
    from vlcp.models.text import load_minilm
    from vlcp.train import train

    if int(kill_at) > 0:
        arm_kill(int(kill_at))
    ds, caps = data()
    train(build(load_minilm(max_length=32)), ds, caps, out, globals()[config], progress=False)


if __name__ == "__main__":
    main(*sys.argv[1:4])
