# The two commands that matter: `make run` (the whole platform locally) and `make test`.
# Everything is installed from uv.lock into .venv; uv itself is bootstrapped with pip if missing.

SHELL := /bin/bash
.DEFAULT_GOAL := help

UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
RUN := $(UV) run --frozen

.PHONY: site-test chromium chaincode-test help run status test lint format typecheck pytest sync clean docs fuzz bench k8s-validate fabric-up fabric-down fabric-clean

help:
	@echo "make run        start PostgreSQL, NATS, Caddy (:8000) and every service (Ctrl-C stops all)"
	@echo "make status     every process of a running make run: state, pid, restarts, last exit"
	@echo "make test       lint (ruff), type-check (mypy --strict) and run every test (pytest)"
	@echo "make docs       regenerate docs/openapi/*.json and docs/events/asyncapi.json"
	@echo "make fuzz       fuzz every service from its OpenAPI document, longer than make test does"
	@echo "make bench      measure and write docs/BENCHMARKS.md"
	@echo "make k8s-validate  render k8s/ overlays with kustomize and validate them offline"
	@echo "make fabric-up  start the local Hyperledger Fabric network (2 orgs, channel votes, chaincode votes)"
	@echo "make fabric-down | fabric-clean   stop it (data kept) | stop it and delete its data"
	@echo "make site-test  the public site's JavaScript tests (node --test web/test/; Node 20+)"
	@echo "make chromium   install Debian's chromium and a Korean font for the browser tests (apt-get, root)"
	@echo "make lint | typecheck | pytest | format | clean"

$(UV):
	@echo "bootstrapping uv with pip"
	python3 -m pip install --user --quiet uv || python3 -m pip install --user --quiet --break-system-packages uv

.venv/.synced: uv.lock pyproject.toml */pyproject.toml | $(UV)
	$(UV) sync --all-packages --frozen
	@touch $@

sync: .venv/.synced

run: sync
	$(RUN) python -m services_dev.localrt.run

# Exit code 0: everything ready; 1: running but not ready; 2: no launcher answers.
status: sync
	@$(RUN) python -m services_dev.localrt.status

test: lint typecheck chaincode-test pytest

lint: sync
	$(RUN) ruff format --check .
	$(RUN) ruff check .

format: sync
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

# One run per workspace member: each member's tests have a conftest.py, and mypy cannot hold
# two modules of one name in a run.
TYPECHECK_TARGETS := services services-dev identity-svc proposal-svc vote-svc ledger-svc notify-svc "tests docs/generate.py"

typecheck: sync
	@set -e; for target in $(TYPECHECK_TARGETS); do echo "mypy $$target"; $(RUN) mypy $$target; done

# The Go chaincode's unit tests (the Python suites test it again through a real network).
chaincode-test:
	cd ledger-svc/chaincode && go vet ./... && go test ./...

pytest: sync
	$(RUN) pytest $(PYTEST_ARGS)

# The public site (docs/site.md): its verifier's tests run on Node's own test runner; the browser
# tests (tests/site, tests/e2e/test_site_e2e.py) need Debian's chromium.
site-test:
	node --test web/test/

chromium:
	command -v chromium >/dev/null && fc-list :lang=ko | grep -q . || \
		(apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-nanum)

docs: sync
	$(RUN) python docs/generate.py

# The contract fuzz suite with bigger bounds and fresh random cases (docs/operations.md,
# "Contract fuzzing"); `make test` runs it with FUZZ_MAX_EXAMPLES=3, derandomised.
FUZZ_MAX_EXAMPLES ?= 50
fuzz: sync
	FUZZ_MAX_EXAMPLES=$(FUZZ_MAX_EXAMPLES) FUZZ_RANDOM=1 $(RUN) pytest tests/fuzz -o timeout=3600 $(PYTEST_ARGS)

k8s-validate: sync
	$(RUN) pytest tests/k8s -q

bench: sync
	$(RUN) python tests/bench/bench_foundation.py
	$(RUN) python tests/bench/bench_ledger.py
	$(RUN) python tests/bench/bench_agreements.py
	$(RUN) python tests/bench/bench_reads.py
	$(RUN) python tests/bench/bench_fabric.py
	$(RUN) python tests/bench/bench_fanout.py

clean:
	-deploy/fabric/fabric.sh down 2>/dev/null
	rm -rf .data

# Native Fabric network (deploy/fabric/fabric.sh; docs/fabric.md). FABRIC_HOME and
# FABRIC_PORT_OFFSET from the environment pick the data directory and the ports.
fabric-up:
	deploy/fabric/fabric.sh up

fabric-down:
	deploy/fabric/fabric.sh down

fabric-clean:
	deploy/fabric/fabric.sh clean
