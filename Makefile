# Two commands do all the set-up on a fresh machine:
#   make demo   - install and run the demo (emulator + connection + web app)
#   make test   - install and run every quality gate (ruff, mypy, pytest)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest pytest-dates bench clean install browser-deps postgres-deps

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)
	@echo "flitch is installed in $(BIN)/: run '. $(BIN)/activate' to type it as the README does."

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/flitch demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# The browser tests drive Debian's Chromium (never a browser downloaded by playwright).
browser-deps:
	@test -x /usr/bin/chromium || { echo "Installing chromium (Debian) for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The metadata tests run on SQLite and on a real PostgreSQL server that they start themselves
# (initdb and pg_ctl in a temporary folder): Debian's server package provides those.
postgres-deps:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || { echo "Installing postgresql (Debian) for the metadata tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

# Browser tests run in their own pytest run: Playwright's sync API keeps an event loop running
# in the worker for the whole session, which would break later tests that call asyncio.run.
pytest: $(STAMP) browser-deps postgres-deps
	$(BIN)/pytest -n 2 -q -m "not browser"
	$(MAKE) --no-print-directory pytest-dates
	$(BIN)/pytest -n 2 -q -m browser

# The tests whose answers depend on "now" run again with the clock of Flitch and the emulator
# moved together (tests/timeline.py): the real date, a year and ten years ahead, 29 February
# half a minute before midnight, a month's last second.
DATES ?= today +1y +10y 2028-02-29T23:59:30Z 2027-01-31T23:59:59Z
DATED := tests/refresh tests/query tests/dashboards tests/metrics tests/test_clock.py \
	tests/web/test_auth.py tests/web/test_dashboards_api.py tests/web/test_datasets_api.py \
	tests/emulator/test_server_listing.py tests/emulator/test_changes.py
pytest-dates: $(STAMP)
	@for at in $(DATES); do \
	  echo "== the same tests with the clock at FLITCH_TEST_AT=$$at"; \
	  FLITCH_TEST_AT=$$at $(BIN)/pytest -n 2 -q -p no:cacheprovider -m "not browser" $(DATED) \
	    || exit 1; \
	done

test: lint typecheck pytest

bench: $(STAMP)
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
