"""Load the input tables into typed ``raw_*`` tables, enforcing the data contract.

A source is a folder holding ``tips``, ``referrals`` and ``case_outcomes`` (each one
``.csv`` or ``.parquet``) or a DuckDB file holding tables of those names (attached read-only).
CSV is read with every column as text and parsed with ``try_cast``, so a bad value is
counted and reported rather than crashing the reader. Text values are trimmed and blanks
become NULL; booleans accept true/false/t/f/1/0/yes/no in any case; an integer must be
whole; a timestamp with a UTC offset is converted to UTC, one without is taken as UTC.
A date after today is refused (an extract holds no future dates), as is a header naming a
column twice. Extra columns are carried through as read.

Every contract violation of the whole input is collected and raised together as one
``ContractError``. Sources are first copied into temp tables (a failed read would abort a
transaction); the raw tables are then built and checked in one transaction, so after a
failure no ``raw_*`` table is new or changed. Logs carry counts, never values.

The casts are generated here from ``linkage.contract`` rather than written as SQL files: they
depend on each source column's type (text from CSV, typed from Parquet/DuckDB), and the
contract stays the one place that lists columns and types.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from linkage.contract import (
    BOOLEAN,
    DATE,
    INPUT_TABLES,
    INTEGER,
    REFERRALS,
    TEXT,
    TIMESTAMP,
    TIPS,
    Column,
)
from linkage.contract import raw_table_name as raw_name
from linkage.db import connect, quote_ident, table_exists
from linkage.errors import ContractError, OutputError
from linkage.ingest.crosschecks import check_links
from linkage.ingest.headers import duplicated_columns
from linkage.ingest.mapping import InputMapping, apply_mapping, empty_mapped, similar_column
from linkage.ingest.sources import (
    MAX_LINE_BYTES,
    Input,
    bad_utf8_lines,
    long_lines,
    raise_all,
    reason,
    resolve,
    sha256,
    violation,
)
from linkage.progress import ProgressFn, silent

log = logging.getLogger(__name__)

_ALIAS = "linkage_input"
_TRUE, _FALSE = "('true', 't', '1', 'yes')", "('false', 'f', '0', 'no')"
_INT_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER"}
_DELIMS = (";", "\t", "|")
_REJECTS = ("_load_rejects", "_load_reject_scans")
_CSV = ("all_varchar=true, header=true, delim=',', quote='\"', escape='\"', store_rejects=true, "
        f"rejects_table='{_REJECTS[0]}', rejects_scan='{_REJECTS[1]}', "
        f"max_line_size={MAX_LINE_BYTES}")
# Rules after which a table is incomplete, so cross-table checks on it would mislead.
_PARTIAL = {"malformed row", "missing required column", "column name case", "empty table"}


@dataclass(frozen=True)
class LoadSummary:
    """What a load read and wrote (for logs and the run manifest).

    Attributes:
        source: the source as given; ``kind``: ``csv``, ``parquet``, ``duckdb`` or ``mixed``.
        row_counts: rows per contract table; ``files``: the file each table came from.
        sha256: hex digest per input file; ``extra_columns``: non-contract columns carried.
        absent_columns: optional contract columns missing from the source (loaded as NULL).
        nulled_values: per table and column, bad values loaded as NULL (``on_bad_value =
            "null"`` in a mapping); ``mapping``: the mapping file, if any.
    """

    source: str
    kind: str
    row_counts: dict[str, int]
    files: dict[str, str]
    sha256: dict[str, str]
    extra_columns: dict[str, tuple[str, ...]]
    absent_columns: dict[str, tuple[str, ...]]
    nulled_values: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    mapping: str | None = None

    def describe(self) -> str:
        """Row counts, and the bad values loaded as NULL if any (for a terminal)."""
        text = ", ".join(f"{n:,} {t}" for t, n in self.row_counts.items())
        nulled = [f"{t}.{c}: {n:,}" for t, cols in self.nulled_values.items()
                  for c, n in cols.items()]
        return text + (f" (bad values loaded as NULL: {', '.join(nulled)})" if nulled else "")


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, Any] | None = None):
    """The single value a query returns (``fetchall``: ``fetchone`` can leave a result open)."""
    return con.execute(sql, params).fetchall()[0][0]


def _src(name: str) -> str:
    """The temp table a source is staged in (qualified: never a user's table)."""
    return f"temp.main.{quote_ident('_src_' + name)}"


def _stage(con: duckdb.DuckDBPyConnection, inp: Input) -> tuple[list[ContractError], bool]:
    """Copy one source into temp table ``_src_<name>``; return reading problems, staged."""
    name, file, params = inp.table.name, inp.path, {"path": inp.path}
    if inp.kind == "csv":
        if Path(file).stat().st_size == 0:
            msg = "file is empty (0 bytes)"
            return [violation(name, "empty table", msg, file=file, n_rows=0)], False
        try:
            bad = bad_utf8_lines(file)
        except OSError as exc:
            msg = f"cannot read the file: {exc.strerror}"
            return [violation(name, "unreadable file", msg, file=file)], False
        if bad:
            msg = "file is not UTF-8 encoded (count of lines); re-save it as UTF-8"
            return [violation(name, "encoding", msg, file=file, n_rows=bad)], False
        read = f"read_csv($path, {_CSV})"
    elif inp.kind == "parquet":
        read = "read_parquet($path)"
    else:
        sql = "select count(*) from information_schema.tables where table_catalog = $c"
        sql += " and table_schema = 'main' and table_name = $t"
        if not _scalar(con, sql, {"c": _ALIAS, "t": name}):
            msg = f"no table {name} in the DuckDB file"
            return [violation(name, "missing table", msg, file=file)], False
        read, params = f"{_ALIAS}.main.{quote_ident(name)}", None
    twice = duplicated_columns(file, inp.kind)  # a reader would rename the second one
    if twice:
        msg = f"column name(s) given more than once: {', '.join(twice)}"
        return [violation(name, "duplicated column", msg, twice[0], file)], False
    src, found = _src(name), []
    try:
        con.execute(f"create or replace temp table {src} as select * from {read}", params)
        sql = f"select count(distinct line) from temp.main.{_REJECTS[0]}"
        n_bad = _scalar(con, sql) if inp.kind == "csv" else 0
        if n_bad:
            msg = "row(s) with the wrong number of fields or broken quoting"
            found.append(violation(name, "malformed row", msg, file=file, n_rows=n_bad))
    except duckdb.Error as exc:
        if "Maximum line size" in str(exc):
            msg = f"line(s) longer than {MAX_LINE_BYTES:,} bytes (a huge field?)"
            n_long = long_lines(file)
            return [violation(name, "line too long", msg, file=file, n_rows=n_long)], False
        msg = f"cannot read the {inp.kind} data: {reason(exc)}"
        return [violation(name, "unreadable file", msg, file=file)], False
    finally:
        for table in _REJECTS:
            con.execute(f"drop table if exists temp.main.{table}")  # never a user's table
    if not _scalar(con, f"select count(*) from {src}"):
        found.append(violation(name, "empty table", "no data rows", file=file, n_rows=0))
    return found, True


def _parse(col: Column, src_type: str, ident: str) -> tuple[str, str]:
    """SQL for (the value with blanks as NULL, the value parsed to the contract type)."""
    is_text = src_type == "VARCHAR"
    value = f"nullif(trim({ident}), '')" if is_text else ident
    if col.dtype == TEXT:
        return value, value if is_text else f"nullif(trim(cast({ident} as varchar)), '')"
    if col.dtype == BOOLEAN and is_text:
        low = f"lower({value})"
        return value, f"case when {low} in {_TRUE} then true when {low} in {_FALSE} then false end"
    if col.dtype == INTEGER and src_type not in _INT_TYPES:  # '2.5' is not an integer
        num = f"try_cast({value} as double)"
        return value, f"case when {num} = floor({num}) then try_cast({value} as bigint) end"
    if col.dtype == TIMESTAMP and is_text:  # offsets to UTC; naive taken as UTC (session)
        return value, f"timezone('UTC', try_cast({value} as timestamptz))"
    return value, ident if src_type == col.dtype else f"try_cast({value} as {col.dtype})"


def _columns(
    con: duckdb.DuckDBPyConnection, inp: Input, types: dict[str, str]
) -> list[ContractError]:
    """Report missing required columns (with a delimiter hint) and case-only mismatches."""
    table, file, found = inp.table, inp.path, []
    missing = [c for c in table.required_columns if c not in types]
    if missing:
        msg = f"missing required column(s): {', '.join(missing)}"
        seen = [d for d in _DELIMS if len(types) == 1 and d in next(iter(types))]
        if seen:
            msg += f"; the delimiter looks like {seen[0]!r} (the contract's CSV uses ',')"
        n = _scalar(con, f"select count(*) from {_src(table.name)}")
        found.append(violation(table.name, "missing required column", msg, missing[0], file, n))
    lowered = {c.lower(): c for c in types if c not in table.column_names}
    for name in (c for c in table.column_names if c not in types and c.lower() in lowered):
        msg = f"found {lowered[name.lower()]!r}; column names are case-sensitive"
        found.append(violation(table.name, "column name case", msg, name, file))
    extras = [c for c in types if c not in table.column_names and c.lower() not in
              {n.lower() for n in table.column_names}]
    for name in (c for c in table.column_names if c not in types and c.lower() not in lowered):
        near = similar_column(name, extras)
        if near:
            msg = (f"absent; did you mean {name!r}? found {near!r} (rename it, or map it in"
                   " a --mapping file)")
            found.append(violation(table.name, "column name mismatch", msg, name, file))
    return found


def _nullable(col: Column, mapping: InputMapping) -> bool:
    """A bad value of ``col`` is loaded as NULL (counted), not refused."""
    return not col.required and mapping.on_bad_value == "null"


def _build_raw(
    con: duckdb.DuckDBPyConnection, inp: Input, mapping: InputMapping, nulled: dict[str, int]
) -> tuple[list[ContractError], tuple[str, ...], tuple[str, ...]]:
    """Create and check ``raw_<name>``; return violations, extra and absent columns.

    Absent contract columns are loaded as NULL (a missing required one is reported), so the
    columns that are present are still checked. Bad values of optional columns are counted
    into ``nulled`` instead of reported when the mapping says ``on_bad_value = "null"``.
    """
    table, src = inp.table, _src(inp.table.name)
    types = {row[0]: row[1] for row in con.execute(f"describe {src}").fetchall()}
    found = _columns(con, inp, types)
    absent = tuple(c for c in table.column_names if c not in types)
    clashes = {c for c in types if c.lower() in {a.lower() for a in absent}}
    extras = tuple(c for c in types if c not in table.column_names and c not in clashes)
    selects, checks = [], []
    for col in table.columns:
        ident = quote_ident(col.name)
        if col.name in absent:
            selects.append(f"cast(null as {col.dtype}) as {ident}")
            continue
        value, parsed = _parse(col, types[col.name], ident)
        selects.append(f"{parsed} as {ident}")
        if parsed != value:
            bad = f"{value} is not null and {parsed} is null"
            checks.append((col, "unparsable value", f"value(s) not parsable as {col.dtype}", bad))
        if col.required:
            checks.append((col, "required value null", "null or empty", f"{value} is null"))
        if col.dtype in (DATE, TIMESTAMP):  # the session's time zone is UTC
            msg = "date(s) after today: an extract holds no future dates"
            future = f"cast({parsed} as date) > current_date"
            checks.append((col, "date in the future", msg, future))
            if _nullable(col, mapping):  # a bad value like an unparsable one
                selects[-1] = f"case when {future} then null else {parsed} end as {ident}"
        if col.min_value is not None:  # a contract constant, not data
            msg = f"value(s) below the minimum {col.min_value}"
            checks.append((col, "negative value", msg, f"{parsed} < {int(col.min_value)}"))
    sums = ", ".join(f"count(*) filter (where {cond})" for *_, cond in checks)
    counts = con.execute(f"select {sums} from {src}").fetchall()[0] if checks else ()
    n_rows = _scalar(con, f"select count(*) from {src}")
    for (col, rule, msg, _), n in zip(checks, counts, strict=True):
        if n and rule in ("unparsable value", "date in the future") and \
                _nullable(col, mapping):
            nulled[col.name] = nulled.get(col.name, 0) + n
        elif n:
            found.append(violation(table.name, rule, msg, col.name, inp.path, n))
    for name, n in nulled.items():  # a column's bad values of every kind, together
        if n > mapping.max_bad_share * n_rows:
            msg = ("bad value(s) (unparsable or in the future): more than max_bad_share = "
                   f"{mapping.max_bad_share:g} of the rows, so on_bad_value = null does not "
                   "apply (a wrong format?)")
            found.append(violation(table.name, "too many bad values", msg, name, inp.path, n))
    found += empty_mapped(con, src, table, mapping.table(table.name), inp.path, n_rows)
    raw, key = quote_ident(raw_name(table)), quote_ident(table.key)
    selects += [quote_ident(c) for c in extras]
    con.execute(f"create or replace table {raw} as select {', '.join(selects)} from {src}")
    dups = f"select count(*) from {raw} where {key} is not null group by {key} having count(*) > 1"
    n = _scalar(con, f"select coalesce(sum(n), 0) from ({dups}) as d(n)")
    if n:
        msg = "rows share a key value"
        found.append(violation(table.name, "duplicate key", msg, table.key, inp.path, int(n)))
    return found, extras, absent


def load_input(
    source: str | Path,
    con: duckdb.DuckDBPyConnection,
    *,
    on_progress: ProgressFn | None = None,
    mapping: InputMapping | None = None,
) -> LoadSummary:
    """Load ``tips``, ``referrals`` and ``case_outcomes`` into typed ``raw_*`` tables.

    Args:
        source: folder of ``<table>.csv``/``<table>.parquet`` files, or a DuckDB file.
        con: connection to write into (not inside an open transaction).
        on_progress: optional ``(step, fraction)`` callback (see ``linkage.progress``).
        mapping: how the source's columns, formats and values map onto the contract
            (``linkage.ingest.mapping.load_mapping``); None = the contract's own names.

    Returns:
        LoadSummary with row counts, source files, their sha256 and the extra columns.

    Raises:
        ContractError: listing every contract violation; nothing is left half-loaded.

    Example:
        >>> summary = load_input("data/study", connect())  # doctest: +SKIP
        >>> summary.row_counts["referrals"]  # doctest: +SKIP
        1200
    """
    inputs, mapping = resolve(Path(source)), mapping or InputMapping()
    kind = inputs[0].kind if len({i.kind for i in inputs}) == 1 else "mixed"
    progress, attached = on_progress or silent, False
    try:
        if kind == "duckdb":
            try:
                con.execute(f"attach $path as {_ALIAS} (read_only)", {"path": str(source)})
                attached = True
            except duckdb.Error as exc:
                msg = f"cannot open the DuckDB file: {reason(exc)}"
                raise_all([violation(t.name, "unreadable file", msg, file=str(source))
                        for t in INPUT_TABLES])  # fmt: skip
        found, staged = [], []
        for step, inp in enumerate(inputs, start=1):
            problems, ok = _stage(con, inp)
            if ok:
                problems += apply_mapping(con, _src(inp.table.name), inp.table,
                                          mapping.table(inp.table.name), inp.path)
            found += problems
            staged += [inp] if ok else []
            progress(f"read {inp.table.name}", step / (len(inputs) + 1))
        con.execute("begin")
        try:
            summary = _load(con, str(source), kind, inputs, staged, found, mapping)
        except BaseException:
            con.execute("rollback")
            raise
        con.execute("commit")
    finally:
        for inp in inputs:
            con.execute(f"drop table if exists {_src(inp.table.name)}")
        if attached:
            con.execute(f"detach {_ALIAS}")
    progress("checked the contract", 1.0)
    log.info("loaded %s input: %s", kind, summary.row_counts)
    return summary


def _load(
    con: duckdb.DuckDBPyConnection,
    source: str,
    kind: str,
    inputs: list[Input],
    staged: list[Input],
    found: list[ContractError],
    mapping: InputMapping,
) -> LoadSummary:
    """Build the raw tables from the staged sources and check them (inside a transaction)."""
    extras: dict[str, tuple[str, ...]] = {}
    absent: dict[str, tuple[str, ...]] = {}
    nulled: dict[str, dict[str, int]] = {}
    for inp in staged:
        nulled[inp.table.name] = {}
        problems, extras[inp.table.name], absent[inp.table.name] = _build_raw(
            con, inp, mapping, nulled[inp.table.name])
        found += problems
    incomplete = {e.table for e in found if e.rule in _PARTIAL}
    incomplete |= {i.table.name for i in inputs if i not in staged}
    if not incomplete & {TIPS.name, REFERRALS.name}:
        found += check_links(con, next(i.path for i in inputs if i.table is REFERRALS))
    if found:
        log.info("input (%s) breaks the contract: %d violation(s)", kind, len(found))
        raise_all(found)
    for name, columns in absent.items():
        if columns:
            log.warning("%s: optional column(s) absent, loaded as NULL: %s", name, columns)
    for name, counts in nulled.items():
        for column, n in counts.items():
            log.warning("%s.%s: %d bad value(s) loaded as NULL (on_bad_value = null)",
                        name, column, n)
    files = {i.table.name: i.path for i in inputs}
    counts = {t: _scalar(con, f"select count(*) from {quote_ident(raw_name(t))}") for t in files}
    return LoadSummary(
        source=source,
        kind=kind,
        row_counts=counts,
        files=files,
        sha256={path: sha256(path) for path in sorted(set(files.values()))},
        extra_columns={k: v for k, v in extras.items() if v},
        absent_columns={k: v for k, v in absent.items() if v},
        nulled_values={k: v for k, v in nulled.items() if v},
        mapping=mapping.path,
    )


def load_to_file(
    source: str | Path,
    db_path: str | Path,
    *,
    overwrite: bool = False,
    on_progress: ProgressFn | None = None,
    mapping: InputMapping | None = None,
) -> LoadSummary:
    """Load ``source`` into the DuckDB file ``db_path`` (``linkage load --input X --db FILE``).

    A new file is removed again if the load fails. An existing file that already holds
    ``raw_*`` tables is loaded into only with ``overwrite=True``.

    Raises:
        ContractError: the input breaks the contract (an existing file is left as it was).
        OutputError: ``db_path`` cannot be written, or holds raw tables and not ``overwrite``.

    Example:
        >>> load_to_file("data/study", "study.duckdb").row_counts  # doctest: +SKIP
        {'tips': 1000, 'referrals': 1200, 'case_outcomes': 900}
    """
    db = Path(db_path)
    if not db.parent.is_dir():
        raise OutputError(f"{db}: folder {db.parent} does not exist")
    existed = db.exists()
    if existed and Path(source).exists() and Path(source).resolve() == db.resolve():
        raise OutputError(f"{db}: the output database cannot be the input file")
    try:
        con = connect(db)
    except duckdb.Error as exc:
        raise OutputError(f"{db}: cannot open as a DuckDB database: {reason(exc)}") from exc
    try:
        present = [raw_name(t) for t in INPUT_TABLES if table_exists(con, raw_name(t))]
        if present and not overwrite:
            raise OutputError(f"{db}: already holds {', '.join(present)}; use overwrite")
        return load_input(source, con, on_progress=on_progress, mapping=mapping)
    except BaseException:
        con.close()
        if not existed:
            for leftover in (db, db.with_name(db.name + ".wal")):
                leftover.unlink(missing_ok=True)
        raise
    finally:
        con.close()
