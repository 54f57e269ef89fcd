"""Quarantine: row-level problems a run survives are moved aside with a reason, not fatal.

Today one rule is survivable: case stage dates out of order (the contract calls it "a
data-quality finding, not a crash"). Such rows are listed in ``quarantine_case_outcomes``
with a ``reason`` column, as long as their share stays within a tolerance; above it the run
stops (:class:`~linkage.errors.DataQualityError`, exit code 5). Staging skips them; the raw
table is never changed. The counts go into the run manifest and the report.
"""

from __future__ import annotations

import logging

import duckdb

from linkage.db import build_table, query_file, row_count
from linkage.errors import DataQualityError
from linkage.summaries import QuarantineResult

log = logging.getLogger(__name__)

QUARANTINE_FILE = "staging/quarantine_case_outcomes.sql"


def quarantine_stage_dates(
    con: duckdb.DuckDBPyConnection, tolerance: float = 0.01
) -> QuarantineResult:
    """Set aside case records whose stage dates are out of order.

    Rows breaking opened <= arrested <= charged <= convicted are written, with a ``reason``,
    to ``quarantine_case_outcomes`` (``sql/staging/quarantine_case_outcomes.sql``), which
    staging skips; ``raw_case_outcomes`` stays exactly as loaded. If their share exceeds
    ``tolerance`` the run stops and nothing is written.

    Raises:
        DataQualityError: the share of out-of-order rows exceeds ``tolerance``.

    Example:
        >>> quarantine_stage_dates(con).n_quarantined  # doctest: +SKIP
        3
    """
    table, qtable = "raw_case_outcomes", "quarantine_case_outcomes"
    n_rows = row_count(con, table)
    rows = query_file(con, QUARANTINE_FILE).aggregate(
        "reason, count(*) as n", "reason").order("reason").fetchall()
    reasons = {str(reason): int(n) for reason, n in rows}
    result = QuarantineResult(table, qtable, n_rows, sum(reasons.values()), reasons)
    if result.share > tolerance:
        raise DataQualityError(
            f"table {table}: stage dates out of order in {result.n_quarantined:,} of "
            f"{n_rows:,} rows ({result.share:.2%}), above the tolerance of {tolerance:.2%}: "
            + ", ".join(f"{k}: {v:,}" for k, v in reasons.items())
        )
    build_table(con, QUARANTINE_FILE)
    if result.n_quarantined:
        log.warning(
            "quarantined %d of %d rows of %s (stage dates out of order) into %s",
            result.n_quarantined, n_rows, table, qtable,
        )  # fmt: skip
    return result
