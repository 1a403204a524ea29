# Two commands do all the set-up (see README):
#   make demo   installs everything into .venv and runs the demo
#   make test   installs everything into .venv and runs the gates and the test suite
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NATIVE := $(VENV)/.native
HOT_PATH := setup.py incident/text.py incident/classify.py incident/learned.py

.PHONY: install demo test lint typecheck unit bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==26.3
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP) $(NATIVE)

# the classifier's hot path compiled again when its sources change (setup.py): until then an
# edited source runs as plain Python
$(NATIVE): $(STAMP) $(HOT_PATH)
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(NATIVE)

install: $(STAMP) $(NATIVE)

demo: install
	$(BIN)/incident demo $(ARGS)

lint: install
	$(BIN)/ruff check incident tests bench setup.py
	$(BIN)/ruff format --check incident tests bench setup.py
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

# one test process per core (pytest-xdist); each has its own PostgreSQL database and Chromium
unit: install
	$(BIN)/pytest -n auto $(PYTEST_ARGS)

test: lint typecheck unit

# Benchmarks print figures; they are not part of `make test`.
bench: install
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/classify.py bench/data/frozen.jsonl $(EVAL)
