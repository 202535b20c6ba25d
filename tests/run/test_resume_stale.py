"""Resume never passes stale work as new: encode and synthesize continue only outputs made from the
same inputs and settings (a fingerprint stored beside them); anything else stops, --force redoes it."""
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from vlcp.cli import main
from vlcp.data import TensorDataset
from vlcp.encode import EncodeConfig, encode
from vlcp.errors import VlcpError
from vlcp.files.atomic import atomic_write_json, read_jsonl
from vlcp.synthesize import SynthesizeConfig, synthesize


@pytest.fixture()
def data():
    rng = np.random.default_rng(0)
    return TensorDataset(rng.integers(0, 255, (8, 1, 28, 28), dtype=np.uint8), np.arange(8) % 2,
                         ["trouser", "bag"], ["trouser", "bag"])


def write_prototypes(folder, k, shape=(4, 16, 16), word="feature"):
    torch.manual_seed(k)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({c: torch.randn(k, *shape) for c in ("trouser", "bag")}, str(folder / "prototypes.safetensors"))
    atomic_write_json(folder / "text_prototypes.json", {"strategy": "label", "classes": {
        c: [{"cluster": i, "text": f"a {c} with {word} {i}", "size": 1} for i in range(k)] for c in ("trouser", "bag")}})


def pngs(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png"))


def test_encode_changed_settings_stop_and_force_redoes(tiny_model, data, tmp_path):
    cfg = EncodeConfig(batch_size=4, shard_size=2)
    encode(tiny_model, data, tmp_path / "lat", cfg, progress=False)
    mean = (tmp_path / "lat" / "bag" / "00000.safetensors").read_bytes()
    encode(tiny_model, data, tmp_path / "lat", EncodeConfig(batch_size=3, shard_size=2), progress=False)  # same
    changed = EncodeConfig(batch_size=4, shard_size=2, sample=True, seed=3)
    with pytest.raises(VlcpError, match=r"lat: existing encode output was made with other sample False -> True, "
                                        r"seed None -> 3; rerun with --force"):
        encode(tiny_model, data, tmp_path / "lat", changed, progress=False)
    assert (tmp_path / "lat" / "bag" / "00000.safetensors").read_bytes() == mean  # untouched
    encode(tiny_model, data, tmp_path / "lat", changed, progress=False, force=True)
    assert (tmp_path / "lat" / "bag" / "00000.safetensors").read_bytes() != mean


def test_encode_other_model_or_dataset_stops(tiny_model, data, tmp_path):
    encode(tiny_model, data, tmp_path / "lat", EncodeConfig(shard_size=2), progress=False)
    other = TensorDataset(data.data[::-1].copy(), data.labels, data.classes, data.class_names)
    with pytest.raises(VlcpError, match="other dataset"):
        encode(tiny_model, other, tmp_path / "lat", EncodeConfig(shard_size=2), progress=False)
    with torch.no_grad():
        next(tiny_model.vae.parameters()).add_(0.01)
    with pytest.raises(VlcpError, match="other model"):
        encode(tiny_model, data, tmp_path / "lat", EncodeConfig(shard_size=2), progress=False)


def test_encode_outputs_without_fingerprint_stop(tiny_model, data, tmp_path):
    encode(tiny_model, data, tmp_path / "lat", EncodeConfig(shard_size=2), progress=False)
    (tmp_path / "lat" / ".fingerprint-encode.json").unlink()
    with pytest.raises(VlcpError, match="without a fingerprint"):
        encode(tiny_model, data, tmp_path / "lat", EncodeConfig(shard_size=2), progress=False)


def test_synthesize_after_prototypes_changed_stops_and_force_redoes(tiny_model, tmp_path):
    cfg = SynthesizeConfig(steps=2, batch_size=4)
    write_prototypes(tmp_path / "p", k=5)
    out = synthesize(tiny_model, tmp_path / "p", tmp_path / "d", cfg, 28, 1, progress=False)
    assert len(pngs(out)) == 10
    write_prototypes(tmp_path / "p", k=3, word="trait")  # `vlcp prototypes --ipc 3` over the IPC-5 run
    with pytest.raises(VlcpError, match="made with other prototypes; rerun with --force"):
        synthesize(tiny_model, tmp_path / "p", tmp_path / "d", cfg, 28, 1, progress=False)
    assert len(pngs(out)) == 10
    synthesize(tiny_model, tmp_path / "p", tmp_path / "d", cfg, 28, 1, progress=False, force=True)
    assert pngs(out) == [f"{c}/{i}.png" for c in ("bag", "trouser") for i in range(3)]  # no stale 3.png, 4.png
    manifest = list(read_jsonl(out / "metadata.jsonl"))
    assert len(manifest) == 6 and all("trait" in r["prompt"] for r in manifest)


def test_synthesize_changed_settings_stop(tiny_model, tmp_path):
    write_prototypes(tmp_path / "p", k=2)
    synthesize(tiny_model, tmp_path / "p", tmp_path / "d", SynthesizeConfig(steps=4), 28, 1, progress=False)
    before = (tmp_path / "d" / "bag" / "0.png").read_bytes()
    synthesize(tiny_model, tmp_path / "p", tmp_path / "d", SynthesizeConfig(steps=4, batch_size=1), 28, 1,
               progress=False)  # the batch size does not change the images: a plain resume
    with pytest.raises(VlcpError, match=r"seed 0 -> 99, strength 0.7 -> 0.3"):
        synthesize(tiny_model, tmp_path / "p", tmp_path / "d", SynthesizeConfig(steps=4, seed=99, strength=0.5 * 0.6),
                   28, 1, progress=False)
    assert (tmp_path / "d" / "bag" / "0.png").read_bytes() == before
    assert "strength = 0.7" in (tmp_path / "d" / "synthesize.toml").read_text()  # config not rewritten


def test_cli_stale_synthesize_is_one_line(tmp_path, capsys):
    """Through the CLI (embedded model, 4×8×8 latents): exit 2, one line naming the folder and --force."""
    run = tmp_path / "run"
    write_prototypes(run / "prototypes", k=1, shape=(4, 8, 8))
    argv = ["synthesize", "--run", str(run), "--steps", "1", "--strength", "1", "--no-progress"]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(argv + ["--seed", "5"]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error" in line]  # (library progress bars may precede it)
    assert len(lines) == 1 and lines[0].startswith("vlcp synthesize: error: ") and "Traceback" not in err
    err = lines[0]
    assert str(run / "distilled") in err and "seed 0 -> 5" in err and "--force" in err
    assert main(argv + ["--seed", "5", "--force"]) == 0
    assert [r["seed"] for r in read_jsonl(run / "distilled" / "metadata.jsonl")] == [5, 6]
