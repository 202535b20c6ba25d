"""Every registered protocol (and the teacher's FULL recipe) describes itself for the results."""
import pytest

from vlcp.evaluate.protocols import PROTOCOLS
from vlcp.evaluate.teacher import FULL


@pytest.mark.parametrize("name", PROTOCOLS.names())
def test_each_registered_protocol_describes_how_it_ran(name):
    protocol = PROTOCOLS.get(name)
    for k in (10, 1000):  # the by-class overrides apply (ImageNet-1K settings)
        d = protocol.for_classes(k).settings(epochs=20, batch_size=32)
        assert d["protocol"] == name and d["epochs"] == 20 and d["batch_size"] == 32
        for key in ("title", "schedule", "augmentation", "loss", "test"):
            assert isinstance(d[key], str) and d[key], key
        assert protocol.test_epochs(20)[-1] == 19  # the last epoch is always scored
        assert all(0 <= protocol.lr_factor(e, 20) <= 1 for e in range(20))


def test_the_teachers_recipe_describes_itself():
    d = FULL.settings(epochs=5, batch_size=256)
    assert d["optimizer"] == "sgd" and "0.1" in d["schedule"]


def test_every_protocol_and_its_whole_set_recipe_record_their_parts_texts():
    from vlcp.evaluate.parts import AUGMENTATIONS, LOSSES, SCHEDULES, TEST_POINTS

    for name in PROTOCOLS.names():
        for p in (PROTOCOLS.get(name), PROTOCOLS.get(name).for_method("full"), FULL):
            d = p.settings(epochs=40, batch_size=16)
            assert d["augmentation"] == AUGMENTATIONS.get(p.augment).text
            assert d["loss"] == LOSSES.get(p.loss).describe(p.temperature)
            assert d["schedule"] == SCHEDULES.get(p.schedule).describe(40)
            assert d["test"] == TEST_POINTS.get(p.test_points).describe(40, p.report)
            assert ("momentum" in d) == (p.optimizer == "sgd") and p.needs_teacher == (p.loss == "kd_cutmix")
    whole = PROTOCOLS.get("ddranking").for_method("full").settings(epochs=200, batch_size=256)
    assert whole["augmentation"] == "none" and "DSA" in PROTOCOLS.get("ddranking").settings(200, 128)["augmentation"]
    assert FULL.settings(epochs=5, batch_size=256)["augmentation"].startswith("DSA's random crop and horizontal flip")


def test_every_registered_part_describes_itself_and_keeps_its_range():
    from vlcp.evaluate.parts import AUGMENTATIONS, LOSSES, SCHEDULES, TEST_POINTS

    assert all(AUGMENTATIONS.get(k).text for k in AUGMENTATIONS.names())
    assert all(LOSSES.get(k).describe(2.0) for k in LOSSES.names())
    assert [k for k in LOSSES.names() if LOSSES.get(k).needs_teacher] == ["kd_cutmix"]
    for k in SCHEDULES.names():
        s = SCHEDULES.get(k)
        assert s.describe(30) and s.factor(0, 30) == 1.0 and all(0 < s.factor(e, 30) <= 1 for e in range(30))
    for k in TEST_POINTS.names():
        assert TEST_POINTS.get(k).describe(50, "final") and set(TEST_POINTS.get(k).points(50)) <= set(range(50))
