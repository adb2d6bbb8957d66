# Two commands matter: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev
# Go builds the real-cluster tier's binaries: on PATH, else where its installer puts it.
GO     ?= $(shell command -v go 2>/dev/null || { test -x /usr/local/go/bin/go && echo /usr/local/go/bin/go; })

.PHONY: demo test test-real realcluster k9s lint typecheck unit bench tools clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## Start the drill cluster and open the control room on it.
demo: $(STAMP)
	$(BIN)/controlroom demo

## Lint, type-check, check the layering and run every test (the real-cluster tier too,
## on every core, one test file per worker so module fixtures start once,
## whenever Go is present: see realcluster).
test: $(STAMP) tools realcluster
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest -n auto --dist loadfile

## The real-cluster tier alone: controlroom against a real kube-apiserver, etcd and
## kube-controller-manager (tests/test_real_cluster.py).
test-real: $(STAMP) tools realcluster
	$(BIN)/pytest -m real

## Build etcd, kube-apiserver and kube-controller-manager (tools/realcluster/go.mod pins them)
## once into ~/.cache/controlroom/realcluster/; a no-op when built. Without Go it says so and
## the real-cluster tests skip (under CI=true they fail instead).
realcluster:
	@if [ -z "$(GO)" ]; then echo "realcluster: no Go found: the real-cluster tests cannot run" >&2; \
	else GO="$(GO)" bash scripts/build-realcluster.sh >/dev/null \
	  || echo "realcluster: the build failed (above); the real-cluster tests will say so" >&2; fi

## Build k9s (tools/k9s/go.mod pins v0.50.16) once into ~/.cache/controlroom/k9s/ for
## bench/bench_k9s.py; not part of make test (a benchmark judge, not a test one).
k9s:
	@if [ -z "$(GO)" ]; then echo "k9s: no Go found" >&2; exit 2; fi
	GO="$(GO)" bash scripts/build-k9s.sh
