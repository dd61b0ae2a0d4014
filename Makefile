# The two set-up commands of the README. Each creates or reuses .venv and
# installs what it needs; torch is pinned (==2.13.0, a local CPU wheel here).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.microflat-installed

.PHONY: demo test fuzz clean

$(STAMP): pyproject.toml setup.py $(wildcard kernels/*.c kernels/*.h runtime/c/*.c runtime/c/*.h) kernels/_build_native.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[compiler,dev,bench]"
	touch $@

demo: $(STAMP)
	$(VENV)/bin/microflat demo

test: $(STAMP)
	$(PY) -m pytest

# The long libFuzzer run on the C loader (tests/test_c_sanitizers.py); CI runs it for 60 s.
fuzz: $(STAMP)
	MICROFLAT_FUZZ_SECONDS=$${MICROFLAT_FUZZ_SECONDS:-3600} $(PY) -m pytest -s tests/test_c_sanitizers.py -k libfuzzer

clean:
	rm -rf $(VENV) build *.egg-info kernels/_native*.so
