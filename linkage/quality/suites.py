"""Data-quality gates: great-expectations suites run inside DuckDB.

One suite per table lives in ``expectations/<table>.json`` (GX's own suite format, with
``meta.table`` and ``meta.stage``). Suites are loaded strictly (GX silently drops unknown
expectation types) and validated through GX's SQL datasource on the pipeline's own DuckDB
connection, so every check is an aggregate query and no row comes into Python. Results keep
counts only: GX's ``partial_unexpected_list`` holds record values and is never surfaced.

Expectations with ``severity="warning"`` are reported but never stop a run; a failed or
errored critical expectation makes :func:`gate` raise :class:`DataQualityError`. Date
checks take the study window as GX suite parameters (``window_start``, ``window_end``,
``extract_end``; see :class:`StudyWindow`).

GX is imported lazily (about 3 s) and runs in an ephemeral context: no files, no network,
no usage statistics, no progress bars, its loggers quiet. Rendering results (summary, JSON,
offline HTML) is in :mod:`linkage.quality.results`; quarantine in :mod:`linkage.ingest.quarantine`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from linkage.db import table_exists
from linkage.errors import ConfigError, DataQualityError
from linkage.quality import _gx_duckdb
from linkage.quality._gx import context as _context
from linkage.quality._gx import gx as _gx
from linkage.resources import expectations_dir
from linkage.summaries import CRITICAL, WARNING, ExpectationResult, SuiteResult, describe_failure

__all__ = [
    "CRITICAL",
    "WARNING",
    "ExpectationResult",
    "StudyWindow",
    "SuiteResult",
    "describe_failure",
    "gate",
    "load_suite",
    "suite_names",
    "validate_table",
    "validate_tables",
]

log = logging.getLogger(__name__)

# BASIC gives unexpected counts and percents; partial_unexpected_count=0 keeps values out.
_RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 0}
_INDEX = "linkage_index"  # meta key: an expectation's position in its suite file
_names = itertools.count()


@dataclass(frozen=True)
class StudyWindow:
    """The dates a study covers, passed to the suites' date checks as GX suite parameters.

    Tips must be received in ``[start, end]``; referrals and case stages must not be later
    than ``extract`` (the data extract date; defaults to ``end``). The defaults are a
    plausibility window for data whose study window is not given: the CyberTipline started
    in 1998, and 2040 is far enough ahead that only a broken date passes it.

    Example:
        >>> StudyWindow(dt.date(2024, 1, 1), dt.date(2024, 12, 31)).parameters()["window_end"]
        datetime.datetime(2025, 1, 1, 0, 0)
    """

    start: dt.date = dt.date(1998, 1, 1)
    end: dt.date = dt.date(2040, 12, 31)
    extract: dt.date | None = None

    def __post_init__(self) -> None:
        if not self.start <= self.end <= (self.extract or self.end):
            raise ConfigError(
                f"study window: need start <= end <= extract date, got {self.start}, "
                f"{self.end}, {self.extract}"
            )

    @classmethod
    def of(
        cls,
        start: dt.date | None = None,
        end: dt.date | None = None,
        extract: dt.date | None = None,
    ) -> StudyWindow:
        """A window from optional parts: missing ones take the defaults, and an extract
        date given without an end also ends the window.

        Raises:
            ConfigError: the dates are not in order (start <= end <= extract).

        Example:
            >>> StudyWindow.of(extract=dt.date(2025, 6, 30)).end
            datetime.date(2025, 6, 30)
        """
        default = cls()
        end = end or extract or default.end
        return cls(start or default.start, end, extract)

    @property
    def extract_date(self) -> dt.date:
        """The extract date (``end`` when none was given)."""
        return self.extract or self.end

    def parameters(self) -> dict[str, dt.datetime]:
        """Suite parameters: ends are exclusive (the next midnight), so a whole day counts."""
        day = dt.timedelta(days=1)
        return {
            "window_start": dt.datetime.combine(self.start, dt.time()),
            "window_end": dt.datetime.combine(self.end + day, dt.time()),
            "extract_end": dt.datetime.combine(self.extract_date + day, dt.time()),
        }

    def to_dict(self) -> dict[str, str]:
        """The window as ISO dates (for the JSON report)."""
        return {"start": self.start.isoformat(), "end": self.end.isoformat(),
                "extract": self.extract_date.isoformat()}  # fmt: skip


# --- suites ------------------------------------------------------------------------------


def suite_names(directory: Path | None = None) -> list[str]:
    """Names of the shipped suites (file stems in ``expectations/``), sorted.

    Example:
        >>> "raw_referrals" in suite_names()
        True
    """
    return sorted(p.stem for p in (directory or expectations_dir()).glob("*.json"))


def load_suite(name: str, directory: Path | None = None) -> Any:
    """Load ``expectations/<name>.json`` strictly into a GX ``ExpectationSuite``.

    Raises:
        ConfigError: unknown suite, name not equal to the file stem, ``meta.table`` or
            ``meta.stage`` missing, a misspelt keyword, or an unknown expectation type
            (which GX alone would silently drop).

    Example:
        >>> load_suite("raw_referrals").meta["table"]  # doctest: +SKIP
        'raw_referrals'
    """
    path = (directory or expectations_dir()) / f"{name}.json"
    if not path.is_file():
        known = ", ".join(suite_names(directory))
        raise ConfigError(f"unknown suite {name!r} (known: {known})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from exc
    if data.get("name") != name:
        raise ConfigError(f"{path}: suite name {data.get('name')!r} must equal the file stem")
    meta = data.get("meta") or {}
    missing = [k for k in ("table", "stage") if not meta.get(k)]
    if missing:
        raise ConfigError(f"{path}: meta.{' and meta.'.join(missing)} required")
    gx = _gx()
    try:
        suite = gx.ExpectationSuite(**data)
    except Exception as exc:  # pydantic ValidationError on a misspelt keyword, among others
        first = str(exc).splitlines()
        raise ConfigError(f"{path}: invalid expectation: {' '.join(first[:3])}") from exc
    wanted = [e.get("type") for e in data.get("expectations", [])]
    loaded = [e.expectation_type for e in suite.expectations]
    if len(loaded) != len(wanted):
        unknown = sorted({t for t in wanted if t not in loaded} or {"?"})
        raise ConfigError(f"{path}: unknown expectation type(s): {', '.join(map(str, unknown))}")
    # GX returns results in its own order, with suite parameters substituted into the
    # kwargs: a position in meta is the one stable way back to the suite's order.
    for i, expectation in enumerate(suite.expectations):
        expectation.meta = {**(expectation.meta or {}), _INDEX: i}
    return suite


# --- validation ---------------------------------------------------------------------------


def validate_table(
    con: duckdb.DuckDBPyConnection,
    suite_name: str,
    *,
    directory: Path | None = None,
    window: StudyWindow | None = None,
) -> SuiteResult:
    """Run one suite on the table named in its ``meta.table``, inside DuckDB.

    A missing table gives a failed result with ``error`` set rather than an exception.
    ``window`` fills the date checks' suite parameters (default: :class:`StudyWindow`()).

    Example:
        >>> result = validate_table(con, "raw_referrals")  # doctest: +SKIP
        >>> result.success, len(result.results)  # doctest: +SKIP
        (True, 30)
    """
    suite = load_suite(suite_name, directory)
    table, stage = suite.meta["table"], suite.meta["stage"]
    if not table_exists(con, table):
        return SuiteResult(suite_name, table, stage, False, (), f"table {table} not found")
    ctx = _context()
    ds_name = f"duckdb_{next(_names)}"
    ds = _duckdb_datasource(ctx, ds_name, con)
    try:
        batch_def = ds.add_table_asset(name=table, table_name=table)
        batch_def = batch_def.add_batch_definition_whole_table("all")
        res = batch_def.get_batch().validate(
            suite,
            result_format=_RESULT_FORMAT,
            expectation_parameters=(window or StudyWindow()).parameters(),
        )
    finally:
        _gx_duckdb.close(ds)
        ctx.data_sources.delete(ds_name)
    results = tuple(_convert(r) for r in sorted(res.results, key=_position))
    success = not any(r.blocking for r in results)
    n_failed = sum(not r.success for r in results)
    log.info(
        "suite %s on %s: %d expectations, %d failed", suite_name, table, len(results), n_failed
    )
    return SuiteResult(suite_name, table, stage, success, results)


def _duckdb_datasource(ctx: Any, name: str, con: duckdb.DuckDBPyConnection) -> Any:
    """A GX SQL datasource named ``name`` on the caller's DuckDB connection.

    Through a cursor of ``con``: a second connection to the same file fails in-process, and
    an in-memory database would be a different, empty one.
    """
    from duckdb_engine import ConnectionWrapper

    return ctx.data_sources.add_sql(
        name,
        connection_string="duckdb:///:memory:",
        kwargs={"creator": lambda: ConnectionWrapper(con.cursor())},
    )


def _position(r: Any) -> int:
    return int((r.expectation_config.meta or {}).get(_INDEX, 1 << 30))


def _column(kwargs: dict[str, Any]) -> str | None:
    if "column" in kwargs:
        return str(kwargs["column"])
    if "column_A" in kwargs:
        return f"{kwargs['column_A']},{kwargs['column_B']}"
    if "column_list" in kwargs:
        return ",".join(kwargs["column_list"])
    return None


def _describe(cfg: Any) -> str:
    """One line: the suite's own description, else the type and its column."""
    text = getattr(cfg, "description", None) or " ".join(
        x for x in (cfg.type, _column(cfg.kwargs)) if x
    )
    return " ".join(str(text).split())


