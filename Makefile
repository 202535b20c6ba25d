# Quick start: `make demo` and `make test`. Set-up is idempotent: each step runs only when missing.
PY      ?= python3
VENV    := .venv
VPY     := $(VENV)/bin/python
STAMP   := $(VENV)/.vlcp-installed
FMNIST  := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
CHROMIUM := /usr/bin/chromium
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup demo test clean-venv

setup: $(FMNIST) $(CHROMIUM) $(STAMP)

$(FMNIST):
	@command -v apt-get >/dev/null || { echo "need Debian's dataset-fashion-mnist (apt-get missing)"; exit 1; }
	@SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -q dataset-fashion-mnist || { $$SUDO apt-get update -q && $$SUDO apt-get install -y -q dataset-fashion-mnist; }

# the report's browser test (tests/test_report_browser.py) renders it in Debian's headless chromium
# Optional: without it that one test is skipped (named in pytest's summary), everything else runs.
$(CHROMIUM):
	@SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  { command -v apt-get >/dev/null && { $$SUDO apt-get install -y -q chromium || { $$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium; }; }; } \
	  || echo "warning: Debian's chromium is not installed; tests/test_report_browser.py will be skipped"

$(VPY):
	$(PY) -m venv $(VENV)

# torch first, pinned to the CPU wheel on local disk, so no dependency pulls a CUDA build.
$(STAMP): pyproject.toml | $(VPY)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q torch==2.13.0
	$(VPY) -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: setup
	$(VENV)/bin/vlcp demo

test: setup
	$(VPY) -m pytest

clean-venv:
	rm -rf $(VENV)
