# The developer interface: `make test` (lint + every test, integration included), `make demo`.
# Everything installs itself into .venv and the envtest cache on first use.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: all venv lint fmt test unit integration envtest demo start bench clean

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

# `make demo`: the AWS machine controller on a local kube-apiserver, a local EC2 (moto behind the
# fault front) and simulated kubelets, until Ctrl-C. DEMO_FLAGS="--exit-when-ready" tears down once
# the machines run (CI uses that).
demo: $(STAMP)
	assets="$$(bash hack/envtest.sh)" && KUBEBUILDER_ASSETS="$$assets" $(BIN)/python hack/demo.py $(DEMO_FLAGS)

# `make start`: the machine-controller binary against your clusters, as upstream's `make start`.
CONTROL_NAMESPACE ?= default
LEADER_ELECT ?= true
start: $(STAMP)
	$(BIN)/python cmd/machine-controller/main.py \
		--control-kubeconfig=$(CONTROL_KUBECONFIG) \
		--target-kubeconfig=$(TARGET_KUBECONFIG) \
		--namespace=$(CONTROL_NAMESPACE) \
		--machine-creation-timeout=20m \
		--machine-drain-timeout=5m \
		--machine-health-timeout=10m \
		--machine-pv-detach-timeout=2m \
		--machine-safety-apiserver-statuscheck-timeout=30s \
		--machine-safety-apiserver-statuscheck-period=1m \
		--machine-safety-orphan-vms-period=30m \
		--leader-elect=$(LEADER_ELECT) \
		--v=3

# Benchmarks, reported as ratios (bench/README.md); not part of `make test`.
bench: $(STAMP)
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache *.egg-info
