"""What wrote the report: the versions of vlcp and its main libraries, and the git commit of its source."""
from __future__ import annotations

import subprocess
from pathlib import Path

PACKAGES = ("vlcp", "torch", "diffusers", "transformers")


def versions() -> dict[str, str]:
    """{package: installed version} of ``PACKAGES`` (those not installed left out)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=10)


def git_commit() -> str:
    """The commit of the vlcp source tree the report is written with ('—' outside a git checkout)."""
    try:
        out = _git("rev-parse", "--short", "HEAD")
        if out.returncode != 0:
            return "—"
        dirty = _git("status", "--porcelain", "--untracked-files=no").stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "—"
    return out.stdout.strip() + (" (with local changes)" if dirty else "")
