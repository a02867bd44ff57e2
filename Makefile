# The developer interface: `make test` (lint + every test, integration included), `make demo`.
# Everything installs itself into .venv and the envtest cache on first use.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: all venv lint fmt test unit integration envtest demo bench clean

all: test

$(STAMP): setup.cfg pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Prints the directory holding kube-apiserver and etcd as its last line (KUBEBUILDER_ASSETS).
envtest:
	@bash hack/envtest.sh

unit: $(STAMP)
	$(BIN)/pytest -m 'not integration' tests

integration: $(STAMP)
	assets="$$(bash hack/envtest.sh)" && KUBEBUILDER_ASSETS="$$assets" $(BIN)/pytest -m integration tests

test: lint
	assets="$$(bash hack/envtest.sh)" && KUBEBUILDER_ASSETS="$$assets" CI="$${CI:-}" $(BIN)/pytest tests

demo:
	@echo "make demo arrives with the AWS provider (issue 5): it will run the machine controller against"
	@echo "a local kube-apiserver, a local EC2 endpoint and a kubelet simulator."

# Benchmarks, reported as ratios (bench/README.md); not part of `make test`.
bench: $(STAMP)
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache *.egg-info
