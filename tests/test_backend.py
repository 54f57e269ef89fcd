"""Choosing a backend: a missing pyspark or Java is a one-line error with exit code 9, an
unknown backend a configuration error. Fast: nothing starts Spark here (that is
``test_spark.py``, in the Spark environment)."""

from __future__ import annotations

import stat
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from linkage.cli import main
from linkage.errors import BackendError, ConfigError
from linkage.ingest import load_to_file
from linkage.linking import spark as backend_spark
from linkage.study import StudyConfig


def _fake_java(folder: Path, version_line: str) -> Path:
    java = folder / "java"
    java.write_text(f"#!/bin/sh\necho '{version_line}' >&2\n", encoding="utf-8")
    java.chmod(java.stat().st_mode | stat.S_IEXEC)
    return java


@pytest.mark.parametrize(
    ("line", "major"),
    [('openjdk version "17.0.15" 2025-04-15', 17), ('java version "1.8.0_292"', 8),
     ('openjdk version "21" 2023-09-19', 21), ("no version here", None)],
)
def test_java_major_version_is_read_from_java_version(tmp_path: Path, line: str,
                                                      major: int | None) -> None:
    assert backend_spark._java_major(str(_fake_java(tmp_path, line))) == major


def test_without_pyspark_the_backend_says_how_to_install_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)  # import pyspark -> ImportError
    with pytest.raises(BackendError) as err:
        backend_spark.check_available()
    message = str(err.value)
    assert err.value.exit_code == 9
    assert "pyspark" in message and "linkage[spark]" in message and "\n" not in message


def test_link_backend_spark_without_pyspark_exits_9_with_one_line(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, contract_rows: dict,
        contract_write: Callable[..., Path]) -> None:
    db = tmp_path / "study.duckdb"
    load_to_file(contract_write(contract_rows), db)
    monkeypatch.setitem(sys.modules, "pyspark", None)
    result = CliRunner().invoke(main, ["link", "--db", str(db), "--backend", "spark"])
    assert result.exit_code == 9, result.output
    lines = [line for line in result.output.splitlines() if line.strip()
             and not line.startswith("identifiers compared")]  # the link preflight
    assert lines == ["error: the Spark backend needs pyspark, which is not installed: "
                     "pip install 'linkage[spark]'"]


def test_an_unknown_backend_is_a_configuration_error(tmp_path: Path, contract_rows: dict,
                                                     contract_write: Callable[..., Path]
                                                     ) -> None:
    with pytest.raises(ConfigError, match="backend: 'hadoop' must be one of duckdb, spark"):
        StudyConfig(backend="hadoop")
    from linkage.db import connect
    from linkage.linking.run import link

    db = tmp_path / "study.duckdb"
    load_to_file(contract_write(contract_rows), db)
    with connect(db) as con, pytest.raises(ConfigError, match="backend must be one of"):
        link(con, backend="hadoop")
    bad = CliRunner().invoke(main, ["link", "--db", str(db), "--backend", "hadoop"])
    assert bad.exit_code == 2 and "Invalid value for '--backend'" in bad.output
