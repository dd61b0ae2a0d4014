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

# An arm64 Python under qemu-aarch64, for tests/test_aarch64.py (and, with LiteRT, benchmarks/arm_instructions.py).
# Needs apt to know arm64 packages (dpkg --add-architecture arm64, as .ci/run does); without it the
# AArch64 tests skip, naming what to do (under CI they fail).
AARCH64_PYTHON := build/aarch64-python

$(AARCH64_PYTHON) $(AARCH64_PYTHON)-bench: tests/arm/aarch64_python.sh | $(STAMP)
	PYTHON=$(PY) tests/arm/aarch64_python.sh $@ $(if $(findstring -bench,$@),ai-edge-litert)

test: $(STAMP)
	-@$(MAKE) --no-print-directory $(AARCH64_PYTHON)
	$(PY) -m pytest

# The long fuzz runs (CI runs 30 s of each libFuzzer target and the ci profile):
# 1. libFuzzer with ASan and UBSan (tests/test_c_sanitizers.py), one corpus kept in build/fuzz-corpus: the C
#    loader alone (tests/fuzz/fuzz_verify.c) for MICROFLAT_FUZZ_VERIFY_SECONDS, 3000 s: about 26 million
#    executions at the 8,570 a second of a 5-minute run on one core (16 million at the 5,400 a second of a
#    busier minute); then the loader and a run of what loads (tests/fuzz/fuzz_loader.c, ~750 a second from
#    that corpus) for MICROFLAT_FUZZ_SECONDS, 600 s.
# 2. the Python and C loaders side by side (tests/test_fuzz_loader.py) in the fuzz profile: 340,000 cases for
#    each of its three properties, 1,020,000 damaged files (29 min, 1.1 GB peak), then every single-byte flip.
fuzz: $(STAMP)
	MICROFLAT_FUZZ_VERIFY_SECONDS=$${MICROFLAT_FUZZ_VERIFY_SECONDS:-3000} MICROFLAT_FUZZ_SECONDS=$${MICROFLAT_FUZZ_SECONDS:-600} \
	MICROFLAT_FUZZ_CORPUS=$${MICROFLAT_FUZZ_CORPUS:-build/fuzz-corpus} $(PY) -m pytest -s tests/test_c_sanitizers.py -k libfuzzer
	HYPOTHESIS_PROFILE=$${HYPOTHESIS_PROFILE:-fuzz} $(PY) -m pytest -s tests/test_fuzz_loader.py

clean:
	rm -rf $(VENV) build *.egg-info kernels/_native*.so
