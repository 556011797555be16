# The two commands for a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .lkbus/tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
TEST_BROKER_DIR := .lkbus/test-broker
CODE := lkbus schemas producers consumers bench tests examples reliability

export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: help install demo test unit lint typecheck bench reliability reliability-quick broker-start broker-stop clean

help:  ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --extra dev --python $(PYTHON)
	touch $@

install: $(VENV)/.installed  ## Create .venv and install the locked dependencies.

demo: install  ## Run the demo end to end on the local broker (started and stopped here).
	$(BIN)/lkbus demo

test: install lint typecheck  ## Lint, type check and run every test (starts and stops its own broker).
	LKBUS_TEST_BROKER_DIR=$(TEST_BROKER_DIR) $(BIN)/pytest; status=$$?; \
	  LKBUS_BROKER__DATA_DIR=$(TEST_BROKER_DIR) $(BIN)/lkbus broker stop >/dev/null; exit $$status

unit: install  ## Only the tests that need no broker.
	$(BIN)/pytest -m "not integration"

lint: install  ## ruff.
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)

typecheck: install  ## mypy --strict.
	$(BIN)/mypy $(CODE)

bench: install  ## Benchmarks, each beside a bare baseline measured in the same run.
	LKBUS_TEST_BROKER_DIR=.lkbus/bench-broker $(BIN)/python -m bench; status=$$?; \
	  LKBUS_BROKER__DATA_DIR=.lkbus/bench-broker $(BIN)/lkbus broker stop >/dev/null; exit $$status

reliability: install  ## The fault suite (own broker, 200 REAL sessions, 8 scenarios, ~30 min): table + docs/reliability.md.
	$(BIN)/python -m reliability $(RELIABILITY_ARGS)

reliability-quick: install  ## A smoke run of the fault suite (~7 min).
	$(BIN)/python -m reliability --quick

broker-start: install  ## Start the local broker (127.0.0.1:9092).
	$(BIN)/lkbus broker start

broker-stop: install  ## Stop the local broker.
	$(BIN)/lkbus broker stop

clean:  ## Stop brokers and remove .venv and .lkbus (jars, data, tools).
	-@for d in .lkbus/broker $(TEST_BROKER_DIR) .lkbus/bench-broker; do \
	  [ -x $(BIN)/lkbus ] && LKBUS_BROKER__DATA_DIR=$$d $(BIN)/lkbus broker stop >/dev/null; done
	rm -rf $(VENV) .lkbus
