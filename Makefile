# aiguilleur: `make run` (the hotline on this machine) and `make test` (every tier).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo run run-cluster test test-unit test-db test-pbx fuzz chaos lint bench call cdr conf conf-check prompts pbx-build system-deps communes clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Debian packages the sandbox needs: SIPp, espeak-ng + sox (prompts), debootstrap (Asterisk 22 root),
# Kamailio (the SIP front of the multi-node set-up).
system-deps:
	@bash sandbox/install-system-deps.sh

# French communes and postcodes (Etalab's découpage administratif, pinned, from npm) for appointments.
communes:
	@bash appointments/fetch-communes.sh 6.0.0

run: $(STAMP) system-deps communes
	$(BIN)/aiguilleur up

# Kamailio in front of two sandbox Asterisk nodes (issue 13's foundation; no service instance yet).
run-cluster: $(STAMP) system-deps
	$(BIN)/aiguilleur cluster up

test: $(STAMP) system-deps communes
	$(BIN)/python -m pytest tests

test-unit: $(STAMP) communes
	$(BIN)/python -m pytest tests/unit

test-db: $(STAMP) communes
	$(BIN)/python -m pytest tests/db

test-pbx: $(STAMP) system-deps
	$(BIN)/python -m pytest -m pbx tests

# Property-based fuzzing (tests/fuzz), long profile: 1,000,000+ generated inputs over the FastAGI codec, the
# AMI stream parser and the queue_log / cdr_custom parsers; prints the inputs per target and the crashes.
# `make test` runs the same tests short. Two niced processes (tests/fuzz/run.py): it takes a while of a shared CPU.
# FUZZ_SCALE=0.1 for a tenth of the inputs.
FUZZ_NICE ?= 10
FUZZ_SCALE ?= 1
fuzz: $(STAMP)
	AIGUILLEUR_FUZZ_SCALE=$(FUZZ_SCALE) nice -n $(FUZZ_NICE) $(BIN)/python -m tests.fuzz.run

# Faults injected one at a time into the real sandbox stack (bench/chaos.py, issue 16), one line of figures
# each; `make test` runs a short form (tests/chaos). Root: the spool's disk is a tmpfs it mounts and unmounts.
chaos: $(STAMP) system-deps
	$(BIN)/python -m bench.chaos

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# Each prints its figures and ratios against a baseline measured in the same run.
bench: $(STAMP) system-deps
	mkdir -p var
	$(BIN)/python -m bench.fastagi_bench --route bench.ivr_route:route --json var/bench-fastagi.json
	$(BIN)/python -m bench.fastagi_bench --route bench.ivr_route:route --levels 1000 --repeat 1 --think-ms 1000 --min-sessions 1000
	$(BIN)/python -m bench.fastagi_sessions_bench --sessions 5000 --json var/bench-fastagi-sessions.json
	$(BIN)/python -m bench.ivr_machine_bench
	$(BIN)/python -m bench.queue_state_bench
	$(BIN)/python -m bench.cdr_writer_bench --json var/bench-cdr-writer.json
	$(BIN)/python -m bench.call_load_bench --json var/bench-call-load.json
	$(BIN)/python -m bench.sim_bench
	$(BIN)/python -m bench.wallboard_fanout_bench --json var/bench-wallboard.json
	$(BIN)/python -m bench.routing_bench
	$(BIN)/python -m bench.ami_member_events_bench --json var/bench-ami-events.json
	$(BIN)/python -m bench.callback_claim_bench --json var/bench-callback-claims.json
	$(BIN)/python -m bench.failover_bench --json var/bench-failover.json

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
