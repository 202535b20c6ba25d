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

# the report's browser test (tests/report/test_report_browser.py) renders it in Debian's headless chromium
# Optional: without it that one test is skipped (named in pytest's summary), everything else runs.
$(CHROMIUM):
	@SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  { command -v apt-get >/dev/null && { $$SUDO apt-get install -y -q chromium || { $$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium; }; }; } \
	  || echo "warning: Debian's chromium is not installed; tests/report/test_report_browser.py will be skipped"

$(VPY):
	$(PY) -m venv $(VENV)

# torch first, so that no dependency pulls another build. Which build pip finds depends on where it looks:
# by default your pip configuration (from plain PyPI on Linux: the CUDA build, gigabytes of libraries).
# Choose one with PyTorch's own index (https://pytorch.org/get-started/locally/), e.g.
#   make setup TORCH_INDEX=https://download.pytorch.org/whl/cpu      # CPU only
#   make setup TORCH_INDEX=https://download.pytorch.org/whl/cu126    # CUDA 12.6
# TORCH_SPEC is the requirement itself. After a first set-up, `make clean-venv` before choosing another build.
TORCH_SPEC  ?= torch==2.13.0
TORCH_INDEX ?=
$(STAMP): pyproject.toml | $(VPY)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) '$(TORCH_SPEC)'
	$(VPY) -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: setup
	$(VENV)/bin/vlcp demo

test: setup
	$(VPY) -m pytest

clean-venv:
	rm -rf $(VENV)
