"""Issue 30's redesign is behaviour-neutral: the whole pipeline on a tiny fixed subset (tests/golden/pipeline.toml)
gives the PNG bytes, result numbers and run record captured before it (tests/golden/expected.json, from 78edaf6),
and every committed config dry-runs to the same resolved settings."""
import dataclasses
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


def without_new_quiet_defaults(got: dict, want: dict) -> dict:
    """``got`` less the settings added since the golden capture that are ``quiet`` fields at their default
    (a new option, off: it changes nothing the golden files record); any other new key still counts."""
    from vlcp.synthesize import synthesize_config_type

    quiet = {f.name: f.default for f in dataclasses.fields(synthesize_config_type()) if f.metadata.get("quiet")}
    syn = {k: v for k, v in got.get("synthesize", {}).items()
           if k in want.get("synthesize", {}) or k not in quiet or v != quiet[k]}
    return {**got, "synthesize": syn} if "synthesize" in got else got


def test_committed_configs_dry_run_to_the_golden_settings(tmp_path):
    got = dry_runs(tmp_path)
    assert sorted(got) == sorted(GOLDEN["dry_runs"])
    for name, text in got.items():
        want = GOLDEN["dry_runs"][name]
        diff = "\n".join(difflib.unified_diff(want.splitlines(), text.splitlines(), lineterm=""))
        old = resolved(want)
        assert "synthesize" in old and without_new_quiet_defaults(resolved(text), old) == old, f"{name}:\n{diff}"
