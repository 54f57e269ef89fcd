# Two set-up commands (see README): `make run` and `make test`. Both create .venv if needed.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

SPARK_VENV := .venv-spark

.PHONY: install run test test-fast test-spark check bench bench-scale bench-peers bench-external

$(BIN)/linkage: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $(BIN)/linkage

install: $(BIN)/linkage

# The Spark backend's own environment: pyspark stays out of .venv, because
# great-expectations imports pyspark when it is installed (~11 s more per import).
$(SPARK_VENV)/bin/linkage: pyproject.toml
	$(PY) -m venv $(SPARK_VENV)
	$(SPARK_VENV)/bin/pip install -q --upgrade pip
	$(SPARK_VENV)/bin/pip install -q -e ".[dev,spark]"
	touch $(SPARK_VENV)/bin/linkage

run: install  ## install, then run the main job on the embedded default scenario
	$(BIN)/linkage run --out study_out

test: check  ## install, then lint (Python and SQL) and run every test (slow ones included)
	$(BIN)/pytest -q

test-spark: $(SPARK_VENV)/bin/linkage  ## the Spark-vs-DuckDB test (needs Java 17+); must not skip
	LINKAGE_REQUIRE_SPARK=1 $(SPARK_VENV)/bin/pytest -q -m spark

test-fast: install
	$(BIN)/pytest -q -m "not slow"

check: install  ## ruff on the Python, sqlfluff (.sqlfluff: dialect duckdb) on every SQL file
	$(BIN)/ruff check .
	$(BIN)/sqlfluff lint sql --processes 2

bench: install
	$(BIN)/python benchmarks/bench_generate.py

bench-scale: install  ## the whole study at 1%, 10% and 100% of a national year
	$(BIN)/python benchmarks/bench_scale.py

bench-peers: install  ## recordlinkage vs ours vs a DuckDB floor on 10% data
	$(BIN)/pip install -q -e ".[dev,bench]"
	$(BIN)/python benchmarks/bench_peers.py

bench-external: install  ## FEBRL4 and the pseudopeople sample: ours vs generic Splink vs ECM
	$(BIN)/pip install -q -e ".[dev,bench]"
	$(BIN)/python benchmarks/external/bench_external.py --dataset febrl4
	$(BIN)/python benchmarks/external/bench_external.py --dataset pseudopeople
