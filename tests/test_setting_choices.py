"""Each setting's choices are declared once (issue 30): the field's metadata feeds the flag's choices and the
config's check, for every stage config."""
import dataclasses

import pytest

from vlcp.errors import VlcpError
from vlcp.settings.tomlcheck import _config_classes


def choice_fields():
    for section, cls in _config_classes().items():
        for f in dataclasses.fields(cls()):
            if "choices" in f.metadata:
                yield pytest.param(cls(), f, id=f"{section}.{f.name}")


@pytest.mark.parametrize("cls, f", list(choice_fields()))
def test_a_value_outside_the_declared_choices_is_refused_by_the_config(cls, f):
    choices = f.metadata["choices"]
    choices = list(choices() if callable(choices) else choices)
    assert choices, f.name
    cls(**{f.name: choices[-1]})  # every declared choice is accepted ...
    with pytest.raises(VlcpError, match=f"setting '{f.name}': must be one of .*got 'no-such-choice'"):
        cls(**{f.name: "no-such-choice"})  # ... and nothing else


def test_every_config_declares_its_choices():
    names = {p.id for p in choice_fields()}
    assert {"synthesize.sampler", "synthesize.start", "synthesize.selector", "train.attention",
            "train.prediction_type", "evaluate.model", "evaluate.protocol", "evaluate.norm", "evaluate.classes",
            "prototypes.strategy"} <= names