def _convert(r: Any) -> ExpectationResult:
    cfg = r.expectation_config
    result = r.result or {}
    count, percent = result.get("unexpected_count"), result.get("unexpected_percent")
    count, detail = _observed(cfg, r.success, result, count)
    error = _error(r.exception_info)
    if error and cfg.type == "expect_column_values_to_be_in_type_list" and "list index" in error:
        # GX 1.24 looks the column up in the reflected types with [0]: absent means IndexError.
        error = f"column {cfg.kwargs['column']} not found"
    severity = getattr(cfg.severity, "value", cfg.severity) or CRITICAL
    elements = result.get("element_count")
    return ExpectationResult(
        expectation_type=cfg.type,
        column=_column(cfg.kwargs),
        severity=str(severity),
        success=bool(r.success),
        unexpected_count=int(count) if count is not None else None,
        unexpected_percent=float(percent) if percent is not None else None,
        description=_describe(cfg),
        error=error,
        detail=detail,
        element_count=int(elements) if elements is not None else None,
        index=(cfg.meta or {}).get(_INDEX),
    )


def _observed(
    cfg: Any, success: bool, result: dict[str, Any], count: int | None
) -> tuple[int | None, str | None]:
    """The count and a short detail from GX's ``observed_value``/``details``.

    Only counts, column and type names are taken from them, never record values.
    """
    observed = result.get("observed_value")
    if cfg.type == "unexpected_rows_expectation" and isinstance(observed, int):
        return observed, None
    if cfg.type == "expect_table_columns_to_match_set":
        missing = ((result.get("details") or {}).get("mismatched") or {}).get("missing") or []
        return len(missing), (f"missing: {', '.join(map(str, missing))}" if missing else None)
    if cfg.type == "expect_column_values_to_be_in_type_list" and observed and not success:
        return count, f"expected {' or '.join(cfg.kwargs['type_list'])}, found {observed}"
    if cfg.type.startswith("expect_table_row_count") and isinstance(observed, int):
        return count, f"observed {observed:,} rows"
    if cfg.type == "expect_table_row_count_to_equal_other_table" and isinstance(observed, dict):
        other = cfg.kwargs["other_table_name"]
        return count, f"{observed.get('self'):,} rows, {other} {observed.get('other'):,}"
    return count, None


