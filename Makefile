# Two commands on a fresh machine: `make serve` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test lint typecheck unit browser bench-deps clean lock

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

serve: $(STAMP)
	$(BIN)/doppel serve

test: $(STAMP) lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy --strict src

unit: $(STAMP) browser
	$(BIN)/pytest -p no:cacheprovider

# Debian's chromium for the dashboard's browser tests (tests/ui) and bench/dashboard_paint.py,
# driven by Playwright; `playwright install` is never run (it downloads a browser of its own).
browser:
	test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

# Peers and load generator for bench/: Stoplight Prism from npm (pinned in bench/.prism) and wrk.
bench-deps:
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	cd bench/.prism && npm ci --silent --no-audit --no-fund

# Re-pin every Python dependency to what is installed now.
lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable --exclude doppel | sort > constraints.txt

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache
