# Two commands for a newcomer: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo demo-node test browser-deps bench bench-federation lint docs clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# `make demo ARGS=--fresh` builds a new federation; `make demo-node ARGS=--fresh` a new node.
demo: $(STAMP)
	$(BIN)/python -m examples.federation_demo $(ARGS)

demo-node: $(STAMP)
	$(BIN)/fmar demo $(ARGS)

# The suite mostly waits on the servers it starts (a fifth of the cores busy when run
# alone), so it runs in three processes, a test file to each (about 13 instead of 38
# minutes on 2 cores); each draws ports from its own range (tests/harness/processes.py
# free_port). `make test TEST_WORKERS=0` runs it in one.
TEST_WORKERS ?= 3

test: $(STAMP) browser-deps
	$(BIN)/ruff check common node trust tests examples portal
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile

# axe-core for the browser tests (tests/browser/package-lock.json), when npm is there; without
# it (or without /usr/bin/chromium) those tests skip and say why.
browser-deps:
	@if command -v npm >/dev/null 2>&1; then cd tests/browser && npm ci --no-audit --no-fund --silent; \
	else echo "npm missing: the browser tests will be skipped" >&2; fi

bench: $(STAMP)
	$(BIN)/python -m tests.bench.bench_register
	$(BIN)/python -m tests.bench.bench_listing_index --assets 100000 --reps 3

bench-federation: $(STAMP)
	$(BIN)/python -m tests.bench.bench_federation

lint: $(STAMP)
	$(BIN)/ruff check common node trust tests examples portal
	$(BIN)/lint-imports
	$(BIN)/mypy

docs: $(STAMP)
	$(BIN)/fmar docs ontology

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