def _error(info: Any) -> str | None:
    """The error message from either shape of GX's ``exception_info``, values redacted."""
    if not info:
        return None
    entries = [info] if "raised_exception" in info else list(info.values())
    for entry in entries:
        message = str(entry.get("exception_message") or "").strip()
        if message:
            # Database messages can quote a value ("Could not convert string 'x'"): drop literals.
            return re.sub(r"'[^']*'", "'…'", message.splitlines()[0])[:300]
        if entry.get("raised_exception"):
            return "error"
    return None


def validate_tables(
    con: duckdb.DuckDBPyConnection,
    suites: Sequence[str] | None = None,
    *,
    window: StudyWindow | None = None,
) -> list[SuiteResult]:
    """Run the named suites, or every shipped suite whose table exists in ``con``.

    Example:
        >>> [r.suite for r in validate_tables(con)]  # doctest: +SKIP
        ['raw_case_outcomes', 'raw_referrals', 'raw_tips']
    """
    if suites is None:
        suites = [n for n in suite_names() if table_exists(con, load_suite(n).meta["table"])]
    return [validate_table(con, name, window=window) for name in suites]


def gate(
    con: duckdb.DuckDBPyConnection,
    suite_names: Iterable[str],
    *,
    window: StudyWindow | None = None,
) -> list[SuiteResult]:
    """Run suites and stop the run if any critical expectation failed or errored.

    Warnings are logged (counts only) and never stop the run.

    Raises:
        DataQualityError: naming each table, column, expectation and count that blocks.

    Example:
        >>> gate(con, ["raw_tips", "raw_referrals"])  # doctest: +SKIP
        [SuiteResult(suite='raw_tips', ...), SuiteResult(suite='raw_referrals', ...)]
    """
    results = validate_tables(con, list(suite_names), window=window)
    problems: list[str] = []
    for sr in results:
        if sr.error:
            problems.append(f"table {sr.table}: {sr.error}")
        for r in sr.failures:
            if r.blocking:
                problems.append(describe_failure(sr.table, r))
            else:
                log.warning("data-quality warning: %s", describe_failure(sr.table, r))
    if problems:
        raise DataQualityError(
            f"data-quality gate failed ({len(problems)} critical): " + "; ".join(problems)
        )
    return results
