"""The README's Python API example runs as written (stage functions exported from ``vlcp``)."""
import re
from pathlib import Path

import vlcp

README = Path(__file__).parents[1] / "README.md"


def _example() -> str:
    text = README.read_text("utf-8")
    return re.search(r"<!-- api-example -->\n```python\n(.*?)```", text, re.S).group(1)


def test_every_exported_name_resolves():
    for name in vlcp.__all__:
        assert getattr(vlcp, name) is not None, name


def test_readme_api_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(_example(), "README.md", "exec"), {})
    pngs = sorted(p.relative_to(tmp_path / "runs/api/distilled").as_posix()
                  for p in (tmp_path / "runs/api/distilled").rglob("*.png"))
    assert pngs == ["trouser/0.png", "trouser/1.png", "tshirt_top/0.png", "tshirt_top/1.png"]
    assert (tmp_path / "runs/api/distilled/metadata.jsonl").exists()
