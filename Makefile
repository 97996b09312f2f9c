# mailer: `make demo` shows it work, `make test` proves it.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test tools lint typecheck unit catalogs bench bench-tools clean

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
test: $(STAMP) tools lint typecheck unit

## tools: the system programs the suite uses; installed when missing and possible, else said clearly
# Each a command and, after the colon, its Debian package when the names differ. Postfix is
# installed unconfigured ("No configuration": no system instance, nothing on port 25); the
# bounce tests run private Postfix and Dovecot instances of their own.
TOOLS := redis-server spamassassin chromium openssl postfix dovecot:dovecot-imapd
tools:
	@missing=""; \
	for entry in $(TOOLS); do tool=$${entry%%:*}; package=$${entry#*:}; \
	  command -v $$tool >/dev/null 2>&1 || missing="$$missing $$package"; done; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "make: installing$$missing (Debian packages)"; \
	  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections 2>/dev/null || true; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$$missing >/dev/null) || true; \
	fi; \
	for entry in $(TOOLS); do tool=$${entry%%:*}; package=$${entry#*:}; \
	  command -v $$tool >/dev/null 2>&1 || echo "make: $$tool is missing and could not be installed: its tests are skipped (apt-get install $$package)"; \
	done

lint: $(STAMP)
	$(BIN)/ruff check mailer workers tests bench
	$(BIN)/ruff format --check mailer workers tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# The suite waits on servers, workers and browsers more than it computes: four tests at once
# on two cores (each xdist worker has its own Redis, fork server and ports); stealing keeps
# the long fault tests from ending up on one worker.
TEST_JOBS ?= 4
unit: $(STAMP)
	$(BIN)/pytest -q -n $(TEST_JOBS) --dist worksteal

## catalogs: extract messages.pot and update every catalog
catalogs: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -o templates/locale/messages.pot --no-location --omit-header --sort-output .
	$(BIN)/pybabel update -i templates/locale/messages.pot -d templates/locale --no-fuzzy-matching -w 100

clean:
	rm -rf $(VENV) outbox previews .mailer mailer.db* .pytest_cache .mypy_cache .ruff_cache

## bench: throughput with a relay on loopback and 20 ms away, on SQLite and PostgreSQL, then imports, follow-up counts and bounce fetches (see README)
bench: $(STAMP) bench-tools
	$(BIN)/python bench/throughput.py --rtt-ms 0
	$(BIN)/python bench/throughput.py --rtt-ms 20
	$(BIN)/python bench/throughput.py --rtt-ms 0 --postgres
	$(BIN)/python bench/throughput.py --rtt-ms 20 --postgres
	$(BIN)/python bench/import.py --rows 1000000
	$(BIN)/python bench/audience.py --subscribers 100000
	$(BIN)/python bench/bounces.py --reports 2000

## bench-tools: Postfix's smtp-sink (Debian package postfix), installed with Postfix left unconfigured
bench-tools:
	@if ! command -v smtp-sink >/dev/null 2>&1 && [ ! -x /usr/sbin/smtp-sink ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "make: installing postfix for smtp-sink (no system-wide configuration)"; \
	    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null) || true; \
	  fi; \
	  command -v smtp-sink >/dev/null 2>&1 || [ -x /usr/sbin/smtp-sink ] || echo "make: smtp-sink missing: the bench uses an aiosmtpd sink"; \
	fi
