# aiguilleur: `make run` (the hotline on this machine) and `make test` (every tier).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo run test test-unit test-db test-pbx lint bench call cdr conf conf-check prompts pbx-build system-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Debian packages the sandbox needs: SIPp, espeak-ng + sox (prompts), debootstrap (Asterisk 22 root).
system-deps:
	@bash sandbox/install-system-deps.sh

run: $(STAMP) system-deps
	$(BIN)/aiguilleur up

test: $(STAMP) system-deps
	$(BIN)/python -m pytest tests

test-unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

test-db: $(STAMP)
	$(BIN)/python -m pytest tests/db

test-pbx: $(STAMP) system-deps
	$(BIN)/python -m pytest -m pbx tests

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# Each prints its figures and ratios against a baseline measured in the same run.
bench: $(STAMP)
	mkdir -p var
	$(BIN)/python -m bench.fastagi_bench --route bench.ivr_route:route --json var/bench-fastagi.json
	$(BIN)/python -m bench.fastagi_bench --route bench.ivr_route:route --levels 1000 --repeat 1 --think-ms 1000 --min-sessions 1000
	$(BIN)/python -m bench.ivr_machine_bench
	$(BIN)/python -m bench.queue_state_bench
	$(BIN)/python -m bench.cdr_writer_bench
	$(BIN)/python -m bench.sim_bench
	$(BIN)/python -m bench.wallboard_fanout_bench --json var/bench-wallboard.json
	$(BIN)/python -m bench.routing_bench

demo: $(STAMP) system-deps
	$(BIN)/aiguilleur demo
	$(BIN)/aiguilleur report

call: $(STAMP)
	$(BIN)/aiguilleur call

cdr: $(STAMP)
	$(BIN)/aiguilleur cdr

conf: $(STAMP)
	$(BIN)/aiguilleur conf generate

conf-check: $(STAMP)
	$(BIN)/aiguilleur conf check

prompts: $(STAMP)
	$(BIN)/aiguilleur prompts

pbx-build: $(STAMP) system-deps
	$(BIN)/aiguilleur pbx build

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
