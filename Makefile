# Entry points; scripts/bootstrap.sh does the set-up and skips whatever is already in place.
VENV ?= .venv
BENCH := $(VENV)/bin/mpijob-bench

.PHONY: setup smoke test unit benchmark

setup:
	scripts/bootstrap.sh

smoke: setup
	$(BENCH) run scenarios/smoke.yaml

test: setup
	$(VENV)/bin/python -m pytest

unit:
	$(VENV)/bin/python -m pytest tests/unit

# Harness overhead (pytest-benchmark); the scale figures come from benchmarks/scale.py.
benchmark: setup
	$(VENV)/bin/python -m pytest benchmarks -p no:cacheprovider --benchmark-only
