# blindmatch — everything bootstraps from here; nothing is installed by hand.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: all install run test lint typecheck pytest bench eval clean browser-deps

all: test

$(STAMP): pyproject.toml
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

pytest: $(STAMP)
	$(BIN)/pytest -q

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/blindmatch bench hashing
	$(BIN)/blindmatch bench index
	$(BIN)/blindmatch bench protocol --list-size 1000000
	$(BIN)/blindmatch bench video

eval: $(STAMP)
	$(BIN)/blindmatch eval all --out reports/
	$(BIN)/blindmatch eval private --out reports/

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
