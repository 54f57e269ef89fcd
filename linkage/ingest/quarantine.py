"""Quarantine: row-level problems a run survives are moved aside with a reason, not fatal.

Today one rule is survivable: case stage dates out of order (the contract calls it "a
data-quality finding, not a crash"). Such rows go to ``quarantine_<table without raw_>`` with
a ``reason`` column, as long as their share stays within a tolerance; above it the run stops
(:class:`~linkage.errors.DataQualityError`, exit code 5) and nothing is moved. The counts go
into the run manifest and the report.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import duckdb

from linkage.db import quote_ident, row_count
from linkage.errors import DataQualityError

log = logging.getLogger(__name__)

# Each stage date is compared with the latest earlier stage date present (DuckDB's greatest
# skips NULLs), so "charged before opened" is caught even when no arrest date was recorded.
_STAGE_REASON = """case
    when arrested_at < opened_at then 'arrested_at before opened_at'
    when charged_at < greatest(opened_at, arrested_at) then 'charged_at before an earlier stage'
    when convicted_at < greatest(opened_at, arrested_at, charged_at)
        then 'convicted_at before an earlier stage'
end"""


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
        """Share of the table's rows that are (or would be) quarantined."""
        return self.n_quarantined / self.n_rows if self.n_rows else 0.0


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
