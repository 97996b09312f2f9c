# mailer: `make demo` shows it work, `make test` proves it.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck unit catalogs bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

## demo: install, then import the examples, publish the seed statement and send its alert into ./outbox
demo: $(STAMP)
	$(BIN)/mailer demo

## test: lint, type-check, then the whole suite (starts a private redis-server when available)
test: $(STAMP) lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check mailer workers tests bench
	$(BIN)/ruff format --check mailer workers tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q

## catalogs: extract messages.pot and update every catalog
catalogs: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -o templates/locale/messages.pot --no-location --omit-header --sort-output .
	$(BIN)/pybabel update -i templates/locale/messages.pot -d templates/locale --no-fuzzy-matching -w 100

clean:
	rm -rf $(VENV) outbox previews .mailer mailer.db* .pytest_cache .mypy_cache .ruff_cache
