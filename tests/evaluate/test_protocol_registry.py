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
