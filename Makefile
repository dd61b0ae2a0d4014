# The two set-up commands of the README. Each creates or reuses .venv and
# installs what it needs; torch is pinned (==2.13.0, a local CPU wheel here).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.microflat-installed

.PHONY: demo test clean

$(STAMP): pyproject.toml setup.py $(wildcard kernels/*.c kernels/*.h) kernels/_build_native.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[compiler,dev]"
	touch $@

demo: $(STAMP)
	$(VENV)/bin/microflat demo

test: $(STAMP)
	$(PY) -m pytest

clean:
	rm -rf $(VENV) build *.egg-info kernels/_native*.so
