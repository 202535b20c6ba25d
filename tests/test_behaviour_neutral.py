"""Issue 30's redesign is behaviour-neutral: the whole pipeline on a tiny fixed subset (tests/golden/pipeline.toml)
gives the PNG bytes, result numbers and run record captured before it (tests/golden/expected.json, from 78edaf6),
and every committed config dry-runs to the same resolved settings."""
import difflib
import json
import tomllib

import pytest

from tests.golden.capture import EXPECTED, dry_runs, pipeline

GOLDEN = json.loads(EXPECTED.read_text())


def resolved(dry_run_text: str) -> dict:
    """The resolved settings a dry run prints (the TOML between '# resolved settings' and '# inputs:'), parsed."""
    _, _, settings = dry_run_text.partition("# resolved settings")
    return tomllib.loads(settings.split("\n", 1)[1].partition("\n# inputs:")[0])


@pytest.mark.slow
def test_pipeline_outputs_are_the_golden_ones(tmp_path):
    facts = pipeline(tmp_path / "run")
    want = GOLDEN["pipeline"]
    assert facts["images"] == want["images"]
    assert facts["results"] == want["results"]
    assert facts["settings.toml"] == want["settings.toml"]


def test_committed_configs_dry_run_to_the_golden_settings(tmp_path):
    got = dry_runs(tmp_path)
    assert sorted(got) == sorted(GOLDEN["dry_runs"])
    for name, text in got.items():
        want = GOLDEN["dry_runs"][name]
        diff = "\n".join(difflib.unified_diff(want.splitlines(), text.splitlines(), lineterm=""))
        assert "synthesize" in resolved(want) and resolved(text) == resolved(want), f"{name}:\n{diff}"
