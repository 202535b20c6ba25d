"""Protocol parts are registered objects: a new augmentation and a protocol using it, defined in this file
alone, run through `vlcp evaluate --protocol NAME` and are recorded in the row."""
import json

import pytest
import torch

from evalhelpers import write_folder
from vlcp.cli import main
from vlcp.errors import VlcpError
from vlcp.evaluate.parts import AUGMENTATIONS, Augmentation
from vlcp.evaluate.protocols import PROTOCOLS, Protocol

TEXT = "horizontal flip of every image (a test-only augmentation, counted)"


@pytest.fixture()
def counted_protocol():
    """A test-only augmentation (flips every image and counts its batches) and a protocol that uses it."""
    calls = []

    def flip_all(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        calls.append(len(x))
        return torch.flip(x, dims=[3])

    AUGMENTATIONS.register("flip_all")(Augmentation(TEXT, flip_all))
    PROTOCOLS.register("counted")(Protocol(
        name="counted", title="a test-only protocol", default_epochs=lambda ipc, k: 2,
        default_batch_size=lambda ipc, k: 4, optimizer="sgd", lr=0.01, momentum=0.9, weight_decay=5e-4,
        augment="flip_all"))
    yield calls
    PROTOCOLS.unregister("counted")
    AUGMENTATIONS.unregister("flip_all")


def test_a_protocol_with_a_new_augmentation_runs_through_the_cli(counted_protocol, tmp_path, tiny_train, tiny_test):
    data = tmp_path / "data"
    write_folder(data / "train", tiny_train, per_class=30)
    write_folder(data / "val", tiny_test, per_class=20)
    distilled = write_folder(tmp_path / "d", tiny_train, per_class=3)
    out = tmp_path / "o"
    assert main(["evaluate", str(distilled), "--data-dir", str(data), "--out", str(out), "--protocol", "counted",
                 "--repeats", "1", "--no-progress"]) == 0
    assert counted_protocol == [4, 2, 4, 2]  # 2 epochs (the protocol's default) × batches of 4 + 2 images
    row = json.loads((out / "results.json").read_text())["rows"][0]
    assert row["protocol"] == "counted" and row["settings"]["augmentation"] == TEXT
    assert row["settings"]["epochs"] == 2 and row["settings"]["batch_size"] == 4


def test_the_cli_offers_only_registered_protocols(tmp_path, capsys):
    assert "counted" not in PROTOCOLS
    assert main(["evaluate", str(tmp_path), "--protocol", "counted"]) == 2
    assert "invalid choice: 'counted'" in capsys.readouterr().err


def test_an_unknown_part_is_one_clear_error():
    with pytest.raises(VlcpError, match="unknown augmentation 'blur'; choose one of .*dsa"):
        Protocol(name="x", title="x", default_epochs=lambda ipc, k: 1, default_batch_size=lambda ipc, k: 1,
                 optimizer="sgd", lr=0.1, weight_decay=0.0, augment="blur")
