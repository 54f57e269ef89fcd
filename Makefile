# Two set-up commands (see README): `make run` and `make test`. Both create .venv if needed.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install run test test-fast check bench

$(BIN)/linkage: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $(BIN)/linkage

install: $(BIN)/linkage

run: install  ## install, then run the main job on the embedded default scenario
	$(BIN)/linkage run --out study_out

test: install  ## install, then lint and run every test (slow ones included)
	$(BIN)/ruff check .
	$(BIN)/pytest -q

test-fast: install
	$(BIN)/pytest -q -m "not slow"

check: install
	$(BIN)/ruff check .

bench: install
	$(BIN)/python benchmarks/bench_generate.py
