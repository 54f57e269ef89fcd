"""Data-quality gates: great-expectations suites run inside DuckDB.

One suite per table lives in ``expectations/<table>.json`` (GX's own suite format, with
``meta.table`` and ``meta.stage``). Suites are loaded strictly (GX silently drops unknown
expectation types) and validated through GX's SQL datasource on the pipeline's own DuckDB
connection, so every check is an aggregate query and no row comes into Python. Results keep
counts only: GX's ``partial_unexpected_list`` holds record values and is never surfaced.

Expectations with ``severity="warning"`` are reported but never stop a run; a failed or
errored critical expectation makes :func:`gate` raise :class:`DataQualityError`.
GX is imported lazily (about 3 s) and runs in an ephemeral context: no files, no network.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import duckdb

from linkage import _gx_duckdb
from linkage.db import connect, quote_ident, row_count, table_exists
from linkage.errors import ConfigError, DataQualityError
from linkage.resources import expectations_dir

log = logging.getLogger(__name__)

CRITICAL = "critical"
WARNING = "warning"
# BASIC gives unexpected counts and percents; partial_unexpected_count=0 keeps values out.
_RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 0}
_JSON_SCHEMA = "linkage.quality/1"
_names = itertools.count()


@dataclass(frozen=True)
class ExpectationResult:
    """Outcome of one expectation: counts only, never record values."""

    expectation_type: str
    column: str | None
    severity: str
    success: bool
    unexpected_count: int | None
    unexpected_percent: float | None
    description: str
    error: str | None = None

    @property
    def blocking(self) -> bool:
        """Whether this result stops a run (a critical expectation that failed or errored)."""
        return self.severity == CRITICAL and not self.success


@dataclass(frozen=True)
class SuiteResult:
    """Outcome of one suite on one table; ``success`` is False only for blocking failures."""

    suite: str
    table: str
    stage: str
    success: bool
    results: tuple[ExpectationResult, ...]
    error: str | None = None

    @property
    def failures(self) -> tuple[ExpectationResult, ...]:
        """Failed or errored expectations of any severity."""
        return tuple(r for r in self.results if not r.success)


@dataclass(frozen=True)
class QuarantineResult:
    """Counts from :func:`quarantine_stage_dates` (``reasons`` maps reason to row count)."""

    table: str
    quarantine_table: str
    n_rows: int
    n_quarantined: int
    reasons: dict[str, int]

    @property
    def share(self) -> float:
        return self.n_quarantined / self.n_rows if self.n_rows else 0.0


# --- GX setup ---------------------------------------------------------------------------


@functools.cache
def _gx() -> Any:
    """Import GX once, quiet its loggers, register our expectation and the DuckDB patch."""
    import great_expectations as gx
    import sqlalchemy as sa
    from great_expectations.execution_engine import SqlAlchemyExecutionEngine as SaEngine
    from great_expectations.expectations.expectation import ColumnMapExpectation
    from great_expectations.expectations.metrics import ColumnMapMetricProvider as MapMetric
    from great_expectations.expectations.metrics import column_condition_partial

    logging.getLogger("great_expectations").setLevel(logging.CRITICAL)
    _gx_duckdb.enable()

    # GX's regex expectations refuse the duckdb dialect; this one uses regexp_full_match and
    # keeps `mostly`. Defining the classes registers them (before any suite is loaded).
    class ColumnValuesRegexpFullMatch(MapMetric):
        condition_metric_name = "column_values.regexp_full_match"
        condition_value_keys = ("regex",)

        @column_condition_partial(engine=SaEngine)
        def _sqlalchemy(cls, column: Any, regex: str, **kwargs: Any) -> Any:
            return sa.func.regexp_full_match(column, sa.literal(regex))

    class ExpectColumnValuesToFullMatchRegex(ColumnMapExpectation):
        """Each non-null value fully matches ``regex`` (DuckDB only)."""

        regex: str
        map_metric: ClassVar[str] = "column_values.regexp_full_match"
        success_keys: ClassVar[tuple[str, ...]] = ("regex", "mostly")

    return gx


@functools.cache
def _context() -> Any:
    """One ephemeral GX context per process: in memory, no Data Docs, no progress bars."""
    gx = _gx()
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        data_docs_sites={},
        progress_bars={"globally": False, "metric_calculations": False},
        analytics_enabled=False,  # inert in 1.24, kept in case the version moves
    )
    return gx.get_context(mode="ephemeral", project_config=config)


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
    return suite


# --- validation ---------------------------------------------------------------------------


def validate_table(
    con: duckdb.DuckDBPyConnection, suite_name: str, *, directory: Path | None = None
) -> SuiteResult:
    """Run one suite on the table named in its ``meta.table``, inside DuckDB.

    A missing table gives a failed result with ``error`` set rather than an exception.

    Example:
        >>> result = validate_table(con, "raw_referrals")  # doctest: +SKIP
        >>> result.success, len(result.results)  # doctest: +SKIP
        (True, 13)
    """
    suite = load_suite(suite_name, directory)
    table, stage = suite.meta["table"], suite.meta["stage"]
    if not table_exists(con, table):
        return SuiteResult(suite_name, table, stage, False, (), f"table {table} not found")
    from duckdb_engine import ConnectionWrapper

    ctx = _context()
    ds_name = f"duckdb_{next(_names)}"
    # Reuse the caller's database through a cursor: a second connection to the same file
    # fails in-process, and an in-memory database would be a different, empty one.
    ds = ctx.data_sources.add_sql(
        ds_name,
        connection_string="duckdb:///:memory:",
        kwargs={"creator": lambda: ConnectionWrapper(con.cursor())},
    )
    try:
        batch_def = ds.add_table_asset(name=table, table_name=table)
        batch_def = batch_def.add_batch_definition_whole_table("all")
        res = batch_def.get_batch().validate(suite, result_format=_RESULT_FORMAT)
    finally:
        _gx_duckdb.close(ds)
        ctx.data_sources.delete(ds_name)
    results = tuple(_convert(r) for r in sorted(res.results, key=_order(suite)))
    success = not any(r.blocking for r in results)
    n_failed = sum(not r.success for r in results)
    log.info(
        "suite %s on %s: %d expectations, %d failed", suite_name, table, len(results), n_failed
    )
    return SuiteResult(suite_name, table, stage, success, results)


def _order(suite: Any) -> Any:
    """Sort key putting results back in suite order (GX returns them in its own order)."""
    index = {_key(e.configuration): i for i, e in enumerate(suite.expectations)}
    return lambda r: index.get(_key(r.expectation_config), len(index))


def _key(cfg: Any) -> str:
    kwargs = {k: v for k, v in cfg.kwargs.items() if k != "batch_id"}  # GX adds batch_id
    return json.dumps([cfg.type, kwargs, cfg.description], sort_keys=True, default=str)


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
    observed = result.get("observed_value")
    description = _describe(cfg)
    # Only counts and column names are taken from `observed_value`/`details`, never values.
    if cfg.type == "unexpected_rows_expectation" and isinstance(observed, int):
        count = observed
    elif cfg.type == "expect_table_columns_to_match_set":
        missing = ((result.get("details") or {}).get("mismatched") or {}).get("missing") or []
        count = len(missing)
        if missing:
            description += f" (missing: {', '.join(map(str, missing))})"
    elif cfg.type.startswith("expect_table_row_count") and isinstance(observed, int):
        description += f" (observed {observed:,} rows)"
    severity = getattr(cfg.severity, "value", cfg.severity) or CRITICAL
    return ExpectationResult(
        expectation_type=cfg.type,
        column=_column(cfg.kwargs),
        severity=str(severity),
        success=bool(r.success),
        unexpected_count=int(count) if count is not None else None,
        unexpected_percent=float(percent) if percent is not None else None,
        description=description,
        error=_error(r.exception_info),
    )


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


def gate(con: duckdb.DuckDBPyConnection, suite_names: Iterable[str]) -> list[SuiteResult]:
    """Run suites and stop the run if any critical expectation failed or errored.

    Warnings are logged (counts only) and never stop the run.

    Raises:
        DataQualityError: naming each table, column, expectation and count that blocks.

    Example:
        >>> gate(con, ["raw_tips", "raw_referrals"])  # doctest: +SKIP
        [SuiteResult(suite='raw_tips', ...), SuiteResult(suite='raw_referrals', ...)]
    """
    results = [validate_table(con, name) for name in suite_names]
    problems: list[str] = []
    for sr in results:
        if sr.error:
            problems.append(f"{sr.table}: {sr.error}")
        for r in sr.failures:
            line = f"{sr.table}: {_describe_failure(r)}"
            if r.blocking:
                problems.append(line)
            else:
                log.warning("data-quality warning: %s", line)
    if problems:
        raise DataQualityError(
            f"data-quality gate failed ({len(problems)} critical): " + "; ".join(problems)
        )
    return results


def _describe_failure(r: ExpectationResult) -> str:
    what = " ".join(x for x in (r.expectation_type, r.column) if x)
    if r.description != what:
        what += f" [{r.description}]"
    if r.error:
        return f"[{r.severity}] {what}: error: {r.error}"
    if r.unexpected_count is None:
        return f"[{r.severity}] {what}: failed"
    pct = f" ({r.unexpected_percent:.2f}%)" if r.unexpected_percent is not None else ""
    return f"[{r.severity}] {what}: {r.unexpected_count:,} unexpected{pct}"


# --- quarantine ---------------------------------------------------------------------------

# Each stage date is compared with the latest earlier stage date present (nulls skipped),
# so "charged before opened" is caught even when no arrest date was recorded.
_STAGE_REASON = """case
    when arrested_at < opened_at then 'arrested_at before opened_at'
    when charged_at < greatest(opened_at, arrested_at) then 'charged_at before an earlier stage'
    when convicted_at < greatest(opened_at, arrested_at, charged_at)
        then 'convicted_at before an earlier stage'
