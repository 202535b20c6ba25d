"""Per-image stages under `accelerate launch` with two processes equal a one-process run.

`accelerate launch --cpu --num_processes 2` starts ONE process (accelerate's simple launcher, which
sets only ACCELERATE_USE_CPU and leaves several CPU processes to mpirun), so the two CPU processes
come from `accelerate launch --multi_gpu --num_processes 2` on this machine without GPUs: torchrun
sets RANK / WORLD_SIZE / LOCAL_RANK and vlcp joins them over gloo (``vlcp.run.shards.distributed_state``).
One launch runs `vlcp run` over caption (LLaVA), encode, prototypes (rank 0 only) and synthesize.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from vlcp.data.presets import IMAGENETTE
from vlcp.files.latents import LatentStore

STAGES = ["caption", "encode", "prototypes", "synthesize"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false", PYTHONWARNINGS="ignore")
    env.pop("WORLD_SIZE", None)
    env.pop("RANK", None)
    return env


def _run(cmd: list[str], cwd: Path) -> None:
    proc = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, tiny_sd, tiny_llava, imagenet_root):
    root = tmp_path_factory.mktemp("accelerate")
    cfg = root / "cfg.toml"
    cfg.write_text(f"""
[data]
preset = "imagenette"
data_dir = "{imagenet_root}"
num_classes = 2
per_class = 4
resolution = 16

[caption]
captioner = "llava"
batch_size = 2

[captioner]
model = "{tiny_llava}"
max_new_tokens = 5

[model]
path = "{tiny_sd}"

[encode]
batch_size = 2
shard_size = 2

[prototypes]
ipc = 2

[synthesize]
steps = 3
batch_size = 1
""")
    args = ["run", str(cfg), "--stages", *STAGES, "--run"]
    _run([sys.executable, "-m", "vlcp", *args, str(root / "one")], root)
    accelerate = Path(sys.executable).with_name("accelerate")
    _run([str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
          "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(_free_port()),
          "-m", "vlcp", *args, str(root / "two")], root)
    return root / "one", root / "two"


def test_two_processes_equal_one(two_runs):
    one, two = two_runs
    # each process wrote its own parts
    assert sorted(p.name for p in (two / "captions").rglob("metadata-*.jsonl")) == [
        "metadata-000-of-002.jsonl", "metadata-001-of-002.jsonl"]
    assert (one / "captions" / "metadata.jsonl").read_bytes() == (two / "captions" / "metadata.jsonl").read_bytes()
    for c in IMAGENETTE[:2]:
        a, b = LatentStore(one / "latents").read_class(c), LatentStore(two / "latents").read_class(c)
        assert a.file_names == b.file_names and np.array_equal(a.ids, b.ids)
        np.testing.assert_array_equal(a.latents, b.latents)
    pa, pb = load_file(str(one / "prototypes" / "prototypes.safetensors")), load_file(str(two / "prototypes" / "prototypes.safetensors"))
    assert pa.keys() == pb.keys() and all(np.array_equal(pa[k], pb[k]) for k in pa)
    assert (one / "prototypes" / "text_prototypes.json").read_bytes() == (two / "prototypes" / "text_prototypes.json").read_bytes()
    manifest = (one / "distilled" / "metadata.jsonl").read_bytes()
    assert manifest == (two / "distilled" / "metadata.jsonl").read_bytes()
    pngs = sorted(p.relative_to(one / "distilled") for p in (one / "distilled").rglob("*.png"))
    assert len(pngs) == 4
    for p in pngs:
        assert (one / "distilled" / p).read_bytes() == (two / "distilled" / p).read_bytes(), p
