# ganforge developer entry points. `make train` and `make test` are the README's quick start; both
# install what they need (a virtual environment with torch, the Fashion-MNIST files) on first use.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# The CPU wheel of this release is what the quick start was verified with; pass TORCH_SPEC="torch"
# (or install your own CUDA build into the venv first) for a GPU machine.
TORCH_SPEC ?= torch==2.13.0
FMNIST_DEBIAN := /usr/share/datasets/fashion-mnist

.PHONY: install data train test test-all clean

$(VENV)/.installed: pyproject.toml requirements-test.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[test]"
	$(PY) -m pip install -q --no-deps -r requirements-test.txt
	touch $@

install: $(VENV)/.installed

# Fashion-MNIST and the emoji dataset's sources (Noto Color Emoji, Unicode's emoji-test.txt): Debian's
# packages where apt is usable, else ganforge downloads them (checksummed) into ~/.cache/ganforge/datasets.
DEBIAN_DATA := dataset-fashion-mnist fonts-noto-color-emoji unicode-data
data:
	@if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
	    ! { [ -d $(FMNIST_DEBIAN) ] && [ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] && \
	        [ -f /usr/share/unicode/emoji/emoji-test.txt ]; }; then \
		(apt-get install -y -qq $(DEBIAN_DATA) >/dev/null 2>&1 || \
		 (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq $(DEBIAN_DATA) >/dev/null 2>&1)) || \
		echo "apt could not install $(DEBIAN_DATA); ganforge will try to download the files"; \
	fi

# Quick start 1: train the default preset (DCGAN) on Fashion-MNIST on this machine's CPU or GPU.
train: install data
	$(VENV)/bin/ganforge train

# Quick start 2: the import-layer contracts (pyproject.toml) and the test suite (CPU, a few minutes).
# Slow/GPU tests: make test-all.
test: install data
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest

# Everything, slow tests included, with the reference packages they compare against.
test-all: install data
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pip install -q --no-deps -r requirements-reference.txt
	$(PY) -m pip install -q -r requirements-reference-deps.txt
	$(PY) -m pytest -m "slow or not slow"

clean:
	rm -rf $(VENV) build *.egg-info