end"""


def quarantine_stage_dates(
    con: duckdb.DuckDBPyConnection,
    table: str = "raw_case_outcomes",
    tolerance: float = 0.01,
    *,
    quarantine_table: str | None = None,
) -> QuarantineResult:
    """Move rows whose stage dates are out of order into a quarantine table.

    Rows breaking opened ≤ arrested ≤ charged ≤ convicted are appended to
    ``quarantine_<table without raw_>`` with a ``reason`` column and deleted from ``table``,
    in one transaction. If their share exceeds ``tolerance`` nothing is moved.

    Raises:
        DataQualityError: the share of out-of-order rows exceeds ``tolerance``.

    Example:
        >>> quarantine_stage_dates(con).n_quarantined  # doctest: +SKIP
        3
    """
    qtable = quarantine_table or "quarantine_" + table.removeprefix("raw_")
    src, dst = quote_ident(table), quote_ident(qtable)
    n_rows = row_count(con, table)
    rows = con.execute(
        f"select reason, count(*) from (select {_STAGE_REASON} as reason from {src}) "
        "where reason is not null group by reason order by reason"
    ).fetchall()
    reasons = {str(reason): int(n) for reason, n in rows}
    result = QuarantineResult(table, qtable, n_rows, sum(reasons.values()), reasons)
    if result.share > tolerance:
        raise DataQualityError(
            f"table {table}: stage dates out of order in {result.n_quarantined:,} of "
            f"{n_rows:,} rows ({result.share:.2%}), above the tolerance of {tolerance:.2%}: "
            + ", ".join(f"{k}: {v:,}" for k, v in reasons.items())
        )
    if not result.n_quarantined:
        return result
    con.execute("begin")
    try:
        con.execute(
            f"create table if not exists {dst} as "
            f"select *, cast(null as varchar) as reason from {src} limit 0"
        )
        con.execute(
            f"insert into {dst} by name select *, {_STAGE_REASON} as reason from {src} "
            f"where ({_STAGE_REASON}) is not null"
        )
        con.execute(f"delete from {src} where ({_STAGE_REASON}) is not null")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    log.warning(
        "quarantined %d of %d rows of %s (stage dates out of order) into %s",
        result.n_quarantined, n_rows, table, qtable,
    )  # fmt: skip
    return result


# --- the `linkage validate` command --------------------------------------------------------


def validate_input(
    source: str | Path, suite: str | None = None, json_out: str | Path | None = None
) -> list[SuiteResult]:
    """Load an input (folder, file or DuckDB file) and run the suites for its tables.

    Backs ``linkage validate --input DIR|FILE [--suite NAME] [--json OUT]``. Nothing is
    raised for failed expectations: callers decide the exit code from ``success``.

    Example:
        >>> results = validate_input("data/study", json_out="dq.json")  # doctest: +SKIP
        >>> print(format_summary(results))  # doctest: +SKIP
    """
    from linkage.load import load_input

    con = connect()
    try:
        load_input(source, con)
        results = validate_tables(con, [suite] if suite else None)
    finally:
        con.close()
    if json_out is not None:
        write_json(results, json_out)
    return results


def validate_tables(
    con: duckdb.DuckDBPyConnection, suites: Sequence[str] | None = None
) -> list[SuiteResult]:
    """Run the named suites, or every shipped suite whose table exists in ``con``.

    Example:
        >>> [r.suite for r in validate_tables(con)]  # doctest: +SKIP
        ['raw_case_outcomes', 'raw_referrals', 'raw_tips']
    """
    if suites is None:
        suites = [n for n in suite_names() if table_exists(con, load_suite(n).meta["table"])]
    return [validate_table(con, name) for name in suites]


def results_to_dict(results: Sequence[SuiteResult]) -> dict[str, Any]:
    """Machine-readable report (schema ``linkage.quality/1``): counts, never values."""
    return {
        "schema": _JSON_SCHEMA,
        "success": all(r.success for r in results),
        "passed": sum(r.success for r in results),
        "failed": sum(not r.success for r in results),
        "suites": [
            {
                "suite": r.suite,
                "table": r.table,
                "stage": r.stage,
                "success": r.success,
                "error": r.error,
                "expectations": [_expectation_dict(e) for e in r.results],
            }
            for r in results
        ],
    }


def _expectation_dict(e: ExpectationResult) -> dict[str, Any]:
    d = asdict(e)
    return {"type": d.pop("expectation_type"), **d}


def write_json(results: Sequence[SuiteResult], path: str | Path) -> Path:
    """Write :func:`results_to_dict` as JSON to ``path``; return the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results_to_dict(results), indent=2) + "\n", encoding="utf-8")
    return out


def format_summary(results: Sequence[SuiteResult]) -> str:
    """Human summary: one line per failed expectation (counts only) and a final tally.

    Example:
        >>> print(format_summary(results))  # doctest: +SKIP
        [FAIL] raw_referrals: [critical] expect_column_values_to_be_unique referral_id: 3 unexpected (0.15%)
        [PASS] raw_tips: 12 expectations
        1 passed, 1 failed
    """  # noqa: E501
    lines: list[str] = []
    for sr in results:
        if sr.error:
            lines.append(f"[FAIL] {sr.table}: {sr.error}")
        for r in sr.failures:
            lines.append(f"[{'FAIL' if r.blocking else 'WARN'}] {sr.table}: {_describe_failure(r)}")
        if sr.success:
            lines.append(f"[PASS] {sr.table}: {len(sr.results)} expectations")
    passed = sum(r.success for r in results)
    lines.append(f"{passed} passed, {len(results) - passed} failed")
    return "\n".join(lines)
