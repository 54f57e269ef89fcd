"""DuckDB connection and the SQL-file runner.

Every table the toolkit derives is built by exactly one SQL file named for it: the runner
wraps ``sql/<layer>/<table>.sql`` in ``create or replace table <table> as ...``, so a file
cannot build a table other than the one its name says, and it refuses a file that
:mod:`linkage.pipeline` does not list. Values are always bound as parameters (``$name``),
never formatted into SQL; identifiers go through ``quote_ident``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb

from linkage import pipeline
from linkage.errors import BusyError, OutputError
from linkage.resources import sql_dir

log = logging.getLogger(__name__)


def quote_ident(name: str) -> str:
    """Quote an SQL identifier for DuckDB (doubling any embedded quote).

    Example:
        >>> quote_ident("offense type")
        '"offense type"'
    """
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """Quote a string literal, for the few DuckDB statements that take no parameters
    (``COPY ... TO``, ``ATTACH``, ``SET``). Prefer bound parameters everywhere else."""
    return "'" + value.replace("'", "''") + "'"


DEFAULT_MEMORY_LIMIT = "3GB"
"""DuckDB's memory cap unless ``LINKAGE_MEMORY_LIMIT`` says otherwise. DuckDB's own default
(80% of RAM) lets its buffer pool keep whatever it has read: loading a national year
(20.5M tips) then peaked at 6.5 GB resident. Under a cap it spills to disk instead, and no
stage got slower (the national year end to end: 457.6 s and 6.45 GB uncapped, 433.4 s and
3.40 GB at 3 GB; ``benchmarks/bench_scale.py``). Raise it for data far beyond a national
year on a large machine."""


def connect(
    path: str | Path = ":memory:",
    *,
    threads: int | None = None,
    memory_limit: str | None = None,
    read_only: bool = False,
) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB database with the toolkit's settings.

    ``threads`` defaults to ``LINKAGE_THREADS`` or all cores; ``memory_limit`` to
    ``LINKAGE_MEMORY_LIMIT`` or ``DEFAULT_MEMORY_LIMIT``.

    Example:
        >>> con = connect()
        >>> con.sql("select 1").fetchall()
        [(1,)]
    """
    con = _open(path, read_only=read_only)
    threads = threads or _env_int("LINKAGE_THREADS")
    if threads:
        con.execute(f"set threads = {int(threads)}")
    memory_limit = (memory_limit or os.environ.get("LINKAGE_MEMORY_LIMIT")
                    or DEFAULT_MEMORY_LIMIT)
    con.execute(f"set memory_limit = {quote_literal(memory_limit)}")
    # Progress bars are ours (rich), not DuckDB's. Timestamps are UTC whatever the machine's
    # zone: a naive input timestamp is read as UTC and a timestamptz shown in UTC.
    con.execute("set enable_progress_bar = false")
    con.execute("set TimeZone = 'UTC'")
    return con


def _open(path: str | Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    """``duckdb.connect`` with a file another process holds, or cannot be opened, as a
    one-line ``BusyError`` / ``OutputError`` instead of DuckDB's IO exception."""
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        text = str(exc)
        if "lock" in text.lower():
            holder = re.search(r"PID (\d+)", text)
            by = f" (process {holder.group(1)})" if holder else ""
            raise BusyError(f"database {path} is in use by another process{by}; wait for it "
                            "to finish") from None
        first = text.splitlines()[0] if text else type(exc).__name__
        raise OutputError(f"cannot open database {path}: {first}") from None


def _env_int(name: str) -> int | None:
    raw = os.environ.get(name)
    return int(raw) if raw and raw.isdigit() else None


def sql_file(relpath: str) -> Path:
    """Path of an SQL file under ``sql/`` (e.g. ``"staging/stg_referrals.sql"``)."""
    path = sql_dir() / relpath
    if not path.is_file():
        raise FileNotFoundError(f"SQL file {relpath} not found under {sql_dir()}")
    return path


def _listed(relpath: str, *, macros: bool) -> Path:
    step = pipeline.step(relpath)  # KeyError for a file the run order does not list
    if step.macros != macros:
        kind = "macro" if step.macros else "table"
        raise ValueError(f"SQL file {relpath} is a {kind} file in linkage/pipeline.py")
    return sql_file(relpath)


def build_table(
    con: duckdb.DuckDBPyConnection,
    relpath: str,
    params: Mapping[str, Any] | None = None,
) -> str:
    """Build the table named for ``sql/<relpath>`` from that file's query; return its name.

    Raises:
        KeyError: ``relpath`` is not listed in :mod:`linkage.pipeline`.

    Example:
        >>> con = connect()
        >>> build_table(con, "staging/no_such_table.sql")
        Traceback (most recent call last):
        ...
        KeyError: 'SQL file staging/no_such_table.sql is not listed in linkage/pipeline.py'
    """
    path = _listed(relpath, macros=False)
    table = path.stem
    query = path.read_text(encoding="utf-8").strip().rstrip(";")
    used = {k: v for k, v in (params or {}).items() if f"${k}" in query}
    log.debug("building table %s from %s", table, relpath)
    con.execute(f"create or replace table {quote_ident(table)} as\n{query}", used or None)
    return table


def build_from_frame(
    con: duckdb.DuckDBPyConnection,
    relpath: str,
    view: str,
    frame: Any,
    params: Mapping[str, Any] | None = None,
) -> str:
    """Build the table of ``relpath`` from its SQL file, which reads ``frame`` (a pandas
    DataFrame, an Arrow table or a dict of equal-length lists) as the view ``view``.

    Example:
        >>> con = connect()
        >>> build_from_frame(con, "intermediate/link_gap_fit.sql", "link_gap_fit_input",
        ...     {"bucket_order": [1], "m_gap": [1.0], "rho": [0.5], "m_agency": [0.9],
        ...      "u_agency": [0.5], "iterations": [3]})
        'link_gap_fit'
    """
    if isinstance(frame, dict):
        import pyarrow as pa

        frame = pa.table(frame)
    con.register(view, frame)
    try:
        return build_table(con, relpath, params)
    finally:
        con.unregister(view)


def run_macros(con: duckdb.DuckDBPyConnection, relpath: str) -> None:
    """Define the DuckDB macros of ``sql/<relpath>`` (a file listed as macros).

    Example:
        >>> run_macros(connect(), "staging/stg_macros.sql")
    """
    con.execute(_listed(relpath, macros=True).read_text(encoding="utf-8"))


def query_file(
    con: duckdb.DuckDBPyConnection,
    relpath: str,
    params: Mapping[str, Any] | None = None,
) -> duckdb.DuckDBPyRelation:
    """The query of ``sql/<relpath>`` as a relation, without building its table: the same
    rows ``build_table`` would write, for another parameter value (e.g. the links at
    another threshold).

    Example:
        >>> query_file(con, "marts/links.sql", {"threshold": 0.9}).df()  # doctest: +SKIP
    """
    query = _listed(relpath, macros=False).read_text(encoding="utf-8").strip().rstrip(";")
    used = {k: v for k, v in (params or {}).items() if f"${k}" in query}
    return con.sql(query, params=used or None)


def table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether ``table`` (or a view of that name) exists in the main schema."""
    rows = con.execute(
        "select count(*) from information_schema.tables where table_name = $t",
        {"t": table},
    ).fetchall()
    return rows[0][0] > 0


def row_count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    """Number of rows of a table."""
    return con.sql(f"select count(*) from {quote_ident(table)}").fetchall()[0][0]
