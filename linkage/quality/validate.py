"""``linkage validate`` as a plain function: run the data-quality suites on an input or a
study database and write the reports.

Two kinds of source:

* an **input** (a folder of CSV/Parquet files, or a DuckDB file holding ``tips``,
  ``referrals``, ``case_outcomes``): loaded into an in-memory database through the contract
  loader, then the ``raw_*`` suites run;
* a **study database** (a DuckDB file written by ``linkage load`` or ``linkage run``, holding
  ``raw_*``, ``stg_*``, ``links``, ``conversion_rates``): opened read-only and every suite
  whose table is present runs in place.

Neither is ever modified. A contract violation is a result too: the JSON report and the
HTML pages record it (so a CI job never reads a stale report), and the command exits 4.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from linkage.contract import INPUT_TABLES
from linkage.db import connect
from linkage.errors import ContractError, DataQualityError, OutputError
from linkage.quality.results import check_docs_folder, to_dict, write_docs, write_json
from linkage.quality.suites import (
    StudyWindow,
    SuiteResult,
    load_suite,
    suite_names,
    validate_tables,
)

log = logging.getLogger(__name__)

_DB_SUFFIXES = (".duckdb", ".db")


@dataclass(frozen=True)
class ValidationRun:
    """What one ``linkage validate`` found and wrote.

    Attributes:
        results: one result per suite run (empty after a contract violation).
        report: the JSON report (see :func:`linkage.quality.results.to_dict`).
        contract_error: the input's contract violation, if it could not be loaded.
        written: the report files written (JSON, ``index.html``).
    """

    results: list[SuiteResult]
    report: dict[str, Any]
    contract_error: ContractError | None = None
    written: tuple[Path, ...] = ()

    @property
    def success(self) -> bool:
        """True when the input loaded and no critical expectation failed."""
        return self.contract_error is None and all(r.success for r in self.results)

    @property
    def exit_code(self) -> int:
        """0, the contract error's code (4) or the data-quality gate's code (5)."""
        if self.contract_error is not None:
            return self.contract_error.exit_code
        return 0 if self.success else DataQualityError.exit_code


def validate_input(
    source: str | Path,
    suite: str | None = None,
    *,
    window: StudyWindow | None = None,
    json_out: str | Path | None = None,
    docs_dir: str | Path | None = None,
    mapping: Any = None,
) -> ValidationRun:
    """Validate ``source`` and write the JSON report and offline HTML pages if asked.

    Nothing is raised for failed expectations or a contract violation: both are in the
    returned run (and its ``exit_code``). A bad suite name or output path raises before the
    input is read. ``mapping`` (``linkage.ingest.load_mapping``) maps input files in other
    column names or formats onto the contract as they are loaded.

    Raises:
        ConfigError: ``suite`` is not a shipped suite.
        OutputError: ``json_out`` or ``docs_dir`` cannot be written.

    Example:
        >>> run = validate_input("data/", json_out="dq.json")  # doctest: +SKIP
        >>> run.exit_code, run.report["passed"]  # doctest: +SKIP
        (0, 3)
    """
    if suite is not None:
        load_suite(suite)  # an unknown name fails now, not after loading the input
    if docs_dir is not None:
        check_docs_folder(docs_dir)
    if json_out is not None and Path(json_out).is_dir():  # else the page alone is written
        raise OutputError(f"JSON report {json_out} is a folder; name a file")
    window = window or StudyWindow()
    try:
        results, error = _validate(Path(source), suite, window, mapping), None
    except ContractError as exc:
        results, error = [], exc
        log.info("validate: %s breaks the contract (%d violation(s))", source,
                 len(exc.violations))  # fmt: skip
    report = to_dict(results, source=source, window=window, contract_error=error)
    written: list[Path] = []
    if docs_dir is not None:
        written.append(write_docs(report, docs_dir))
    if json_out is not None:
        written.append(write_json(report, json_out))
    return ValidationRun(results, report, error, tuple(written))


def _validate(source: Path, suite: str | None, window: StudyWindow,
              mapping: Any = None) -> list[SuiteResult]:
    suites = [suite] if suite else None
    if source.is_file() and source.suffix.lower() in _DB_SUFFIXES and _is_study_db(source):
        con = _open_read_only(source)
        try:
            return validate_tables(con, suites, window=window)
        finally:
            con.close()
    from linkage.ingest import load_input

    con = connect()
    try:
        load_input(source, con, mapping=mapping)
        return validate_tables(con, suites, window=window)
    finally:
        con.close()


def _open_read_only(path: Path) -> duckdb.DuckDBPyConnection:
    try:
        return connect(path, read_only=True)
    except duckdb.Error as exc:
        reason = str(exc).splitlines()[0][:300]
        raise ContractError(f"cannot open the DuckDB file: {reason}", table="input",
                            rule="unreadable file", file=str(path)) from None  # fmt: skip


def _is_study_db(path: Path) -> bool:
    """A DuckDB file without the contract's input tables but with a suite's table.

    Raises:
        ContractError: the file holds neither (nothing to validate), or cannot be opened.
    """
    con = _open_read_only(path)
    try:
        names = {r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'main'"
        ).fetchall()}  # fmt: skip
    finally:
        con.close()
    if names & {t.name for t in INPUT_TABLES}:
        return False
    tables = {load_suite(n).meta["table"] for n in suite_names()}
    if names & tables:
        return True
    inputs = ", ".join(t.name for t in INPUT_TABLES)
    raise ContractError(
        f"holds neither the input tables ({inputs}) nor a study table "
        f"({', '.join(sorted(tables))})", table="input", rule="missing table", file=str(path),
    )  # fmt: skip
