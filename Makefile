# blindmatch — everything bootstraps from here; nothing is installed by hand.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: all install run test lint typecheck pytest bench eval clean browser-deps

all: test

$(STAMP): pyproject.toml setup.py src/blindmatch/index/_mihprobe.c
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,phash]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/blindmatch serve --host 127.0.0.1 --port 8080 --demo

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) browser-deps
	$(BIN)/pytest -q

# The console's browser tests drive Debian's chromium through Playwright (never a browser Playwright downloads).
# Installed only when missing; non-interactive so it works under CI=true with no stdin (as root).
browser-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "browser-deps: /usr/bin/chromium missing; run as root to apt-get it" >&2; exit 1; fi; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y --no-install-recommends chromium </dev/null \
	    || { apt-get update -q </dev/null && apt-get install -y --no-install-recommends chromium </dev/null; }; \
	fi

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/blindmatch bench hashing
	$(BIN)/blindmatch bench index
	$(BIN)/blindmatch bench protocol --list-size 1000000
	$(BIN)/blindmatch bench video
	$(BIN)/blindmatch bench relay

eval: $(STAMP)
	$(BIN)/blindmatch eval all --out reports/
	$(BIN)/blindmatch eval private --out reports/
	$(BIN)/blindmatch eval private-video --out reports/

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
	rm -f src/blindmatch/index/_mihprobe*.so
