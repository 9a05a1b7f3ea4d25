# Every target installs what it needs itself, so both work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.run-installed
TEST_STAMP := $(VENV)/.test-installed

.PHONY: run test bench chromium clean

run: $(RUN_STAMP)
	$(BIN)/devex serve

test: $(TEST_STAMP) chromium
	$(BIN)/ruff check portal tests bench
	$(BIN)/mypy
	$(BIN)/pytest

bench: $(TEST_STAMP)
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m bench.api_throughput
	$(BIN)/python -m bench.start_latency
	$(BIN)/python -m bench.kube_readiness
	$(BIN)/python -m bench.seeding
	$(BIN)/python -m bench.fanout

# The browser tests drive Debian's Chromium (test tools may not download a browser).
chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml constraints.txt | $(VENV)/bin/python
	$(BIN)/pip install --quiet -c constraints.txt -e .
	touch $@

$(TEST_STAMP): pyproject.toml constraints.txt | $(VENV)/bin/python
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@ $(RUN_STAMP)

clean:
	rm -rf $(VENV) .devex .pytest_cache .mypy_cache .ruff_cache test-output
