# Two commands for a newcomer: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo demo-node test bench bench-federation lint docs clean

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

test: $(STAMP)
	$(BIN)/ruff check common node trust tests examples
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python -m tests.bench.bench_register

bench-federation: $(STAMP)
	$(BIN)/python -m tests.bench.bench_federation

lint: $(STAMP)
	$(BIN)/ruff check common node trust tests examples
	$(BIN)/lint-imports
	$(BIN)/mypy

docs: $(STAMP)
	$(BIN)/fmar docs ontology

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
